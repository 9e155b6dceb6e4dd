/**
 * The part of config.json an OCI hook acts on: the process, root, mounts,
 * annotations, namespaces and cgroup path. Only those fields are checked,
 * and exactly as parseConfig checks them (config.ts builds its schema from
 * the pieces here); every other field, platform sections included, passes
 * through unchecked. So any document parseConfig accepts is accepted here,
 * and the schema is a fraction of the full one to build at start-up.
 */

// node:fs's `promises` is loaded on first use; a hook reading synchronously never pays for it.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { toSystemError } from '@bulwark/errors';
import * as z from 'zod/mini';
import type { Capabilities, Root } from './config.js';
import { namespaceSchema, type Namespace } from './config-linux.js';
import { lazy } from './lazy.js';
import { parseDocument } from './parse-document.js';
import { optional, stringArray, stringMap, uint32 } from './schema-primitives.js';

/** config.json as a hook reads it; fields outside this type are kept but not checked. */
export interface ConfigSummary {
  ociVersion: string;
  process?: {
    args?: string[];
    env?: string[];
    /** Required by parseConfig; a hook has no use for it, so it may be absent here. */
    cwd?: string;
    user?: { uid?: number; gid?: number; [key: string]: unknown };
    capabilities?: Capabilities;
    apparmorProfile?: string;
    selinuxLabel?: string;
    noNewPrivileges?: boolean;
    [key: string]: unknown;
  };
  root?: Root;
  mounts?: { destination: string; source?: string; type?: string; options?: string[]; [key: string]: unknown }[];
  annotations?: Record<string, string>;
  linux?: { namespaces?: Namespace[]; cgroupsPath?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** The ids of `process.user`; parseConfig adds umask, additionalGids and username. */
export const userIdShape = () => ({ uid: optional(uint32()), gid: optional(uint32()) });

/** The fields of a mount; parseConfig adds uidMappings and gidMappings. */
export const mountShape = () => ({
  destination: z.string(),
  source: optional(z.string()),
  type: optional(z.string()),
  options: optional(stringArray()),
});

export const capabilitiesSchema = /* @__PURE__ */ lazy(
  'capabilities',
  (): z.ZodMiniType<Capabilities> =>
    z.looseObject({
      bounding: optional(stringArray()),
      permitted: optional(stringArray()),
      effective: optional(stringArray()),
      inheritable: optional(stringArray()),
      ambient: optional(stringArray()),
    }),
);

export const rootSchema = /* @__PURE__ */ lazy(
  'root',
  (): z.ZodMiniType<Root> => z.looseObject({ path: z.string(), readonly: optional(z.boolean()) }),
);

const configSummarySchema = /* @__PURE__ */ lazy(
  'config summary',
  (): z.ZodMiniType<ConfigSummary> =>
    z.looseObject({
      ociVersion: z.string(),
      annotations: optional(stringMap()),
      mounts: optional(z.array(z.looseObject(mountShape()))),
      root: optional(rootSchema()),
      process: optional(
        z.looseObject({
          args: optional(stringArray()),
          cwd: optional(z.string()),
          env: optional(stringArray()),
          user: optional(z.looseObject(userIdShape())),
          capabilities: optional(capabilitiesSchema()),
          apparmorProfile: optional(z.string()),
          selinuxLabel: optional(z.string()),
          noNewPrivileges: optional(z.boolean()),
        }),
      ),
      linux: optional(
        z.looseObject({
          namespaces: optional(z.array(namespaceSchema())),
          cgroupsPath: optional(z.string()),
        }),
      ),
    }),
);

/**
 * Parses the text of an OCI config.json, checking only the fields of
 * ConfigSummary. Throws ValidationError (with lines), as parseConfig does.
 */
export function parseConfigSummary(text: string, source = 'config.json'): ConfigSummary {
  return parseDocument(configSummarySchema(), text, source);
}

export interface ReadConfigOptions {
  /**
   * Read the file with one synchronous call. A one-shot process (an OCI
   * hook) saves the thread-pool round trip and fs/promises' first-use cost;
   * a long-running one should keep the default.
   */
  readonly synchronous?: boolean;
}

/**
 * Reads `${bundle}/config.json` and parses it with parseConfigSummary. Throws
 * SystemError when the file cannot be read, ValidationError when a checked
 * field is invalid.
 */
export async function readConfigSummary(bundle: string, options: ReadConfigOptions = {}): Promise<ConfigSummary> {
  const { text, path } = await readConfigFile(bundle, options);
  return parseConfigSummary(text, path);
}

/** The text of `${bundle}/config.json`. Throws SystemError (`read config: ...`). */
export async function readConfigFile(bundle: string, options: ReadConfigOptions = {}): Promise<{ text: string; path: string }> {
  const path = join(bundle, 'config.json');
  try {
    return { text: options.synchronous === true ? fs.readFileSync(path, 'utf8') : await fs.promises.readFile(path, 'utf8'), path };
  } catch (error) {
    throw toSystemError('read config', error, path);
  }
}
