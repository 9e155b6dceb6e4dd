import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestPrograms, callGetppid, compileTestPrograms, ensureTracefs } from './__fixtures__/bpf.js';
import { codecs } from './codec.js';
import { type BpfMap, createMap } from './map.js';
import { type LoadedObject, openObject } from './object.js';
import { caught } from './__fixtures__/caught.js';

let programs: TestPrograms;
let loaded: LoadedObject;

beforeAll(() => {
  programs = compileTestPrograms();
  loaded = openObject(programs.tracepoint).load();
});

afterAll(() => {
  loaded.close();
  programs[Symbol.dispose]();
});

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

describe('maps on the real kernel', () => {
  it('updates, looks up, iterates and deletes hash map elements', () => {
    const counts = loaded.map('counts');
    expect(counts.fd).toBeGreaterThan(2);
    expect(counts.lookup(u32(1))).toBeUndefined();
    for (let key = 1; key <= 5; key++) counts.update(u32(key), u64(BigInt(key * 100)));
    expect(counts.lookup(u32(3))).toEqual(u64(300n));
    const keys = [...counts.keys()].map((key) => key.readUInt32LE()).sort();
    expect(keys).toEqual([1, 2, 3, 4, 5]);
    const entries = [...counts.entries()].map(([key, value]) => [key.readUInt32LE(), value.readBigUInt64LE()] as const);
    expect(new Map(entries)).toEqual(new Map([1, 2, 3, 4, 5].map((key) => [key, BigInt(key * 100)])));
    expect(counts.delete(u32(3))).toBe(true);
    expect(counts.delete(u32(3))).toBe(false);
    expect(counts.lookup(u32(3))).toBeUndefined();
    for (const key of [1, 2, 4, 5]) expect(counts.delete(u32(key))).toBe(true);
    expect([...counts.keys()]).toEqual([]);
  });

  it("passes the kernel's refusals on with their errno", () => {
    const counts = loaded.map('counts');
    counts.update(u32(9), u64(1n), { mode: 'noexist' });
    expect(caught(() => counts.update(u32(9), u64(2n), { mode: 'noexist' }))).toMatchObject({
      name: 'LibbpfError',
      errno: 'EEXIST',
      message: 'update map counts: file exists',
    });
    counts.update(u32(9), u64(3n), { mode: 'exist' });
    expect(counts.lookup(u32(9))).toEqual(u64(3n));
    expect(counts.delete(u32(9))).toBe(true);
    expect(caught(() => counts.update(u32(9), u64(1n), { mode: 'exist' }))).toMatchObject({ errno: 'ENOENT' });

    const settings = loaded.map('settings');
    expect(caught(() => settings.delete(u32(0)))).toMatchObject({ errno: 'EINVAL', message: 'delete from map settings: invalid argument' });
    expect(caught(() => settings.update(u32(4), u64(1n)))).toMatchObject({ errno: 'E2BIG' });
  });

  it('reads an array map: every index exists, zeroed', () => {
    const settings = loaded.map('settings');
    expect([...settings.keys()].map((key) => key.readUInt32LE())).toEqual([0, 1, 2, 3]);
    expect(settings.lookup(u32(2))).toEqual(u64(0n));
    settings.update(u32(2), u64(77n));
    expect(settings.lookup(u32(2))).toEqual(u64(77n));
    expect(settings.lookup(u32(4))).toBeUndefined();
    settings.update(u32(2), u64(0n));
  });

  it('checks sizes before the kernel sees the buffers', () => {
    const counts = loaded.map('counts');
    expect(caught(() => counts.lookup(Buffer.alloc(2)))).toMatchObject({
      code: 'ERR_VALIDATION',
      message: 'look up in map counts: key: expected 4 bytes, got 2',
    });
    expect(caught(() => counts.update(u32(1), Buffer.alloc(16)))).toMatchObject({ message: 'update map counts: value: expected 8 bytes, got 16' });
  });

  it("typed views check codecs against the kernel's sizes", () => {
    const counts = loaded.map('counts');
    expect(caught(() => counts.typed(codecs.u64, codecs.u32))).toMatchObject({
      code: 'ERR_VALIDATION',
      message:
        "typed view of map counts: codecs: key: codec u64 is 8 bytes, the map's keys are 4 bytes; value: codec u32 is 4 bytes, the map's values are 8 bytes",
    });
    const typed = counts.typed(codecs.u32, codecs.u64);
    typed.update(42, 4242n);
    expect(typed.lookup(42)).toBe(4242n);
    expect([...typed.entries()]).toEqual([[42, 4242n]]);
    expect(typed.delete(42)).toBe(true);
  });
});

