import { describe, expect, it } from 'vitest';
import { globCases as cases, globCorpus, referenceRegex } from './__fixtures__/glob-corpus.js';
import { GLOB_PATTERN_MAX, findGlobProblem, globMatch, runGlob, validateGlob } from './glob.js';
import { GLOB_MAX_STEPS, GLOB_PATH_SIZE } from './layout.js';

const matching = (pattern: string, path: string) => globMatch(pattern, path) === 'match';

describe('globMatch', () => {
  it.each(cases)('%s against %s: %s', (pattern, path, expected) => {
    expect(matching(pattern, path)).toBe(expected);
  });

  it('agrees with the hand-written cases and the reference regular expression on the same cases', () => {
    for (const [pattern, path, expected] of cases) {
      // The reference works on characters: ASCII only.
      if (findGlobProblem(pattern) !== undefined || !/^[\x20-\x7e]*$/.test(path)) continue;
      expect(referenceRegex(pattern).test(path), `${pattern} ${path}`).toBe(expected);
    }
  });

  it('takes bytes as well as strings', () => {
    expect(globMatch(Buffer.from('/a/*'), Buffer.from('/a/b'))).toBe('match');
    expect(globMatch(new Uint8Array([0x2f, 0x3f]), new Uint8Array([0x2f, 0xff]))).toBe('match');
  });

  it('treats a ** inside a component as *', () => {
    expect(matching('/a/b**', '/a/bcd')).toBe(true);
    expect(matching('/a/b**', '/a/b/cd')).toBe(false);
    expect(matching('/a/**b', '/a/xb')).toBe(true);
  });

  it('is undecided when it would take more steps than the bound', () => {
    // Each restart of the star matches ten a's before the b fails.
    const pattern = `/*${'a'.repeat(10)}b`;
    const path = `/${'a'.repeat(200)}`;
    expect(globMatch(pattern, path)).toBe('no-match');
    const { steps } = runGlob(Buffer.from(pattern), Buffer.from(path));
    expect(steps).toBeGreaterThan(1000);
    expect(globMatch(pattern, path, { maxSteps: steps - 1 })).toBe('undecided');
    expect(globMatch(pattern, path, { maxSteps: steps })).toBe('no-match');
    // The kernel's own bound, with the longest inputs it takes.
    const worst = `/*${'a'.repeat(GLOB_PATTERN_MAX - 3)}b`;
    expect(globMatch(worst, `/${'a'.repeat(GLOB_PATH_SIZE - 1)}`)).toBe('undecided');
  });

  it('is undecided on inputs longer than the kernel buffers', () => {
    expect(globMatch(`/${'a'.repeat(256)}`, '/a')).toBe('undecided');
    expect(globMatch('/**', `/${'a'.repeat(GLOB_PATH_SIZE)}`)).toBe('undecided');
    expect(globMatch('/**', `/${'a'.repeat(GLOB_PATH_SIZE - 1)}`)).toBe('match');
  });

  it('decides a pattern without stars in at most pattern + 1 steps', () => {
    expect(runGlob(Buffer.from('/a/b?c'), Buffer.from('/a/bxc')).steps).toBe(7);
    expect(runGlob(Buffer.from('/a/b?c'), Buffer.from('/a/x')).steps).toBeLessThanOrEqual(7);
  });

  it('matches 20,000 random valid patterns exactly as the reference regular expression does', () => {
    let matches = 0;
    let maxSteps = 0;
    for (const { pattern, path } of globCorpus(0x5eed, 20_000)) {
      expect(findGlobProblem(pattern), pattern).toBeUndefined();
      const { result, steps } = runGlob(Buffer.from(pattern), Buffer.from(path));
      const expected = referenceRegex(pattern).test(path) ? 'match' : 'no-match';
      if (result !== expected) expect.fail(`${pattern} against ${path}: ${result}, the reference says ${expected}`);
      if (result === 'match') matches++;
      maxSteps = Math.max(maxSteps, steps);
    }
    // The corpus exercises both outcomes, far from the step bound.
    expect(matches).toBeGreaterThan(4000);
    expect(matches).toBeLessThan(16_000);
    expect(maxSteps).toBeLessThan(GLOB_MAX_STEPS / 10);
  });

  it('matches long random patterns and paths as the reference does', () => {
    const corpus = globCorpus(0xb16, 2000, { maxComponents: 12, maxTokens: 8, maxSpan: 8, maxRun: 12 });
    for (const { pattern, path } of corpus) {
      const expected = referenceRegex(pattern).test(path) ? 'match' : 'no-match';
      const result = globMatch(pattern, path);
      if (result !== expected) expect.fail(`${pattern} against ${path}: ${result}, the reference says ${expected}`);
    }
  });
});

