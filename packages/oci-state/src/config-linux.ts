/**
 * The `linux` section of config.json (config-linux.json and defs-linux.json
 * of the runtime-spec schema).
 */

import * as z from 'zod/mini';
import { idMappingSchema, type IdMapping } from './config-ids.js';
import { lazy } from './lazy.js';
import {
  fileMode,
  int64,
  matching,
  oneOf,
  optional,
  stringArray,
  stringMap,
  uint16,
  uint32,
  uint64,
} from './schema-primitives.js';

export const namespaceTypes = ['mount', 'pid', 'network', 'uts', 'ipc', 'user', 'cgroup', 'time'] as const;
export type NamespaceType = (typeof namespaceTypes)[number];

export interface Namespace {
  type: NamespaceType;
  /** A namespace file to join (`/proc/1234/ns/net`); absent means a new namespace. */
  path?: string;
  [key: string]: unknown;
}

export interface LinuxDevice {
  type: string;
  path: string;
  fileMode?: number;
  major?: number;
  minor?: number;
  uid?: number;
  gid?: number;
  [key: string]: unknown;
}

export interface SeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string; [key: string]: unknown }[];
  [key: string]: unknown;
}

export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  architectures?: string[];
  syscalls?: SeccompSyscall[];
  [key: string]: unknown;
}

export interface LinuxConfig {
  namespaces?: Namespace[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  /** See resolveCgroupsPath for its two forms (cgroupfs path, systemd `slice:prefix:name`). */
  cgroupsPath?: string;
  devices?: LinuxDevice[];
  netDevices?: Record<string, { name?: string; [key: string]: unknown }>;
  resources?: Record<string, unknown>;
  rootfsPropagation?: 'private' | 'shared' | 'slave' | 'unbindable';
  seccomp?: Seccomp;
  sysctl?: Record<string, string>;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: Record<string, unknown>;
  memoryPolicy?: Record<string, unknown>;
  personality?: Record<string, unknown>;
  timeOffsets?: Record<string, unknown>;
  [key: string]: unknown;
}

export const seccompActions = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
] as const;

export const seccompArchitectures = [
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_LOONGARCH64',
  'SCMP_ARCH_M68K',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_SH',
  'SCMP_ARCH_SHEB',
  'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_RISCV64',
] as const;

export const seccompFlags = [
  'SECCOMP_FILTER_FLAG_TSYNC',
  'SECCOMP_FILTER_FLAG_LOG',
  'SECCOMP_FILTER_FLAG_SPEC_ALLOW',
  'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV',
] as const;

export const seccompOperators = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
] as const;

const memoryPolicyModes = [
  'MPOL_DEFAULT',
  'MPOL_BIND',
  'MPOL_INTERLEAVE',
  'MPOL_WEIGHTED_INTERLEAVE',
  'MPOL_PREFERRED',
  'MPOL_PREFERRED_MANY',
  'MPOL_LOCAL',
] as const;

const memoryPolicyFlags = ['MPOL_F_NUMA_BALANCING', 'MPOL_F_RELATIVE_NODES', 'MPOL_F_STATIC_NODES'] as const;

const deviceSchema = /* @__PURE__ */ lazy('linux device', () =>
  z.looseObject({
    type: matching(/^[cbup]$/u),
    path: z.string(),
    fileMode: optional(fileMode()),
    major: optional(int64()),
    minor: optional(int64()),
    uid: optional(uint32()),
    gid: optional(uint32()),
  }),
);

const blockDeviceThrottleSchema = /* @__PURE__ */ lazy('block device throttle', () =>
  z.looseObject({
    major: int64(),
    minor: int64(),
    rate: optional(uint64()),
  }),
);

const blockDeviceWeightSchema = /* @__PURE__ */ lazy('block device weight', () =>
  z.looseObject({
    major: int64(),
    minor: int64(),
    weight: optional(uint16()),
    leafWeight: optional(uint16()),
  }),
);

