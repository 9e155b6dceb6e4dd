/**
 * The agent's enforcement bookkeeping against a recording kernel: what it
 * writes and in which order, and its error paths (a kernel that refuses a
 * rule set, containers without a cgroup id). That the kernel then enforces
 * is the kernel tier's (enforcement.kernel.test.ts).
 */
import type { ContainerReport } from '@bulwark/hook-client';
import { parsePolicies, type Policy } from '@bulwark/policy';
import { describe, expect, it } from 'vitest';
import { Enforcement, type ScopeKernel } from './enforcement.js';
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
  readonly scopeMap = new Map<bigint, number>();
  readonly rules = new Map<number, number>();
  failSetRules = false;
  setScope(cgroupId: bigint, index: number) {
    this.calls.push(`setScope ${cgroupId} ${index}`);
    this.scopeMap.set(cgroupId, index);
  }
  removeScope(cgroupId: bigint) {
    this.calls.push(`removeScope ${cgroupId}`);
    return this.scopeMap.delete(cgroupId);
  }
  setRules(index: number, rules: readonly unknown[]) {
    if (this.failSetRules) throw new Error('set rules: map update failed');
    this.calls.push(`setRules ${index} ${rules.length}`);
    this.rules.set(index, rules.length);
    return rules.length;
  }
  clearRules(index: number) {
    this.calls.push(`clearRules ${index}`);
    return this.rules.delete(index);
  }
  scopes(): [bigint, number][] {
    return [...this.scopeMap];
  }
  host: number | undefined;
  setHostScope(index: number | undefined) {
    this.calls.push(`setHostScope ${index}`);
    this.host = index;
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

describe('enforcement', () => {
  it('puts the rules in before the scope, and only for containers policies select', () => {
    const kernel = new RecordingKernel();
    const enforcement = new Enforcement({ mode: 'required', kernel, log });
    enforcement.setPolicies([policy('db', 'mysql', '/var/lib/mysql/ibdata1')]);
    expect(enforcement.containerCreated(report('a', 'mysql', 100))).toMatchObject({ enforced: true, scope: 0, rules: 1, policies: ['KubeArmorPolicy/db'] });
    expect(enforcement.containerCreated(report('b', 'web', 101))).toMatchObject({ enforced: false, rules: 0 });
    expect(kernel.calls).toEqual(['setRules 0 1', 'setScope 100 0']);
    expect(enforcement.scopeOfContainer('a')?.compiled.rules[0]?.origin.policy).toBe('db');
  });

  it('swaps every affected container on a policy change, and frees a scope no policy needs', () => {
    const kernel = new RecordingKernel();
    const enforcement = new Enforcement({ mode: 'required', kernel, log });
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    enforcement.containerCreated(report('b', 'web', 101));
    kernel.calls.length = 0;
    expect(enforcement.setPolicies([policy('web', 'web', '/b')])).toEqual({ containers: 2, failed: 0 });
    // a loses its scope (out of scope first, then its rules), b gains one.
    expect(kernel.calls).toEqual(['removeScope 100', 'clearRules 0', 'setRules 0 1', 'setScope 101 0']);
  });

  it('refuses a container it cannot enforce, leaving no half state', () => {
    const kernel = new RecordingKernel();
    const enforcement = new Enforcement({ mode: 'required', kernel, log });
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    expect(() => enforcement.containerCreated(report('a', 'mysql'))).toThrow(/no cgroup id/u);
    kernel.failSetRules = true;
    expect(() => enforcement.containerCreated(report('b', 'mysql', 7))).toThrow('set rules: map update failed');
    expect(kernel.scopeMap.size).toBe(0);
    expect(enforcement.scopeCount).toBe(0);
    // The index was given back: the next container gets scope 0.
    kernel.failSetRules = false;
    expect(enforcement.containerCreated(report('c', 'mysql', 8))).toMatchObject({ scope: 0 });
  });

  it('keeps a container\'s old set when a policy change cannot be written for it', () => {
    const kernel = new RecordingKernel();
    const enforcement = new Enforcement({ mode: 'required', kernel, log });
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    kernel.failSetRules = true;
    expect(enforcement.setPolicies([policy('db', 'mysql', '/b')])).toEqual({ containers: 0, failed: 1 });
    expect(kernel.scopeMap.get(100n)).toBe(0);
    expect(kernel.rules.get(0)).toBe(1);
  });

  it('removes the scope and rules of a stopped container', () => {
    const kernel = new RecordingKernel();
    const enforcement = new Enforcement({ mode: 'required', kernel, log });
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    enforcement.containerCreated(report('a', 'mysql', 100));
    expect(enforcement.containerStopped('a')).toBe(true);
    expect(kernel.scopeMap.size).toBe(0);
    expect(kernel.rules.size).toBe(0);
    expect(enforcement.containerStopped('a')).toBe(false);
  });

  it('after a takeover keeps each cgroup\'s scope index and drops the scopes of containers that are gone', () => {
    const kernel = new RecordingKernel();
    kernel.scopeMap.set(100n, 5);
    kernel.rules.set(5, 1);
    kernel.scopeMap.set(200n, 6);
    kernel.rules.set(6, 1);
    const enforcement = new Enforcement({ mode: 'required', kernel, log });
    expect(enforcement.adoptKernelScopes()).toBe(2);
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    enforcement.reconcile([report('a', 'mysql', 100)]);
    expect(kernel.calls).toEqual(['setRules 5 1', 'removeScope 200', 'clearRules 6']);
    expect(enforcement.scopeOfContainer('a')?.index).toBe(5);
  });

  it('in audit mode compiles and touches no kernel', () => {
    const enforcement = new Enforcement({ mode: 'audit', log });
    enforcement.setPolicies([policy('db', 'mysql', '/a')]);
    expect(enforcement.containerCreated(report('a', 'mysql', 100))).toMatchObject({ enforced: false, rules: 1, policies: ['KubeArmorPolicy/db'] });
    expect(enforcement.scopeCount).toBe(0);
  });

  describe('host policies', () => {
    const host = { name: 'node-1', labels: { role: 'db' } };

    it('puts the host scope in force only after the kernel scopes are adopted, rules before the scope', () => {
      const kernel = new RecordingKernel();
      const enforcement = new Enforcement({ mode: 'required', kernel, log, host });
      enforcement.setPolicies([hostPolicy('h', 'kubernetes.io/hostname: node-1', '/etc/shadow'), policy('db', 'mysql', '/a')]);
      expect(kernel.calls).toEqual([]);
      enforcement.adoptKernelScopes();
      enforcement.reconcile([report('a', 'mysql', 100)]);
      expect(kernel.calls).toEqual(['setRules 0 1', 'setScope 100 0', 'setRules 1 1', 'setHostScope 1']);
      expect(enforcement.hostState()).toMatchObject({ index: 1, containerId: '', workload: { kind: 'host', name: 'node-1' } });
      // The host scope is no container's.
      expect(enforcement.scopeOfContainer('')).toBeUndefined();
    });

    it('selects by the configured labels, swaps the host set in place, and turns host enforcement off before clearing it', () => {
      const kernel = new RecordingKernel();
      const enforcement = new Enforcement({ mode: 'required', kernel, log, host });
      enforcement.adoptKernelScopes();
      enforcement.reconcile([]);
      expect(enforcement.setPolicies([hostPolicy('other', 'role: web', '/x')])).toEqual({ containers: 0, failed: 0 });
      expect(kernel.calls).toEqual([]);
      enforcement.setPolicies([hostPolicy('h', 'role: db', '/x')]);
      enforcement.setPolicies([hostPolicy('h', 'role: db', '/y')]);
      expect(kernel.calls).toEqual(['setRules 0 1', 'setHostScope 0', 'setRules 0 1']);
      kernel.calls.length = 0;
      enforcement.setPolicies([]);
      expect(kernel.calls).toEqual(['setHostScope undefined', 'clearRules 0']);
      expect(enforcement.hostState()).toBeUndefined();
      expect(enforcement.scopeCount).toBe(0);
    });

    it('keeps the host scope a previous agent left (its index is never given to a container)', () => {
      const kernel = new RecordingKernel();
      kernel.host = 0;
      kernel.rules.set(0, 1);
      const enforcement = new Enforcement({ mode: 'required', kernel, log, host });
      enforcement.adoptKernelScopes();
      enforcement.setPolicies([hostPolicy('h', 'role: db', '/x'), policy('db', 'mysql', '/a')]);
      enforcement.reconcile([report('a', 'mysql', 100)]);
      expect(kernel.calls).toEqual(['setRules 1 1', 'setScope 100 1', 'setRules 0 1']);
      expect(kernel.host).toBe(0);
    });

    it('keeps the host\'s old set when the new one cannot be written', () => {
      const kernel = new RecordingKernel();
      const enforcement = new Enforcement({ mode: 'required', kernel, log, host });
      enforcement.adoptKernelScopes();
      enforcement.reconcile([]);
      enforcement.setPolicies([hostPolicy('h', 'role: db', '/x')]);
      kernel.failSetRules = true;
      expect(enforcement.setPolicies([hostPolicy('h', 'role: db', '/y')])).toEqual({ containers: 0, failed: 1 });
      expect(kernel.host).toBe(0);
      expect(kernel.rules.get(0)).toBe(1);
    });

    it('without host options, host policies reach no kernel', () => {
      const kernel = new RecordingKernel();
      const enforcement = new Enforcement({ mode: 'required', kernel, log });
      enforcement.adoptKernelScopes();
      enforcement.reconcile([]);
      enforcement.setPolicies([hostPolicy('h', 'kubernetes.io/hostname: node-1', '/x')]);
      expect(kernel.calls).toEqual([]);
    });
  });
});
