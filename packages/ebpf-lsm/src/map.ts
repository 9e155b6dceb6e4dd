/**
 * A map of a loaded object: byte-level access that checks every key and
 * value against the kernel's sizes, and typed views over codecs whose sizes
 * are checked once, when the view is made.
 */
import { ValidationError, type ValidationIssue, addContext } from '@bulwark/errors';
import type { MapPointer } from './binding.js';
import { callLibbpf, callQuiet } from './call.js';
import type { Codec } from './codec.js';
import { BPF_ANY, BPF_EXIST, BPF_NOEXIST } from './raw/libbpf.js';
import type { ObjectState } from './state.js';

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

const perCpuTypes: ReadonlySet<MapTypeName> = new Set(['percpu_hash', 'percpu_array', 'lru_percpu_hash', 'percpu_cgroup_storage']);

export function mapTypeName(type: number): MapTypeName {
  return mapTypeNames[type] ?? `unknown(${type})`;
}

export interface MapInfo {
  readonly name: string;
  readonly type: MapTypeName;
  /** The `enum bpf_map_type` value. */
  readonly typeId: number;
  readonly keySize: number;
  /** The size of one value, as the program sees it. */
  readonly valueSize: number;
  readonly maxEntries: number;
  /** Per-CPU maps hold one value per possible CPU. */
  readonly perCpu: boolean;
  /**
   * The bytes lookup() returns and update() takes: `valueSize`, or for a
   * per-CPU map one 8-byte-aligned slot per possible CPU.
   */
  readonly valueBufferSize: number;
}

/**
 * `any` creates or replaces (BPF_ANY), `noexist` only creates (BPF_NOEXIST,
 * EEXIST if present), `exist` only replaces (BPF_EXIST, ENOENT if absent).
 */
export type UpdateMode = 'any' | 'noexist' | 'exist';

export interface UpdateOptions {
  mode?: UpdateMode;
}

const updateFlags: Readonly<Record<UpdateMode, number>> = { any: BPF_ANY, noexist: BPF_NOEXIST, exist: BPF_EXIST };

export class BpfMap {
  readonly #state: ObjectState;
  readonly #fd: number;
  readonly name: string;
  readonly info: MapInfo;

  /** @internal Use LoadedObject.map(). */
  constructor(state: ObjectState, pointer: MapPointer) {
    this.#state = state;
    const binding = state.binding;
    this.name = binding.mapName(pointer);
    const definition = binding.mapDefinition(pointer);
    const type = mapTypeName(definition.type);
    const perCpu = perCpuTypes.has(type);
    this.info = {
      name: this.name,
      type,
      typeId: definition.type,
      keySize: definition.keySize,
      valueSize: definition.valueSize,
      maxEntries: definition.maxEntries,
      perCpu,
      valueBufferSize: perCpu ? Math.ceil(definition.valueSize / 8) * 8 * binding.possibleCpus() : definition.valueSize,
    };
    this.#fd = callLibbpf(binding, `get fd of map ${this.name}`, () => binding.mapFd(pointer));
  }

  /** The map's file descriptor; valid while its object is open. */
  get fd(): number {
    this.#state.assertPhase(`get fd of map ${this.name}`, 'loaded');
    return this.#fd;
  }

