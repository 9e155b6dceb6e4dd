import { describe, expect, it } from 'vitest';
import { ENOSPC, EPERM, FakeBinding, mapInMapObject } from './__fixtures__/fake-binding.js';
import { codecs } from './codec.js';
import { BpfMap, createMap, mapTypeName } from './map.js';
import { openObject } from './object.js';
import { caught } from './__fixtures__/caught.js';

const path = '/objects/test-tracepoint.bpf.o';

function load(): { binding: FakeBinding; loaded: ReturnType<ReturnType<typeof openObject>['load']> } {
  const binding = new FakeBinding().addObject(path);
  return { binding, loaded: openObject(path, { binding }).load() };
}

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value);
  return bytes;
}

function u64(value: bigint): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(value);
  return bytes;
}

describe('BpfMap', () => {
  it("describes itself from the object's definition", () => {
    const { loaded } = load();
    expect(loaded.map('counts').info).toEqual({
      name: 'counts',
      type: 'hash',
      typeId: 1,
      keySize: 4,
      valueSize: 8,
      maxEntries: 3,
      perCpu: false,
      valueBufferSize: 8,
    });
    expect(loaded.map('settings').info).toMatchObject({ type: 'array', maxEntries: 4 });
    // Per-CPU: one 8-byte-aligned slot per possible CPU (12 -> 16, times 4).
    expect(loaded.map('per_cpu').info).toMatchObject({ type: 'percpu_hash', perCpu: true, valueSize: 12, valueBufferSize: 64 });
    expect(mapTypeName(27)).toBe('ringbuf');
    expect(mapTypeName(999)).toBe('unknown(999)');
  });

  it('updates, looks up, lists and deletes elements as bytes', () => {
    const { loaded } = load();
    const map = loaded.map('counts');
    expect(map.lookup(u32(1))).toBeUndefined();
    map.update(u32(1), u64(10n));
    map.update(u32(2), u64(20n), { mode: 'noexist' });
    map.update(u32(1), u64(11n), { mode: 'exist' });
    expect(map.lookup(u32(1))).toEqual(u64(11n));
    expect([...map.keys()]).toEqual([u32(1), u32(2)]);
    expect([...map.entries()]).toEqual([
      [u32(1), u64(11n)],
      [u32(2), u64(20n)],
    ]);
    expect(map.delete(u32(1))).toBe(true);
    expect(map.delete(u32(1))).toBe(false);
    expect([...map.keys()]).toEqual([u32(2)]);
  });

  it('maps the kernel refusing an update to a LibbpfError with the errno', () => {
    const { loaded } = load();
    const map = loaded.map('counts');
    map.update(u32(1), u64(1n));
    expect(() => map.update(u32(1), u64(1n), { mode: 'noexist' })).toThrow(
      expect.objectContaining({ name: 'LibbpfError', errno: 'EEXIST', message: 'update map counts: file exists', functionName: 'bpf_map_update_elem' }),
    );
    expect(() => map.update(u32(9), u64(1n), { mode: 'exist' })).toThrow(expect.objectContaining({ errno: 'ENOENT' }));
    map.update(u32(2), u64(1n));
    map.update(u32(3), u64(1n));
    expect(() => map.update(u32(4), u64(1n))).toThrow(expect.objectContaining({ errno: 'E2BIG', message: 'update map counts: argument list too long' }));
    expect(() => loaded.map('settings').delete(u32(0))).toThrow(expect.objectContaining({ errno: 'EINVAL', message: 'delete from map settings: invalid argument' }));
    expect(() => map.update(u32(1), u64(1n), { mode: 'sometimes' as 'any' })).toThrow(
      expect.objectContaining({ code: 'ERR_VALIDATION', message: 'update map counts: mode: expected any, noexist or exist, got sometimes' }),
    );
  });

  it("checks key and value sizes against the kernel's before calling libbpf", () => {
    const { binding, loaded } = load();
    const map = loaded.map('counts');
    const perCpu = loaded.map('per_cpu');
    const before = binding.calls.length;
    expect(() => map.lookup(Buffer.alloc(8))).toThrow(
      expect.objectContaining({ name: 'ValidationError', code: 'ERR_VALIDATION', message: 'look up in map counts: key: expected 4 bytes, got 8' }),
    );
    expect(() => map.update(u32(1), Buffer.alloc(4))).toThrow(expect.objectContaining({ message: 'update map counts: value: expected 8 bytes, got 4' }));
    expect(() => map.delete('1234' as unknown as Uint8Array)).toThrow(
      expect.objectContaining({ message: 'delete from map counts: key: expected a Uint8Array of 4 bytes, got string' }),
    );
    expect(() => perCpu.update(u32(1), Buffer.alloc(12))).toThrow(
      expect.objectContaining({ message: 'update map per_cpu: value: expected 64 bytes, got 12' }),
    );
    expect(binding.calls.length).toBe(before);
  });

  it('lists array maps by index', () => {
    const { loaded } = load();
    const settings = loaded.map('settings');
    expect([...settings.keys()]).toEqual([u32(0), u32(1), u32(2), u32(3)]);
    settings.update(u32(0), u64(4242n));
    expect(settings.lookup(u32(0))).toEqual(u64(4242n));
  });

  it('stops a walk when the object is closed under it', () => {
    const { loaded } = load();
    const keys = loaded.map('settings').keys();
    expect(keys.next().value).toEqual(u32(0));
    loaded.close();
    expect(() => keys.next()).toThrow(expect.objectContaining({ code: 'ERR_STATE', message: 'list keys of map settings: object test_tracepoint is closed' }));
  });
});

