/**
 * `bulwark doctor` against the real protocol (hook-client's server on unix
 * sockets standing in for the agent's two sockets) and files laid out as
 * install-hook lays them out. The kernel tier runs it on the real set-up
 * (enforcement.kernel.test.ts): a real agent, its pinned enforcer, a hook
 * installed by install-hook.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_HOOK_SOCKET, createHookServer, renderHookConfig, type HookServer } from '@bulwark/hook-client';
import { runCliCaptured } from './__fixtures__/run-cli.js';
import { DEFAULT_LSM_FILE, runDoctor, formatDoctor, type DoctorCheck, type DoctorOptions } from './doctor.js';
import { INSTALL_RECORD_NAME } from './install-record.js';

let work: string;
let servers: HookServer[];
let options: DoctorOptions;

async function serve(socketPath: string, answer: Record<string, unknown>): Promise<HookServer> {
  const server = createHookServer({ socketPath, handler: () => answer, allowedTypes: ['ping'] });
  await server.listen();
  servers.push(server);
  return server;
}

const statuses = async (changed: Partial<DoctorOptions> = {}) => Object.fromEntries((await runDoctor({ ...options, ...changed })).map((check) => [check.name, check.status]));
const detailOf = async (name: string, changed: Partial<DoctorOptions> = {}) => (await runDoctor({ ...options, ...changed })).find((check) => check.name === name)?.detail;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bulwark-doctor-'));
  servers = [];
  const run = join(work, 'run');
  await mkdir(run, { mode: 0o700 });
  await mkdir(join(work, 'bin'));
  await mkdir(join(work, 'hooks.d'));
  await mkdir(join(work, 'bundle'));
  const hookPath = join(work, 'bin', 'bulwark-hook');
  const node = join(work, 'bin', 'bulwark-node');
  await symlink(process.execPath, node);
  await writeFile(hookPath, `#!${node}\nconsole.log('hook');\n`, { mode: 0o755 });
  const hookSocket = join(run, 'hook.sock');
  const config = join(work, 'hook.json');
  await writeFile(config, renderHookConfig({ version: 1, socket: hookSocket, failMode: 'closed' }));
  const entries = [
    { runtime: 'podman', path: join(work, 'hooks.d', 'bulwark-createRuntime.json') },
    { runtime: 'podman', path: join(work, 'hooks.d', 'bulwark-poststop.json') },
    { runtime: 'runc', path: join(work, 'bundle', 'config.json') },
    { runtime: 'runc', path: join(work, 'gone', 'config.json') },
  ];
  for (const entry of entries.slice(0, 3)) await writeFile(entry.path, JSON.stringify({ hook: { path: hookPath, args: ['bulwark-hook'] } }));
  await writeFile(
    join(work, 'bin', INSTALL_RECORD_NAME),
    JSON.stringify({ version: 1, hooks: [hookPath], node, configs: [config], logs: [], compileCaches: [], entries, directories: [] }),
  );
  const bpffs = join(work, 'bpffs');
  await mkdir(bpffs);
  await writeFile(join(bpffs, 'map-scopes'), '');
  await writeFile(join(work, 'lsm'), 'lockdown,capability,landlock,yama,bpf\n');
  const controlSocket = join(run, 'control.sock');
  await serve(controlSocket, { version: '0.1.0', enforcement: 'required', containers: 2, hookSocket, bpffsDirectory: bpffs });
  await serve(hookSocket, { version: '0.1.0' });
  options = {
    hookPath,
    controlSocket,
    hookSocket: '/nowhere/hook.sock',
    bpffsDirectory: '/nowhere',
    onPath: (command) => command === 'podman' || command === 'runc',
    lsmFile: join(work, 'lsm'),
    openEnforcer: (directory) => Promise.resolve(`pinned at ${directory}, 0 scopes in force`),
    timeoutMs: 2000,
  };
});

afterEach(async () => {
  for (const server of servers) await server.close();
  await rm(work, { recursive: true, force: true });
});

describe('bulwark doctor', () => {
  it('passes every check on a working set-up, taking the hook socket and pin directory from the agent', async () => {
    const checks = await runDoctor(options);
    expect(checks.map((check) => [check.name, check.status])).toEqual([
      ['agent', 'ok'],
      ['hook for podman', 'ok'],
      ['hook for runc', 'ok'],
      ['hook interpreter', 'ok'],
      ['hook configuration', 'ok'],
      ['hook socket', 'ok'],
      ['bpf lsm', 'ok'],
      ['enforcer', 'ok'],
    ]);
    expect(checks.find((check) => check.name === 'hook for runc')?.detail).toBe('1 bundle (1 bundle since removed)');
    expect(checks.find((check) => check.name === 'enforcer')?.detail).toBe(`pinned at ${join(work, 'bpffs')}, 0 scopes in force`);
    const table = formatDoctor(checks);
    expect(table.split('\n').filter((line) => line !== '')).toHaveLength(8);
    expect(table).toMatch(/^ok {7}agent {2,}answers on /u);
  });

  it('names the agent when it is stopped, and what that does to containers', async () => {
    for (const server of servers.splice(0)) await server.close();
    const checks = await runDoctor(options);
    expect(checks.find((check) => check.name === 'agent')).toEqual({
      name: 'agent',
      status: 'problem',
      detail: `no agent answers on ${options.controlSocket} (no socket there): is the agent running? (start it with 'bulwark agent', or name its socket with --control-socket or --config)`,
    });
    // Unasked, the agent's sockets are the configured ones: the hook's differs from them here.
    expect(checks.find((check) => check.name === 'hook socket')?.detail).toMatch(/^the hook connects to .*hook\.sock, the agent is configured to serve \/nowhere\/hook\.sock: /u);
    expect(await detailOf('hook socket', { hookSocket: join(work, 'run', 'hook.sock') })).toBe(`the hook's socket ${join(work, 'run', 'hook.sock')} does not answer (no socket there): containers start not at all (fail-closed)`);
    expect(await detailOf('enforcer')).toMatch(/^not pinned at \/nowhere: /u);
  });

  it("names the hook's interpreter when it is removed", async () => {
    await unlink(join(work, 'bin', 'bulwark-node'));
    expect(await statuses()).toMatchObject({ 'hook interpreter': 'problem', agent: 'ok', 'hook socket': 'ok' });
    expect(await detailOf('hook interpreter')).toContain(join(work, 'bin', 'bulwark-node'));
  });

  it("names both sockets when the hook's differs from the agent's", async () => {
    await writeFile(join(work, 'hook.json'), renderHookConfig({ version: 1, socket: join(work, 'run', 'other.sock'), failMode: 'open' }));
    expect(await detailOf('hook socket')).toBe(
      `the hook connects to ${join(work, 'run', 'other.sock')}, the agent serves ${join(work, 'run', 'hook.sock')}: reinstall with --socket ${join(work, 'run', 'hook.sock')}, or start the agent with --hook-socket ${join(work, 'run', 'other.sock')}`,
    );
  });

  it('finds runtime entries that lost the hook, a runtime on PATH with none, and no install record', async () => {
    await writeFile(join(work, 'hooks.d', 'bulwark-poststop.json'), JSON.stringify({ hook: { path: '/usr/bin/other' } }));
    await unlink(join(work, 'hooks.d', 'bulwark-createRuntime.json'));
    const onPath = (command: string) => command === 'podman' || command === 'containerd';
    const checks = await runDoctor({ ...options, onPath });
    expect(checks.find((check) => check.name === 'hook for podman')).toEqual({
      name: 'hook for podman',
      status: 'problem',
      detail: `${join(work, 'hooks.d', 'bulwark-createRuntime.json')} is gone; ${join(work, 'hooks.d', 'bulwark-poststop.json')} no longer names ${options.hookPath}: reinstall (bulwark install-hook --runtime podman)`,
    });
    expect(checks.find((check) => check.name === 'hook for containerd')?.status).toBe('warning');
    await unlink(join(work, 'bin', INSTALL_RECORD_NAME));
    expect(await statuses()).toMatchObject({ 'install record': 'problem', 'hook for podman': 'warning' });
  });

  it('says BPF LSM is not active, an enforcer that cannot be opened, and skips the enforcer for an agent that does not enforce', async () => {
    await writeFile(join(work, 'lsm'), 'lockdown,capability,apparmor');
    expect(await detailOf('bpf lsm')).toBe('not active (lockdown,capability,apparmor): boot with lsm=lockdown,capability,apparmor,bpf; nothing can be enforced');
    expect(await detailOf('enforcer', { openEnforcer: () => Promise.reject(new Error('open pinned enforcer: layout 8 pinned, this one is 9')) })).toBe('open pinned enforcer: layout 8 pinned, this one is 9');
    await servers[0]!.close();
    await serve(options.controlSocket, { version: '0.1.0', enforcement: 'off', hookSocket: join(work, 'run', 'hook.sock') });
    expect(await runDoctor(options).then((checks) => checks.find((check) => check.name === 'enforcer'))).toEqual({ name: 'enforcer', status: 'skipped', detail: 'the agent runs with --enforcement off: nothing is pinned' });
  });

  it('says an unreadable hook configuration in one line, and that the hook socket could not be checked without it', async () => {
    const config = join(work, 'hook.json');
    await writeFile(config, '{"socket": 5}');
    await chmod(config, 0o644);
    const invalid = await runDoctor(options);
    expect(invalid.find((check) => check.name === 'hook configuration')).toMatchObject({ status: 'problem', detail: expect.stringContaining(config) });
    expect(invalid.find((check) => check.name === 'hook socket')).toEqual({
      name: 'hook socket',
      status: 'skipped',
      detail: `not checked: the hook configuration ${config} is not valid (see 'hook configuration'); without one the hook connects to ${DEFAULT_HOOK_SOCKET}`,
    });
    await unlink(config);
    const missing = await runDoctor(options);
    expect(missing.find((check) => check.name === 'hook configuration')?.detail).toBe(`none at ${config}: the hook runs on its defaults (fail-open, unless its runtime entry gives --fail-mode closed)`);
    expect(missing.find((check) => check.name === 'hook socket')).toEqual({
      name: 'hook socket',
      status: 'skipped',
      detail: `not checked: no hook configuration at ${config} (see 'hook configuration'); without one the hook connects to ${DEFAULT_HOOK_SOCKET}`,
    });
    // Every check has its line: the socket's sits where it always does, after the configuration's.
    expect(missing.map((check) => check.name)).toEqual(['agent', 'hook for podman', 'hook for runc', 'hook interpreter', 'hook configuration', 'hook socket', 'bpf lsm', 'enforcer']);
  });

  it('says why the list of active LSMs cannot be read in the words of a file, not of a socket', async () => {
    const missing = join(work, 'security', 'lsm');
    expect((await runDoctor({ ...options, lsmFile: missing })).find((check) => check.name === 'bpf lsm')).toEqual({
      name: 'bpf lsm',
      status: 'problem',
      detail: `the active LSMs cannot be read (${missing}: no such file or directory): is securityfs mounted at ${join(work, 'security')}?`,
    });
  });

  it('bulwark doctor: exit 1 on a problem, 0 on none, and --json holds the same checks as the table', async () => {
    // The command reads this machine's LSM list and PATH; the agent here does not enforce, so nothing is loaded.
    await servers[0]!.close();
    await serve(options.controlSocket, { version: '0.1.0', enforcement: 'audit', containers: 0, hookSocket: join(work, 'run', 'hook.sock'), bpffsDirectory: join(work, 'bpffs') });
    const bpfActive = await readFile(DEFAULT_LSM_FILE, 'utf8').then(
      (text) => text.trim().split(',').includes('bpf'),
      () => false,
    );
    const flags = ['--control-socket', options.controlSocket, '--hook-path', options.hookPath];
    const json = await runCliCaptured('doctor', '--json', ...flags);
    const report = JSON.parse(json.stdout) as { ok: boolean; checks: DoctorCheck[] };
    expect(json.stderr).toBe('');
    // Only the machine's BPF LSM can be a problem here; the code and `ok` follow it.
    expect(report.checks.filter((check) => check.status === 'problem').map((check) => check.name)).toEqual(bpfActive ? [] : ['bpf lsm']);
    expect(json.code).toBe(bpfActive ? 0 : 1);
    expect(report.ok).toBe(bpfActive);
    expect(report.checks.find((check) => check.name === 'enforcer')).toEqual({ name: 'enforcer', status: 'skipped', detail: 'the agent runs with --enforcement audit: nothing is pinned' });
    const table = await runCliCaptured('doctor', ...flags);
    expect(table).toEqual({ code: json.code, stdout: formatDoctor(report.checks), stderr: '' });

    // The agent stopped: a problem wherever the machine's BPF LSM stands.
    for (const server of servers.splice(0)) await server.close();
    const stopped = await runCliCaptured('doctor', '--json', ...flags);
    expect(stopped.code).toBe(1);
    const stoppedReport = JSON.parse(stopped.stdout) as { ok: boolean; checks: DoctorCheck[] };
    expect(stoppedReport.ok).toBe(false);
    expect(stoppedReport.checks.find((check) => check.name === 'agent')).toMatchObject({ status: 'problem', detail: expect.stringMatching(/^no agent answers on .*: is the agent running\? /u) });
    expect((await runCliCaptured('doctor', ...flags)).code).toBe(1);
  });
});
