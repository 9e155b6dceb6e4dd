import { describe, expect, it } from 'vitest';
import { compiledPrograms } from './compile.js';
import { compileRe2, maximumPatternLength, PatternError, type Re2Options } from './index.js';

type MatchCase = [pattern: string, text: string, expected: boolean];

function matches(pattern: string, text: string): boolean {
  return compileRe2(pattern).test(text);
}

/** One test per case: whether the pattern, compiled with `options`, matches the text. */
function itMatches(cases: readonly MatchCase[], options: Re2Options = {}): void {
  const anchored = options.anchored ?? 'none';
  for (const [pattern, text, expected] of cases) {
    const what = anchored === 'full' ? 'all of ' : '';
    it(`${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${what}${JSON.stringify(text)}`, () => {
      const compiled = compileRe2(pattern, options);
      expect(compiled.anchored).toBe(anchored);
      expect(compiled.test(text)).toBe(expected);
    });
  }
}

describe('compileRe2: matching like Go regexp.MatchString', () => {
  itMatches([
    ['nginx', '/usr/sbin/nginx', true],
    ['^nginx', '/usr/sbin/nginx', false],
    ['', 'anything', true],
    ['', '', true],
    // `.` matches everything but \n, \r and U+2028 included (a JavaScript dot matches neither).
    ['a.c', 'a\rc', true],
    ['a.c', 'a\u2028c', true],
    ['a.c', 'a\nc', false],
    ['(?s)a.c', 'a\nc', true],
    ['^.$', '\u{1f600}', true],
    ['^..$', '\u{1f600}', false],
    // `$` is the end of the text without (?m); with it, only \n ends a line.
    ['a$', 'a\n', false],
    ['(?m)a$', 'a\nb', true],
    ['(?m)^b', 'a\nb', true],
    ['^b', 'a\nb', false],
    ['(?m)a$', 'a\rb', false],
    ['\\Aab', 'ab', true],
    ['b\\z', 'ab', true],
    ['b\\z', 'ab\n', false],
    // (?i) holds until the end of its group; (?i:...) only inside.
    ['(?i)abc', 'xABCx', true],
    ['a(?i)b|c', 'C', true],
    ['a(?i)b|c', 'aB', true],
    ['a(?i)b|c', 'AB', false],
    ['(?i:a)b', 'Ab', true],
    ['(?i:a)b', 'AB', false],
    ['(?i)a(?-i)b', 'Ab', true],
    ['(?i)a(?-i)b', 'AB', false],
    ['(?i-i)a', 'A', false],
    // Case folding follows Unicode's simple folding orbits.
    ['(?i)k', '\u212a', true],
    ['(?i)s', '\u017f', true],
    ['(?i)σ', 'ς', true],
    // \s, \d, \w, \b and the POSIX classes are ASCII-only.
    ['\\s', '\u000b', false],
    ['\\s', '\t', true],
    ['\\S', '\u00a0', true],
    ['[\\s]', '\u000b', false],
    ['[^\\S]', ' ', true],
    ['\\d+', '\u0663', false],
    ['\\w', 'é', false],
    ['a\\b', 'aé', true],
    ['[[:alpha:]]+$', 'abc', true],
    ['[[:^digit:]]', '5', false],
    ['[[:^digit:]x]', 'x', true],
    ['[[:punct:]]', '!', true],
    ['[[:space:]]', '\u000b', true],
    ['[[:word:]]', '_', true],
    // Negated classes match a newline.
    ['[^a]', '\n', true],
    // Unicode classes: one letter, {Category}, {Script}, negated by \P or ^.
    ['\\pL', 'é', true],
    ['\\p{Greek}', 'α', true],
    ['\\PL', 'a', false],
    ['\\p{^L}', '1', true],
    ['\\p{Any}', '\n', true],
    // Escapes: hex, octal (not \1 to \9 alone: those would be backreferences), \Q...\E.
    ['\\x41', 'A', true],
    ['\\x{1F600}', '\u{1f600}', true],
    ['\\101', 'A', true],
    ['\\12', '\n', true],
    ['\\0', '\0', true],
    ['\\v', '\u000b', true],
    ['\\Qa.b*\\E', 'a.b*', true],
    ['\\Qa.b*\\E', 'axbb', false],
    ['\\Qno end', 'no end', true],
    ['\\#\\!\\@', '#!@', true],
    // A `{` that does not start a repeat is a literal.
    ['a{,3}', 'a{,3}', true],
    ['a{2}', 'aa', true],
    ['a{2}', 'ab', false],
    ['x{', 'x{', true],
    ['}', '}', true],
    ['a{0}', 'b', true],
    // Class edge cases: a leading ] and a trailing - are literals.
    ['[]a]', ']', true],
    ['[^]a]', 'b', true],
    ['[a-]', '-', true],
    ['[\\d-z]', '-', true],
    // A repeat of ^ is allowed (and matches the empty string).
    ['^*a', 'a', true],
    // (?U) swaps greedy and lazy; whether a pattern matches does not change.
    ['(?U)a+', 'aaa', true],
    ['(?U)a+?', 'aaa', true],
    // Named groups in both spellings; names do not change what matches.
    ['(?P<name>runc|crun)$', '/usr/bin/crun', true],
    ['(?<name>x)', 'x', true],
    ['/', 'a/b', true],
  ]);

  it('keeps the pattern as written', () => {
    expect(compileRe2('(?i)x').pattern).toBe('(?i)x');
  });

  it('gives the same answer on every call', () => {
    const pattern = compileRe2('ubuntu-[0-9]+');
    expect([pattern.test('ubuntu-22'), pattern.test('debian'), pattern.test('ubuntu-24')]).toEqual([true, false, true]);
  });
});

