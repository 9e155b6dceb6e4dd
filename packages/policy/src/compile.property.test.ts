/**
 * Determinism (acceptance 5), over a few hundred random policy sets: each
 * set's policies, written as YAML files, compile to byte-identical enforcer
 * entries however often they are compiled, whichever order the files are
 * loaded in and whether they are separate files or the documents of one;
 * and every compiled rule's origin names one of the set's policies, at the
 * position of the rule it came from.
 *
 * Seeded: a failure names the seed and the set, and BULWARK_TEST_SEED=<seed>
 * brings the same sets back.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RuleEntry } from '@bulwark/ebpf-lsm/rules';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseSeed, createRandom, testSeed, type Random } from './__fixtures__/random.js';
import { compilePolicies, encodeCompiled, type CompiledPolicySet, type CompileOptions, type PostureSetting } from './compile.js';
import { loadPolicies } from './load.js';
import { parsePolicies, type Policy } from './parse.js';
import { hostWorkload, type Workload } from './select.js';

const SEED = testSeed(0x0d37_e41a);
const SETS = 300;
/** Every this many sets, the files are also written to disk and read back with loadPolicies. */
const LOAD_EVERY = 10;

const web: Workload = { kind: 'container', name: 'web-1', namespace: 'shop', labels: { app: 'web', tier: 'front' } };
const host: Workload = hostWorkload('node-1', { role: 'worker' });

// ---------------------------------------------------------------------------
// The generator: valid policies only, every one selecting `web` or `host`.

const EXECUTABLES = ['/bin/sh', '/bin/bash', '/usr/bin/curl', '/usr/bin/apt', '/usr/sbin/nginx', '/usr/local/bin/app', '/bin/cat', '/usr/bin/python3'];
const FILES = ['/etc/passwd', '/etc/shadow', '/etc/hosts', '/root/.ssh/id_rsa', '/var/run/secrets/token', '/home/user1/secret.txt', '/etc/nginx/nginx.conf'];
const DIRECTORIES = ['/', '/etc/', '/etc/ssl/', '/home/', '/home/user1/', '/var/log/', '/tmp/', '/usr/bin/', '/root/.ssh/', '/proc/sys/'];
const GLOBS = ['/etc/*.conf', '/home/**/key?', '/var/log/*.log', '/tmp/**', '/**/id_rsa', '/usr/*/bin/?ash', '/root/*_history', '/home/*/.ssh/*', '/etc/**/*.pem'];
const EXECNAMES = ['sh', 'bash', 'nc', 'curl', 'wget', 'python3'];
const PROTOCOLS = ['tcp', 'UDP', 'icmp', 'icmpv6', 'raw', 'sctp', 'stream', 'dgram', 'packet', 'all', 'tcp,udp', 'TCP, icmp'];
const CAPABILITIES = ['net_raw', 'CAP_NET_RAW', 'sys_admin', 'cap_sys_ptrace', 'chown', 'dac_override', 'setuid', 'NET_ADMIN', 'net_bind_service, cap_kill'];
const ACTION_SPELLINGS = ['Allow', 'Audit', 'Block', 'allow', 'AUDIT', 'block'];
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];

type Kind = 'KubeArmorPolicy' | 'KubeArmorClusterPolicy' | 'KubeArmorHostPolicy';

interface PolicyFile {
  readonly name: string;
  readonly kind: Kind;
  /** The file's name, as loadPolicies would see it. */
  readonly file: string;
  readonly text: string;
}

interface PolicySet {
  readonly index: number;
  readonly files: readonly PolicyFile[];
  readonly options: CompileOptions;
}

/** Optional fields, each present about half the time. */
function some(random: Random, fields: Record<string, () => unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const key of random.shuffle(Object.keys(fields))) if (random.chance(0.4)) result[key] = fields[key]!();
  return result;
}

