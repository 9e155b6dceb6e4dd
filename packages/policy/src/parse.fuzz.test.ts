/**
 * Hostile input for parsePolicies (acceptance 6): thousands of mutated and
 * truncated documents of the KubeArmor corpus each give policies or clean
 * errors (ValidationErrors whose every issue is placed inside the text),
 * never another exception and never a hang; what still parses compiles and
 * encodes (compile may refuse only what no single policy shows, more globs
 * than the enforcer holds). Then the classic attacks one by one: an alias
 * bomb, a document over the size limit, nesting deep enough to overflow a
 * recursive parser.
 *
 * Seeded: a failure names the seed and the case. Each case is made from
 * the seed and its index alone (caseSeed), so BULWARK_TEST_SEED=<seed>
 * brings the one named back, whatever the others do.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BulwarkError, ValidationError } from '@bulwark/errors';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { corpusPath } from './__fixtures__/corpus.js';
import { caseSeed, createRandom, testSeed, type Random } from './__fixtures__/random.js';
import { compilePolicies, compileSelected, encodeCompiled, type CompiledPolicySet } from './compile.js';
import { DEFAULT_MAX_BYTES, parsePolicies, type ParseResult, type Policy } from './parse.js';
import { CONTAINER_NAME_LABEL, parseNameList } from './semantic.js';
import { hostWorkload, type Workload } from './select.js';

const SEED = testSeed(0x0b01_2a4c);
const CASES = 2200;

const root = corpusPath('kubearmor-policies');

function walk(directory: string): string[] {
  return readdirSync(directory)
    .sort()
    .flatMap((name) => {
      const path = join(directory, name);
      return statSync(path).isDirectory() ? walk(path) : name.endsWith('.yaml') ? [path] : [];
    });
}

const corpus = walk(root).map((file) => ({ file: relative(root, file), text: readFileSync(file, 'utf8') }));

// ---------------------------------------------------------------------------
// Mutations: each takes a text and gives another, named so a failure says what was done.

const YAML_CHARACTERS = [':', '-', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', "'", '"', '%', '@', '`', ',', '?', ' ', '\t', '\n', '\\'];
const CONTROL_CHARACTERS = ['\0', '\x01', '\x07', '\b', '\v', '\f', '\x1b', '\x7f', '\x85', '\u2028', '\u2029', '\ufeff', '\ud800', '\udfff', '\ufffd', '\uffff', '\r', '\r\n', '\t'];
const KINDS = ['KubeArmorPolicy', 'KubeArmorHostPolicy', 'KubeArmorClusterPolicy', 'KubeArmorNetworkPolicy', 'kubearmorpolicy', 'Pod', ''];
const UNKNOWN_KEYS = [
  'unknownField', 'matchPath', 'fromsource', 'Action', 'recursive', 'readOnly', 'ownerOnly', 'severity', 'action', 'spec', 'kind', 'metadata',
  'status', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '<<', '"quoted key"', "'single'", '? [complex, key]', '1', 'null', 'true', '~',
  '"\\0"', '"a\\u0000b"', 'x'.repeat(300),
];

function scalarReplacements(random: Random): string[] {
  const long = 'x'.repeat(random.pick([300, 5000, 100_000]));
  return [
    '42', '-1', '0', '3.14', '1e400', '-.inf', '.nan', '0x1F', '0o17', '12:30:00', '2001-12-14', 'true', 'false', 'yes', 'null', '~', '',
    '[]', '{}', '[1, 2, 3]', '{a: 1, b: [2]}', '[[[]]]', '{path: /bin/sh}', '[{path: /bin/sh}]', long, `'${long}'`, `"${long}"`,
    '"\\u0000"', '"\\x00\\ud800"', '"\\ud800"', '"\\t\\n"', "'it''s'", '"unterminated', "'unterminated", '!!binary aGVsbG8=', '!!int 12',
    '!!str 12', '!!map {}', '!!seq []', '!!float x', '!!bool maybe', '!custom x', '!<tag:yaml.org,2002:str> x', '&anchor x', '*anchor',
    '*undefined', '|\n  block text', '>-\n  folded', '|+', '"/etc/*.conf"', '/etc/*.conf', '/home/**/key?', '/**/**/x', '/a/../b', '/a/./b',
    '//x//y/', `/${'a'.repeat(300)}`, '/dir/', 'relative/path', '/', '- item', ': :', '? complex', 'Allow', 'ALLOW', 'bLoCk', 'Audit', 'Deny',
    'cap_net_raw', 'NET_RAW, cap_sys_admin', 'CAP_NOPE', 'tcp,UDP', 'tcp,,', 'icmp', '"[a, b]"', '"(a+)+$"', '"["', '"(?P<x"', '11', '-5',
  ];
}

