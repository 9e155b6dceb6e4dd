import { BulwarkError, ValidationError } from '@bulwark/errors';
import { describe, expect, it } from 'vitest';
import { compileRe2, maximumPatternLength, PatternError } from './index.js';

function refusal(pattern: string): PatternError {
  try {
    compileRe2(pattern);
  } catch (error) {
    expect(error).toBeInstanceOf(PatternError);
    return error as PatternError;
  }
  throw new Error(`${pattern} was accepted`);
}

describe('compileRe2: refusing what RE2 refuses', () => {
  // The detail is Go's own message (without "error parsing regexp: "), then
  // the offset where the part it names occurs once, then a hint for syntax
  // other engines have and RE2 leaves out on purpose.
  const cases: [pattern: string, detail: string][] = [
    ['(a)\\1', 'invalid escape sequence: `\\1` at offset 3 (backreferences are not supported by RE2)'],
    ['\\9', 'invalid escape sequence: `\\9` at offset 0 (backreferences are not supported by RE2)'],
    ['(?P<x>a)\\k<x>', 'invalid escape sequence: `\\k` at offset 8 (named backreferences are not supported by RE2)'],
    ['(?P=x)', 'invalid or unsupported Perl syntax: `(?P` at offset 0'],
    ['a(?=b)', 'invalid or unsupported Perl syntax: `(?=` at offset 1 (lookahead is not supported by RE2)'],
    ['a(?!b)', 'invalid or unsupported Perl syntax: `(?!` at offset 1 (lookahead is not supported by RE2)'],
    ['(?<=a)b', 'invalid named capture: `(?<=a)b` at offset 0 (lookbehind is not supported by RE2)'],
    ['x(?<!a)b', 'invalid named capture: `(?<!a)b` at offset 1 (lookbehind is not supported by RE2)'],
    ['(?>a+)b', 'invalid or unsupported Perl syntax: `(?>` at offset 0 (atomic groups are not supported by RE2)'],
    ['a*+', 'invalid nested repetition operator: `*+` at offset 1 (possessive quantifiers are not supported by RE2)'],
    ['a++', 'invalid nested repetition operator: `++` at offset 1 (possessive quantifiers are not supported by RE2)'],
    ['a{2}+', 'invalid nested repetition operator: `{2}+` at offset 1 (possessive quantifiers are not supported by RE2)'],
    ['a**', 'invalid nested repetition operator: `**` at offset 1'],
    ['a{2}{3}', 'invalid nested repetition operator: `{2}{3}` at offset 1'],
    ['*a', 'missing argument to repetition operator: `*` at offset 0'],
    ['a|*', 'missing argument to repetition operator: `*` at offset 2'],
    ['a{1001}', 'invalid repeat count: `{1001}` at offset 1'],
    ['a{3,2}', 'invalid repeat count: `{3,2}` at offset 1'],
    ['((a{100}){100}){100}', 'invalid repeat count: `{100}`'],
    ['(a', 'missing closing ): `(a`'],
    ['a)', 'unexpected ): `a)`'],
    ['[a', 'missing closing ]: `[a` at offset 0'],
    ['[]', 'missing closing ]: `[]` at offset 0'],
    ['[^]', 'missing closing ]: `[^]` at offset 0'],
    ['[z-a]', 'invalid character class range: `z-a` at offset 1'],
    ['[a-\\d]', 'invalid escape sequence: `\\d` at offset 3'],
    ['[[:word2:]]', 'invalid character class range: `[:word2:]` at offset 1'],
    ['[[:nope:]]', 'invalid character class range: `[:nope:]` at offset 1'],
    ['\\Z', 'invalid escape sequence: `\\Z` at offset 0 (RE2 spells the end of text \\z)'],
    ['\\C', 'invalid escape sequence: `\\C` at offset 0'],
    ['\\e', 'invalid escape sequence: `\\e` at offset 0'],
    ['\\G', 'invalid escape sequence: `\\G` at offset 0'],
    ['[\\b]', 'invalid escape sequence: `\\b` at offset 1'],
    ['[\\1]', 'invalid escape sequence: `\\1` at offset 1 (backreferences are not supported by RE2)'],
    ['[\\Q]\\E]', 'invalid escape sequence: `\\Q` at offset 1'],
    ['ab\\', 'trailing backslash at end of expression at offset 2'],
    ['(?#comment)', 'invalid or unsupported Perl syntax: `(?#` at offset 0'],
    ['(?x)a b', 'invalid or unsupported Perl syntax: `(?x` at offset 0'],
    ['(?i-)a', 'invalid or unsupported Perl syntax: `(?i-)` at offset 0'],
    ['(?i', 'invalid or unsupported Perl syntax: `(?i` at offset 0'],
    ['(?P<1-bad>x)', 'invalid named capture: `(?P<1-bad>` at offset 0'],
    ['(?P<é>x)', 'invalid named capture: `(?P<é>` at offset 0'],
    ['(?P<a>x)(?P<a>y)', 'duplicate capture group name: `a`'],
    ['\\p{NoSuchScript}', 'invalid character class range: `\\p{NoSuchScript}` at offset 0'],
    ['\\x{110000}', 'invalid escape sequence: `\\x{110000` at offset 0'],
    ['\\xZZ', 'invalid escape sequence: `\\xZZ` at offset 0'],
    ['('.repeat(1001) + ')'.repeat(1001), 'expression nests too deeply'],
  ];

  for (const [pattern, detail] of cases) {
    it(`refuses ${JSON.stringify(pattern.length > 40 ? `${pattern.slice(0, 40)}...` : pattern)}`, () => {
      expect(refusal(pattern).detail).toBe(detail);
    });
  }

  it('accepts the empty flag group (?), as Go does', () => {
    expect(compileRe2('a(?)b').test('ab')).toBe(true);
  });
});