describe("compileRe2 { anchored: 'full' }: the whole text, like ^(?:pattern)$", () => {
  itMatches([
    ['ubuntu-[0-9]+', 'ubuntu-22', true],
    ['ubuntu-[0-9]+', 'ubuntu-22-lts', false],
    ['ubuntu-[0-9]+', 'xubuntu-22', false],
    ['.*', '', true],
    ['.*', 'anything', true],
    ['', '', true],
    ['', 'x', false],
    // The anchors wrap the whole alternation, not its first branch.
    ['a|ab', 'ab', true],
    ['ab|a', 'ab', true],
    // Inner flags stay inside: (?m) does not let the text end before a newline.
    ['(?m)a$', 'a', true],
    ['(?m)a$', 'a\n', false],
    ['(?i)Web', 'WEB', true],
    // $ inside the pattern is still the end of the text.
    ['a$', 'a', true],
  ], { anchored: 'full' });
});

describe('compileRe2: where re2js and Go differ', () => {
  // Go 1.25 looks Unicode class names up case-insensitively, ignoring spaces,
  // underscores and hyphens, and accepts the long category names
  // (unicode.CategoryAliases) and ASCII. re2js 2.x refuses these; Go 1.24
  // and older refuse them too.
  for (const pattern of ['\\p{Letter}', '\\p{greek}', '\\p{ASCII}', '\\p{Uppercase_Letter}']) {
    it(`refuses ${pattern}, which Go 1.25 accepts`, () => {
      expect(() => compileRe2(pattern)).toThrow(expect.objectContaining({ name: 'PatternError', code: 'ERR_VALIDATION' }));
    });
  }

  // Any, Assigned, LC and Cn, as Go 1.25 accepts them (Go 1.24 and older know only Any).
  it('accepts \\p{Assigned}, \\p{LC} and \\p{Cn}, as Go 1.25 does', () => {
    expect(matches('^\\p{Assigned}$', 'a')).toBe(true);
    expect(matches('^\\p{LC}$', 'a')).toBe(true);
    expect(matches('^\\p{Cn}$', '\u{50000}')).toBe(true);
  });

  // re2js's tables are Unicode 17; Go's unicode package is Unicode 15.0.
  it('knows scripts and letters newer than Go: \\p{Garay} (Unicode 16), which Go refuses', () => {
    expect(matches('^\\p{Garay}$', '\u{10d40}')).toBe(true);
    expect(matches('^\\pL$', '\u1c89')).toBe(true);
  });

  // A Go string holds UTF-8; JavaScript text can hold a lone surrogate, which
  // turns into U+FFFD when encoded as UTF-8. re2js reads it as one character
  // that is not U+FFFD.
  it('reads a lone surrogate as one character other than U+FFFD', () => {
    expect(matches('^.$', '\ud800')).toBe(true);
    expect(matches('^\\x{FFFD}$', '\ud800')).toBe(false);
  });
});

describe('compileRe2: the length bound', () => {
  it(`accepts a pattern of ${maximumPatternLength} characters`, () => {
    expect(compileRe2('a'.repeat(maximumPatternLength)).test('a'.repeat(maximumPatternLength))).toBe(true);
  });

  it('compiles a costly pattern within the bound (585 repeats of 1000)', { timeout: 20_000 }, () => {
    const pattern = 'x{1000}'.repeat(Math.floor(maximumPatternLength / 'x{1000}'.length));
    expect(compileRe2(pattern).test('x'.repeat(10))).toBe(false);
  });
});

describe('compileRe2: the cache of compiled programs', () => {
  it('keeps a compiled program and shares it between anchorings', () => {
    const anywhere = compileRe2('cache-[0-9]+');
    expect(compiledPrograms.has('cache-[0-9]+')).toBe(true);
    const whole = compileRe2('cache-[0-9]+', { anchored: 'full' });
    expect([anywhere.test('x-cache-1'), whole.test('x-cache-1'), whole.test('cache-1')]).toEqual([true, false, true]);
  });

  it('drops the least recently used of more than 128 patterns', () => {
    compileRe2('first-[0-9]');
    compileRe2('kept-[0-9]');
    for (let index = 0; index < 127; index++) {
      compileRe2(`filler-${index}`);
      if (index % 10 === 0) compileRe2('kept-[0-9]');
    }
    expect(compiledPrograms.has('first-[0-9]')).toBe(false);
    expect(compiledPrograms.has('kept-[0-9]')).toBe(true);
  });

  it('keeps at most 100,000 instructions', () => {
    // Each of these compiles to about 12,000 instructions: the ninth pushes out the first.
    const patterns = Array.from({ length: 9 }, (_, index) => `${'z{1000}'.repeat(12)}${index}`);
    for (const pattern of patterns) compileRe2(pattern);
    expect(patterns.map((pattern) => compiledPrograms.has(pattern))).toEqual([false, true, true, true, true, true, true, true, true]);
  });

  it('does not keep a large program, nor a refused pattern', () => {
    compileRe2('y{1000}'.repeat(20));
    expect(compiledPrograms.has('y{1000}'.repeat(20))).toBe(false);
    expect(() => compileRe2('(cache')).toThrow(PatternError);
    expect(compiledPrograms.has('(cache')).toBe(false);
  });
});
