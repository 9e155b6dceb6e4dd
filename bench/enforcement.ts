/**
 * The agent's enforcement step, natively on this host (where BPF maps work
 * but LSM programs cannot load): the agent's own Enforcement module over
 * real kernel maps built like the enforcer's (`scopes`, a hash of cgroup id
 * -> scope index, and `rules`, an array_of_maps of LPM tries).
 *   1. what a container.create adds to the hook's round trip: its workload,
 *      its policies compiled (1,000 rules in all, over 5 policies), encoded,
 *      written into a new inner map, swapped in, its cgroup put in scope;
 *      p50 and p99 over the containers (target p99 at most 5 ms);
 *   2. a policy change applied to 100 running containers: each recompiled
 *      and its set swapped (target at most 200 ms), median of the rounds.
 * The hook's round trip without enforcement is bench/hook.ts's.
 *
 * Usage: node bench/enforcement.ts [--containers N] [--rounds N]   (build first; root)
 */
import { parseArgs } from 'node:util';
import { codecs, createMap, createRuleMap, type BpfMap } from '@bulwark/ebpf-lsm';
import { encodeRules, RULE_KEY_SIZE, RULE_VALUE_SIZE, type Postures, type Rule } from '@bulwark/ebpf-lsm/rules';
import type { ContainerReport } from '@bulwark/hook-client';
import { parsePolicies, type Policy } from '@bulwark/policy';
import { Enforcement, type ScopeKernel } from '../apps/agent/src/enforcement.ts';

const { values } = parseArgs({ options: { containers: { type: 'string', default: '300' }, rounds: { type: 'string', default: '10' } } });
const containerCount = Number(values.containers);
const rounds = Number(values.rounds);

const template = createMap({ type: 'lpm_trie', flags: 1, keySize: RULE_KEY_SIZE, valueSize: RULE_VALUE_SIZE, maxEntries: 1, name: 'bench_template' });
const rulesMap = createMap({ type: 'array_of_maps', keySize: 4, valueSize: 4, maxEntries: 4096, name: 'bench_rules', innerMap: template });
const scopesMap: BpfMap = createMap({ type: 'hash', keySize: 8, valueSize: 4, maxEntries: 4096, name: 'bench_scopes' });
const scopes = scopesMap.typed(codecs.u64, codecs.u32);

/** The enforcer's scope and rule-set writes, on the maps above (what Enforcer.setScope/setRules/clearRules do). */
const kernel: ScopeKernel = {
  setScope: (cgroupId, index) => scopes.update(cgroupId, index),
  removeScope: (cgroupId) => scopes.delete(cgroupId),
  setRules(index: number, rules: readonly Rule[], postures: Postures) {
    const entries = encodeRules(rules, { postures });
    const inner = createRuleMap(entries);
    try {
      rulesMap.updateInnerMap(codecs.u32.encode(index), inner);
    } finally {
      inner.close();
    }
    return entries.length;
  },
  clearRules: (index) => rulesMap.delete(codecs.u32.encode(index)),
  scopes: () => [...scopes.entries()],
  // No host policies in this benchmark.
  setHostScope: () => undefined,
  hostScope: () => undefined,
};

function policiesWith(tag: string): Policy[] {
  // 5 policies of 200 rules each select every container: 1,000 rules in all.
  return Array.from({ length: 5 }, (_, policy) => {
    const paths = Array.from({ length: 150 }, (_, index) => `    - path: /srv/${tag}/p${policy}/file-${index}`).join('\n');
    const directories = Array.from({ length: 40 }, (_, index) => `    - dir: /srv/${tag}/p${policy}/dir-${index}/\n      recursive: true`).join('\n');
    const execs = Array.from({ length: 10 }, (_, index) => `    - path: /opt/${tag}/tool-${policy}-${index}`).join('\n');
    const text = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: ${tag}-${policy}
spec:
  selector:
    matchLabels:
      team: bench
  file:
    matchPaths:
${paths}
    matchDirectories:
${directories}
  process:
    matchPaths:
${execs}
  action: Block
`;
    const result = parsePolicies(text, `${tag}-${policy}.yaml`);
    if (result.errors.length > 0) throw new Error(result.errors[0]!.message);
    return result.policies[0]!;
  });
}

const report = (index: number): ContainerReport => ({
  id: `bench-${index}`,
  stage: 'createRuntime',
  status: 'creating',
  bundle: `/bundles/${index}`,
  names: { runtime: 'unknown' },
  annotations: { team: 'bench', app: `app-${index}` },
  cgroup: { path: `/bench-${index}`, id: String(1_000_000 + index) },
});

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const percentile = (samples: number[], p: number) => [...samples].sort((a, b) => a - b)[Math.min(samples.length - 1, Math.floor((samples.length * p) / 100))]!;

const enforcement = new Enforcement({ mode: 'required', kernel, log: quiet });
enforcement.setPolicies(policiesWith('a'));
// Warm-up: a few creates and stops.
for (let index = 0; index < 20; index++) enforcement.containerCreated(report(100_000 + index));
for (let index = 0; index < 20; index++) enforcement.containerStopped(`bench-${100_000 + index}`);

const createTimes: number[] = [];
let rules = 0;
for (let index = 0; index < containerCount; index++) {
  const started = process.hrtime.bigint();
  const result = enforcement.containerCreated(report(index));
  createTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
  rules = result.rules;
}
process.stdout.write(
  `container.create enforcement step (${rules} rules from 5 policies; compile, encode, inner map, swap, scope), ${containerCount} containers: ` +
    `p50 ${percentile(createTimes, 50).toFixed(2)} ms, p99 ${percentile(createTimes, 99).toFixed(2)} ms, max ${Math.max(...createTimes).toFixed(2)} ms; target p99 at most 5 ms: ${percentile(createTimes, 99) <= 5 ? 'met' : 'not met'}\n`,
);
for (let index = 100; index < containerCount; index++) enforcement.containerStopped(`bench-${index}`);

const changeTimes: number[] = [];
const sets = [policiesWith('b'), policiesWith('a')];
for (let round = 0; round < rounds + 1; round++) {
  const started = process.hrtime.bigint();
  const applied = enforcement.setPolicies(sets[round % 2]!);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (applied.containers !== 100 || applied.failed !== 0) throw new Error(`policy change: ${JSON.stringify(applied)}`);
  if (round > 0) changeTimes.push(elapsed);
}
process.stdout.write(
  `policy change applied to 100 running containers (1,000 rules each): median ${percentile(changeTimes, 50).toFixed(1)} ms (min ${Math.min(...changeTimes).toFixed(1)}, max ${Math.max(...changeTimes).toFixed(1)}, ${rounds} rounds); target at most 200 ms: ${percentile(changeTimes, 50) <= 200 ? 'met' : 'not met'}\n`,
);
for (let index = 0; index < 100; index++) enforcement.containerStopped(`bench-${index}`);
for (const map of [scopesMap, rulesMap, template]) map.close();
