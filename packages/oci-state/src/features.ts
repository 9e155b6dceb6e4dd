/**
 * What a runtime says it supports (`runc features`, `crun features`),
 * following the runtime-spec's features-schema.json.
 */

import * as z from 'zod/mini';
import { namespaceTypes, seccompActions, seccompArchitectures, seccompFlags, seccompOperators, type NamespaceType } from './config-linux.js';
import { lazy } from './lazy.js';
import { parseDocument } from './parse-document.js';
import { matching, oneOf, optional, stringArray, stringMap } from './schema-primitives.js';

interface Enabled {
  enabled?: boolean;
  [key: string]: unknown;
}

export interface LinuxFeatures {
  namespaces?: NamespaceType[];
  /** `CAP_*` names the runtime knows. */
  capabilities?: string[];
  cgroup?: { v1?: boolean; v2?: boolean; systemd?: boolean; systemdUser?: boolean; rdma?: boolean; [key: string]: unknown };
  seccomp?: Enabled & {
    actions?: string[];
    operators?: string[];
    archs?: string[];
    knownFlags?: string[];
    supportedFlags?: string[];
  };
  apparmor?: Enabled;
  selinux?: Enabled;
  intelRdt?: Enabled;
  mountExtensions?: { idmap?: Enabled; [key: string]: unknown };
  netDevices?: Enabled;
  [key: string]: unknown;
}

export interface RuntimeFeatures {
  ociVersionMin: string;
  ociVersionMax: string;
  /** Hook stages the runtime runs. */
  hooks?: string[];
  mountOptions?: string[];
  annotations?: Record<string, string>;
  potentiallyUnsafeConfigAnnotations?: string[];
  linux?: LinuxFeatures;
  [key: string]: unknown;
}

const enabled = () => z.looseObject({ enabled: optional(z.boolean()) });

const linuxFeaturesSchema = /* @__PURE__ */ lazy('linux features', () =>
  z.looseObject({
    namespaces: optional(z.array(oneOf(namespaceTypes))),
    capabilities: optional(z.array(matching(/^CAP_[A-Z_]+$/u))),
    cgroup: optional(
      z.looseObject({
        v1: optional(z.boolean()),
        v2: optional(z.boolean()),
        systemd: optional(z.boolean()),
        systemdUser: optional(z.boolean()),
        rdma: optional(z.boolean()),
      }),
    ),
    seccomp: optional(
      z.looseObject({
        enabled: optional(z.boolean()),
        actions: optional(z.array(oneOf(seccompActions))),
        operators: optional(z.array(oneOf(seccompOperators))),
        archs: optional(z.array(oneOf(seccompArchitectures))),
        knownFlags: optional(z.array(oneOf(seccompFlags))),
        supportedFlags: optional(z.array(oneOf(seccompFlags))),
      }),
    ),
    apparmor: optional(enabled()),
    selinux: optional(enabled()),
    intelRdt: optional(enabled()),
    mountExtensions: optional(z.looseObject({ idmap: optional(enabled()) })),
    netDevices: optional(enabled()),
  }),
);

const featuresSchema = /* @__PURE__ */ lazy(
  'features',
  (): z.ZodMiniType<RuntimeFeatures> =>
    z.looseObject({
      ociVersionMin: z.string(),
      ociVersionMax: z.string(),
      hooks: optional(stringArray()),
      mountOptions: optional(stringArray()),
      annotations: optional(stringMap()),
      potentiallyUnsafeConfigAnnotations: optional(stringArray()),
      linux: optional(linuxFeaturesSchema()),
    }),
);

/** Parses the JSON a runtime prints for `features`. Throws ValidationError (with lines). */
export function parseFeatures(text: string, source = 'features'): RuntimeFeatures {
  return parseDocument(featuresSchema(), text, source);
}
