import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
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
 * The agent killed with SIGKILL and started again: the registry comes back
 * from disk, a container started while it was down (fail-open) is found by
 * the start-up scan, and one that ended while it was down is dropped.
 */

let work: string;
let rootfs: string;
let paths: { hookSocket: string; controlSocket: string; stateFile: string; runcRoot: string; crunRoot: string };
let agent: AgentHandle | undefined;

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('restart');
  rootfs = await makeRootfs(work);
  await mkdir(join(work, 'run'), { mode: 0o700 });
  paths = {
    hookSocket: join(work, 'run', 'hook.sock'),
    controlSocket: join(work, 'run', 'control.sock'),
    stateFile: join(work, 'state', 'containers.json'),
    runcRoot: join(work, 'runc-root'),
    crunRoot: join(work, 'crun-root'),
  };
});

afterAll(async () => {
  await agent?.stop();
  if (paths !== undefined) {
    const listed = await runCommand('runc', ['--root', paths.runcRoot, 'list', '-q']);
    for (const id of listed.stdout.split('\n').filter(Boolean)) await runCommand('runc', ['--root', paths.runcRoot, 'delete', '--force', id]);
  }
  if (work !== undefined) await removeDirectory(work);
});

async function containerBundle(name: string): Promise<string> {
  const bundle = await makeBundle(join(work, name), { rootfs, args: ['sleep', '300'] });
  await installHook({ runtime: 'runc', target: bundle, work, socket: paths.hookSocket, failMode: 'open' });
  return bundle;
}

async function startContainer(id: string, bundle: string): Promise<void> {
  const result = await runDetached('runc', ['--root', paths.runcRoot, 'run', '--detach', '--bundle', bundle, id]);
  expect(result.code, result.stderr).toBe(0);
}

describe('agent restart', () => {
  it('restores the registry after SIGKILL and finds containers started while it was down', async () => {
    agent = await startAgentProcess(paths);
    const [bundleA, bundleB, bundleC] = await Promise.all(['a', 'b', 'c'].map(containerBundle));
    await startContainer('restart-a', bundleA!);
    await startContainer('restart-c', bundleC!);
    expect((await listContainers(paths.controlSocket)).map((record) => record.container.id).sort()).toEqual(['restart-a', 'restart-c']);

    await agent.stop('SIGKILL');
    agent = undefined;
    // While the agent is down: B starts (fail-open) and C ends.
    await startContainer('restart-b', bundleB!);
    await runChecked('runc', ['--root', paths.runcRoot, 'delete', '--force', 'restart-c']);
    const hookLog = (await readFile(join(work, 'hook.log'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(hookLog.find((line) => line.id === 'restart-b')).toMatchObject({ why: 'fail-open', step: 'agent' });

    agent = await startAgentProcess(paths);
    const restored = await agent.waitForLog((line) => line.message === 'registry restored');
    expect(restored).toMatchObject({ loaded: 2, dropped: 1 });
    const listed = await listContainers(paths.controlSocket);
    expect(listed.map((record) => [record.container.id, record.source]).sort()).toEqual([
      ['restart-a', 'hook'],
      ['restart-b', 'scan'],
    ]);
    const statePid = async (id: string) =>
      (JSON.parse((await runChecked('runc', ['--root', paths.runcRoot, 'state', id])).stdout) as { pid: number }).pid;
    const scanned = listed.find((record) => record.container.id === 'restart-b')!;
    const pid = await statePid('restart-b');
    expect(scanned.container.pid).toBe(pid);
    expect(scanned.container.namespaces?.mnt).toEqual((await statNamespaces(pid)).mnt);

    // The scanned container is a full member: its stop is seen.
    await runChecked('runc', ['--root', paths.runcRoot, 'delete', '--force', 'restart-b']);
    expect((await listContainers(paths.controlSocket)).map((record) => record.container.id)).toEqual(['restart-a']);
  });
});
