/**
 * Maps: those of a loaded object and standalone ones (createMap, or an
 * inner map opened from a map of maps). Byte-level access checks every key
 * and value against the kernel's sizes; typed views over codecs have their
 * sizes checked once, when the view is made. Batch operations go through
 * the kernel's BPF_MAP_*_BATCH commands where it has them.
 */
import { NotSupportedError, ValidationError, type ValidationIssue, addContext } from '@bulwark/errors';
import { ENOENT, ENOSPC, type LibbpfBinding, LibbpfCallError, type MapDefinition, type MapPointer, createLibbpfBinding } from './binding.js';
import { callLibbpf, callQuiet } from './call.js';
import type { Codec } from './codec.js';
import { StateError, toBulwarkError } from './errors.js';
import { type BatchKind, batchNotSupported, batchRefusal, probeBatch, rememberBatch } from './features.js';
import { type MapTypeName, mapInMapTypes, mapTypeId, mapTypeName, perCpuTypes } from './map-types.js';
import { BPF_ANY, BPF_EXIST, BPF_NOEXIST } from './raw/libbpf.js';
import type { ObjectState } from './state.js';

export { mapTypeName, mapTypeNames, type MapTypeName } from './map-types.js';

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

export interface LookupBatchOptions {
  /** Entries asked of the kernel per call; default the map's size, at most 4096. Grows by itself when a hash bucket holds more. */
  batchSize?: number;
}

const updateFlags: Readonly<Record<UpdateMode, number>> = { any: BPF_ANY, noexist: BPF_NOEXIST, exist: BPF_EXIST };

/** Tries to open an inner map whose id vanished under the lookup (it was swapped out and freed) before giving up. */
const innerMapAttempts = 3;

let bindingOfMap: (map: BpfMap) => LibbpfBinding;

/** @internal The binding a map was made with, for the modules built on maps (ring buffers). */
export function mapBinding(map: BpfMap): LibbpfBinding {
  return bindingOfMap(map);
}

export class BpfMap implements Disposable {
  static {
    bindingOfMap = (map) => map.#binding;
  }

  readonly #binding: LibbpfBinding;
  /** The loaded object the map belongs to; undefined for a standalone map, which owns its fd. */
  readonly #object: ObjectState | undefined;
  readonly #fd: number;
  /** libbpf's map, for a map of an object (which bpf_map__pin takes). */
  readonly #pointer: MapPointer | undefined;
  #closed = false;
  #pinPath: string | undefined;
  #id: number | undefined;
  readonly name: string;
  readonly info: MapInfo;

  /** @internal Use LoadedObject.map(), createMap(), BpfMap.openPinned() or BpfMap.lookupInnerMap(). */
  constructor(
    binding: LibbpfBinding,
    name: string,
    definition: MapDefinition,
    fd: number,
    object: ObjectState | undefined,
    pointer?: MapPointer,
    pinPath?: string,
  ) {
    this.#binding = binding;
    this.#object = object;
    this.#fd = fd;
    this.#pointer = pointer;
    this.#pinPath = pinPath;
    this.name = name;
    const type = mapTypeName(definition.type);
    const perCpu = perCpuTypes.has(type);
    this.info = {
      name,
      type,
      typeId: definition.type,
      keySize: definition.keySize,
      valueSize: definition.valueSize,
      maxEntries: definition.maxEntries,
      perCpu,
      valueBufferSize: perCpu ? Math.ceil(definition.valueSize / 8) * 8 * binding.possibleCpus() : definition.valueSize,
    };
  }

  /**
   * Opens the map pinned at `path` (in a BPF file system; bpf_obj_get) as a
   * standalone map that owns its fd: close it. Closing leaves the pin in
   * place; unpin() removes it. Another process's pinned maps, such as those
   * of a loader that exited, are reached this way.
   */
  static openPinned(path: string, options: OpenPinnedMapOptions = {}): BpfMap {
    const operation = 'open pinned map';
    checkPath(operation, path);
    const binding = options.binding ?? createLibbpfBinding();
    const fd = callLibbpf(binding, operation, () => binding.openPinned(path), { path });
    try {
      const info = callLibbpf(binding, operation, () => binding.mapInfo(fd), { path });
      return new BpfMap(binding, info.name, info, fd, undefined, undefined, path);
    } catch (error) {
      binding.closeFd(fd);
      throw error;
    }
  }