describe('TypedMap', () => {
  it('encodes and decodes through codecs', () => {
    const { loaded } = load();
    const counts = loaded.map('counts').typed(codecs.u32, codecs.u64);
    counts.update(7, 70n);
    counts.update(8, 80n);
    expect(counts.lookup(7)).toBe(70n);
    expect(counts.lookup(9)).toBeUndefined();
    expect([...counts.keys()]).toEqual([7, 8]);
    expect([...counts.entries()]).toEqual([
      [7, 70n],
      [8, 80n],
    ]);
    expect(counts.delete(7)).toBe(true);
    expect(counts.map.name).toBe('counts');
  });

  it('fails with both sizes when a codec does not match the map', () => {
    const { loaded } = load();
    const map = loaded.map('counts');
    expect(() => map.typed(codecs.u64, codecs.u64)).toThrow(
      expect.objectContaining({
        name: 'ValidationError',
        code: 'ERR_VALIDATION',
        message: "typed view of map counts: codecs: key: codec u64 is 8 bytes, the map's keys are 4 bytes",
      }),
    );
    expect(() => map.typed(codecs.u16, codecs.bytes(9))).toThrow(
      expect.objectContaining({
        message:
          "typed view of map counts: codecs: key: codec u16 is 2 bytes, the map's keys are 4 bytes; value: codec bytes(9) is 9 bytes, the map's values are 8 bytes",
      }),
    );
    expect(() => loaded.map('per_cpu').typed(codecs.u32, codecs.bytes(12))).toThrow(
      expect.objectContaining({ message: expect.stringContaining('one value per cpu') as unknown }),
    );
  });

  it('turns codec failures into validation errors', () => {
    const { loaded } = load();
    const counts = loaded.map('counts').typed(codecs.u32, codecs.u64);
    expect(() => counts.update(-1, 1n)).toThrow(
      expect.objectContaining({ code: 'ERR_VALIDATION', message: 'update map counts: key: u32: expected an integer from 0 to 4294967295, got -1' }),
    );
    expect(() => counts.update(1, 1 as unknown as bigint)).toThrow(expect.objectContaining({ message: expect.stringContaining('value: u64: expected a bigint') as unknown }));
    const liar = { name: 'liar', size: 4, encode: () => new Uint8Array(3), decode: () => 0 };
    const typed = loaded.map('counts').typed(liar, codecs.u64);
    expect(() => typed.lookup(1)).toThrow(expect.objectContaining({ message: 'look up in map counts: key: codec liar produced 3 bytes, not its size 4' }));
  });

  it('refuses a view of a closed object', () => {
    const { loaded } = load();
    const map = loaded.map('counts');
    const typed = map.typed(codecs.u32, codecs.u64);
    loaded.close();
    expect(() => map.typed(codecs.u32, codecs.u64)).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(() => typed.lookup(1)).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
  });
});

