import { describe, expect, it } from 'vitest';
import { findLine, parseJsonText, scanJson } from './json-lines.js';

describe('scanJson', () => {
  it('accepts what JSON.parse accepts', () => {
    const documents = [
      '{}',
      '[]',
      '0',
      '-0.5e+10',
      '"\\u00e9\\n\\/"',
      'true',
      'null',
      ' \t\r\n{ "a" : [ 1 , { "b" : false } ] } \n',
      '{"a":1,"a":2}',
      '"\ud800"',
    ];
    for (const text of documents) {
      expect(() => {
        JSON.parse(text);
      }).not.toThrow();
      expect(() => scanJson(text)).not.toThrow();
    }
  });

  it('rejects what JSON.parse rejects, with line and column', () => {
    const documents: [string, number, number][] = [
      ['', 1, 1],
      ['{]', 1, 2],
      ['{"a":1,}', 1, 8],
      ['[1,]', 1, 4],
      ['{\n  "a": 01\n}', 2, 9],
      ['{\n  "a": tru\n}', 2, 11],
      ["{'a':1}", 1, 2],
      ['{"a":1} x', 1, 9],
      ['"tab\there"', 1, 5],
      ['"bad \\x escape"', 1, 7],
      ['"\\u12G4"', 1, 6],
      ['// comment\n{}', 1, 1],
      ['\ufeff{}', 1, 1],
      ['{"a":\n\n  1.}', 3, 5],
      ['[1e]', 1, 4],
      ['{"a" 1}', 1, 6],
      ['"unterminated', 1, 14],
      ['NaN', 1, 1],
    ];
    for (const [text, line, column] of documents) {
      expect(() => {
        JSON.parse(text);
      }, text).toThrow();
      try {
        scanJson(text);
        expect.unreachable(`${JSON.stringify(text)} was accepted`);
      } catch (error) {
        expect(error, JSON.stringify(text)).toMatchObject({ line, column });
      }
    }
  });

  it('refuses nesting deeper than 1000 levels instead of overflowing the stack', () => {
    expect(() => scanJson(`${'['.repeat(1001)}${']'.repeat(1001)}`)).toThrow(/nesting deeper than 1000 levels/u);
    expect(() => scanJson(`${'['.repeat(1000)}${']'.repeat(1000)}`)).not.toThrow();
  });
});

describe('findLine', () => {
  const text = '{\n  "process": {\n    "args": [\n      "sh",\n      1\n    ]\n  },\n  "a": 1,\n  "a": {"b": 2}\n}';
  const { root } = parseJsonText(text, 'test');

  it('finds members and elements', () => {
    expect(findLine(root, [])).toBe(1);
    expect(findLine(root, ['process'])).toBe(2);
    expect(findLine(root, ['process', 'args'])).toBe(3);
    expect(findLine(root, ['process', 'args', 1])).toBe(5);
  });

  it('uses the last of repeated keys, as JSON.parse does', () => {
    expect(findLine(root, ['a'])).toBe(9);
  });

  it('falls back to the deepest existing ancestor', () => {
    expect(findLine(root, ['process', 'cwd'])).toBe(2);
    expect(findLine(root, ['process', 'args', 7])).toBe(3);
    expect(findLine(root, ['a', 'b', 'c'])).toBe(9);
  });
});

describe('parseJsonText', () => {
  it('throws a ValidationError with the line', () => {
    expect(() => parseJsonText('{\n"a": }', 'stdin')).toThrow("stdin: line 2: malformed json: expected a value, found '}' at line 2 column 6");
  });

  it('describes control characters by code point', () => {
    expect(() => parseJsonText('{\u0001}', 'x')).toThrow('found character U+0001');
  });
});