describe('validateGlob', () => {
  it.each([
    ['/etc/*.conf', '/etc/'],
    ['/etc/ssh/ssh_host_*_key', '/etc/ssh/'],
    ['/home/*/.ssh/**', '/home/'],
    ['/**', '/'],
    ['/**/x', '/'],
    ['/a/b/**', '/a/b/'],
    ['/a/b/**/c/*', '/a/b/'],
    ['/a/b?/c', '/a/'],
    ['/*', '/'],
    ['/a/*/b/*', '/a/'],
  ])('accepts %s with the prefix %s', (pattern, prefix) => {
    expect(validateGlob(pattern)).toEqual({ pattern, prefix });
  });

  it('accepts 255 bytes and refuses 256', () => {
    const longest = `/${'a'.repeat(GLOB_PATTERN_MAX - 2)}*`;
    expect(validateGlob(longest).prefix).toBe('/');
    expect(() => validateGlob(`${longest}b`)).toThrow('validate glob: expected at most 255 bytes, got 256');
    // Bytes, not characters: 'é' is two.
    expect(findGlobProblem(`/${'é'.repeat(127)}*`)).toBe('expected at most 255 bytes, got 256');
  });

  it.each([
    ['etc/*', 'expected an absolute pattern (starting with /), got "etc/*"'],
    ['', 'expected an absolute pattern (starting with /), got ""'],
    ['/a/\0*', 'expected no NUL byte'],
    ['/a/\ud800*', 'expected well-formed unicode (no lone surrogate)'],
    ['/a/*/', "expected no trailing '/' (resolved paths never end in one; /a/*/** matches everything under the directory)"],
    ['/a//*', 'expected a normalised pattern (no empty, \'.\' or \'..\' component), got "/a//*"'],
    ['/a/./*', 'expected a normalised pattern (no empty, \'.\' or \'..\' component), got "/a/./*"'],
    ['/a/../*', 'expected a normalised pattern (no empty, \'.\' or \'..\' component), got "/a/../*"'],
    ['/a/b**', 'expected \'**\' only as a whole component (as in /a/**/b), got "b**"'],
    ['/a/**b/c', 'expected \'**\' only as a whole component (as in /a/**/b), got "**b"'],
    ['/a/***', 'expected \'**\' only as a whole component (as in /a/**/b), got "***"'],
    ['/a/**/**/b', "expected no '**' right after another (one matches any number of directories)"],
    ['/etc/passwd', "expected a wildcard ('*', '?' or '**'); an exact path is a path rule"],
    ['/', "expected a wildcard ('*', '?' or '**'); an exact path is a path rule"],
  ])('refuses %j: %s', (pattern, problem) => {
    expect(findGlobProblem(pattern)).toBe(problem);
    expect(() => validateGlob(pattern)).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION', message: `validate glob: ${problem}` }));
  });

  it('refuses what is not a string', () => {
    expect(findGlobProblem(42 as unknown as string)).toBe('expected a string, got number');
  });

  it('gives a prefix that every matching path starts with', () => {
    for (const { pattern, path } of globCorpus(7, 5000)) {
      if (globMatch(pattern, path) === 'match') expect(path.startsWith(validateGlob(pattern).prefix), `${pattern} ${path}`).toBe(true);
    }
  });
});