describe('PatternError', () => {
  it('is a ValidationError, recognised by code, with the pattern, offset and detail', () => {
    const error = refusal('abc(?=d)');
    expect(error).toBeInstanceOf(ValidationError);
    expect(BulwarkError.is(error, 'ERR_VALIDATION')).toBe(true);
    expect(error).toMatchObject({
      name: 'PatternError',
      code: 'ERR_VALIDATION',
      pattern: 'abc(?=d)',
      offset: 3,
      source: 'pattern "abc(?=d)"',
      issues: [{ path: '', message: 'invalid or unsupported Perl syntax: `(?=` at offset 3 (lookahead is not supported by RE2)' }],
    });
    expect(error.message).toBe('pattern "abc(?=d)": invalid or unsupported Perl syntax: `(?=` at offset 3 (lookahead is not supported by RE2)');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('gives no offset where the part re2js names occurs more than once', () => {
    // The first \1 is a literal backslash (\\) then 1; only the second is the backreference.
    const error = refusal('\\\\1\\1');
    expect(error.offset).toBeUndefined();
    expect(error.detail).toBe('invalid escape sequence: `\\1` (backreferences are not supported by RE2)');
  });

  it('gives no offset for errors that name the whole pattern', () => {
    expect(refusal('x(a').offset).toBeUndefined();
    expect(refusal('(?P<a>x)(?P<a>y)').offset).toBeUndefined();
  });

  it('keeps its detail on one line, showing control characters as RE2 escapes', () => {
    const error = refusal('a\n\t\u0001(?=b)');
    expect(error.detail).toBe('invalid or unsupported Perl syntax: `(?=` at offset 4 (lookahead is not supported by RE2)');
    expect(refusal('(a\nb').detail).toBe('missing closing ): `(a\\nb`');
    expect(refusal('(a\u0001').detail).toBe('missing closing ): `(a\\x{1}`');
  });

  it(`refuses a pattern longer than ${maximumPatternLength} characters before compiling it, quoting only its start`, () => {
    const pattern = '('.repeat(maximumPatternLength + 1);
    const error = refusal(pattern);
    expect(error.detail).toBe(`pattern too long: ${maximumPatternLength + 1} characters, at most ${maximumPatternLength}`);
    expect(error.offset).toBeUndefined();
    expect(error.pattern).toBe(pattern);
    expect(error.message).toBe(`pattern "${'('.repeat(80)}"...: ${error.detail}`);
  });
});
