import { writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareCodePoints, loadHooksDirectories } from './hooks-directory.js';
import { selectHooks } from './hooks-select.js';

let root: string;
let low: string;
let high: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'bulwark-hooks-'));
  low = join(root, 'usr-share-hooks.d');
  high = join(root, 'etc-hooks.d');
  await mkdir(low);
  await mkdir(high);
  await mkdir(join(root, 'bin'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Where the tests' hook executables are: real files, since a file whose executable is missing is dropped. */
function bin(name: string): string {
  return join(root, 'bin', name);
}

/** Creates bin(name) and returns its path. */
function executable(name: string): string {
  writeFileSync(bin(name), '#!/bin/sh\n', { mode: 0o755 });
  return bin(name);
}

/** A 1.0.0 file naming `path` (one line per field: `hook.path` is on line 4). */
function hookFile(path: string, stages: string[] = ['poststop']): string {
  return `${JSON.stringify({ version: '1.0.0', hook: { path }, when: { always: true }, stages }, null, 2)}\n`;
}

/** Creates the executable bin(name) and returns a 1.0.0 file naming it. */
function hookJson(name: string, stages: string[] = ['poststop']): string {
  return hookFile(executable(name), stages);
}

describe('loadHooksDirectories', () => {
  it('loads the json files of one directory', async () => {
    await writeFile(join(low, 'a.json'), hookJson('a'));
    const { hooks, errors } = await loadHooksDirectories([low]);
    expect(errors).toEqual([]);
    expect(hooks).toHaveLength(1);
    expect(hooks[0]).toMatchObject({ hook: { path: bin('a') }, source: join(low, 'a.json') });
  });

  it('ignores files that do not end in .json', async () => {
    await writeFile(join(low, 'a.json'), hookJson('a'));
    await writeFile(join(low, 'b.json.disabled'), hookJson('b'));
    await writeFile(join(low, 'README'), 'not a hook');
    await writeFile(join(low, 'c.JSON'), hookJson('c'));
    const { hooks, errors } = await loadHooksDirectories([low]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('a')]);
    expect(errors).toEqual([]);
  });

  it('lets a later directory override a file of the same name', async () => {
    await writeFile(join(low, '10-bulwark.json'), hookJson('bulwark-old'));
    await writeFile(join(high, '10-bulwark.json'), hookJson('bulwark-new'));
    const { hooks } = await loadHooksDirectories([low, high]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('bulwark-new')]);
  });

  it('gives precedence by the order of the list, not by the directory names', async () => {
    await writeFile(join(low, 'x.json'), hookJson('from-low'));
    await writeFile(join(high, 'x.json'), hookJson('from-high'));
    const { hooks } = await loadHooksDirectories([high, low]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('from-low')]);
  });

  it('merges distinct file names from all directories', async () => {
    await writeFile(join(low, 'a.json'), hookJson('a'));
    await writeFile(join(high, 'b.json'), hookJson('b'));
    const { hooks } = await loadHooksDirectories([low, high]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('a'), bin('b')]);
  });

  it('does not let an invalid higher-precedence file mask a valid lower one', async () => {
    await writeFile(join(low, '10-bulwark.json'), hookJson('bulwark-hook'));
    await writeFile(join(high, '10-bulwark.json'), '{ "version": "1.0.0", "hook": ');
    const { hooks, errors } = await loadHooksDirectories([low, high]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('bulwark-hook')]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.source).toBe(join(high, '10-bulwark.json'));
    expect(errors[0]?.message).toContain('malformed json');
  });

  it('reports an invalid file with its name, field and line, and keeps the valid ones', async () => {
    await writeFile(join(low, 'good.json'), hookJson('good'));
    await writeFile(join(low, 'bad.json'), hookFile('relative/hook'));
    const { hooks, errors } = await loadHooksDirectories([low]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('good')]);
    expect(errors.map((error) => error.message)).toEqual([`${join(low, 'bad.json')}: line 4 hook.path: hook path must be an absolute path`]);
  });

  it('orders by lower-cased file name, whatever the directory', async () => {
    await writeFile(join(high, '01-UPPERCASE.json'), hookJson('upper'));
    await writeFile(join(low, '02-another-hook.json'), hookJson('another'));
    await writeFile(join(low, '01-my-hook.json'), hookJson('mine'));
    const { hooks } = await loadHooksDirectories([low, high]);
    // As oci-hooks(5) says: 01-my-hook before 02-another-hook and 01-UPPERCASE ("01-m" < "01-u").
    expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('mine'), bin('upper'), bin('another')]);
  });

  it('orders case-insensitively where a plain sort would not', async () => {
    await writeFile(join(low, 'B.json'), hookJson('B'));
    await writeFile(join(low, 'a.json'), hookJson('a'));
    await writeFile(join(low, 'C.json'), hookJson('C'));
    const { hooks } = await loadHooksDirectories([low]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('a'), bin('B'), bin('C')]);
  });

  it('treats names differing only in case as different files', async () => {
    await writeFile(join(low, 'hook.json'), hookJson('lower'));
    await writeFile(join(high, 'HOOK.json'), hookJson('upper'));
    const { hooks } = await loadHooksDirectories([low, high]);
    expect(hooks.map((hook) => hook.hook.path).sort()).toEqual([bin('lower'), bin('upper')]);
  });

  it('skips directories that do not exist', async () => {
    await writeFile(join(low, 'a.json'), hookJson('a'));
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
    await writeFile(join(root, 'target.json'), hookJson('linked'));
    await symlink(join(root, 'target.json'), join(low, 'linked.json'));
    const { hooks } = await loadHooksDirectories([low]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('linked')]);
  });

  it('reports a directory named like a hook file as an error', async () => {
    await mkdir(join(low, 'dir.json'));
    const { hooks, errors } = await loadHooksDirectories([low]);
    expect(hooks).toEqual([]);
    expect(errors[0]?.message).toContain('read hook file: is a directory');
  });

  it('reports an unreadable file without stopping', async () => {
    await writeFile(join(low, 'a.json'), hookJson('a'));
    await writeFile(join(low, 'secret.json'), hookJson('secret'));
    await chmod(join(low, 'secret.json'), 0o000);
    const { hooks, errors } = await loadHooksDirectories([low]);
    if (process.getuid?.() === 0) {
      // root reads it anyway
      expect(hooks).toHaveLength(2);
    } else {
      expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('a')]);
      expect(errors[0]?.message).toContain('permission denied');
    }
  });

  it('loads 0.1.0 and 1.0.0 files side by side', async () => {
    await writeFile(join(low, 'old.json'), JSON.stringify({ hook: executable('old'), stage: ['prestart'], cmds: ['.*'] }));
    await writeFile(join(low, 'new.json'), hookJson('new'));
    const { hooks } = await loadHooksDirectories([low]);
    expect(hooks.map((hook) => [hook.hook.path, hook.matchMode])).toEqual([
      [bin('new'), 'all'],
      [bin('old'), 'any'],
    ]);
  });

  it('drops a file whose hook executable does not exist, naming the file, hook.path and its line, as podman and CRI-O do', async () => {
    await writeFile(join(low, 'good.json'), hookJson('good', ['createRuntime']));
    await writeFile(join(low, 'gone.json'), hookFile(bin('gone'), ['createRuntime']));
    const { hooks, errors } = await loadHooksDirectories([low]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('good')]);
    expect(errors.map((error) => error.message)).toEqual([`${join(low, 'gone.json')}: line 4 hook.path: stat ${bin('gone')}: no such file or directory`]);
    expect(errors[0]).toMatchObject({
      code: 'ERR_VALIDATION',
      source: join(low, 'gone.json'),
      issues: [{ path: 'hook.path', line: 4 }],
      cause: { code: 'ERR_SYSTEM', errno: 'ENOENT', path: bin('gone') },
    });
    // So a runtime embedding the loader injects only the hook it can start.
    const { stages } = selectHooks(hooks, { config: { ociVersion: '1.0.2' } });
    expect(stages.createRuntime.map((hook) => hook.path)).toEqual([bin('good')]);
  });

  it('names the `hook` field of a 0.1.0 file whose executable does not exist', async () => {
    await writeFile(join(low, 'old.json'), `{\n  "hook": ${JSON.stringify(bin('gone'))},\n  "stage": ["prestart"],\n  "cmds": [".*"]\n}\n`);
    const { hooks, errors } = await loadHooksDirectories([low]);
    expect(hooks).toEqual([]);
    expect(errors.map((error) => error.message)).toEqual([`${join(low, 'old.json')}: line 2 hook: stat ${bin('gone')}: no such file or directory`]);
  });

  it('drops a file whose hook executable is a dangling symlink, and loads one whose symlink resolves', async () => {
    await symlink(bin('nowhere'), bin('dangling'));
    await symlink(executable('real'), bin('alias'));
    await writeFile(join(low, 'a.json'), hookFile(bin('dangling')));
    await writeFile(join(low, 'b.json'), hookFile(bin('alias')));
    const { hooks, errors } = await loadHooksDirectories([low]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('alias')]);
    expect(errors.map((error) => error.source)).toEqual([join(low, 'a.json')]);
  });

  it('does not let a file whose executable is missing mask a valid lower one', async () => {
    await writeFile(join(low, '10-bulwark.json'), hookJson('bulwark-hook'));
    await writeFile(join(high, '10-bulwark.json'), hookFile(bin('removed')));
    const { hooks, errors } = await loadHooksDirectories([low, high]);
    expect(hooks.map((hook) => hook.hook.path)).toEqual([bin('bulwark-hook')]);
    expect(errors.map((error) => error.source)).toEqual([join(high, '10-bulwark.json')]);
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
