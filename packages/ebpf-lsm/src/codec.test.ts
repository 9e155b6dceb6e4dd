import { describe, expect, it } from 'vitest';
import { codecs } from './codec.js';

describe('codecs', () => {
  it('round-trips integers in host byte order', () => {
    const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    const bytes = codecs.u32.encode(0x01020304);
    expect([...bytes]).toEqual(little ? [4, 3, 2, 1] : [1, 2, 3, 4]);
    for (const [codec, values] of [
      [codecs.u8, [0, 255]],
      [codecs.u16, [0, 65535]],
      [codecs.u32, [0, 4294967295]],
      [codecs.i8, [-128, 127]],
      [codecs.i16, [-32768, 32767]],
      [codecs.i32, [-2147483648, 2147483647]],
    ] as const) {
      for (const value of values) {
        const encoded = codec.encode(value);
        expect(encoded.length, codec.name).toBe(codec.size);
        expect(codec.decode(encoded), codec.name).toBe(value);
      }
    }
    for (const [codec, values] of [
      [codecs.u64, [0n, 2n ** 64n - 1n]],
      [codecs.i64, [-(2n ** 63n), 2n ** 63n - 1n]],
    ] as const) {
      for (const value of values) expect(codec.decode(codec.encode(value))).toBe(value);
    }
  });

  it('decodes from a view at an offset', () => {
    const buffer = Buffer.alloc(12);
    buffer.writeUInt32LE(77, 4);
    expect(codecs.u32.decode(buffer.subarray(4, 8))).toBe(77);
  });

  it('refuses values out of range', () => {
    expect(() => codecs.u8.encode(256)).toThrow(RangeError);
    expect(() => codecs.u32.encode(1.5)).toThrow('u32: expected an integer from 0 to 4294967295, got 1.5');
    expect(() => codecs.i64.encode(2n ** 63n)).toThrow(RangeError);
    expect(() => codecs.u64.encode(-1n)).toThrow(RangeError);
  });

  it('passes fixed-size bytes through and copies on decode', () => {
    const codec = codecs.bytes(3);
    expect(codec.size).toBe(3);
    const source = Uint8Array.from([1, 2, 3]);
    expect(codec.encode(source)).toBe(source);
    const decoded = codec.decode(source);
    source[0] = 9;
    expect([...decoded]).toEqual([1, 2, 3]);
    expect(() => codec.encode(new Uint8Array(2))).toThrow('bytes(3): expected 3 bytes, got 2');
    expect(() => codecs.bytes(-1)).toThrow(RangeError);
  });

  it('agrees with DataView in host byte order, and refuses too few bytes', () => {
    const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    const cases = [
      [codecs.u16, 'getUint16', [0, 0x1234, 65535]],
      [codecs.i16, 'getInt16', [-32768, -1, 0x1234]],
      [codecs.u32, 'getUint32', [0, 0x12345678, 2 ** 32 - 1]],
      [codecs.i32, 'getInt32', [-(2 ** 31), -1, 0x12345678]],
    ] as const;
    for (const [codec, getter, values] of cases) {
      for (const value of values) {
        const bytes = codec.encode(value);
        expect(new DataView(bytes.buffer)[getter](0, little), codec.name).toBe(value);
        expect(codec.decode(bytes), codec.name).toBe(value);
      }
    }
    expect(() => codecs.u32.decode(new Uint8Array(3))).toThrow('u32: expected 4 bytes, got 3');
  });

  it('lays arrays and structs out field after field, with no padding of their own', () => {
    const pair = codecs.struct('struct pair', { count: codecs.u16, values: codecs.array(codecs.u32, 2), tail: codecs.bytes(3), total: codecs.u64 });
    expect(pair.size).toBe(2 + 8 + 3 + 8);
    expect(Object.entries(pair.fields).map(([name, field]) => [name, field.offset, field.codec.name])).toEqual([
      ['count', 0, 'u16'],
      ['values', 2, 'u32[2]'],
      ['tail', 10, 'bytes(3)'],
      ['total', 13, 'u64'],
    ]);
    const value = { count: 7, values: [1, 0xffffffff], tail: Uint8Array.from([9, 8, 7]), total: 2n ** 40n };
    const bytes = pair.encode(value);
    expect(bytes.length).toBe(pair.size);
    expect(codecs.u32.decode(bytes.subarray(pair.fields.values.offset + 4))).toBe(0xffffffff);
    expect(pair.decode(bytes)).toEqual(value);
    // A struct inside a struct, and a codec that is not one of these (written through its encode).
    const custom = { name: 'custom', size: 1, encode: (flag: boolean) => Uint8Array.of(flag ? 1 : 0), decode: (bytes: Uint8Array) => bytes[0] === 1 };
    const outer = codecs.struct('struct outer', { inner: pair, flag: custom });
    expect(outer.decode(outer.encode({ inner: value, flag: true }))).toEqual({ inner: value, flag: true });
  });

  it('names the field that does not encode', () => {
    const codec = codecs.struct('struct s', { a: codecs.u8, b: codecs.array(codecs.u16, 2) });
    expect(() => codec.encode({ a: 1, b: [1, 65536] })).toThrow('struct s: b: u16: expected an integer from 0 to 65535, got 65536');
    expect(() => codec.encode({ a: 1, b: [1] })).toThrow('struct s: b: u16[2]: expected 2 values, got 1');
    expect(() => codec.encode({ a: 1 } as never)).toThrow('struct s: b: u16[2]: expected 2 values, got undefined');
    expect(() => codecs.array(codecs.u8, -1)).toThrow(RangeError);
  });
});