describe('standalone maps and maps of maps on the real kernel', () => {
  let tracefs: Disposable;
  beforeAll(() => {
    tracefs = ensureTracefs();
  });
  afterAll(() => {
    tracefs[Symbol.dispose]();
  });

  function policy(name: string, value: bigint): BpfMap {
    const map = createMap({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 1, name });
    map.update(u32(0), u64(value));
    return map;
  }

  it('creates, fills and closes a standalone map', () => {
    const map = createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 8, name: 'bulwark_test' });
    expect(map.fd).toBeGreaterThan(2);
    expect(map.id).toBeGreaterThan(0);
    map.update(u32(1), u64(11n));
    expect(map.lookup(u32(1))).toEqual(u64(11n));
    map.close();
    expect(caught(() => map.lookup(u32(1)))).toMatchObject({ code: 'ERR_STATE' });
    expect(caught(() => createMap({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 0, name: 'empty' }))).toMatchObject({
      name: 'LibbpfError',
      errno: 'EINVAL',
      message: 'create map empty: invalid argument',
    });
  });

  it('inserts, swaps and reads back inner maps of a standalone hash of maps', () => {
    using first = policy('first', 1n);
    using second = policy('second', 2n);
    using outer = createMap({ type: 'hash_of_maps', keySize: 4, valueSize: 4, maxEntries: 4, name: 'outer', innerMap: first });
    outer.updateInnerMap(u32(7), first, { mode: 'noexist' });
    expect(outer.lookup(u32(7))?.readUInt32LE(0)).toBe(first.id);
    outer.updateInnerMap(u32(7), second, { mode: 'exist' });
    using found = outer.lookupInnerMap(u32(7))!;
    expect(found.id).toBe(second.id);
    expect(found.fd).not.toBe(second.fd);
    expect(found.info).toMatchObject({ name: 'second', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 });
    expect(found.lookup(u32(0))).toEqual(u64(2n));
    expect(outer.lookupInnerMap(u32(8))).toBeUndefined();
    using hash = createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1, name: 'unlike' });
    expect(caught(() => outer.updateInnerMap(u32(7), hash))).toMatchObject({ name: 'LibbpfError', errno: 'EINVAL' });
    expect(outer.delete(u32(7))).toBe(true);
  });

  it('puts many inner maps into an array of maps in one batch, and names how many went in when the kernel refuses one', () => {
    using template = policy('template', 0n);
    using outer = createMap({ type: 'array_of_maps', keySize: 4, valueSize: 4, maxEntries: 8, name: 'outer', innerMap: template });
    const inners = [1n, 2n, 3n].map((value) => policy(`inner${value}`, value));
    outer.updateInnerMaps(inners.map((map, index) => [u32(index), map] as const));
    for (const [index, map] of inners.entries()) {
      using found = outer.lookupInnerMap(u32(index))!;
      expect([found.id, found.lookup(u32(0))]).toEqual([map.id, u64(BigInt(index + 1))]);
    }
    using hash = createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1, name: 'unlike' });
    // The kernel refuses the second (unlike the template): the first is in, the rest not.
    expect(caught(() => outer.updateInnerMaps([[u32(4), inners[0]!], [u32(5), hash], [u32(6), inners[1]!]]))).toMatchObject({ name: 'LibbpfError', errno: 'EINVAL', written: 1 });
    expect([outer.lookup(u32(4))?.readUInt32LE(0), outer.lookup(u32(5)), outer.lookup(u32(6))]).toEqual([inners[0]!.id, undefined, undefined]);
    for (const map of inners) map.close();
  });

  it("swaps the inner map a program reads, atomically, in an object's maps of maps", async () => {
    const open = openObject(programs.mapInMap);
    // routes declares no inner map: without a template the kernel refuses it.
    expect(caught(() => openObject(programs.mapInMap).load())).toMatchObject({
      name: 'LibbpfError',
      errno: 'EINVAL',
      message: "load object map-in-map: invalid argument; libbpf: map 'routes': failed to create: Invalid argument(-22)",
    });
    const template = policy('template', 0n);
    open.setInnerMapTemplate('routes', template);
    using object = open.load();
    template.close();
    using link = object.program('read_policy').attachTracepoint('syscalls', 'sys_enter_getppid');
    expect(link.destroyed).toBe(false);
    const seen = object.map('seen').typed(codecs.u32, codecs.u64);
    using first = policy('first', 1n);
    using second = policy('second', 2n);
    object.map('policies').updateInnerMap(u32(0), first);
    object.map('routes').updateInnerMap(u32(0), second);
    await callGetppid(1);
    expect([seen.lookup(0), seen.lookup(1)]).toEqual([1n, 2n]);
    object.map('policies').updateInnerMap(u32(0), second);
    object.map('routes').updateInnerMap(u32(0), first);
    // The outer maps hold the inner maps: closing these handles changes nothing.
    first.close();
    second.close();
    await callGetppid(1);
    expect([seen.lookup(0), seen.lookup(1)]).toEqual([2n, 1n]);
    using inner = object.map('policies').lookupInnerMap(u32(0))!;
    expect(inner.lookup(u32(0))).toEqual(u64(2n));
  });
});