function generatePolicy(random: Random, kind: Kind, name: string): Record<string, unknown> {
  const host = kind === 'KubeArmorHostPolicy';
  const action = () => random.pick(ACTION_SPELLINGS);
  const common = () =>
    some(random, {
      action,
      severity: () => random.between(1, 10),
      tags: () => random.shuffle(WORDS).slice(0, random.between(0, 3)),
      message: () => `${random.pick(WORDS)} ${random.pick(WORDS)}`,
    });
  const sources = (required = false) =>
    required || random.chance(0.3) ? { fromSource: random.shuffle(EXECUTABLES).slice(0, random.between(1, 2)).map((path) => ({ path })) } : {};
  const list = <T>(make: () => T, most = 3) => Array.from({ length: random.between(1, most) }, make);
  const spec: Record<string, unknown> = {};

  if (kind === 'KubeArmorPolicy') {
    spec.selector = random.pick([
      () => ({ matchLabels: { app: 'web' } }),
      () => ({ matchLabels: { app: 'web', tier: 'front' } }),
      () => ({ matchLabels: { 'kubearmor.io/container.name': random.pick(['web-[0-9]+', '[db, web-1]', 'web-.*', '.*']) } }),
      () => ({ matchExpressions: [{ key: 'label', operator: 'In', values: ['app=web', 'app=db'] }] }),
      () => ({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'label', operator: 'NotIn', values: ['tier=back'] }] }),
    ])();
  } else if (kind === 'KubeArmorClusterPolicy') {
    spec.selector = random.pick([
      () => ({ matchExpressions: [{ key: 'namespace', operator: 'In', values: ['shop'] }] }),
      () => ({ matchExpressions: [{ key: 'namespace', operator: 'NotIn', values: ['kube-system'] }, { key: 'label', operator: 'In', values: ['tier=front'] }] }),
    ])();
  } else {
    spec.nodeSelector = { matchLabels: random.pick([{ 'kubernetes.io/hostname': 'node-1' }, { role: 'worker' }]) };
  }
  Object.assign(spec, common());

  const sections = random.shuffle(['process', 'file', 'network', 'capabilities'] as const).slice(0, random.between(1, 4));
  for (const section of sections) {
    const body: Record<string, unknown> = { ...(random.chance(0.3) ? common() : {}) };
    if (section === 'process') {
      const kinds = random.shuffle(['matchPaths', 'matchDirectories', 'matchPatterns'] as const).slice(0, random.between(1, 3));
      for (const key of kinds) {
        body[key] = list(() => {
          const own = { ...common(), ...(random.chance(0.3) ? { ownerOnly: random.chance(0.5) } : {}) };
          if (key === 'matchPaths') return random.chance(0.8) ? { path: random.pick(EXECUTABLES), ...own, ...sources() } : { execname: random.pick(EXECNAMES), ...own, ...sources() };
          if (key === 'matchDirectories') return { dir: random.pick(DIRECTORIES), ...(random.chance(0.5) ? { recursive: random.chance(0.5) } : {}), ...own, ...sources() };
          // A process pattern takes no fromSource (the CRD has none); '/usr/bin/env' is a pattern without wildcards, an exact path.
          return { pattern: random.pick([...GLOBS, '/usr/bin/env']), ...own };
        });
      }
    } else if (section === 'file') {
      const kinds = random.shuffle(['matchPaths', 'matchDirectories', 'matchPatterns'] as const).slice(0, random.between(1, 3));
      for (const key of kinds) {
        body[key] = list(() => {
          const own = {
            ...common(),
            ...(random.chance(0.4) ? { readOnly: random.chance(0.6) } : {}),
            ...(random.chance(0.4) ? { ownerOnly: random.chance(0.6) } : {}),
          };
          if (key === 'matchPaths') return { path: random.pick(FILES), ...own, ...sources() };
          if (key === 'matchDirectories') return { dir: random.pick(DIRECTORIES), ...(random.chance(0.5) ? { recursive: random.chance(0.5) } : {}), ...own, ...sources() };
          return { pattern: random.pick(GLOBS), ...own };
        });
      }
    } else if (section === 'network') {
      body.matchProtocols = list(() => ({ protocol: random.pick(PROTOCOLS), ...common(), ...sources(host) }), 2);
    } else {
      body.matchCapabilities = list(() => ({ capability: random.pick(CAPABILITIES), ...common(), ...sources(host) }), 2);
    }
    spec[section] = body;
  }
  const metadata = kind === 'KubeArmorPolicy' && random.chance(0.7) ? { name, namespace: 'shop' } : { name };
  return { apiVersion: 'security.kubearmor.com/v1', kind, metadata, spec };
}

