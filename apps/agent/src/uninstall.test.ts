/**
 * `bulwark uninstall` over a temporary directory laid out as an agent, its
 * enforcer's pins, install-hook and install-service leave it: the agent's
 * files, the hook's install record (written as install-hook writes it, so
 * the real install-hook --uninstall --all runs on it), a directory of
 * Bulwark's own. The pin directory is a plain directory that a fake statfs
 * calls bpffs (enforcer-pins.host.test.ts in @bulwark/ebpf-lsm unpins real
 * pins); uninstall.host.test.ts runs the command on a real agent's files.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { lstat, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BPF_FS_MAGIC } from '@bulwark/ebpf-lsm';
import { createHookServer, renderHookConfig, type HookServer } from '@bulwark/hook-client';
import { INSTALL_RECORD_NAME } from './install-record.js';
import { lockStateFile } from './state-lock.js';
import { uninstall, type UninstallOptions, type UninstallStep } from './uninstall.js';
import { formatUninstallSteps } from './uninstall-command.js';
import { listTree } from './__fixtures__/tree.js';

let work: string;
let options: UninstallOptions;
let servers: HookServer[];
const TMPFS_MAGIC = 0x01021994;

/** A unix socket left behind by a process killed while it listened, as a killed agent leaves its sockets. */
async function staleSocket(path: string): Promise<void> {
  const script = `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  await once(child, 'exit');
  expect((await lstat(path)).isSocket()).toBe(true);
}

const at = (...parts: string[]) => join(work, ...parts);
const paths = (steps: readonly UninstallStep[], action: UninstallStep['action']) => steps.filter((step) => step.action === action).map((step) => step.path.slice(work.length + 1));

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bulwark-uninstall-'));
  servers = [];
  for (const directory of ['state/policies.applied', 'log', 'bpffs/bulwark', 'lib', 'etc', 'hooks.d', 'cache', 'units']) await mkdir(at(directory), { recursive: true });
  await mkdir(at('run'), { mode: 0o700 });
  // The agent's files.
  await writeFile(at('state/containers.json'), '{"version":1,"containers":[]}\n');
  await writeFile(at('state/containers.json.bak'), 'not json\n');
  await writeFile(at('state/.containers.json.0123456789ab.tmp'), '');
  await writeFile(at('state/containers.json.lock'), '4242\n');
  await writeFile(at('state/policies.applied/0123456789abcdef0123456789abcdef.json'), '{}\n');
  await staleSocket(at('run/hook.sock'));
  await staleSocket(at('run/control.sock'));
  await writeFile(at('log/alerts.jsonl'), '{}\n');
  await writeFile(at('log/agent.log'), '{}\n');
  // The enforcer's pins.
  for (const name of ['map-rodata', 'map-scopes', 'link-enforce_file_open']) await writeFile(at('bpffs/bulwark', name), '');
  // install-hook's files and its record.
  const hookPath = at('lib/bulwark-hook');
  await writeFile(hookPath, '#!/bin/sh\n', { mode: 0o755 });
  await writeFile(at('lib/bulwark-node'), '');
  await writeFile(at('etc/agent.yaml'), 'enforcement: required\n');
  await writeFile(at('etc/hook.json'), renderHookConfig({ version: 1, socket: at('run/hook.sock'), log: at('log/hook.log') }));
  await writeFile(at('log/hook.log'), '{}\n');
  await mkdir(at('cache/hook'));
  await writeFile(at('cache/hook/bulwark-hook-1.v8cache'), '');
  const entry = (stage: string) => JSON.stringify({ version: '1.0.0', hook: { path: hookPath, args: ['bulwark-hook', '--stage', stage] }, when: { always: true }, stages: [stage] });
  await writeFile(at('hooks.d/bulwark-createRuntime.json'), entry('createRuntime'));
  await writeFile(at('hooks.d/bulwark-poststop.json'), entry('poststop'));
  await writeFile(
    at('lib', INSTALL_RECORD_NAME),
    JSON.stringify({
      version: 1,
      hooks: [hookPath],
      node: at('lib/bulwark-node'),
      configs: [at('etc/hook.json')],
      logs: [at('log/hook.log')],
      compileCaches: [at('cache/hook')],
      entries: [
        { runtime: 'podman', path: at('hooks.d/bulwark-createRuntime.json') },
        { runtime: 'podman', path: at('hooks.d/bulwark-poststop.json') },
      ],
      directories: [at('cache/hook')],
    }),
  );
  options = {
    stateFile: at('state/containers.json'),
    hookSocket: at('run/hook.sock'),
    controlSocket: at('run/control.sock'),
    alertsFile: at('log/alerts.jsonl'),
    logFile: at('log/agent.log'),
    bpffsDirectory: at('bpffs/bulwark'),
    hookPath,
    hookLog: at('log/hook.log'),
    unitDirectory: at('units'),
    agentConfigPath: at('etc/agent.yaml'),
    dryRun: false,
    // log/ stands for /var/log/bulwark: a directory of Bulwark's own; state/ and run/ are not.
    bulwarkDirectories: [at('log')],
    pinFiles: { fileSystemType: (path) => (path.startsWith(at('bpffs')) ? BPF_FS_MAGIC : TMPFS_MAGIC) },
  };
});
afterEach(async () => {
  for (const server of servers) await server.close();
  await rm(work, { recursive: true, force: true });
});

describe('uninstall', () => {
  it("removes the agent's files, the pins, the hook's side and the units, each path once, and Bulwark's own directory once empty", async () => {
    const seen: UninstallStep[] = [];
    const steps = await uninstall(options, (step) => seen.push(step));
    expect(seen).toEqual(steps);
    expect(steps.map((step) => `${step.part} ${step.action} ${step.path.slice(work.length + 1)}`)).toEqual([
      'agent removed state/containers.json',
      'agent removed state/containers.json.bak',
      'agent removed state/.containers.json.0123456789ab.tmp',
      'agent removed state/policies.applied/0123456789abcdef0123456789abcdef.json',
      'agent removed state/policies.applied',
      'agent removed run/hook.sock',
      'agent removed run/control.sock',
      'agent removed log/alerts.jsonl',
      'agent removed log/agent.log',
      'enforcer removed bpffs/bulwark/map-rodata',
      'enforcer removed bpffs/bulwark/map-scopes',
      'enforcer removed bpffs/bulwark/link-enforce_file_open',
      'enforcer removed bpffs/bulwark',
      'hook removed hooks.d/bulwark-createRuntime.json',
      'hook removed hooks.d/bulwark-poststop.json',
      'hook removed lib/bulwark-hook',
      'hook removed lib/bulwark-node',
      'hook removed etc/hook.json',
      'hook removed lib/bulwark-install.json',
      'hook removed log/hook.log',
      'hook removed cache/hook',
      'service absent units/bulwark-agent.path',
      'service absent units/bulwark-agent.service',
      'service kept etc/agent.yaml',
      'agent removed state/containers.json.lock',
      'agent kept state',
      'agent kept run',
      'agent removed log',
    ]);
    expect(steps.find((step) => step.path === at('state'))).toMatchObject({ detail: "not one of Bulwark's own directories: left in place" });
    expect(await listTree(work)).toEqual(['bpffs/', 'cache/', 'etc/', 'etc/agent.yaml', 'hooks.d/', 'lib/', 'run/', 'state/', 'units/']);
    expect(formatUninstallSteps(steps.slice(0, 1))).toBe(`removed ${at('state/containers.json')} (the container registry)\n`);
  });

  it('with dryRun removes nothing and says what it would remove: what the real run then removes', async () => {
    const before = await listTree(work);
    const planned = await uninstall({ ...options, dryRun: true });
    expect(await listTree(work)).toEqual(before);
    expect(planned.every((step) => step.action !== 'removed')).toBe(true);
    expect(planned.find((step) => step.path === at('log'))).toMatchObject({ action: 'would remove' });
    const done = await uninstall(options);
    expect(paths(planned, 'would remove').sort()).toEqual(paths(done, 'removed').sort());
  });

  it('refuses while an agent holds the state lock, naming its pid, and removes nothing', async () => {
    const before = await listTree(work);
    using lock = lockStateFile(options.stateFile);
    expect(lock.path).toBe(at('state/containers.json.lock'));
    await expect(uninstall(options)).rejects.toMatchObject({
      code: 'ERR_STATE',
      message: `an agent is running (pid ${process.pid}; it holds ${options.stateFile}.lock): stop it first (kill ${process.pid}); nothing was removed`,
    });
    await expect(uninstall({ ...options, dryRun: true })).rejects.toMatchObject({ code: 'ERR_STATE' });
    expect(await listTree(work)).toEqual(before);
  });

  it('refuses while an agent answers on its control socket, and says to stop the service when its units are there', async () => {
    await rm(options.controlSocket);
    const server = createHookServer({ socketPath: options.controlSocket, handler: () => ({ version: '0.1.0', pid: 4242 }), allowedTypes: ['ping'] });
    await server.listen();
    servers.push(server);
    await writeFile(at('units/bulwark-agent.service'), '[Service]\n');
    const before = await listTree(work);
    await expect(uninstall(options)).rejects.toMatchObject({
      code: 'ERR_STATE',
      message: `an agent answers on ${options.controlSocket} (pid 4242): stop it first (systemctl disable --now bulwark-agent.path bulwark-agent.service); nothing was removed`,
    });
    expect(await listTree(work)).toEqual(before);
  });

  it('refuses a pin directory that is not on bpffs before removing anything', async () => {
    const before = await listTree(work);
    await expect(uninstall({ ...options, pinFiles: undefined })).rejects.toMatchObject({
      code: 'ERR_STATE',
      message: `list enforcer pins: ${options.bpffsDirectory} is not on a bpf file system: its files are not pins; nothing was removed`,
    });
    expect(await listTree(work)).toEqual(before);
  });

  it("keeps what is not Bulwark's to remove: other files, a directory or a symbolic link at its paths, a non-socket at a socket's", async () => {
    await rm(options.alertsFile);
    await mkdir(options.alertsFile);
    await rm(options.stateFile);
    await symlink('/etc/passwd', options.stateFile);
    await rm(options.hookSocket);
    await writeFile(options.hookSocket, 'a file\n');
    await writeFile(at('state/policies.applied/notes.txt'), '');
    await writeFile(at('log/alerts.jsonl.1'), '');
    const steps = await uninstall(options);
    const detail = (path: string) => steps.find((step) => step.path === path);
    expect(detail(options.stateFile)).toMatchObject({ action: 'kept', detail: 'the container registry: a symbolic link, not followed' });
    expect(detail(options.alertsFile)).toMatchObject({ action: 'kept', detail: 'the alerts: a directory' });
    expect(detail(options.hookSocket)).toMatchObject({ action: 'kept', detail: 'the hook socket: not a socket' });
    expect(detail(at('state/policies.applied'))).toMatchObject({ action: 'kept', detail: 'the applied policies: not empty: notes.txt' });
    expect(detail(at('log'))).toMatchObject({ action: 'kept', detail: "a directory of Bulwark's own: not empty: alerts.jsonl, alerts.jsonl.1" });
    expect(await listTree(at('log'))).toEqual(['alerts.jsonl/', 'alerts.jsonl.1']);
  });

  it("says absent for each path of a host Bulwark never touched, and removes Bulwark's own directory only when it exists", async () => {
    const empty = await mkdtemp(join(tmpdir(), 'bulwark-uninstall-empty-'));
    try {
      const rebased = Object.fromEntries(
        Object.entries(options).map(([key, value]) => [key, typeof value === 'string' ? value.replace(work, empty) : key === 'bulwarkDirectories' ? [join(empty, 'log')] : value]),
      ) as unknown as UninstallOptions;
      // Without an install record, install-hook takes its defaults unless told: named here, so that no test touches /etc/bulwark.
      const steps = await uninstall({ ...rebased, hookConfigPath: join(empty, 'etc/hook.json'), compileCache: '', pinFiles: { fileSystemType: () => BPF_FS_MAGIC } });
      expect(new Set(steps.map((step) => step.action))).toEqual(new Set(['absent']));
      expect(steps.at(-1)).toEqual({ part: 'agent', action: 'absent', path: join(empty, 'log'), detail: "a directory of Bulwark's own" });
      expect(await readdir(empty)).toEqual([]);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
