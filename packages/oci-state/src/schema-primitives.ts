/**
 * Building blocks mirroring the runtime-spec's `defs.json`, so each schema
 * reads like the JSON schema it follows.
 */

import * as z from 'zod/mini';

/**
 * An integer within [minimum, maximum]. Unlike `z.int()` it accepts integers
 * beyond 2^53 (RLIM_INFINITY is 18446744073709551615 in real configs), which
 * JSON parsing has already rounded to the nearest double.
 */
export function integer(minimum: number, maximum: number, range = describeRange(minimum, maximum)) {
  return z
    .number()
    .check(
      z.refine(Number.isInteger, { error: 'expected an integer', abort: true }),
      z.refine((value) => value >= minimum && value <= maximum, { error: `expected ${range}` }),
    );
}

function describeRange(minimum: number, maximum: number): string {
  if (maximum === Infinity) return minimum === -Infinity ? 'an integer' : `an integer of at least ${minimum}`;
  return `an integer from ${minimum} to ${maximum}`;
}

export const int32 = () => integer(-2147483648, 2147483647);
// The spec's 64-bit bounds (2^63 - 1, 2^64 - 1) are not doubles; JSON schema validators compare
// against the nearest doubles, 2^63 and 2^64, and so does this.
export const int64 = () => integer(-(2 ** 63), 2 ** 63, 'a signed 64-bit integer');
export const uint8 = () => integer(0, 255);
export const uint16 = () => integer(0, 65535);
export const uint32 = () => integer(0, 4294967295);
export const uint64 = () => integer(0, 2 ** 64, 'an unsigned 64-bit integer');
/** File permission bits, written in decimal in config.json (0o777 is 511). */
export const fileMode = () => integer(0, 511);

export const stringArray = () => z.array(z.string());

/** `defs.json#/definitions/mapStringString`: annotations, sysctl, unified. */
export const stringMap = () => z.record(z.string(), z.string());

/** Shorthand for an optional property that, when present, is never `undefined`. */
export const optional = z.exactOptional;

/** A string that must be an absolute path. */
export function absolutePath(what: string) {
  return z.string().check(z.refine((value) => value.startsWith('/'), { error: `${what} must be an absolute path` }));
}

/** A string drawn from a fixed list, named in the message when it is not. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: () => `expected one of ${values.join(', ')}` });
}

/** A string matching a JSON-schema `pattern` (ECMAScript syntax, as validators compile it). */
export function matching(pattern: RegExp) {
  return z.string().check(z.regex(pattern, { error: `expected a string matching ${pattern.source}` }));
}
