import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  agentBundle,
  installHook,
  listContainers,
  makeBundle,
  makeRootfs,
  makeTemporaryDirectory,
  removeDirectory,
  requireBuild,
  runChecked,
  runCommand,
  runDetached,
  startAgentProcess,
  statNamespaces,
  type AgentHandle,
} from '../../../test-support/containers.js';

/**
 * The container lifecycle on real runtimes: runc and crun with hooks in
 * config.json, podman with the hooks directory `bulwark install-hook` writes.
 * Each container proves from inside that it was registered before its first
 * instruction: its command looks for its own id in the agent's registry file
 * (bind-mounted read-only), which the agent writes before it answers the hook.
 */

let work: string;
let rootfs: string;
let agent: AgentHandle;
let paths: { hookSocket: string; controlSocket: string; stateFile: string; runcRoot: string; crunRoot: string };
let hookPath: string;
let hookConfig: string;
let hookLog: string;

/** The container's first instruction: is my id (or name) in the registry already? */
const proveOrder = (needle: string) =>
  `if grep -q '${needle}' /bulwark-state/containers.json; then echo registered-before-start; else echo not-registered; fi > /out/order; exec sleep 300`;

async function installFor(runtime: 'runc' | 'podman', target: string): Promise<void> {
  await installHook({ runtime, target, work, socket: paths.hookSocket, failMode: 'closed', log: hookLog, hookConfig });
}

async function waitForFile(path: string, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const text = await readFile(path, 'utf8');
      if (text !== '') return text;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function statePid(runtime: 'runc' | 'crun', root: string, id: string): Promise<number> {
  const result = await runChecked(runtime, ['--root', root, 'state', id]);
  return (JSON.parse(result.stdout) as { pid: number }).pid;
}

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('lifecycle');
  rootfs = await makeRootfs(work);
  const run = join(work, 'run');
  await mkdir(run, { mode: 0o700 });
  paths = {
    hookSocket: join(run, 'hook.sock'),
    controlSocket: join(run, 'control.sock'),
    stateFile: join(work, 'state', 'containers.json'),
    runcRoot: join(work, 'runc-root'),
    crunRoot: join(work, 'crun-root'),
  };
  hookPath = join(work, 'bin', 'bulwark-hook');
  hookConfig = join(work, 'etc', 'hook.json');
  hookLog = join(work, 'log', 'hook.log');
  agent = await startAgentProcess(paths, ['--log-format', 'json']);
});

afterAll(async () => {
  await agent?.stop();
  for (const [runtime, root] of [
    ['runc', paths?.runcRoot],
    ['crun', paths?.crunRoot],
  ] as const) {
    if (root === undefined) continue;
    const listed = await runCommand(runtime, ['--root', root, 'list', '-q']);
    for (const id of listed.stdout.split('\n').filter(Boolean)) await runCommand(runtime, ['--root', root, 'delete', '--force', id]);
  }
  if (work !== undefined) await removeDirectory(work);
});

async function runtimeCase(runtime: 'runc' | 'crun') {
  const id = `bulwark-${runtime}-1`;
  const out = join(work, `out-${runtime}`);
  await mkdir(out, { recursive: true });
  const bundle = await makeBundle(join(work, `bundle-${runtime}`), {
    rootfs,
    args: ['sh', '-c', proveOrder(`"id": "${id}"`)],
    binds: [
      [join(work, 'state'), '/bulwark-state', true],
      [out, '/out', false],
    ],
    cgroupNamespace: runtime === 'runc',
  });
  await installFor('runc', bundle);
  const root = runtime === 'runc' ? paths.runcRoot : paths.crunRoot;
  const started = await runDetached(runtime, ['--root', root, 'run', '--detach', '--bundle', bundle, id]);
  expect(started.code, started.stderr).toBe(0);

  expect((await waitForFile(join(out, 'order'))).trim()).toBe('registered-before-start');
  const pid = await statePid(runtime, root, id);
  const listed = (await listContainers(paths.controlSocket)).find((record) => record.container.id === id);
  expect(listed).toBeDefined();
  expect(listed!.source).toBe('hook');
  // No manager's annotations: the runtime that ran the hook names it (the RUNTIME column).
  expect(listed!.container.names.runtime).toBe(runtime);
  expect((await runChecked(process.execPath, [agentBundle, 'containers', '--control-socket', paths.controlSocket])).stdout).toMatch(new RegExp(`^${id}\\s+-\\s+${runtime}\\s`, 'm'));
  expect(listed!.container.pid).toBe(pid);
  const independent = await statNamespaces(pid);
  for (const type of ['mnt', 'pid', 'net', 'uts', 'ipc', 'user', 'cgroup']) {
    expect(listed!.container.namespaces?.[type], `${type} namespace`).toEqual(independent[type]);
  }
  // A fresh mount and pid namespace, not the host's.
  const host = await statNamespaces(process.pid);
  expect(listed!.container.namespaces?.mnt).not.toEqual(host.mnt);
  expect(listed!.container.namespaces?.pid).not.toEqual(host.pid);

  await runChecked(runtime, ['--root', root, 'kill', id, 'KILL']);
  await runChecked(runtime, ['--root', root, 'delete', '--force', id]);
  await agent.waitForLog((line) => line.message === 'container removed' && line.id === id);
  expect((await listContainers(paths.controlSocket)).map((record) => record.container.id)).not.toContain(id);
}