  /** The value stored under `key`, or undefined when there is none. */
  lookup(key: Uint8Array): Buffer | undefined {
    const operation = `look up in map ${this.name}`;
    this.#check(operation, key);
    const value = Buffer.alloc(this.info.valueBufferSize);
    const found = callQuiet(operation, () => this.#state.binding.lookupElement(this.#fd, key, value));
    return found ? value : undefined;
  }

  /** Stores `value` under `key`; `mode` says whether the key may or must exist already (default 'any'). */
  update(key: Uint8Array, value: Uint8Array, options: UpdateOptions = {}): void {
    const operation = `update map ${this.name}`;
    this.#check(operation, key, value);
    const mode = options.mode ?? 'any';
    const flags = updateFlags[mode] as number | undefined;
    if (flags === undefined) {
      throw addContext(operation, new ValidationError('mode', [{ path: '', message: `expected any, noexist or exist, got ${mode}` }]));
    }
    callQuiet(operation, () => this.#state.binding.updateElement(this.#fd, key, value, flags));
  }

  /** Removes `key`; false when it was not there. Array maps cannot delete (EINVAL). */
  delete(key: Uint8Array): boolean {
    const operation = `delete from map ${this.name}`;
    this.#check(operation, key);
    return callQuiet(operation, () => this.#state.binding.deleteElement(this.#fd, key));
  }

  /**
   * The keys, in the kernel's order. The kernel walks the map from the last
   * key given; if that key was deleted meanwhile, a hash map starts over, so
   * a map changing under the walk may repeat keys.
   */
  *keys(): Generator<Buffer, void, undefined> {
    const operation = `list keys of map ${this.name}`;
    let previous: Buffer | undefined;
    for (;;) {
      this.#state.assertPhase(operation, 'loaded');
      const next = Buffer.alloc(this.info.keySize);
      const found = callQuiet(operation, () => this.#state.binding.nextKey(this.#fd, previous, next));
      if (!found) return;
      yield next;
      previous = next;
    }
  }

  /** The entries; a key deleted between listing it and reading it is skipped. */
  *entries(): Generator<[Buffer, Buffer], void, undefined> {
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value !== undefined) yield [key, value];
    }
  }

  /**
   * A view that encodes keys and values with codecs. Throws ValidationError
   * with both sizes when a codec's size differs from the kernel's.
   */
  typed<K, V>(keyCodec: Codec<K>, valueCodec: Codec<V>): TypedMap<K, V> {
    const operation = `typed view of map ${this.name}`;
    this.#state.assertPhase(operation, 'loaded');
    const issues: ValidationIssue[] = [];
    if (keyCodec.size !== this.info.keySize) {
      issues.push({ path: 'key', message: `codec ${keyCodec.name} is ${bytes(keyCodec.size)}, the map's keys are ${bytes(this.info.keySize)}` });
    }
    if (this.info.perCpu) {
      issues.push({ path: 'value', message: `the map is ${this.info.type}, with one value per cpu; use lookup() for its raw values` });
    } else if (valueCodec.size !== this.info.valueSize) {
      issues.push({
        path: 'value',
        message: `codec ${valueCodec.name} is ${bytes(valueCodec.size)}, the map's values are ${bytes(this.info.valueSize)}`,
      });
    }
    if (issues.length > 0) throw addContext(operation, new ValidationError('codecs', issues));
    return new TypedMap(this, keyCodec, valueCodec);
  }

  #check(operation: string, key: Uint8Array, value?: Uint8Array): void {
    this.#state.assertPhase(operation, 'loaded');
    checkSize(operation, 'key', key, this.info.keySize);
    if (value !== undefined) checkSize(operation, 'value', value, this.info.valueBufferSize);
  }
}

function bytes(count: number): string {
  return count === 1 ? '1 byte' : `${count} bytes`;
}

function checkSize(operation: string, what: string, data: unknown, size: number): void {
  if (!(data instanceof Uint8Array)) {
    throw addContext(operation, new ValidationError(what, [{ path: '', message: `expected a Uint8Array of ${bytes(size)}, got ${typeof data}` }]));
  }
  if (data.length !== size) {
    throw addContext(operation, new ValidationError(what, [{ path: '', message: `expected ${bytes(size)}, got ${data.length}` }]));
  }
}

/** A map seen through codecs: `map.typed(codecs.u32, codecs.u64)`. */
export class TypedMap<K, V> {
  readonly map: BpfMap;
  readonly #key: Codec<K>;
  readonly #value: Codec<V>;

  /** @internal Use BpfMap.typed(). */
  constructor(map: BpfMap, key: Codec<K>, value: Codec<V>) {
    this.map = map;
    this.#key = key;
    this.#value = value;
  }

  lookup(key: K): V | undefined {
    const value = this.map.lookup(encode(`look up in map ${this.map.name}`, 'key', this.#key, key));
    return value === undefined ? undefined : this.#value.decode(value);
  }

  update(key: K, value: V, options: UpdateOptions = {}): void {
    const operation = `update map ${this.map.name}`;
    this.map.update(encode(operation, 'key', this.#key, key), encode(operation, 'value', this.#value, value), options);
  }

  delete(key: K): boolean {
    return this.map.delete(encode(`delete from map ${this.map.name}`, 'key', this.#key, key));
  }

  *keys(): Generator<K, void, undefined> {
    for (const key of this.map.keys()) yield this.#key.decode(key);
  }

  *entries(): Generator<[K, V], void, undefined> {
    for (const [key, value] of this.map.entries()) yield [this.#key.decode(key), this.#value.decode(value)];
  }
}

function encode<T>(operation: string, what: string, codec: Codec<T>, value: T): Uint8Array {
  let encoded: Uint8Array;
  try {
    encoded = codec.encode(value);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw addContext(operation, new ValidationError(what, [{ path: '', message }], { cause: error }));
  }
  if (encoded.length !== codec.size) {
    const issue = { path: '', message: `codec ${codec.name} produced ${bytes(encoded.length)}, not its size ${codec.size}` };
    throw addContext(operation, new ValidationError(what, [issue]));
  }
  return encoded;
}
