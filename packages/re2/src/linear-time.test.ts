import { describe, expect, it } from 'vitest';
import { compileRe2 } from './index.js';

/**
 * Patterns that take a backtracking engine (JavaScript's RegExp, PCRE)
 * exponential time on a text that almost matches. RE2 answers in one pass
 * over the text. The guard is the test timeout: a backtracking engine would
 * not finish `(a+)+$` on 30 characters in that time, let alone on a
 * million. No wall-clock assertion, so a slow machine cannot make it flaky.
 */
describe('compileRe2: matching takes time linear in the text', () => {
  const pathological: [pattern: string, text: (length: number) => string][] = [
    ['(a+)+$', (length) => `${'a'.repeat(length)}b`],
    ['^(a|a)*$', (length) => `${'a'.repeat(length)}b`],
    ['^(a|aa)+$', (length) => `${'a'.repeat(length)}!`],
    ['(x+x+)+y', (length) => 'x'.repeat(length)],
    ['^(\\w+\\s?)*$', (length) => `${'word '.repeat(length / 5)}!`],
  ];

  for (const [pattern, text] of pathological) {
    it(`${pattern} on 100,000 and 1,000,000 characters that almost match`, { timeout: 10_000 }, () => {
      const compiled = compileRe2(pattern);
      expect(compiled.test(text(100_000))).toBe(false);
      expect(compiled.test(text(1_000_000))).toBe(false);
      expect(compileRe2(pattern, { anchored: 'full' }).test(text(1_000_000))).toBe(false);
    });
  }

  it('still finds the match in a long text', { timeout: 10_000 }, () => {
    expect(compileRe2('(a+)+$').test('a'.repeat(1_000_000))).toBe(true);
  });
});
