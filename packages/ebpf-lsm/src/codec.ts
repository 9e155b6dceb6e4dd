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

/**
 * The codecs made here can also write a value straight into a larger
 * buffer, so that an array or a struct of them costs one allocation, not
 * one per field (encodeRules encodes a value per map entry). Any other
 * codec is written through its `encode`.
 */
const writeInto = Symbol('writeInto');
type Writer<T> = (value: T, target: Uint8Array, offset: number) => void;
type WritingCodec<T> = Codec<T> & { readonly [writeInto]: Writer<T> };

function writingCodec<T>(name: string, size: number, write: Writer<T>, decode: (bytes: Uint8Array) => T): Codec<T> {
  const codec: WritingCodec<T> = {
    name,
    size,
    encode(value) {
      const bytes = new Uint8Array(size);
      write(value, bytes, 0);
      return bytes;
    },
    decode,
    [writeInto]: write,
  };
  return codec;
}

/**
 * Writes `value` encoded by `codec` into `target` at `offset`, without an
 * allocation for the codecs made here (others go through `encode`).
 */
export function encodeInto<T>(codec: Codec<T>, value: T, target: Uint8Array, offset: number): void {
  write(codec, value, target, offset);
}

function write<T>(codec: Codec<T>, value: T, target: Uint8Array, offset: number): void {
  const writer = (codec as Partial<WritingCodec<T>>)[writeInto];
  if (writer !== undefined) writer(value, target, offset);
  else target.set(codec.encode(value), offset);
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function integer(name: string, size: 1 | 2 | 4, signed: boolean): Codec<number> {
  const bits = size * 8;
  const minimum = signed ? -(2 ** (bits - 1)) : 0;
  const maximum = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  // Byte by byte rather than through a DataView: a DataView per call costs more than the work.
  const at = (index: number) => (littleEndian ? index : size - 1 - index);
  return writingCodec(
    name,
    size,
    (value, target, offset) => {
      if (!Number.isInteger(value) || value < minimum || value > maximum) {
        throw new RangeError(`${name}: expected an integer from ${minimum} to ${maximum}, got ${String(value)}`);
      }
      for (let index = 0; index < size; index++) target[offset + at(index)] = (value >>> (8 * index)) & 0xff;
    },
    (bytes) => {
      if (bytes.length < size) throw new RangeError(`${name}: expected ${size} bytes, got ${bytes.length}`);
      let value = 0;
      for (let index = size - 1; index >= 0; index--) value = value * 256 + bytes[at(index)]!;
      return signed && value > maximum ? value - 2 ** bits : value;
    },
  );
}

function bigInteger(name: string, signed: boolean): Codec<bigint> {
  const minimum = signed ? -(2n ** 63n) : 0n;
  const maximum = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
  return writingCodec(
    name,
    8,
    (value, target, offset) => {
      if (typeof value !== 'bigint' || value < minimum || value > maximum) {
        throw new RangeError(`${name}: expected a bigint from ${minimum} to ${maximum}, got ${String(value)}`);
      }
      const destination = view(target.subarray(offset, offset + 8));
      if (signed) destination.setBigInt64(0, value, littleEndian);
      else destination.setBigUint64(0, value, littleEndian);
    },
    (bytes) => (signed ? view(bytes).getBigInt64(0, littleEndian) : view(bytes).getBigUint64(0, littleEndian)),
  );
}

/** Raw bytes of a fixed size; `encode` returns the value itself, `decode` a copy. */
function bytes(size: number): Codec<Uint8Array> {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`bytes: expected a size of 0 or more, got ${String(size)}`);
  const name = `bytes(${size})`;
  const check = (value: Uint8Array) => {
    if (!(value instanceof Uint8Array) || value.length !== size) {
      throw new RangeError(`${name}: expected ${size} bytes, got ${value instanceof Uint8Array ? value.length : typeof value}`);
    }
  };
  const codec: WritingCodec<Uint8Array> = {
    name,
    size,
    encode(value) {
      check(value);
      return value;
    },
    decode: (value) => Uint8Array.from(value),
    [writeInto]: (value, target, offset) => {
      check(value);
      target.set(value, offset);
    },
  };
  return codec;
}

/** A fixed number of one codec's values, one after another, as a C array: `u32[3]`. */
function array<T>(element: Codec<T>, length: number): Codec<T[]> {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`array: expected a length of 0 or more, got ${String(length)}`);
  const name = `${element.name}[${length}]`;
  const elementSize = element.size;
  return writingCodec(
    name,
    elementSize * length,
    (values, target, offset) => {
      if (!Array.isArray(values) || values.length !== length) {
        throw new RangeError(`${name}: expected ${length} values, got ${Array.isArray(values) ? values.length : typeof values}`);
      }
      for (let index = 0; index < length; index++) write(element, values[index]!, target, offset + index * elementSize);
    },
    (bytes) => Array.from({ length }, (_, index) => element.decode(bytes.subarray(index * elementSize, (index + 1) * elementSize))),
  );
}

/** A field of a struct codec: where it starts and its codec. */
export interface StructField {
  readonly offset: number;
  readonly codec: Codec<unknown>;
}

/** A C struct's codec; `fields` says where each field is, in the struct's order. */
export interface StructCodec<T> extends Codec<T> {
  readonly fields: { readonly [K in keyof T]: StructField };
}

/** The value of each field of a struct codec's `fields` argument. */
export type StructValue<F extends Record<string, Codec<unknown>>> = { -readonly [K in keyof F]: F[K] extends Codec<infer T> ? T : never };

/**
 * A C struct: the fields in the order given, each right after the one
 * before. No padding is added, so spell the struct's padding as a field,
 * as a C struct that user space shares should (a `reserved` member): then
 * both sides' offsets are plain to read. Encoding writes every field (one
 * that fails is named in the error); decoding reads each at its offset.
 */
function struct<F extends Record<string, Codec<unknown>>>(name: string, shape: F): StructCodec<StructValue<F>> {
  const entries: [string, StructField][] = [];
  let size = 0;
  for (const [field, codec] of Object.entries(shape)) {
    entries.push([field, { offset: size, codec }]);
    size += codec.size;
  }
  const codec = writingCodec<StructValue<F>>(
    name,
    size,
    (value, target, offset) => {
      for (const [field, { offset: fieldOffset, codec: fieldCodec }] of entries) {
        try {
          write(fieldCodec, (value as Record<string, unknown>)[field], target, offset + fieldOffset);
        } catch (error) {
          throw new RangeError(`${name}: ${field}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        }
      }
    },
    (bytes) => {
      const value: Record<string, unknown> = {};
      for (const [field, { offset, codec: fieldCodec }] of entries) value[field] = fieldCodec.decode(bytes.subarray(offset, offset + fieldCodec.size));
      return value as StructValue<F>;
    },
  );
  return { ...codec, fields: Object.fromEntries(entries) as StructCodec<StructValue<F>>['fields'] };
}

/** Host-order integers (numbers up to 32 bits, bigints for 64), fixed-size bytes, and arrays and structs of them. */
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
  array,
  struct,
} as const;
