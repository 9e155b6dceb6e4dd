import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic as writeAsync, writeFileAtomicSync } from './write.js';

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bulwark-write-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

// Both variants make the same promises; the synchronous one is wrapped so that one set of cases runs on both.
const variants = [
  ['writeFileAtomic', writeAsync],
  ['writeFileAtomicSync', (path: string, data: string | Uint8Array, mode?: number) => new Promise<void>((resolve) => {
    writeFileAtomicSync(path, data, mode);
    resolve();
  })],
] as const;

describe.each(variants)('%s', (_name, writeFileAtomic) => {
  it('creates a file and leaves no temporary file behind', async () => {
    const path = join(directory, 'config.json');
    await writeFileAtomic(path, '{"a":1}\n');
    expect(await readFile(path, 'utf8')).toBe('{"a":1}\n');
    expect(await readdir(directory)).toEqual(['config.json']);
  });

  it('replaces an existing file', async () => {
    const path = join(directory, 'config.json');
    await writeFile(path, 'old');
    await writeFileAtomic(path, new TextEncoder().encode('new'));
    expect(await readFile(path, 'utf8')).toBe('new');
    expect(await readdir(directory)).toEqual(['config.json']);
  });

  it('sets the mode whatever the umask', async () => {
    const path = join(directory, 'hook.json');
    await writeFileAtomic(path, 'x', 0o666);
    expect((await stat(path)).mode & 0o777).toBe(0o666);
    await writeFileAtomic(path, 'y', 0o600);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await writeFileAtomic(path, 'z');
    expect((await stat(path)).mode & 0o777).toBe(0o644);
  });

  it('cleans up its temporary file when the rename fails', async () => {
    const path = join(directory, 'occupied');
    await mkdir(path);
    await writeFile(join(path, 'inside'), 'x');
    await expect(writeFileAtomic(path, 'data')).rejects.toMatchObject({
      code: 'ERR_SYSTEM',
      operation: 'write file atomically',
      path,
    });
    expect((await readdir(directory)).sort()).toEqual(['occupied']);
  });

  it('throws a SystemError for a missing directory', async () => {
    const path = join(directory, 'missing', 'config.json');
    await expect(writeFileAtomic(path, 'data')).rejects.toMatchObject({ code: 'ERR_SYSTEM', errno: 'ENOENT', path });
    expect(await readdir(directory)).toEqual([]);
  });

  it('leaves one complete file after concurrent writes', async () => {
    const path = join(directory, 'config.json');
    const contents = Array.from({ length: 20 }, (_, index) => `${'x'.repeat(10_000)}-${index}`);
    await Promise.all(contents.map((content) => writeFileAtomic(path, content)));
    expect(contents).toContain(await readFile(path, 'utf8'));
    expect(await readdir(directory)).toEqual(['config.json']);
  });
});
