/**
 * Codecs between JavaScript values and the fixed-size bytes of map keys and
 * values. BPF programs see memory in the host's byte order, so the integer
 * codecs use it too.
 */

export interface Codec<T> {
  /** For messages: `u32`, `bytes(16)`, a struct's name. */
  readonly name: string;
  /** The exact number of bytes of every encoded value. */
  readonly size: number;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function integer(name: string, size: 1 | 2 | 4, signed: boolean): Codec<number> {
  const bits = size * 8;
  const minimum = signed ? -(2 ** (bits - 1)) : 0;
  const maximum = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  return {
    name,
    size,
    encode(value) {
      if (!Number.isInteger(value) || value < minimum || value > maximum) {
        throw new RangeError(`${name}: expected an integer from ${minimum} to ${maximum}, got ${String(value)}`);
      }
      const bytes = new Uint8Array(size);
      const target = view(bytes);
      if (size === 1) target.setUint8(0, value & 0xff);
      else if (size === 2) target.setUint16(0, value & 0xffff, littleEndian);
      else if (signed) target.setInt32(0, value, littleEndian);
      else target.setUint32(0, value, littleEndian);
      return bytes;
    },
    decode(bytes) {
      const source = view(bytes);
      if (size === 1) return signed ? source.getInt8(0) : source.getUint8(0);
      if (size === 2) return signed ? source.getInt16(0, littleEndian) : source.getUint16(0, littleEndian);
      return signed ? source.getInt32(0, littleEndian) : source.getUint32(0, littleEndian);
    },
  };
}

function bigInteger(name: string, signed: boolean): Codec<bigint> {
  const minimum = signed ? -(2n ** 63n) : 0n;
  const maximum = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
  return {
    name,
    size: 8,
    encode(value) {
      if (typeof value !== 'bigint' || value < minimum || value > maximum) {
        throw new RangeError(`${name}: expected a bigint from ${minimum} to ${maximum}, got ${String(value)}`);
      }
      const bytes = new Uint8Array(8);
      if (signed) view(bytes).setBigInt64(0, value, littleEndian);
      else view(bytes).setBigUint64(0, value, littleEndian);
      return bytes;
    },
    decode(bytes) {
      return signed ? view(bytes).getBigInt64(0, littleEndian) : view(bytes).getBigUint64(0, littleEndian);
    },
  };
}

/** Raw bytes of a fixed size; `decode` returns a copy. */
function bytes(size: number): Codec<Uint8Array> {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`bytes: expected a size of 0 or more, got ${String(size)}`);
  const name = `bytes(${size})`;
  return {
    name,
    size,
    encode(value) {
      if (!(value instanceof Uint8Array) || value.length !== size) {
        throw new RangeError(`${name}: expected ${size} bytes, got ${value instanceof Uint8Array ? value.length : typeof value}`);
      }
      return value;
    },
    decode: (value) => Uint8Array.from(value),
  };
}

/** Host-order integers (numbers up to 32 bits, bigints for 64) and fixed-size bytes. */
export const codecs = {
  u8: integer('u8', 1, false),
  u16: integer('u16', 2, false),
  u32: integer('u32', 4, false),
  u64: bigInteger('u64', false),
  i8: integer('i8', 1, true),
  i16: integer('i16', 2, true),
  i32: integer('i32', 4, true),
  i64: bigInteger('i64', true),
  bytes,
} as const;