const resourcesSchema = /* @__PURE__ */ lazy('linux resources', () =>
  z.looseObject({
    unified: optional(stringMap()),
    devices: optional(
      z.array(
        z.looseObject({
          allow: z.boolean(),
          type: optional(z.string()),
          major: optional(int64()),
          minor: optional(int64()),
          access: optional(z.string()),
        }),
      ),
    ),
    pids: optional(z.looseObject({ limit: int64() })),
    blockIO: optional(
      z.looseObject({
        weight: optional(uint16()),
        leafWeight: optional(uint16()),
        throttleReadBpsDevice: optional(z.array(blockDeviceThrottleSchema())),
        throttleWriteBpsDevice: optional(z.array(blockDeviceThrottleSchema())),
        throttleReadIOPSDevice: optional(z.array(blockDeviceThrottleSchema())),
        throttleWriteIOPSDevice: optional(z.array(blockDeviceThrottleSchema())),
        weightDevice: optional(z.array(blockDeviceWeightSchema())),
      }),
    ),
    cpu: optional(
      z.looseObject({
        cpus: optional(z.string()),
        mems: optional(z.string()),
        period: optional(uint64()),
        quota: optional(int64()),
        burst: optional(uint64()),
        realtimePeriod: optional(uint64()),
        realtimeRuntime: optional(int64()),
        shares: optional(uint64()),
        idle: optional(int64()),
      }),
    ),
    hugepageLimits: optional(
      z.array(
        z.looseObject({
          pageSize: matching(/^[1-9][0-9]*[KMG]B$/u),
          limit: uint64(),
        }),
      ),
    ),
    memory: optional(
      z.looseObject({
        kernel: optional(int64()),
        kernelTCP: optional(int64()),
        limit: optional(int64()),
        reservation: optional(int64()),
        swap: optional(int64()),
        swappiness: optional(uint64()),
        disableOOMKiller: optional(z.boolean()),
        useHierarchy: optional(z.boolean()),
        checkBeforeUpdate: optional(z.boolean()),
      }),
    ),
    network: optional(
      z.looseObject({
        classID: optional(uint32()),
        priorities: optional(z.array(z.looseObject({ name: z.string(), priority: uint32() }))),
      }),
    ),
    rdma: optional(
      z.record(
        z.string(),
        z.looseObject({
          hcaHandles: optional(uint32()),
          hcaObjects: optional(uint32()),
        }),
      ),
    ),
  }),
);

const seccompSchema = /* @__PURE__ */ lazy('seccomp', () =>
  z.looseObject({
    defaultAction: oneOf(seccompActions),
    defaultErrnoRet: optional(uint32()),
    flags: optional(z.array(oneOf(seccompFlags))),
    listenerPath: optional(z.string()),
    listenerMetadata: optional(z.string()),
    architectures: optional(z.array(oneOf(seccompArchitectures))),
    syscalls: optional(
      z.array(
        z.looseObject({
          names: z.array(z.string()).check(z.minLength(1, { error: 'expected at least one syscall name' })),
          action: oneOf(seccompActions),
          errnoRet: optional(uint32()),
          args: optional(
            z.array(
              z.looseObject({
                index: uint32(),
                value: uint64(),
                valueTwo: optional(uint64()),
                op: oneOf(seccompOperators),
              }),
            ),
          ),
        }),
      ),
    ),
  }),
);

const timeOffsetSchema = /* @__PURE__ */ lazy('time offset', () =>
  z.looseObject({ secs: optional(int64()), nanosecs: optional(uint32()) }),
);

/** A namespace to create or join; shared with the config summary, which checks namespaces as this does. */
export const namespaceSchema = /* @__PURE__ */ lazy(
  'namespace',
  (): z.ZodMiniType<Namespace> => z.looseObject({ type: oneOf(namespaceTypes), path: optional(z.string()) }),
);

export const linuxSchema = /* @__PURE__ */ lazy(
  'linux',
  (): z.ZodMiniType<LinuxConfig> =>
    z.looseObject({
      devices: optional(z.array(deviceSchema())),
      netDevices: optional(z.record(z.string(), z.looseObject({ name: optional(z.string()) }))),
      uidMappings: optional(z.array(idMappingSchema())),
      gidMappings: optional(z.array(idMappingSchema())),
      namespaces: optional(z.array(namespaceSchema())),
      resources: optional(resourcesSchema()),
      cgroupsPath: optional(z.string()),
      rootfsPropagation: optional(oneOf(['private', 'shared', 'slave', 'unbindable'])),
      seccomp: optional(seccompSchema()),
      sysctl: optional(stringMap()),
      maskedPaths: optional(stringArray()),
      readonlyPaths: optional(stringArray()),
      mountLabel: optional(z.string()),
      intelRdt: optional(
        z.looseObject({
          closID: optional(z.string()),
          schemata: optional(stringArray()),
          l3CacheSchema: optional(z.string()),
          memBwSchema: optional(matching(/^MB:[^\n]*$/u)),
          enableMonitoring: optional(z.boolean()),
        }),
      ),
      memoryPolicy: optional(
        z.looseObject({
          mode: optional(oneOf(memoryPolicyModes)),
          nodes: optional(z.string()),
          flags: optional(z.array(oneOf(memoryPolicyFlags))),
        }),
      ),
      personality: optional(
        z.looseObject({
          domain: optional(oneOf(['LINUX', 'LINUX32'])),
          flags: optional(stringArray()),
        }),
      ),
      timeOffsets: optional(z.looseObject({ boottime: optional(timeOffsetSchema()), monotonic: optional(timeOffsetSchema()) })),
    }),
);