function policyMap(binding: FakeBinding, name = 'policy'): BpfMap {
  return createMap({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 1, name, binding });
}

describe('createMap', () => {
  it('creates a standalone map that owns its fd until close()', () => {
    const binding = new FakeBinding();
    const map = createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 16, name: 'scratch', binding });
    expect(map.info).toEqual({ name: 'scratch', type: 'hash', typeId: 1, keySize: 4, valueSize: 8, maxEntries: 16, perCpu: false, valueBufferSize: 8 });
    expect(map.id).toBeGreaterThan(0);
    map.update(u32(1), u64(2n));
    expect(map.lookup(u32(1))).toEqual(u64(2n));
    expect(binding.openMapFds).toBe(1);
    expect(map.closed).toBe(false);
    map.close();
    map.close();
    expect(map.closed).toBe(true);
    expect(binding.openMapFds).toBe(0);
    expect(caught(() => map.lookup(u32(1)))).toMatchObject({ code: 'ERR_STATE', message: 'look up in map scratch: map scratch is closed' });
  });

  it("leaves an object's map to its object: close() does nothing", () => {
    const { loaded } = load();
    const counts = loaded.map('counts');
    counts.close();
    counts.update(u32(1), u64(1n));
    expect(counts.closed).toBe(false);
    loaded.close();
    expect(counts.closed).toBe(true);
  });

  it('checks the options before the kernel sees them', () => {
    const binding = new FakeBinding();
    expect(caught(() => createMap({ type: 'hashmap' as 'hash', keySize: 4, valueSize: 8, maxEntries: 1, name: 'x', binding }))).toMatchObject({
      code: 'ERR_VALIDATION',
      message: 'create map x: options: type: expected a map type name such as hash, array or ringbuf (see mapTypeNames), got hashmap',
    });
    expect(caught(() => createMap({ type: 'hash', keySize: -1, valueSize: 8, maxEntries: 1, name: 'a-name-far-too-long', binding }))).toMatchObject({
      message:
        'create map a-name-far-too-long: options: keySize: expected an integer from 0 to 4294967295, got -1; name: expected 1 to 15 letters, digits, _ or .',
    });
    expect(caught(() => createMap({ type: 'hash_of_maps', keySize: 4, valueSize: 8, maxEntries: 1, name: 'outer', binding }))).toMatchObject({
      message: 'create map outer: options: innerMap: expected a template map for hash_of_maps; valueSize: a map of maps holds 4-byte map ids, got 8',
    });
    const inner = policyMap(binding);
    expect(caught(() => createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1, name: 'plain', innerMap: inner, binding }))).toMatchObject({
      message: 'create map plain: options: innerMap: only array_of_maps and hash_of_maps take an inner map, not hash',
    });
    expect(binding.calls.filter((call) => call.startsWith('createMap'))).toEqual(['createMap policy']);
  });

  it('reports a refusal as a LibbpfError', () => {
    const binding = new FakeBinding().failNext('createMap', EPERM);
    expect(caught(() => createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1, name: 'x', binding }))).toMatchObject({
      name: 'LibbpfError',
      isPermission: true,
      functionName: 'bpf_map_create',
      message: 'create map x: operation not permitted',
    });
  });
});

