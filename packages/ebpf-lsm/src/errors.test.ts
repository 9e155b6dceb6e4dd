import { describe, expect, it } from 'vitest';
import { verifierRejectionLog } from './__fixtures__/fake-binding.js';
import { LibbpfCallError } from './binding.js';
import { errnoName } from './errno.js';
import { LibbpfError, StateError, VerifierError, findVerifierLog, toBulwarkError, verifierReason } from './errors.js';

describe('errnoName', () => {
  it("names the kernel's, the kernel-internal and libbpf's error numbers", () => {
    expect(errnoName(1)).toBe('EPERM');
    expect(errnoName(-13)).toBe('EACCES');
    expect(errnoName(11)).toBe('EAGAIN');
    expect(errnoName(95)).toBe('EOPNOTSUPP');
    expect(errnoName(524)).toBe('ENOTSUPP');
    expect(errnoName(4007)).toBe('LIBBPF_ERRNO__VERIFY');
    expect(errnoName(0)).toBe('EUNKNOWN');
    expect(errnoName(9999)).toBe('E9999');
  });
});

describe('toBulwarkError', () => {
  it('makes a LibbpfError that is a SystemError with its log', () => {
    const error = toBulwarkError('pin link x', new LibbpfCallError('bpf_link__pin', 1), [{ level: 'info', message: 'libbpf: note' }], '/sys/fs/bpf/x');
    expect(error).toBeInstanceOf(LibbpfError);
    expect(error).toMatchObject({ operation: 'pin link x', errno: 'EPERM', isPermission: true, path: '/sys/fs/bpf/x' });
    // Only a warning is added to the message.
    expect(error.message).toBe('pin link x: operation not permitted (/sys/fs/bpf/x)');
    expect(error).toHaveProperty('logText', 'libbpf: note');
    expect(error.cause).toBeInstanceOf(LibbpfCallError);
  });

  it('describes ENOTSUPP, which libc has no name for', () => {
    const error = toBulwarkError('attach program x', new LibbpfCallError('bpf_program__attach', 524), []);
    expect(error.message).toBe('attach program x: operation not supported by the kernel');
    expect(error.code).toBe('ERR_SYSTEM');
  });

  it('makes a VerifierError when the log holds a program load log', () => {
    const error = toBulwarkError('load object o', new LibbpfCallError('bpf_object__load', 13), verifierRejectionLog);
    expect(error).toBeInstanceOf(VerifierError);
    expect(error).toMatchObject({ program: 'read_unchecked', reason: "R0 invalid mem access 'map_value_or_null'", isPermission: false });
  });
});

describe('verifier logs', () => {
  it('finds the log and its program', () => {
    const found = findVerifierLog(verifierRejectionLog);
    expect(found?.program).toBe('read_unchecked');
    expect(found?.log.split('\n')[0]).toBe('0: R1=ctx() R10=fp0');
    expect(findVerifierLog([{ level: 'warn', message: 'libbpf: failed' }])).toBeUndefined();
  });

  it('takes the last line before the statistics as the reason', () => {
    expect(verifierReason('a\nb: bad thing\nprocessed 3 insns (limit 1000000)\nverification time 12 usec\nstack depth 8\n')).toBe('b: bad thing');
    expect(verifierReason('')).toBe('no reason given');
  });
});

describe('StateError', () => {
  it('reads operation: detail with code ERR_STATE', () => {
    const error = new StateError('attach program x', 'object o is closed');
    expect(error).toMatchObject({ name: 'StateError', code: 'ERR_STATE', operation: 'attach program x', message: 'attach program x: object o is closed' });
  });
});
