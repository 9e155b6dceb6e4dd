/**
 * Host-tier helpers: the test programs compiled from their current sources
 * (as the build does, see scripts/build-bpf.ts), tracefs for tracepoints,
 * a private BPF file system for pins, and a child process that calls
 * getppid(2) an exact number of times.
 */
import { execFile, execFileSync } from 'node:child_process';
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
}

/** Compiles both test programs into a fresh directory that any user may read. */
export function compileTestPrograms(): TestPrograms {
  const directory = mkdtempSync(join(tmpdir(), 'bulwark-bpf-'));
  chmodSync(directory, 0o755);
  const tracepoint = join(directory, 'test-tracepoint.bpf.o');
  const rejected = join(directory, 'rejected.bpf.o');
  compileBpf(fileURLToPath(new URL('../bpf/test-tracepoint.bpf.c', import.meta.url)), tracepoint);
  compileBpf(fileURLToPath(new URL('bpf/rejected.bpf.c', import.meta.url)), rejected);
  return {
    directory,
    tracepoint,
    rejected,
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
