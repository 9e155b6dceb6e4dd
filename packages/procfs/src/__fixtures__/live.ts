/**
 * Helpers for host tests: live processes in fresh namespaces, shell commands
 * that read /proc independently of this package, and a reader that runs this
 * package's source in a separate Node process (as another user, or in another
 * cgroup namespace).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { asNobodyPrefix } from '../../../../test-support/as-nobody.js';

const run = promisify(execFile);

/** Runs a shell command and returns its output without the final newline. */
export function sh(command: string): string {
  return execFileSync('sh', ['-c', command], { encoding: 'utf8' }).replace(/\n$/, '');
}

/** Polls until `probe` returns a value. */
export async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface LiveProcess extends AsyncDisposable {
  readonly pid: number;
  readonly child: ChildProcess;
  /** SIGKILL, then wait until Node has reaped it. */
  kill(): Promise<void>;
}

export async function startProcess(command: string, args: readonly string[]): Promise<LiveProcess> {
  const child = spawn(command, args, { stdio: 'ignore' });
  const exited = once(child, 'exit');
  await once(child, 'spawn');
  const pid = child.pid;
  if (pid === undefined) throw new Error(`spawn ${command}: no pid`);
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  return { pid, child, kill, [Symbol.asyncDispose]: kill };
}

/** The pids of the children of `parent` running `comm`, by `ps`. */
export function childrenOf(parent: number, comm: string): number[] {
  const out = sh(`ps -o pid=,comm= --ppid ${parent} || true`);
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, name]) => name === comm)
    .map(([pid]) => Number(pid));
}

export interface NamespacedProcess extends AsyncDisposable {
  /** The `sleep` inside the new namespaces (pid 1 of its pid namespace). */
  readonly pid: number;
}

/** `unshare --mount --pid --fork --uts --ipc --net --cgroup --time --user sleep`, and the pid of that sleep. */
export async function startInNamespaces(): Promise<NamespacedProcess> {
  const unshare = await startProcess('unshare', [
    '--mount',
    '--pid',
    '--fork',
    '--uts',
    '--ipc',
    '--net',
    '--cgroup',
    '--time',
    '--user',
    '--map-root-user',
    'sleep',
    '300',
  ]);
  try {
    const pid = await waitFor('the sleep under unshare', () => childrenOf(unshare.pid, 'sleep')[0]);
    return {
      pid,
      [Symbol.asyncDispose]: async () => {
        // Killing the pid namespace's init ends unshare too.
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await unshare.kill();
      },
    };
  } catch (error) {
    await unshare.kill();
    throw error;
  }
}

/** Field 22 of /proc/<pid>/stat by sed and awk: strip through the last ') ', then field 22 is the 20th. */
export function startTimeByShell(pid: number): bigint {
  return BigInt(sh(`sed -E 's/.*\\) //' /proc/${pid}/stat | awk '{print $20}'`));
}

const indexUrl = new URL('../index.ts', import.meta.url).href;
const packageDirectory = fileURLToPath(new URL('../..', import.meta.url));

// Lets plain Node load the TypeScript sources: `./x.js` imports resolve to `./x.ts`.
const resolveHooks = `
import { registerHooks } from 'node:module';
registerHooks({
  resolve(specifier, context, next) {
    try {
      return next(specifier, context);
    } catch (error) {
      if (/^\\.\\.?\\//.test(specifier) && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context);
      throw error;
    }
  },
});`;

const readerScript = `
const procfs = await import(${JSON.stringify(indexUrl)});
const request = JSON.parse(process.argv[1]);
const args = request.args.map((arg) => (arg === 'self' ? process.pid : arg));
let result;
try {
  result = { value: await procfs[request.call](...args) };
} catch (error) {
  result = {
    error: {
      name: error.name,
      code: error.code,
      errno: error.errno,
      isPermission: error.isPermission,
      pid: error.pid,
      path: error.path,
      message: error.message,
    },
  };
}
process.stdout.write(JSON.stringify({ pid: process.pid, ...result }, (key, value) => (typeof value === 'bigint' ? value.toString() : value)));
`;

export interface ReaderResult {
  /** The reader's own pid. */
  pid: number;
  /** The call's result, with bigints as decimal strings. */
  value?: unknown;
  error?: { name: string; code?: string; errno?: string; isPermission?: boolean; pid?: number; path?: string; message: string };
}

/**
 * Calls `procfs[call](...args)` in a separate Node process started through
 * `prefix` (e.g. setpriv or unshare). The argument 'self' stands for the
 * reader's own pid.
 */
export async function runReader(prefix: readonly string[], call: string, args: readonly unknown[]): Promise<ReaderResult> {
  const node = [
    process.execPath,
    '--no-warnings',
    '--conditions=@bulwark/source',
    '--import',
    `data:text/javascript,${encodeURIComponent(resolveHooks)}`,
    '--input-type=module',
    '--eval',
    readerScript,
    JSON.stringify({ call, args }),
  ];
  const [command, ...rest] = [...prefix, ...node];
  if (command === undefined) throw new Error('runReader: empty command');
  const { stdout } = await run(command, rest, { cwd: packageDirectory, encoding: 'utf8' });
  return JSON.parse(stdout) as ReaderResult;
}

/** A prefix that runs a command as nobody with no groups, from any checkout path (test-support/as-nobody.ts). */
export const asNobody = asNobodyPrefix();
