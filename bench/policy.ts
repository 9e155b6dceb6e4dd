/**
 * @bulwark/policy benchmarks, on the built package (pure: no root needed):
 *   1. parse + validate KubeArmor's 280-file policy corpus
 *      (../shared/corpus/kubearmor-policies; the texts are read once first);
 *   2. compile + encode one container's set of 10,000 rules (20 policies of
 *      500 rules: files, directories, patterns, execs, fromSource, sockets,
 *      capabilities), target at most 100 ms, median of the rounds;
 *   3. select + compile + encode for 1,000 containers, each selected by 5
 *      of 1,000 policies (20 rules each).
 * Every figure is the median of the rounds after one warm-up round.
 *
 * Usage: node bench/policy.ts [--rounds N] [--corpus DIR]   (build first)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compilePolicies, encodeCompiled, parsePolicies, type Policy, type Workload } from '@bulwark/policy';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    corpus: { type: 'string', default: fileURLToPath(new URL('../../shared/corpus/kubearmor-policies', import.meta.url)) },
  },
});
const rounds = Number(values.rounds);

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function measure(name: string, run: () => void, detail = ''): number {
  run();
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = process.hrtime.bigint();
    run();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const value = median(samples);
  const sorted = [...samples].sort((a, b) => a - b);
  process.stdout.write(`${name}: median ${value.toFixed(1)} ms (min ${sorted[0]!.toFixed(1)}, max ${sorted.at(-1)!.toFixed(1)}, ${rounds} rounds)${detail}\n`);
  return value;
}

function walk(directory: string): string[] {
  return readdirSync(directory)
    .sort()
    .flatMap((name) => {
      const path = join(directory, name);
      return statSync(path).isDirectory() ? walk(path) : name.endsWith('.yaml') ? [path] : [];
    });
}

// 1. The corpus.
const texts = walk(values.corpus).map((file) => ({ file, text: readFileSync(file, 'utf8') }));
let parsed = 0;
measure(
  `parse + validate the corpus (${texts.length} files)`,
  () => {
    parsed = 0;
    for (const { file, text } of texts) parsed += parsePolicies(text, file).policies.length;
  },
);
process.stdout.write(`  ${parsed} policies parsed\n`);

// 2. 10,000 rules for one container.
function policyText(name: string, selector: string, rules: number, seed: number): string {
  const files: string[] = [];
  const directories: string[] = [];
  const patterns: string[] = [];
  const execs: string[] = [];
  for (let index = 0; index < rules; index++) {
    const n = seed * 100_000 + index;
    switch (index % 10) {
      case 0:
      case 1:
      case 2:
      case 3:
        files.push(`    - path: /srv/data${n % 97}/file-${n}.txt${index % 3 === 0 ? '\n      readOnly: true' : ''}`);
        break;
      case 4:
      case 5:
        directories.push(`    - dir: /srv/tree${n % 89}/d${n}/\n      recursive: ${index % 4 === 0}${index % 5 === 0 ? '\n      ownerOnly: true' : ''}`);
        break;
      case 6:
        // The enforcer holds 32 patterns per source: most of these repeat.
        patterns.push(`    - pattern: /srv/glob${n % 4}/*.conf${index % 7}`);
        break;
      case 7:
        execs.push(`    - path: /opt/tools${n % 53}/tool-${n}${index % 9 === 0 ? '\n      fromSource:\n      - path: /bin/sh' : ''}`);
        break;
      default:
        files.push(`    - path: /etc/app${n % 31}/conf-${n}\n      fromSource:\n      - path: /usr/bin/app${n % 5}`);
    }
  }
  return `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: ${name}
spec:
  severity: ${(seed % 10) + 1}
  selector:
    matchLabels:
      ${selector}
  file:
    matchPaths:
${files.join('\n')}
    matchDirectories:
${directories.join('\n')}
    matchPatterns:
${patterns.join('\n')}
  process:
    matchPaths:
${execs.join('\n')}
  network:
    matchProtocols:
    - protocol: tcp,udp
  capabilities:
    matchCapabilities:
    - capability: net_raw
  action: ${['Block', 'Audit', 'Block', 'Allow'][seed % 4]}
`;
}

const parse = (text: string, source: string): Policy[] => {
  const result = parsePolicies(text, source);
  if (result.errors.length > 0) throw new Error(result.errors[0]!.message);
  return result.policies;
};
const big = Array.from({ length: 20 }, (_, index) => parse(policyText(`big-${index}`, 'app: big', 498, index), `big-${index}.yaml`)).flat();
const bigWorkload: Workload = { kind: 'container', name: 'big', labels: { app: 'big' } };
let ruleCount = 0;
let entryCount = 0;
const compileTime = measure('compile + encode 10,000 rules for one container', () => {
  const compiled = compilePolicies(big, bigWorkload);
  ruleCount = compiled.rules.length;
  entryCount = encodeCompiled(compiled).length;
});
process.stdout.write(`  ${ruleCount} enforcer rules from ${big.length} policies, ${entryCount} map entries; target at most 100 ms: ${compileTime <= 100 ? 'met' : 'not met'}\n`);
measure('  of which compile (select + compile, no encode)', () => {
  compilePolicies(big, bigWorkload);
});

// 3. 1,000 containers, 5 policies each.
const teams = 200;
const many = Array.from({ length: 1000 }, (_, index) => parse(policyText(`team-${index % teams}-p${Math.floor(index / teams)}`, `team: t${index % teams}`, 18, index), `many-${index}.yaml`)).flat();
const containers: Workload[] = Array.from({ length: 1000 }, (_, index) => ({ kind: 'container', name: `c${index}`, labels: { team: `t${index % teams}`, app: `a${index}` } }));
let selectedTotal = 0;
const fleet = measure('select + compile + encode for 1,000 containers (5 of 1,000 policies each)', () => {
  selectedTotal = 0;
  for (const workload of containers) {
    const compiled = compilePolicies(many, workload);
    selectedTotal += compiled.policies.length;
    encodeCompiled(compiled);
  }
});
process.stdout.write(`  ${selectedTotal / containers.length} policies per container; ${(fleet / containers.length).toFixed(2)} ms per container\n`);