  /** The map's file descriptor; valid while its object is open, or for a standalone map until close(). */
  get fd(): number {
    this.#assertUsable(`get fd of map ${this.name}`);
    return this.#fd;
  }

  /** The kernel's id of the map: what a map of maps returns for it. */
  get id(): number {
    const operation = `get id of map ${this.name}`;
    this.#assertUsable(operation);
    this.#id ??= callQuiet(operation, () => this.#binding.mapInfo(this.#fd)).id;
    return this.#id;
  }

  /** Where this handle pinned the map (pin()), or the pin it was opened from (openPinned()); undefined after unpin(). */
  get pinPath(): string | undefined {
    this.#assertUsable(`get pin path of map ${this.name}`);
    return this.#pinPath;
  }

  /**
   * Pins the map at `path`, which must be in a BPF file system (mount -t
   * bpf bpf /sys/fs/bpf): the map then outlives this handle, its object
   * and this process until unpinned. For a map of an object, missing parent
   * directories are created (bpf_map__pin); for a standalone map the parent
   * directory must exist (bpf_obj_pin).
   */
  pin(path: string): void {
    const operation = `pin map ${this.name}`;
    checkPath(operation, path);
    this.#assertUsable(operation);
    if (this.#pinPath !== undefined) throw new StateError(operation, `already pinned at ${this.#pinPath}`);
    const pointer = this.#pointer;
    callLibbpf(this.#binding, operation, () => (pointer === undefined ? this.#binding.pinFd(this.#fd, path) : this.#binding.pinMap(pointer, path)), {
      path,
    });
    this.#pinPath = path;
  }

