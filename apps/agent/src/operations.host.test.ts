import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createHookServer, sendRequest } from '@bulwark/hook-client';
import { readProcess } from '@bulwark/procfs';
import { asNobodyPrefix } from '../../../test-support/as-nobody.js';
import { agentBundle, makeTemporaryDirectory, removeDirectory, requireBuild, runCommand, startAgentProcess, type AgentPaths, type CommandResult } from '../../../test-support/containers.js';

/**
 * What an operator does on day one, on the built agent: signals, output
 * that goes nowhere, bad start-up input, a second agent, a damaged state
 * file. Each failure is one line and leaves the host as it was.
 */

let work: string;
let serial = 0;

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('operations');
});
afterAll(async () => {
  if (work !== undefined) await removeDirectory(work);
});

/** Paths of an agent of its own under the work directory. */
async function agentPaths(): Promise<AgentPaths> {
  const base = join(work, `agent-${++serial}`);
  await mkdir(join(base, 'run'), { recursive: true, mode: 0o700 });
  return {
    hookSocket: join(base, 'run', 'hook.sock'),
    controlSocket: join(base, 'run', 'control.sock'),
    stateFile: join(base, 'state', 'containers.json'),
    runcRoot: join(base, 'runc-root'),
    crunRoot: join(base, 'crun-root'),
  };
}

function agentArgs(paths: AgentPaths): string[] {
  return ['--hook-socket', paths.hookSocket, '--control-socket', paths.controlSocket, '--state-file', paths.stateFile, '--runc-root', paths.runcRoot, '--crun-root', paths.crunRoot];
}

const exists = (path: string) => stat(path).then(
  () => true,
  () => false,
);

/** The built CLI as uid and gid 65534 (no groups), reaching the checkout from any path. */
function bulwarkAsNobody(args: readonly string[]): Promise<CommandResult> {
  const [command, ...prefix] = asNobodyPrefix();
  return runCommand(command!, [...prefix, process.execPath, agentBundle, ...args], { timeoutMs: 30_000 });
}

const NOBODY = 65534;

/** Sends bytes that are not a frame to a socket: the agent logs a `bad frame` warning. */
function sendGarbage(socket: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const connection = createConnection({ path: socket });
    connection.on('error', reject);
    // The reply is read (and dropped): a socket nobody reads never sees its end, nor closes.
    connection.on('data', () => undefined);
    connection.on('close', () => resolve());
    connection.end(Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('{"v":')]));
  });
}

/** A one-line failure: exactly one line on stderr, no stack trace. */
function expectOneLine(stderr: string): void {
  expect(stderr.trim().split('\n'), stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at |node:internal|Error:/);
}

