/**
 * glob.h's glob_match in the running kernel against globMatch: the same
 * hand-written cases and random corpora as the unit tests, plus long
 * inputs at the kernel's limits, through src/bpf/test-glob.bpf.c (a
 * syscall program run with BPF_PROG_TEST_RUN).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestPrograms, compileTestPrograms } from './__fixtures__/bpf.js';
import { globCases, globCorpus, longGlobCorpus } from './__fixtures__/glob-corpus.js';
import { BPF_PROG_TYPE_SYSCALL, compareGlob, contextSize, kernelGlob } from './__fixtures__/glob-kernel.js';
import { globMatch, runGlob } from './glob.js';
import { GLOB_MAX_STEPS, GLOB_PATH_SIZE, GLOB_PATTERN_SIZE } from './layout.js';
import { type LoadedObject, openObject } from './object.js';
import type { Program } from './program.js';

let programs: TestPrograms;
let loaded: LoadedObject;
let program: Program;

beforeAll(() => {
  programs = compileTestPrograms();
  loaded = openObject(programs.glob).load();
  program = loaded.program('run_glob');
});

afterAll(() => {
  loaded.close();
  programs[Symbol.dispose]();
});

describe('glob_match in the kernel', () => {
  it('passes the verifier as a syscall program and says how much it checked', () => {
    const info = program.info;
    expect(info.type).toBe(BPF_PROG_TYPE_SYSCALL);
    // bpf_loop: the step is checked on its own, so the count stays small whatever GLOB_MAX_STEPS is.
    expect(info.verifiedInstructions).toBeGreaterThan(50);
    expect(info.verifiedInstructions).toBeLessThan(5000);
    console.info(`glob: verifier processed ${info.verifiedInstructions} instructions; ${info.translatedInstructions} after its rewrites`);
  });

  it('decides the hand-written cases as globMatch does', () => {
    for (const [pattern, path, matches] of globCases) {
      expect(kernelGlob(program, pattern, path), `${pattern} against ${path}`).toBe(matches ? 'match' : 'no-match');
    }
  });

  it('agrees with globMatch on 5,000 random valid patterns and paths', () => {
    const counts = compareGlob(program, globCorpus(0x6c6f62, 5000));
    expect(counts.match).toBeGreaterThan(1000);
    expect(counts['no-match']).toBeGreaterThan(1000);
  });

  it('agrees with globMatch on 3,000 random patterns that validateGlob refuses or accepts', () => {
    compareGlob(program, globCorpus(0x0dd, 3000, { validOnly: false }));
  });

  it('agrees with globMatch on 2,000 patterns of 200 to 255 bytes and paths of 3,900 to 4,096 bytes', () => {
    const corpus = longGlobCorpus(0x10ad, 2000);
    expect(Math.max(...corpus.map(({ path }) => path.length))).toBeGreaterThan(GLOB_PATH_SIZE - 10);
    const counts = compareGlob(program, corpus);
    expect(counts.match).toBeGreaterThan(200);
    expect(counts['no-match']).toBeGreaterThan(200);
  });

  it('gives up where globMatch does: undecided past GLOB_MAX_STEPS, and on lengths beyond its buffers', () => {
    const path = Buffer.from(`/${'a'.repeat(GLOB_PATH_SIZE - 1)}`);
    // A star that restarts before each run of k a's then a b: 65,418 steps for k = 15 (decided), more for 16.
    const near = [5, 10, 15, 16, 253].map((k) => `/*${'a'.repeat(k)}b`);
    const steps = near.map((pattern) => runGlob(Buffer.from(pattern), path).steps);
    expect(steps[2]).toBeGreaterThan(GLOB_MAX_STEPS - 200);
    expect(globMatch(near[2]!, path)).toBe('no-match');
    expect(steps[3]).toBe(GLOB_MAX_STEPS);
    for (const pattern of near) expect(kernelGlob(program, pattern, path)).toBe(globMatch(pattern, path));
    const started = performance.now();
    expect(kernelGlob(program, near[3]!, path)).toBe('undecided');
    console.info(`glob: ${GLOB_MAX_STEPS} steps (undecided) took ${(performance.now() - started).toFixed(2)} ms in a test run, system call included`);
    // A path of the whole buffer, GLOB_PATH_SIZE bytes.
    const whole = Buffer.from(`/${'a/'.repeat(2046)}bbb`);
    expect(whole.length).toBe(GLOB_PATH_SIZE);
    expect(kernelGlob(program, '/**/*b', whole)).toBe('match');
    expect(kernelGlob(program, '/**/*a', whole)).toBe('no-match');
    // A 256-byte pattern (more than validateGlob allows, as much as the buffer holds) still runs.
    const full = `/**/${'x'.repeat(GLOB_PATTERN_SIZE - 5)}`;
    expect(kernelGlob(program, full, `/a/${'x'.repeat(GLOB_PATTERN_SIZE - 5)}`)).toBe('match');
    // Lengths beyond the buffers (the context cannot carry the bytes, only the length).
    const context = Buffer.alloc(contextSize);
    context.writeUInt32LE(1, 0);
    context.writeUInt32LE(GLOB_PATH_SIZE + 1, 4);
    expect(program.testRun(context).returnValue).toBe(-1);
    context.writeUInt32LE(GLOB_PATTERN_SIZE + 1, 0);
    context.writeUInt32LE(1, 4);
    expect(program.testRun(context).returnValue).toBe(-1);
  });

  it('treats NUL and bytes beyond ASCII as ordinary bytes', () => {
    const cases: [Uint8Array, Uint8Array][] = [
      [Buffer.from('/a/?'), Buffer.from([0x2f, 0x61, 0x2f, 0x00])],
      [Buffer.from('/a/*'), Buffer.from([0x2f, 0x61, 0x2f, 0xc3, 0xa9, 0x00, 0xff])],
      [Buffer.from('/a/??'), Buffer.from('/a/é')],
      [Buffer.from([0x2f, 0x00, 0x2a]), Buffer.from([0x2f, 0x00, 0x01])],
    ];
    for (const [pattern, path] of cases) {
      expect(kernelGlob(program, pattern, path)).toBe('match');
      expect(globMatch(pattern, path)).toBe('match');
    }
  });
});
