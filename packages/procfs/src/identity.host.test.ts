import { chmod, copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilityNames } from './capabilities.js';
import {
  type LiveProcess,
  type NamespacedProcess,
  sh,
  startInNamespaces,
  startProcess,
  startTimeByShell,
  waitFor,
} from './__fixtures__/live.js';
import { readCgroup } from './cgroup.js';
import { ProcessGoneError } from './errors.js';
import { isProcessAlive, processKey, readProcessIdentity, readStartTime } from './identity.js';
import { readLsmLabel } from './lsm.js';
import { readNamespaces } from './namespaces.js';
import { readProcess } from './process.js';

/** The four ids of a status line (Uid or Gid), by grep. */
function idsByShell(pid: number, field: 'Uid' | 'Gid'): { real: number; effective: number; saved: number; filesystem: number } {
  const [real, effective, saved, filesystem] = sh(`grep '^${field}:' /proc/${pid}/status | cut -f2-`).split('\t').map(Number);
  return { real: real!, effective: effective!, saved: saved!, filesystem: filesystem! };
}

function maskByShell(pid: number, field: string): bigint {
  return BigInt(`0x${sh(`grep '^${field}:' /proc/${pid}/status | cut -f2`)}`);
}

describe('identity and start time (live)', () => {
  let directory: string;
  let oddlyNamed: LiveProcess;
  const oddName = 'we) i (rd';

  beforeAll(async () => {
    // comm is the basename of the executable: a copy of sleep named with spaces and parentheses.
    directory = await mkdtemp(join(tmpdir(), 'bulwark-procfs-'));
    const executable = join(directory, oddName);
    await copyFile(sh('command -v sleep'), executable);
    await chmod(executable, 0o755);
    oddlyNamed = await startProcess(executable, ['300']);
  });

  afterAll(async () => {
    await oddlyNamed.kill();
    await rm(directory, { recursive: true, force: true });
  });

  it('reads field 22 like sed and awk do, though comm holds spaces and ")"', async () => {
    expect(sh(`cat /proc/${oddlyNamed.pid}/comm`)).toBe(oddName);
    expect(await readStartTime(oddlyNamed.pid)).toBe(startTimeByShell(oddlyNamed.pid));
    expect(await readStartTime(process.pid)).toBe(startTimeByShell(process.pid));
  });

  it('reads identity fields as status, comm and readlink show them', async () => {
    const pid = oddlyNamed.pid;
    const identity = await readProcessIdentity(pid);
    expect(identity).toMatchObject({
      pid,
      comm: oddName,
      startTime: startTimeByShell(pid),
      exe: sh(`readlink /proc/${pid}/exe`),
      ppid: process.pid,
      uids: idsByShell(pid, 'Uid'),
      gids: idsByShell(pid, 'Gid'),
      noNewPrivs: sh(`grep '^NoNewPrivs:' /proc/${pid}/status | cut -f2`) === '1',
    });
    expect(identity.exe).toBe(join(directory, oddName));
    expect(identity.capabilities).toEqual({
      inheritable: maskByShell(pid, 'CapInh'),
      permitted: maskByShell(pid, 'CapPrm'),
      effective: maskByShell(pid, 'CapEff'),
      bounding: maskByShell(pid, 'CapBnd'),
      ambient: maskByShell(pid, 'CapAmb'),
    });
    expect(processKey(identity)).toBe(`${pid}:${identity.startTime}`);
  });

  it('reads a restricted bounding set and no_new_privs', async () => {
    await using restricted = await startProcess('setpriv', ['--no-new-privs', '--bounding-set=-all,+chown,+net_raw', '--', 'sleep', '300']);
    await waitFor('setpriv to exec sleep', () => (sh(`cat /proc/${restricted.pid}/comm`) === 'sleep' ? true : undefined));
    const identity = await readProcessIdentity(restricted.pid);
    expect(identity.comm).toBe('sleep');
    expect(identity.noNewPrivs).toBe(true);
    expect(sh(`grep '^NoNewPrivs:' /proc/${restricted.pid}/status | cut -f2`)).toBe('1');
    expect(capabilityNames(identity.capabilities.bounding)).toEqual(['CAP_CHOWN', 'CAP_NET_RAW']);
    expect(identity.seccomp).toBe(['disabled', 'strict', 'filter'][Number(sh(`grep '^Seccomp:' /proc/${restricted.pid}/status | cut -f2`))]);
  });

  it('has no exe for a kernel thread', async () => {
    expect(sh('cat /proc/2/comm')).toBe('kthreadd');
    expect(sh('readlink /proc/2/exe || echo none')).toBe('none');
    const identity = await readProcessIdentity(2);
    expect(identity).toMatchObject({ pid: 2, comm: 'kthreadd', ppid: 0 });
    expect('exe' in identity).toBe(false);
  });

  it('reads the LSM label as attr/apparmor/current or attr/current show it', async () => {
    const pid = oddlyNamed.pid;
    const shown = sh(`(cat /proc/${pid}/attr/apparmor/current || cat /proc/${pid}/attr/current || echo '<none>') 2>/dev/null | tr -d '\\000'`);
    expect(await readLsmLabel(pid)).toBe(shown === '<none>' || shown === '' ? undefined : shown);
  });

  it('tells a reused pid by its start time', async () => {
    const startTime = await readStartTime(oddlyNamed.pid);
    expect(await isProcessAlive(oddlyNamed.pid, startTime)).toBe(true);
    expect(await isProcessAlive(oddlyNamed.pid, startTime + 1n)).toBe(false);
    expect(await isProcessAlive(oddlyNamed.pid, startTime - 1n)).toBe(false);
  });

  it('throws ProcessGoneError once the process is killed and reaped', async () => {
    const doomed = await startProcess('sleep', ['300']);
    const startTime = await readStartTime(doomed.pid);
    await doomed.kill();
    expect(sh(`test -e /proc/${doomed.pid} && echo present || echo absent`)).toBe('absent');
    const readers = [
      () => readStartTime(doomed.pid),
      () => readProcessIdentity(doomed.pid),
      () => readNamespaces(doomed.pid),
      () => readCgroup(doomed.pid),
      () => readLsmLabel(doomed.pid),
      () => readProcess(doomed.pid),
    ];
    for (const reader of readers) {
      const error = await reader().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ProcessGoneError);
      expect(error).toMatchObject({ code: 'ERR_PROCESS_GONE', pid: doomed.pid, reason: 'exited' });
      expect((error as Error).message).toMatch(new RegExp(`^read [a-z ]+ of pid ${doomed.pid}: process is gone$`));
    }
    expect(await isProcessAlive(doomed.pid, startTime)).toBe(false);
  });
});

describe('readProcess (live)', () => {
  let isolated: NamespacedProcess;

  beforeAll(async () => {
    isolated = await startInNamespaces();
  });

  afterAll(async () => {
    await isolated[Symbol.asyncDispose]();
  });

  it('reads a consistent snapshot of a process in fresh namespaces', async () => {
    const snapshot = await readProcess(isolated.pid);
    expect(snapshot.identity).toMatchObject({ pid: isolated.pid, comm: 'sleep', startTime: startTimeByShell(isolated.pid) });
    expect(snapshot.namespaces).toEqual(await readNamespaces(isolated.pid));
    expect(snapshot.cgroup).toEqual(await readCgroup(isolated.pid));
    expect(snapshot.lsmLabel).toBe(await readLsmLabel(isolated.pid));
    expect(snapshot.namespaces.pid).not.toEqual((await readNamespaces(process.pid)).pid);
  });
});
