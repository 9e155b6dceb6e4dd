import { describe, expect, it } from 'vitest';
import { EPERM, FakeBinding } from './__fixtures__/fake-binding.js';
import { Link } from './link.js';
import { openObject } from './object.js';
import type { Program } from './program.js';
import { caught } from './__fixtures__/caught.js';

const path = '/objects/test-tracepoint.bpf.o';

function loadProgram(binding = new FakeBinding()): { binding: FakeBinding; program: Program } {
  binding.addObject(path);
  return { binding, program: openObject(path, { binding }).load().program('count_getppid') };
}

describe('Program', () => {
  it('attaches to a tracepoint and by its section', () => {
    const { binding, program } = loadProgram();
    const link = program.attachTracepoint('syscalls', 'sys_enter_getppid');
    expect(link.description).toBe('tracepoint syscalls/sys_enter_getppid');
    const auto = program.attach();
    expect(auto.description).toBe('program count_getppid (tracepoint/syscalls/sys_enter_getppid)');
    expect(binding.liveLinks).toBe(2);
    expect(program.fd).toBeGreaterThan(0);
  });

  it('reports an attach EPERM (BPF LSM not active) as a permission SystemError, never as not supported', () => {
    const { binding, program } = loadProgram();
    binding.failNext('attachProgram', EPERM, [{ level: 'warn', message: "libbpf: prog 'count_getppid': failed to attach: Operation not permitted" }]);
    const error = caught(() => program.attach());
    expect(error).toMatchObject({ name: 'LibbpfError', code: 'ERR_SYSTEM', errno: 'EPERM', isPermission: true });
    expect((error as Error).message).toBe(
      "attach program count_getppid: operation not permitted; libbpf: prog 'count_getppid': failed to attach: Operation not permitted",
    );
  });

  it('says tracefs is missing when a tracepoint id cannot be read without it', () => {
    const { binding, program } = loadProgram();
    binding.tracefsMounted = false;
    const error = caught(() => program.attachTracepoint('syscalls', 'sys_enter_getppid'));
    expect(error).toMatchObject({ name: 'NotSupportedError', code: 'ERR_NOT_SUPPORTED', reason: 'config', feature: 'tracepoints' });
    expect((error as Error).message).toBe(
      'attach tracepoint syscalls/sys_enter_getppid: tracepoints not supported: tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing)',
    );
    expect((error as Error).cause).toMatchObject({ errno: 'ENOENT' });
  });

  it('keeps ENOENT for a missing tracepoint when tracefs is there', () => {
    const { binding, program } = loadProgram();
    binding.failNext('attachTracepoint', 2);
    expect(caught(() => program.attachTracepoint('syscalls', 'sys_enter_nothing'))).toMatchObject({ name: 'LibbpfError', errno: 'ENOENT' });
  });

  it('checks tracepoint names before calling libbpf', () => {
    const { binding, program } = loadProgram();
    for (const [category, name] of [
      ['syscalls', ''],
      ['sys/calls', 'x'],
      ['syscalls', '../x'],
    ] as const) {
      expect(() => program.attachTracepoint(category, name)).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
    }
    expect(binding.calls.filter((call) => call.startsWith('attachTracepoint'))).toEqual([]);
  });
});

describe('Link', () => {
  it('pins, reopens, unpins and destroys', () => {
    const { binding, program } = loadProgram();
    const link = program.attachTracepoint('syscalls', 'sys_enter_getppid');
    expect(link.pinPath).toBeUndefined();
    link.pin('/sys/fs/bpf/bulwark/count');
    expect(link.pinPath).toBe('/sys/fs/bpf/bulwark/count');
    link.destroy();
    expect(binding.pins.has('/sys/fs/bpf/bulwark/count')).toBe(true);

    const pinned = Link.openPinned('/sys/fs/bpf/bulwark/count', { binding });
    expect(pinned.description).toBe('pinned /sys/fs/bpf/bulwark/count');
    expect(pinned.pinPath).toBe('/sys/fs/bpf/bulwark/count');
    expect(pinned.fd).toBeGreaterThan(0);
    pinned.unpin();
    expect(binding.pins.size).toBe(0);
    expect(pinned.pinPath).toBeUndefined();
    pinned.close();
    expect(binding.liveLinks).toBe(0);
  });

  it('refuses to pin twice or unpin what is not pinned, without calling libbpf', () => {
    const { binding, program } = loadProgram();
    const link = program.attachTracepoint('syscalls', 'sys_enter_getppid');
    expect(() => link.unpin()).toThrow(
      expect.objectContaining({ name: 'StateError', code: 'ERR_STATE', message: 'unpin link tracepoint syscalls/sys_enter_getppid: link is not pinned' }),
    );
    link.pin('/sys/fs/bpf/a');
    expect(() => link.pin('/sys/fs/bpf/b')).toThrow(
      expect.objectContaining({ code: 'ERR_STATE', message: 'pin link tracepoint syscalls/sys_enter_getppid: already pinned at /sys/fs/bpf/a' }),
    );
    expect(binding.calls.filter((call) => call.startsWith('pinLink') || call.startsWith('unpinLink'))).toEqual(['pinLink /sys/fs/bpf/a']);
  });

  it("reports a pin outside a BPF file system with libbpf's reason", () => {
    const { program } = loadProgram();
    const link = program.attachTracepoint('syscalls', 'sys_enter_getppid');
    const error = caught(() => link.pin('/tmp/count'));
    expect(error).toMatchObject({ name: 'LibbpfError', errno: 'EINVAL', path: '/tmp/count', isPermission: false });
    expect((error as Error).message).toBe(
      'pin link tracepoint syscalls/sys_enter_getppid: invalid argument (/tmp/count); libbpf: specified path /tmp/count is not on BPF FS',
    );
  });

  it('reports a missing pin as ENOENT with its path', () => {
    const binding = new FakeBinding();
    expect(caught(() => Link.openPinned('/sys/fs/bpf/none', { binding }))).toMatchObject({
      name: 'LibbpfError',
      errno: 'ENOENT',
      message: 'open pinned link: no such file or directory (/sys/fs/bpf/none)',
    });
    expect(() => Link.openPinned('', { binding })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
  });

  it('refuses every use after destroy; destroying again does nothing', () => {
    const { binding, program } = loadProgram();
    const link = program.attachTracepoint('syscalls', 'sys_enter_getppid');
    link.destroy();
    link.destroy();
    link[Symbol.dispose]();
    expect(link.destroyed).toBe(true);
    expect(binding.liveLinks).toBe(0);
    const destroyed = expect.objectContaining({ code: 'ERR_STATE', message: 'pin link tracepoint syscalls/sys_enter_getppid: link is destroyed' });
    expect(() => link.pin('/sys/fs/bpf/x')).toThrow(destroyed);
    expect(() => link.unpin()).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(() => link.fd).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(() => link.pinPath).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
  });

  it('stays valid after its object is closed', () => {
    const binding = new FakeBinding().addObject(path);
    const loaded = openObject(path, { binding }).load();
    const link = loaded.program('count_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
    loaded.close();
    expect(link.fd).toBeGreaterThan(0);
    link.destroy();
    expect(binding.liveLinks).toBe(0);
  });
});
