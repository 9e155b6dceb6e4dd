import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, lstat, mkdir, readdir, readFile, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import {
  installHook,
  hookBundle,
  makeBundle,
  makeRootfs,
  makeTemporaryDirectory,
  removeDirectory,
  requireBuild,
  runCommand,
  runDetached,
} from '../../../test-support/containers.js';
import { createHookServer, type HookServer } from '@bulwark/hook-client';

/**
 * The hook's failure policy, run as the built binary a runtime would start.
 * Each case checks the exit status, what the hook printed, and its log line.
 */

let work: string;
let bundle: string;
let sleeper: ChildProcess;
let logPath: string;
let liveAgent: HookServer;
const missingSocket = () => join(work, 'run', 'absent.sock');
const liveSocket = () => join(work, 'run', 'live.sock');

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('hook');
  await mkdir(join(work, 'run'), { mode: 0o700 });
  const rootfs = await makeRootfs(work);
  bundle = await makeBundle(join(work, 'bundle'), { rootfs, args: ['true'] });
  sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
  logPath = join(work, 'hook.log');
  // A live agent for the cases where only the input is at fault.
  liveAgent = createHookServer({ socketPath: liveSocket(), handler: () => ({ registered: true }) });
  await liveAgent.listen();
});

afterAll(async () => {
  await liveAgent?.close();
  sleeper?.kill();
  if (work !== undefined) await removeDirectory(work);
});

function stateFor(options: { id?: string; bundle?: string; status?: string; annotations?: Record<string, string> } = {}) {
  return JSON.stringify({
    ociVersion: '1.0.2',
    id: options.id ?? 'hook-test',
    status: options.status ?? 'creating',
    pid: sleeper.pid,
    bundle: options.bundle ?? bundle,
    ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
  });
}

async function writeConfig(name: string, config: Record<string, unknown>): Promise<string> {
  const path = join(work, `${name}.json`);
  await writeFile(path, JSON.stringify({ version: 1, log: logPath, socket: missingSocket(), ...config }));
  return path;
}

async function runHook(args: string[], input: string) {
  return runCommand(process.execPath, [hookBundle, ...args], { input, timeoutMs: 20_000 });
}

