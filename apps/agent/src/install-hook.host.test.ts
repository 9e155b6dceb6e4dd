import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHookServer, type HookServer } from '@bulwark/hook-client';
import {
  agentBundle,
  makeRootfs,
  makeTemporaryDirectory,
  removeDirectory,
  requireBuild,
  runChecked,
  runCommand,
} from '../../../test-support/containers.js';

/**
 * `bulwark install-hook --runtime podman` as an operator runs it, from a
 * checkout: the built CLI on a Node inside that checkout, the hooks.d files
 * it writes used by a real podman on crun and on runc. The checkout's Node is
 * deleted before any container starts (issue 11 item 2), and the agent is a
 * stand-in that records the stage of each call (item 11: crun passes status
 * `created` at createRuntime, which a hook left to infer its stage read as
 * startContainer).
 */

let work: string;
let rootfs: string;
let agent: HookServer;
const calls: { type: string; id: string; stage: string; status: string }[] = [];
const hooksDirectory = () => join(work, 'hooks.d');
const hookPath = () => join(work, 'lib', 'bulwark-hook');

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('install-hook');
  rootfs = await makeRootfs(work);
  await mkdir(join(work, 'run'), { mode: 0o700 });
  agent = createHookServer({
    socketPath: join(work, 'run', 'hook.sock'),
    handler: (request) => {
      if (request.type === 'container.create' || request.type === 'container.stop') {
        calls.push({ type: request.type, id: request.container.id, stage: request.container.stage, status: request.container.status });
      }
      return { registered: true };
    },
  });
  await agent.listen();

  // The Node of a checkout, which the operator later deletes or upgrades.
  const checkoutNode = join(work, 'checkout', '.tools', 'node', 'bin', 'node');
  await mkdir(join(work, 'checkout', '.tools', 'node', 'bin'), { recursive: true });
  await copyFile(process.execPath, checkoutNode);
  await chmod(checkoutNode, 0o755);
  await runChecked(checkoutNode, [
    agentBundle,
    'install-hook',
    '--runtime',
    'podman',
    '--hooks-dir',
    hooksDirectory(),
    '--hook-path',
    hookPath(),
    '--hook-config',
    join(work, 'etc', 'hook.json'),
    '--compile-cache',
    join(work, 'cache'),
    '--log',
    join(work, 'log', 'hook.log'),
    '--socket',
    join(work, 'run', 'hook.sock'),
    '--fail-mode',
    'closed',
  ]);
  await rm(join(work, 'checkout'), { recursive: true });
});

afterAll(async () => {
  await agent?.close();
  if (work !== undefined) await removeDirectory(work);
});

async function runContainer(runtime: 'crun' | 'runc', name: string, cidfile: string, hooks = hooksDirectory()) {
  const limit = 1024;
  return runCommand('podman', [
    'run',
    '--rm',
    '--cidfile',
    cidfile,
    '--runtime',
    runtime,
    '--hooks-dir',
    hooks,
    '--ulimit',
    `nofile=${limit}:${limit}`,
    '--ulimit',
    `nproc=${limit}:${limit}`,
    '--name',
    name,
    '--rootfs',
    rootfs,
    'true',
  ]);
}

