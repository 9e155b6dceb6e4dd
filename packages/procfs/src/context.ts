/**
 * Shared plumbing for every reader: option defaults, the platform check, pid
 * validation and the one place where a failed read of /proc/<pid>/... becomes
 * a ProcessGoneError or a SystemError.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { NotSupportedError, ValidationError, addContext, errnoOf, toSystemError } from '@bulwark/errors';
import { ProcessGoneError } from './errors.js';

export interface ProcfsOptions {
  /** Where procfs is mounted; default '/proc'. Point it at a fixture tree in tests. */
  procRoot?: string;
  /** Where the cgroup hierarchies are mounted; default '/sys/fs/cgroup'. */
  cgroupRoot?: string;
  /**
   * Read with synchronous system calls under the promise API. /proc and
   * cgroupfs never wait on a disk, and a one-shot process (an OCI hook) saves
   * the thread-pool round trip of every read: about 1 ms instead of 5 for a
   * snapshot. Leave it off where a path may block (a FIFO in a fixture tree)
   * or where the event loop must never stall.
   */
  synchronous?: boolean;
}

/** The file system calls the readers make; one table for each way of making them. */
export interface FileAccess {
  readFile(path: string): Promise<string>;
  readlink(path: string): Promise<string>;
  lstat(path: string): Promise<fs.Stats>;
  stat(path: string): Promise<fs.Stats>;
  statBigint(path: string): Promise<fs.BigIntStats>;
  statfsType(path: string): Promise<number>;
}

// `fs.promises` is loaded on first use: a one-shot process reading
// synchronously (an OCI hook) never pays for node:fs/promises.
export const asynchronousFileAccess: FileAccess = {
  readFile: (path) => fs.promises.readFile(path, 'utf8'),
  readlink: (path) => fs.promises.readlink(path, 'utf8'),
  lstat: (path) => fs.promises.lstat(path),
  stat: (path) => fs.promises.stat(path),
  statBigint: (path) => fs.promises.stat(path, { bigint: true }),
  statfsType: async (path) => (await fs.promises.statfs(path)).type,
};

/** Runs a synchronous call and hands back its result, or its error, as a promise. */
function settle<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (error) {
    return Promise.reject(error);
  }
}

export const synchronousFileAccess: FileAccess = {
  readFile: (path) => settle(() => fs.readFileSync(path, 'utf8')),
  readlink: (path) => settle(() => fs.readlinkSync(path, 'utf8')),
  lstat: (path) => settle(() => fs.lstatSync(path)),
  stat: (path) => settle(() => fs.statSync(path)),
  statBigint: (path) => settle(() => fs.statSync(path, { bigint: true })),
  statfsType: (path) => settle(() => fs.statfsSync(path).type),
};

export const defaultProcRoot = '/proc';
export const defaultCgroupRoot = '/sys/fs/cgroup';

/** One read of one process: the pid, the operation named in errors, and the resolved roots. */
export interface ReadContext {
  readonly pid: number;
  /** `read namespaces of pid 42`: the prefix of every error message. */
  readonly operation: string;
  readonly procRoot: string;
  readonly cgroupRoot: string;
  /** `<procRoot>/<pid>` */
  readonly pidDirectory: string;
  readonly files: FileAccess;
}

export function assertLinux(): void {
  if (process.platform !== 'linux') {
    throw new NotSupportedError('procfs', 'platform', 'procfs requires linux');
  }
}

export function validatePid(pid: unknown, operation: string): asserts pid is number {
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) {
    const got = typeof pid === 'number' ? String(pid) : typeof pid;
    throw addContext(operation, new ValidationError('pid', [{ path: '', message: `expected a positive safe integer, got ${got}` }]));
  }
}

/** Checks the platform and the pid, then resolves the roots. `verb` is e.g. `read namespaces`. */
export function createContext(verb: string, pid: number, options: ProcfsOptions | undefined): ReadContext {
  assertLinux();
  validatePid(pid, verb);
  const procRoot = options?.procRoot ?? defaultProcRoot;
  return {
    pid,
    operation: `${verb} of pid ${pid}`,
    procRoot,
    cgroupRoot: options?.cgroupRoot ?? defaultCgroupRoot,
    pidDirectory: join(procRoot, String(pid)),
    files: options?.synchronous === true ? synchronousFileAccess : asynchronousFileAccess,
  };
}

/** The same process and roots under another operation name, for the parts of a larger read. */
export function withVerb(context: ReadContext, verb: string): ReadContext {
  return { ...context, operation: `${verb} of pid ${context.pid}` };
}

/** True when /proc/<pid> itself no longer exists. */
export async function isPidDirectoryGone(context: ReadContext): Promise<boolean> {
  try {
    await context.files.lstat(context.pidDirectory);
    return false;
  } catch (error) {
    const errno = errnoOf(error);
    return errno === 'ENOENT' || errno === 'ESRCH';
  }
}

/**
 * Maps a failed read under /proc/<pid>: ESRCH, or ENOENT while /proc/<pid>
 * itself is gone, means the process is gone; anything else (a missing file
 * in a live process, EACCES, ...) is a SystemError for `path`.
 */
export async function mapReadError(context: ReadContext, error: unknown, path: string): Promise<unknown> {
  const errno = errnoOf(error);
  if (errno === 'ESRCH' || (errno === 'ENOENT' && (await isPidDirectoryGone(context)))) {
    return new ProcessGoneError(context.pid, context.operation, 'exited', { cause: error });
  }
  return toSystemError(context.operation, error, path);
}

/** Reads `<procRoot>/<pid>/<name>` as text. */
export async function readProcFile(context: ReadContext, name: string): Promise<{ text: string; path: string }> {
  const path = join(context.pidDirectory, name);
  try {
    return { text: await context.files.readFile(path), path };
  } catch (error) {
    throw await mapReadError(context, error, path);
  }
}

/** Runs a parser, prefixing any error it throws with the context's operation. */
export function inOperation<T>(context: ReadContext, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw addContext(context.operation, error);
  }
}
