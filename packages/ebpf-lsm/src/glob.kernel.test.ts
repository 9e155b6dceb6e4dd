/**
 * Kernel tier: glob.h on the guest's Linux 6.1, the kernel the enforcer
 * runs on (its verifier checks bpf_loop callbacks differently from the
 * host's). The same program and comparison as glob.host.test.ts, on fewer
 * cases: JavaScript runs slowly under emulation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestPrograms, compileTestPrograms } from './__fixtures__/bpf.js';
import { globCases, globCorpus, longGlobCorpus } from './__fixtures__/glob-corpus.js';
import { BPF_PROG_TYPE_SYSCALL, compareGlob, kernelGlob } from './__fixtures__/glob-kernel.js';
import { GLOB_PATH_SIZE } from './layout.js';
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

describe('glob_match on the guest kernel', () => {
  it('passes the verifier', () => {
    const info = program.info;
    expect(info.type).toBe(BPF_PROG_TYPE_SYSCALL);
    expect(info.verifiedInstructions).toBeGreaterThan(50);
    expect(info.verifiedInstructions).toBeLessThan(5000);
    console.info(`glob: verifier processed ${info.verifiedInstructions} instructions; ${info.translatedInstructions} after its rewrites`);
  });

  it('agrees with globMatch on the hand-written cases, 1,000 random pairs and 200 long ones', () => {
    for (const [pattern, path, matches] of globCases) expect(kernelGlob(program, pattern, path), `${pattern} against ${path}`).toBe(matches ? 'match' : 'no-match');
    compareGlob(program, globCorpus(0x6c6f62, 1000));
    compareGlob(program, longGlobCorpus(0x10ad, 200));
  });

  it('is undecided past the step bound', () => {
    expect(kernelGlob(program, `/*${'a'.repeat(16)}b`, `/${'a'.repeat(GLOB_PATH_SIZE - 1)}`)).toBe('undecided');
  });
});