describe('the agent on a host', () => {
  it('refuses a socket in a directory others can enter or write (/tmp, /run), in one line, and leaves the directory as it was', async () => {
    const paths = await agentPaths();
    const shared = join(work, 'shared-tmp');
    await mkdir(shared);
    await chmod(shared, 0o1777);
    const result = await runCommand(process.execPath, [agentBundle, 'agent', ...agentArgs(paths), '--hook-socket', join(shared, 'h.sock'), '--no-scan'], { timeoutMs: 30_000 });
    expect(result.code).toBe(1);
    expectOneLine(result.stderr);
    expect(result.stderr).toContain(`prepare socket directory ${shared}: mode 1777 lets other users in`);
    expect((await stat(shared)).mode & 0o7777).toBe(0o1777);
    expect(await exists(paths.controlSocket)).toBe(false);
  });

  it('SIGHUP reloads the configuration and reopens its log file; SIGTERM stops it with a log line and removes the sockets', async () => {
    const paths = await agentPaths();
    const config = join(work, `reload-${serial}.yaml`);
    const logFile = join(work, `reload-${serial}`, 'agent.log');
    await writeFile(config, `logFile: ${logFile}\nlogLevel: info\n`);
    const child = spawn(process.execPath, [agentBundle, 'agent', '--config', config, ...agentArgs(paths), '--no-scan'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
    const lines = async (path: string) => (await readFile(path, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    const waitFor = async (path: string, predicate: (line: Record<string, unknown>) => boolean) => {
      for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
        const found = (await lines(path)).find(predicate);
        if (found !== undefined) return found;
      }
      throw new Error(`no matching line in ${path}; stderr: ${stderr}; lines: ${JSON.stringify(await lines(path))}`);
    };
    try {
      await waitFor(logFile, (line) => line.message === 'agent ready');
      // logrotate moves the file; a config change that needs a restart is named, the log level is taken.
      await rename(logFile, `${logFile}.1`);
      await writeFile(config, `logFile: ${logFile}\nlogLevel: warn\nthrottleSec: 5\n`);
      child.kill('SIGHUP');
      await waitFor(logFile, (line) => line.message === 'configuration changes that take effect at the next start');
      expect((await lines(`${logFile}.1`)).map((line) => line.message)).toContain('reloading the configuration and policies, reopening log files');
      expect((await lines(logFile)).find((line) => line.level === 'warn')).toMatchObject({ keys: ['throttleSec'] });
      expect(child.exitCode).toBeNull();
      expect(await sendRequest(paths.controlSocket, { type: 'ping' })).toMatchObject({ version: expect.any(String), log: { failed: 0 } });
      // A bad configuration is refused with the one in force kept.
      await writeFile(config, 'logLevel: loud\n');
      child.kill('SIGHUP');
      await waitFor(logFile, (line) => line.message === 'configuration not reloaded: the one in force stays');
      expect(child.exitCode).toBeNull();
      child.kill('SIGTERM');
      expect(await exited).toEqual([0, null]);
      // Level warn: the info lines of the stop are not written, and nothing went to stderr.
      expect(stderr).toBe('');
      expect(await exists(paths.hookSocket)).toBe(false);
      expect(await exists(paths.controlSocket)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('SIGTERM and SIGINT each log why the agent stops', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const agent = await startAgentProcess(await agentPaths(), ['--no-scan']);
      await agent.stop(signal);
      expect(agent.process.exitCode).toBe(0);
      expect(agent.logLines().find((line) => line.message === 'stopping')).toMatchObject({ signal });
      expect(agent.logLines().at(-1)).toMatchObject({ message: 'agent stopped' });
    }
  });

  it('bulwark agent | head -1: the reader gone, the agent counts the lost lines and goes on', async () => {
    const paths = await agentPaths();
    const child = spawn(process.execPath, [agentBundle, 'agent', ...agentArgs(paths), '--no-scan'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    try {
      await once(child.stdout, 'data');
      child.stdout.destroy();
      // Wait until it serves, then make it log: every line now goes to a pipe nobody reads.
      for (const deadline = Date.now() + 20_000; !(await exists(paths.controlSocket)); await new Promise((resolve) => setTimeout(resolve, 50))) {
        if (Date.now() > deadline) throw new Error(`the agent never listened; stderr: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      child.kill('SIGHUP');
      child.kill('SIGHUP');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(child.exitCode, stderr).toBeNull();
      const ping = (await sendRequest(paths.controlSocket, { type: 'ping' })) as { log: { failed: number; lastError?: string } };
      expect(ping.log.failed).toBeGreaterThan(0);
      expect(ping.log.lastError).toBe('EPIPE');
      expect(stderr).toBe('');
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('alerts --follow | head -1: the reader gone, it ends instead of following for nobody', async () => {
    const paths = await agentPaths();
    let reads = 0;
    const alert = { timestamp: 1, updatedTime: '2026-12-03T00:00:00Z', hostName: 'h', policyName: 'p', operation: 'File', resource: '/etc/shadow', action: 'Block', result: 'Permission denied' };
    const fake = createHookServer({
      socketPath: paths.controlSocket,
      handler: () => ({ alerts: [{ sequence: ++reads, alert }], cursor: reads, missed: 0 }),
    });
    await fake.listen();
    try {
      const child = spawn(process.execPath, [agentBundle, 'alerts', '--follow', '--json', '--interval-ms', '20', '--control-socket', paths.controlSocket], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      await once(child.stdout, 'data');
      child.stdout.destroy();
      const [code] = (await Promise.race([once(child, 'exit'), new Promise((resolve) => setTimeout(() => resolve([undefined]), 10_000))])) as [number | null | undefined];
      child.kill('SIGKILL');
      expect(code, stderr).toBe(0);
      expect(stderr).toBe('');
    } finally {
      await fake.close();
    }
  });

  it('probe > /dev/full and containers --json > /dev/full: one line and status 1, no stack trace', async () => {
    const paths = await agentPaths();
    const agent = await startAgentProcess(paths, ['--no-scan']);
    try {
      for (const args of [['probe'], ['containers', '--json', '--control-socket', paths.controlSocket]]) {
        const full = await open('/dev/full', 'w');
        try {
          const child = spawn(process.execPath, [agentBundle, ...args], { stdio: ['ignore', full.fd, 'pipe'] });
          let stderr = '';
          child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
          const [code] = (await once(child, 'exit')) as [number | null];
          expect(code, stderr).toBe(1);
          expectOneLine(stderr);
          expect(stderr).toBe(`bulwark ${args[0]}: write standard output: no space left on device\n`);
        } finally {
          await full.close();
        }
      }
    } finally {
      await agent.stop();
    }
  });

  it('a runtime root that is not a directory is a warning and the agent starts and says it is ready', async () => {
    const paths = await agentPaths();
    const agent = await startAgentProcess({ ...paths, runcRoot: '/etc/passwd' });
    try {
      expect(agent.logLines().find((line) => line.message === 'scan problem')).toMatchObject({ level: 'warn', problem: 'list runc root /etc/passwd: not a directory' });
      expect(agent.logLines().some((line) => line.message === 'agent ready')).toBe(true);
    } finally {
      await agent.stop();
    }
  });

  it('a runtime root it may not read (not root: EACCES) is a warning naming the fix, and the agent starts and says it is ready', async () => {
    // The agent as nobody, everything it writes in a directory of nobody's; the runc root is root's alone.
    const base = join(work, `agent-${++serial}`);
    await mkdir(base);
    await chown(base, NOBODY, NOBODY);
    const rootOnly = join(work, `root-only-${serial}`);
    await mkdir(rootOnly, { mode: 0o700 });
    await chmod(rootOnly, 0o700);
    const paths = { hookSocket: join(base, 'run', 'hook.sock'), controlSocket: join(base, 'run', 'control.sock'), stateFile: join(base, 'state', 'containers.json'), runcRoot: rootOnly, crunRoot: join(base, 'crun-root') };
    const agent = await startAgentProcess(paths, ['--alerts-file', '', '--policy-dir', join(base, 'policies')], { prefix: asNobodyPrefix() });
    try {
      const messages = agent.logLines().map((line) => line.message);
      expect(agent.logLines().find((line) => line.message === 'scan problem')).toMatchObject({ level: 'warn', problem: `list runc root ${rootOnly}: permission denied; run the agent as root` });
      // The warning comes before the agent says it is ready, and the agent serves.
      expect(messages.indexOf('scan problem')).toBeLessThan(messages.indexOf('agent ready'));
      expect(await sendRequest(paths.controlSocket, { type: 'ping' })).toMatchObject({ containers: 0 });
    } finally {
      await agent.stop();
    }
    expect(agent.process.exitCode).toBe(0);
  });

  it('--log-level warn and --log-file: no info line in the file; after logrotate moves it, SIGHUP reopens it at its path', async () => {
    const paths = await agentPaths();
    const logFile = join(work, `flags-${serial}`, 'agent.log');
    const child = spawn(process.execPath, [agentBundle, 'agent', ...agentArgs(paths), '--no-scan', '--log-level', 'warn', '--log-file', logFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
    const lines = async (path: string) => (await readFile(path, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    const until = async (what: string, done: () => Promise<boolean>) => {
      for (const deadline = Date.now() + 20_000; !(await done()); await new Promise((resolve) => setTimeout(resolve, 50))) {
        if (Date.now() > deadline) throw new Error(`${what}: not within 20 s; stderr: ${stderr}; log: ${JSON.stringify(await lines(logFile))}`);
      }
    };
    try {
      // Ready once the control socket answers: 'agent ready' is an info line, not written at warn.
      await until('the agent answering', () => sendRequest(paths.controlSocket, { type: 'ping' }).then(() => true, () => false));
      await sendGarbage(paths.controlSocket);
      await until('a bad frame logged', async () => (await lines(logFile)).some((line) => line.message === 'bad frame'));
      expect((await lines(logFile)).map((line) => [line.level, line.message])).toEqual([['warn', 'bad frame']]);

      // logrotate: the file moved away, then SIGHUP: the agent writes to a new file at the same path.
      await rename(logFile, `${logFile}.1`);
      child.kill('SIGHUP');
      await until('the log file reopened', () => exists(logFile));
      await sendGarbage(paths.controlSocket);
      await until('a bad frame in the new file', async () => (await lines(logFile)).some((line) => line.message === 'bad frame'));
      expect((await lines(logFile)).map((line) => [line.level, line.message])).toEqual([['warn', 'bad frame']]);
      expect((await lines(`${logFile}.1`)).map((line) => line.message)).toEqual(['bad frame']);
      child.kill('SIGTERM');
      expect(await exited).toEqual([0, null]);
      // The stop's info lines are not written either; nothing went to standard output or error.
      expect((await lines(logFile)).map((line) => line.level)).toEqual(['warn']);
      expect(stdout).toBe('');
      expect(stderr).toBe('');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a control socket closed to the caller (0600, run as nobody): containers, alerts, the policy commands and doctor say to run as root', async () => {
    const directory = join(work, `closed-${++serial}`);
    await mkdir(directory, { mode: 0o700 });
    const socket = join(directory, 'control.sock');
    const agent = createHookServer({ socketPath: socket, handler: () => [] });
    await agent.listen();
    try {
      // nobody may enter the directory and may not open the socket (the server makes it 0600).
      await chmod(directory, 0o755);
      expect((await stat(socket)).mode & 0o777).toBe(0o600);
      const policy = join(directory, 'policy.yaml');
      await writeFile(policy, 'apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: p\n  namespace: shop\nspec:\n  selector:\n    matchLabels:\n      app: web\n  file:\n    matchPaths:\n    - path: /etc/shadow\n  action: Block\n');
      await chmod(policy, 0o644);
      const commands = [['containers'], ['alerts'], ['policy', 'list'], ['policy', 'apply', policy], ['policy', 'delete', 'p'], ['policy', 'explain', policy, '--container', 'web-1']];
      for (const command of commands) {
        const name = command.slice(0, command[0] === 'policy' ? 2 : 1).join(' ');
        const result = await bulwarkAsNobody([...command, '--control-socket', socket]);
        expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }, name).toEqual({
          code: 1,
          stdout: '',
          stderr: `bulwark ${name}: agent unreachable at ${socket}: permission denied; run as root (or as the socket's owner)\n`,
        });
      }
      const doctor = await bulwarkAsNobody(['doctor', '--json', '--control-socket', socket, '--hook-path', join(directory, 'no-hook'), '--bpffs-dir', join(directory, 'no-bpffs')]);
      expect(doctor.code, doctor.stderr).toBe(1);
      const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks;
      expect(checks.find((check) => check.name === 'agent')).toEqual({ name: 'agent', status: 'problem', detail: `no agent answers on ${socket} (permission denied): run as root (or as the socket's owner)` });
    } finally {
      await agent.close();
    }
  });

  it('a start that fails after the sockets listen exits 1 in one line and leaves nothing serving', async () => {
    const paths = await agentPaths();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const config = join(work, `metrics-${serial}.yaml`);
    await writeFile(config, `metrics:\n  listen: 127.0.0.1:${port}\n`);
    try {
      const result = await runCommand(process.execPath, [agentBundle, 'agent', '--config', config, ...agentArgs(paths), '--no-scan'], { timeoutMs: 30_000 });
      expect(result.code).toBe(1);
      expectOneLine(result.stderr);
      expect(result.stderr).toMatch(/^bulwark agent: .*address in use/);
      expect(result.stdout).not.toContain('agent ready');
      expect(await exists(paths.hookSocket)).toBe(false);
      expect(await exists(paths.controlSocket)).toBe(false);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('a second agent on the same state file is refused with the holder pid; the first keeps its registrations', async () => {
    const first = await agentPaths();
    const agent = await startAgentProcess(first, ['--no-scan']);
    try {
      const second = await agentPaths();
      const result = await runCommand(process.execPath, [agentBundle, 'agent', ...agentArgs({ ...second, stateFile: first.stateFile }), '--no-scan'], { timeoutMs: 30_000 });
      expect(result.code).toBe(1);
      expectOneLine(result.stderr);
      expect(result.stderr).toBe(
        `bulwark agent: lock state file ${first.stateFile}: another agent uses it (pid ${agent.process.pid}); stop it, or give this agent a --state-file of its own\n`,
      );
      expect(await exists(second.hookSocket)).toBe(false);
      expect(await sendRequest(first.controlSocket, { type: 'ping' })).toMatchObject({ containers: 0 });
    } finally {
      await agent.stop();
    }
  });

  it('a bad registry entry is dropped on its own, with a line; the rest restored and the old file kept as a backup', async () => {
    const paths = await agentPaths();
    const self = await readProcess(process.pid);
    const good = {
      container: { id: 'still-running', stage: 'poststart', status: 'running', bundle: '/b', pid: process.pid, names: { runtime: 'runc' }, process: { startTime: self.identity.startTime.toString(), comm: 'node' } },
      source: 'hook',
      registeredAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    };
    const bad = { ...good, container: { ...good.container, id: 'broken', pid: 'twelve' } };
    const text = JSON.stringify({ version: 1, containers: [good, bad] });
    await mkdir(join(paths.stateFile, '..'), { recursive: true, mode: 0o700 });
    await writeFile(paths.stateFile, text, { mode: 0o600 });
    const agent = await startAgentProcess(paths, ['--no-scan']);
    try {
      const messages = agent.logLines().map((line) => line.message);
      expect(messages).not.toContain('registry not restored');
      expect(agent.logLines().filter((line) => line.message === 'registry entry dropped')).toEqual([
        expect.objectContaining({ level: 'warn', problem: expect.stringMatching(/^load registry .*: entry 1 \(broken\) container: pid: /) }),
      ]);
      expect(agent.logLines().find((line) => line.message === 'registry restored')).toMatchObject({ loaded: 1, rejected: 1, dropped: 0, backup: `${paths.stateFile}.bak` });
      expect(await readFile(`${paths.stateFile}.bak`, 'utf8')).toBe(text);
      const persisted = JSON.parse(await readFile(paths.stateFile, 'utf8')) as { containers: { container: { id: string } }[] };
      expect(persisted.containers.map((record) => record.container.id)).toEqual(['still-running']);
    } finally {
      await agent.stop();
    }
  });
});

describe('the CLI under an older Node (issue 11 item 13)', () => {
  it('refuses with one line naming the Node it runs under and what it needs, before any command runs', async () => {
    // The machine's own Node is older than 24; the test stands one in by the version it reports, so it runs wherever Node 24 does.
    const older = 'data:text/javascript,Object.defineProperty(process.versions, "node", { value: "20.19.0" })';
    for (const args of [['--version'], ['probe'], ['agent', '--no-scan']]) {
      const result = await runCommand(process.execPath, ['--import', older, agentBundle, ...args], { timeoutMs: 30_000 });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(`bulwark: needs Node 24 or later, not v20.19.0 (${process.execPath}); run it with Node 24 (./run sets it up in .tools/node)\n`);
    }
    // Under Node 24 the same bundle answers.
    const current = await runCommand(process.execPath, [agentBundle, '--version'], { timeoutMs: 30_000 });
    expect(current.code).toBe(0);
  });
});
