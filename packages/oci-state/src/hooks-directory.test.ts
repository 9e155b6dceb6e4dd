import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareCodePoints, loadHooksDirectories } from './hooks-directory.js';

let root: string;
let low: string;
let high: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'bulwark-hooks-'));
  low = join(root, 'usr-share-hooks.d');
  high = join(root, 'etc-hooks.d');
  await mkdir(low);
  await mkdir(high);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function hookJson(path: string, stages: string[] = ['poststop']): string {
  return `${JSON.stringify({ version: '1.0.0', hook: { path }, when: { always: true }, stages }, null, 2)}\n`;
}

describe('loadHooksDirectories', () => {
  it('loads the json files of one directory', async () => {
    await writeFile(join(low, 'a.json'), hookJson('/hooks/a'));
    const { hooks, errors } = await loadHooksDirectories([low]);
    expect(errors).toEqual([]);
    expect(hooks).toHaveLength(1);
    expect(hooks[0]).toMatchObject({ hook: { path: '/hooks/a' }, source: join(low, 'a.json') });
  });

  it('ignores files that do not end in .json', async () => {
    await writeFile(join(low, 'a.json'), hookJson('/hooks/a'));
    await writeFile(join(low, 'b.json.disabled'), hookJson('/hooks/b'));
    await writeFile(join(low, 'README'), 'not a hook');
    await writeFile(join(low, 'c.JSON'), hookJson('/hooks/c'));
    const { hooks, errors } = await loadHooksDirectories([low]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual(['/hooks/a']);
    expect(errors).toEqual([]);
  });

  it('lets a later directory override a file of the same name', async () => {
    await writeFile(join(low, '10-bulwark.json'), hookJson('/usr/libexec/bulwark/old'));
    await writeFile(join(high, '10-bulwark.json'), hookJson('/usr/libexec/bulwark/new'));
    const { hooks } = await loadHooksDirectories([low, high]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual(['/usr/libexec/bulwark/new']);
  });

  it('gives precedence by the order of the list, not by the directory names', async () => {
    await writeFile(join(low, 'x.json'), hookJson('/from/low'));
    await writeFile(join(high, 'x.json'), hookJson('/from/high'));
    const { hooks } = await loadHooksDirectories([high, low]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual(['/from/low']);
  });

  it('merges distinct file names from all directories', async () => {
    await writeFile(join(low, 'a.json'), hookJson('/hooks/a'));
    await writeFile(join(high, 'b.json'), hookJson('/hooks/b'));
    const { hooks } = await loadHooksDirectories([low, high]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual(['/hooks/a', '/hooks/b']);
  });

  it('does not let an invalid higher-precedence file mask a valid lower one', async () => {
    await writeFile(join(low, '10-bulwark.json'), hookJson('/usr/libexec/bulwark/hook'));
    await writeFile(join(high, '10-bulwark.json'), '{ "version": "1.0.0", "hook": ');
    const { hooks, errors } = await loadHooksDirectories([low, high]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual(['/usr/libexec/bulwark/hook']);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.source).toBe(join(high, '10-bulwark.json'));
    expect(errors[0]?.message).toContain('malformed json');
  });

  it('reports an invalid file with its name, field and line, and keeps the valid ones', async () => {
    await writeFile(join(low, 'good.json'), hookJson('/hooks/good'));
    await writeFile(join(low, 'bad.json'), hookJson('relative/hook'));
    const { hooks, errors } = await loadHooksDirectories([low]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual(['/hooks/good']);
    expect(errors.map((error) => error.message)).toEqual([`${join(low, 'bad.json')}: line 4 hook.path: hook path must be an absolute path`]);
  });

  it('orders by lower-cased file name, whatever the directory', async () => {
    await writeFile(join(high, '01-UPPERCASE.json'), hookJson('/hooks/upper'));
    await writeFile(join(low, '02-another-hook.json'), hookJson('/hooks/another'));
    await writeFile(join(low, '01-my-hook.json'), hookJson('/hooks/mine'));
    const { hooks } = await loadHooksDirectories([low, high]);
    // As oci-hooks(5) says: 01-my-hook before 02-another-hook and 01-UPPERCASE ("01-m" < "01-u").
    expect(hooks.map((hook) => hook.hook.path)).toEqual(['/hooks/mine', '/hooks/upper', '/hooks/another']);
  });

  it('orders case-insensitively where a plain sort would not', async () => {
    await writeFile(join(low, 'B.json'), hookJson('/hooks/B'));
    await writeFile(join(low, 'a.json'), hookJson('/hooks/a'));
    await writeFile(join(low, 'C.json'), hookJson('/hooks/C'));
    const { hooks } = await loadHooksDirectories([low]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual(['/hooks/a', '/hooks/B', '/hooks/C']);
  });

  it('treats names differing only in case as different files', async () => {
    await writeFile(join(low, 'hook.json'), hookJson('/hooks/lower'));
    await writeFile(join(high, 'HOOK.json'), hookJson('/hooks/upper'));
    const { hooks } = await loadHooksDirectories([low, high]);
    expect(hooks.map((hook) => hook.hook.path).sort()).toEqual(['/hooks/lower', '/hooks/upper']);
  });

  it('skips directories that do not exist', async () => {
    await writeFile(join(low, 'a.json'), hookJson('/hooks/a'));
    const { hooks, errors } = await loadHooksDirectories([join(root, 'missing'), low, join(root, 'also-missing')]);
    expect(hooks).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it('throws a SystemError for a path that is not a directory', async () => {
    await writeFile(join(root, 'file'), 'x');
    await expect(loadHooksDirectories([join(root, 'file')])).rejects.toMatchObject({
      code: 'ERR_SYSTEM',
      errno: 'ENOTDIR',
      operation: 'read hooks directory',
    });
  });

  it('skips a dangling symlink', async () => {
    await symlink(join(root, 'nowhere.json'), join(low, 'dangling.json'));
    const { hooks, errors } = await loadHooksDirectories([low]);
    expect(hooks).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('follows a symlink to a hook file', async () => {
    await writeFile(join(root, 'target.json'), hookJson('/hooks/linked'));
    await symlink(join(root, 'target.json'), join(low, 'linked.json'));
    const { hooks } = await loadHooksDirectories([low]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual(['/hooks/linked']);
  });

  it('reports a directory named like a hook file as an error', async () => {
    await mkdir(join(low, 'dir.json'));
    const { hooks, errors } = await loadHooksDirectories([low]);
    expect(hooks).toEqual([]);
    expect(errors[0]?.message).toContain('read hook file: is a directory');
  });

  it('reports an unreadable file without stopping', async () => {
    await writeFile(join(low, 'a.json'), hookJson('/hooks/a'));
    await writeFile(join(low, 'secret.json'), hookJson('/hooks/secret'));
    await chmod(join(low, 'secret.json'), 0o000);
    const { hooks, errors } = await loadHooksDirectories([low]);
    if (process.getuid?.() === 0) {
      // root reads it anyway
      expect(hooks).toHaveLength(2);
    } else {
      expect(hooks.map((hook) => hook.hook.path)).toEqual(['/hooks/a']);
      expect(errors[0]?.message).toContain('permission denied');
    }
  });

  it('loads 0.1.0 and 1.0.0 files side by side', async () => {
    await writeFile(join(low, 'old.json'), JSON.stringify({ hook: '/hooks/old', stage: ['prestart'], cmds: ['.*'] }));
    await writeFile(join(low, 'new.json'), hookJson('/hooks/new'));
    const { hooks } = await loadHooksDirectories([low]);
    expect(hooks.map((hook) => [hook.hook.path, hook.matchMode])).toEqual([
      ['/hooks/new', 'all'],
      ['/hooks/old', 'any'],
    ]);
  });

  it('returns nothing for no directories', async () => {
    expect(await loadHooksDirectories([])).toEqual({ hooks: [], errors: [] });
  });
});

describe('compareCodePoints', () => {
  it('orders by code point, beyond the basic plane too', () => {
    const names = ['\u{ff5e}', '\u{1f600}', 'a', 'A'];
    expect([...names].sort(compareCodePoints)).toEqual(['A', 'a', '\u{ff5e}', '\u{1f600}']);
  });
});
