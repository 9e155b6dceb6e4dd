import { describe, expect, it } from 'vitest';
import { EINVAL, EPERM, type FakeObjectSpec, FakeBinding } from './__fixtures__/fake-binding.js';
import { openObject } from './object.js';
import { caught } from './__fixtures__/caught.js';

const path = '/objects/test-syscall.bpf.o';

/** A syscall program that adds its context's first two u32s into the third and returns their difference. */
const syscallObject: FakeObjectSpec = {
  name: 'test_syscall',
  programs: [
    {
      name: 'add',
      section: 'syscall',
      type: 31,
      run(context) {
        context.writeUInt32LE(context.readUInt32LE(0) + context.readUInt32LE(4), 8);
        return context.readUInt32LE(0) - context.readUInt32LE(4);
      },
    },
    { name: 'trace', section: 'tracepoint/syscalls/sys_enter_getppid' },
  ],
  maps: [],
};

function load(binding = new FakeBinding()) {
  binding.addObject(path, syscallObject);
  const loaded = openObject(path, { binding }).load();
  return { binding, loaded, program: loaded.program('add') };
}

describe('Program.testRun', () => {
  it('runs the program with a context and returns what it left there, without changing the input', () => {
    const { program } = load();
    const context = Buffer.alloc(12);
    context.writeUInt32LE(5, 0);
    context.writeUInt32LE(7, 4);
    const run = program.testRun(context);
    expect(run.returnValue).toBe(-2); // retval is a u32; -2 as the program meant it
    expect(run.context.readUInt32LE(8)).toBe(12);
    expect(run.duration).toBe(0);
    expect(context.readUInt32LE(8)).toBe(0);
  });

  it('maps a failure to a LibbpfError with the operation and errno', () => {
    const { binding, program } = load();
    binding.failNext('testRun', EINVAL);
    expect(caught(() => program.testRun(Buffer.alloc(4)))).toMatchObject({
      name: 'LibbpfError',
      code: 'ERR_SYSTEM',
      errno: 'EINVAL',
      functionName: 'bpf_prog_test_run_opts',
      message: 'test run program add: invalid argument',
    });
    binding.failNext('testRun', EPERM);
    expect(caught(() => program.testRun())).toMatchObject({ errno: 'EPERM', isPermission: true });
  });

  it('reports a type the kernel cannot test-run as its errno', () => {
    const { loaded } = load();
    expect(caught(() => loaded.program('trace').testRun())).toMatchObject({ name: 'LibbpfError', errno: 'ENOTSUPP' });
  });

  it('refuses a context larger than the kernel takes before calling libbpf', () => {
    const { binding, program } = load();
    expect(caught(() => program.testRun(Buffer.alloc(0x10000)))).toMatchObject({
      code: 'ERR_VALIDATION',
      message: 'test run program add: context: expected at most 65535 bytes, got 65536 bytes',
    });
    expect(binding.calls.filter((call) => call.startsWith('testRun'))).toEqual([]);
  });

  it('refuses a closed object before reaching libbpf', () => {
    const { binding, loaded, program } = load();
    loaded.close();
    expect(caught(() => program.testRun())).toMatchObject({
      name: 'StateError',
      code: 'ERR_STATE',
      message: 'test run program add: object test_syscall is closed',
    });
    expect(caught(() => program.info)).toMatchObject({ code: 'ERR_STATE', message: 'get info of program add: object test_syscall is closed' });
    expect(binding.calls.filter((call) => call.startsWith('testRun') || call.startsWith('programInfo'))).toEqual([]);
  });
});

describe('Program.info', () => {
  it("reads the kernel's description of the program", () => {
    const { program } = load();
    expect(program.info).toEqual({ type: 31, id: expect.any(Number) as unknown, name: 'add', translatedInstructions: 8, verifiedInstructions: 10, runTimeNs: 0, runCount: 0 });
  });

  it('maps a failure', () => {
    const { binding, program } = load();
    binding.failNext('programInfo', EPERM);
    expect(caught(() => program.info)).toMatchObject({ errno: 'EPERM', message: 'get info of program add: operation not permitted' });
  });
});