  /** Removes the pin (pin(), or the one openPinned() opened). The map then lasts only as long as something else holds it. */
  unpin(): void {
    const operation = `unpin map ${this.name}`;
    this.#assertUsable(operation);
    const pinned = this.#pinPath;
    if (pinned === undefined) throw new StateError(operation, 'map is not pinned');
    const pointer = this.#pointer;
    callLibbpf(this.#binding, operation, () => (pointer === undefined ? this.#binding.removePin(pinned) : this.#binding.unpinMap(pointer)), {
      path: pinned,
    });
    this.#pinPath = undefined;
  }

  /** True once a standalone map is closed, or the object of an object's map. */
  get closed(): boolean {
    return this.#object === undefined ? this.#closed : this.#object.phase === 'closed';
  }

  /** The value stored under `key`, or undefined when there is none. */
  lookup(key: Uint8Array): Buffer | undefined {
    const operation = `look up in map ${this.name}`;
    this.#check(operation, key);
    const value = Buffer.alloc(this.info.valueBufferSize);
    const found = callQuiet(operation, () => this.#binding.lookupElement(this.#fd, key, value));
    return found ? value : undefined;
  }

  /** Stores `value` under `key`; `mode` says whether the key may or must exist already (default 'any'). */
  update(key: Uint8Array, value: Uint8Array, options: UpdateOptions = {}): void {
    this.#update(`update map ${this.name}`, key, value, options);
  }

  /** Removes `key`; false when it was not there. Array maps cannot delete (EINVAL). */
  delete(key: Uint8Array): boolean {
    const operation = `delete from map ${this.name}`;
    this.#check(operation, key);
    return callQuiet(operation, () => this.#binding.deleteElement(this.#fd, key));
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
      this.#assertUsable(operation);
      const next = Buffer.alloc(this.info.keySize);
      const found = callQuiet(operation, () => this.#binding.nextKey(this.#fd, previous, next));
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
   * Writes many entries in one call (BPF_MAP_UPDATE_BATCH), each as
   * update() with mode 'any' (the kernel takes no other mode in a batch).
   * When the kernel refuses an entry, the error's message names it
   * (`entry 3 of 10`) and its `written` counts them: the entries before it
   * were written, the rest not.
   * Throws NotSupportedError (reason 'kernel') where the kernel has no
   * batch update for this map type.
   */
  updateBatch(entries: Iterable<readonly [Uint8Array, Uint8Array]>): void {
    const operation = `update map ${this.name} in batch`;
    this.#assertUsable(operation);
    const list = [...entries];
    const { keySize, valueBufferSize } = this.info;
    const keys = Buffer.alloc(keySize * list.length);
    const values = Buffer.alloc(valueBufferSize * list.length);
    list.forEach((entry, index) => {
      const [key, value] = Array.isArray(entry) ? entry : [undefined, undefined];
      checkSize(operation, `entries.${index}.key`, key, keySize);
      checkSize(operation, `entries.${index}.value`, value, valueBufferSize);
      keys.set(key as Uint8Array, index * keySize);
      values.set(value as Uint8Array, index * valueBufferSize);
    });
    if (list.length === 0) return;
    this.#requireBatch(operation, 'update');
    try {
      this.#binding.updateBatch(this.#fd, keys, values, list.length);
    } catch (error) {
      if (!(error instanceof LibbpfCallError)) throw error;
      this.#throwBatchRefusal(operation, 'update', error);
      const written = error.processed ?? 0;
      throw Object.assign(toBulwarkError(`${operation}: entry ${written} of ${list.length}`, error, []), { written });
    }
  }

  /**
   * Every entry, read in batches (BPF_MAP_LOOKUP_BATCH): far fewer calls
   * than entries(). Keys and values are slices of one buffer per batch. A
   * hash map changing meanwhile may give an entry twice or miss one, as the
   * kernel walks it bucket by bucket. Throws NotSupportedError (reason
   * 'kernel') where the kernel has no batch lookup for this map type.
   */
  lookupBatch(options: LookupBatchOptions = {}): [Buffer, Buffer][] {
    const operation = `look up map ${this.name} in batch`;
    this.#assertUsable(operation);
    let batchSize = options.batchSize ?? Math.max(1, Math.min(this.info.maxEntries, 4096));
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw addContext(operation, new ValidationError('batchSize', [{ path: '', message: `expected a positive integer, got ${String(batchSize)}` }]));
    }
    this.#requireBatch(operation, 'lookup');
    const { keySize, valueBufferSize } = this.info;
    const entries: [Buffer, Buffer][] = [];
    // The position tokens: a bucket index for hash maps, a key for others.
    let position: Buffer | undefined;
    let next: Buffer = Buffer.alloc(Math.max(keySize, 8));
    for (;;) {
      this.#assertUsable(operation);
      const keys = Buffer.alloc(keySize * batchSize);
      const values = Buffer.alloc(valueBufferSize * batchSize);
      let result: { count: number; done: boolean };
      try {
        result = this.#binding.lookupBatch(this.#fd, position, next, keys, values, batchSize);
      } catch (error) {
        if (!(error instanceof LibbpfCallError)) throw error;
        // A hash bucket holds more entries than fit: ask again for more.
        if (error.errno === ENOSPC && batchSize < 1 << 24) {
          batchSize *= 2;
          continue;
        }
        this.#throwBatchRefusal(operation, 'lookup', error);
        throw toBulwarkError(operation, error, []);
      }
      for (let index = 0; index < result.count; index++) {
        entries.push([
          keys.subarray(index * keySize, (index + 1) * keySize),
          values.subarray(index * valueBufferSize, (index + 1) * valueBufferSize),
        ]);
      }
      if (result.done) return entries;
      const used = next;
      next = position ?? Buffer.alloc(used.length);
      position = used;
    }
  }

  /**
   * Puts `inner` under `key` of this map of maps (array_of_maps or
   * hash_of_maps). The kernel swaps the pointer atomically: a program sees
   * the old map or the new one, never neither. `inner` must match the
   * outer map's template (type, key and value sizes, and maximum entries),
   * else EINVAL. The outer map holds its own reference, so `inner` may be
   * closed afterwards.
   */
  updateInnerMap(key: Uint8Array, inner: BpfMap, options: UpdateOptions = {}): void {
    const operation = `update inner map of map ${this.name}`;
    this.#assertMapInMap(operation);
    if (!(inner instanceof BpfMap)) {
      throw addContext(operation, new ValidationError('inner', [{ path: '', message: 'expected a BpfMap' }]));
    }
    const value = Buffer.alloc(4);
    if (littleEndian) value.writeUInt32LE(inner.fd);
    else value.writeUInt32BE(inner.fd);
    this.#update(operation, key, value, options);
  }

  /**
   * updateInnerMap for many keys at once: one BPF_MAP_UPDATE_BATCH where
   * the kernel has it for maps of maps (since 6.8 it then waits for one
   * RCU grace period for the whole batch, not one per key), else one
   * update each. Each key changes atomically for a program that reads it;
   * the keys change one after another, not together. On a failure part
   * way, the error's `written` says how many of the first entries are in
   * place. The outer map holds its own references: close the inner maps
   * afterwards.
   */
  updateInnerMaps(entries: readonly (readonly [key: Uint8Array, inner: BpfMap])[]): void {
    const operation = `update inner maps of map ${this.name}`;
    this.#assertMapInMap(operation);
    const pairs = entries.map(([key, inner], index) => {
      if (!(inner instanceof BpfMap)) throw addContext(operation, new ValidationError('inner', [{ path: `${index}`, message: 'expected a BpfMap' }]));
      const value = Buffer.alloc(4);
      if (littleEndian) value.writeUInt32LE(inner.fd);
      else value.writeUInt32BE(inner.fd);
      return [key, value] as const;
    });
    if (pairs.length === 0) return;
    if (pairs.length > 1) {
      try {
        this.updateBatch(pairs);
        return;
      } catch (error) {
        if (!(error instanceof NotSupportedError)) throw error;
      }
    }
    pairs.forEach(([key, value], index) => {
      try {
        this.#update(operation, key, value, {});
      } catch (error) {
        throw Object.assign(error as Error, { written: index });
      }
    });
  }

  /**
   * The map stored under `key` of this map of maps, opened by its id as a
   * standalone BpfMap that the caller must close; undefined when the key
   * holds none.
   */
  lookupInnerMap(key: Uint8Array): BpfMap | undefined {
    const operation = `look up inner map of map ${this.name}`;
    this.#assertMapInMap(operation);
    for (let attempt = 1; ; attempt++) {
      const value = this.lookup(key);
      if (value === undefined) return undefined;
      const id = littleEndian ? value.readUInt32LE(0) : value.readUInt32BE(0);
      try {
        return openMapById(this.#binding, id, operation);
      } catch (error) {
        // Swapped out and freed between the lookup and the open: look again.
        if (!(error instanceof LibbpfCallError && error.errno === ENOENT) || attempt === innerMapAttempts) {
          throw error instanceof LibbpfCallError ? toBulwarkError(operation, error, []) : error;
        }
      }
    }
  }

  /**
   * A view that encodes keys and values with codecs. Throws ValidationError
   * with both sizes when a codec's size differs from the kernel's.
   */
  typed<K, V>(keyCodec: Codec<K>, valueCodec: Codec<V>): TypedMap<K, V> {
    const operation = `typed view of map ${this.name}`;
    this.#assertUsable(operation);
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

  /**
   * Closes a standalone map's fd (one from createMap() or lookupInnerMap());
   * the kernel frees the map once nothing else holds it (a map of maps, a
   * program, a pin). A map of an object closes with its object: close()
   * does nothing for it. Closing twice does nothing.
   */
  close(): void {
    if (this.#object !== undefined || this.#closed) return;
    this.#closed = true;
    callQuiet(`close map ${this.name}`, () => this.#binding.closeFd(this.#fd));
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #update(operation: string, key: Uint8Array, value: Uint8Array, options: UpdateOptions): void {
    this.#check(operation, key, value);
    const mode = options.mode ?? 'any';
    const flags = updateFlags[mode] as number | undefined;
    if (flags === undefined) {
      throw addContext(operation, new ValidationError('mode', [{ path: '', message: `expected any, noexist or exist, got ${mode}` }]));
    }
    callQuiet(operation, () => this.#binding.updateElement(this.#fd, key, value, flags));
  }

  #assertUsable(operation: string): void {
    if (this.#object !== undefined) this.#object.assertPhase(operation, 'loaded');
    else if (this.#closed) throw new StateError(operation, `map ${this.name} is closed`);
  }

  #assertMapInMap(operation: string): void {
    this.#assertUsable(operation);
    if (!mapInMapTypes.has(this.info.type)) {
      throw addContext(operation, new ValidationError('map', [{ path: '', message: `expected array_of_maps or hash_of_maps, map ${this.name} is ${this.info.type}` }]));
    }
  }

  #requireBatch(operation: string, kind: BatchKind): void {
    let result;
    try {
      result = probeBatch(this.#binding, kind, this.info.typeId, this.#fd);
    } catch (error) {
      throw error instanceof LibbpfCallError ? toBulwarkError(operation, error, []) : error;
    }
    if (!result.supported) throw addContext(operation, batchNotSupported(kind, result.missing));
  }

  /** Throws NotSupportedError (and remembers it) when a batch call failed because the kernel lacks it. */
  #throwBatchRefusal(operation: string, kind: BatchKind, error: LibbpfCallError): void {
    const refusal = batchRefusal(kind, this.info.typeId, error.errno);
    if (refusal === undefined || refusal.supported) return;
    rememberBatch(this.#binding, kind, this.info.typeId, refusal);
    throw addContext(operation, Object.assign(batchNotSupported(kind, refusal.missing), { cause: error }));
  }

  #check(operation: string, key: Uint8Array, value?: Uint8Array): void {
    this.#assertUsable(operation);
    checkSize(operation, 'key', key, this.info.keySize);
    if (value !== undefined) checkSize(operation, 'value', value, this.info.valueBufferSize);
  }
}

/** @internal The BpfMap of a loaded object's map. */
export function mapOfObject(state: ObjectState, pointer: MapPointer): BpfMap {
  const binding = state.binding;
  const name = binding.mapName(pointer);
  const fd = callLibbpf(binding, `get fd of map ${name}`, () => binding.mapFd(pointer));
  return new BpfMap(binding, name, binding.mapDefinition(pointer), fd, state, pointer);
}

/** Opens the map with kernel id `id` as a standalone map; a LibbpfCallError passes through. */
function openMapById(binding: LibbpfBinding, id: number, operation: string): BpfMap {
  const fd = binding.mapFdById(id);
  try {
    const info = binding.mapInfo(fd);
    return new BpfMap(binding, info.name, info, fd, undefined);
  } catch (error) {
    binding.closeFd(fd);
    throw error instanceof LibbpfCallError ? toBulwarkError(operation, error, []) : error;
  }
}

export interface OpenPinnedMapOptions {
  /** The libbpf binding to use; default the real libbpf.so.1. */
  binding?: LibbpfBinding;
}

export interface CreateMapOptions {
  /** The map type by name: 'hash', 'array', 'lru_hash', 'hash_of_maps', ... */
  type: MapTypeName;
  keySize: number;
  /** For array_of_maps and hash_of_maps, 4 (the inner map's fd or id). */
  valueSize: number;
  maxEntries: number;
  /** The kernel's name for the map: up to 15 letters, digits, `_` or `.`. */
  name: string;
  /** `map_flags`, e.g. BPF_F_NO_PREALLOC (1) for a hash map. */
  flags?: number;
  /** For array_of_maps and hash_of_maps: a map like the ones it will hold (the template), open while this call runs. */
  innerMap?: BpfMap;
  /** The libbpf binding to use; default the real libbpf.so.1. */
  binding?: LibbpfBinding;
}

const mapName = /^[A-Za-z0-9_.]{1,15}$/;

/**
 * Creates a map outside any object (bpf_map_create). The result owns its
 * fd: close it, or hand it to a map of maps first (updateInnerMap), which
 * keeps the map alive on its own. Throws ValidationError for options the
 * kernel would refuse with a bare EINVAL, LibbpfError for the rest (EPERM
 * without CAP_BPF).
 */
export function createMap(options: CreateMapOptions): BpfMap {
  const issues: ValidationIssue[] = [];
  const typeName: unknown = options.type;
  const type = typeof typeName === 'string' ? mapTypeId(typeName) : undefined;
  if (type === undefined) issues.push({ path: 'type', message: `expected a map type name such as hash, array or ringbuf (see mapTypeNames), got ${String(typeName)}` });
  for (const field of ['keySize', 'valueSize', 'maxEntries'] as const) {
    const value = options[field];
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) issues.push({ path: field, message: `expected an integer from 0 to 4294967295, got ${String(value)}` });
  }
  if (typeof options.name !== 'string' || !mapName.test(options.name)) {
    issues.push({ path: 'name', message: 'expected 1 to 15 letters, digits, _ or .' });
  }
  if (options.flags !== undefined && (!Number.isInteger(options.flags) || options.flags < 0 || options.flags > 0xffffffff)) {
    issues.push({ path: 'flags', message: `expected an integer from 0 to 4294967295, got ${String(options.flags)}` });
  }
  const isMapInMap = type !== undefined && mapInMapTypes.has(options.type);
  if (isMapInMap && options.innerMap === undefined) issues.push({ path: 'innerMap', message: `expected a template map for ${options.type}` });
  if (isMapInMap && options.valueSize !== 4) issues.push({ path: 'valueSize', message: `a map of maps holds 4-byte map ids, got ${String(options.valueSize)}` });
  if (!isMapInMap && options.innerMap !== undefined && type !== undefined) {
    issues.push({ path: 'innerMap', message: `only array_of_maps and hash_of_maps take an inner map, not ${options.type}` });
  }
  if (options.innerMap !== undefined && !(options.innerMap instanceof BpfMap)) issues.push({ path: 'innerMap', message: 'expected a BpfMap' });
  const operation = `create map ${typeof options.name === 'string' ? options.name : ''}`.trimEnd();
  if (issues.length > 0 || type === undefined) throw addContext(operation, new ValidationError('options', issues));
  const binding = options.binding ?? createLibbpfBinding();
  const settings = {
    ...(options.innerMap === undefined ? {} : { innerMapFd: options.innerMap.fd }),
    ...(options.flags === undefined ? {} : { flags: options.flags }),
  };
  const definition: MapDefinition = { type, keySize: options.keySize, valueSize: options.valueSize, maxEntries: options.maxEntries };
  const fd = callLibbpf(binding, operation, () =>
    binding.createMap(type, options.name, definition.keySize, definition.valueSize, definition.maxEntries, settings),
  );
  return new BpfMap(binding, options.name, definition, fd, undefined);
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bytes(count: number): string {
  return count === 1 ? '1 byte' : `${count} bytes`;
}

function checkPath(operation: string, path: string): void {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    throw addContext(operation, new ValidationError('path', [{ path: '', message: 'expected a non-empty path' }]));
  }
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

  /** BpfMap.updateBatch() through the codecs. */
  updateBatch(entries: Iterable<readonly [K, V]>): void {
    const operation = `update map ${this.map.name} in batch`;
    const encoded: [Uint8Array, Uint8Array][] = [];
    let index = 0;
    for (const [key, value] of entries) {
      encoded.push([encode(operation, `entries.${index}.key`, this.#key, key), encode(operation, `entries.${index}.value`, this.#value, value)]);
      index++;
    }
    this.map.updateBatch(encoded);
  }

  /** BpfMap.lookupBatch() through the codecs. */
  lookupBatch(options: LookupBatchOptions = {}): [K, V][] {
    return this.map.lookupBatch(options).map(([key, value]) => [this.#key.decode(key), this.#value.decode(value)]);
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
