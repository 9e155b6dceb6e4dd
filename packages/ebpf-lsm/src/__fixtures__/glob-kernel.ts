/**
 * Runs glob.h's glob_match in the kernel through src/bpf/test-glob.bpf.c
 * (a syscall program run with BPF_PROG_TEST_RUN) and compares it with
 * globMatch, for the host and kernel tiers.
 */
import { expect } from 'vitest';
import { type GlobMatchResult, globMatch } from '../glob.js';
import { GLOB_PATH_SIZE, GLOB_PATTERN_SIZE } from '../layout.js';
import type { Program } from '../program.js';
import type { GlobCase } from './glob-corpus.js';

/** struct glob_test in test-glob.bpf.c: u32 pattern_len, u32 path_len, s32 result, u32 reserved, the pattern, the path. */
export const headerSize = 16;
export const contextSize = headerSize + GLOB_PATTERN_SIZE + GLOB_PATH_SIZE;
const results: Record<number, GlobMatchResult> = { 1: 'match', 0: 'no-match', [-1]: 'undecided' };
export const BPF_PROG_TYPE_SYSCALL = 31;

export function kernelGlob(program: Program, pattern: string | Uint8Array, path: string | Uint8Array): GlobMatchResult {
  const patternBytes = typeof pattern === 'string' ? Buffer.from(pattern) : pattern;
  const pathBytes = typeof path === 'string' ? Buffer.from(path) : path;
  const context = Buffer.alloc(contextSize);
  context.writeUInt32LE(patternBytes.length, 0);
  context.writeUInt32LE(pathBytes.length, 4);
  context.writeInt32LE(-99, 8);
  context.set(patternBytes.subarray(0, GLOB_PATTERN_SIZE), headerSize);
  context.set(pathBytes.subarray(0, GLOB_PATH_SIZE), headerSize + GLOB_PATTERN_SIZE);
  const run = program.testRun(context);
  // The program writes its result into the context too, and leaves the rest as it was.
  if (run.context.readInt32LE(8) !== run.returnValue || !run.context.subarray(headerSize).equals(context.subarray(headerSize))) {
    expect.fail(`run_glob returned ${run.returnValue} but left ${run.context.readInt32LE(8)} in its context, or changed its inputs`);
  }
  const result = results[run.returnValue];
  if (result === undefined) throw new Error(`run_glob returned ${run.returnValue}`);
  return result;
}

/** Runs every case in both matchers; returns the counts of each result, failing on the first difference. */
export function compareGlob(program: Program, cases: readonly GlobCase[]): Record<GlobMatchResult, number> {
  const counts: Record<GlobMatchResult, number> = { match: 0, 'no-match': 0, undecided: 0 };
  for (const { pattern, path } of cases) {
    const expected = globMatch(pattern, path);
    const actual = kernelGlob(program, pattern, path);
    if (actual !== expected) expect.fail(`${JSON.stringify(pattern)} against ${JSON.stringify(path)}: the kernel says ${actual}, globMatch ${expected}`);
    counts[actual]++;
  }
  return counts;
}

