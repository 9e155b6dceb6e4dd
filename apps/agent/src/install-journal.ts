/**
 * All-or-nothing changes to the file system for `bulwark install-hook`.
 * Every change goes through a journal that first records what was there (the
 * file's bytes, mode and owner, a symbolic link's target, or nothing), then
 * makes the change. When a later step fails, `rollback()` undoes the changes
 * in reverse: files that existed get their old contents back, files and
 * directories the journal created are removed.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, copyFile, lstat, mkdir, open, readFile, readlink, rename, rm, rmdir, symlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { describeError, errnoOf, toSystemError } from '@bulwark/errors';
import { writeFileAtomic } from '@bulwark/oci-state';

/** What a path held before the journal changed it. */
type Snapshot =
  | { readonly kind: 'absent' }
  | { readonly kind: 'file'; readonly data: Buffer; readonly mode: number; readonly uid: number; readonly gid: number }
  | { readonly kind: 'symlink'; readonly target: string };

type Undo = { readonly kind: 'directory'; readonly path: string } | { readonly kind: 'path'; readonly path: string; readonly before: Snapshot };

export type WriteOutcome = 'wrote' | 'updated' | 'unchanged';

async function takeSnapshot(path: string): Promise<Snapshot> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return { kind: 'absent' };
    throw toSystemError('read', error, path);
  }
  try {
    if (stats.isSymbolicLink()) return { kind: 'symlink', target: await readlink(path) };
    if (!stats.isFile()) throw new Error(`${path} is not a regular file`);
    return { kind: 'file', data: await readFile(path), mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid };
  } catch (error) {
    throw toSystemError('read', error, path);
  }
}

function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** True when two files hold the same bytes (compared in chunks; a Node binary is over 100 MB). */
async function sameContent(left: string, right: string): Promise<boolean> {
  let a: FileHandle | undefined;
  let b: FileHandle | undefined;
  try {
    a = await open(left, 'r');
    b = await open(right, 'r');
    const [sizeA, sizeB] = [(await a.stat()).size, (await b.stat()).size];
    if (sizeA !== sizeB) return false;
    const bufferA = Buffer.alloc(1 << 20);
    const bufferB = Buffer.alloc(1 << 20);
    for (let position = 0; position < sizeA; ) {
      const [readA, readB] = await Promise.all([a.read(bufferA, 0, bufferA.length, position), b.read(bufferB, 0, bufferB.length, position)]);
      if (readA.bytesRead !== readB.bytesRead || readA.bytesRead === 0) return false;
      if (!bufferA.subarray(0, readA.bytesRead).equals(bufferB.subarray(0, readB.bytesRead))) return false;
      position += readA.bytesRead;
    }
    return true;
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return false;
    throw error;
  } finally {
    await a?.close();
    await b?.close();
  }
}

