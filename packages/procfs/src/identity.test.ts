import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '@bulwark/errors';
import { describe, expect, it } from 'vitest';
import { changeMidRead, copyFixtures, procRoot } from './__fixtures__/fixtures.js';
import { ProcessGoneError } from './errors.js';
import { isProcessAlive, processKey, readProcessIdentity, readStartTime } from './identity.js';

describe('readStartTime (fixture tree)', () => {
  it('reads field 22 even when comm holds spaces and ")"', async () => {
    expect(await readStartTime(4242, { procRoot })).toBe(987654n);
    expect(await readStartTime(2, { procRoot })).toBe(14n);
  });

  it('throws ProcessGoneError for a pid with no directory', async () => {
    const error = await readStartTime(31337, { procRoot }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProcessGoneError);
    expect((error as Error).message).toBe('read start time of pid 31337: process is gone');
  });
});

describe('readProcessIdentity (fixture tree)', () => {
  it('reads a confined container process', async () => {
    expect(await readProcessIdentity(4242, { procRoot })).toEqual({
      pid: 4242,
      startTime: 987654n,
      comm: 'a) b (c)',
      exe: '/usr/local/bin/python3.12',
      ppid: 4200,
      uids: { real: 1000, effective: 1000, saved: 1000, filesystem: 1000 },
      gids: { real: 1000, effective: 1000, saved: 1000, filesystem: 1000 },
      capabilities: { inheritable: 0n, permitted: 0n, effective: 0n, bounding: 0xa80425fbn, ambient: 0n },
      noNewPrivs: true,
      seccomp: 'filter',
    });
  });

  it('reads a kernel thread, which has no exe', async () => {
    const identity = await readProcessIdentity(2, { procRoot });
    expect(identity).toMatchObject({ pid: 2, comm: 'kthreadd', ppid: 0, seccomp: 'disabled', noNewPrivs: false });
    expect(identity.capabilities.effective).toBe(0x1ffffffffffn);
    expect('exe' in identity).toBe(false);
  });

  it('reads a zombie, whose identity remains until it is reaped', async () => {
    const identity = await readProcessIdentity(77, { procRoot });
    expect(identity).toMatchObject({ pid: 77, comm: 'worker', startTime: 5000n });
    expect(identity.exe).toBeUndefined();
  });

  it('throws ProcessGoneError (replaced) when the pid is reused between stat and status', async () => {
    await using copy = await copyFixtures();
    const directory = join(copy.procRoot, '4242');
    const status = await readFile(join(directory, 'status'), 'utf8');
    const error = await changeMidRead(
      join(directory, 'status'),
      status,
      () => readProcessIdentity(4242, { procRoot: copy.procRoot }),
      () => writeFile(join(directory, 'stat'), '4242 (sh) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 999999 0 0\n'),
    );
    expect(error).toBeInstanceOf(ProcessGoneError);
    expect(error).toMatchObject({ pid: 4242, reason: 'replaced' });
    expect((error as Error).message).toBe('read identity of pid 4242: process is gone (pid reused by another process)');
  });

  it('adds the operation to a malformed status file', async () => {
    await using copy = await copyFixtures();
    const path = join(copy.procRoot, '4242', 'status');
    await writeFile(path, 'Name:\tx\nPPid:\t1\n');
    const error = await readProcessIdentity(4242, { procRoot: copy.procRoot }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(`read identity of pid 4242: ${path}: Uid: missing`);
  });
});

describe('processKey and isProcessAlive', () => {
  it('keys a process by pid and start time', () => {
    expect(processKey({ pid: 4242, startTime: 987654n })).toBe('4242:987654');
  });

  it('is alive only with the matching start time', async () => {
    expect(await isProcessAlive(4242, 987654n, { procRoot })).toBe(true);
    expect(await isProcessAlive(4242, 987655n, { procRoot })).toBe(false);
    expect(await isProcessAlive(31337, 987654n, { procRoot })).toBe(false);
  });

  it('counts a zombie as not alive', async () => {
    expect(await isProcessAlive(77, 5000n, { procRoot })).toBe(false);
  });

  it('rejects a negative start time', async () => {
    await expect(isProcessAlive(1, -1n, { procRoot })).rejects.toThrow(
      'check process of pid 1: startTime: expected a non-negative bigint, got -1',
    );
  });
});