function generateSet(index: number): PolicySet {
  const random = createRandom(caseSeed(SEED, index));
  const names = new Set<string>();
  const files: PolicyFile[] = [];
  const count = random.between(1, 6);
  for (let number = 0; number < count; number++) {
    let name: string;
    do name = `${random.pick(WORDS)}-${random.below(100)}`;
    while (names.has(name));
    names.add(name);
    const kind = random.pick(['KubeArmorPolicy', 'KubeArmorPolicy', 'KubeArmorPolicy', 'KubeArmorClusterPolicy', 'KubeArmorHostPolicy'] as const);
    const document = generatePolicy(random, kind, name);
    const text = stringify(document, { collectionStyle: random.pick(['any', 'block', 'flow'] as const), indent: random.pick([2, 4]), lineWidth: 0 });
    files.push({ name, kind, file: `${String(number).padStart(2, '0')}-${name}.yaml`, text });
  }
  const posture = (): PostureSetting => random.pick(['allow', 'audit', 'block'] as const);
  const options: CompileOptions = random.chance(0.5) ? {} : { postures: { file: posture(), network: posture(), capabilities: posture() } };
  return { index, files, options };
}

// ---------------------------------------------------------------------------
// Checks.

function parseFiles(files: readonly PolicyFile[]): Policy[] {
  return files.flatMap((file) => {
    const result = parsePolicies(file.text, file.file);
    if (result.errors.length > 0) throw new Error(`generated policy refused: ${result.errors.map((error) => error.message).join('; ')}\n${file.text}`);
    return result.policies;
  });
}

/** The multi-document variant: every file's document in one stream, in the order given. */
function parseStream(files: readonly PolicyFile[]): Policy[] {
  const result = parsePolicies(files.map((file) => file.text).join('---\n'), 'all.yaml');
  if (result.errors.length > 0) throw new Error(`generated stream refused: ${result.errors.map((error) => error.message).join('; ')}`);
  return result.policies;
}

/** The first difference between two entry lists, or undefined when they are byte for byte the same. */
function findDifference(expected: readonly RuleEntry[], actual: readonly RuleEntry[]): string | undefined {
  if (expected.length !== actual.length) return `${actual.length} entries, expected ${expected.length}`;
  for (let index = 0; index < expected.length; index++) {
    const a = expected[index]!;
    const b = actual[index]!;
    if (!a.key.equals(b.key)) return `entry ${index}: key ${b.key.toString('hex')}, expected ${a.key.toString('hex')}`;
    if (!a.value.equals(b.value)) return `entry ${index} (key ${a.key.toString('hex').slice(0, 24)}...): value ${b.value.toString('hex')}, expected ${a.value.toString('hex')}`;
  }
  return undefined;
}

/** What is wrong with the origins of a compiled set, or undefined. */
function findOriginProblem(compiled: CompiledPolicySet, policies: readonly Policy[], files: readonly PolicyFile[]): string | undefined {
  for (const [index, { rule, origin }] of compiled.rules.entries()) {
    if (rule.id !== index + 1) return `rule ${index} has id ${rule.id}`;
    const policy = policies.find((candidate) => candidate.name === origin.policy && candidate.kind === origin.kind && candidate.source === origin.source);
    if (policy === undefined) return `rule ${index} names ${origin.kind} ${origin.policy} in ${origin.source}, not one of the set's policies`;
    const file = files.find((candidate) => candidate.name === policy.name)!;
    const lines = file.text.split('\n').length;
    if (!Number.isInteger(origin.line) || !Number.isInteger(origin.column) || origin.line < 1 || origin.column < 1 || origin.line > lines) {
      return `rule ${index} of ${origin.policy} is at ${origin.line}:${origin.column}, outside its ${lines}-line file`;
    }
    const position = policy.positions.get(`spec.${origin.field}`);
    if (position === undefined || position.line !== origin.line || position.column !== origin.column) {
      return `rule ${index} of ${origin.policy} (${origin.field}) is at ${origin.line}:${origin.column}, its field at ${JSON.stringify(position)}`;
    }
  }
  return undefined;
}

interface Outcome {
  readonly entries: RuleEntry[];
  readonly compiled: CompiledPolicySet;
}

