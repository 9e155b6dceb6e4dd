import { describe, expect, it } from 'vitest';
import { OPERATION_BITS as OP } from './layout.js';
import { FILE_OPERATIONS, identityTargets, kernelDevice, type Rule } from './rules.js';

describe('identityTargets', () => {
  it('takes Block rules on one file, merged by path, without the operations that add or remove a name', () => {
    const rules: Rule[] = [
      { path: '/etc/shadow', operations: ['read', 'write'] },
      { path: '/etc/shadow', operations: ['exec'], id: 7 },
      { path: '/secret.txt', id: 3 },
      { path: '/etc/gshadow', operations: ['rename', 'link', 'unlink'] },
    ];
    expect(identityTargets(rules)).toEqual([
      { path: '/etc/shadow', ops: OP.read | OP.write | OP.exec, ruleId: 1 },
      { path: '/secret.txt', ops: FILE_OPERATIONS & ~(OP.rename | OP.link | OP.unlink), ruleId: 3 },
    ]);
  });

  it('takes Block rules on a directory, for the files below it (all, or those directly in it)', () => {
    const rules: Rule[] = [
      { path: '/var/lib/mysql/', operations: ['read'] },
      { path: '/var/lib/mysql/', operations: ['write'], id: 9 },
      { path: '/srv/', operations: ['read'], recursive: false, id: 4 },
      { path: '/srv/', operations: ['write'], id: 5 },
      { path: '/etc/', readOnly: true, id: 6 },
    ];
    expect(identityTargets(rules)).toEqual([
      { path: '/etc/', ops: FILE_OPERATIONS & ~(OP.rename | OP.link | OP.unlink) & ~(OP.read | OP.exec), ruleId: 6, directory: 'recursive' },
      { path: '/srv/', ops: OP.read, ruleId: 4, directory: 'children' },
      { path: '/srv/', ops: OP.write, ruleId: 5, directory: 'recursive' },
      { path: '/var/lib/mysql/', ops: OP.read | OP.write, ruleId: 1, directory: 'recursive' },
    ]);
  });

  it('leaves out what an inode cannot stand for: patterns, sources, owners, other actions, other kinds', () => {
    const rules: Rule[] = [
      { path: '/credentials/', operations: ['read'], ownerOnly: true },
      { path: '/home/*/secret', operations: ['read'] },
      { path: '/bin/cat', operations: ['read'], fromSource: '/bin/sh' },
      { path: '/home/user1/secret_data1.txt', operations: ['read', 'write'], ownerOnly: true },
      { path: '/etc/hosts', operations: ['read'], action: 'audit' },
      { path: '/etc/hostname', operations: ['read'], action: 'allow' },
      { kind: 'capability', capability: 13 },
    ];
    expect(identityTargets(rules)).toEqual([]);
  });

  it('keeps only the writes of a readOnly rule', () => {
    const targets = identityTargets([{ path: '/etc/passwd', operations: ['read', 'write', 'truncate'], readOnly: true }]);
    expect(targets).toEqual([{ path: '/etc/passwd', ops: OP.write | OP.truncate, ruleId: 1 }]);
  });
});

describe('kernelDevice', () => {
  it("turns stat's glibc encoding into the kernel's major << 20 | minor", () => {
    expect(kernelDevice(45)).toBe(45); // 0:45, a tmpfs
    expect(kernelDevice(0x801)).toBe((8 << 20) | 1); // 8:1, sda1
    // 259:300: the minor's high bits sit above the major's low bits in glibc's encoding.
    const glibc = (300 & 0xff) | ((259 & 0xfff) << 8) | ((300 & ~0xff) << 12);
    expect(kernelDevice(glibc)).toBe((259 << 20) | 300);
    expect(kernelDevice(BigInt(glibc))).toBe((259 << 20) | 300);
  });
});