describe('maps of maps', () => {
  it('inserts, swaps and reads back inner maps, opened by id', () => {
    const binding = new FakeBinding();
    const first = policyMap(binding, 'first');
    const second = policyMap(binding, 'second');
    using outer = createMap({ type: 'hash_of_maps', keySize: 4, valueSize: 4, maxEntries: 4, name: 'outer', innerMap: first, binding });
    expect(outer.lookupInnerMap(u32(0))).toBeUndefined();
    outer.updateInnerMap(u32(0), first, { mode: 'noexist' });
    // The outer map reads back as the inner map's id.
    expect(outer.lookup(u32(0))?.readUInt32LE(0)).toBe(first.id);
    outer.updateInnerMap(u32(0), second, { mode: 'exist' });
    const found = outer.lookupInnerMap(u32(0));
    expect(found?.id).toBe(second.id);
    expect(found?.name).toBe('second');
    expect(found?.fd).not.toBe(second.fd);
    found?.close();
    for (const map of [first, second]) map.close();
    expect(binding.openMapFds).toBe(1);
  });

  it("refuses an inner map unlike the template, and a map that is not a map of maps", () => {
    const binding = new FakeBinding();
    using template = policyMap(binding);
    using outer = createMap({ type: 'array_of_maps', keySize: 4, valueSize: 4, maxEntries: 2, name: 'outer', innerMap: template, binding });
    using hash = createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1, name: 'hash', binding });
    expect(caught(() => outer.updateInnerMap(u32(0), hash))).toMatchObject({
      name: 'LibbpfError',
      errno: 'EINVAL',
      message: 'update inner map of map outer: invalid argument',
    });
    expect(caught(() => hash.lookupInnerMap(u32(0)))).toMatchObject({
      code: 'ERR_VALIDATION',
      message: 'look up inner map of map hash: map: expected array_of_maps or hash_of_maps, map hash is hash',
    });
    hash.close();
    expect(caught(() => outer.updateInnerMap(u32(0), hash))).toMatchObject({ code: 'ERR_STATE', message: 'get fd of map hash: map hash is closed' });
  });

  it('puts many inner maps in one call, one update each where the kernel has no batch for maps of maps, and says how many went in', () => {
    const binding = new FakeBinding(); // its kernel has no batch operations for maps of maps
    using template = policyMap(binding);
    using outer = createMap({ type: 'array_of_maps', keySize: 4, valueSize: 4, maxEntries: 4, name: 'outer', innerMap: template, binding });
    using first = policyMap(binding, 'first');
    using second = policyMap(binding, 'second');
    using hash = createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1, name: 'hash', binding });
    binding.calls.length = 0;
    outer.updateInnerMaps([
      [u32(0), first],
      [u32(1), second],
    ]);
    expect([outer.lookup(u32(0))?.readUInt32LE(0), outer.lookup(u32(1))?.readUInt32LE(0)]).toEqual([first.id, second.id]);
    // The batch tried (refused: not supported), then one update per key.
    expect(binding.calls.filter((call) => call.startsWith('update'))).toEqual(['updateBatch outer', 'updateElement outer', 'updateElement outer']);
    const error = caught(() =>
      outer.updateInnerMaps([
        [u32(2), second],
        [u32(3), hash],
        [u32(0), second],
      ]),
    );
    expect(error).toMatchObject({ name: 'LibbpfError', errno: 'EINVAL', written: 1 });
    expect([outer.lookup(u32(0))?.readUInt32LE(0), outer.lookup(u32(2))?.readUInt32LE(0), outer.lookup(u32(3))]).toEqual([first.id, second.id, undefined]);
    expect(caught(() => outer.updateInnerMaps([[u32(0), 'not a map' as never]]))).toMatchObject({ code: 'ERR_VALIDATION', message: 'update inner maps of map outer: inner: 0: expected a BpfMap' });
  });

  it('sets the template of an object map before load, and checks it is still open at load', () => {
    const binding = new FakeBinding().addObject('/objects/map-in-map.bpf.o', mapInMapObject);
    const failing = openObject('/objects/map-in-map.bpf.o', { binding });
    expect(caught(() => failing.load())).toMatchObject({
      name: 'LibbpfError',
      errno: 'EINVAL',
      message: "load object map_in_map: invalid argument; libbpf: map 'routes': failed to create: Invalid argument(-22)",
    });

    const closedEarly = openObject('/objects/map-in-map.bpf.o', { binding });
    const early = policyMap(binding);
    closedEarly.setInnerMapTemplate('routes', early);
    early.close();
    expect(caught(() => closedEarly.load())).toMatchObject({
      code: 'ERR_STATE',
      message: 'load object map_in_map: inner map template policy of map routes was closed before load',
    });
    closedEarly.close();

    const open = openObject('/objects/map-in-map.bpf.o', { binding });
    expect(caught(() => open.setInnerMapTemplate('nope', early))).toMatchObject({
      message: "object map_in_map: maps: no map named 'nope' (has policies, routes, seen)",
    });
    const template = policyMap(binding);
    open.setInnerMapTemplate('routes', template);
    using loaded = open.load();
    template.close();
    const inner = policyMap(binding, 'inner');
    loaded.map('routes').updateInnerMap(u32(3), inner);
    loaded.map('policies').updateInnerMap(u32(3), inner);
    expect(loaded.map('routes').lookup(u32(3))?.readUInt32LE(0)).toBe(inner.id);
    expect(caught(() => open.setInnerMapTemplate('routes', inner))).toMatchObject({ code: 'ERR_STATE' });
  });
});