function compileFor(policies: readonly Policy[], workload: Workload, options: CompileOptions): Outcome {
  const compiled = compilePolicies(policies, workload, options);
  return { compiled, entries: encodeCompiled(compiled) };
}

/** The rules without where they were written: what must not depend on file names or load order. */
const ruleModel = (compiled: CompiledPolicySet) => compiled.rules.map((entry) => ({ rule: entry.rule, policy: entry.origin.policy, field: entry.origin.field, note: entry.note }));

let directory = '';
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bulwark-compile-property-'));
});
afterAll(async () => {
  if (directory !== '') await rm(directory, { recursive: true, force: true });
});

describe(`compilePolicies on ${SETS} random policy sets (seed ${SEED})`, () => {
  it('gives the same bytes every time, in every load order, with every rule traced to its policy', async () => {
    const problems: string[] = [];
    const counts = { sets: 0, policies: 0, rules: 0, entries: 0, orders: 0, loaded: 0 };
    for (let index = 0; index < SETS; index++) {
      const set = generateSet(index);
      const where = `seed ${SEED} set ${index} (${set.files.map((file) => file.file).join(', ')})`;
      const random = createRandom(caseSeed(SEED ^ 0x5a5a5a5a, index));
      counts.sets++;
      try {
        const policies = parseFiles(set.files);
        counts.policies += policies.length;
        // A file parses the same whatever was parsed before it (parsePolicies is pure), so loading files in another order
        // is their policies in that order; the stream is parsed afresh (other sources, other document indexes).
        const orders: (readonly [string, Policy[]])[] = [
          ['files shuffled', random.shuffle(policies)],
          ['files reversed', [...policies].reverse()],
          ['one stream, shuffled', parseStream(random.shuffle(set.files))],
        ];
        if (index % LOAD_EVERY === 0) {
          const paths: string[] = [];
          for (const file of set.files) {
            const path = join(directory, `${index}-${file.file}`);
            await writeFile(path, file.text);
            paths.push(path);
          }
          const loaded = await loadPolicies(random.shuffle(paths));
          if (loaded.errors.length > 0) throw new Error(`loadPolicies: ${loaded.errors.map((error) => error.message).join('; ')}`);
          orders.push(['loaded from disk, shuffled', loaded.policies]);
          counts.loaded++;
        }
        for (const workload of [web, host]) {
          const first = compileFor(policies, workload, set.options);
          const second = compileFor(policies, workload, set.options);
          counts.rules += first.compiled.rules.length;
          counts.entries += first.entries.length;
          const repeated = findDifference(first.entries, second.entries);
          if (repeated !== undefined) problems.push(`${where}, ${workload.kind}: compiled twice: ${repeated}`);
          const origin = findOriginProblem(first.compiled, policies, set.files);
          if (origin !== undefined) problems.push(`${where}, ${workload.kind}: ${origin}`);
          for (const [order, reordered] of orders) {
            counts.orders++;
            const other = compileFor(reordered, workload, set.options);
            const difference = findDifference(first.entries, other.entries);
            if (difference !== undefined) problems.push(`${where}, ${workload.kind}, ${order}: ${difference}`);
            else expect(ruleModel(other.compiled), `${where}, ${workload.kind}, ${order}`).toEqual(ruleModel(first.compiled));
          }
        }
      } catch (error) {
        problems.push(`${where}: threw ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
      if (problems.length >= 10) break;
    }
    expect(problems).toEqual([]);
    expect(counts.sets).toBeGreaterThanOrEqual(300);
    // The sets are not trivial: most compile to rules, and rules to entries.
    expect(counts.rules).toBeGreaterThan(counts.sets * 3);
    expect(counts.entries).toBeGreaterThan(counts.rules);
    expect(counts.loaded).toBeGreaterThanOrEqual(SETS / LOAD_EVERY);
  }, 30_000);

  it('generates the same set from the same seed, and valid policies of every kind', () => {
    expect(generateSet(3)).toEqual(generateSet(3));
    const kinds = new Set(Array.from({ length: 50 }, (_, index) => generateSet(index).files.map((file) => file.kind)).flat());
    expect([...kinds].sort()).toEqual(['KubeArmorClusterPolicy', 'KubeArmorHostPolicy', 'KubeArmorPolicy']);
  });
});
