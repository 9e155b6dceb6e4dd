/**
 * The agent's enforcement bookkeeping against a recording kernel: what it
 * writes and in which order, and its error paths (a kernel that refuses a
 * rule set, containers without a cgroup id). That the kernel then enforces
 * is the kernel tier's (enforcement.kernel.test.ts).
 */
import type { ContainerReport } from '@bulwark/hook-client';
import { parsePolicies, type Policy } from '@bulwark/policy';
import { describe, expect, it } from 'vitest';
import { kernelDevice, type ScopeEntry } from '@bulwark/ebpf-lsm/rules';
import { linkSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Enforcement, rootAliasesOfReport, ruleSetKey, type ScopeKernel } from './enforcement.js';
import { containerIdentities, identitiesUnder, type ContainerIdentities, type FileIdentity } from './identities.js';
import { createLogger } from './log.js';

const log = createLogger('json', () => undefined);

function policy(name: string, app: string, path: string, action = 'Block'): Policy {
  const text = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: ${name}
spec:
  selector:
    matchLabels:
      app: ${app}
  file:
    matchPaths:
    - path: ${path}
  action: ${action}
`;
  const { policies, errors } = parsePolicies(text, `${name}.yaml`);
  expect(errors).toEqual([]);
  return policies[0]!;
}

const report = (id: string, app: string, cgroupId?: number): ContainerReport => ({
  id,
  stage: 'createRuntime',
  status: 'creating',
  bundle: `/bundles/${id}`,
  names: { runtime: 'unknown' },
  annotations: { app },
  ...(cgroupId === undefined ? {} : { cgroup: { path: `/${id}`, id: String(cgroupId) } }),
});

class RecordingKernel implements ScopeKernel {
  readonly calls: string[] = [];
  readonly scopeMap = new Map<bigint, ScopeEntry>();
  readonly rules = new Map<number, number>();
  failSetRules = false;
  setScope(cgroupId: bigint, scope: number, set: number) {
    this.calls.push(`setScope ${cgroupId} ${scope} ${set}`);
    this.scopeMap.set(cgroupId, { scope, set });
  }
  removeScope(cgroupId: bigint) {
    this.calls.push(`removeScope ${cgroupId}`);
    return this.scopeMap.delete(cgroupId);
  }
  resetDecisions(scope: number) {
    this.calls.push(`resetDecisions ${scope}`);
  }
  setRules(set: number, rules: readonly unknown[]) {
    if (this.failSetRules) throw new Error('set rules: map update failed');
    this.calls.push(`setRules ${set} ${rules.length}`);
    this.rules.set(set, rules.length);
    return rules.length;
  }
  clearRules(set: number) {
    this.calls.push(`clearRules ${set}`);
    return this.rules.delete(set);
  }
  scopes(): [bigint, ScopeEntry][] {
    return [...this.scopeMap];
  }
  sets(): number[] {
    return [...this.rules.keys()];
  }
  host: ScopeEntry | undefined;
  setHostScope(scope: number | undefined, set?: number) {
    this.calls.push(scope === undefined ? 'setHostScope off' : `setHostScope ${scope} ${set}`);
    this.host = scope === undefined ? undefined : { scope, set: set ?? scope };
  }
  hostScope() {
    return this.host;
  }
}

function hostPolicy(name: string, labels: string, path: string): Policy {
  const text = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata:
  name: ${name}
spec:
  nodeSelector:
    matchLabels:
      ${labels}
  file:
    matchPaths:
    - path: ${path}
  action: Block
`;
  const { policies, errors } = parsePolicies(text, `${name}.yaml`);
  expect(errors).toEqual([]);
  return policies[0]!;
}

const enforcementOver = (kernel: ScopeKernel) => new Enforcement({ evasion: 'allow', mode: 'required', kernel, log, collect: 'manual' });

