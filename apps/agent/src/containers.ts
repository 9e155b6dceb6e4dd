import type { ContainerRecord } from './registry.js';

function shortId(id: string): string {
  return /^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : id;
}

/** A fixed-width table of the registry for people; `--json` gives the whole records. */
export function formatContainerTable(records: readonly ContainerRecord[]): string {
  const header = ['ID', 'NAME', 'RUNTIME', 'PID', 'MNT NS', 'PID NS', 'CGROUP ID', 'SOURCE', 'REGISTERED'];
  const rows = records.map((record) => {
    const container = record.container;
    return [
      shortId(container.id),
      container.names.name ?? (container.names.podName === undefined ? '-' : `${container.names.podNamespace ?? ''}/${container.names.podName}`),
      container.names.runtime,
      container.pid === undefined ? '-' : String(container.pid),
      container.namespaces?.mnt === undefined ? '-' : String(container.namespaces.mnt.inode),
      container.namespaces?.pid === undefined ? '-' : String(container.namespaces.pid.inode),
      container.cgroup?.id ?? '-',
      record.source,
      record.registeredAt,
    ];
  });
  if (rows.length === 0) return `${header.join('  ')}\n(no containers)\n`;
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const format = (row: readonly string[]) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return `${[header, ...rows].map(format).join('\n')}\n`;
}