describe('install-hook --runtime podman on a real podman', () => {
  it('writes one hooks.d file per stage, and the hook runs on its own Node once the checkout it was installed from is gone', async () => {
    expect((await readdir(hooksDirectory())).sort()).toEqual(['bulwark-createRuntime.json', 'bulwark-poststop.json']);
    const installed = await readFile(hookPath(), 'utf8');
    expect(installed.split('\n')[0]).toBe(`#!${join(work, 'lib', 'bulwark-node')}`);
  });

  it.each(['crun', 'runc'] as const)('%s: the agent is told createRuntime at create and poststop at the end, never a stage inferred from the status', async (runtime) => {
    const name = `bulwark-install-${runtime}-${process.pid}`;
    const cidfile = join(work, `${runtime}.cid`);
    const started = await runContainer(runtime, name, cidfile);
    expect(started.code, started.stderr).toBe(0);
    const id = (await readFile(cidfile, 'utf8')).trim();
    // poststop may come just after podman returns.
    const deadline = Date.now() + 15_000;
    while (calls.filter((call) => call.id === id).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls.filter((call) => call.id === id).map((call) => [call.type, call.stage])).toEqual([
      ['container.create', 'createRuntime'],
      ['container.stop', 'poststop'],
    ]);
    if (runtime === 'crun') expect(calls.find((call) => call.id === id)?.status).toBe('created');
    const log = (await readFile(join(work, 'log', 'hook.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { stage: string; why: string; id: string });
    expect(log.filter((line) => line.id === id).map((line) => [line.stage, line.why])).toEqual([
      ['createRuntime', 'registered'],
      ['poststop', 'registered'],
    ]);
  });
});

describe('--allow-name under podman (issue 11 item 4)', () => {
  it('a fail-closed hook with the agent unreachable starts the container its allow-list names, by the name podman gave it, and no other', async () => {
    const allowed = `bulwark-allowed-${process.pid}`;
    const hooks = join(work, 'hooks-allow.d');
    const log = join(work, 'log', 'hook-allow.log');
    await runChecked(process.execPath, [
      agentBundle, 'install-hook', '--runtime', 'podman', '--hooks-dir', hooks, '--hook-path', join(work, 'lib-allow', 'bulwark-hook'),
      '--hook-config', join(work, 'etc', 'hook-allow.json'), '--node', process.execPath, '--compile-cache', '', '--log', log,
      // No agent serves this socket.
      '--socket', join(work, 'run', 'nobody.sock'), '--fail-mode', 'closed', '--allow-name', allowed,
    ]);
    const started = await runContainer('crun', allowed, join(work, 'allowed.cid'), hooks);
    expect(started.code, started.stderr).toBe(0);
    const other = await runContainer('crun', `bulwark-other-${process.pid}`, join(work, 'other.cid'), hooks);
    expect(other.code).not.toBe(0);
    // crun says which hook failed, not what it printed (the hook's log says why, below).
    expect(other.stderr).toMatch(/error executing hook .*lib-allow\/bulwark-hook/u);
    await runCommand('podman', ['rm', '--force', '--ignore', `bulwark-other-${process.pid}`]);
    const lines = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { stage: string; why: string; id: string });
    const allowedId = (await readFile(join(work, 'allowed.cid'), 'utf8')).trim();
    expect(lines.filter((line) => line.id === allowedId && line.stage === 'createRuntime').map((line) => line.why)).toEqual(['allow-listed']);
    expect(lines.filter((line) => line.id !== allowedId && line.stage === 'createRuntime').map((line) => line.why)).toEqual(['fail-closed']);
  });
});

describe('a fail-closed install stays fail-closed when its hook.json is damaged later (issue 11 item 10)', () => {
  it('the installed entry, run as the runtime runs it with a typo in hook.json and the agent unreachable, stops the container; the log names the file and the key', async () => {
    const hooks = join(work, 'hooks-closed.d');
    const config = join(work, 'etc', 'hook-closed.json');
    const log = join(work, 'log', 'hook-closed.log');
    await runChecked(process.execPath, [
      agentBundle, 'install-hook', '--runtime', 'podman', '--hooks-dir', hooks, '--hook-path', join(work, 'lib-closed', 'bulwark-hook'),
      '--hook-config', config, '--node', process.execPath, '--compile-cache', '', '--log', log,
      // No agent serves this socket.
      '--socket', join(work, 'run', 'nobody.sock'), '--fail-mode', 'closed',
    ]);
    // An operator's edit later: a key misspelt. The file no longer validates, so the hook falls back to its defaults.
    await writeFile(config, JSON.stringify({ version: 1, socket: join(work, 'run', 'nobody.sock'), failmode: 'closed', log }));
    const entry = JSON.parse(await readFile(join(hooks, 'bulwark-createRuntime.json'), 'utf8')) as { hook: { path: string; args: string[] } };
    // The entry's own arguments, as podman passes them (argv[0] aside), and --log: the defaults' log is the host's /var/log/bulwark.
    const state = JSON.stringify({ ociVersion: '1.0.2', id: 'closed-1', status: 'created', pid: process.pid, bundle: join(work, 'no-bundle') });
    const run = await runCommand(entry.hook.path, [...entry.hook.args.slice(1), '--log', log], { input: state });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/^bulwark-hook: container closed-1 stopped \(fail-closed\): /u);
    const lines = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ event: 'bad-config', file: config, message: `read hook config: ${config}: failmode: unknown key; using the defaults, fail-closed from --fail-mode` });
    expect(lines[1]).toMatchObject({ id: 'closed-1', stage: 'createRuntime', why: 'fail-closed', start: false });
  });
});