describe('enforcement', () => {
  it('puts the rules in before the scope, and only for containers policies select', () => {
    const kernel = new RecordingKernel();
    const enforcement = enforcementOver(kernel);
    enforcement.setPolicies([policy('db', 'mysql', '/var/lib/mysql/ibdata1')]);
    expect(enforcement.containerCreated(report('a', 'mysql', 100))).toMatchObject({ enforced: true, scope: 0, set: 0, shared: false, rules: 1, policies: ['KubeArmorPolicy/db'] });
    expect(enforcement.containerCreated(report('b', 'web', 101))).toMatchObject({ enforced: false, rules: 0 });
    expect(kernel.calls).toEqual(['setRules 0 1', 'resetDecisions 0', 'setScope 100 0 0']);
    expect(enforcement.scopeOfContainer('a')?.compiled.rules[0]?.origin.policy).toBe('db');
  });

  it('guards a container against evasion by default (chroot, mounts, handles); evasionPosture allow gives another set without it', () => {
    const kernel = new RecordingKernel();
    const guarded = new Enforcement({ mode: 'required', kernel, log, collect: 'manual' });
    guarded.setPolicies([policy('db', 'mysql', '/var/lib/mysql/ibdata1')]);
    expect(guarded.containerCreated(report('a', 'mysql', 100))).toMatchObject({ enforced: true, rules: 4 });
    const notes = guarded.scopeOfContainer('a')!.compiled.rules.map((entry) => [entry.rule.kind ?? 'path', entry.origin.policy, entry.note?.split(':')[0]]);
    expect(notes).toEqual([
      ['path', 'db', undefined],
      ['capability', 'db', 'evasion guard'],
      ['capability', 'db', 'evasion guard'],
      ['capability', 'db', 'evasion guard'],
    ]);
    const selected = [policy('db', 'mysql', '/a')];
    expect(ruleSetKey(selected, undefined, [], 'allow')).not.toBe(ruleSetKey(selected, undefined, []));
    expect(ruleSetKey(selected, undefined, [], 'block')).toBe(ruleSetKey(selected, undefined, []));
  });

  it('gives containers the same policies select one set: a second container is one scope update', () => {
    const kernel = new RecordingKernel();
    const enforcement = enforcementOver(kernel);
    enforcement.setPolicies([policy('db', 'mysql', '/a'), policy('web', 'web', '/b')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    kernel.calls.length = 0;
    expect(enforcement.containerCreated(report('b', 'mysql', 101))).toMatchObject({ enforced: true, scope: 1, set: 0, shared: true });
    expect(kernel.calls).toEqual(['resetDecisions 1', 'setScope 101 1 0']);
    // Another selection is another set; each scope keeps its own workload.
    expect(enforcement.containerCreated(report('c', 'web', 102))).toMatchObject({ scope: 2, set: 1, shared: false });
    expect(enforcement.scopeOfContainer('b')?.workload.labels.app).toBe('mysql');
    expect([...enforcement.ruleSets()].map((set) => [set.index, [...set.scopes]])).toEqual([
      [0, [0, 1]],
      [1, [2]],
    ]);
  });

  it('keys a set by the policies\' content, not the objects: the same text parsed again is the same set', () => {
    const first = policy('db', 'mysql', '/a');
    const again = policy('db', 'mysql', '/a');
    const changed = policy('db', 'mysql', '/b');
    expect(ruleSetKey([first], undefined)).toBe(ruleSetKey([again], undefined));
    expect(ruleSetKey([first], undefined)).not.toBe(ruleSetKey([changed], undefined));
    expect(ruleSetKey([first], undefined)).not.toBe(ruleSetKey([first], { file: 'audit' }));
  });

  it('swaps a shared set in place on a policy change: one write for all its containers, no scope moved', () => {
    const kernel = new RecordingKernel();
    const enforcement = enforcementOver(kernel);
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    for (let index = 0; index < 3; index++) enforcement.containerCreated(report(`c${index}`, 'mysql', 100 + index));
    kernel.calls.length = 0;
    expect(enforcement.setPolicies([policy('db', 'mysql', '/b')])).toEqual({ containers: 3, failed: 0 });
    expect(kernel.calls).toEqual(['setRules 0 1']);
    // Unchanged policies: nothing is written at all.
    kernel.calls.length = 0;
    enforcement.setPolicies([policy('db', 'mysql', '/b')]);
    expect(kernel.calls).toEqual([]);
  });

  it('splits a group on a policy change: the containers that move get a new set, written before their scopes move to it', () => {
    const kernel = new RecordingKernel();
    const enforcement = enforcementOver(kernel);
    const db = policy('db', 'mysql', '/a');
    enforcement.setPolicies([db]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    enforcement.containerCreated({ ...report('b', 'mysql', 101), annotations: { app: 'mysql', tier: 'gold' } });
    kernel.calls.length = 0;
    const gold = policy('gold', 'mysql', '/gold').spec;
    const goldOnly = { ...policy('gold', 'mysql', '/gold'), spec: { ...gold, selector: { matchLabels: { tier: 'gold' } } } };
    enforcement.setPolicies([db, goldOnly]);
    // a's set is unchanged (the same key); b moves to a new set.
    expect(kernel.calls).toEqual(['setRules 1 2', 'setScope 101 1 1']);
    expect(kernel.scopeMap.get(100n)).toEqual({ scope: 0, set: 0 });
    expect(enforcement.scopeOfContainer('b')).toMatchObject({ index: 1, set: 1 });
  });

  it('removes a set once the last scope that uses it is gone, and only then', () => {
    const kernel = new RecordingKernel();
    const enforcement = enforcementOver(kernel);
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    enforcement.containerCreated(report('b', 'mysql', 101));
    enforcement.containerStopped('a');
    expect(enforcement.collectSets()).toBe(0);
    expect(kernel.rules.get(0)).toBe(1);
    kernel.calls.length = 0;
    enforcement.containerStopped('b');
    expect(kernel.calls).toEqual(['removeScope 101']);
    expect(enforcement.collectSets()).toBe(1);
    expect(kernel.calls).toEqual(['removeScope 101', 'clearRules 0']);
    expect(kernel.rules.size).toBe(0);
  });

  it('uses a set waiting to be removed again when a container with its key comes first', () => {
    const kernel = new RecordingKernel();
    const enforcement = enforcementOver(kernel);
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    enforcement.containerStopped('a');
    kernel.calls.length = 0;
    expect(enforcement.containerCreated(report('b', 'mysql', 101))).toMatchObject({ set: 0, shared: true });
    expect(enforcement.collectSets()).toBe(0);
    expect(kernel.calls).toEqual(['resetDecisions 0', 'setScope 101 0 0']);
  });

  it('removes unused sets by itself after the current turn in deferred mode', async () => {
    const kernel = new RecordingKernel();
    const enforcement = new Enforcement({ evasion: 'allow', mode: 'required', kernel, log });
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    enforcement.containerStopped('a');
    expect(kernel.rules.size).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(kernel.rules.size).toBe(0);
  });

  it('swaps every affected container on a policy change, and frees a scope no policy needs', () => {
    const kernel = new RecordingKernel();
    const enforcement = enforcementOver(kernel);
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    enforcement.containerCreated(report('b', 'web', 101));
    kernel.calls.length = 0;
    expect(enforcement.setPolicies([policy('web', 'web', '/b')])).toEqual({ containers: 2, failed: 0 });
    // a loses its scope (out of scope first), b gains one; a's set is removed once collected.
    expect(kernel.calls).toEqual(['removeScope 100', 'setRules 1 1', 'resetDecisions 0', 'setScope 101 0 1']);
    enforcement.collectSets();
    expect(kernel.calls.at(-1)).toBe('clearRules 0');
  });

  it('refuses a container it cannot enforce, leaving no half state', () => {
    const kernel = new RecordingKernel();
    const enforcement = enforcementOver(kernel);
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    expect(() => enforcement.containerCreated(report('a', 'mysql'))).toThrow(/no cgroup id/u);
    kernel.failSetRules = true;
    expect(() => enforcement.containerCreated(report('b', 'mysql', 7))).toThrow('set rules: map update failed');
    expect(kernel.scopeMap.size).toBe(0);
    expect(enforcement.scopeCount).toBe(0);
    expect([...enforcement.ruleSets()]).toEqual([]);
    // The indexes were given back: the next container gets scope 0 and set 0.
    kernel.failSetRules = false;
    expect(enforcement.containerCreated(report('c', 'mysql', 8))).toMatchObject({ scope: 0, set: 0 });
  });

  it('keeps a container\'s old set when a policy change cannot be written for it', () => {
    const kernel = new RecordingKernel();
    const enforcement = enforcementOver(kernel);
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    kernel.failSetRules = true;
    expect(enforcement.setPolicies([policy('db', 'mysql', '/b')])).toEqual({ containers: 0, failed: 1 });
    expect(kernel.scopeMap.get(100n)).toEqual({ scope: 0, set: 0 });
    expect(kernel.rules.get(0)).toBe(1);
  });

  it('removes the scope of a stopped container, then its set', () => {
    const kernel = new RecordingKernel();
    const enforcement = enforcementOver(kernel);
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    expect(enforcement.containerStopped('a')).toBe(true);
    expect(kernel.scopeMap.size).toBe(0);
    enforcement.collectSets();
    expect(kernel.rules.size).toBe(0);
    expect(enforcement.containerStopped('a')).toBe(false);
  });

  it('after a takeover keeps each cgroup\'s scope and set, rewrites a set in place, and drops what is gone', () => {
    const kernel = new RecordingKernel();
    kernel.scopeMap.set(100n, { scope: 5, set: 2 });
    kernel.scopeMap.set(101n, { scope: 6, set: 2 });
    kernel.rules.set(2, 1);
    kernel.scopeMap.set(200n, { scope: 7, set: 3 });
    kernel.rules.set(3, 1);
    // A set no scope names (left by an agent that stopped before collecting it).
    kernel.rules.set(9, 1);
    const enforcement = enforcementOver(kernel);
    expect(enforcement.adoptKernelScopes()).toBe(3);
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    enforcement.reconcile([report('a', 'mysql', 100), report('b', 'mysql', 101)]);
    expect(kernel.calls).toEqual(['setRules 2 1', 'removeScope 200', 'clearRules 9', 'clearRules 3']);
    expect(enforcement.scopeOfContainer('a')).toMatchObject({ index: 5, set: 2 });
    expect(enforcement.scopeOfContainer('b')).toMatchObject({ index: 6, set: 2 });
  });

  it('in audit mode compiles and touches no kernel', () => {
    const enforcement = new Enforcement({ evasion: 'allow', mode: 'audit', log });
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    expect(enforcement.containerCreated(report('a', 'mysql', 100))).toMatchObject({ enforced: false, rules: 1, policies: ['KubeArmorPolicy/db'] });
    expect(enforcement.scopeCount).toBe(0);
  });

  describe('host policies', () => {
    const host = { name: 'node-1', labels: { role: 'db' } };

    it('puts the host scope in force only after the kernel scopes are adopted, rules before the scope', () => {
      const kernel = new RecordingKernel();
      const enforcement = new Enforcement({ evasion: 'allow', mode: 'required', kernel, log, host });
      enforcement.setPolicies([hostPolicy('h', 'kubernetes.io/hostname: node-1', '/etc/shadow'), policy('db', 'mysql', '/a')]);
      expect(kernel.calls).toEqual([]);
      enforcement.adoptKernelScopes();
      enforcement.reconcile([report('a', 'mysql', 100)]);
      expect(kernel.calls).toEqual(['setRules 0 1', 'resetDecisions 0', 'setScope 100 0 0', 'setRules 1 1', 'resetDecisions 1', 'setHostScope 1 1']);
      expect(enforcement.hostState()).toMatchObject({ index: 1, set: 1 });
      expect(enforcement.hostState()).toMatchObject({ index: 1, containerId: '', workload: { kind: 'host', name: 'node-1' } });
      // The host scope is no container's.
      expect(enforcement.scopeOfContainer('')).toBeUndefined();
    });

    it('selects by the configured labels, swaps the host set in place, and turns host enforcement off before clearing it', () => {
      const kernel = new RecordingKernel();
      const enforcement = new Enforcement({ evasion: 'allow', mode: 'required', kernel, log, host, collect: 'manual' });
      enforcement.adoptKernelScopes();
      enforcement.reconcile([]);
      expect(enforcement.setPolicies([hostPolicy('other', 'role: web', '/x')])).toEqual({ containers: 0, failed: 0 });
      expect(kernel.calls).toEqual([]);
      enforcement.setPolicies([hostPolicy('h', 'role: db', '/x')]);
      enforcement.setPolicies([hostPolicy('h', 'role: db', '/y')]);
      // The same content again writes nothing.
      enforcement.setPolicies([hostPolicy('h', 'role: db', '/y')]);
      expect(kernel.calls).toEqual(['setRules 0 1', 'resetDecisions 0', 'setHostScope 0 0', 'setRules 0 1']);
      kernel.calls.length = 0;
      enforcement.setPolicies([]);
      expect(kernel.calls).toEqual(['setHostScope off']);
      expect(enforcement.collectSets()).toBe(1);
      expect(kernel.calls).toEqual(['setHostScope off', 'clearRules 0']);
      expect(enforcement.hostState()).toBeUndefined();
      expect(enforcement.scopeCount).toBe(0);
    });

    it('keeps the host scope a previous agent left (its index is never given to a container)', () => {
      const kernel = new RecordingKernel();
      kernel.host = { scope: 0, set: 0 };
      kernel.rules.set(0, 1);
      const enforcement = new Enforcement({ evasion: 'allow', mode: 'required', kernel, log, host });
      enforcement.adoptKernelScopes();
      enforcement.setPolicies([hostPolicy('h', 'role: db', '/x'), policy('db', 'mysql', '/a')]);
      enforcement.reconcile([report('a', 'mysql', 100)]);
      // Neither its scope nor its set is given to the container; its set is rewritten in place.
      expect(kernel.calls).toEqual(['setRules 1 1', 'resetDecisions 1', 'setScope 100 1 1', 'setRules 0 1']);
      expect(kernel.host).toEqual({ scope: 0, set: 0 });
    });

    it('turns off a host scope a previous agent left when host policies are not enabled here', () => {
      const kernel = new RecordingKernel();
      kernel.host = { scope: 3, set: 5 };
      kernel.rules.set(5, 1);
      const enforcement = new Enforcement({ evasion: 'allow', mode: 'required', kernel, log, collect: 'manual' });
      enforcement.adoptKernelScopes();
      // reconcile collects the sets no scope uses at its end.
      enforcement.reconcile([]);
      expect(kernel.calls).toEqual(['setHostScope off', 'clearRules 5']);
      expect(kernel.host).toBeUndefined();
      expect(enforcement.hostState()).toBeUndefined();
    });

    it('keeps the host\'s old set when the new one cannot be written', () => {
      const kernel = new RecordingKernel();
      const enforcement = new Enforcement({ evasion: 'allow', mode: 'required', kernel, log, host });
      enforcement.adoptKernelScopes();
      enforcement.reconcile([]);
      enforcement.setPolicies([hostPolicy('h', 'role: db', '/x')]);
      kernel.failSetRules = true;
      expect(enforcement.setPolicies([hostPolicy('h', 'role: db', '/y')])).toEqual({ containers: 0, failed: 1 });
      expect(kernel.host).toEqual({ scope: 0, set: 0 });
      expect(kernel.rules.get(0)).toBe(1);
    });

    it('without host options, host policies reach no kernel', () => {
      const kernel = new RecordingKernel();
      const enforcement = new Enforcement({ evasion: 'allow', mode: 'required', kernel, log });
      enforcement.adoptKernelScopes();
      enforcement.reconcile([]);
      enforcement.setPolicies([hostPolicy('h', 'kubernetes.io/hostname: node-1', '/x')]);
      expect(kernel.calls).toEqual([]);
    });
  });

  it('resolves rule paths in each container root: a merged-/usr root gets the /usr/bin rule too, and a set of its own', () => {
    const bundles = mkdtempSync(join(tmpdir(), 'bulwark-roots-'));
    try {
      const merged = join(bundles, 'merged');
      mkdirSync(join(merged, 'rootfs', 'usr', 'bin'), { recursive: true });
      symlinkSync('usr/bin', join(merged, 'rootfs', 'bin'));
      // A link that leaves the root is not followed.
      symlinkSync('../../../etc', join(merged, 'rootfs', 'sbin'));
      const split = join(bundles, 'split');
      mkdirSync(join(split, 'rootfs', 'bin'), { recursive: true });
      const inBundle = (id: string, bundle: string, cgroupId: number): ContainerReport => ({ ...report(id, 'mysql', cgroupId), bundle, config: { rootfs: 'rootfs' } });
      expect(rootAliasesOfReport(inBundle('m', merged, 1))).toEqual([{ from: '/bin/', to: '/usr/bin/' }]);
      expect(rootAliasesOfReport(inBundle('s', split, 2))).toEqual([]);
      expect(rootAliasesOfReport({ ...report('a', 'mysql', 3), config: { rootfs: join(merged, 'rootfs') } })).toEqual([{ from: '/bin/', to: '/usr/bin/' }]);
      expect(rootAliasesOfReport(report('none', 'mysql', 4))).toEqual([]);

      const kernel = new RecordingKernel();
      const enforcement = enforcementOver(kernel);
      enforcement.setPolicies([policy('db', 'mysql', '/bin/busybox')]);
      expect(enforcement.containerCreated(inBundle('m', merged, 100))).toMatchObject({ enforced: true, set: 0, rules: 2 });
      expect(enforcement.scopeOfContainer('m')?.compiled.rules.map((entry) => ('path' in entry.rule ? entry.rule.path : undefined))).toEqual(['/bin/busybox', '/usr/bin/busybox']);
      expect(enforcement.containerCreated(inBundle('s', split, 101))).toMatchObject({ enforced: true, set: 1, rules: 1 });
      // Same policies, same layout: the set is shared.
      expect(enforcement.containerCreated(inBundle('m2', merged, 102))).toMatchObject({ enforced: true, set: 0, shared: true });
    } finally {
      rmSync(bundles, { recursive: true, force: true });
    }
  });

  it("reads a container root's links once, at its create, not on each policy change; a stopped container's are forgotten", () => {
    const reads: string[] = [];
    const kernel = new RecordingKernel();
    const enforcement = new Enforcement({
      evasion: 'allow',
      mode: 'required',
      kernel,
      log,
      collect: 'manual',
      rootAliases: (report) => {
        reads.push(report.id);
        return [{ from: '/bin/', to: '/usr/bin/' }];
      },
    });
    enforcement.setPolicies([policy('db', 'mysql', '/bin/a')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    enforcement.containerCreated(report('b', 'mysql', 101));
    enforcement.setPolicies([policy('db', 'mysql', '/bin/b')]);
    enforcement.setPolicies([policy('db', 'mysql', '/bin/c')]);
    expect(reads).toEqual(['a', 'b']);
    expect(enforcement.scopeOfContainer('a')?.compiled.rules.map((entry) => ('path' in entry.rule ? entry.rule.path : undefined))).toEqual(['/bin/c', '/usr/bin/c']);
    enforcement.containerStopped('a');
    enforcement.containerCreated(report('a', 'mysql', 102));
    expect(reads).toEqual(['a', 'b', 'a']);
  });
});

/** A recording kernel that also holds identities (Enforcer.setIdentities). */
class IdentityKernel extends RecordingKernel {
  readonly identitiesOf = new Map<number, readonly FileIdentity[]>();
  failSetIdentities = false;
  setIdentities(scope: number, identities: readonly FileIdentity[]) {
    if (this.failSetIdentities) throw new Error('set identities: map full');
    this.calls.push(`setIdentities ${scope} ${identities.length}`);
    if (identities.length === 0) this.identitiesOf.delete(scope);
    else this.identitiesOf.set(scope, identities);
    return identities.length;
  }
  clearIdentities(scope: number) {
    this.calls.push(`clearIdentities ${scope}`);
    const count = this.identitiesOf.get(scope)?.length ?? 0;
    this.identitiesOf.delete(scope);
    return count;
  }
  identityScopes() {
    return [...this.identitiesOf.keys()].sort((a, b) => a - b);
  }
}

describe('identities of blocked files', () => {
  const one: FileIdentity = { dev: 45, ino: 7n, ops: 1, ruleId: 1 };
  const over = (kernel: ScopeKernel, found: (report: ContainerReport) => FileIdentity[]) =>
    new Enforcement({ evasion: 'allow', mode: 'required', kernel, log, collect: 'manual', identities: (item) => ({ identities: found(item), root: '/x', missing: 0 }) });
  /** Enforcement whose identities are always `found`, its log lines kept. */
  const logged = (kernel: ScopeKernel, found: ContainerIdentities) => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger('json', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    return { lines, enforcement: new Enforcement({ evasion: 'allow', mode: 'required', kernel, log, collect: 'manual', identities: () => found }) };
  };

  it('are written before the scope, replaced on a policy change, and cleared when the container stops', () => {
    const kernel = new IdentityKernel();
    const enforcement = over(kernel, (item) => (item.id === 'a' ? [one] : []));
    enforcement.setPolicies([policy('db', 'mysql', '/etc/shadow')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    // A container whose files are not there: nothing to write for a scope that holds none.
    enforcement.containerCreated(report('b', 'mysql', 101));
    expect(kernel.calls).toEqual(['setRules 0 1', 'setIdentities 0 1', 'resetDecisions 0', 'setScope 100 0 0', 'resetDecisions 1', 'setScope 101 1 0']);
    kernel.calls.length = 0;
    enforcement.setPolicies([policy('db', 'mysql', '/etc/gshadow')]);
    expect(kernel.calls).toEqual(['setRules 0 1', 'setIdentities 0 1']);
    kernel.calls.length = 0;
    expect(enforcement.containerStopped('a')).toBe(true);
    expect(kernel.calls).toEqual(['removeScope 100', 'clearIdentities 0']);
    expect(kernel.identitiesOf.size).toBe(0);
  });

  it('a kernel that refuses them leaves the container enforced by path, with one error logged', () => {
    const kernel = new IdentityKernel();
    kernel.failSetIdentities = true;
    const { enforcement, lines } = logged(kernel, { identities: [one], root: '/x', missing: 0 });
    enforcement.setPolicies([policy('db', 'mysql', '/etc/shadow')]);
    expect(enforcement.containerCreated(report('a', 'mysql', 100))).toMatchObject({ enforced: true, scope: 0 });
    expect(lines.filter((line) => line.level === 'error').map((line) => [line.message, line.error])).toEqual([
      ['enforcement: the identities of blocked files could not be set; their rules hold by path only', 'set identities: map full'],
    ]);
  });

  it('after a takeover stay with the scopes adopted; those of a scope no cgroup is in are removed', () => {
    const kernel = new IdentityKernel();
    kernel.scopeMap.set(100n, { scope: 5, set: 2 });
    kernel.rules.set(2, 1);
    kernel.identitiesOf.set(5, [one]);
    kernel.identitiesOf.set(9, [one, { ...one, ino: 8n }]);
    const enforcement = over(kernel, () => []);
    enforcement.adoptKernelScopes();
    expect(kernel.calls).toEqual(['clearIdentities 9']);
    enforcement.setPolicies([policy('db', 'mysql', '/etc/shadow')]);
    // The container's file is gone from its image now: the adopted identities go too.
    enforcement.reconcile([report('a', 'mysql', 100)]);
    expect(kernel.calls).toContain('setIdentities 5 0');
    expect(kernel.identitiesOf.size).toBe(0);
  });

  it("are read from the container's root: a hard link is the same identity, a directory or a symbolic link is none", () => {
    const bundle = mkdtempSync(join(tmpdir(), 'bulwark-identities-'));
    try {
      const root = join(bundle, 'rootfs');
      mkdirSync(join(root, 'etc'), { recursive: true });
      mkdirSync(join(root, 'var'));
      writeFileSync(join(root, 'etc/shadow'), 'x');
      linkSync(join(root, 'etc/shadow'), join(root, 'var/shadow-link'));
      symlinkSync('/etc/shadow', join(root, 'etc/link'));
      const item: ContainerReport = { ...report('a', 'mysql', 100), bundle, config: { rootfs: 'rootfs' } };
      const found = containerIdentities(item, [
        { path: '/etc/shadow', operations: ['read'], id: 4 },
        { path: '/var/shadow-link', operations: ['write'], id: 5 },
        { path: '/etc/link', operations: ['read'], id: 6 },
        { path: '/etc/', operations: ['read'], id: 7 },
        { path: '/etc/absent', operations: ['read'], id: 8 },
      ]);
      const stats = statSync(join(root, 'etc/shadow'), { bigint: true });
      expect(found.root).toBe(root);
      expect(found.missing).toBe(2);
      expect(found.identities).toEqual([
        // The /etc/ rule: shadow has another name (var/shadow-link), so it is followed; the symbolic link is not a file.
        { dev: kernelDevice(stats.dev), ino: stats.ino, ops: 1, ruleId: 7 },
        { dev: kernelDevice(stats.dev), ino: stats.ino, ops: 1, ruleId: 4 },
        { dev: kernelDevice(stats.dev), ino: stats.ino, ops: 2, ruleId: 5 },
      ]);
    } finally {
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it('of a blocked directory are its files with other names: all below it, or those directly in it, within a budget of entries', () => {
    const bundle = mkdtempSync(join(tmpdir(), 'bulwark-identities-'));
    try {
      const root = join(bundle, 'rootfs');
      mkdirSync(join(root, 'var/lib/mysql/deep/deeper'), { recursive: true });
      mkdirSync(join(root, 'tmp'));
      const file = (name: string) => {
        writeFileSync(join(root, name), name);
        return statSync(join(root, name), { bigint: true });
      };
      const top = file('var/lib/mysql/ibdata1');
      const deep = file('var/lib/mysql/deep/deeper/key');
      file('var/lib/mysql/single'); // one name only: its path is enough
      linkSync(join(root, 'var/lib/mysql/ibdata1'), join(root, 'tmp/ibdata1'));
      linkSync(join(root, 'var/lib/mysql/deep/deeper/key'), join(root, 'tmp/key'));
      // A symbolic link to a directory elsewhere is not walked into.
      mkdirSync(join(root, 'elsewhere'));
      const outside = file('elsewhere/other');
      linkSync(join(root, 'elsewhere/other'), join(root, 'tmp/other'));
      symlinkSync('../../../elsewhere', join(root, 'var/lib/mysql/to-elsewhere'));
      const item: ContainerReport = { ...report('a', 'mysql', 100), bundle, config: { rootfs: 'rootfs' } };
      const identity = (stats: ReturnType<typeof statSync> & { ino: bigint }, ruleId: number, ops = 1) => ({ dev: kernelDevice(stats.dev), ino: stats.ino, ops, ruleId });

      const recursive = containerIdentities(item, [{ path: '/var/lib/mysql/', operations: ['read'], id: 3 }]);
      expect(recursive.identities).toEqual(expect.arrayContaining([identity(top, 3), identity(deep, 3)]));
      expect(recursive.identities).toHaveLength(2);
      expect(recursive.identities).not.toContainEqual(identity(outside, 3));
      expect(recursive).toMatchObject({ missing: 0, truncated: 0 });

      const children = containerIdentities(item, [{ path: '/var/lib/mysql/', operations: ['read'], recursive: false, id: 4 }]);
      expect(children.identities).toEqual([identity(top, 4)]);

      // A directory the image does not have: missing, nothing walked.
      expect(containerIdentities(item, [{ path: '/srv/absent/', operations: ['read'] }])).toMatchObject({ identities: [], missing: 1, truncated: 0 });

      // A directory named twice (a symbolic link to it, as merged /usr's /bin): walked once, each rule's identities given.
      symlinkSync('lib/mysql', join(root, 'var/mysql-link'));
      const twice = containerIdentities(item, [
        { path: '/var/lib/mysql/', operations: ['read'], id: 6 },
        { path: '/var/mysql-link/', operations: ['write'], id: 7 },
      ]);
      expect(twice.identities).toEqual(expect.arrayContaining([identity(top, 6), identity(deep, 6), identity(top, 7, 2), identity(deep, 7, 2)]));
      expect(twice.identities).toHaveLength(4);
      expect(twice.walked).toBe(recursive.walked);

      // A budget of 2 entries: the walk stops, and says so.
      const cut = identitiesUnder(root, [{ path: '/var/lib/mysql/', ops: 1, ruleId: 5, directory: 'recursive' }], { budget: 2 });
      expect(cut).toMatchObject({ truncated: 1, walked: 2 });
      expect(cut.identities.length).toBeLessThan(2);
    } finally {
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it('a walk cut short by its budget is logged as a warning, and the container is enforced', () => {
    const kernel = new IdentityKernel();
    const { enforcement, lines } = logged(kernel, { identities: [one], root: '/x', missing: 0, truncated: 1, walked: 10_000 });
    enforcement.setPolicies([policy('db', 'mysql', '/etc/shadow')]);
    expect(enforcement.containerCreated(report('a', 'mysql', 100))).toMatchObject({ enforced: true, scope: 0 });
    expect(lines.filter((line) => line.level === 'warn')).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/^enforcement: a blocked directory has more entries than the walk/u), id: 'a', directories: 1, entries: 10_000 }),
    ]);
  });
});

/** A recording kernel with a pool of empty rule maps (Enforcer.fillPool). */
class PoolKernel extends RecordingKernel {
  readonly pool = new Set<number>();
  fillPool(count: number, options: { exclude: Iterable<number>; limit: number }) {
    const exclude = new Set(options.exclude);
    let added = 0;
    for (let set = 0; set < 4096 && this.pool.size < count && added < options.limit; set++) {
      if (this.pool.has(set) || exclude.has(set) || this.rules.has(set)) continue;
      this.pool.add(set);
      this.calls.push(`fillPool ${set}`);
      added++;
    }
    return added;
  }
  pooledSets() {
    return [...this.pool].sort((a, b) => a - b);
  }
  override setRules(set: number, rules: readonly unknown[]) {
    this.pool.delete(set);
    return super.setRules(set, rules);
  }
}

describe('the pool of empty rule maps', () => {
  it('is filled after the turn, one map a turn; a new set takes a pooled index and the pool is topped up again', async () => {
    const kernel = new PoolKernel();
    const enforcement = new Enforcement({ evasion: 'allow', mode: 'required', kernel, log, collect: 'manual', pool: 2 });
    enforcement.reconcile([]);
    expect(kernel.calls).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(kernel.pooledSets()).toEqual([0, 1]);
    kernel.calls.length = 0;
    enforcement.setPolicies([policy('db', 'mysql', '/a'), policy('web', 'web', '/b')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    enforcement.containerCreated(report('b', 'web', 101));
    expect(kernel.calls.filter((call) => call.startsWith('setRules'))).toEqual(['setRules 0 1', 'setRules 1 1']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(kernel.pooledSets()).toEqual([2, 3]);
  });

  it('is not filled with pool 0, nor in audit mode', async () => {
    const none = new PoolKernel();
    new Enforcement({ mode: 'required', kernel: none, log, collect: 'manual', pool: 0 }).reconcile([]);
    const audit = new PoolKernel();
    new Enforcement({ mode: 'audit', kernel: audit, log, collect: 'manual' }).reconcile([]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect([...none.pool, ...audit.pool]).toEqual([]);
  });
});

/** A kernel that writes many sets in one call (Enforcer.setManyRules), refusing the sets in `refuse`. */
class BatchKernel extends RecordingKernel {
  readonly refuse = new Set<number>();
  setManyRules(sets: readonly { set: number; rules: readonly unknown[] }[]) {
    this.calls.push(`setManyRules ${sets.map(({ set, rules }) => `${set}:${rules.length}`).join(' ')}`);
    return sets.map(({ set, rules }) => {
      if (this.refuse.has(set)) return { error: new Error(`set rules: set ${set} refused`) };
      this.rules.set(set, rules.length);
      return { entries: rules.length };
    });
  }
}

describe('a policy change that rewrites many sets', () => {
  it('writes them in one call, and a set the kernel refuses leaves only its own containers on their old rules', () => {
    const kernel = new BatchKernel();
    const enforcement = enforcementOver(kernel);
    const own = (app: string, path: string) => policy(app, app, path);
    enforcement.setPolicies([own('a', '/a'), own('b', '/b'), own('c', '/c')]);
    enforcement.containerCreated(report('a1', 'a', 100));
    enforcement.containerCreated(report('b1', 'b', 101));
    enforcement.containerCreated(report('c1', 'c', 102));
    // One container at a time: one set each, written alone.
    expect(kernel.calls.filter((call) => call.startsWith('set') && !call.startsWith('setScope'))).toEqual(['setRules 0 1', 'setRules 1 1', 'setRules 2 1']);
    kernel.calls.length = 0;
    kernel.refuse.add(1);
    const before = enforcement.scopeOfContainer('b1')!.compiled.rules.map((entry) => entry.rule);
    expect(enforcement.setPolicies([own('a', '/a2'), own('b', '/b2'), own('c', '/c2')])).toEqual({ containers: 2, failed: 1 });
    // Each set rewritten at its own index (its scopes all changed together), in one call; no scope moved.
    expect(kernel.calls).toEqual(['setManyRules 0:1 1:1 2:1']);
    expect(enforcement.scopeOfContainer('a1')!.compiled.rules.map((entry) => entry.rule)).toMatchObject([{ path: '/a2' }]);
    expect(enforcement.scopeOfContainer('b1')!.compiled.rules.map((entry) => entry.rule)).toEqual(before);
    expect(enforcement.scopeOfContainer('c1')!.compiled.rules.map((entry) => entry.rule)).toMatchObject([{ path: '/c2' }]);
    // The refused set is written again on the next change (its key was not taken).
    kernel.refuse.clear();
    kernel.calls.length = 0;
    expect(enforcement.setPolicies([own('a', '/a2'), own('b', '/b2'), own('c', '/c2')])).toEqual({ containers: 3, failed: 0 });
    expect(kernel.calls).toEqual(['setRules 1 1']);
    expect(enforcement.scopeOfContainer('b1')!.compiled.rules.map((entry) => entry.rule)).toMatchObject([{ path: '/b2' }]);
  });
});
