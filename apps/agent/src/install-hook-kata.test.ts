import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliCaptured } from './__fixtures__/run-cli.js';

let work: string;
let hookSource: string;

beforeEach(async () => {
  // A space in the path: the guest scripts quote what they pass on.
  work = await mkdtemp(join(tmpdir(), 'bulwark kata-'));
  hookSource = join(work, 'built-hook.js');
  // A stand-in hook that reports how it was started.
  await writeFile(
    hookSource,
    "#!/usr/bin/env node\nlet input = '';\nprocess.stdin.on('data', (chunk) => (input += chunk)).on('end', () => console.log(JSON.stringify({ argv: process.argv.slice(2), cache: process.env.NODE_COMPILE_CACHE ?? null, input })));\n",
  );
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const cli = runCliCaptured;

const hooks = () => join(work, 'usr', 'share', 'oci', 'hooks');
const install = (...extra: string[]) =>
  cli(
    'install-hook',
    '--runtime',
    'kata-guest',
    '--hooks-dir',
    hooks(),
    '--hook-path',
    join(work, 'bin', 'bulwark-hook'),
    '--hook-config',
    join(work, 'etc', 'hook.json'),
    '--hook-source',
    hookSource,
    '--compile-cache',
    join(work, 'cache'),
    // The installer makes the log's directory: here, not /var/log/bulwark.
    '--log',
    join(work, 'log', 'hook.log'),
    ...extra,
  );

describe('install-hook --runtime kata-guest', () => {
  it('writes one regular executable script per stage that runs the hook with its configuration and stage, as the kata-agent calls it', async () => {
    const result = await install();
    expect(result.code, result.stderr).toBe(0);
    for (const stage of ['prestart', 'poststop']) {
      const script = join(hooks(), stage, '10-bulwark');
      const stats = await lstat(script);
      expect(stats.isFile() && !stats.isSymbolicLink(), stage).toBe(true);
      expect(stats.mode & 0o777).toBe(0o755);
      // The kata-agent's call: argv [file name, stage], no environment, the state on stdin.
      const run = spawnSync(script, ['prestart'], { argv0: '10-bulwark', env: {}, input: '{"ociVersion":"1.0.2","id":"c1"}', encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual({
        argv: ['--config', join(work, 'etc', 'hook.json'), '--stage', stage],
        cache: join(work, 'cache'),
        input: '{"ociVersion":"1.0.2","id":"c1"}',
      });
    }
    await expect(stat(join(hooks(), 'poststart'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('replaces a symbolic link someone left there with a regular file', async () => {
    await mkdir(join(hooks(), 'prestart'), { recursive: true });
    await symlink(hookSource, join(hooks(), 'prestart', '10-bulwark'));
    expect((await install()).code).toBe(0);
    expect((await lstat(join(hooks(), 'prestart', '10-bulwark'))).isSymbolicLink()).toBe(false);
    expect(await readFile(hookSource, 'utf8')).toMatch(/^#!\/usr\/bin\/env node/);
  });

  it('refuses a stage directory for --hooks-dir, and a deadline the kata-agent would cut, before writing anything', async () => {
    const stageDirectory = await install('--hooks-dir', join(hooks(), 'prestart'));
    expect(stageDirectory.code).toBe(2);
    expect(stageDirectory.stderr).toBe(
      `bulwark install-hook: --hooks-dir is Kata's guest_hook_path (the directory that holds prestart/), got ${join(hooks(), 'prestart')}; pass ${hooks()}\n`,
    );
    const slow = await install('--timeout-ms', '9000');
    expect(slow.code).toBe(2);
    expect(slow.stderr).toMatch(/--timeout-ms 9000 is too long for a guest hook: the kata-agent kills it after 10 s \(at most 8000\)/);
    await expect(stat(join(work, 'bin'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(join(work, 'usr'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
