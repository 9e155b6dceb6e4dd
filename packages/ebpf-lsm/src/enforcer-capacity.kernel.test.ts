import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import {
  checkOpens,
  makeCgroup as makeScopeCgroup,
  readAllDecisions,
  readDecisions,
  ruleMap,
  setRules as setScopeRules,
  setRulesBatch,
  type OpenCheck,
} from './__fixtures__/enforcer.js';
import { codecs, openObject, type LoadedObject, scopeEntryCodec, type PathRule } from './index.js';
import { MAX_SCOPES } from './layout.js';

/**
 * Kernel tier: the enforcer (src/bpf/enforcer.bpf.c) at its capacity in the
 * QEMU guest: every one of the MAX_SCOPES scopes is a real cgroup with its
 * own rule set, and one scope holds 16,384 rules. JavaScript is slow there
 * (TCG), so the processes of a sample of scopes are checked by one shell
 * that forks a subshell into each cgroup in turn (checkOpens), and the counters of
 * all scopes are read in one batch.
 */

const bigRuleCount = 16_384;
/** Scopes always checked: both ends and the middle; random ones are added. */
const fixedSample = [0, 1, 2047, 2048, MAX_SCOPES - 2, MAX_SCOPES - 1];
const randomSampleSize = 26;

let work: string;
let object: LoadedObject;
const cgroups: string[] = [];
/** cgroup path by scope index. */
const scopeCgroups: string[] = [];
let sample: number[];

const blocked = (scope: number) => join(work, `s${scope}`, 'blocked');
const privateFile = (scope: number) => join(work, `s${scope}`, 'private', 'notes');
/** Three rules per scope, distinct per scope: an exact open rule, a directory, an exec-only rule. */
const scopeRules = (scope: number): PathRule[] => [
  { path: blocked(scope) },
  { path: `${join(work, `s${scope}`, 'private')}/` },
  { path: join(work, `s${scope}`, 'tool'), operations: ['exec'] },
];

/** Milliseconds since `start`, for the timings the test logs. */
const since = (start: number) => Math.round(performance.now() - start);

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-enforcer-capacity-'));
  const objectPath = join(work, 'enforcer.bpf.o');
  compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
  object = openObject(objectPath).load();
  object.program('enforce_file_open').attach();
  object.program('enforce_bprm_check_security').attach();

  const picked = new Set(fixedSample);
  while (picked.size < fixedSample.length + randomSampleSize) picked.add(Math.floor(Math.random() * MAX_SCOPES));
  sample = [...picked].sort((left, right) => left - right);
  for (const scope of sample) {
    mkdirSync(join(work, `s${scope}`, 'private'), { recursive: true });
    writeFileSync(blocked(scope), `${scope}\n`);
    writeFileSync(privateFile(scope), `${scope}\n`);
  }
});

