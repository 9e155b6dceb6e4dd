import { describe, expect, it } from 'vitest';
import { FakeBinding } from './__fixtures__/fake-binding.js';
import { codecs } from './codec.js';
import { mapTypeName } from './map.js';
import { openObject } from './object.js';

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
