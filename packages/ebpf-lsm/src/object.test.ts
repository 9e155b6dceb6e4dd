import { BulwarkError } from '@bulwark/errors';
import { describe, expect, it } from 'vitest';
import {
  EACCES,
  EPERM,
  FakeBinding,
  LIBBPF_ERRNO__FORMAT,
  LIBBPF_ERRNO__PROGTYPE,
  counterObject,
  verifierRejectionLog,
} from './__fixtures__/fake-binding.js';
import type { LogEntry } from './errors.js';
import { LoadedObject, OpenObject, openObject } from './object.js';
import { caught } from './__fixtures__/caught.js';

const path = '/objects/test-tracepoint.bpf.o';

function setup(): { binding: FakeBinding; open: OpenObject } {
  const binding = new FakeBinding().addObject(path);
  return { binding, open: openObject(path, { binding }) };
}

describe('openObject', () => {
  it('opens a file and lists its programs and maps before load', () => {
    const { binding, open } = setup();
    expect(open).toBeInstanceOf(OpenObject);
    expect(open.name).toBe('test_tracepoint');
    expect(open.programNames()).toEqual(['count_getppid']);
    expect(open.mapNames()).toEqual(['settings', 'counts', 'per_cpu']);
    expect(binding.calls).not.toContain('loadObject test_tracepoint');
  });

  it('opens bytes, with a name given', () => {
    const binding = new FakeBinding().addObject('object bytes');
    const open = openObject(Buffer.from('object bytes'), { binding, name: 'mine' });
    expect(open.name).toBe('mine');
  });

  it('reports a missing file as a LibbpfError with the path and libbpf warning', () => {
    const binding = new FakeBinding();
    const error = caught(() => openObject('/nowhere/x.bpf.o', { binding }));
    expect(error).toMatchObject({
      name: 'LibbpfError',
      code: 'ERR_SYSTEM',
      errno: 'ENOENT',
      path: '/nowhere/x.bpf.o',
      functionName: 'bpf_object__open_file',
      isPermission: false,
    });
    expect((error as Error).message).toBe(
      'open object: no such file or directory (/nowhere/x.bpf.o); libbpf: elf: failed to open /nowhere/x.bpf.o: No such file or directory',
    );
  });

  it("names libbpf's own error numbers", () => {
    const binding = new FakeBinding();
    const error = caught(() => openObject(Buffer.from('not elf'), { binding }));
    expect(error).toMatchObject({ errno: 'LIBBPF_ERRNO__FORMAT', functionName: 'bpf_object__open_mem' });
    expect((error as Error).message).toBe('open object from memory: not a valid bpf object file; libbpf: elf: not a proper ELF object');
    expect(LIBBPF_ERRNO__FORMAT).toBe(4001);
  });

  it('rejects a source that is neither a path nor bytes, and empty names', () => {
    const binding = new FakeBinding();
    expect(() => openObject(42 as unknown as string, { binding })).toThrow(
      expect.objectContaining({ code: 'ERR_VALIDATION', message: 'open object: source: expected a path or the bytes of an object file' }),
    );
    expect(() => openObject('', { binding })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
    expect(() => openObject(path, { binding, name: '' })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
    expect(binding.calls).toEqual([]);
  });
});

describe('OpenObject.load', () => {
  it('returns a LoadedObject that owns the object', () => {
    const { binding, open } = setup();
    const loaded = open.load();
    expect(loaded).toBeInstanceOf(LoadedObject);
    expect(loaded.name).toBe('test_tracepoint');
    open.close(); // the LoadedObject owns it now
    expect(binding.openObjects).toBe(1);
    loaded.close();
    expect(binding.openObjects).toBe(0);
    expect(loaded.closed).toBe(true);
  });

  it('reports EPERM as a permission SystemError, never as not supported, and closes the object', () => {
    const { binding, open } = setup();
    binding.failNext('loadObject', EPERM, [
      { level: 'warn', message: "libbpf: map 'counts': failed to create: Operation not permitted(-1)" },
      { level: 'warn', message: "libbpf: failed to load object 'test_tracepoint'" },
    ]);
    const error = caught(() => open.load());
    expect(BulwarkError.is(error, 'ERR_SYSTEM')).toBe(true);
    expect(BulwarkError.is(error, 'ERR_NOT_SUPPORTED')).toBe(false);
    expect(error).toMatchObject({ name: 'LibbpfError', errno: 'EPERM', isPermission: true, functionName: 'bpf_object__load' });
    expect((error as Error).message).toBe(
      "load object test_tracepoint: operation not permitted; libbpf: map 'counts': failed to create: Operation not permitted(-1)",
    );
    expect((error as { logText: string }).logText).toContain("failed to load object 'test_tracepoint'");
    expect(binding.openObjects).toBe(0);
    expect(() => open.load()).toThrow(expect.objectContaining({ code: 'ERR_STATE', message: 'load object test_tracepoint: object test_tracepoint is closed' }));
  });

  it("carries the verifier's log in a VerifierError that is not a permission failure", () => {
    const { binding, open } = setup();
    binding.failNext('loadObject', EACCES, verifierRejectionLog);
    const error = caught(() => open.load());
    expect(error).toMatchObject({ name: 'VerifierError', code: 'ERR_SYSTEM', errno: 'EACCES', isPermission: false, program: 'read_unchecked' });
    expect((error as Error).message).toBe(
      "load object test_tracepoint: program read_unchecked rejected by the verifier: R0 invalid mem access 'map_value_or_null'",
    );
    const { verifierLog } = error as { verifierLog: string };
    expect(verifierLog).toContain('7: (79) r1 = *(u64 *)(r0 +0)');
    expect(verifierLog).not.toContain('BEGIN PROG LOAD LOG');
    expect(binding.openObjects).toBe(0);
  });

  it('keeps EACCES without a verifier log a permission failure (another LSM said no)', () => {
    const { binding, open } = setup();
    binding.failNext('loadObject', EACCES);
    expect(caught(() => open.load())).toMatchObject({ name: 'LibbpfError', errno: 'EACCES', isPermission: true });
  });

  it("reports libbpf's unsupported program type as not supported by the kernel", () => {
    const { binding, open } = setup();
    binding.failNext('loadObject', LIBBPF_ERRNO__PROGTYPE);
    expect(caught(() => open.load())).toMatchObject({
      name: 'NotSupportedError',
      code: 'ERR_NOT_SUPPORTED',
      reason: 'kernel',
      message: 'load object test_tracepoint: bpf program type not supported: the kernel lacks this program type',
    });
  });

  it('refuses a second load and every use of the open object after load', () => {
    const { open } = setup();
    open.load();
    const detail = 'object test_tracepoint is loaded; use the object that load() returned';
    expect(() => open.load()).toThrow(expect.objectContaining({ name: 'StateError', code: 'ERR_STATE', message: `load object test_tracepoint: ${detail}` }));
    expect(() => open.programNames()).toThrow(expect.objectContaining({ code: 'ERR_STATE', message: `list programs: ${detail}` }));
    expect(() => open.mapNames()).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
  });

  it('refuses to load a closed object', () => {
    const { binding, open } = setup();
    open.close();
    open.close();
    expect(binding.openObjects).toBe(0);
    expect(() => open.load()).toThrow(expect.objectContaining({ code: 'ERR_STATE', message: 'load object test_tracepoint: object test_tracepoint is closed' }));
  });

  it('closes through using', () => {
    const binding = new FakeBinding().addObject(path);
    {
      using open = openObject(path, { binding });
      expect(open.programNames()).toHaveLength(1);
    }
    expect(binding.openObjects).toBe(0);
    {
      using open = openObject(path, { binding });
      using loaded = open.load();
      expect(loaded.closed).toBe(false);
    }
    expect(binding.openObjects).toBe(0);
  });

  it("sends libbpf's messages to onLog, up to logLevel", () => {
    const binding = new FakeBinding().addObject(path);
    const info: LogEntry = { level: 'info', message: 'libbpf: info line' };
    const warning: LogEntry = { level: 'warn', message: 'libbpf: warning line' };
    const debug: LogEntry = { level: 'debug', message: 'libbpf: debug line' };

    const all: LogEntry[] = [];
    binding.failNext('loadObject', EPERM, [debug, info, warning]);
    expect(() => openObject(path, { binding, onLog: (entry) => all.push(entry), logLevel: 'debug' }).load()).toThrow();
    expect(all).toEqual([{ level: 'debug', message: `libbpf: loading object from ${path}` }, debug, info, warning]);

    const some: LogEntry[] = [];
    binding.failNext('loadObject', EPERM, [debug, info, warning]);
    const error = caught(() => openObject(path, { binding, onLog: (entry) => some.push(entry) }).load());
    expect(some).toEqual([info, warning]);
    // The error carries warnings and information, never debug output.
    expect((error as { log: LogEntry[] }).log).toEqual([info, warning]);

    const warnings: LogEntry[] = [];
    binding.failNext('loadObject', EPERM, [debug, info, warning]);
    expect(() => openObject(path, { binding, onLog: (entry) => warnings.push(entry), logLevel: 'warn' }).load()).toThrow();
    expect(warnings).toEqual([warning]);
  });
});

describe('LoadedObject', () => {
  it('finds programs and maps by name, the same handle each time', () => {
    const { open } = setup();
    const loaded = open.load();
    const program = loaded.program('count_getppid');
    expect(program.name).toBe('count_getppid');
    expect(program.section).toBe('tracepoint/syscalls/sys_enter_getppid');
    expect(loaded.program('count_getppid')).toBe(program);
    expect(loaded.map('counts')).toBe(loaded.map('counts'));
    expect(loaded.programs().map((each) => each.name)).toEqual(['count_getppid']);
    expect(loaded.maps().map((each) => each.name)).toEqual(['settings', 'counts', 'per_cpu']);
  });

  it('names what it has when a program or map is missing', () => {
    const { open } = setup();
    const loaded = open.load();
    expect(() => loaded.map('nope')).toThrow(
      expect.objectContaining({
        name: 'ValidationError',
        code: 'ERR_VALIDATION',
        message: "object test_tracepoint: maps: no map named 'nope' (has settings, counts, per_cpu)",
      }),
    );
    expect(() => loaded.program('nope')).toThrow(
      expect.objectContaining({ message: "object test_tracepoint: programs: no program named 'nope' (has count_getppid)" }),
    );
  });

  it('refuses every use after close, for itself and its programs and maps', () => {
    const binding = new FakeBinding().addObject(path, counterObject);
    const loaded = openObject(path, { binding }).load();
    const program = loaded.program('count_getppid');
    const map = loaded.map('counts');
    loaded.close();
    loaded.close();
    const closed = 'object test_tracepoint is closed';
    expect(() => loaded.program('count_getppid')).toThrow(expect.objectContaining({ code: 'ERR_STATE', message: `get program count_getppid: ${closed}` }));
    expect(() => loaded.map('counts')).toThrow(expect.objectContaining({ code: 'ERR_STATE', message: `get map counts: ${closed}` }));
    expect(() => loaded.maps()).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(() => program.attachTracepoint('syscalls', 'sys_enter_getppid')).toThrow(
      expect.objectContaining({ code: 'ERR_STATE', message: `attach tracepoint syscalls/sys_enter_getppid: ${closed}` }),
    );
    expect(() => program.attach()).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(() => program.fd).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(() => map.lookup(Buffer.alloc(4))).toThrow(expect.objectContaining({ code: 'ERR_STATE', message: `look up in map counts: ${closed}` }));
    expect(() => map.update(Buffer.alloc(4), Buffer.alloc(8))).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(() => map.delete(Buffer.alloc(4))).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(() => [...map.keys()]).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(() => map.fd).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
  });
});
