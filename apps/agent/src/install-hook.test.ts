import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseHookConfig } from '@bulwark/hook-client';
import { parseConfig, parseHookFile } from '@bulwark/oci-state';
import { runCliCaptured as cli } from './__fixtures__/run-cli.js';
import { checkHookInterpreter, parseShebang } from './hook-interpreter.js';
import { installHook, shebangFor } from './install-hook.js';

let work: string;
let hookSource: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bulwark-install-'));
  hookSource = join(work, 'built-hook.js');
  // A stand-in hook that says how it was started.
  await writeFile(hookSource, '#!/usr/bin/env node\nprocess.stdout.write(JSON.stringify({ node: process.execPath, argv: process.argv.slice(2) }));\n');
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const hookPath = () => join(work, 'lib', 'bulwark-hook');
const nodeCopy = () => join(work, 'lib', 'bulwark-node');
const configPath = () => join(work, 'etc', 'hook.json');
const recordPath = () => join(work, 'lib', 'bulwark-install.json');

/** Everything under the temp directory, in those paths. */
function paths(...extra: string[]): string[] {
  return [
    '--hook-path',
    hookPath(),
    '--hook-config',
    configPath(),
    '--hook-source',
    hookSource,
    '--compile-cache',
    join(work, 'cache'),
    '--log',
    join(work, 'log', 'hook.log'),
    ...extra,
  ];
}

/** An install with the Node running the tests named, so that no copy is made. */
const install = (...extra: string[]) => cli('install-hook', ...paths('--node', process.execPath, ...extra));

/** Each path under `directory` with its kind, mode and a digest of its bytes: what must not change. */
async function tree(directory: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const walk = async (current: string): Promise<void> => {
    for (const name of (await readdir(current)).sort()) {
      const path = join(current, name);
      const stats = await lstat(path);
      const mode = (stats.mode & 0o7777).toString(8);
      if (stats.isDirectory()) {
        result[path] = `dir ${mode}`;
        await walk(path);
      } else if (stats.isSymbolicLink()) {
        result[path] = `link -> ${await readlink(path)}`;
      } else {
        result[path] = `file ${mode} ${createHash('sha256').update(await readFile(path)).digest('hex').slice(0, 16)}`;
      }
    }
  };
  await walk(directory);
  return result;
}

function runHook(path: string) {
  return spawnSync(path, ['--stage', 'createRuntime'], { encoding: 'utf8', input: '' });
}

