import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SystemError } from '@bulwark/errors';
import { describe, expect, it } from 'vitest';
import { cgroupV2Root, changeMidRead, copyFixtures, procRoot, settle } from './__fixtures__/fixtures.js';
import { ProcessGoneError } from './errors.js';
import { readProcess } from './process.js';

/**
 * Runs `read` with effective uid and gid 65534 so the kernel enforces file
 * modes (root would bypass them), then restores root. Non-root runs read as is.
 */
async function asUnprivileged<T>(read: () => Promise<T>): Promise<T> {
  if (process.getuid?.() !== 0) return read();
  if (process.seteuid === undefined || process.setegid === undefined) throw new Error('need a forked test worker to drop privileges');
  process.setegid(65534);
  process.seteuid(65534);
  try {
    return await read();
  } finally {
    process.seteuid(0);
    process.setegid(0);
  }
}

describe('readProcess (fixture tree)', () => {
  it('reads a whole snapshot', async () => {
    const snapshot = await readProcess(4242, { procRoot, cgroupRoot: cgroupV2Root });
    expect(snapshot.identity).toMatchObject({ pid: 4242, startTime: 987654n, comm: 'a) b (c)', seccomp: 'filter' });
    expect(snapshot.namespaces.mnt).toEqual({ device: 0, inode: 4026532301 });
    expect(snapshot.cgroup).toMatchObject({ path: '/system.slice/docker-4242.scope', layout: 'v2' });
    expect(typeof snapshot.cgroup.id).toBe('bigint');
    expect(snapshot.lsmLabel).toBe('system_u:system_r:container_t:s0:c123,c456');
  });

  it('leaves lsmLabel out when no LSM provides one', async () => {
    const snapshot = await readProcess(2, { procRoot });
    expect('lsmLabel' in snapshot).toBe(false);
    expect(snapshot.identity.exe).toBeUndefined();
  });

  it('throws ProcessGoneError for a missing pid', async () => {
    const error = await settle(readProcess(31337, { procRoot }));
    expect(error).toBeInstanceOf(ProcessGoneError);
    expect((error as Error).message).toBe('read snapshot of pid 31337: process is gone');
  });

  it('throws ProcessGoneError for a zombie', async () => {
    await expect(readProcess(77, { procRoot })).rejects.toMatchObject({ code: 'ERR_PROCESS_GONE', pid: 77 });
  });

  it('throws ProcessGoneError when /proc/<pid> vanishes halfway through', async () => {
    await using copy = await copyFixtures();
    const directory = join(copy.procRoot, '4242');
    const error = await changeMidRead(
      join(directory, 'cgroup'),
      '0::/system.slice/docker-4242.scope\n',
      () => readProcess(4242, { procRoot: copy.procRoot, cgroupRoot: copy.cgroupV2Root }),
      () => rm(directory, { recursive: true }),
    );
    expect(error).toBeInstanceOf(ProcessGoneError);
    expect(error).toMatchObject({ pid: 4242, reason: 'exited' });
  });

  it('throws ProcessGoneError when the pid is reused halfway through', async () => {
    await using copy = await copyFixtures();
    const directory = join(copy.procRoot, '4242');
    const stat = join(directory, 'stat');
    const error = await changeMidRead(
      join(directory, 'cgroup'),
      '0::/system.slice/docker-4242.scope\n',
      () => readProcess(4242, { procRoot: copy.procRoot, cgroupRoot: copy.cgroupV2Root }),
      // A new process with the same pid: another comm and a later start time.
      () => writeFile(stat, '4242 (sh) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 999999 0 0\n'),
    );
    expect(error).toBeInstanceOf(ProcessGoneError);
    expect(error).toMatchObject({ pid: 4242, reason: 'replaced' });
    expect((error as Error).message).toBe('read snapshot of pid 4242: process is gone (pid reused by another process)');
  });

  it('reports an unreadable file as a permission SystemError, not as gone', async () => {
    await using copy = await copyFixtures();
    const status = join(copy.procRoot, '4242', 'status');
    await chmod(status, 0o000);
    const error = await asUnprivileged(() => settle(readProcess(4242, { procRoot: copy.procRoot, cgroupRoot: copy.cgroupV2Root })));
    expect(error).toBeInstanceOf(SystemError);
    expect(error).toMatchObject({ code: 'ERR_SYSTEM', errno: 'EACCES', isPermission: true, path: status });
    expect((error as Error).message).toBe(`read identity of pid 4242: permission denied (${status})`);
  });
});

describe('readProcess with synchronous reads', () => {
  it('gives the same snapshot as the asynchronous reads, for fixtures and for this process', async () => {
    for (const options of [
      { procRoot, cgroupRoot: cgroupV2Root },
      { procRoot },
      {},
    ]) {
      const pid = options.procRoot === undefined ? process.pid : options.cgroupRoot === undefined ? 2 : 4242;
      const asynchronous = await readProcess(pid, options);
      const synchronous = await readProcess(pid, { ...options, synchronous: true });
      expect(synchronous).toEqual(asynchronous);
    }
  });

  it('reports a missing pid as gone, not as a system error', async () => {
    const error = await readProcess(999_999_999, { procRoot, synchronous: true }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProcessGoneError);
  });
});
