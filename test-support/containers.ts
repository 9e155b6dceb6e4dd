/**
 * Helpers for the host test tier: real bundles, real runtimes (runc, crun,
 * podman), and the built agent and hook run as separate processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, chmod, cp, mkdir, mkdtemp, open, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repositoryRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const hookBundle = join(repositoryRoot, 'apps/hook/dist/bulwark-hook.cjs');
export const agentBundle = join(repositoryRoot, 'apps/agent/dist/bulwark.js');

/** Host tests run the built apps, as a runtime would; a missing build is a failure with the fix in it. */
export async function requireBuild(): Promise<void> {
  for (const file of [hookBundle, agentBundle]) {
    try {
      await access(file);
    } catch {
      throw new Error(`${file} is missing: run 'npm run build' (or './run test', which builds first)`);
    }
  }
}

export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly elapsedMs: number;
}

/** Runs a command to completion, with optional stdin and a kill timer. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, elapsedMs: performance.now() - started });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Runs a command whose children outlive it (`runc run --detach`): their
 * output goes to a file, not to pipes that would stay open after it exits.
 */
export async function runDetached(command: string, args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
  const directory = await mkdtemp(join(tmpdir(), 'bulwark-detached-'));
  const logPath = join(directory, 'output');
  const handle = await open(logPath, 'w');
  try {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', handle.fd, handle.fd] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolvePromise, reject) => {
      child.on('error', reject);
      child.on('exit', (exitCode, exitSignal) => resolvePromise([exitCode, exitSignal]));
    });
    clearTimeout(timer);
    const output = await readFile(logPath, 'utf8');
    return { code, signal, stdout: '', stderr: output, elapsedMs: performance.now() - started };
  } finally {
    await handle.close();
    await rm(directory, { recursive: true, force: true });
  }
}

export async function runChecked(command: string, args: readonly string[], options: Parameters<typeof runCommand>[2] = {}) {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.code ?? result.signal}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result;
}

export async function makeTemporaryDirectory(prefix: string): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), `bulwark-${prefix}-`));
  await chmod(directory, 0o755);
  return directory;
}

/** A busybox root filesystem: enough for sh, sleep, grep, cat, stat. */
export async function makeRootfs(directory: string): Promise<string> {
  const rootfs = join(directory, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  for (const path of ['proc', 'sys', 'dev', 'tmp', 'etc', 'bulwark-state', 'out']) await mkdir(join(rootfs, path), { recursive: true });
  await cp('/bin/busybox', join(rootfs, 'bin/busybox'));
  for (const applet of ['sh', 'sleep', 'grep', 'cat', 'echo', 'stat', 'ls', 'true', 'readlink', 'id']) {
    await symlink('busybox', join(rootfs, 'bin', applet));
  }
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  return rootfs;
}

export interface BundleOptions {
  readonly rootfs: string;
  readonly args: readonly string[];
  readonly env?: readonly string[];
  /** Host directories bind-mounted into the container: [source, destination, readOnly]. */
  readonly binds?: readonly (readonly [string, string, boolean])[];
  /** Include the cgroup namespace (crun in hybrid mode cannot use one). */
  readonly cgroupNamespace?: boolean;
  /** The process's bounding, effective and permitted capabilities (default `runc spec`'s three). */
  readonly capabilities?: readonly string[];
}

/** The capabilities Docker (and containerd's CRI) gives a default container: what a default root container has. */
export const DOCKER_DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
] as const;

