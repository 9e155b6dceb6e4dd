import { join } from 'node:path';
import { ValidationError, addContext, errnoOf } from '@bulwark/errors';
import { type ProcfsOptions, type ReadContext, createContext, mapReadError } from './context.js';
import { ProcessGoneError } from './errors.js';
import { readStat } from './identity.js';
import { hasExited, parseNamespaceLink } from './parse.js';

/** The namespace types under /proc/<pid>/ns (the *_for_children links are left out). */
export const NAMESPACE_TYPES = Object.freeze(['mnt', 'pid', 'net', 'user', 'uts', 'ipc', 'cgroup', 'time'] as const);

export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

/** A namespace's identity: the device and inode of its nsfs file. Two processes share a namespace when both match. */
export interface NamespaceId {
  device: number;
  inode: number;
}

export type Namespaces = Partial<Record<NamespaceType, NamespaceId>>;

/** One namespace, or undefined when neither stat nor readlink finds it (ENOENT). */
async function readNamespace(context: ReadContext, type: NamespaceType): Promise<NamespaceId | undefined> {
  const path = join(context.pidDirectory, 'ns', type);
  try {
    // stat follows the magic link to the nsfs inode.
    const found = await context.files.stat(path);
    return { device: found.dev, inode: found.ino };
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT') throw await mapReadError(context, error, path);
  }
  // Fixture trees hold plain symlinks such as `mnt:[4026531840]` that point nowhere:
  // take the inode from the link text, with device 0. On a real /proc, readlink
  // fails with ENOENT exactly when stat did.
  let target: string;
  try {
    target = await context.files.readlink(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw await mapReadError(context, error, path);
  }
  const inode = parseNamespaceLink(target, type);
  if (inode === undefined) {
    throw addContext(
      context.operation,
      new ValidationError(path, [{ path: '', message: `expected a link like ${type}:[4026531840], got "${target}"` }]),
    );
  }
  return { device: 0, inode };
}

export async function readNamespacesIn(context: ReadContext): Promise<Namespaces> {
  const found = await Promise.all(NAMESPACE_TYPES.map((type) => readNamespace(context, type)));
  const namespaces: Namespaces = {};
  let missing = false;
  NAMESPACE_TYPES.forEach((type, index) => {
    const id = found[index];
    if (id === undefined) missing = true;
    else namespaces[type] = id;
  });
  if (missing) {
    // A missing entry is a type this kernel lacks, unless the process exited
    // meanwhile (readStat throws ProcessGoneError) or is a zombie, whose
    // namespaces are already released.
    const stat = await readStat(context);
    if (hasExited(stat.state)) throw new ProcessGoneError(context.pid, context.operation);
  }
  return namespaces;
}

/**
 * The namespaces of a process, by type. A type the kernel lacks (time before
 * Linux 5.6) is absent. Needs ptrace read access to the process: another
 * user's process without CAP_SYS_PTRACE gives a SystemError with
 * isPermission. Under a fixture procRoot whose ns entries are plain symlinks
 * (`mnt:[4026531840]`), the inode comes from the link text and device is 0.
 */
export async function readNamespaces(pid: number, options?: ProcfsOptions): Promise<Namespaces> {
  return readNamespacesIn(createContext('read namespaces', pid, options));
}