async function lastLogLine(): Promise<Record<string, unknown>> {
  const lines = (await readFile(logPath, 'utf8')).trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

describe('hook failure policy', () => {
  it('agent not running, fail-open: exits 0 at once, prints nothing, logs why', async () => {
    const config = await writeConfig('open', { failMode: 'open' });
    const result = await runHook(['--config', config], stateFor());
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(await lastLogLine()).toMatchObject({ event: 'hook', id: 'hook-test', start: true, why: 'fail-open', step: 'agent' });
    expect((await lastLogLine()).error).toMatch(/^agent unreachable at .*absent\.sock: no such file or directory$/);
    // Unreachable is immediate: no connect timeout was waited out.
    expect((await lastLogLine()).durationMs as number).toBeLessThan(250);
  });

  it('agent up: the hook registers and exits 0 with nothing on stderr', async () => {
    const config = await writeConfig('live', { failMode: 'closed', socket: liveSocket() });
    const before = liveAgent.stats.requests;
    const result = await runHook(['--config', config], stateFor());
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(liveAgent.stats.requests).toBe(before + 1);
    expect(await lastLogLine()).toMatchObject({ id: 'hook-test', stage: 'createRuntime', start: true, why: 'registered' });
  });

  it('agent not running, fail-open, bad bundle: the verdict needs nothing from the bundle, so it is not read', async () => {
    const config = await writeConfig('open-fast', { failMode: 'open' });
    const result = await runHook(['--config', config], stateFor({ bundle: '/nonexistent/bundle' }));
    expect(result.code).toBe(0);
    expect(await lastLogLine()).toMatchObject({ why: 'fail-open', step: 'agent' });
  });

  it('agent not running, fail-closed: runc fails to create the container with the one-line reason', async () => {
    const config = await writeConfig('closed', { failMode: 'closed' });
    const closedBundle = await makeBundle(join(work, 'closed-bundle'), { rootfs: join(work, 'rootfs'), args: ['true'] });
    await installHook({
      runtime: 'runc',
      target: closedBundle,
      work: join(work, 'installed'),
      socket: missingSocket(),
      failMode: 'closed',
      log: logPath,
      hookConfig: config,
    });
    const runcRoot = join(work, 'runc-root');
    const result = await runDetached('runc', ['--root', runcRoot, 'run', '--detach', '--bundle', closedBundle, 'closed-1']);
    expect(result.code).not.toBe(0);
    const reasonLines = result.stderr.split('\n').filter((line) => line.includes('bulwark-hook:'));
    expect(reasonLines).toHaveLength(1);
    expect(reasonLines[0]).toMatch(/bulwark-hook: container closed-1 stopped \(fail-closed\): agent unreachable at .*absent\.sock: no such file or directory/);
    const lines = (await readFile(logPath, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.find((line) => line.id === 'closed-1' && line.stage === 'createRuntime')).toMatchObject({
      start: false,
      why: 'fail-closed',
      step: 'agent',
    });
    const state = await runCommand('runc', ['--root', runcRoot, 'state', 'closed-1']);
    expect(state.code).not.toBe(0);
  });

  it('agent accepting but never answering: the hook ends within its deadline', async () => {
    const socket = join(work, 'run', 'silent.sock');
    const silent: Server = createServer((connection) => connection.on('data', () => undefined));
    await new Promise<void>((resolve) => silent.listen(socket, resolve));
    try {
      for (const failMode of ['open', 'closed'] as const) {
        const config = await writeConfig(`silent-${failMode}`, { failMode, socket, timeoutMs: 500 });
        const result = await runHook(['--config', config], stateFor());
        expect(result.code).toBe(failMode === 'open' ? 0 : 1);
        expect(result.elapsedMs).toBeLessThan(3000);
        const line = await lastLogLine();
        expect(line).toMatchObject({ why: `fail-${failMode}`, step: 'agent', error: 'agent timed out: no reply within 500 ms' });
        expect(line.durationMs as number).toBeGreaterThanOrEqual(490);
        expect(line.durationMs as number).toBeLessThan(1000);
        if (failMode === 'closed') expect(result.stderr).toMatch(/^bulwark-hook: container hook-test stopped \(fail-closed\): agent timed out/);
      }
    } finally {
      silent.close();
    }
  });

  const badInputs: { name: string; input: () => string; step: string; error: RegExp }[] = [
    { name: 'malformed stdin', input: () => '{"ociVersion": "1.0.2", "id": ', step: 'state', error: /stdin/ },
    { name: 'state without a bundle', input: () => JSON.stringify({ ociVersion: '1.0.2', id: 'x', status: 'creating' }), step: 'state', error: /bundle/ },
    { name: 'missing bundle', input: () => stateFor({ bundle: '/nonexistent/bundle' }), step: 'bundle', error: /no such file or directory/ },
    { name: 'unreadable config (a directory)', input: () => stateFor({ bundle: join(work, 'dir-config') }), step: 'bundle', error: /is a directory|illegal operation/ },
    { name: 'malformed config.json', input: () => stateFor({ bundle: join(work, 'bad-config') }), step: 'bundle', error: /config\.json/ },
    { name: 'oversized stdin', input: () => `{"pad":"${'x'.repeat(2 * 1024 * 1024)}"}`, step: 'stdin', error: /over 1048576 bytes/ },
    { name: 'empty stdin', input: () => '', step: 'stdin', error: /^read stdin: no state \(empty input\); the runtime passes the container's state there/ },
  ];

  it.each(badInputs)('$name, agent up: fail-open starts, fail-closed stops, both log the step', async ({ input, step, error }) => {
    await mkdir(join(work, 'dir-config', 'config.json'), { recursive: true });
    await mkdir(join(work, 'bad-config'), { recursive: true });
    await writeFile(join(work, 'bad-config', 'config.json'), '{"ociVersion": "1.0.2", "process": {"args": 7}}');
    for (const failMode of ['open', 'closed'] as const) {
      const config = await writeConfig(`bad-${failMode}`, { failMode, socket: liveSocket() });
      const result = await runHook(['--config', config], input());
      expect(result.code, result.stderr).toBe(failMode === 'open' ? 0 : 1);
      const line = await lastLogLine();
      expect(line).toMatchObject({ start: failMode === 'open', why: `fail-${failMode}`, step });
      expect(line.error).toMatch(error);
      if (failMode === 'closed') {
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
        expect(result.stderr).toMatch(/^bulwark-hook: container .* stopped \(fail-closed\): /);
      } else {
        expect(result.stderr).toBe('');
      }
    }
  });

  it('stdin that never ends: the hook gives up after its stdin deadline', async () => {
    const config = await writeConfig('stdin-open', { failMode: 'closed', stdinTimeoutMs: 300 });
    const child = spawn(process.execPath, [hookBundle, '--config', config], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.write('{"ociVersion":');
    const started = performance.now();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.stdin.destroy();
    expect(code).toBe(1);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(await lastLogLine()).toMatchObject({ step: 'stdin', why: 'fail-closed', error: 'read stdin: no end of input within 300 ms' });
  });

  it('a bad hook configuration falls back to fail-open and logs the error', async () => {
    const config = join(work, 'broken.json');
    await writeFile(config, '{"version": 1, "failMode": "closed", "socket": 5}');
    const result = await runHook(['--config', config, '--log', logPath], stateFor());
    expect(result.code).toBe(0);
    const lines = (await readFile(logPath, 'utf8')).trim().split('\n').slice(-2).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ event: 'bad-config', level: 'error' });
    expect(lines[0]!.message).toMatch(/socket/);
    expect(lines[1]).toMatchObject({ why: 'fail-open', failMode: 'open' });
  });

  it('--fail-mode closed on the command line wins over a missing, unreadable or invalid configuration; the log names the file and the key', async () => {
    const unknownKey = join(work, 'unknown-key.json');
    await writeFile(unknownKey, JSON.stringify({ version: 1, failMode: 'closed', log: logPath, socket: missingSocket(), timeoutMS: 100 }));
    // Unreadable: a directory where the file should be.
    const directory = join(work, 'config-is-a-directory.json');
    await mkdir(directory, { recursive: true });
    const cases = [
      { config: unknownKey, error: `${unknownKey}: timeoutMS: unknown key` },
      { config: join(work, 'no-such-config.json'), error: `read: no such file or directory (${join(work, 'no-such-config.json')})` },
      { config: directory, error: `read: is a directory (${directory})` },
    ];
    for (const { config, error } of cases) {
      const result = await runHook(['--config', config, '--fail-mode', 'closed', '--socket', missingSocket(), '--log', logPath], stateFor());
      expect(result.code, config).toBe(1);
      expect(result.stderr).toMatch(/^bulwark-hook: container hook-test stopped \(fail-closed\): /);
      const lines = (await readFile(logPath, 'utf8')).trim().split('\n').slice(-2).map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines[0]).toMatchObject({ event: 'bad-config', level: 'error', file: config });
      expect(lines[0]!.message).toBe(`read hook config: ${error}; using the defaults, fail-closed from --fail-mode`);
      expect(lines[1]).toMatchObject({ why: 'fail-closed', failMode: 'closed', start: false });
    }
  });

  it('an allow-listed container starts under fail-closed with the agent down', async () => {
    const config = await writeConfig('allow', { failMode: 'closed', allow: { namespaces: ['kube-system'], names: ['bulwark-agent'] } });
    const byNamespace = await runHook(['--config', config], stateFor({ annotations: { 'io.kubernetes.pod.namespace': 'kube-system', 'io.kubernetes.pod.name': 'dns' } }));
    expect(byNamespace.code).toBe(0);
    expect(await lastLogLine()).toMatchObject({ why: 'allow-listed', start: true });
    const other = await runHook(['--config', config], stateFor({ annotations: { 'io.kubernetes.pod.namespace': 'default' } }));
    expect(other.code).toBe(1);
  });

  it('usage errors exit 2 with a message, and --help prints usage', async () => {
    const bad = await runHook(['--stage', 'sometime'], '');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^bulwark-hook: arguments: --stage must be one of/);
    const help = await runHook(['--help'], '');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^bulwark-hook \d+\.\d+\.\d+: the OCI runtime hook of Bulwark/);
    expect(help.stdout).toContain('--version');
    const version = await runHook(['--version'], '');
    expect(version).toMatchObject({ code: 0, stderr: '' });
    expect(version.stdout).toBe(`${(JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version}\n`);
  });

  it('poststop with the agent down never fails the runtime', async () => {
    const config = await writeConfig('poststop', { failMode: 'closed' });
    const result = await runHook(['--config', config], stateFor({ status: 'stopped' }));
    expect(result.code).toBe(0);
    expect(await lastLogLine()).toMatchObject({ stage: 'poststop', start: true, why: 'not-applicable', step: 'agent' });
  });
});

