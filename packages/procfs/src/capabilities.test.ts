import { ValidationError } from '@bulwark/errors';
import { describe, expect, it } from 'vitest';
import { CAPABILITY_NAMES, capabilityNames } from './capabilities.js';

describe('capabilityNames', () => {
  it('names the bits of a mask, lowest first', () => {
    expect(capabilityNames(0n)).toEqual([]);
    expect(capabilityNames(1n)).toEqual(['CAP_CHOWN']);
    expect(capabilityNames((1n << 21n) | (1n << 12n))).toEqual(['CAP_NET_ADMIN', 'CAP_SYS_ADMIN']);
    expect(capabilityNames(1n << 40n)).toEqual(['CAP_CHECKPOINT_RESTORE']);
  });

  it('names the Docker default set', () => {
    expect(capabilityNames(0xa80425fbn)).toEqual([
      'CAP_CHOWN',
      'CAP_DAC_OVERRIDE',
      'CAP_FOWNER',
      'CAP_FSETID',
      'CAP_KILL',
      'CAP_SETGID',
      'CAP_SETUID',
      'CAP_SETPCAP',
      'CAP_NET_BIND_SERVICE',
      'CAP_NET_RAW',
      'CAP_SYS_CHROOT',
      'CAP_MKNOD',
      'CAP_AUDIT_WRITE',
      'CAP_SETFCAP',
    ]);
  });

  it('covers CAP_CHOWN (0) to CAP_CHECKPOINT_RESTORE (40) with the header names', () => {
    expect(CAPABILITY_NAMES).toHaveLength(41);
    expect(capabilityNames((1n << 41n) - 1n)).toEqual(CAPABILITY_NAMES);
    expect(CAPABILITY_NAMES[19]).toBe('CAP_SYS_PTRACE');
    expect(CAPABILITY_NAMES[38]).toBe('CAP_PERFMON');
    expect(CAPABILITY_NAMES[39]).toBe('CAP_BPF');
  });

  it('names bits newer than the table by number', () => {
    expect(capabilityNames((1n << 41n) | (1n << 63n))).toEqual(['CAP_41', 'CAP_63']);
  });

  it('rejects negative masks', () => {
    expect(() => capabilityNames(-1n)).toThrow(ValidationError);
    expect(() => capabilityNames(-1n)).toThrow('capability mask: expected a non-negative bigint, got -1');
  });
});
