/**
 * A strict JSON scanner that remembers where every value starts, so a
 * validation issue at `process.args.0` can name its line, and so a writer can
 * replace one member of a document without re-serialising the rest.
 *
 * It accepts exactly what `JSON.parse` accepts (RFC 8259, no BOM, no
 * comments, no trailing commas); values themselves come from `JSON.parse`.
 */

import { ValidationError } from '@bulwark/errors';

interface NodeBase {
  /** Offset of the value's first character. */
  readonly start: number;
  /** Offset just past the value's last character. */
  readonly end: number;
  /** 1-based line of the value's first character. */
  readonly line: number;
}

export interface JsonMember {
  readonly key: string;
  readonly keyStart: number;
  readonly keyLine: number;
  readonly value: JsonNode;
}

export type JsonNode =
  | (NodeBase & { readonly kind: 'object'; readonly members: readonly JsonMember[] })
  | (NodeBase & { readonly kind: 'array'; readonly elements: readonly JsonNode[] })
  | (NodeBase & { readonly kind: 'scalar' });

export interface ParsedJson {
  readonly value: unknown;
  readonly root: JsonNode;
}

/** Deeper documents are refused rather than risking the call stack. */
export const maximumJsonDepth = 1000;

export class JsonSyntaxError extends Error {
  readonly line: number;
  readonly column: number;

  constructor(detail: string, line: number, column: number) {
    super(`${detail} at line ${line} column ${column}`);
    this.line = line;
    this.column = column;
  }
}

/** Parses JSON text, throwing a ValidationError with line and column when it is malformed. */
export function parseJsonText(text: string, source: string): ParsedJson {
  let root: JsonNode;
  try {
    root = scanJson(text);
  } catch (error) {
    if (error instanceof JsonSyntaxError) {
      throw new ValidationError(source, [{ path: '', message: `malformed json: ${error.message}`, line: error.line }], {
        cause: error,
      });
    }
    throw error;
  }
  return { value: JSON.parse(text) as unknown, root };
}

/**
 * The line of the value at `path`, or of its deepest existing ancestor when
 * the path names something missing (a required property, say).
 */
export function findLine(root: JsonNode, path: readonly PropertyKey[]): number {
  let node: JsonNode = root;
  let line = root.line;
  for (const segment of path) {
    if (node.kind === 'object') {
      const member = findMember(node, String(segment));
      if (member === undefined) return line;
      line = member.keyLine;
      node = member.value;
    } else if (node.kind === 'array' && typeof segment === 'number') {
      const element = node.elements[segment];
      if (element === undefined) return line;
      line = element.line;
      node = element;
    } else {
      return line;
    }
  }
  return line;
}

/** The member `key` of an object node; the last one when a key repeats, as `JSON.parse` does. */
export function findMember(node: JsonNode, key: string): JsonMember | undefined {
  if (node.kind !== 'object') return undefined;
  for (let index = node.members.length - 1; index >= 0; index--) {
    const member = node.members[index];
    if (member?.key === key) return member;
  }
  return undefined;
}

/** Scans JSON text into a tree of positions. Throws JsonSyntaxError. */
export function scanJson(text: string): JsonNode {
  const scanner = new Scanner(text);
  scanner.skipWhitespace();
  const root = scanner.readValue(0);
  scanner.skipWhitespace();
  if (scanner.offset < text.length) scanner.fail('expected end of input');
  return root;
}

class Scanner {
  offset = 0;
  private line = 1;
  private lineStart = 0;

  private readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  fail(expected: string): never {
    const found = this.offset < this.text.length ? `found ${describeCharacter(this.text[this.offset] ?? '')}` : 'found end of input';
    throw new JsonSyntaxError(`${expected}, ${found}`, this.line, this.offset - this.lineStart + 1);
  }

  skipWhitespace(): void {
    const text = this.text;
    while (this.offset < text.length) {
      const character = text.charCodeAt(this.offset);
      if (character === 0x0a) {
        this.offset++;
        this.line++;
        this.lineStart = this.offset;
      } else if (character === 0x20 || character === 0x09 || character === 0x0d) {
        this.offset++;
      } else {
        return;
      }
    }
  }

  readValue(depth: number): JsonNode {
    if (depth >= maximumJsonDepth) this.fail(`nesting deeper than ${maximumJsonDepth} levels`);
    const character = this.text[this.offset];
    const start = this.offset;
    const line = this.line;
    switch (character) {
      case '{':
        return this.readObject(depth);
      case '[':
        return this.readArray(depth);
      case '"':
        this.readString();
        return { kind: 'scalar', start, end: this.offset, line };
      case 't':
        return this.readLiteral('true');
      case 'f':
        return this.readLiteral('false');
      case 'n':
        return this.readLiteral('null');
      default:
        if (character === '-' || (character !== undefined && character >= '0' && character <= '9')) {
          this.readNumber();
          return { kind: 'scalar', start, end: this.offset, line };
        }
        return this.fail('expected a value');
    }
  }

