/**
 * parsePolicies on small hand-written inputs that once went wrong (found by
 * parse.fuzz.test.ts), each held here with the smallest text that shows it.
 */
import { describeIssue } from '@bulwark/errors';
import { describe, expect, it } from 'vitest';
import { parsePolicies } from './parse.js';

const issuesOf = (text: string) =>
  parsePolicies(text, 'p.yaml').errors.flatMap((error) => error.issues.map((issue) => describeIssue(error.source, issue)));

describe('parsePolicies positions', () => {
  it('places errors after one that yaml recovers from on their own lines', () => {
    // `c\n  d` is one scalar that yaml skips while recovering, and its LineCounter misses the newline inside it: the `:` after `d` came out as 2:9, past the end of `b: c`.
    expect(issuesOf(' a: 1\nb: c\n  d:\n')).toEqual([
      'p.yaml:2:1: yaml: unexpected scalar at node end',
      'p.yaml:2:2: yaml: unexpected map-value-ind token in YAML stream: ":"',
      'p.yaml:2:4: yaml: unexpected scalar token in YAML stream: "c\\n  d"',
      'p.yaml:3:4: yaml: unexpected map-value-ind token in YAML stream: ":"',
    ]);
  });
});