describe('batch operations on the real kernel', () => {
  const count = 10_000;
  const value = (key: number): bigint => BigInt(key) * 0x1_0000_0001n + 7n;

  it(`updates and looks up ${count} hash map entries exactly`, () => {
    using map = createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: count, name: 'batch_hash' });
    const typed = map.typed(codecs.u32, codecs.u64);
    typed.updateBatch(Array.from({ length: count }, (_, key) => [key * 3, value(key * 3)] as const));
    const entries = typed.lookupBatch();
    expect(entries).toHaveLength(count);
    expect(new Map(entries)).toEqual(new Map(Array.from({ length: count }, (_, key) => [key * 3, value(key * 3)])));
    // The same through the element calls.
    expect(typed.lookup(3 * 4321)).toBe(value(3 * 4321));
    expect([...map.keys()]).toHaveLength(count);
    // Full: a new key fails with its index; those before it were written.
    const error = caught(() => typed.updateBatch([[1, 1n], [3 * 17, 0n], [2, 2n]]));
    expect(error).toMatchObject({ name: 'LibbpfError', errno: 'E2BIG', message: 'update map batch_hash in batch: entry 0 of 3: argument list too long' });
  });

  it(`updates and looks up ${count} array entries, and per-CPU ones, in small batches`, () => {
    using array = createMap({ type: 'array', keySize: 4, valueSize: 8, maxEntries: count, name: 'batch_array' });
    array.updateBatch(Array.from({ length: count }, (_, key) => [u32(key), u64(value(key))] as const));
    const entries = array.lookupBatch({ batchSize: 999 });
    expect(entries.map(([key, bytes]) => [key.readUInt32LE(0), bytes.readBigUInt64LE(0)])).toEqual(Array.from({ length: count }, (_, key) => [key, value(key)]));

    using perCpu = createMap({ type: 'percpu_hash', keySize: 4, valueSize: 4, maxEntries: 16, name: 'batch_percpu' });
    const size = perCpu.info.valueBufferSize;
    const slots = (key: number) => {
      const bytes = Buffer.alloc(size);
      for (let offset = 0; offset < size; offset += 8) bytes.writeUInt32LE(key * 100 + offset / 8, offset);
      return bytes;
    };
    perCpu.updateBatch([1, 2, 3].map((key) => [u32(key), slots(key)] as const));
    const read = perCpu.lookupBatch().map(([key, bytes]) => [key.readUInt32LE(0), bytes] as const);
    expect(new Map(read)).toEqual(new Map([1, 2, 3].map((key) => [key, slots(key)])));
  });

  it('batches an object map, and says when the kernel has no batch operation for a map type', () => {
    const counts = loaded.map('counts').typed(codecs.u32, codecs.u64);
    counts.updateBatch([
      [1, 10n],
      [2, 20n],
    ]);
    expect(new Map(counts.lookupBatch())).toEqual(
      new Map([
        [1, 10n],
        [2, 20n],
      ]),
    );
    for (const key of [1, 2]) counts.delete(key);
    using ring = createMap({ type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 4096, name: 'ring' });
    expect(caught(() => ring.lookupBatch())).toMatchObject({
      name: 'NotSupportedError',
      code: 'ERR_NOT_SUPPORTED',
      reason: 'kernel',
      message: 'look up map ring in batch: batch lookup not supported: ringbuf maps have no batch lookup in this kernel',
    });
    expect(caught(() => ring.updateBatch([[Buffer.alloc(0), Buffer.alloc(0)]]))).toMatchObject({ name: 'NotSupportedError', reason: 'kernel' });
  });
});