describe('batch operations', () => {
  function hashMap(binding = new FakeBinding(), maxEntries = 100): { binding: FakeBinding; map: BpfMap } {
    return { binding, map: createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries, name: 'numbers', binding }) };
  }

  it('writes and reads many entries in few calls', () => {
    const { binding, map } = hashMap();
    map.updateBatch(Array.from({ length: 50 }, (_, index) => [u32(index), u64(BigInt(index * 7))] as const));
    const entries = map.lookupBatch({ batchSize: 16 });
    expect(entries.map(([key, value]) => [key.readUInt32LE(0), value.readBigUInt64LE(0)])).toEqual(
      Array.from({ length: 50 }, (_, index) => [index, BigInt(index * 7)]),
    );
    // A probe (a batch of none) once per kind, then one update and four lookups of 16.
    expect(binding.calls.filter((call) => call.includes('Batch'))).toEqual([
      'updateBatch numbers',
      'updateBatch numbers',
      'lookupBatch numbers',
      ...Array<string>(4).fill('lookupBatch numbers'),
    ]);
    map.updateBatch([]);
  });

  it('names the entry the kernel refused: those before it were written', () => {
    const { map } = hashMap(new FakeBinding(), 3);
    const error = caught(() => map.updateBatch([1, 2, 3, 4, 5].map((key) => [u32(key), u64(1n)] as const)));
    expect(error).toMatchObject({ name: 'LibbpfError', errno: 'E2BIG', message: 'update map numbers in batch: entry 3 of 5: argument list too long' });
    expect(map.lookupBatch()).toHaveLength(3);
    expect(caught(() => map.updateBatch([[u32(1), u64(1n)], [u32(2), Buffer.alloc(4)]]))).toMatchObject({
      code: 'ERR_VALIDATION',
      message: 'update map numbers in batch: entries.1.value: expected 8 bytes, got 4',
    });
  });

  it('reads past a hash bucket larger than the batch by asking again for more', () => {
    const { binding, map } = hashMap();
    map.updateBatch([[u32(1), u64(1n)]]);
    expect(map.lookupBatch()).toHaveLength(1);
    binding.failNext('lookupBatch', ENOSPC);
    expect(map.lookupBatch({ batchSize: 1 })).toHaveLength(1);
    expect(caught(() => map.lookupBatch({ batchSize: 0 }))).toMatchObject({ message: 'look up map numbers in batch: batchSize: expected a positive integer, got 0' });
  });

  it('reports a map type without batch operations as not supported by the kernel, probed once', () => {
    const binding = new FakeBinding();
    using queue = createMap({ type: 'queue', keySize: 0, valueSize: 8, maxEntries: 4, name: 'queue', binding });
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(caught(() => queue.lookupBatch())).toMatchObject({
        name: 'NotSupportedError',
        code: 'ERR_NOT_SUPPORTED',
        reason: 'kernel',
        message: 'look up map queue in batch: batch lookup not supported: queue maps have no batch lookup in this kernel',
      });
    }
    expect(binding.calls.filter((call) => call.startsWith('lookupBatch'))).toEqual(['lookupBatch queue']);
  });

  it('reports a kernel without batch commands (EINVAL to the probe) as not supported', () => {
    const binding = new FakeBinding();
    binding.batchCommands = false;
    const { map } = hashMap(binding);
    expect(caught(() => map.updateBatch([[u32(1), u64(1n)]]))).toMatchObject({
      reason: 'kernel',
      message: 'update map numbers in batch: batch update not supported: the kernel has no batch map operations (BPF_MAP_UPDATE_BATCH, linux 5.6)',
    });
  });

  it('caches nothing when the probe is inconclusive (EPERM), and never calls that not supported', () => {
    const { binding, map } = hashMap();
    binding.failNext('lookupBatch', EPERM);
    expect(caught(() => map.lookupBatch())).toMatchObject({ name: 'LibbpfError', errno: 'EPERM', isPermission: true, message: 'look up map numbers in batch: operation not permitted' });
    expect(map.lookupBatch()).toEqual([]);
    expect(binding.calls.filter((call) => call.startsWith('lookupBatch'))).toHaveLength(3);
  });

  it('goes through codecs in a typed view, per-CPU values included in the raw one', () => {
    const { map } = hashMap();
    const typed = map.typed(codecs.u32, codecs.u64);
    typed.updateBatch([
      [1, 10n],
      [2, 20n],
    ]);
    expect(typed.lookupBatch()).toEqual([
      [1, 10n],
      [2, 20n],
    ]);
    expect(caught(() => typed.updateBatch([[-1, 1n]]))).toMatchObject({ message: 'update map numbers in batch: entries.0.key: u32: expected an integer from 0 to 4294967295, got -1' });
    const binding = new FakeBinding();
    using perCpu = createMap({ type: 'percpu_array', keySize: 4, valueSize: 4, maxEntries: 2, name: 'per_cpu', binding });
    perCpu.updateBatch([[u32(1), Buffer.alloc(32, 1)]]);
    expect(perCpu.lookupBatch().map(([key, value]) => [key.readUInt32LE(0), value.length, value[31]])).toEqual([
      [0, 32, 0],
      [1, 32, 1],
    ]);
  });
});

