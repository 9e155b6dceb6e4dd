import { describe, expect, it } from 'vitest';
import { compileRe2, PatternError, translateRe2 } from './regex.js';

function matches(pattern: string, text: string): boolean {
  return compileRe2(pattern).test(text);
}

function rejection(pattern: string): string {
  try {
    compileRe2(pattern);
  } catch (error) {
    expect(error).toBeInstanceOf(PatternError);
    return (error as Error).message;
  }
  throw new Error(`${pattern} was accepted`);
}

describe('translateRe2: matching like RE2', () => {
  const cases: [pattern: string, text: string, expected: boolean][] = [
    ['nginx', '/usr/sbin/nginx', true],
    ['^nginx', '/usr/sbin/nginx', false],
    ['', 'anything', true],
    ['a.c', 'a\rc', true],
    ['a.c', 'a\u2028c', true],
    ['a.c', 'a\nc', false],
    ['(?s)a.c', 'a\nc', true],
    ['a$', 'a\n', false],
    ['(?m)a$', 'a\nb', true],
    ['(?m)^b', 'a\nb', true],
    ['^b', 'a\nb', false],
    ['(?m)a$', 'a\rb', false],
    ['\\Aab', 'ab', true],
    ['b\\z', 'ab', true],
    ['b\\z', 'ab\n', false],
    ['(?i)abc', 'xABCx', true],
    ['a(?i)b|c', 'C', true],
    ['a(?i)b|c', 'aB', true],
    ['a(?i)b|c', 'AB', false],
    ['(?i:a)b', 'Ab', true],
    ['(?i:a)b', 'AB', false],
    ['(?i)a(?-i)b', 'Ab', true],
    ['(?i)a(?-i)b', 'AB', false],
    ['\\s', '\u000b', false],
    ['\\s', '\t', true],
    ['\\S', '\u00a0', true],
    ['[\\s]', '\u000b', false],
    ['[^\\S]', ' ', true],
    ['\\d+', '\u0663', false],
    ['[[:alpha:]]+$', 'abc', true],
    ['[[:^digit:]]', '5', false],
    ['[[:^digit:]x]', 'x', true],
    ['[[:punct:]]', '!', true],
    ['\\pL', 'é', true],
    ['\\p{Greek}', 'α', true],
    ['\\PL', 'a', false],
    ['\\p{^L}', '1', true],
    ['\\x41', 'A', true],
    ['\\x{1F600}', '\u{1f600}', true],
    ['\\101', 'A', true],
    ['\\0', '\0', true],
    ['\\Qa.b*\\E', 'a.b*', true],
    ['\\Qa.b*\\E', 'axbb', false],
    ['\\Qno end', 'no end', true],
    ['a{,3}', 'a{,3}', true],
    ['a{2}', 'aa', true],
    ['x{', 'x{', true],
    ['}', '}', true],
    ['\\#\\!\\@', '#!@', true],
    ['[]a]', ']', true],
    ['[^]a]', 'b', true],
    ['[a-]', '-', true],
    ['[\\d-z]', '-', true],
    ['^*a', 'a', true],
    ['(?U)a+', 'aaa', true],
    ['(?P<name>runc|crun)$', '/usr/bin/crun', true],
    ['(?<name>x)', 'x', true],
    ['/', 'a/b', true],
  ];

  for (const [pattern, text, expected] of cases) {
    it(`${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(text)}`, () => {
      expect(matches(pattern, text)).toBe(expected);
    });
  }

  it('makes (?U) quantifiers lazy and their ? greedy', () => {
    expect(translateRe2('(?U)a+').source).toBe('a+?');
    expect(translateRe2('(?U)a+?').source).toBe('a+');
    expect(compileRe2('(?U)^(a+)').exec('aaa')?.[1]).toBe('a');
  });

  it('keeps the pattern as written', () => {
    expect(translateRe2('(?i)x').pattern).toBe('(?i)x');
  });
});

describe('translateRe2: refusing what RE2 refuses', () => {
  const cases: [pattern: string, message: RegExp][] = [
    ['(a)\\1', /backreference \\1 is not supported by RE2/u],
    ['\\9', /backreference \\9/u],
    ['(?P<x>a)\\k<x>', /named backreferences \\k<\.\.\.> are not supported/u],
    ['(?P=x)', /named backreferences and recursion/u],
    ['a(?=b)', /lookahead \(\?= is not supported by RE2/u],
    ['a(?!b)', /lookahead \(\?! is not supported by RE2/u],
    ['(?<=a)b', /lookbehind \(\?<= is not supported by RE2/u],
    ['(?<!a)b', /lookbehind \(\?<! is not supported by RE2/u],
    ['(?>a+)b', /atomic groups/u],
    ['a*+', /possessive quantifiers/u],
    ['a++', /possessive quantifiers/u],
    ['a**', /invalid nested repetition operator \*/u],
    ['a{2}{3}', /invalid nested repetition operator \{3\}/u],
    ['*a', /missing argument to repetition operator \*/u],
    ['a|*', /missing argument/u],
    ['a{1001}', /invalid repeat count \{1001\}/u],
    ['a{3,2}', /invalid repeat count/u],
    ['(a', /missing closing \)/u],
    ['a)', /unexpected \)/u],
    ['[a', /missing closing \]/u],
    ['[]', /missing closing \]/u],
    ['[z-a]', /bounds out of order/u],
    ['[a-\\d]', /invalid character class range/u],
    ['[[:word2:]]', /missing closing|unknown POSIX class/u],
    ['[[:nope:]]', /unknown POSIX class/u],
    ['\\Z', /\\Z is not supported by RE2/u],
    ['\\C', /\\C \(any byte\)/u],
    ['\\e', /invalid escape \\e/u],
    ['[\\b]', /\\b is not allowed inside a character class/u],
    ['\\', /trailing backslash/u],
    ['(?#comment)', /comments/u],
    ['(?x)a b', /unknown flag x/u],
    ['(?)', /empty flag group/u],
    ['(?i-)a', /- without flags/u],
    ['(?P<1-bad>x)', /invalid capture group name/u],
    ['(?P<a>x)(?P<a>y)', /duplicate capture group name "a"/u],
    ['\\p{NoSuchScript}', /unknown unicode class "NoSuchScript"/u],
    ['\\x{110000}', /beyond U\+10FFFF/u],
    ['\\xZZ', /invalid hex escape/u],
  ];

  for (const [pattern, message] of cases) {
    it(`refuses ${JSON.stringify(pattern)}`, () => {
      expect(rejection(pattern)).toMatch(message);
    });
  }

  it('gives the offset of the problem', () => {
    const error = (() => {
      try {
        compileRe2('abc(?=d)');
      } catch (caught) {
        return caught as PatternError;
      }
      throw new Error('accepted');
    })();
    expect(error.offset).toBe(3);
    expect(error.pattern).toBe('abc(?=d)');
  });
});
