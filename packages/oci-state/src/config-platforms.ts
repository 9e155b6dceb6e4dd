/**
 * The non-Linux sections of config.json (solaris, windows, vm, zos, freebsd).
 * Bulwark never acts on them, but a document is only valid when they are, so
 * they are checked as the runtime-spec schema checks them.
 */

import * as z from 'zod/mini';
import { lazy } from './lazy.js';
import { fileMode, oneOf, optional, stringArray, uint16, uint32, uint64, uint8 } from './schema-primitives.js';

export const solarisSchema = /* @__PURE__ */ lazy('solaris', () =>
  z.looseObject({
    milestone: optional(z.string()),
    limitpriv: optional(z.string()),
    maxShmMemory: optional(z.string()),
    cappedCPU: optional(z.looseObject({ ncpus: optional(z.string()) })),
    cappedMemory: optional(z.looseObject({ physical: optional(z.string()), swap: optional(z.string()) })),
    anet: optional(
      z.array(
        z.looseObject({
          linkname: optional(z.string()),
          lowerLink: optional(z.string()),
          allowedAddress: optional(z.string()),
          configureAllowedAddress: optional(z.string()),
          defrouter: optional(z.string()),
          macAddress: optional(z.string()),
          linkProtection: optional(z.string()),
        }),
      ),
    ),
  }),
);

export const windowsSchema = /* @__PURE__ */ lazy('windows', () =>
  z.looseObject({
    layerFolders: z.array(z.string()).check(z.minLength(1, { error: 'expected at least one layer folder' })),
    devices: optional(z.array(z.looseObject({ id: z.string(), idType: oneOf(['class']) }))),
    resources: optional(
      z.looseObject({
        memory: optional(z.looseObject({ limit: optional(uint64()) })),
        cpu: optional(
          z.looseObject({
            count: optional(uint64()),
            shares: optional(uint16()),
            maximum: optional(uint16()),
            affinity: optional(z.looseObject({ mask: optional(uint64()), group: optional(uint32()) })),
          }),
        ),
        storage: optional(
          z.looseObject({ iops: optional(uint64()), bps: optional(uint64()), sandboxSize: optional(uint64()) }),
        ),
      }),
    ),
    network: optional(
      z.looseObject({
        endpointList: optional(stringArray()),
        allowUnqualifiedDNSQuery: optional(z.boolean()),
        DNSSearchList: optional(stringArray()),
        networkSharedContainerName: optional(z.string()),
        networkNamespace: optional(z.string()),
      }),
    ),
    credentialSpec: optional(z.looseObject({})),
    servicing: optional(z.boolean()),
    ignoreFlushesDuringBoot: optional(z.boolean()),
    hyperv: optional(z.looseObject({ utilityVMPath: optional(z.string()) })),
  }),
);

export const vmSchema = /* @__PURE__ */ lazy('vm', () =>
  z.looseObject({
    hypervisor: optional(z.looseObject({ path: z.string(), parameters: optional(stringArray()) })),
    kernel: z.looseObject({ path: z.string(), parameters: optional(stringArray()), initrd: optional(z.string()) }),
    image: optional(z.looseObject({ path: z.string(), format: oneOf(['raw', 'qcow2', 'vdi', 'vmdk', 'vhd']) })),
    hwConfig: optional(
      z.looseObject({
        deviceTree: optional(z.string()),
        vcpus: optional(uint32()),
        memory: optional(uint64()),
        dtdevs: optional(stringArray()),
        iomems: optional(
          z.array(z.looseObject({ firstGFN: optional(uint64()), firstMFN: uint64(), nrMFNs: uint64() })),
        ),
        irqs: optional(z.array(uint32())),
      }),
    ),
  }),
);

export const zosSchema = /* @__PURE__ */ lazy('zos', () =>
  z.looseObject({
    namespaces: optional(
      z.array(z.looseObject({ type: oneOf(['mount', 'pid', 'uts', 'ipc']), path: optional(z.string()) })),
    ),
  }),
);

const sharingMode = () => oneOf(['disable', 'new', 'inherit']);
const sharingModeWithoutDisable = () => oneOf(['new', 'inherit']);

export const freebsdSchema = /* @__PURE__ */ lazy('freebsd', () =>
  z.looseObject({
    devices: optional(z.array(z.looseObject({ path: optional(z.string()), mode: optional(fileMode()) }))),
    jail: optional(
      z.looseObject({
        parent: optional(z.string()),
        host: optional(sharingModeWithoutDisable()),
        ip4: optional(sharingMode()),
        ip4Addr: optional(stringArray()),
        ip6: optional(sharingMode()),
        ip6Addr: optional(stringArray()),
        vnet: optional(sharingModeWithoutDisable()),
        interface: optional(z.string()),
        vnetInterfaces: optional(stringArray()),
        sysvmsg: optional(sharingMode()),
        sysvsem: optional(sharingMode()),
        sysvshm: optional(sharingMode()),
        enforceStatfs: optional(uint8()),
        allow: optional(
          z.looseObject({
            setHostname: optional(z.boolean()),
            rawSockets: optional(z.boolean()),
            chflags: optional(z.boolean()),
            mount: optional(stringArray()),
            quotas: optional(z.boolean()),
            socketAf: optional(z.boolean()),
            mlock: optional(z.boolean()),
            reservedPorts: optional(z.boolean()),
            suser: optional(z.boolean()),
          }),
        ),
      }),
    ),
  }),
);
