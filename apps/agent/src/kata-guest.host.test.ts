import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lstat, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  agentBundle,
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
  type AgentHandle,
} from '../../../test-support/containers.js';

/**
 * The Kata guest hook layout, end to end without Kata: `bulwark install-hook
 * --runtime kata-guest` writes the guest hook directory; the hooks are picked
 * as the kata-agent picks them (regular executable files, no symbolic links,
 * by name; arguments [file name, stage], no environment) and put in a runc
 * bundle's prestart and poststop, which runc runs as the guest's runtime
 * does: the OCI state on stdin, before the container's process starts.
 */

let work: string;
let rootfs: string;
let agent: AgentHandle;
let paths: { hookSocket: string; controlSocket: string; stateFile: string; runcRoot: string; crunRoot: string };
const guestHooks = () => join(work, 'guest', 'usr', 'share', 'oci', 'hooks');

interface OciHook {
  readonly path: string;
  readonly args: string[];
}

/** What the kata-agent's find_hooks() takes from one stage directory. */
async function kataAgentHooks(directory: string, stage: string): Promise<OciHook[]> {
  let names: string[];
  try {
    names = (await readdir(join(directory, stage))).sort();
  } catch {
    return [];
  }
  const hooks: OciHook[] = [];
  for (const name of names) {
    const path = join(directory, stage, name);
    const stats = await lstat(path);
    if (!stats.isFile() || stats.isSymbolicLink() || (stats.mode & 0o111) === 0) continue;
    hooks.push({ path, args: [name, stage] });
  }
  return hooks;
}

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('kata-guest');
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
  agent = await startAgentProcess(paths, ['--log-format', 'json']);
});

afterAll(async () => {
  await agent?.stop();
  if (paths !== undefined) {
    const listed = await runCommand('runc', ['--root', paths.runcRoot, 'list', '-q']);
    for (const id of listed.stdout.split('\n').filter(Boolean)) await runCommand('runc', ['--root', paths.runcRoot, 'delete', '--force', id]);
  }
  if (work !== undefined) await removeDirectory(work);
});

describe('bulwark install-hook --runtime kata-guest', () => {
  it('lays out prestart/ and poststop/ as the kata-agent reads them, and the container is registered before it runs', async () => {
    const installed = await runChecked(process.execPath, [
      agentBundle,
      'install-hook',
      '--runtime',
      'kata-guest',
      '--hooks-dir',
      guestHooks(),
      '--hook-path',
      join(work, 'bin', 'bulwark-hook'),
      '--hook-config',
      join(work, 'etc', 'hook.json'),
      '--compile-cache',
      join(work, 'compile-cache'),
      '--socket',
      paths.hookSocket,
      '--log',
      join(work, 'hook.log'),
      '--fail-mode',
      'closed',
    ]);
    expect(installed.stdout).toBe(
      [
        `wrote ${join(work, 'bin', 'bulwark-node')} (the hook's Node, copied from ${process.execPath})`,
        ...[join(work, 'bin', 'bulwark-hook'), join(work, 'etc', 'hook.json'), join(guestHooks(), 'prestart', '10-bulwark'), join(guestHooks(), 'poststop', '10-bulwark')].map((path) => `wrote ${path}`),
        `wrote ${join(work, 'bin', 'bulwark-install.json')} (what --uninstall --all removes)`,
        '',
      ].join('\n'),
    );
    const prestart = await kataAgentHooks(guestHooks(), 'prestart');
    const poststop = await kataAgentHooks(guestHooks(), 'poststop');
    expect(prestart.map((hook) => hook.args)).toEqual([['10-bulwark', 'prestart']]);
    expect(poststop.map((hook) => hook.args)).toEqual([['10-bulwark', 'poststop']]);
    expect(await kataAgentHooks(guestHooks(), 'poststart')).toEqual([]);
    expect(await readFile(prestart[0]!.path, 'utf8')).toContain(`exec ${join(work, 'bin', 'bulwark-hook')} --config ${join(work, 'etc', 'hook.json')} --fail-mode closed --stage prestart\n`);

    // The guest's runtime runs them as the kata-agent adds them to the spec: these arguments, no environment.
    const id = 'bulwark-kata-guest-1';
    const out = join(work, 'out');
    await mkdir(out, { recursive: true });
    const bundle = await makeBundle(join(work, 'bundle'), {
      rootfs,
      args: ['sh', '-c', `if grep -q '"id": "${id}"' /bulwark-state/containers.json; then echo registered-before-start; else echo not-registered; fi > /out/order; exec sleep 300`],
      binds: [
        [join(work, 'state'), '/bulwark-state', true],
        [out, '/out', false],
      ],
    });
    const configPath = join(bundle, 'config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    config.hooks = { prestart, poststop };
    await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);

    const started = await runDetached('runc', ['--root', paths.runcRoot, 'run', '--detach', '--bundle', bundle, id]);
    expect(started.code, started.stderr).toBe(0);
    const deadline = Date.now() + 15_000;
    let order = '';
    while (order === '' && Date.now() < deadline) {
      order = await readFile(join(out, 'order'), 'utf8').catch(() => '');
      if (order === '') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(order.trim()).toBe('registered-before-start');
    const listed = (await listContainers(paths.controlSocket)).find((record) => record.container.id === id);
    expect(listed?.source).toBe('hook');
    expect((listed?.container as { stage?: string } | undefined)?.stage).toBe('prestart');

    await runChecked('runc', ['--root', paths.runcRoot, 'kill', id, 'KILL']);
    await runChecked('runc', ['--root', paths.runcRoot, 'delete', '--force', id]);
    await agent.waitForLog((line) => line.message === 'container removed' && line.id === id);
    expect((await listContainers(paths.controlSocket)).map((record) => record.container.id)).not.toContain(id);
  });

  it('--uninstall removes both scripts and nothing else', async () => {
    const removed = await runChecked(process.execPath, [agentBundle, 'install-hook', '--runtime', 'kata-guest', '--hooks-dir', guestHooks(), '--uninstall']);
    expect(removed.stdout).toBe(`removed ${join(guestHooks(), 'prestart', '10-bulwark')}\nremoved ${join(guestHooks(), 'poststop', '10-bulwark')}\n`);
    expect(await readdir(join(guestHooks(), 'prestart'))).toEqual([]);
  });
});