/** A runc/crun bundle: config.json from `runc spec`, made non-interactive and pointed at a shared rootfs. */
export async function makeBundle(directory: string, options: BundleOptions): Promise<string> {
  await mkdir(directory, { recursive: true });
  await runChecked('runc', ['spec', '--bundle', directory]);
  const path = join(directory, 'config.json');
  const config = JSON.parse(await readFile(path, 'utf8')) as {
    process: { terminal: boolean; args: string[]; env: string[]; capabilities?: Record<string, string[]> };
    root: { path: string; readonly: boolean };
    mounts: { destination: string; type: string; source: string; options: string[] }[];
    linux: { namespaces: { type: string }[] };
  };
  config.process.terminal = false;
  config.process.args = [...options.args];
  config.process.env = ['PATH=/bin', ...(options.env ?? [])];
  config.root = { path: options.rootfs, readonly: true };
  for (const [source, destination, readOnly] of options.binds ?? []) {
    config.mounts.push({ destination, type: 'bind', source, options: ['rbind', readOnly ? 'ro' : 'rw'] });
  }
  if (options.capabilities !== undefined) {
    const set = [...options.capabilities];
    config.process.capabilities = { bounding: set, effective: set, permitted: set };
  }
  if (options.cgroupNamespace === false) {
    config.linux.namespaces = config.linux.namespaces.filter((namespace) => namespace.type !== 'cgroup');
  }
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`);
  return directory;
}

export interface AgentHandle {
  readonly process: ChildProcess;
  readonly hookSocket: string;
  readonly controlSocket: string;
  readonly stateFile: string;
  readonly logLines: () => Record<string, unknown>[];
  /** Resolves with the first log line matching, within a time limit. */
  waitForLog: (predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number) => Promise<Record<string, unknown>>;
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

export interface AgentPaths {
  readonly hookSocket: string;
  readonly controlSocket: string;
  readonly stateFile: string;
  readonly runcRoot: string;
  readonly crunRoot: string;
}

/** How long startAgentProcess waits for 'agent ready'. */
export const AGENT_READY_TIMEOUT_MS = 120_000;

/**
 * Starts the built agent and waits until it says it is ready. `prefix` is a
 * command the agent runs under (as-nobody.ts's `asNobodyPrefix()`); it must
 * exec the agent, so that the child's pid is the agent's.
 */
export async function startAgentProcess(paths: AgentPaths, extraArgs: readonly string[] = [], options: { readonly prefix?: readonly string[] } = {}): Promise<AgentHandle> {
  const [command, ...prefixArgs] = options.prefix ?? [];
  const child = spawn(
    command ?? process.execPath,
    [
      ...(command === undefined ? [] : [...prefixArgs, process.execPath]),
      agentBundle,
      'agent',
      '--hook-socket',
      paths.hookSocket,
      '--control-socket',
      paths.controlSocket,
      '--state-file',
      paths.stateFile,
      '--runc-root',
      paths.runcRoot,
      '--crun-root',
      paths.crunRoot,
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<{ predicate: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }>();
  let buffer = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { message: text };
      }
      lines.push(line);
      for (const waiter of waiters) {
        if (waiter.predicate(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<void>((resolvePromise) => child.on('exit', () => resolvePromise()));
  const waitForLog = (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000) => {
    const found = lines.find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<Record<string, unknown>>((resolvePromise, reject) => {
      const waiter = {
        predicate,
        resolve: (line: Record<string, unknown>) => {
          clearTimeout(timer);
          resolvePromise(line);
        },
      };
      waiters.add(waiter);
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`agent log: no matching line within ${timeoutMs} ms; stderr: ${stderr.trim()}; lines: ${JSON.stringify(lines.slice(-5))}`));
      }, timeoutMs);
      void exited.then(() => {
        if (!waiters.has(waiter)) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        reject(new Error(`agent exited (${child.exitCode ?? child.signalCode}) before the log line; stderr: ${stderr.trim()}`));
      });
    });
  };
  // Loading and verifying the enforcer takes the agent 15-25 s under TCG (the
  // kernel tier's guest); the wait is generous, it measures nothing.
  await waitForLog((line) => line.message === 'agent ready', AGENT_READY_TIMEOUT_MS);
  return {
    process: child,
    hookSocket: paths.hookSocket,
    controlSocket: paths.controlSocket,
    stateFile: paths.stateFile,
    logLines: () => lines,
    waitForLog,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}

export interface InstallHookOptions {
  /** `--bundle DIR` for runc, `--hooks-dir DIR` for podman. */
  readonly runtime: 'runc' | 'podman';
  readonly target: string;
  /** Everything the install writes goes under this directory. */
  readonly work: string;
  readonly socket: string;
  readonly failMode: 'open' | 'closed';
  /** Where the hook logs; default `<work>/hook.log`. */
  readonly log?: string;
  /** Where the hook's configuration goes; default `<work>/etc/hook.json`. */
  readonly hookConfig?: string;
}

/** Runs the built `bulwark install-hook` with everything under one work directory; returns what it printed. */
export async function installHook(options: InstallHookOptions): Promise<CommandResult> {
  return runChecked(process.execPath, [
    agentBundle,
    'install-hook',
    '--runtime',
    options.runtime,
    options.runtime === 'runc' ? '--bundle' : '--hooks-dir',
    options.target,
    '--hook-path',
    join(options.work, 'bin', 'bulwark-hook'),
    '--hook-config',
    options.hookConfig ?? join(options.work, 'etc', 'hook.json'),
    '--compile-cache',
    join(options.work, 'compile-cache'),
    // The Node running the tests, named rather than copied beside the hook
    // (install-hook.host.test.ts tests the copy): one install costs no 120 MB
    // copy, in the kernel guest least of all.
    '--node',
    process.execPath,
    '--socket',
    options.socket,
    '--log',
    options.log ?? join(options.work, 'hook.log'),
    '--fail-mode',
    options.failMode,
  ]);
}

export interface ListedContainer {
  readonly container: {
    readonly id: string;
    readonly pid?: number;
    readonly names: { readonly name?: string; readonly runtime: string };
    readonly namespaces?: Record<string, { device: number; inode: number }>;
    readonly cgroup?: { path: string; id?: string };
    readonly process?: { startTime: string };
  };
  readonly source: 'hook' | 'scan';
}

/** The agent's registry as `bulwark containers --json` prints it. */
export async function listContainers(controlSocket: string): Promise<ListedContainer[]> {
  const result = await runChecked(process.execPath, [agentBundle, 'containers', '--json', '--control-socket', controlSocket]);
  return JSON.parse(result.stdout) as ListedContainer[];
}

/** Namespace ids of a live process read with stat(1), independently of @bulwark/procfs. */
export async function statNamespaces(pid: number): Promise<Record<string, { device: number; inode: number }>> {
  const types = ['mnt', 'pid', 'net', 'uts', 'ipc', 'user', 'cgroup'];
  const result = await runChecked('stat', ['-L', '-c', '%d %i', ...types.map((type) => `/proc/${pid}/ns/${type}`)]);
  const lines = result.stdout.trim().split('\n');
  return Object.fromEntries(
    types.map((type, index) => {
      const [device, inode] = lines[index]!.split(' ').map(Number);
      return [type, { device: device!, inode: inode! }];
    }),
  );
}

export async function removeDirectory(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}
