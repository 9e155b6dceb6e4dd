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
});
