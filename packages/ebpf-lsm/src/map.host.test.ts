import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestPrograms, compileTestPrograms } from './__fixtures__/bpf.js';
import { codecs } from './codec.js';
import { type LoadedObject, openObject } from './object.js';

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

function caught(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
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