afterAll(() => {
  object?.close();
  for (const cgroup of cgroups) rmdirSync(cgroup);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

describe('the enforcer at capacity in the kernel guest', () => {
  it(`keeps ${MAX_SCOPES} scopes, each a cgroup with its own rules, apart`, () => {
    let start = performance.now();
    const ids: [bigint, number][] = [];
    for (let scope = 0; scope < MAX_SCOPES; scope++) {
      const cgroup = makeScopeCgroup('bulwark-capacity', String(scope), cgroups);
      scopeCgroups.push(cgroup.path);
      ids.push([cgroup.id, scope]);
    }
    const cgroupTime = since(start);
    start = performance.now();
    object.map('scopes').typed(codecs.u64, scopeEntryCodec).updateBatch(ids.map(([id, scope]) => [id, { scope, set: scope }] as const));
    // Batches into the outer map, which cost one RCU grace period per scope on 6.1 and one per batch on
    // newer kernels (see setRulesBatch); 512 at a time keeps the open inner-map fds well under the limit (4,096).
    for (let first = 0; first < MAX_SCOPES; first += 512) {
      const scopes = Array.from({ length: Math.min(512, MAX_SCOPES - first) }, (_, offset) => first + offset);
      setRulesBatch(
        object,
        scopes.map((scope) => [scope, ruleMap(`rules_${scope}`, scopeRules(scope))] as const),
      );
    }
    const rulesTime = since(start);

    // Each sampled scope opens its own blocked file and a file under its own
    // directory rule (denied), and the blocked file of the next sampled scope (allowed).
    start = performance.now();
    const checks: OpenCheck[] = sample.flatMap((scope, index) => {
      const other = sample[(index + 1) % sample.length]!;
      const cgroup = scopeCgroups[scope]!;
      return [
        { label: `${scope}:own`, cgroup, path: blocked(scope) },
        { label: `${scope}:own-private`, cgroup, path: privateFile(scope) },
        { label: `${scope}:other-${other}`, cgroup, path: blocked(other) },
      ];
    });
    const results = checkOpens(checks);
    const checkTime = since(start);
    const denied = expect.stringMatching(/Operation not permitted/);
    expect(results, `sample ${sample.join(', ')}`).toEqual(
      Object.fromEntries(checks.map(({ label }) => [label, label.includes(':other-') ? 'ok' : denied])),
    );

    // Only the sampled scopes denied anything, two opens each; nothing failed.
    const counts = readAllDecisions(object);
    expect(counts).toHaveLength(MAX_SCOPES);
    const deniedByScope = new Map(counts.flatMap((count, scope) => (count.denied === 0n ? [] : [[scope, count.denied] as const])));
    expect(deniedByScope).toEqual(new Map(sample.map((scope) => [scope, 2n])));
    expect(counts.filter((count) => count.failed !== 0n)).toEqual([]);
    console.log(
      `capacity: ${MAX_SCOPES} cgroups made in ${cgroupTime} ms; scopes and ${MAX_SCOPES} rule sets loaded in ${rulesTime} ms; ` +
        `${checks.length} opens in ${sample.length} scopes checked in ${checkTime} ms`,
    );
  });

  it(`applies a rule set of ${bigRuleCount.toLocaleString('en-US')} rules in one scope, up to its last rule`, () => {
    const scope = 2047;
    const cgroup = scopeCgroups[scope];
    expect(cgroup, 'the previous test made the cgroups').toBeDefined();
    const big = join(work, 'big');
    mkdirSync(big);
    const rule = (index: number) => join(big, `rule-${index}`);
    for (const path of [rule(0), rule(bigRuleCount - 1), join(big, 'unlisted')]) writeFileSync(path, 'x\n');
    const rules: PathRule[] = Array.from({ length: bigRuleCount }, (_, index) => ({ path: rule(index) }));

    const start = performance.now();
    setScopeRules(object, scope, ruleMap('rules_big', rules));
    const loadTime = since(start);
    const before = readDecisions(object, scope);
    expect(
      checkOpens([
        { label: 'last-rule', cgroup: cgroup!, path: rule(bigRuleCount - 1) },
        { label: 'first-rule', cgroup: cgroup!, path: rule(0) },
        { label: 'unlisted', cgroup: cgroup!, path: join(big, 'unlisted') },
        // The new rule set replaced the scope's three rules.
        { label: 'old-rule', cgroup: cgroup!, path: blocked(scope) },
      ]),
    ).toEqual({ 'last-rule': expect.stringMatching(/Operation not permitted/), 'first-rule': expect.stringMatching(/Operation not permitted/), unlisted: 'ok', 'old-rule': 'ok' });
    const after = readDecisions(object, scope);
    expect(after.denied - before.denied).toBe(2n);
    expect(after.failed).toBe(0n);
    console.log(`capacity: ${bigRuleCount} rules encoded, loaded and swapped into scope ${scope} in ${loadTime} ms`);
  });
});
