/**
 * Hostile selector expressions (acceptance 6): the classic catastrophic-
 * backtracking patterns as a `kubearmor.io/container.name` value, matched
 * against a 50,001-character container name built to make a backtracking
 * engine explore every way of splitting it. RE2 matches in time linear in
 * the name, so each decision is the right one and comes at once.
 */
import { describe, expect, it } from 'vitest';
import { compilePolicies } from './compile.js';
import { parsePolicies, type Policy } from './parse.js';
import { matchPolicy, selectPolicies, type Workload } from './select.js';

const LONG = 50_000;

const policyFor = (pattern: string) => `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: hostile-selector
  namespace: shop
spec:
  selector:
    matchLabels:
      kubearmor.io/container.name: '${pattern.replaceAll("'", "''")}'
  process:
    matchPaths:
    - path: /bin/sh
`;

function parseOne(pattern: string): Policy {
  const result = parsePolicies(policyFor(pattern), 'selector.yaml');
  expect(result.errors.map((error) => error.message)).toEqual([]);
  return result.policies[0]!;
}

const container = (name: string): Workload => ({ kind: 'container', name, namespace: 'shop', labels: {} });

/**
 * Each pattern, and whether it matches the whole of `a` x 50,000 then `!`,
 * and of `a` x 50,000. A backtracking engine takes exponential (or, for
 * `(.*a){20}`, degree-20 polynomial) time to fail on the first.
 */
const PATTERNS: readonly (readonly [pattern: string, withBang: boolean, allA: boolean])[] = [
  ['(a+)+$', false, true],
  ['(a|aa)+$', false, true],
  ['(.*a){20}', false, true],
  ['(a|a?)+$', false, true],
  ['(a*)*b', false, false],
  ['^(a+)+$', false, true],
  ['(\\w+\\s?)*$', false, true],
  ['(x+x+)+y', false, false],
  ['(a+)+!', true, false],
  ['(.*a){20}!', true, false],
];

/** Short names, on which JavaScript's backtracking engine is quick: the same answers from both say the patterns mean the same. */
const SHORT_NAMES = ['', 'a', 'aa', 'aaaa!', 'aaaaa', 'ab', 'b', 'a!a', 'x xy'];

describe('container-name expressions that backtrack catastrophically elsewhere', () => {
  for (const [pattern, withBang, allA] of PATTERNS) {
    it(`decides ${pattern} against a ${LONG + 1}-character name in linear time`, () => {
      const policy = parseOne(pattern);
      const reference = new RegExp(`^(?:${pattern})$`, 'u');
      for (const name of SHORT_NAMES) expect(matchPolicy(policy, container(name)).selected, JSON.stringify(name)).toBe(reference.test(name));

      const started = performance.now();
      const hostile = matchPolicy(policy, container(`${'a'.repeat(LONG)}!`));
      const plain = matchPolicy(policy, container('a'.repeat(LONG)));
      const milliseconds = performance.now() - started;

      expect(hostile.selected).toBe(withBang);
      expect(plain.selected).toBe(allA);
      if (!withBang) expect(hostile.reason).toMatch(/^selector\.matchLabels kubearmor\.io\/container\.name: .+ does not match "a{50000}!"$/u);
      // Through selection and compilation too: the policy's rule is there exactly when the policy selects the container.
      const hostileWorkload = container(`${'a'.repeat(LONG)}!`);
      expect(selectPolicies([policy], hostileWorkload)).toHaveLength(withBang ? 1 : 0);
      expect(compilePolicies([policy], hostileWorkload, { evasion: 'allow' }).rules).toHaveLength(withBang ? 1 : 0);
      // Linear: about a millisecond per pattern here; a backtracking engine would not finish. The test timeout is the hard guard.
      expect(milliseconds).toBeLessThan(1000);
    });
  }

  it('refuses, at the label, what RE2 does not take (backreferences, lookaround, repeats over 1000)', () => {
    for (const pattern of ['(a)\\1', '(?=a)a', '(?<!b)a', 'a{1001}', '((a{100}){100}){100}', '(a+)+$'.repeat(1000)]) {
      const result = parsePolicies(policyFor(pattern), 'selector.yaml');
      expect(result.policies, pattern).toEqual([]);
      const issues = result.errors.flatMap((error) => error.issues);
      expect(issues, pattern).toHaveLength(1);
      expect(issues[0]).toMatchObject({ path: 'spec.selector.matchLabels.kubearmor.io/container.name', line: 9, column: 36 });
      expect(issues[0]!.message).toMatch(/^expected a container-name list \[a, b\] or an RE2 regular expression: /u);
    }
  });
});