/** Copies a file atomically: a temporary copy beside the target, chmod'ed, fsync'ed, then renamed over it. */
async function copyFileAtomic(source: string, path: string, mode: number): Promise<void> {
  const temporary = temporaryName(path);
  try {
    await copyFile(source, temporary);
    const handle = await open(temporary, 'r+');
    try {
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw toSystemError('copy file atomically', error, path);
  }
}

export class InstallJournal {
  readonly #undo: Undo[] = [];
  readonly #recorded = new Set<string>();
  /** Directories this journal created, outermost first. */
  readonly createdDirectories: string[] = [];

  /** How many changes rollback() would undo. */
  get changes(): number {
    return this.#undo.length;
  }

  async #record(path: string): Promise<Snapshot> {
    const before = await takeSnapshot(path);
    // The first snapshot of a path is the one to go back to.
    if (!this.#recorded.has(path)) {
      this.#recorded.add(path);
      this.#undo.push({ kind: 'path', path, before });
    }
    return before;
  }

  /**
   * Creates a directory and any missing parents (parents 0755, the
   * directory itself `mode`, whatever the umask). Only the ones it creates
   * are recorded; an existing directory is left as it is.
   */
  async ensureDirectory(path: string, mode = 0o755): Promise<void> {
    const missing: string[] = [];
    for (let current = path; ; current = dirname(current)) {
      let stats;
      try {
        stats = await lstat(current);
      } catch (error) {
        const errno = errnoOf(error);
        // ENOTDIR: a parent is not a directory; the walk up finds which one.
        if (errno !== 'ENOENT' && errno !== 'ENOTDIR') throw toSystemError('create directory', error, current);
        missing.unshift(current);
        if (dirname(current) === current) break;
        continue;
      }
      if (!stats.isDirectory()) throw toSystemError('create directory', Object.assign(new Error('not a directory'), { code: 'ENOTDIR' }), current);
      break;
    }
    for (const directory of missing) {
      const directoryMode = directory === path ? mode : 0o755;
      try {
        await mkdir(directory, { mode: directoryMode });
        await chmod(directory, directoryMode);
      } catch (error) {
        throw toSystemError('create directory', error, directory);
      }
      this.#undo.push({ kind: 'directory', path: directory });
      this.createdDirectories.push(directory);
    }
  }

  /** Writes a file atomically unless it already holds exactly `data` with `mode`. */
  async writeFile(path: string, data: string | Buffer, mode: number): Promise<WriteOutcome> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const before = await takeSnapshot(path);
    if (before.kind === 'file' && before.mode === mode && before.data.equals(bytes)) return 'unchanged';
    await this.#record(path);
    await writeFileAtomic(path, bytes, mode);
    return before.kind === 'absent' ? 'wrote' : 'updated';
  }

  /** Copies `source` to `path` atomically unless `path` already holds the same bytes with `mode`. */
  async copyFile(source: string, path: string, mode: number): Promise<WriteOutcome> {
    let stats;
    try {
      stats = await lstat(path);
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw toSystemError('read', error, path);
    }
    if (stats?.isFile() === true && (stats.mode & 0o7777) === mode && (await sameContent(source, path))) return 'unchanged';
    await this.#record(path);
    await copyFileAtomic(source, path, mode);
    return stats === undefined ? 'wrote' : 'updated';
  }

  /**
   * Lets `change` rewrite an existing file in place (a runtime spec that
   * another module edits), recording it first. Returns whether its bytes
   * changed.
   */
  async edit(path: string, change: () => Promise<unknown>): Promise<'updated' | 'unchanged'> {
    const before = await this.#record(path);
    await change();
    const after = await takeSnapshot(path);
    const same = before.kind === 'file' && after.kind === 'file' && before.data.equals(after.data);
    return same ? 'unchanged' : 'updated';
  }

  /** Removes a file (or symbolic link), recording what it held. */
  async remove(path: string): Promise<'removed' | 'absent'> {
    const before = await this.#record(path);
    if (before.kind === 'absent') return 'absent';
    try {
      await rm(path);
    } catch (error) {
      throw toSystemError('remove', error, path);
    }
    return 'removed';
  }

  /**
   * Undoes every recorded change, newest first. Returns what could not be
   * undone, one line each (empty when everything was).
   */
  async rollback(): Promise<string[]> {
    const problems: string[] = [];
    for (const step of [...this.#undo].reverse()) {
      try {
        if (step.kind === 'directory') await rmdir(step.path);
        else await restore(step.path, step.before);
      } catch (error) {
        problems.push(`${step.path}: ${describeError(error)}`);
      }
    }
    this.#undo.length = 0;
    this.#recorded.clear();
    this.createdDirectories.length = 0;
    return problems;
  }
}

async function restore(path: string, before: Snapshot): Promise<void> {
  switch (before.kind) {
    case 'absent':
      await rm(path, { force: true });
      return;
    case 'symlink': {
      const temporary = temporaryName(path);
      await symlink(before.target, temporary);
      await rename(temporary, path);
      return;
    }
    case 'file':
      await writeFileAtomic(path, before.data, before.mode);
      if (process.geteuid?.() === 0) await chown(path, before.uid, before.gid);
  }
}

/**
 * Runs `work` with a journal, and rolls every change back when it throws.
 * The error keeps its class and code; its message says the install was
 * undone, or names what could not be.
 */
export async function withJournal<T>(work: (journal: InstallJournal) => Promise<T>): Promise<T> {
  const journal = new InstallJournal();
  try {
    return await work(journal);
  } catch (error) {
    const changes = journal.changes;
    const problems = await journal.rollback();
    if (error instanceof Error && changes > 0) {
      error.message +=
        problems.length === 0
          ? `; nothing was changed (${changes} ${changes === 1 ? 'change' : 'changes'} undone)`
          : `; undoing the changes failed for ${problems.join(', ')}`;
    }
    throw error;
  }
}
