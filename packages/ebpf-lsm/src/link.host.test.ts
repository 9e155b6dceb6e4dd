import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestPrograms, callGetppid, compileTestPrograms, ensureTracefs, mountBpffs } from './__fixtures__/bpf.js';
import { codecs } from './codec.js';
import { Link } from './link.js';
import { type LoadedObject, openObject } from './object.js';
import { caught } from './__fixtures__/caught.js';

let programs: TestPrograms;
let tracefs: Disposable;

beforeAll(() => {
  programs = compileTestPrograms();
  tracefs = ensureTracefs();
});

afterAll(() => {
  tracefs[Symbol.dispose]();
  programs[Symbol.dispose]();
});

interface Counter extends Disposable {
  readonly loaded: LoadedObject;
  /** getppid calls counted for `pid`, undefined for none. */
  readonly countOf: (pid: number) => bigint | undefined;
}

/** The test object, counting every process's getppid calls. */
function loadCounter(): Counter {
  const loaded = openObject(programs.tracepoint).load();
  const counts = loaded.map('counts').typed(codecs.u32, codecs.u64);
  return { loaded, countOf: (pid) => counts.lookup(pid), [Symbol.dispose]: () => loaded.close() };
}

describe('links on the real kernel', () => {
  it('counts exactly the tracepoint hits while attached', async () => {
    using counter = loadCounter();
    const { loaded, countOf } = counter;
    const link = loaded.program('count_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
    expect(link.fd).toBeGreaterThan(2);
    const first = await callGetppid(25);
    expect(countOf(first)).toBe(25n);
    const second = await callGetppid(3);
    expect(countOf(second)).toBe(3n);
    link.destroy();
    const after = await callGetppid(10);
    expect(countOf(after)).toBeUndefined();
  });

  it('reads the run statistics the kernel keeps while kernel.bpf_stats_enabled is set', async () => {
    using counter = loadCounter();
    const program = counter.loaded.program('count_getppid');
    const sysctl = '/proc/sys/kernel/bpf_stats_enabled';
    const before = readFileSync(sysctl, 'utf8').trim();
    const link = program.attachTracepoint('syscalls', 'sys_enter_getppid');
    writeFileSync(sysctl, '1');
    try {
      await callGetppid(40);
    } finally {
      writeFileSync(sysctl, before);
      link.destroy();
    }
    const { runCount, runTimeNs } = program.info;
    // Every process's getppid runs the program: at least the child's 40.
    expect(runCount).toBeGreaterThanOrEqual(40);
    expect(runCount).toBeLessThan(10_000);
    expect(runTimeNs).toBeGreaterThan(0);
    expect(runTimeNs / runCount).toBeLessThan(1_000_000);
  });

  it('filters by the target in the array map', async () => {
    using counter = loadCounter();
    const { loaded, countOf } = counter;
    using link = loaded.program('count_getppid').attach();
    expect(link.description).toBe('program count_getppid (tracepoint/syscalls/sys_enter_getppid)');
    const settings = loaded.map('settings').typed(codecs.u32, codecs.u64);
    settings.update(0, 1n); // only pid 1
    const ignored = await callGetppid(5);
    expect(countOf(ignored)).toBeUndefined();
    settings.update(0, 0n); // everyone again
    const counted = await callGetppid(4);
    expect(countOf(counted)).toBe(4n);
  });

  it('keeps counting through a pin after the handle is gone, and stops once unpinned', async () => {
    using bpffs = mountBpffs();
    using counter = loadCounter();
    const { loaded, countOf } = counter;
    const pinPath = join(bpffs.path, 'bulwark', 'count-getppid');
    const link = loaded.program('count_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
    link.pin(pinPath);
    expect(link.pinPath).toBe(pinPath);
    expect(existsSync(pinPath)).toBe(true);
    link.destroy();

    const whilePinned = await callGetppid(7);
    expect(countOf(whilePinned)).toBe(7n);

    const pinned = Link.openPinned(pinPath);
    expect(pinned.fd).toBeGreaterThan(2);
    expect(pinned.pinPath).toBe(pinPath);
    pinned.unpin();
    expect(existsSync(pinPath)).toBe(false);
    expect(pinned.pinPath).toBeUndefined();
    pinned.destroy();

    const afterUnpin = await callGetppid(7);
    expect(countOf(afterUnpin)).toBeUndefined();
  });

  it('refuses a pin outside a BPF file system with the reason', () => {
    using counter = loadCounter();
    const { loaded } = counter;
    using link = loaded.program('count_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
    const path = join(programs.directory, 'pin');
    expect(caught(() => link.pin(path))).toMatchObject({
      name: 'LibbpfError',
      errno: 'EINVAL',
      isPermission: false,
      message: `pin link tracepoint syscalls/sys_enter_getppid: invalid argument (${path}); libbpf: specified path ${path} is not on BPF FS`,
    });
  });

  it('reports a missing pin and a missing tracepoint as ENOENT', () => {
    using bpffs = mountBpffs();
    expect(caught(() => Link.openPinned(join(bpffs.path, 'none')))).toMatchObject({ name: 'LibbpfError', errno: 'ENOENT' });
    using counter = loadCounter();
    const { loaded } = counter;
    expect(caught(() => loaded.program('count_getppid').attachTracepoint('syscalls', 'sys_enter_no_such_call'))).toMatchObject({
      name: 'LibbpfError',
      errno: 'ENOENT',
      message: expect.stringMatching(/^attach tracepoint syscalls\/sys_enter_no_such_call: no such file or directory; libbpf: /) as unknown,
    });
  });

  it('refuses a destroyed link', () => {
    using counter = loadCounter();
    const { loaded } = counter;
    const link = loaded.program('count_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
    link.destroy();
    expect(caught(() => link.fd)).toMatchObject({ name: 'StateError', code: 'ERR_STATE' });
  });
});