type Mutation = readonly [name: string, apply: (text: string, random: Random) => string];

const lines = (text: string) => text.split('\n');
const at = (random: Random, text: string) => random.below(text.length + 1);
// Deep enough at the top to overflow yaml's recursive composer (about 1,000 levels); far deeper is for the tests below.
const nesting = (random: Random) => random.pick([10, 50, 200, 1500]);

const MUTATIONS: readonly Mutation[] = [
  ['truncate', (text, random) => text.slice(0, at(random, text))],
  ['truncate bytes', (text, random) => {
    const bytes = Buffer.from(text, 'utf8');
    return bytes.subarray(0, random.below(bytes.length + 1)).toString('utf8');
  }],
  ['delete', (text, random) => {
    const start = at(random, text);
    return text.slice(0, start) + text.slice(start + random.between(1, 20));
  }],
  ['insert', (text, random) => {
    const start = at(random, text);
    const inserted = Array.from({ length: random.between(1, 4) }, () => random.pick(YAML_CHARACTERS)).join('');
    return text.slice(0, start) + inserted + text.slice(start);
  }],
  ['duplicate', (text, random) => {
    const start = at(random, text);
    const end = Math.min(text.length, start + random.between(1, 200));
    return text.slice(0, end) + text.slice(start, end) + text.slice(end);
  }],
  ['replace character', (text, random) => {
    const start = random.below(Math.max(text.length, 1));
    return text.slice(0, start) + String.fromCharCode(random.below(0x10000)) + text.slice(start + 1);
  }],
  ['indent', (text, random) => {
    const all = lines(text);
    const index = random.below(all.length);
    const line = all[index]!;
    all[index] = random.chance(0.5) ? ' '.repeat(random.between(1, 4)) + line : line.replace(/^ {1,4}/u, '');
    return all.join('\n');
  }],
  ['swap lines', (text, random) => {
    const all = lines(text);
    const a = random.below(all.length);
    const b = random.below(all.length);
    [all[a], all[b]] = [all[b]!, all[a]!];
    return all.join('\n');
  }],
  ['duplicate line', (text, random) => {
    const all = lines(text);
    const index = random.below(all.length);
    all.splice(index, 0, all[index]!);
    return all.join('\n');
  }],
  ['delete line', (text, random) => {
    const all = lines(text);
    all.splice(random.below(all.length), 1);
    return all.join('\n');
  }],
  ['replace scalar', (text, random) => {
    const all = lines(text);
    const candidates = all.flatMap((line, index) => (/^\s*(-\s+)?[^#\s][^:#]*:\s+\S|^\s*-\s+[^\s{[]/u.test(line) ? [index] : []));
    if (candidates.length === 0) return text;
    const index = random.pick(candidates);
    const line = all[index]!;
    const replacement = random.pick(scalarReplacements(random));
    const match = /^(\s*(?:-\s+)?[^#\s][^:#]*:\s+)/u.exec(line) ?? /^(\s*-\s+)/u.exec(line);
    all[index] = `${match![1]}${replacement}`;
    return all.join('\n');
  }],
  ['unknown key', (text, random) => {
    const all = lines(text);
    const index = random.below(all.length);
    const indent = /^\s*/u.exec(all[index]!)![0].replace(/-/gu, ' ');
    all.splice(index, 0, `${indent}${random.pick(UNKNOWN_KEYS)}: ${random.pick(scalarReplacements(random))}`);
    return all.join('\n');
  }],
  ['tab', (text, random) => {
    const all = lines(text);
    const index = random.below(all.length);
    all[index] = random.chance(0.5) ? all[index]!.replace(/^ +/u, '\t') : all[index]!.replace(/ /u, '\t');
    return all.join('\n');
  }],
  ['control character', (text, random) => {
    const start = at(random, text);
    return text.slice(0, start) + random.pick(CONTROL_CHARACTERS) + text.slice(start);
  }],
  ['invalid utf-8', (text, random) => {
    const bytes = Buffer.from(text, 'utf8');
    const start = random.below(bytes.length + 1);
    const junk = Buffer.from(Array.from({ length: random.between(1, 6) }, () => random.pick([0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf8, 0xfe, 0xff])));
    return Buffer.concat([bytes.subarray(0, start), junk, bytes.subarray(start)]).toString(random.chance(0.5) ? 'utf8' : 'latin1');
  }],
  ['nested flow', (text, random) => {
    const depth = nesting(random);
    const open = random.pick(['[', '{a: ', '{']);
    const close = open === '[' ? ']' : '}';
    const nested = open.repeat(depth) + (random.chance(0.7) ? close.repeat(depth) : '');
    const all = lines(text);
    const index = random.below(all.length);
    all[index] = `${/^(\s*(?:-\s+)?[^:]*:\s*)/u.exec(all[index]!)?.[1] ?? ''}${nested}`;
    return all.join('\n');
  }],
  ['nested block', (text, random) => {
    const depth = nesting(random);
    const start = at(random, text);
    return `${text.slice(0, start)}\n${'- '.repeat(depth)}x\n${text.slice(start)}`;
  }],
  ['document marker', (text, random) => {
    const all = lines(text);
    all.splice(random.below(all.length + 1), 0, random.pick(['---', '...', '%YAML 1.1\n---', '%YAML 9.9\n---', '%TAG ! tag:x,2000:\n---', '--- !!map', '--- |', '--- >', '---   # c']));
    return all.join('\n');
  }],
  ['anchors', (text, random) => {
    const all = lines(text);
    const index = random.below(all.length);
    all[index] = random.chance(0.5) ? all[index]!.replace(/: /u, ': &a ') : all[index]!.replace(/: .*/u, `: *${random.pick(['a', 'zz'])}`);
    return all.join('\n');
  }],
  ['kind', (text, random) => text.replace(/^kind: .*$/mu, `kind: ${random.pick(KINDS)}`)],
  ['api version', (text, random) => text.replace(/^apiVersion: .*$/mu, `apiVersion: ${random.pick(['security.kubearmor.com/v2', 'v1', '', '[v1]'])}`)],
  ['line endings', (text, random) => text.replace(/\n/gu, random.pick(['\r\n', '\r', '\n\n', '\u2028']))],
  // Bounded (about 16 KiB), so that cases stay cheap: what size alone does is for the size-limit test below.
  ['repeat document', (text, random) => Array.from({ length: Math.max(2, Math.min(random.between(2, 30), Math.floor(16_384 / (text.length + 5)))) }, () => text).join('\n---\n')],
  ['colon', (text, random) => {
    const all = lines(text);
    const index = random.below(all.length);
    all[index] = random.chance(0.5) ? all[index]!.replace(/:/u, '') : all[index]!.replace(/: /u, ':');
    return all.join('\n');
  }],
  ['comment', (text, random) => {
    const all = lines(text);
    const index = random.below(all.length);
    all[index] = random.chance(0.5) ? `#${all[index]!}` : `${all[index]!} # ${random.pick(['note', '#', ': x', '- y'])}`;
    return all.join('\n');
  }],
];

interface Case {
  readonly index: number;
  readonly file: string;
  readonly mutations: readonly string[];
  readonly text: string;
}

/** Case `index` of the run, alone: a corpus file and one to four mutations. */
function makeCase(index: number): Case {
  const random = createRandom(caseSeed(SEED, index));
  const { file, text: original } = random.pick(corpus);
  let text = original;
  const mutations: string[] = [];
  const count = random.chance(0.6) ? 1 : random.between(2, 4);
  for (let step = 0; step < count; step++) {
    const [name, apply] = random.pick(MUTATIONS);
    mutations.push(name);
    text = apply(text, random);
  }
  return { index, file, mutations, text };
}

// ---------------------------------------------------------------------------
// Checks.

/** What is wrong with a parse result for `text`, or undefined. */
function findResultProblem(text: string, result: ParseResult): string | undefined {
  if (!Array.isArray(result.policies) || !Array.isArray(result.errors)) return 'expected policies and errors arrays';
  const starts = [0];
  for (let offset = text.indexOf('\n'); offset !== -1; offset = text.indexOf('\n', offset + 1)) starts.push(offset + 1);
  for (const error of result.errors) {
    if (!isValidationError(error)) return `expected a ValidationError, got ${String(error)}`;
    if (error.issues.length === 0) return `expected issues in ${error.message}`;
    for (const issue of error.issues) {
      const { line, column } = issue;
      const where = `${JSON.stringify(issue)} of ${starts.length} lines`;
      if (line === undefined || column === undefined) return `expected a line and a column: ${where}`;
      if (!Number.isInteger(line) || !Number.isInteger(column) || line < 1 || column < 1) return `expected a line and column >= 1: ${where}`;
      if (line > starts.length) return `expected the line within the text: ${where}`;
      const length = (starts[line] ?? text.length + 1) - starts[line - 1]! - (line < starts.length ? 1 : 0);
      if (column > length + 1) return `expected the column within line ${line} (${length} characters): ${where}`;
    }
  }
  if (result.policies.length === 0 && result.errors.length === 0) {
    // Nothing and no complaint: only right when every document of the text is empty.
    const documents = parseAllDocuments(text);
    const empty = (Array.isArray(documents) ? documents : []).every((document) => document.contents === null || document.contents.toJSON() === null);
    if (!empty) return 'expected policies or errors for a text with content';
  }
  return undefined;
}

/** A container or host that the policy's own selector picks (as far as a made-up workload can). */
function workloadFor(policy: Policy): Workload {
  if (policy.kind === 'KubeArmorHostPolicy') {
    const labels = (policy.spec as { nodeSelector?: { matchLabels?: Record<string, string> } }).nodeSelector?.matchLabels ?? {};
    return hostWorkload(labels['kubernetes.io/hostname'] ?? 'node', labels);
  }
  const selector = (policy.spec as { selector?: { matchLabels?: Record<string, string>; matchExpressions?: { key?: string; operator?: string; values?: string[] }[] } }).selector;
  const { [CONTAINER_NAME_LABEL]: nameLabel, ...labels }: Record<string, string> = { ...selector?.matchLabels };
  let namespace = policy.namespace ?? 'default';
  for (const expression of selector?.matchExpressions ?? []) {
    if (expression.operator !== 'In') continue;
    const value = expression.values?.[0];
    if (value === undefined) continue;
    if (expression.key === 'namespace') namespace = value;
    else if (value.includes('=')) labels[value.slice(0, value.indexOf('='))] = value.slice(value.indexOf('=') + 1);
  }
  const name = nameLabel === undefined ? 'app' : (parseNameList(nameLabel)?.[0] ?? 'app');
  return { kind: 'container', name, namespace, labels };
}

/**
 * Compiles and encodes. The one refusal allowed is compile's own for what no
 * single policy shows (more glob patterns than the enforcer holds, a
 * ValidationError with a position); everything parsePolicies accepted must
 * encode. Gives the number of entries, or the problem.
 */
function compileAndEncode(compile: () => CompiledPolicySet): { entries: number } | { refused: ValidationError } | { problem: string } {
  let compiled: CompiledPolicySet;
  try {
    compiled = compile();
  } catch (error) {
    if (isValidationError(error) && error.issues.every((issue) => /glob patterns/u.test(issue.message) && issue.line !== undefined && issue.line >= 1)) return { refused: error };
    return { problem: `compile threw ${describeThrown(error)}` };
  }
  for (const [index, entry] of compiled.rules.entries()) {
    if (entry.rule.id !== index + 1) return { problem: `rule ${index} has id ${entry.rule.id}` };
    if (!(entry.origin.line >= 1 && entry.origin.column >= 1)) return { problem: `rule ${index} has no position: ${JSON.stringify(entry.origin)}` };
  }
  try {
    return { entries: encodeCompiled(compiled).length };
  } catch (error) {
    return { problem: `encode threw ${describeThrown(error)} for rules ${JSON.stringify(compiled.rules.map((entry) => entry.rule))}` };
  }
}

/** Errors are recognised by code, not instanceof: the enforcer's rules may come with another copy of @bulwark/errors. */
function isValidationError(error: unknown): error is ValidationError {
  return BulwarkError.is(error, 'ERR_VALIDATION') && Array.isArray((error as Partial<ValidationError>).issues);
}

function describeThrown(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
}

function describeCase(item: Case): string {
  const shown = item.text.length > 300 ? `${JSON.stringify(item.text.slice(0, 300))}... (${item.text.length} characters)` : JSON.stringify(item.text);
  return `seed ${SEED} case ${item.index} (${item.file}; ${item.mutations.join(', ')}): ${shown}`;
}

describe(`parsePolicies on ${CASES} mutated corpus documents (seed ${SEED})`, () => {
  it('gives policies or clean, placed errors, never another exception; what parses compiles and encodes', () => {
    const counts = { problems: 0, cases: 0, withErrors: 0, withPolicies: 0, policies: 0, compiled: 0, refusedByCompile: 0, entries: 0 };
    const problems: string[] = [];
    const report = (problem: string) => {
      counts.problems++;
      if (problems.length < 10) problems.push(problem);
    };
    let slowest = { milliseconds: 0, case: '' };
    for (let index = 0; index < CASES; index++) {
      const item = makeCase(index);
      counts.cases++;
      const started = performance.now();
      let result: ParseResult;
      try {
        result = parsePolicies(item.text, item.file);
      } catch (error) {
        report(`${describeCase(item)}\n  threw ${describeThrown(error)}`);
        continue;
      }
      const problem = findResultProblem(item.text, result);
      if (problem !== undefined) report(`${describeCase(item)}\n  ${problem}`);
      if (result.errors.length > 0) counts.withErrors++;
      if (result.policies.length > 0) counts.withPolicies++;
      counts.policies += result.policies.length;

      const runs = [
        ...result.policies.map((policy) => () => compilePolicies([policy], workloadFor(policy))),
        () => compileSelected(result.policies.filter((policy) => policy.kind !== 'KubeArmorHostPolicy'), { kind: 'container', labels: {} }),
        () => compileSelected(result.policies.filter((policy) => policy.kind === 'KubeArmorHostPolicy'), hostWorkload('node')),
      ];
      for (const run of runs) {
        const outcome = compileAndEncode(run);
        if ('problem' in outcome) report(`${describeCase(item)}\n  ${outcome.problem}`);
        else if ('refused' in outcome) counts.refusedByCompile++;
        else {
          counts.compiled++;
          counts.entries += outcome.entries;
        }
      }
      const milliseconds = performance.now() - started;
      if (milliseconds > slowest.milliseconds) slowest = { milliseconds, case: describeCase(item) };
    }
    expect({ problems: counts.problems, first: problems }).toEqual({ problems: 0, first: [] });
    expect(counts.cases).toBeGreaterThanOrEqual(2000);
    // Most mutations break the document; enough leave it valid that compile and encode see real policies.
    expect(counts.withErrors).toBeGreaterThan(counts.cases / 2);
    expect(counts.withPolicies).toBeGreaterThan(counts.cases / 20);
    expect(counts.entries).toBeGreaterThan(0);
    // Not a hang: the run is bounded by the test timeout, and no one case takes long (about 100 ms at most on an idle
    // machine; the bound leaves room for a loaded one and still names the case).
    expect(slowest.milliseconds, slowest.case).toBeLessThan(10_000);
  }, 30_000);

  it('makes the same case from the same seed', () => {
    expect(makeCase(7)).toEqual(makeCase(7));
    expect(makeCase(7).text).not.toBe(makeCase(8).text);
  });
});

// ---------------------------------------------------------------------------
// The classic attacks, one by one.

const POLICY_HEAD = 'apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: hostile\n  namespace: default\n';

/** The one ValidationError of a refused text, checked to be placed within it. */
function refusal(text: string, result: ParseResult): ValidationError {
  expect(findResultProblem(text, result)).toBeUndefined();
  expect(result.policies).toEqual([]);
  expect(result.errors).toHaveLength(1);
  return result.errors[0]!;
}

describe('hostile documents', () => {
  it('refuses a billion laughs (aliases of aliases) quickly, with a position', () => {
    const started = performance.now();
    const levels = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
    for (let level = 1; level <= 9; level++) levels.push(`lol${level}: &lol${level} [${Array.from({ length: 9 }, () => `*lol${level - 1}`).join(', ')}]`);
    // Expanded, lol9 alone is 9^10 (3.5 billion) strings.
    for (const text of [
      `${levels.join('\n')}\n`,
      `${POLICY_HEAD}spec:\n${levels.map((line) => `  x-${line}`).join('\n')}\n  tags: *lol9\n`,
      // Not exponential, only many: 500 aliases of one string, over the 100 a document may expand.
      `${POLICY_HEAD}spec:\n  message: &m hello\n  tags: [${Array.from({ length: 500 }, () => '*m').join(', ')}]\n`,
    ]) {
      const result = parsePolicies(text, 'bomb.yaml');
      // Refused where the document starts, before the schema sees anything.
      expect(refusal(text, result).issues).toEqual([{ path: '', message: 'refused: excessive alias count indicates a resource exhaustion attack', line: 1, column: 1 }]);
    }
    // In a stream, the bomb is its own document's refusal, placed where that document starts; the good one beside it parses.
    const good = `${POLICY_HEAD}spec:\n  selector: {matchLabels: {app: web}}\n  file: {matchPaths: [{path: /etc/shadow}]}\n`;
    const stream = `${good}---\n${levels.join('\n')}\n`;
    const result = parsePolicies(stream, 'stream.yaml');
    expect(result.policies.map((policy) => policy.name)).toEqual(['hostile']);
    expect(result.errors.map((error) => [error.source, error.issues])).toEqual([
      ['stream.yaml (document 2)', [{ path: '', message: 'refused: excessive alias count indicates a resource exhaustion attack', line: 9, column: 1 }]],
    ]);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses a document over the size limit without parsing it', () => {
    const text = `${POLICY_HEAD}spec:\n  message: "${'x'.repeat(DEFAULT_MAX_BYTES)}"\n`;
    const error = refusal(text, parsePolicies(text, 'huge.yaml'));
    expect(error.issues).toEqual([{ path: '', message: `expected at most ${DEFAULT_MAX_BYTES} bytes of YAML, got ${Buffer.byteLength(text)}`, line: 1, column: 1 }]);
    // The limit counts bytes, not characters: 0.4 MiB of a three-byte character is over 1 MiB.
    const wide = '\u20ac'.repeat(0.4 * 1024 * 1024);
    expect(refusal(wide, parsePolicies(wide, 'wide.yaml')).issues[0]!.message).toBe(`expected at most ${DEFAULT_MAX_BYTES} bytes of YAML, got ${3 * wide.length}`);
    expect(refusal('x: y\n', parsePolicies('x: y\n', 'small.yaml', { maxBytes: 4 })).issues[0]!.message).toMatch(/expected at most 4 bytes/u);
  });

  it('refuses a stream of too many documents', () => {
    const text = '---\na: 1\n'.repeat(11);
    expect(refusal(text, parsePolicies(text, 'many.yaml', { maxDocuments: 10 })).issues[0]!.message).toBe('expected at most 10 documents, got 11');
  });

  for (const [name, text] of [
    ['100,000 [', '['.repeat(100_000)],
    ['100,000 {a:', `${'{a: '.repeat(100_000)}1${'}'.repeat(100_000)}`],
    ['50,000 block sequences on one line', `${'- '.repeat(50_000)}x\n`],
    ['a policy whose spec nests 100,000 deep', `${POLICY_HEAD}spec:\n  tags: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`],
    ['a policy whose status nests 100,000 deep', `${POLICY_HEAD}status: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`],
  ] as const) {
    it(`refuses nesting without overflowing the stack: ${name}`, { timeout: 10_000 }, () => {
      const result = parsePolicies(text, 'deep.yaml');
      const error = refusal(text, result);
      expect(error.issues.length).toBeGreaterThan(0);
    });
  }
});
