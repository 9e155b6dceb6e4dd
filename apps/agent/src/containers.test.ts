import { describe, expect, test } from 'vitest';
import type { ContainerReport } from '@bulwark/hook-client';
import { formatContainerTable } from './containers.js';
import type { ContainerRecord } from './registry.js';

const header = ['ID', 'NAME', 'RUNTIME', 'PID', 'MNT NS', 'PID NS', 'CGROUP ID', 'SOURCE', 'REGISTERED'];
const longId = '269528f0cc65a03101aa7a86525748eb9071f36d7291f63ffe74caf13059dab6';

function record(container: Partial<ContainerReport> & Pick<ContainerReport, 'id'>, source: ContainerRecord['source'] = 'hook'): ContainerRecord {
  return {
    container: { stage: 'poststart', status: 'running', bundle: '/bundle', names: { runtime: 'podman' }, ...container },
    source,
    registeredAt: '2026-11-22T10:00:00.000Z',
    updatedAt: '2026-11-22T10:00:00.000Z',
  };
}

/** Where each header title starts in the header line. */
function columnStarts(headerLine: string): number[] {
  return header.map((title) => headerLine.indexOf(title));
}

describe('formatContainerTable', () => {
  test('an empty registry prints the header and (no containers)', () => {
    expect(formatContainerTable([])).toBe(`${header.join('  ')}\n(no containers)\n`);
  });

  test('a full record fills every column; a 64-hex id is shortened to 12', () => {
    const text = formatContainerTable([
      record({
        id: longId,
        pid: 7799,
        names: { runtime: 'podman', name: 'web' },
        namespaces: { mnt: { device: 4, inode: 4026532001 }, pid: { device: 4, inode: 4026532002 } },
        cgroup: { path: '/machine.slice/x.scope', id: '8123' },
      }),
    ]);
    const lines = text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect(lines[1]!.split(/ {2,}/)).toEqual(['269528f0cc65', 'web', 'podman', '7799', '4026532001', '4026532002', '8123', 'hook', '2026-11-22T10:00:00.000Z']);
    expect(text).not.toContain(longId);
  });

  test('only a 64-character lowercase hex id is shortened', () => {
    const ids = ['my-container', longId.toUpperCase(), `${longId}0`, longId.slice(0, 63)];
    const text = formatContainerTable(ids.map((id) => record({ id })));
    const firstCells = text.trimEnd().split('\n').slice(1).map((line) => line.split(' ')[0]);
    expect(firstCells).toEqual(ids);
  });

  test('missing values print as -, and a pod stands in for a missing name', () => {
    const text = formatContainerTable([
      record({ id: 'bare' }, 'scan'),
      record({ id: 'pod-member', names: { runtime: 'cri-o', podName: 'nginx-7f9', podNamespace: 'default' } }),
      record({ id: 'pod-no-namespace', names: { runtime: 'containerd', podName: 'solo' } }),
      record({ id: 'mnt-only', namespaces: { mnt: { device: 4, inode: 11 } }, cgroup: { path: '/x' } }),
    ]);
    const rows = text.trimEnd().split('\n').slice(1).map((line) => line.split(/ {2,}/));
    expect(rows).toEqual([
      ['bare', '-', 'podman', '-', '-', '-', '-', 'scan', '2026-11-22T10:00:00.000Z'],
      ['pod-member', 'default/nginx-7f9', 'cri-o', '-', '-', '-', '-', 'hook', '2026-11-22T10:00:00.000Z'],
      ['pod-no-namespace', '/solo', 'containerd', '-', '-', '-', '-', 'hook', '2026-11-22T10:00:00.000Z'],
      ['mnt-only', '-', 'podman', '-', '11', '-', '-', 'hook', '2026-11-22T10:00:00.000Z'],
    ]);
  });

  test('columns line up: every cell starts where its header title starts', () => {
    const text = formatContainerTable([
      record({ id: 'a', names: { runtime: 'podman', name: 'a-rather-long-container-name' }, pid: 1 }),
      record({ id: longId, names: { runtime: 'containerd', name: 'x' }, pid: 123_456, cgroup: { path: '/', id: '99999999999' } }, 'scan'),
    ]);
    const lines = text.trimEnd().split('\n');
    const starts = columnStarts(lines[0]!);
    expect(starts.every((start, index) => index === 0 || start > starts[index - 1]!)).toBe(true);
    for (const line of lines.slice(1)) {
      for (const start of starts.slice(1)) {
        // A cell begins right after two spaces of padding.
        expect(line.slice(start - 2, start)).toBe('  ');
        expect(line[start]).not.toBe(' ');
      }
    }
    // The widest name sets the NAME column's width.
    expect(starts[2]! - starts[1]!).toBe('a-rather-long-container-name'.length + 2);
  });

  test('lines carry no trailing spaces', () => {
    const text = formatContainerTable([record({ id: 'a' }), record({ id: 'b', names: { runtime: 'podman', name: 'longer-name' } })]);
    for (const line of text.split('\n')) expect(line).toBe(line.trimEnd());
  });

  test('rows keep the order they are given in', () => {
    const text = formatContainerTable([record({ id: 'zeta' }), record({ id: 'alpha' })]);
    expect(text.split('\n').slice(1, 3).map((line) => line.split(' ')[0])).toEqual(['zeta', 'alpha']);
  });
});