describe('stdin as the runtimes give it', () => {
  // runc and crun hand the state over a pipe, which the hook reopens
  // non-blocking; spawn() in these tests gives a socket pair, the fallback.
  const shell = (script: string, ...args: string[]) => runCommand('/bin/sh', ['-c', script, 'sh', ...args], { timeoutMs: 20_000 });

  it('a terminal on stdin is named as such, not as malformed json', async () => {
    const config = await writeConfig('terminal', { failMode: 'closed', socket: liveSocket() });
    // script(1) gives the hook a pseudo-terminal for stdin.
    const result = await runCommand('script', ['-qec', `'${process.execPath}' '${hookBundle}' --config '${config}'`, '/dev/null'], { timeoutMs: 20_000 });
    expect(result.code).toBe(1);
    expect(await lastLogLine()).toMatchObject({ step: 'stdin', why: 'fail-closed', error: "read stdin: standard input is a terminal; the runtime passes the container's state there (bulwark-hook --help)" });
  });

  it('a pipe and a regular file are read whole, and the container registers', async () => {
    const config = await writeConfig('pipe', { failMode: 'closed', socket: liveSocket() });
    const stateFile = join(work, 'state.json');
    await writeFile(stateFile, stateFor({ id: 'from-pipe' }));
    const piped = await shell('cat "$1" | exec "$2" "$3" --config "$4"', stateFile, process.execPath, hookBundle, config);
    expect(piped.code, piped.stderr).toBe(0);
    expect(await lastLogLine()).toMatchObject({ id: 'from-pipe', why: 'registered', steps: expect.objectContaining({ stdin: expect.any(Number) }) });
    const redirected = await shell('exec "$2" "$3" --config "$4" < "$1"', stateFile, process.execPath, hookBundle, config);
    expect(redirected.code, redirected.stderr).toBe(0);
    expect(await lastLogLine()).toMatchObject({ id: 'from-pipe', why: 'registered' });
  });

  it('a pipe whose writer stalls: the hook gives up at its stdin deadline', async () => {
    const config = await writeConfig('pipe-stall', { failMode: 'closed', stdinTimeoutMs: 300 });
    const result = await shell('(printf "{\\"ociVersion\\":"; sleep 2) | "$1" "$2" --config "$3"', process.execPath, hookBundle, config);
    expect(result.code).toBe(1);
    const line = await lastLogLine();
    expect(line).toMatchObject({ step: 'stdin', why: 'fail-closed', error: 'read stdin: no end of input within 300 ms' });
    expect(line.durationMs).toBeLessThan(1500);
  });

  it('an oversized state on a pipe is refused at the bound', async () => {
    const config = await writeConfig('pipe-big', { failMode: 'closed', socket: liveSocket() });
    const result = await shell('head -c 3000000 /dev/zero | "$1" "$2" --config "$3"', process.execPath, hookBundle, config);
    expect(result.code).toBe(1);
    expect(await lastLogLine()).toMatchObject({ step: 'stdin', error: 'read stdin: state is over 1048576 bytes' });
  });
});

