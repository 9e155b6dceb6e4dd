/**
 * parsePolicies on small hand-written inputs that once went wrong (found by
 * parse.fuzz.test.ts), each held here with the smallest text that shows it.
 */
import { describeIssue } from '@bulwark/errors';
import { describe, expect, it } from 'vitest';
import { compileSelected, encodeCompiled } from './compile.js';
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

describe('parsePolicies and __proto__', () => {
  const head = 'apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: p, namespace: default}\n';

  it('refuses a __proto__ key anywhere, at its position, instead of reading what it holds one level up', () => {
    // Each was accepted: the first compiled a Block exec rule for /bin/x from inside __proto__, the second made the rule Allow,
    // the third dropped the label (the selector asking less than written); the fourth named `a` as the unknown field, at 1:1.
    expect(issuesOf(`${head}spec:\n  __proto__:\n    process: {matchPaths: [{path: /bin/x}]}\n`)).toEqual([
      'p.yaml:5:3: spec.__proto__: unknown field (no policy field or label is named __proto__)',
    ]);
    expect(issuesOf(`${head}spec:\n  process:\n    matchPaths:\n    - path: /bin/x\n      __proto__: {action: Allow}\n`)).toEqual([
      'p.yaml:8:7: spec.process.matchPaths.0.__proto__: unknown field (no policy field or label is named __proto__)',
    ]);
    expect(issuesOf(`${head}spec:\n  selector:\n    matchLabels: {app: web, __proto__: x}\n  process: {matchPaths: [{path: /bin/x}]}\n`)).toEqual([
      'p.yaml:6:29: spec.selector.matchLabels.__proto__: unknown field (no policy field or label is named __proto__)',
    ]);
    expect(issuesOf(`${head}__proto__: {a: 1}\nspec: {process: {matchPaths: [{path: /bin/x}]}}\n`)).toEqual([
      'p.yaml:4:1: __proto__: unknown field (no policy field or label is named __proto__)',
    ]);
  });

  it('reports a __proto__ key with the schema issues of the same document', () => {
    expect(issuesOf(`${head}spec:\n  __proto__: 1\n  proces: {}\n`)).toEqual([
      'p.yaml:5:3: spec.__proto__: unknown field (no policy field or label is named __proto__)',
      'p.yaml:6:3: spec.proces: unknown field (did you mean process?)',
    ]);
  });

  it('still reads keys that are only Object.prototype names', () => {
    const { policies, errors } = parsePolicies(`${head}spec:\n  selector:\n    matchLabels: {constructor: a, toString: b}\n  process: {matchPaths: [{path: /bin/x}]}\n`, 'p.yaml');
    expect(errors).toEqual([]);
    expect((policies[0]!.spec as { selector: unknown }).selector).toEqual({ matchLabels: { constructor: 'a', toString: 'b' } });
  });
});

describe('parsePolicies and wildcards in paths and directories', () => {
  const policy = (section: string) => `apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: p}\nspec:\n  ${section}\n`;

  it('refuses a glob the enforcer cannot take in matchPaths.path or matchDirectories.dir, at the field', () => {
    // Each parsed, and encodeCompiled then threw a ValidationError without a position ("encode rules: rules[0].path: ...").
    expect(issuesOf(policy('file: {matchDirectories: [{dir: /home/*/}]}'))).toEqual([
      "p.yaml:5:35: spec.file.matchDirectories.0.dir: expected no trailing '/' (resolved paths never end in one; /home/*/** matches everything under the directory)",
    ]);
    expect(issuesOf(policy('file: {matchPaths: [{path: /a/**x/b}]}'))).toEqual([
      'p.yaml:5:30: spec.file.matchPaths.0.path: expected \'**\' only as a whole component (as in /a/**/b), got "**x"',
    ]);
    expect(issuesOf(policy('process: {matchPaths: [{path: //a/**/**/b}]}'))).toEqual([
      "p.yaml:5:33: spec.process.matchPaths.0.path: expected no '**' right after another (one matches any number of directories)",
    ]);
  });

  it('still takes a glob it can, and compiles and encodes it', () => {
    const { policies, errors } = parsePolicies(policy('file: {matchPaths: [{path: /home/*/*_history}]}'), 'p.yaml');
    expect(errors).toEqual([]);
    const compiled = compileSelected(policies, { kind: 'container', labels: {} }, { evasion: 'allow' });
    expect(compiled.rules.map((entry) => ('path' in entry.rule ? entry.rule.path : entry.rule.kind))).toEqual(['/home/*/*_history']);
    expect(encodeCompiled(compiled).length).toBeGreaterThan(0);
  });
});
