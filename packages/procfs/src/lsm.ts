import { join } from 'node:path';
import { errnoOf } from '@bulwark/errors';
import { type ProcfsOptions, type ReadContext, createContext, isPidDirectoryGone, mapReadError } from './context.js';
import { parseLsmLabel } from './parse.js';

/**
 * One attr file: its label, or undefined when no LSM answers there (EINVAL:
 * none provides it; ENOENT: the file does not exist in a live process).
 */
async function readAttr(context: ReadContext, name: string): Promise<string | undefined> {
  const path = join(context.pidDirectory, name);
  try {
    return parseLsmLabel(await context.files.readFile(path));
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'EINVAL') return undefined;
    if (errno === 'ENOENT' && !(await isPidDirectoryGone(context))) return undefined;
    throw await mapReadError(context, error, path);
  }
}

export async function readLsmLabelIn(context: ReadContext): Promise<string | undefined> {
  // AppArmor's own file answers even when another LSM owns attr/current.
  return (await readAttr(context, 'attr/apparmor/current')) ?? (await readAttr(context, 'attr/current'));
}

/**
 * The LSM label of a process (an AppArmor profile such as
 * `docker-default (enforce)` or `unconfined`, or an SELinux context), with
 * trailing NULs and newlines removed. Reads attr/apparmor/current first, then
 * attr/current. Undefined when no LSM provides a label.
 */
export async function readLsmLabel(pid: number, options?: ProcfsOptions): Promise<string | undefined> {
  return readLsmLabelIn(createContext('read lsm label', pid, options));
}
