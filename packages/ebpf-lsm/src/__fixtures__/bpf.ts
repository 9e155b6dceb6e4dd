/**
 * Host-tier helpers: the test programs compiled from their current sources
 * (as the build does, see scripts/build-bpf.ts), tracefs for tracepoints,
 * a private BPF file system for pins, and child processes that call
 * getppid(2) an exact number of times.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { compileBpf } from '../../scripts/build-bpf.ts';

const execute = promisify(execFile);

export interface TestPrograms extends Disposable {
  readonly directory: string;
  /** src/bpf/test-tracepoint.bpf.c: count_getppid, maps `counts` (hash u32 -> u64) and `settings` (array of u64). */
  readonly tracepoint: string;
  /** src/__fixtures__/bpf/rejected.bpf.c: read_unchecked, which the verifier rejects. */
  readonly rejected: string;
  /** src/bpf/test-ringbuf.bpf.c: emit_getppid, ring buffer `events`, arrays `settings` and `stats`. */
  readonly ringbuf: string;
  /** src/__fixtures__/bpf/map-in-map.bpf.c: read_policy, maps of maps `policies` and `routes`, array `seen`. */
  readonly mapInMap: string;
  /** src/bpf/test-glob.bpf.c: run_glob, a syscall program that runs glob.h's glob_match on its context. */
  readonly glob: string;
}

/** Compiles the test programs into a fresh directory that any user may read. */
export function compileTestPrograms(): TestPrograms {
  const directory = mkdtempSync(join(tmpdir(), 'bulwark-bpf-'));
  chmodSync(directory, 0o755);
  const compile = (source: string): string => {
    const output = join(directory, `${source.split('/').at(-1)!.slice(0, -'.c'.length)}.o`);
    compileBpf(fileURLToPath(new URL(source, import.meta.url)), output);
    return output;
  };
  return {
    directory,
    tracepoint: compile('../bpf/test-tracepoint.bpf.c'),
    rejected: compile('bpf/rejected.bpf.c'),
    ringbuf: compile('../bpf/test-ringbuf.bpf.c'),
    mapInMap: compile('bpf/map-in-map.bpf.c'),
    glob: compile('../bpf/test-glob.bpf.c'),
    [Symbol.dispose]: () => rmSync(directory, { recursive: true, force: true }),
  };
}

/**
 * Mounts tracefs at /sys/kernel/tracing unless libbpf can already read
 * tracepoint ids; disposing unmounts what this mounted.
 */
export function ensureTracefs(): Disposable {
  const root = existsSync('/sys/kernel/debug/tracing') ? '/sys/kernel/debug/tracing' : '/sys/kernel/tracing';
  if (existsSync(join(root, 'events'))) return { [Symbol.dispose]: () => undefined };
  execFileSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing']);
  return { [Symbol.dispose]: () => execFileSync('umount', ['/sys/kernel/tracing']) };
}

export interface BpfFileSystem extends Disposable {
  readonly path: string;
}

/** A BPF file system of this test's own, in a temporary directory. */
export function mountBpffs(): BpfFileSystem {
  const path = mkdtempSync(join(tmpdir(), 'bulwark-bpffs-'));
  execFileSync('mount', ['-t', 'bpf', 'bpf', path]);
  return {
    path,
    [Symbol.dispose]: () => {
      execFileSync('umount', [path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/**
 * Runs a Node process that reads process.ppid `times` times (one getppid(2)
 * each; Node makes no other getppid calls) and returns its pid once it exited.
 */
export async function callGetppid(times: number): Promise<number> {
  const script = `for (let i = 0; i < ${times}; i++) process.ppid; process.stdout.write(String(process.pid));`;
  const { stdout } = await execute(process.execPath, ['--eval', script], { encoding: 'utf8' });
  return Number(stdout);
}

export interface GetppidCaller extends AsyncDisposable {
  /** The child's pid, known before it makes any call: a test sets it as the program's target first. */
  readonly pid: number;
  /** Makes the child call getppid(2) `times` times; resolves once it has. */
  call(times: number): Promise<void>;
}

/**
 * Starts a Node process that waits for orders on stdin and, for each,
 * reads process.ppid the number of times asked (one getppid(2) each; Node
 * makes no other getppid calls).
 */
export async function startGetppidCaller(): Promise<GetppidCaller> {
  const script = `
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  for (let end = pending.indexOf('\\n'); end !== -1; end = pending.indexOf('\\n')) {
    const times = Number(pending.slice(0, end));
    pending = pending.slice(end + 1);
    for (let i = 0; i < times; i++) process.ppid;
    process.stdout.write('done\\n');
  }
});
process.stdin.on('end', () => process.exit(0));
process.stdout.write('ready\\n');`;
  const child = spawn(process.execPath, ['--eval', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdout.setEncoding('utf8');
  const lines: string[] = [];
  let waiting: (() => void) | undefined;
  let buffered = '';
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
      lines.push(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
    }
    waiting?.();
  });
  child.on('exit', () => waiting?.());
  const nextLine = async (): Promise<string> => {
    while (lines.length === 0) {
      if (child.exitCode !== null) throw new Error(`getppid caller exited with ${child.exitCode}`);
      await new Promise<void>((resolve) => (waiting = resolve));
    }
    return lines.shift()!;
  };
  if ((await nextLine()) !== 'ready') throw new Error('getppid caller did not start');
  return {
    pid: child.pid!,
    async call(times) {
      child.stdin.write(`${times}\n`);
      if ((await nextLine()) !== 'done') throw new Error('getppid caller failed');
    },
    async [Symbol.asyncDispose]() {
      child.stdin.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}
