import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstallJournal, withJournal } from './install-journal.js';

let work: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bulwark-journal-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('InstallJournal', () => {
  it('records only the directories it creates, and a rollback removes exactly those', async () => {
    await mkdir(join(work, 'there'));
    const journal = new InstallJournal();
    await journal.ensureDirectory(join(work, 'there', 'a', 'b'), 0o700);
    expect(journal.createdDirectories).toEqual([join(work, 'there', 'a'), join(work, 'there', 'a', 'b')]);
    expect((await stat(join(work, 'there', 'a'))).mode & 0o777).toBe(0o755);
    expect((await stat(join(work, 'there', 'a', 'b'))).mode & 0o777).toBe(0o700);
    expect(await journal.rollback()).toEqual([]);
    expect(await readdir(work)).toEqual(['there']);
    expect(await readdir(join(work, 'there'))).toEqual([]);
  });

  it('writes, then puts back the bytes and mode of a file that was there and removes one that was not', async () => {
    const existing = join(work, 'existing');
    await writeFile(existing, 'old\n', { mode: 0o600 });
    const journal = new InstallJournal();
    expect(await journal.writeFile(existing, 'old\n', 0o600)).toBe('unchanged');
    expect(journal.changes).toBe(0);
    expect(await journal.writeFile(existing, 'new\n', 0o644)).toBe('updated');
    expect(await journal.writeFile(existing, 'newer\n', 0o644)).toBe('updated');
    expect(await journal.writeFile(join(work, 'fresh'), 'fresh\n', 0o644)).toBe('wrote');
    expect(await journal.copyFile(existing, join(work, 'copy'), 0o755)).toBe('wrote');
    expect(await journal.copyFile(existing, join(work, 'copy'), 0o755)).toBe('unchanged');
    expect(await journal.remove(join(work, 'nothing'))).toBe('absent');
    expect(await journal.rollback()).toEqual([]);
    expect(await readFile(existing, 'utf8')).toBe('old\n');
    expect((await stat(existing)).mode & 0o777).toBe(0o600);
    expect(await readdir(work)).toEqual(['existing']);
  });

  it('puts back a file it removed and a symbolic link it replaced', async () => {
    await writeFile(join(work, 'file'), 'keep me\n');
    await symlink('/somewhere/else', join(work, 'link'));
    const journal = new InstallJournal();
    expect(await journal.remove(join(work, 'file'))).toBe('removed');
    expect(await journal.writeFile(join(work, 'link'), 'a file now\n', 0o644)).toBe('updated');
    expect((await lstat(join(work, 'link'))).isSymbolicLink()).toBe(false);
    await journal.rollback();
    expect(await readFile(join(work, 'file'), 'utf8')).toBe('keep me\n');
    expect(await readlink(join(work, 'link'))).toBe('/somewhere/else');
  });

  it('withJournal rolls back when the work throws, keeps the error and says so in its message', async () => {
    const error = await withJournal(async (journal) => {
      await journal.ensureDirectory(join(work, 'made'));
      await journal.writeFile(join(work, 'made', 'file'), 'x', 0o644);
      throw new Error('step three: failed');
    }).catch((caught: unknown) => caught as Error);
    expect(error.message).toBe('step three: failed; nothing was changed (2 changes undone)');
    expect(await readdir(work)).toEqual([]);
  });
});
