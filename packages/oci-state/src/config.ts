/**
 * The OCI runtime configuration (a bundle's config.json), following the
 * runtime-spec JSON schema (config-schema.json and the files it refers to).
 * Every object keeps properties this schema does not know.
 */

import * as z from 'zod/mini';
import { idMappingSchema, type IdMapping } from './config-ids.js';
import { linuxSchema, type LinuxConfig } from './config-linux.js';
import { freebsdSchema, solarisSchema, vmSchema, windowsSchema, zosSchema } from './config-platforms.js';
import { capabilitiesSchema, mountShape, readConfigFile, rootSchema, userIdShape } from './config-summary.js';
import { lazy } from './lazy.js';
import { parseDocument } from './parse-document.js';
import {
  absolutePath,
  int32,
  integer,
  matching,
  oneOf,
  optional,
  stringArray,
  stringMap,
  uint32,
  uint64,
} from './schema-primitives.js';

/** The hook stages of the runtime-spec, in the order a runtime runs them; `prestart` is deprecated. */
export const ociStages = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;
export type OciStage = (typeof ociStages)[number];

/** One hook entry: `path` is absolute; `args` includes argv[0]; `timeout` is in seconds. */
export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
  [key: string]: unknown;
}

export type Hooks = { [stage in OciStage]?: Hook[] } & { [key: string]: unknown };

export interface Mount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  [key: string]: unknown;
}

export interface User {
  uid?: number;
  gid?: number;
  umask?: number;
  additionalGids?: number[];
  username?: string;
  [key: string]: unknown;
}

export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
  [key: string]: unknown;
}

export interface Rlimit {
  /** `RLIMIT_NOFILE` and the like. */
  type: string;
  soft: number;
  hard: number;
  [key: string]: unknown;
}

export interface Process {
  args?: string[];
  commandLine?: string;
  consoleSize?: { height: number; width: number; [key: string]: unknown };
  cwd: string;
  env?: string[];
  terminal?: boolean;
  user?: User;
  capabilities?: Capabilities;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
  ioPriority?: { class: 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE'; priority?: number; [key: string]: unknown };
  noNewPrivileges?: boolean;
  scheduler?: { policy: string; [key: string]: unknown };
  rlimits?: Rlimit[];
  execCPUAffinity?: { initial?: string; final?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface Root {
  path: string;
  readonly?: boolean;
  [key: string]: unknown;
}

export interface RuntimeConfig {
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: LinuxConfig;
  solaris?: Record<string, unknown>;
  windows?: Record<string, unknown>;
  vm?: Record<string, unknown>;
  zos?: Record<string, unknown>;
  freebsd?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * A hook entry. The JSON schema only asks for a string path; the spec's text
 * requires it to be absolute, and a relative one would run whatever the
 * runtime's working directory offers, so it is refused here.
 */
export const hookSchema = /* @__PURE__ */ lazy(
  'hook',
  (): z.ZodMiniType<Hook> =>
    z.looseObject({
      path: absolutePath('hook path'),
      args: optional(stringArray()),
      env: optional(stringArray()),
      timeout: optional(integer(1, Infinity)),
    }),
);

const hookListSchema = /* @__PURE__ */ lazy('hook list', () => z.array(hookSchema()));

export const hooksSchema = /* @__PURE__ */ lazy(
  'hooks',
  (): z.ZodMiniType<Hooks> =>
    z.looseObject({
      prestart: optional(hookListSchema()),
      createRuntime: optional(hookListSchema()),
      createContainer: optional(hookListSchema()),
      startContainer: optional(hookListSchema()),
      poststart: optional(hookListSchema()),
      poststop: optional(hookListSchema()),
    }),
);

const mountSchema = /* @__PURE__ */ lazy('mount', () =>
  z.looseObject({
    ...mountShape(),
    uidMappings: optional(z.array(idMappingSchema())),
    gidMappings: optional(z.array(idMappingSchema())),
  }),
);

const schedulerPolicies = [
  'SCHED_OTHER',
  'SCHED_FIFO',
  'SCHED_RR',
  'SCHED_BATCH',
  'SCHED_ISO',
  'SCHED_IDLE',
  'SCHED_DEADLINE',
] as const;

const schedulerFlags = [
  'SCHED_FLAG_RESET_ON_FORK',
  'SCHED_FLAG_RECLAIM',
  'SCHED_FLAG_DL_OVERRUN',
  'SCHED_FLAG_KEEP_POLICY',
  'SCHED_FLAG_KEEP_PARAMS',
  'SCHED_FLAG_UTIL_CLAMP_MIN',
  'SCHED_FLAG_UTIL_CLAMP_MAX',
] as const;

const processSchema = /* @__PURE__ */ lazy('process', () =>
  z.looseObject({
    args: optional(stringArray()),
    commandLine: optional(z.string()),
    consoleSize: optional(z.looseObject({ height: uint64(), width: uint64() })),
    cwd: z.string(),
    env: optional(stringArray()),
    terminal: optional(z.boolean()),
    user: optional(
      z.looseObject({
        ...userIdShape(),
        umask: optional(uint32()),
        additionalGids: optional(z.array(uint32())),
        username: optional(z.string()),
      }),
    ),
    capabilities: optional(capabilitiesSchema()),
    apparmorProfile: optional(z.string()),
    oomScoreAdj: optional(integer(-Infinity, Infinity)),
    selinuxLabel: optional(z.string()),
    ioPriority: optional(
      z.looseObject({
        class: oneOf(['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE']),
        priority: optional(int32()),
      }),
    ),
    noNewPrivileges: optional(z.boolean()),
    scheduler: optional(
      z.looseObject({
        policy: oneOf(schedulerPolicies),
        nice: optional(int32()),
        priority: optional(int32()),
        flags: optional(z.array(oneOf(schedulerFlags))),
        runtime: optional(uint64()),
        deadline: optional(uint64()),
        period: optional(uint64()),
      }),
    ),
    rlimits: optional(
      z.array(
        z.looseObject({
          type: matching(/^RLIMIT_[A-Z]+$/u),
          soft: uint64(),
          hard: uint64(),
        }),
      ),
    ),
    execCPUAffinity: optional(
      z.looseObject({
        initial: optional(matching(/^[0-9, -]*$/u)),
        final: optional(matching(/^[0-9, -]*$/u)),
      }),
    ),
  }),
);

export const runtimeConfigSchema = /* @__PURE__ */ lazy(
  'runtime config',
  (): z.ZodMiniType<RuntimeConfig> =>
    z.looseObject({
      ociVersion: z.string(),
      hooks: optional(hooksSchema()),
      annotations: optional(stringMap()),
      hostname: optional(z.string()),
      domainname: optional(z.string()),
      mounts: optional(z.array(mountSchema())),
      root: optional(rootSchema()),
      process: optional(processSchema()),
      linux: optional(linuxSchema()),
      solaris: optional(solarisSchema()),
      windows: optional(windowsSchema()),
      vm: optional(vmSchema()),
      zos: optional(zosSchema()),
      freebsd: optional(freebsdSchema()),
    }),
);

/** Parses the text of an OCI config.json. Throws ValidationError (with lines). */
export function parseConfig(text: string, source = 'config.json'): RuntimeConfig {
  return parseDocument(runtimeConfigSchema(), text, source);
}

/**
 * Reads and parses `${bundle}/config.json`. Throws SystemError when the file
 * cannot be read, ValidationError when its content is not a valid config.
 */
export async function readConfig(bundle: string): Promise<RuntimeConfig> {
  const { text, path } = await readConfigFile(bundle);
  return parseConfig(text, path);
}
