import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NamespacedProcess, childrenOf, sh, startInNamespaces, startProcess, waitFor } from './__fixtures__/live.js';
import { ProcessGoneError } from './errors.js';
import { isProcessAlive, readProcessIdentity } from './identity.js';
import { NAMESPACE_TYPES, readNamespaces } from './namespaces.js';

describe('readNamespaces (live)', () => {
  let isolated: NamespacedProcess;

  beforeAll(async () => {
    isolated = await startInNamespaces();
  });

  afterAll(async () => {
    await isolated[Symbol.asyncDispose]();
  });

  it('matches readlink and stat -L of /proc/<pid>/ns/* for a process in fresh namespaces', async () => {
    const namespaces = await readNamespaces(isolated.pid);
    for (const type of NAMESPACE_TYPES) {
      const path = `/proc/${isolated.pid}/ns/${type}`;
      const link = sh(`readlink ${path}`);
      const [device, inode] = sh(`stat -L -c '%d %i' ${path}`).split(' ').map(Number);
      expect(link, type).toBe(`${type}:[${inode}]`);
      expect(namespaces[type], type).toEqual({ device, inode });
    }
  });

  it('differs from the test process in every namespace type', async () => {
    const mine = await readNamespaces(process.pid);
    const theirs = await readNamespaces(isolated.pid);
    for (const type of NAMESPACE_TYPES) {
      expect(mine[type], type).toBeDefined();
      expect(theirs[type], type).not.toEqual(mine[type]);
    }
  });

  it('agrees with the shell for the test process itself', async () => {
    const mine = await readNamespaces(process.pid);
    const [device, inode] = sh(`stat -L -c '%d %i' /proc/${process.pid}/ns/net`).split(' ').map(Number);
    expect(mine.net).toEqual({ device, inode });
  });

  it('throws ProcessGoneError for a zombie, whose identity can still be read', async () => {
    // sh starts `sleep 0` in the background, then becomes `sleep 300`, which never reaps it.
    await using parent = await startProcess('sh', ['-c', 'sleep 0 & exec sleep 300']);
    const zombie = await waitFor('a zombie', () => {
      const [pid] = childrenOf(parent.pid, 'sleep');
      return pid !== undefined && sh(`cut -d' ' -f3 /proc/${pid}/stat | tail -c2`) === 'Z' ? pid : undefined;
    });
    const error = await readNamespaces(zombie).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProcessGoneError);
    expect((error as Error).message).toBe(`read namespaces of pid ${zombie}: process is gone`);
    const identity = await readProcessIdentity(zombie);
    expect(identity.exe).toBeUndefined();
    expect(await isProcessAlive(zombie, identity.startTime)).toBe(false);
  });
});

describe('readNamespaces with synchronous reads (live)', () => {
  it('matches the asynchronous reads for a process in fresh namespaces', async () => {
    const isolated = await startInNamespaces();
    try {
      expect(await readNamespaces(isolated.pid, { synchronous: true })).toEqual(await readNamespaces(isolated.pid));
    } finally {
      await isolated[Symbol.asyncDispose]();
    }
  });
});