  private readObject(depth: number): JsonNode {
    const start = this.offset;
    const line = this.line;
    const members: JsonMember[] = [];
    this.offset++;
    this.skipWhitespace();
    if (this.text[this.offset] === '}') {
      this.offset++;
      return { kind: 'object', start, end: this.offset, line, members };
    }
    for (;;) {
      if (this.text[this.offset] !== '"') this.fail(members.length === 0 ? "expected a string key or '}'" : 'expected a string key');
      const keyStart = this.offset;
      const keyLine = this.line;
      this.readString();
      const key = JSON.parse(this.text.slice(keyStart, this.offset)) as string;
      this.skipWhitespace();
      if (this.text[this.offset] !== ':') this.fail("expected ':'");
      this.offset++;
      this.skipWhitespace();
      const value = this.readValue(depth + 1);
      members.push({ key, keyStart, keyLine, value });
      this.skipWhitespace();
      const next = this.text[this.offset];
      if (next === ',') {
        this.offset++;
        this.skipWhitespace();
      } else if (next === '}') {
        this.offset++;
        return { kind: 'object', start, end: this.offset, line, members };
      } else {
        this.fail("expected ',' or '}'");
      }
    }
  }

  private readArray(depth: number): JsonNode {
    const start = this.offset;
    const line = this.line;
    const elements: JsonNode[] = [];
    this.offset++;
    this.skipWhitespace();
    if (this.text[this.offset] === ']') {
      this.offset++;
      return { kind: 'array', start, end: this.offset, line, elements };
    }
    for (;;) {
      elements.push(this.readValue(depth + 1));
      this.skipWhitespace();
      const next = this.text[this.offset];
      if (next === ',') {
        this.offset++;
        this.skipWhitespace();
      } else if (next === ']') {
        this.offset++;
        return { kind: 'array', start, end: this.offset, line, elements };
      } else {
        this.fail("expected ',' or ']'");
      }
    }
  }

  private readString(): void {
    const text = this.text;
    this.offset++;
    for (;;) {
      if (this.offset >= text.length) this.fail('unterminated string');
      const character = text.charCodeAt(this.offset);
      if (character === 0x22) {
        this.offset++;
        return;
      }
      if (character < 0x20) this.fail('expected an escaped control character in string');
      if (character === 0x5c) {
        this.offset++;
        const escape = text[this.offset];
        if (escape === 'u') {
          for (let index = 1; index <= 4; index++) {
            if (!/^[0-9a-fA-F]$/.test(text[this.offset + index] ?? '')) {
              this.offset += index;
              this.fail('expected four hex digits after \\u');
            }
          }
          this.offset += 5;
        } else if (escape !== undefined && '"\\/bfnrt'.includes(escape)) {
          this.offset++;
        } else {
          this.fail('expected a valid escape sequence');
        }
      } else {
        this.offset++;
      }
    }
  }

  private readNumber(): void {
    const text = this.text;
    if (text[this.offset] === '-') this.offset++;
    if (text[this.offset] === '0') {
      this.offset++;
    } else if (isDigit(text[this.offset])) {
      while (isDigit(text[this.offset])) this.offset++;
    } else {
      this.fail('expected a digit');
    }
    if (text[this.offset] === '.') {
      this.offset++;
      if (!isDigit(text[this.offset])) this.fail('expected a digit after the decimal point');
      while (isDigit(text[this.offset])) this.offset++;
    }
    if (text[this.offset] === 'e' || text[this.offset] === 'E') {
      this.offset++;
      if (text[this.offset] === '+' || text[this.offset] === '-') this.offset++;
      if (!isDigit(text[this.offset])) this.fail('expected a digit in the exponent');
      while (isDigit(text[this.offset])) this.offset++;
    }
  }

  private readLiteral(word: string): JsonNode {
    const start = this.offset;
    const line = this.line;
    for (const expected of word) {
      if (this.text[this.offset] !== expected) this.fail(`expected '${word}'`);
      this.offset++;
    }
    return { kind: 'scalar', start, end: this.offset, line };
  }
}

function isDigit(character: string | undefined): boolean {
  return character !== undefined && character >= '0' && character <= '9';
}

function describeCharacter(character: string): string {
  const code = character.charCodeAt(0);
  if (code < 0x20 || code === 0x7f) return `character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  if (code === 0xfeff) return 'a byte order mark';
  return `'${character}'`;
}