describe('V8 code cache', () => {
  const cacheFiles = async (directory: string) => (await readdir(directory)).filter((name) => name.startsWith('bulwark-hook-') && name.endsWith('.v8cache'));

  async function runCached(directory: string, config: string, id: string) {
    const result = await runCommand(process.execPath, [hookBundle, '--config', config], {
      input: stateFor({ id }),
      timeoutMs: 20_000,
      env: { ...process.env, NODE_COMPILE_CACHE: directory },
    });
    expect(result.code, result.stderr).toBe(0);
    return lastLogLine();
  }

  it('is written after a run, used by the next, and upgraded by the first complete run', async () => {
    const directory = join(work, 'cache-cycle');
    await mkdir(directory, { mode: 0o700 });
    const down = await writeConfig('cache-down', { failMode: 'open' });
    const live = await writeConfig('cache-live', { failMode: 'closed', socket: liveSocket() });

    expect(await runCached(directory, down, 'c1')).toMatchObject({ why: 'fail-open', codeCache: 'absent' });
    const [name] = await cacheFiles(directory);
    expect(name).toContain(process.version);
    const file = join(directory, name!);
    const partial = await readFile(file);
    expect(partial[0]).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    expect(await runCached(directory, down, 'c2')).toMatchObject({ codeCache: 'accepted' });
    expect(await readFile(file)).toEqual(partial);

    // A complete registration replaces a cache made by a shorter run.
    expect(await runCached(directory, live, 'c3')).toMatchObject({ why: 'registered', codeCache: 'accepted' });
    const complete = await readFile(file);
    expect(complete[0]).toBe(1);
    expect(complete.length).toBeGreaterThan(partial.length);
    expect(await runCached(directory, live, 'c4')).toMatchObject({ why: 'registered', codeCache: 'accepted' });
    expect(await readFile(file)).toEqual(complete);
    expect(await cacheFiles(directory)).toHaveLength(1);
  });

  it('a corrupt cache is rejected by V8, the hook still registers, and the cache is replaced', async () => {
    const directory = join(work, 'cache-corrupt');
    await mkdir(directory, { mode: 0o700 });
    const live = await writeConfig('cache-corrupt', { failMode: 'closed', socket: liveSocket() });
    await runCached(directory, live, 'k1');
    const [name] = await cacheFiles(directory);
    const file = join(directory, name!);
    const good = await readFile(file);
    const bad = Buffer.from(good);
    for (let index = 1; index < bad.length; index += 7) bad[index] = (bad[index]! ^ 0x5a) & 0xff;
    await writeFile(file, bad, { mode: 0o600 });
    expect(await runCached(directory, live, 'k2')).toMatchObject({ why: 'registered', codeCache: 'rejected' });
    expect(await runCached(directory, live, 'k3')).toMatchObject({ why: 'registered', codeCache: 'accepted' });
  });

  it('is neither used nor written where others could write it', async () => {
    const live = await writeConfig('cache-unsafe', { failMode: 'closed', socket: liveSocket() });
    const open = join(work, 'cache-world-writable');
    await mkdir(open);
    await chmod(open, 0o777);
    expect(await runCached(open, live, 'u1')).toMatchObject({ why: 'registered', codeCache: 'unsafe' });
    expect(await cacheFiles(open)).toHaveLength(0);

    // A private directory, but a cache file others may write, or a link.
    const directory = join(work, 'cache-file-unsafe');
    await mkdir(directory, { mode: 0o700 });
    await runCached(directory, live, 'u2');
    const [name] = await cacheFiles(directory);
    const file = join(directory, name!);
    await chmod(file, 0o666);
    expect(await runCached(directory, live, 'u3')).toMatchObject({ codeCache: 'unsafe' });
    expect((await stat(file)).mode & 0o777).toBe(0o666);
    await rename(file, `${file}.real`);
    await chmod(`${file}.real`, 0o600);
    await symlink(`${file}.real`, file);
    expect(await runCached(directory, live, 'u4')).toMatchObject({ why: 'registered', codeCache: 'unsafe' });
    expect((await lstat(file)).isSymbolicLink()).toBe(true);
  });

  it('is off without NODE_COMPILE_CACHE', async () => {
    const live = await writeConfig('cache-off', { failMode: 'closed', socket: liveSocket() });
    const environment = { ...process.env };
    delete environment.NODE_COMPILE_CACHE;
    const result = await runCommand(process.execPath, [hookBundle, '--config', live], { input: stateFor({ id: 'o1' }), timeoutMs: 20_000, env: environment });
    expect(result.code, result.stderr).toBe(0);
    expect(await lastLogLine()).toMatchObject({ why: 'registered', codeCache: 'off' });
  });
});
