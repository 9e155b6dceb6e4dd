import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { openObject, type LoadedObject } from './index.js';

/**
 * Kernel tier: runs only in a kernel with BPF LSM active (the project's QEMU
 * guest, tools/kernel-vm). Where BPF LSM is not active these tests fail;
 * they are never skipped.
 */

const cgroupRoot = '/sys/fs/cgroup';
let work: string;
let object: LoadedObject;
let scopes: string[] = [];

/** Runs `command` in a fresh cgroup scope with new mount and pid namespaces, as a container's process would be. */
function runInScope(scope: string, command: string) {
  return spawnSync('sh', ['-c', `echo $$ > ${scope}/cgroup.procs && exec unshare --mount --pid --fork sh -c '${command}'`], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

function makeScope(name: string): { path: string; id: bigint } {
  const path = join(cgroupRoot, `bulwark-test-${name}-${process.pid}`);
  mkdirSync(path);
  scopes.push(path);
  return { path, id: statSync(path, { bigint: true }).ino };
}

function ruleKey(cgroupId: bigint, inode: bigint): Buffer {
  const key = Buffer.alloc(16);
  key.writeBigUInt64LE(cgroupId, 0);
  key.writeBigUInt64LE(inode, 8);
  return key;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-lsm-'));
  const objectPath = join(work, 'lsm-file-open.bpf.o');
  compileBpf(fileURLToPath(new URL('__fixtures__/bpf/lsm-file-open.bpf.c', import.meta.url)), objectPath);
  object = openObject(objectPath).load();
  object.program('deny_file_open').attach();
});

afterAll(() => {
  object?.close();
  for (const scope of scopes) rmdirSync(scope);
  scopes = [];
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('BPF LSM in the kernel guest', () => {
  it('runs in a kernel whose active LSMs include bpf, with BTF', () => {
    expect(readFileSync('/sys/kernel/security/lsm', 'utf8').trim().split(',')).toContain('bpf');
    expect(statSync('/sys/kernel/btf/vmlinux').size).toBeGreaterThan(0);
  });

  it('file_open denies a file to one container scope only: not to another scope, not to the host', () => {
    const secret = join(work, 'secret.txt');
    writeFileSync(secret, 'top secret\n');
    const blocked = makeScope('blocked');
    const other = makeScope('other');
    const inode = statSync(secret, { bigint: true }).ino;
    object.map('blocked').update(ruleKey(blocked.id, inode), Buffer.from([1, 0, 0, 0]));

    const denied = runInScope(blocked.path, `cat ${secret}`);
    expect(denied.status, denied.stderr).not.toBe(0);
    expect(denied.stderr).toMatch(/Operation not permitted/);
    expect(denied.stdout).toBe('');

    // The same file from another container scope, and from the host.
    const allowed = runInScope(other.path, `cat ${secret}`);
    expect(allowed.status, allowed.stderr).toBe(0);
    expect(allowed.stdout).toBe('top secret\n');
    expect(readFileSync(secret, 'utf8')).toBe('top secret\n');

    // A neighbouring file stays open to the blocked scope.
    const neighbour = join(work, 'plain.txt');
    writeFileSync(neighbour, 'plain\n');
    expect(runInScope(blocked.path, `cat ${neighbour}`).stdout).toBe('plain\n');

    const denials = object.map('denials').lookup(Buffer.alloc(4));
    expect(denials?.readBigUInt64LE(0)).toBe(1n);
  });
});
