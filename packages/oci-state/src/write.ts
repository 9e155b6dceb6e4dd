/**
 * Replacing a file so that readers see either the old or the new content,
 * never a mix, and the new content survives a crash once this resolves.
 */

import { randomBytes } from 'node:crypto';
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
  const temporary = join(directory, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
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