describe('pinned maps', () => {
  it("pins an object's map, reopens it by path after the object is closed, and unpins it", () => {
    const { binding, loaded } = load();
    const counts = loaded.map('counts');
    expect(counts.pinPath).toBeUndefined();
    counts.update(u32(1), u64(7n));
    counts.pin('/sys/fs/bpf/bulwark/counts');
    expect(counts.pinPath).toBe('/sys/fs/bpf/bulwark/counts');
    loaded.close();
    expect(() => counts.unpin()).toThrow(expect.objectContaining({ code: 'ERR_STATE', message: 'unpin map counts: object test_tracepoint is closed' }));

    const pinned = BpfMap.openPinned('/sys/fs/bpf/bulwark/counts', { binding });
    expect(pinned.info).toMatchObject({ name: 'counts', type: 'hash', keySize: 4, valueSize: 8 });
    expect(pinned.pinPath).toBe('/sys/fs/bpf/bulwark/counts');
    expect(pinned.lookup(u32(1))).toEqual(u64(7n));
    pinned.unpin();
    expect(pinned.pinPath).toBeUndefined();
    expect(binding.mapPins.size).toBe(0);
    pinned.close();
    expect(binding.openMapFds).toBe(0);
    expect(binding.calls.filter((call) => /^(pin|unpin|openPinned|removePin)/.test(call))).toEqual([
      'pinMap /sys/fs/bpf/bulwark/counts',
      'openPinned /sys/fs/bpf/bulwark/counts',
      'removePin /sys/fs/bpf/bulwark/counts',
    ]);
  });

  it("unpins an object's map through libbpf, and pins a standalone map by its fd", () => {
    const { binding, loaded } = load();
    loaded.map('settings').pin('/sys/fs/bpf/settings');
    loaded.map('settings').unpin();
    const standalone = createMap({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 2, name: 'standalone', binding });
    standalone.pin('/sys/fs/bpf/standalone');
    standalone.close();
    expect([...binding.mapPins.keys()]).toEqual(['/sys/fs/bpf/standalone']);
    expect(binding.calls.filter((call) => /^(pin|unpin)/.test(call))).toEqual([
      'pinMap /sys/fs/bpf/settings',
      'unpinMap /sys/fs/bpf/settings',
      'pinFd /sys/fs/bpf/standalone',
    ]);
  });

  it('refuses to pin twice, unpin what is not pinned, or use a closed map, without calling libbpf', () => {
    const { binding, loaded } = load();
    const counts = loaded.map('counts');
    expect(() => counts.unpin()).toThrow(expect.objectContaining({ name: 'StateError', code: 'ERR_STATE', message: 'unpin map counts: map is not pinned' }));
    counts.pin('/sys/fs/bpf/a');
    expect(() => counts.pin('/sys/fs/bpf/b')).toThrow(expect.objectContaining({ code: 'ERR_STATE', message: 'pin map counts: already pinned at /sys/fs/bpf/a' }));
    expect(() => counts.pin('')).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
    const pinned = BpfMap.openPinned('/sys/fs/bpf/a', { binding });
    pinned.close();
    for (const call of [() => pinned.pin('/sys/fs/bpf/c'), () => pinned.unpin(), () => pinned.pinPath]) {
      expect(call).toThrow(expect.objectContaining({ code: 'ERR_STATE', message: expect.stringMatching(/map counts is closed$/) }));
    }
    expect(binding.calls.filter((call) => /^(pin|unpin|removePin)/.test(call))).toEqual(['pinMap /sys/fs/bpf/a']);
  });

  it('reports a pin outside a BPF file system, a missing pin and a failed unpin as LibbpfErrors with the path', () => {
    const { binding, loaded } = load();
    expect(() => loaded.map('counts').pin('/tmp/counts')).toThrow(
      expect.objectContaining({
        name: 'LibbpfError',
        errno: 'EINVAL',
        path: '/tmp/counts',
        message: 'pin map counts: invalid argument (/tmp/counts); libbpf: specified path /tmp/counts is not on BPF FS',
      }),
    );
    expect(loaded.map('counts').pinPath).toBeUndefined();
    expect(() => BpfMap.openPinned('/sys/fs/bpf/none', { binding })).toThrow(
      expect.objectContaining({ name: 'LibbpfError', errno: 'ENOENT', message: 'open pinned map: no such file or directory (/sys/fs/bpf/none)' }),
    );
    loaded.map('counts').pin('/sys/fs/bpf/counts');
    const pinned = BpfMap.openPinned('/sys/fs/bpf/counts', { binding });
    binding.failNext('removePin', EPERM);
    expect(() => pinned.unpin()).toThrow(expect.objectContaining({ name: 'LibbpfError', errno: 'EPERM', path: '/sys/fs/bpf/counts' }));
    expect(pinned.pinPath).toBe('/sys/fs/bpf/counts');
    pinned.close();
  });
});