describe('the hook interpreter (issue 11 item 2)', () => {
  it('names a Node binary whose path has a space through env -S, and the hook then runs', async () => {
    expect(shebangFor('/usr/local/bin/node')).toBe('#!/usr/local/bin/node');
    const node = join(work, 'my node');
    await symlink(process.execPath, node);
    const script = join(work, 'hook');
    await writeFile(script, `${shebangFor(node)}\nprocess.stdout.write(process.argv.slice(2).join(','));\n`);
    await chmod(script, 0o755);
    const run = spawnSync(script, ['a', 'b c'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('a,b c');
    expect(parseShebang(shebangFor(node))).toEqual({ interpreter: node, viaPath: false });
    expect(parseShebang(shebangFor('/a/"odd" $dir\\/node'))).toEqual({ interpreter: '/a/"odd" $dir\\/node', viaPath: false });
    expect(parseShebang('#!/usr/bin/env node')).toEqual({ interpreter: 'node', viaPath: true });
    expect(parseShebang('#!/usr/bin/node --no-warnings')).toEqual({ interpreter: '/usr/bin/node', viaPath: false });
    expect(parseShebang('console.log(1)')).toBeUndefined();
  });

  it('by default the hook runs on its own copy of Node: removing the Node the installer ran under (a deleted checkout) does not stop it', async () => {
    // The installer runs on a Node inside a checkout, as `node apps/agent/dist/bulwark.js` from a clone would.
    const checkout = join(work, 'checkout', '.tools', 'node', 'bin');
    await mkdir(checkout, { recursive: true });
    const checkoutNode = join(checkout, 'node');
    await copyFile(process.execPath, checkoutNode);
    await chmod(checkoutNode, 0o755);
    const options = {
      runtime: 'crio' as const,
      hookPath: hookPath(),
      hookConfigPath: configPath(),
      hookSource,
      nodeSource: checkoutNode,
      hooksDirectory: join(work, 'hooks.d'),
      compileCache: '',
      hookConfig: { log: '' },
    };
    const steps = await installHook(options);
    expect(steps[0]).toEqual({ action: 'wrote', path: nodeCopy(), detail: `the hook's Node, copied from ${checkoutNode}` });
    const installed = await readFile(hookPath(), 'utf8');
    expect(installed.split('\n')[0]).toBe(shebangFor(nodeCopy()));
    const copy = await stat(nodeCopy());
    expect(copy.mode & 0o7777).toBe(0o755);
    expect(copy.uid).toBe(process.geteuid!());

    await rm(join(work, 'checkout'), { recursive: true });
    const run = runHook(hookPath());
    expect(run.error).toBeUndefined();
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ node: nodeCopy(), argv: ['--stage', 'createRuntime'] });
    expect(await checkHookInterpreter(hookPath())).toMatchObject({ status: 'ok', interpreter: nodeCopy(), version: process.versions.node });

    // Installing again from the same Node leaves the copy as it is.
    const again = await installHook({ ...options, nodeSource: process.execPath });
    expect(again[0]).toMatchObject({ action: 'unchanged', path: nodeCopy() });
  });

  it('--node names the interpreter, checked first: not absolute, missing, not executable, not a Node, older than 24 are one line each and write nothing', async () => {
    const notExecutable = join(work, 'plain-file');
    await writeFile(notExecutable, '');
    const notNode = join(work, 'not-node');
    await writeFile(notNode, '#!/bin/sh\necho "nope" >&2\nexit 3\n', { mode: 0o755 });
    const oldNode = join(work, 'node20');
    await writeFile(oldNode, '#!/bin/sh\necho 20.11.1\n', { mode: 0o755 });
    const cases: [string, string][] = [
      ['node', "bulwark install-hook: --node must be an absolute path (the hook's shebang names it), got 'node'\n"],
      [join(work, 'missing'), `bulwark install-hook: --node ${join(work, 'missing')}: does not exist\n`],
      [work, `bulwark install-hook: --node ${work}: is not a regular file\n`],
      [notExecutable, `bulwark install-hook: --node ${notExecutable}: is not executable\n`],
      [notNode, `bulwark install-hook: --node ${notNode}: is not a working node (exit 3: nope)\n`],
      [oldNode, `bulwark install-hook: --node ${oldNode}: is Node 20.11.1; the hook needs Node 24 or newer\n`],
    ];
    const before = await tree(work);
    for (const [node, message] of cases) {
      const result = await cli('install-hook', '--runtime', 'crio', '--hooks-dir', join(work, 'hooks.d'), ...paths('--node', node));
      expect(result, node).toEqual({ code: 2, stdout: '', stderr: message });
    }
    expect(await tree(work)).toEqual(before);

    const named = await install('--runtime', 'crio', '--hooks-dir', join(work, 'hooks.d'));
    expect(named.code, named.stderr).toBe(0);
    expect((await readFile(hookPath(), 'utf8')).split('\n')[0]).toBe(shebangFor(process.execPath));
    await expect(stat(nodeCopy())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('checkHookInterpreter and probe: installed and working, not installed, interpreter gone, too old', async () => {
    expect(await checkHookInterpreter(hookPath())).toEqual({ status: 'not-installed', detail: `no hook at ${hookPath()} (bulwark install-hook installs it)` });
    const node = join(work, 'node dir', 'node');
    await mkdir(join(work, 'node dir'));
    await symlink(process.execPath, node);
    expect((await install('--runtime', 'crio', '--hooks-dir', join(work, 'hooks.d'), '--node', node)).code).toBe(0);
    expect(await checkHookInterpreter(hookPath())).toEqual({ status: 'ok', interpreter: node, version: process.versions.node, detail: `${node}, Node ${process.versions.node}` });
    const probe = await cli('probe', '--json', '--hook-path', hookPath());
    expect((JSON.parse(probe.stdout) as { name: string }[]).at(-1)).toEqual({
      name: 'hook interpreter',
      status: 'supported',
      detail: `${node}, Node ${process.versions.node} (hook ${hookPath()})`,
    });

    // The Node it names is removed (a checkout deleted): every container start would fail.
    await rm(node);
    const gone = await checkHookInterpreter(hookPath());
    expect(gone).toEqual({
      status: 'broken',
      interpreter: node,
      detail: `the hook's interpreter ${node} does not exist: every container start fails; run 'bulwark install-hook' again`,
    });
    expect((JSON.parse((await cli('probe', '--json', '--hook-path', hookPath())).stdout) as { name: string }[]).at(-1)).toEqual({
      name: 'hook interpreter',
      status: 'unsupported',
      detail: gone.detail,
    });

    await writeFile(node, '#!/bin/sh\necho 22.1.0\n', { mode: 0o755 });
    expect(await checkHookInterpreter(hookPath())).toMatchObject({ status: 'broken', version: '22.1.0', detail: `the hook's interpreter ${node} is Node 22.1.0; the hook needs Node 24 or newer; run 'bulwark install-hook' again` });
  });
});

describe('an existing configuration is never weakened without --force (issue 11 item 3)', () => {
  const crio = () => ['--runtime', 'crio', '--hooks-dir', join(work, 'crio.d')];
  const podman = () => ['--runtime', 'podman', '--hooks-dir', join(work, 'podman.d')];

  beforeEach(async () => {
    const first = await install(...crio(), '--fail-mode', 'closed', '--allow-namespace', 'kube-system', '--allow-name', 'bulwark-agent', '--socket', '/run/a/hook.sock');
    expect(first.code, first.stderr).toBe(0);
  });

  it('a second install with default flags keeps every value: fail-closed and the allow-list stay, and the file is not rewritten', async () => {
    const before = await readFile(configPath(), 'utf8');
    const second = await install(...podman());
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`unchanged ${configPath()}\n`);
    expect(await readFile(configPath(), 'utf8')).toBe(before);
    expect(parseHookConfig(before)).toMatchObject({ failMode: 'closed', socket: '/run/a/hook.sock', allow: { namespaces: ['kube-system'], names: ['bulwark-agent'] } });
  });

  it('refuses each weakening in one line that names it and --force, and changes nothing', async () => {
    const before = await tree(work);
    const weakenings: [string[], string][] = [
      [['--fail-mode', 'open'], '--fail-mode open turns fail-closed into fail-open (containers would start when the agent cannot be asked)'],
      [['--allow-name', 'web'], '--allow-name adds web to the allow-list (it would start whatever the agent says); --allow-name drops bulwark-agent from the allow-list (it would no longer always start)'],
      [['--allow-namespace', 'kube-system', '--allow-namespace', 'default'], '--allow-namespace adds default to the allow-list (it would start whatever the agent says)'],
      [['--log', ''], "--log '' turns the hook's log off (its verdicts would go unrecorded)"],
    ];
    for (const [flags, reason] of weakenings) {
      const result = await install(...podman(), ...flags);
      expect(result, flags.join(' ')).toEqual({
        code: 1,
        stdout: '',
        stderr: `bulwark install-hook: this would weaken ${configPath()}: ${reason}; nothing was changed (pass --force to weaken it)\n`,
      });
    }
    expect(await tree(work)).toEqual(before);
  });

  it('--force weakens it, and the output says per key what changed', async () => {
    const forced = await install(...podman(), '--fail-mode', 'open', '--allow-name', 'web', '--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain(`updated ${configPath()}\n  failMode: closed -> open\n  allow.names: [bulwark-agent] -> [web]\n`);
    expect(parseHookConfig(await readFile(configPath(), 'utf8'))).toMatchObject({ failMode: 'open', allow: { namespaces: ['kube-system'], names: ['web'] } });
  });

  it('a change that does not weaken goes through and is reported; the values not given stay', async () => {
    const moved = await install(...podman(), '--socket', '/run/b/hook.sock', '--timeout-ms', '3000');
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toContain(`updated ${configPath()}\n  socket: /run/a/hook.sock -> /run/b/hook.sock\n  timeoutMs: 5000 -> 3000\n`);
    expect(parseHookConfig(await readFile(configPath(), 'utf8'))).toMatchObject({ failMode: 'closed', socket: '/run/b/hook.sock', timeoutMs: 3000, allow: { names: ['bulwark-agent'] } });
    // The runtime's own deadline follows the configuration's.
    expect(parseHookFile(await readFile(join(work, 'podman.d', 'bulwark-createRuntime.json'), 'utf8')).hook.timeout).toBe(28);
  });

  it('an existing file that is not a valid configuration is refused, and replaced with --force', async () => {
    await writeFile(configPath(), '{"version": 1, "failMode": "closed", "timeoutMS": 100}\n');
    const refused = await install(...podman());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`bulwark install-hook: ${configPath()} is there and is not a valid hook configuration (${configPath()}: timeoutMS: unknown key); nothing was changed (fix it, or pass --force to replace it)\n`);
    const forced = await install(...podman(), '--force', '--fail-mode', 'closed');
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain(`updated ${configPath()} (replaced a configuration that was not valid (--force))\n`);
  });
});

describe('every hook entry names its stage (issue 11 item 11)', () => {
  it('podman: one hooks.d file per stage, each with --stage; the old file for both stages is replaced, a foreign one is left', async () => {
    const hooks = join(work, 'hooks.d');
    await mkdir(hooks);
    // What an earlier install wrote: one entry for both stages, no --stage (crun's `created` status read as startContainer).
    const legacy = JSON.stringify({ version: '1.0.0', hook: { path: hookPath(), args: ['bulwark-hook', '--config', configPath()] }, when: { always: true }, stages: ['createRuntime', 'poststop'] });
    await writeFile(join(hooks, 'bulwark.json'), legacy);
    const result = await install('--runtime', 'podman', '--hooks-dir', hooks);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`removed ${join(hooks, 'bulwark.json')} (replaced by one file per stage)\n`);
    expect((await readdir(hooks)).sort()).toEqual(['bulwark-createRuntime.json', 'bulwark-poststop.json']);
    for (const stage of ['createRuntime', 'poststop']) {
      const definition = parseHookFile(await readFile(join(hooks, `bulwark-${stage}.json`), 'utf8'));
      expect(definition.stages).toEqual([stage]);
      expect(definition.hook.args).toEqual(['bulwark-hook', '--config', configPath(), '--stage', stage]);
    }

    // A bulwark.json that is not Bulwark's is someone else's file: it stays, on install and on uninstall.
    const foreign = JSON.stringify({ version: '1.0.0', hook: { path: '/usr/libexec/other-hook' }, when: { always: true }, stages: ['prestart'] });
    await writeFile(join(hooks, 'bulwark.json'), foreign);
    expect((await install('--runtime', 'podman', '--hooks-dir', hooks)).code).toBe(0);
    const removed = await cli('install-hook', '--uninstall', '--runtime', 'podman', '--hooks-dir', hooks, '--hook-path', hookPath());
    expect(removed.stdout).toBe(
      `removed ${join(hooks, 'bulwark-createRuntime.json')}\nremoved ${join(hooks, 'bulwark-poststop.json')}\nkept ${join(hooks, 'bulwark.json')} (not Bulwark's)\n`,
    );
    expect(await readFile(join(hooks, 'bulwark.json'), 'utf8')).toBe(foreign);
  });
});

describe('a fail-closed install names its mode on every entry, so a damaged hook.json cannot make it fail-open (issue 11 item 10)', () => {
  const specText = '{\n  "ociVersion": "1.0.2",\n  "process": { "args": ["sh"], "cwd": "/" },\n  "root": { "path": "rootfs" }\n}\n';
  const closedArgs = (stage: string) => ['bulwark-hook', '--config', configPath(), '--fail-mode', 'closed', '--stage', stage];

  it('hooks.d files, spec entries and guest scripts carry --fail-mode closed, from the flag or from the configuration kept; a fail-open install names no mode', async () => {
    const crio = join(work, 'crio.d');
    expect((await install('--runtime', 'crio', '--hooks-dir', crio, '--fail-mode', 'closed')).code).toBe(0);
    // No --fail-mode: the configuration there is fail-closed and stays so, and the entries say it.
    const podman = join(work, 'podman.d');
    expect((await install('--runtime', 'podman', '--hooks-dir', podman)).code).toBe(0);
    for (const directory of [crio, podman]) {
      for (const stage of ['createRuntime', 'poststop']) {
        expect(parseHookFile(await readFile(join(directory, `bulwark-${stage}.json`), 'utf8')).hook.args, `${directory} ${stage}`).toEqual(closedArgs(stage));
      }
    }
    await writeFile(join(work, 'base-spec.json'), specText);
    await mkdir(join(work, 'bundle'));
    await writeFile(join(work, 'bundle', 'config.json'), specText);
    expect((await install('--runtime', 'containerd', '--base-spec', join(work, 'base-spec.json'))).code).toBe(0);
    expect((await install('--runtime', 'runc', '--bundle', join(work, 'bundle'))).code).toBe(0);
    for (const spec of [join(work, 'base-spec.json'), join(work, 'bundle', 'config.json')]) {
      const hooks = parseConfig(await readFile(spec, 'utf8')).hooks;
      expect([hooks?.createRuntime?.[0]?.args, hooks?.poststop?.[0]?.args], spec).toEqual([closedArgs('createRuntime'), closedArgs('poststop')]);
    }
    const guest = join(work, 'guest-hooks');
    expect((await install('--runtime', 'kata-guest', '--hooks-dir', guest)).code).toBe(0);
    expect(await readFile(join(guest, 'prestart', '10-bulwark'), 'utf8')).toContain(`exec ${hookPath()} --config ${configPath()} --fail-mode closed --stage prestart\n`);

    // Turned fail-open (--force): the entries this install writes name no mode, so the file's is the one.
    expect((await install('--runtime', 'crio', '--hooks-dir', crio, '--fail-mode', 'open', '--force')).code).toBe(0);
    expect(parseHookFile(await readFile(join(crio, 'bulwark-createRuntime.json'), 'utf8')).hook.args).toEqual(['bulwark-hook', '--config', configPath(), '--stage', 'createRuntime']);
  });
});

describe('install and uninstall are all or nothing, repeatable, and clean (issue 11 item 12)', () => {
  const specText = '{\n  "ociVersion": "1.0.2",\n  "process": { "args": ["sh"], "cwd": "/" },\n  "root": { "path": "rootfs" }\n}\n';

  it('a step that fails undoes every change before it: files that were there get their old bytes back, the rest is removed', async () => {
    const first = await install('--runtime', 'crio', '--hooks-dir', join(work, 'crio.d'), '--fail-mode', 'closed', '--socket', '/run/a/hook.sock');
    expect(first.code, first.stderr).toBe(0);
    await writeFile(join(work, 'blocker'), 'a file where a directory would go\n');
    const before = await tree(work);
    // No --node: the Node copy is written too, then the hooks directory cannot be made.
    const failed = await cli('install-hook', '--runtime', 'podman', '--hooks-dir', join(work, 'blocker', 'hooks.d'), ...paths('--socket', '/run/b/hook.sock'));
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toMatch(new RegExp(`^bulwark install-hook: create directory: not a directory \\(${join(work, 'blocker')}\\); nothing was changed \\(\\d+ changes undone\\)\\n$`));
    expect(await tree(work)).toEqual(before);
    await expect(stat(nodeCopy())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a symbolic link the install replaced is a symbolic link again after a rollback', async () => {
    await mkdir(join(work, 'etc'));
    await symlink('/nonexistent/hook.json', configPath());
    await writeFile(join(work, 'blocker'), '');
    const failed = await install('--runtime', 'podman', '--hooks-dir', join(work, 'blocker', 'hooks.d'));
    expect(failed.code).toBe(1);
    expect(await readlink(configPath())).toBe('/nonexistent/hook.json');
    expect((await readdir(work)).sort()).toEqual(['blocker', 'built-hook.js', 'etc']);
  });

  it('a repeated install changes nothing, and a runc bundle keeps one Bulwark hook per stage whatever hook path an earlier install used', async () => {
    const bundle = join(work, 'bundle');
    await mkdir(bundle);
    const foreign = { path: '/usr/libexec/oci/hooks.d/other', args: ['other'] };
    await writeFile(join(bundle, 'config.json'), JSON.stringify({ ...JSON.parse(specText), hooks: { createRuntime: [foreign] } }, null, 2));
    const elsewhere = join(work, 'old', 'bulwark-hook');
    expect((await cli('install-hook', '--runtime', 'runc', '--bundle', bundle, ...paths('--node', process.execPath, '--hook-path', elsewhere))).code).toBe(0);
    expect((await install('--runtime', 'runc', '--bundle', bundle)).code).toBe(0);
    const config = parseConfig(await readFile(join(bundle, 'config.json'), 'utf8'));
    expect(config.hooks?.createRuntime?.map((hook) => hook.path)).toEqual([foreign.path, hookPath()]);
    expect(config.hooks?.poststop?.map((hook) => hook.path)).toEqual([hookPath()]);

    const again = await install('--runtime', 'runc', '--bundle', bundle);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(
      [hookPath(), configPath(), join(bundle, 'config.json')].map((path) => `unchanged ${path}\n`).join('') + `unchanged ${recordPath()} (what --uninstall --all removes)\n`,
    );
  });

  it('refuses, in one line and before writing anything, a flag that does not apply', async () => {
    const before = await tree(work);
    const cases: [string[], string][] = [
      [['--runtime', 'podman', '--bundle', work], '--bundle does not apply to --runtime podman (only to runc)'],
      [['--runtime', 'runc', '--bundle', work, '--hooks-dir', work], '--hooks-dir does not apply to --runtime runc (only to podman, crio, kata-guest)'],
      [['--runtime', 'crio', '--base-spec', join(work, 'spec.json')], '--base-spec does not apply to --runtime crio (only to containerd)'],
      [['--runtime', 'podman', '--uninstall', '--fail-mode', 'closed'], "--fail-mode does not apply to --uninstall --runtime (it removes the runtime's entries only; --uninstall --all removes the rest)"],
      [['--runtime', 'podman', '--uninstall', '--hook-config', configPath()], "--hook-config does not apply to --uninstall --runtime (it removes the runtime's entries only; --uninstall --all removes the rest)"],
      [['--runtime', 'podman', '--all'], '--all goes with --uninstall (--uninstall --all removes everything Bulwark installed)'],
      [['--uninstall', '--all', '--runtime', 'podman'], '--runtime does not apply to --uninstall --all (it removes everything the install record lists; only --hook-path, --hook-config and --compile-cache apply)'],
      [['--uninstall', '--all', '--bundle', work], '--bundle does not apply to --uninstall --all (it removes everything the install record lists; only --hook-path, --hook-config and --compile-cache apply)'],
    ];
    for (const [flags, message] of cases) {
      const result = await cli('install-hook', '--hook-path', hookPath(), ...flags);
      expect(result, flags.join(' ')).toEqual({ code: 2, stdout: '', stderr: `bulwark install-hook: ${message}\n` });
    }
    expect(await tree(work)).toEqual(before);
  });

  it('--uninstall --all removes everything Bulwark installed and lists it; a shared directory keeps what is not Bulwark\'s', async () => {
    // A hooks directory that was there before, with another hook in it.
    const shared = join(work, 'shared', 'hooks.d');
    await mkdir(shared, { recursive: true });
    await writeFile(join(shared, 'other.json'), '{}');
    const bundle = join(work, 'bundle');
    await mkdir(bundle);
    await writeFile(join(bundle, 'config.json'), specText);
    const guest = join(work, 'guest', 'hooks');
    const own = join(work, 'own', 'hooks.d');
    const installs = [
      ['--runtime', 'podman', '--hooks-dir', shared],
      ['--runtime', 'crio', '--hooks-dir', own],
      ['--runtime', 'runc', '--bundle', bundle],
      ['--runtime', 'kata-guest', '--hooks-dir', guest],
    ];
    for (const flags of installs) {
      const result = await cli('install-hook', ...paths(...flags));
      expect(result.code, result.stderr).toBe(0);
    }
    // What the hook leaves at run time: its log and its caches.
    await writeFile(join(work, 'log', 'hook.log'), '{"event":"hook"}\n');
    await mkdir(join(work, 'cache', 'v24-x64-0'), { recursive: true });
    await writeFile(join(work, 'cache', 'bulwark-hook-0123456789abcdef-v24.0.0-x64.v8cache'), 'x');

    const removed = await cli('install-hook', '--uninstall', '--all', '--hook-path', hookPath());
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe(
      [
        `removed ${join(shared, 'bulwark-createRuntime.json')}`,
        `removed ${join(shared, 'bulwark-poststop.json')}`,
        `removed ${join(own, 'bulwark-createRuntime.json')}`,
        `removed ${join(own, 'bulwark-poststop.json')}`,
        `updated ${join(bundle, 'config.json')}`,
        `removed ${join(guest, 'prestart', '10-bulwark')}`,
        `removed ${join(guest, 'poststop', '10-bulwark')}`,
        `removed ${hookPath()}`,
        `removed ${nodeCopy()}`,
        `removed ${configPath()}`,
        `removed ${recordPath()}`,
        `removed ${join(work, 'log', 'hook.log')}`,
        `removed ${join(work, 'cache')}`,
        // The directories the installs created, deepest first.
        `removed ${join(guest, 'poststop')}`,
        `removed ${join(guest, 'prestart')}`,
        `removed ${guest}`,
        `removed ${own}`,
        `removed ${join(work, 'etc')}`,
        `removed ${join(work, 'guest')}`,
        `removed ${join(work, 'lib')}`,
        `removed ${join(work, 'log')}`,
        `removed ${join(work, 'own')}`,
        '',
      ].join('\n'),
    );
    // Left: what was there before the first install, as it was.
    expect(await tree(work)).toEqual({
      [bundle]: 'dir 755',
      [join(bundle, 'config.json')]: expect.stringMatching(/^file 644 /),
      [hookSource]: expect.stringMatching(/^file /),
      [join(work, 'shared')]: 'dir 755',
      [shared]: 'dir 755',
      [join(shared, 'other.json')]: expect.stringMatching(/^file /),
    });
    expect(await readFile(join(bundle, 'config.json'), 'utf8')).toBe(specText);

    // Once more (no record now, so the paths are given, never the host's defaults): nothing is left.
    const again = await cli('install-hook', '--uninstall', '--all', '--hook-path', hookPath(), '--hook-config', configPath(), '--compile-cache', join(work, 'cache'));
    expect(again.stdout).toBe([hookPath(), nodeCopy(), configPath(), recordPath(), join(work, 'cache')].map((path) => `absent ${path}\n`).join(''));
  });
});
