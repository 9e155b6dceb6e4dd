import { lstat, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppliedPolicyStore, appliedDirectoryFor, recordFileName, type AppliedRecord } from './applied-policies.js';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bulwark-applied-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const record = (name: string, text = `kind: KubeArmorPolicy # ${name}\n`): AppliedRecord => ({
  kind: 'KubeArmorPolicy',
  namespace: 'shop',
  name,
  source: '/root/p.yaml',
  text,
  appliedAt: '2026-01-01T00:00:00.000Z',
});

describe('AppliedPolicyStore', () => {
  it('lives beside the state file', () => {
    expect(appliedDirectoryFor('/run/bulwark/containers.json')).toBe('/run/bulwark/policies.applied');
  });

  it('writes records 0600 in a 0700 directory, replaces and removes them, and reads them back', async () => {
    const store = new AppliedPolicyStore(join(work, 'state', 'policies.applied'));
    await store.prepare();
    expect((await stat(store.directory)).mode & 0o777).toBe(0o700);
    await store.write(record('one'));
    await store.write(record('two'));
    await store.write(record('one', 'replaced\n'));
    const names = await readdir(store.directory);
    expect(names.sort()).toEqual([recordFileName(record('one')), recordFileName(record('two'))].sort());
    for (const name of names) expect((await stat(join(store.directory, name))).mode & 0o777).toBe(0o600);
    const loaded = await store.load();
    expect(loaded.problems).toEqual([]);
    expect(loaded.records.find((entry) => entry.name === 'one')?.text).toBe('replaced\n');
    expect(await store.remove(record('two'))).toBe(true);
    expect(await store.remove(record('two'))).toBe(false);
    expect((await store.load()).records.map((entry) => entry.name)).toEqual(['one']);
  });

  it('reads a missing directory as empty', async () => {
    expect(await new AppliedPolicyStore(join(work, 'none')).load()).toEqual({ records: [], problems: [] });
  });

  it('refuses a symlinked directory, and reports a symlinked or malformed record without following it', async () => {
    await mkdir(join(work, 'real'));
    await symlink(join(work, 'real'), join(work, 'link'));
    await expect(new AppliedPolicyStore(join(work, 'link')).prepare()).rejects.toThrow(/not a directory/u);

    const store = new AppliedPolicyStore(join(work, 'store'));
    await store.prepare();
    await writeFile(join(work, 'secret.json'), JSON.stringify({ version: 1, ...record('evil') }));
    await symlink(join(work, 'secret.json'), join(store.directory, 'aaaa.json'));
    await writeFile(join(store.directory, 'bbbb.json'), '{"version":2}');
    const loaded = await store.load();
    expect(loaded.records).toEqual([]);
    expect(loaded.problems).toEqual([`${join(store.directory, 'aaaa.json')}: a symlink, refused`, expect.stringMatching(/bbbb\.json: version: /u)]);
    expect((await lstat(join(store.directory, 'aaaa.json'))).isSymbolicLink()).toBe(true);
  });
});
