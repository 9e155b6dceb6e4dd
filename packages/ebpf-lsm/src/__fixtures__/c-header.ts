/**
 * Reads the small subset of C that src/bpf/layout.h is written in, for the
 * unit test that holds it against src/layout.ts (no compiler needed):
 * `#define NAME VALUE` with integer expressions, and structs of fixed-size
 * integers and char, one field a line, arrays sized by an expression. It
 * lays structs out as C does for BPF and x86-64 (each field at a multiple
 * of its alignment, the size a multiple of the struct's). Anything else
 * that is not a comment, a blank line, `#include`, `#ifndef`, `#endif`,
 * a valueless `#define` (an include guard) or `_Static_assert` is an error
 * naming the line, so the test cannot pass by skipping what it does not
 * understand.
 */

export interface CField {
  readonly name: string;
  /** The element type: `__u32`, `char`, ... */
  readonly type: string;
  /** Elements, for an array. */
  readonly length?: number;
  readonly offset: number;
  readonly size: number;
}

export interface CStruct {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly CField[];
}

export interface CHeader {
  /** Each `#define NAME VALUE`, evaluated, in the header's order. */
  readonly defines: ReadonlyMap<string, bigint>;
  readonly structs: ReadonlyMap<string, CStruct>;
}

/** Sizes (and alignments) of the types a field may have. */
export const C_TYPES: Readonly<Record<string, number>> = {
  char: 1,
  __u8: 1,
  __s8: 1,
  __u16: 2,
  __s16: 2,
  __u32: 4,
  __s32: 4,
  __u64: 8,
  __s64: 8,
};

/** The text without comments; each comment keeps its newlines, so line numbers stay. */
export function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, '');
}

/**
 * Evaluates an integer expression of C literals (decimal, 0x hex, 0 octal,
 * with u/l suffixes), names in `defines`, ( ), unary - and ~, and the
 * binary * + - << >> & |, with C's precedence.
 */
export function evaluate(expression: string, defines: ReadonlyMap<string, bigint>): bigint {
  const tokens = expression.match(/0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|[A-Za-z_]\w*|<<|>>|\S/g) ?? [];
  let position = 0;
  const fail = (message: string): never => {
    throw new Error(`${message} in ${JSON.stringify(expression)}`);
  };
  const peek = () => tokens[position];
  const next = () => tokens[position++] ?? fail('unexpected end');
  const primary = (): bigint => {
    const token = next();
    if (token === '(') {
      const value = binary(0);
      if (next() !== ')') fail("expected ')'");
      return value;
    }
    if (token === '-') return -primary();
    if (token === '~') return ~primary();
    if (/^\d/.test(token)) {
      const digits = token.replace(/[uUlL]+$/, '');
      return /^0[0-7]+$/.test(digits) ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
    }
    if (/^[A-Za-z_]/.test(token)) return defines.get(token) ?? fail(`${token} is not defined above`);
    return fail(`unexpected ${JSON.stringify(token)}`);
  };
  // Binary operators by C's precedence, loosest first.
  const levels: readonly (readonly string[])[] = [['|'], ['&'], ['<<', '>>'], ['+', '-'], ['*']];
  const apply = (operator: string, left: bigint, right: bigint): bigint => {
    switch (operator) {
      case '|':
        return left | right;
      case '&':
        return left & right;
      case '<<':
        return left << right;
      case '>>':
        return left >> right;
      case '+':
        return left + right;
      case '-':
        return left - right;
      default:
        return left * right;
    }
  };
  const binary = (level: number): bigint => {
    const operators = levels[level];
    if (operators === undefined) return primary();
    let value = binary(level + 1);
    while (operators.includes(peek() ?? '')) {
      const operator = next();
      value = apply(operator, value, binary(level + 1));
    }
    return value;
  };
  const value = binary(0);
  if (position !== tokens.length) fail(`unexpected ${JSON.stringify(peek())}`);
  return value;
}

const alignUp = (value: number, alignment: number) => Math.ceil(value / alignment) * alignment;

/** Parses a header; throws naming `file:line` at the first line it cannot read. */
export function parseHeader(text: string, file = 'layout.h'): CHeader {
  const defines = new Map<string, bigint>();
  const structs = new Map<string, CStruct>();
  let open: { name: string; fields: CField[]; offset: number; alignment: number } | undefined;
  for (const [index, raw] of stripComments(text).split('\n').entries()) {
    const line = raw.trim();
    const where = `${file}:${index + 1}`;
    if (line === '') continue;
    try {
      if (open !== undefined) {
        if (line === '};') {
          structs.set(open.name, { name: open.name, size: alignUp(open.offset, open.alignment), fields: open.fields });
          open = undefined;
          continue;
        }
        const field = /^(\w+)\s+(\w+)(?:\[([^\]]+)\])?;$/.exec(line);
        const type = field?.[1];
        const size = type === undefined ? undefined : C_TYPES[type];
        if (field === null || size === undefined) throw new Error(`cannot read the field ${JSON.stringify(line)}`);
        const length = field[3] === undefined ? undefined : Number(evaluate(field[3], defines));
        const offset = alignUp(open.offset, size);
        open.fields.push({ name: field[2]!, type: type!, ...(length === undefined ? {} : { length }), offset, size: size * (length ?? 1) });
        open.offset = offset + size * (length ?? 1);
        open.alignment = Math.max(open.alignment, size);
        continue;
      }
      const define = /^#define\s+(\w+)(?:\s+(.+))?$/.exec(line);
      if (define !== null) {
        if (define[2] !== undefined) defines.set(define[1]!, evaluate(define[2], defines));
        continue;
      }
      const struct = /^struct\s+(\w+)\s*\{$/.exec(line);
      if (struct !== null) {
        open = { name: struct[1]!, fields: [], offset: 0, alignment: 1 };
        continue;
      }
      if (/^#include\s+[<"][^>"]+[>"]$/.test(line) || /^#ifndef\s+\w+$/.test(line) || line === '#endif' || /^_Static_assert\(.*\);$/.test(line)) continue;
      throw new Error(`cannot read ${JSON.stringify(line)}`);
    } catch (error) {
      throw new Error(`${where}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
  if (open !== undefined) throw new Error(`${file}: struct ${open.name} is not closed`);
  return { defines, structs };
}
