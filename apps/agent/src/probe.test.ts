import { describe, expect, test } from 'vitest';
import { formatProbeTable, type ProbeResult } from './probe.js';

describe('formatProbeTable', () => {
  test('one line per result: name and status padded to the widest, then the detail', () => {
    const results: ProbeResult[] = [
      { name: 'kernel', status: 'supported', detail: 'linux 6.1.0' },
      { name: 'bpf lsm', status: 'unsupported', detail: '/sys/kernel/security/lsm lacks bpf (lockdown,capability); boot with lsm=...,bpf' },
      { name: 'cgroup layout', status: 'inconclusive', detail: 'permission denied' },
    ];
    expect(formatProbeTable(results)).toBe(
      [
        'kernel         supported     linux 6.1.0',
        'bpf lsm        unsupported   /sys/kernel/security/lsm lacks bpf (lockdown,capability); boot with lsm=...,bpf',
        'cgroup layout  inconclusive  permission denied',
        '',
      ].join('\n'),
    );
  });

  test('the detail column starts at the same offset on every line', () => {
    const results: ProbeResult[] = [
      { name: 'runc', status: 'supported', detail: 'runc version 1.1.5' },
      { name: 'containerd', status: 'unsupported', detail: 'not found on PATH' },
      { name: 'btf', status: 'supported', detail: '/sys/kernel/btf/vmlinux (5242880 bytes)' },
    ];
    const lines = formatProbeTable(results).trimEnd().split('\n');
    const offsets = lines.map((line, index) => line.indexOf(results[index]!.detail));
    expect(new Set(offsets).size).toBe(1);
    expect(offsets[0]).toBe('containerd'.length + 2 + 'unsupported'.length + 2);
  });

  test('a single result is not padded beyond itself', () => {
    expect(formatProbeTable([{ name: 'bpffs', status: 'supported', detail: 'mounted at /sys/fs/bpf' }])).toBe('bpffs  supported  mounted at /sys/fs/bpf\n');
  });
});
