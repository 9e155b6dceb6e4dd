import { describe, expect, it } from 'vitest';
import {
  BulwarkError,
  NotSupportedError,
  SystemError,
  ValidationError,
  addContext,
  toSystemError,
  validationErrorFromZod,
} from './index.js';

describe('errors', () => {
  it('recognises errors by marker and code, not by class identity', () => {
    const foreign = Object.assign(new Error('x'), { code: 'ERR_SYSTEM', [Symbol.for('bulwark.error')]: true });
    expect(BulwarkError.is(foreign)).toBe(true);
    expect(BulwarkError.is(foreign, 'ERR_SYSTEM')).toBe(true);
    expect(BulwarkError.is(foreign, 'ERR_VALIDATION')).toBe(false);
    expect(BulwarkError.is(Object.assign(new Error('x'), { code: 'ERR_SYSTEM' }))).toBe(false);
    expect(BulwarkError.is(null)).toBe(false);
  });

  it('maps node errno errors in one place and keeps other errors as they are', () => {
    const cause = Object.assign(new Error('EACCES: permission denied, open'), { code: 'EACCES', path: '/x' });
    const mapped = toSystemError('read config', cause);
    expect(mapped).toBeInstanceOf(SystemError);
    expect((mapped as SystemError).message).toBe('read config: permission denied (/x)');
    expect((mapped as SystemError).isPermission).toBe(true);
    const plain = new TypeError('nope');
    expect(toSystemError('x', plain)).toBe(plain);
  });

  it('words messages as operation: detail, with context added per layer', () => {
    const error = new NotSupportedError('bpf lsm', 'kernel', '/sys/kernel/security/lsm lacks bpf');
    expect(error.message).toBe('bpf lsm not supported: /sys/kernel/security/lsm lacks bpf');
    expect(addContext('start agent', error).message).toBe('start agent: bpf lsm not supported: /sys/kernel/security/lsm lacks bpf');
    expect(error.code).toBe('ERR_NOT_SUPPORTED');
    expect(error.name).toBe('NotSupportedError');
  });

  it('builds validation errors from zod-shaped issues with lines', () => {
    const error = validationErrorFromZod(
      'config.json',
      { issues: [{ path: ['process', 'args', 0], message: 'expected string' }] },
      () => 7,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toBe('config.json: line 7 process.args.0: expected string');
    expect(error.issues[0]).toEqual({ path: 'process.args.0', message: 'expected string', line: 7 });
  });

  it('names each unknown key, and words zod/mini\'s bare "Invalid input" from the issue', () => {
    const error = validationErrorFromZod('/etc/bulwark/hook.json', {
      issues: [
        { code: 'unrecognized_keys', keys: ['bogus', 'other'], path: [], message: 'Invalid input' },
        { code: 'invalid_value', values: ['open', 'closed'], path: ['failMode'], message: 'Invalid input' },
        { code: 'invalid_type', expected: 'number', path: ['timeoutMs'], message: 'Invalid input' },
        { code: 'too_small', minimum: 1, inclusive: true, path: ['connectTimeoutMs'], message: 'Invalid input' },
        { code: 'invalid_value', values: [1], path: ['version'], message: 'Invalid input' },
      ],
    });
    expect(error.message).toBe(
      '/etc/bulwark/hook.json: bogus: unknown key; other: unknown key; failMode: must be one of "open", "closed"; timeoutMs: expected number; connectTimeoutMs: must be at least 1; version: must be 1',
    );
  });
});
