/**
 * The 280 KubeArmor policy files of ../shared/corpus/kubearmor-policies:
 * each parses, or is refused with the one message (file:line:column) that
 * says what is really wrong with it. The counts are the README's.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describeIssue } from '@bulwark/errors';
import { describe, expect, it } from 'vitest';
import { corpusPath } from './__fixtures__/corpus.js';
import { encodeRules } from '@bulwark/ebpf-lsm/rules';
import { compileSelected, encodeCompiled, enforcerPostures } from './compile.js';
import { parsePolicies, type Policy } from './parse.js';
import { hostWorkload } from './select.js';

const root = corpusPath('kubearmor-policies');

function walk(directory: string): string[] {
  return readdirSync(directory)
    .sort()
    .flatMap((name) => {
      const path = join(directory, name);
      return statSync(path).isDirectory() ? walk(path) : name.endsWith('.yaml') ? [path] : [];
    });
}

/**
 * Every refusal, as `file:line:column: field: message`. Each is a real fault of the file, checked by hand.
 * (pkg/KubeArmorController/config/samples/security_v1_kubearmorhostpolicy.yaml, a host policy with `spec:` and
 * nothing in it, parses: the API server prunes the null spec, and the CRD requires nodeSelector only inside a spec.)
 */
const REFUSED = [
  // "Version:" for "apiVersion:" (a typo in KubeArmor's use-case examples).
  'getting-started/use-cases/res/disc-tools.yaml:1:1: apiVersion: missing required field (expected \'security.kubearmor.com/v1\')',
  'getting-started/use-cases/res/disc-tools.yaml:1:1: Version: unknown field',
  // The host CRD requires fromSource for network rules.
  'tests/nonk8s_env/host_policy/res/hsp-audit-network-protocol.yaml:23:9: spec.network.matchProtocols.0.fromSource: missing required field (expected array)',
  // `dir: /bin` has no trailing '/'.
  "tests/nonk8s_env/host_policy/res/hsp-block-process-dir-bin.yaml:20:14: spec.process.matchDirectories.0.dir: expected an absolute directory ending in '/' (the CRD's pattern ^/$|^/.*/$)",
];

const files = walk(root);
const results = files.map((file) => ({ file: relative(root, file), ...parsePolicies(readFileSync(file, 'utf8'), relative(root, file)) }));
const policies: Policy[] = results.flatMap((result) => result.policies);

describe('the KubeArmor policy corpus', () => {
  it('has 280 files', () => {
    expect(files).toHaveLength(280);
  });

  it('parses every file but three, and refuses those three with the right message', () => {
    const refused = results.flatMap((result) => result.errors.flatMap((error) => error.issues.map((issue) => describeIssue(error.source, issue))));
    expect(refused).toEqual(REFUSED);
    expect(results.filter((result) => result.errors.length > 0)).toHaveLength(3);
    expect(policies).toHaveLength(278); // 277 files, one of them with two documents
  });

  it('counts the kinds as the README does', () => {
    const kinds: Record<string, number> = {};
    for (const policy of policies) kinds[policy.kind] = (kinds[policy.kind] ?? 0) + 1;
    expect(kinds).toEqual({ KubeArmorPolicy: 209, KubeArmorHostPolicy: 40, KubeArmorClusterPolicy: 29 });
  });

  it('compiles every parsed policy, and names what it does not enforce', () => {
    const notEnforced: Record<string, number> = {};
    let rules = 0;
    for (const policy of policies) {
      const workload = policy.kind === 'KubeArmorHostPolicy' ? hostWorkload('node') : { kind: 'container' as const, labels: {} };
      // Compiled alone, as if selected: a policy's rules do not depend on the workload once it is selected.
      const compiled = compileSelected([policy], workload);
      rules += compiled.rules.length;
      for (const entry of compiled.rules) expect(entry.origin.policy).toBe(policy.name);
      for (const item of compiled.notEnforced) {
        const field = item.field.replace(/\.\d+(\.|$)/gu, '.*$1');
        notEnforced[field] = (notEnforced[field] ?? 0) + 1;
      }
    }
    expect(rules).toBeGreaterThan(0);
    expect(notEnforced).toMatchInlineSnapshot(`
      {
        "apparmor": 3,
        "file.matchPaths.*.pts": 1,
        "network.matchDNSQueries": 1,
        "presets.*": 2,
        "process.matchPaths.*.allowedArgs": 1,
        "process.matchPaths.*.pts": 1,
        "syscalls": 18,
      }
    `);
  });
});

describe('the corpus encoded by parts', () => {
  it('encodes every window of 6 corpus policies by their cached parts byte for byte as the whole set, twice', () => {
    const hex = (entries: readonly { key: Uint8Array; value: Uint8Array }[]) => entries.map(({ key, value }) => `${Buffer.from(key).toString('hex')}=${Buffer.from(value).toString('hex')}`);
    const containers = policies.filter((policy) => policy.kind !== 'KubeArmorHostPolicy');
    let compared = 0;
    for (let first = 0; first + 6 <= containers.length; first += 3) {
      const selected = containers.slice(first, first + 6);
      for (let pass = 0; pass < 2; pass++) {
        const compiled = compileSelected(selected, { kind: 'container', labels: {} }, pass === 0 ? {} : { postures: { file: 'audit' } });
        const rules = compiled.rules.map((entry) => entry.rule);
        let whole: string[] | string;
        try {
          whole = hex(encodeRules(rules, { postures: enforcerPostures(compiled) }));
        } catch (error) {
          whole = (error as Error).message;
        }
        let byParts: string[] | string;
        try {
          byParts = hex(encodeCompiled(compiled));
        } catch (error) {
          byParts = (error as Error).message;
        }
        expect(byParts).toEqual(whole);
        if ((compiled.parts?.length ?? 0) > 1) compared++;
      }
    }
    // Sets of more than one part each: the merge, not a single part, was compared.
    expect(compared).toBeGreaterThan(100);
  });
});
