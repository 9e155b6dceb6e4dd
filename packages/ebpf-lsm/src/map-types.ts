/** The kernel's map types by name (`enum bpf_map_type`), pure data. */

/** `enum bpf_map_type`, lowercase, without the BPF_MAP_TYPE_ prefix. */
export const mapTypeNames = [
  'unspec',
  'hash',
  'array',
  'prog_array',
  'perf_event_array',
  'percpu_hash',
  'percpu_array',
  'stack_trace',
  'cgroup_array',
  'lru_hash',
  'lru_percpu_hash',
  'lpm_trie',
  'array_of_maps',
  'hash_of_maps',
  'devmap',
  'sockmap',
  'cpumap',
  'xskmap',
  'sockhash',
  'cgroup_storage',
  'reuseport_sockarray',
  'percpu_cgroup_storage',
  'queue',
  'stack',
  'sk_storage',
  'devmap_hash',
  'struct_ops',
  'ringbuf',
  'inode_storage',
  'task_storage',
  'bloom_filter',
  'user_ringbuf',
  'cgrp_storage',
  'arena',
] as const;

export type MapTypeName = (typeof mapTypeNames)[number] | `unknown(${number})`;

/** Map types that hold one value per possible CPU. */
export const perCpuTypes: ReadonlySet<MapTypeName> = new Set(['percpu_hash', 'percpu_array', 'lru_percpu_hash', 'percpu_cgroup_storage']);

/** The name of an `enum bpf_map_type` value: 27 -> 'ringbuf'. */
export function mapTypeName(type: number): MapTypeName {
  return mapTypeNames[type] ?? `unknown(${type})`;
}

/** Map types whose values are other maps (their ids when read, their fds when written). */
export const mapInMapTypes: ReadonlySet<MapTypeName> = new Set(['array_of_maps', 'hash_of_maps']);

/** The `enum bpf_map_type` value of a name, or undefined for names this package does not know. */
export function mapTypeId(name: string): number | undefined {
  const index = (mapTypeNames as readonly string[]).indexOf(name);
  return index <= 0 ? undefined : index;
}
