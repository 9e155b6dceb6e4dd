import { BulwarkError, ValidationError } from '@bulwark/errors';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { procRoot } from './__fixtures__/fixtures.js';
import * as procfs from './index.js';

const platform = Object.getOwnPropertyDescriptor(process, 'platform');

afterEach(() => {
  if (platform !== undefined) Object.defineProperty(process, 'platform', platform);
});

describe('@bulwark/procfs', () => {
  it('exports the agreed API', () => {
    expect(Object.keys(procfs).sort()).toEqual(
      [
        'CAPABILITY_NAMES',
        'NAMESPACE_TYPES',
        'ProcessGoneError',
        'capabilityNames',
        'cgroupV1Path',
        'isProcessAlive',
        'processKey',
        'readCgroup',
        'readLsmLabel',
        'readNamespaces',
        'readProcess',
        'readProcessIdentity',
        'readStartTime',
      ].sort(),
    );
  });

  it('imports without touching the system, then fails on first use off Linux', async () => {
    Object.defineProperty(process, 'platform', { value: 'darwin' });
    vi.resetModules();
    // A fresh copy, loaded while the platform reads darwin: importing must not throw.
    const fresh = await import('./index.js');
    const error = await fresh.readNamespaces(1, { procRoot }).catch((caught: unknown) => caught);
    // The fresh copy has its own @bulwark/errors classes: recognise errors by code, as callers do.
    expect(BulwarkError.is(error, 'ERR_NOT_SUPPORTED')).toBe(true);
    expect(error).toMatchObject({ feature: 'procfs', reason: 'platform', message: 'procfs not supported: procfs requires linux' });
    await expect(fresh.readProcess(1)).rejects.toMatchObject({ code: 'ERR_NOT_SUPPORTED' });
    await expect(fresh.isProcessAlive(1, 1n)).rejects.toMatchObject({ code: 'ERR_NOT_SUPPORTED' });
    // Pure helpers work anywhere.
    expect(fresh.processKey({ pid: 1, startTime: 2n })).toBe('1:2');
    expect(fresh.capabilityNames(1n)).toEqual(['CAP_CHOWN']);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1, '42' as unknown as number])('rejects pid %s with a ValidationError', async (pid) => {
    const readers = [
      () => procfs.readNamespaces(pid, { procRoot }),
      () => procfs.readCgroup(pid, { procRoot }),
      () => procfs.readLsmLabel(pid, { procRoot }),
      () => procfs.readStartTime(pid, { procRoot }),
      () => procfs.readProcessIdentity(pid, { procRoot }),
      () => procfs.readProcess(pid, { procRoot }),
      () => procfs.isProcessAlive(pid, 1n, { procRoot }),
    ];
    for (const reader of readers) {
      const error = await reader().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).source).toBe('pid');
      expect((error as Error).message).toMatch(/^[a-z ]+: pid: expected a positive safe integer, got /);
    }
  });
});
