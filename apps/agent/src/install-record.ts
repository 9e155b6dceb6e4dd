/**
 * The install record: what `bulwark install-hook` put on this machine, kept
 * beside the hook (`bulwark-install.json` in the hook's directory), so that
 * `--uninstall --all` removes exactly that: the files it wrote, the runtime
 * entries it added, the logs and caches it set up, and only the directories
 * it created itself.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as z from 'zod';
import { ValidationError, errnoOf, toSystemError, validationErrorFromZod } from '@bulwark/errors';

export const INSTALL_RECORD_NAME = 'bulwark-install.json';
/** The Node binary the installer copies for the hook, beside it. */
export const NODE_COPY_NAME = 'bulwark-node';

export const RECORD_RUNTIMES = ['podman', 'crio', 'containerd', 'runc', 'kata-guest'] as const;

const absolutePath = z.string().check(z.refine((value) => value.startsWith('/'), 'must be an absolute path'));

const installRecordSchema = z.strictObject({
  version: z.literal(1),
  /** Hook executables written. */
  hooks: z.array(absolutePath),
  /** The copy of Node the hook's shebang names, when the installer made one. */
  node: z.optional(absolutePath),
  /** Hook configurations written (hook.json). */
  configs: z.array(absolutePath),
  /** Hook log files the configurations name. */
  logs: z.array(absolutePath),
  /** NODE_COMPILE_CACHE directories given to the hook. */
  compileCaches: z.array(absolutePath),
  /** Runtime entries: files written whole (hooks.d, Kata guest scripts) or spec files Bulwark's hooks were added to. */
  entries: z.array(z.strictObject({ runtime: z.enum(RECORD_RUNTIMES), path: absolutePath })),
  /** Directories the installer created, outermost first; only these are ever removed. */
  directories: z.array(absolutePath),
});

export type InstallRecord = z.infer<typeof installRecordSchema>;
export type RecordedEntry = InstallRecord['entries'][number];

export function installRecordPath(hookPath: string): string {
  return join(dirname(hookPath), INSTALL_RECORD_NAME);
}

export function nodeCopyPath(hookPath: string): string {
  return join(dirname(hookPath), NODE_COPY_NAME);
}

export function emptyRecord(hookPath: string): InstallRecord {
  return { version: 1, hooks: [hookPath], configs: [], logs: [], compileCaches: [], entries: [], directories: [] };
}

/** Reads the record; undefined when there is none. Throws ValidationError for a file that is not one. */
export async function readInstallRecord(path: string): Promise<InstallRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw toSystemError('read install record', error, path);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(path, [{ path: '', message: `not valid json: ${(error as Error).message}` }]);
  }
  const parsed = installRecordSchema.safeParse(value);
  if (!parsed.success) throw validationErrorFromZod(path, parsed.error);
  return parsed.data;
}

function union<T>(left: readonly T[], right: readonly T[], key: (value: T) => string = String): T[] {
  const seen = new Set(left.map(key));
  return [...left, ...right.filter((value) => !seen.has(key(value)))];
}

/** The record with one more install in it: every list the union of both, in the order first seen. */
export function mergeRecord(record: InstallRecord, install: Omit<InstallRecord, 'version'>): InstallRecord {
  return {
    version: 1,
    hooks: union(record.hooks, install.hooks),
    ...(install.node ?? record.node ? { node: (install.node ?? record.node)! } : {}),
    configs: union(record.configs, install.configs),
    logs: union(record.logs, install.logs),
    compileCaches: union(record.compileCaches, install.compileCaches),
    entries: union(record.entries, install.entries, (entry) => `${entry.runtime}\0${entry.path}`),
    directories: union(record.directories, install.directories),
  };
}

export function renderInstallRecord(record: InstallRecord): string {
  return `${JSON.stringify(installRecordSchema.parse(record), null, 2)}\n`;
}
