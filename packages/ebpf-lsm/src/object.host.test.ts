import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestPrograms, compileTestPrograms } from './__fixtures__/bpf.js';
import { type ReportedError, asNobody, reportErrorScript, runChild } from './__fixtures__/child.js';
import { createLibbpfBinding } from './binding.js';
import type { VerifierError } from './errors.js';
import { openObject } from './object.js';
import { caught } from './__fixtures__/caught.js';

let programs: TestPrograms;

beforeAll(() => {
  programs = compileTestPrograms();
});

afterAll(() => {
  programs[Symbol.dispose]();
});

describe('objects on the real kernel', () => {
  it('uses libbpf 1.x', () => {
    expect(createLibbpfBinding().version.major).toBeGreaterThanOrEqual(1);
  });

  it('opens, lists and loads the test object from a file', () => {
    using open = openObject(programs.tracepoint);
    expect(open.name).toBe('test-tracepoint');
    expect(open.programNames()).toEqual(['count_getppid']);
    expect(open.mapNames().sort()).toEqual(['counts', 'settings']);
    using loaded = open.load();
    const program = loaded.program('count_getppid');
    expect(program.section).toBe('tracepoint/syscalls/sys_enter_getppid');
    expect(program.fd).toBeGreaterThan(2);
    expect(loaded.map('counts').info).toEqual({
      name: 'counts',
      type: 'hash',
      typeId: 1,
      keySize: 4,
      valueSize: 8,
      maxEntries: 1024,
      perCpu: false,
      valueBufferSize: 8,
    });
    expect(loaded.map('settings').info).toMatchObject({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 4 });
  });

  it('opens an object from its bytes, under a name', () => {
    using open = openObject(readFileSync(programs.tracepoint), { name: 'from_memory' });
    expect(open.name).toBe('from_memory');
    using loaded = open.load();
    expect(loaded.program('count_getppid').name).toBe('count_getppid');
  });

  it("rejects a program with the verifier's log in the error", () => {
    const messages: string[] = [];
    const open = openObject(programs.rejected, { onLog: (entry) => messages.push(entry.message) });
    const error = caught(() => open.load()) as VerifierError;
    expect(error).toMatchObject({ name: 'VerifierError', code: 'ERR_SYSTEM', program: 'read_unchecked', isPermission: false });
    expect(error.message).toMatch(/^load object rejected: program read_unchecked rejected by the verifier: R0 invalid mem access 'map_value_or_null'$/);
    expect(error.verifierLog).toContain('call bpf_map_lookup_elem');
    expect(error.verifierLog).toMatch(/processed \d+ insns/);
    expect(error.logText).toContain('-- BEGIN PROG LOAD LOG --');
    expect(messages.some((message) => message.includes("R0 invalid mem access 'map_value_or_null'"))).toBe(true);
    // The failed object was closed.
    expect(() => open.load()).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
  });

  it('reports a missing file and a file that is not an object', () => {
    expect(caught(() => openObject(`${programs.directory}/missing.bpf.o`))).toMatchObject({
      name: 'LibbpfError',
      errno: 'ENOENT',
      message: expect.stringMatching(/^open object: no such file or directory \(.*missing\.bpf\.o\); libbpf: elf: failed to open/) as unknown,
    });
    expect(caught(() => openObject('/etc/hostname'))).toMatchObject({ errno: 'LIBBPF_ERRNO__FORMAT', message: expect.stringContaining('not a valid bpf object file') as unknown });
    expect(caught(() => openObject(Buffer.from('not an elf file')))).toMatchObject({ errno: 'LIBBPF_ERRNO__FORMAT' });
  });

  it('names the maps it has when one is missing', () => {
    using loaded = openObject(programs.tracepoint).load();
    expect(caught(() => loaded.map('nope'))).toMatchObject({
      code: 'ERR_VALIDATION',
      message: expect.stringMatching(/^object test-tracepoint: maps: no map named 'nope' \(has (settings, counts|counts, settings)\)$/) as unknown,
    });
    expect(caught(() => loaded.program('nope'))).toMatchObject({
      code: 'ERR_VALIDATION',
      message: "object test-tracepoint: programs: no program named 'nope' (has count_getppid)",
    });
  });

  it('refuses closed handles before they reach libbpf', () => {
    const loaded = openObject(programs.tracepoint).load();
    const map = loaded.map('counts');
    const program = loaded.program('count_getppid');
    loaded.close();
    expect(caught(() => map.lookup(Buffer.alloc(4)))).toMatchObject({
      name: 'StateError',
      code: 'ERR_STATE',
      message: 'look up in map counts: object test-tracepoint is closed',
    });
    expect(caught(() => program.attachTracepoint('syscalls', 'sys_enter_getppid'))).toMatchObject({ code: 'ERR_STATE' });
    expect(caught(() => loaded.map('settings'))).toMatchObject({ code: 'ERR_STATE' });
  });

  it('gives an unprivileged caller a permission error, not "not supported"', async () => {
    const script = reportErrorScript(`ebpf.openObject(${JSON.stringify(programs.tracepoint)}).load();`);
    const { error } = await runChild<{ error: ReportedError | null }>(script, asNobody);
    expect(error).toMatchObject({ name: 'LibbpfError', code: 'ERR_SYSTEM', errno: 'EPERM', isPermission: true });
    // libbpf first tries a trivial program, which fails for want of CAP_BPF.
    expect(error?.message).toMatch(/^load object test-tracepoint: operation not permitted; libbpf: .*Operation not permitted/);
  });
});
