/**
 * Replacing a file so that readers see either the old or the new content,
 * never a mix, and the new content survives a crash once this resolves.
 */

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoOf, toSystemError } from '@bulwark/errors';

/**
 * Writes `data` to `path` atomically: a temporary file in the same
 * directory, written, chmod'ed to `mode` (whatever the umask), fsync'ed,
 * renamed over `path`, then the directory fsync'ed. The temporary file is
 * removed when any step fails. A symlink at `path` is replaced, not followed.
 * Throws SystemError.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const directory = dirname(path);
  const temporary = temporaryName(path);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temporary, 'wx', mode);
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temporary, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(temporary, { force: true }).catch(() => undefined);
    throw toSystemError('write file atomically', error, path);
  }
  await syncDirectory(directory);
}

async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch (error) {
    // Some file systems cannot fsync a directory; the rename itself has happened.
    const errno = errnoOf(error);
    if (errno !== 'EINVAL' && errno !== 'ENOTSUP' && errno !== 'EISDIR') {
      throw toSystemError('sync directory', error, directory);
    }
  } finally {
    await handle?.close();
  }
}

function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * writeFileAtomic with synchronous calls: the same steps and guarantees, in
 * one turn of the event loop instead of nine thread-pool round trips. For a
 * file on a memory file system (tmpfs, where fsync does not wait on a disk)
 * it is the faster way; elsewhere it blocks the caller for the disk's flush.
 * Throws SystemError.
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, mode = 0o644): void {
  const directory = dirname(path);
  const temporary = temporaryName(path);
  let fd: number | undefined;
  try {
    fd = fs.openSync(temporary, 'wx', mode);
    fs.writeFileSync(fd, data);
    fs.fchmodSync(fd, mode);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temporary, path);
  } catch (error) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(temporary, { force: true });
    throw toSystemError('write file atomically', error, path);
  }
  let directoryFd: number | undefined;
  try {
    directoryFd = fs.openSync(directory, 'r');
    fs.fsyncSync(directoryFd);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno !== 'EINVAL' && errno !== 'ENOTSUP' && errno !== 'EISDIR') throw toSystemError('sync directory', error, directory);
  } finally {
    if (directoryFd !== undefined) fs.closeSync(directoryFd);
  }
}