describe('container lifecycle on real runtimes', () => {
  it('runc: registered before its process runs, namespaces as /proc says, gone after delete', async () => {
    await runtimeCase('runc');
  });

  it('crun: registered before its process runs, namespaces as /proc says, gone after delete', async () => {
    await runtimeCase('crun');
  });

  it('podman: the hooks.d file from install-hook registers the container by name before it runs', async () => {
    const hooksDirectory = join(work, 'hooks.d');
    await installFor('podman', hooksDirectory);
    // One file per stage, each naming its stage (--stage): the hook never infers it.
    for (const stage of ['createRuntime', 'poststop']) {
      const hookFile = JSON.parse(await readFile(join(hooksDirectory, `bulwark-${stage}.json`), 'utf8')) as { hook: { path: string; args: string[] }; stages: string[] };
      expect(hookFile.hook.path).toBe(hookPath);
      expect(hookFile.stages).toEqual([stage]);
      expect(hookFile.hook.args.slice(-2)).toEqual(['--stage', stage]);
    }

    const name = `bulwark-podman-${process.pid}`;
    const out = join(work, 'out-podman');
    await mkdir(out, { recursive: true });
    const limit = 1024;
    const started = await runCommand('podman', [
      'run',
      '--detach',
      '--rm',
      '--hooks-dir',
      hooksDirectory,
      '--ulimit',
      `nofile=${limit}:${limit}`,
      '--ulimit',
      `nproc=${limit}:${limit}`,
      '--name',
      name,
      '--volume',
      `${join(work, 'state')}:/bulwark-state:ro`,
      '--volume',
      `${out}:/out`,
      '--rootfs',
      rootfs,
      'sh',
      '-c',
      proveOrder(`"name": "${name}"`),
    ]);
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    try {
      expect((await waitForFile(join(out, 'order'))).trim()).toBe('registered-before-start');
      const listed = (await listContainers(paths.controlSocket)).find((record) => record.container.id === id);
      expect(listed?.container.names).toMatchObject({ runtime: 'podman', name });
      const pid = Number((await runChecked('podman', ['inspect', '--format', '{{.State.Pid}}', id])).stdout.trim());
      expect(listed!.container.pid).toBe(pid);
      const independent = await statNamespaces(pid);
      expect(listed!.container.namespaces?.mnt).toEqual(independent.mnt);
      expect(listed!.container.namespaces?.pid).toEqual(independent.pid);
    } finally {
      await runCommand('podman', ['stop', '--time', '0', id]);
      await runCommand('podman', ['rm', '--force', '--ignore', id]);
    }
    await agent.waitForLog((line) => line.message === 'container removed' && line.id === id, 30_000);
    expect((await listContainers(paths.controlSocket)).map((record) => record.container.id)).not.toContain(id);
  });

  it('50 containers started at once give 50 entries, and 0 after they stop; none lost', async () => {
    const count = 50;
    const ids = Array.from({ length: count }, (_, index) => `bulwark-burst-${index}`);
    const bundles = await Promise.all(
      ids.map((id) => makeBundle(join(work, 'burst', id), { rootfs, args: ['sleep', '300'] })),
    );
    await Promise.all(bundles.map((bundle) => installFor('runc', bundle)));
    const before = (await listContainers(paths.controlSocket)).length;
    const started = await Promise.all(
      ids.map((id, index) => runDetached('runc', ['--root', paths.runcRoot, 'run', '--detach', '--bundle', bundles[index]!, id])),
    );
    expect(started.filter((result) => result.code !== 0).map((result) => result.stderr)).toEqual([]);

    const listed = await listContainers(paths.controlSocket);
    const burst = listed.filter((record) => record.container.id.startsWith('bulwark-burst-'));
    expect(burst.map((record) => record.container.id).sort()).toEqual([...ids].sort());
    expect(listed.length).toBe(before + count);
    // Every container has namespaces of its own.
    expect(new Set(burst.map((record) => record.container.namespaces?.mnt?.inode)).size).toBe(count);
    const persisted = JSON.parse(await readFile(paths.stateFile, 'utf8')) as { containers: unknown[] };
    expect(persisted.containers.length).toBe(before + count);

    const stopped = await Promise.all(ids.map((id) => runCommand('runc', ['--root', paths.runcRoot, 'delete', '--force', id], { timeoutMs: 120_000 })));
    expect(stopped.filter((result) => result.code !== 0).map((result) => result.stderr)).toEqual([]);
    const after = await listContainers(paths.controlSocket);
    expect(after.filter((record) => record.container.id.startsWith('bulwark-burst-'))).toEqual([]);
  });
});
