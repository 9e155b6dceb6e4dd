import { fileURLToPath } from 'node:url';
/**
 * The agent's Enforcement over the real enforcer in the BPF-LSM guest, with
 * containers as bare cgroups: containers the same policies select share
 * one rule set in the kernel, each still enforced and counted in its own
 * scope; a policy change that splits the group moves only the containers
 * whose policies changed to a new set; a policy change for the group
 * rewrites its set in place; a set is removed once its last container is
 * gone, and only then.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnforcer, type Enforcer } from '@bulwark/ebpf-lsm';
import type { ContainerReport } from '@bulwark/hook-client';
import { parsePolicies, type Policy } from '@bulwark/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileBpf } from '../../../packages/ebpf-lsm/scripts/build-bpf.ts';
import { Enforcement } from './enforcement.js';
import { scopeKernelOf } from './kernel.js';
import { createLogger } from './log.js';

let work: string;
let enforcer: Enforcer;
const cgroups: string[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-shared-sets-'));
  const objectPath = join(work, 'enforcer.bpf.o');
  compileBpf(fileURLToPath(new URL('../../../packages/ebpf-lsm/src/bpf/enforcer.bpf.c', import.meta.url)), objectPath);
  enforcer = loadEnforcer({ object: objectPath, attach: ['enforce_file_open'] });
  for (const name of ['a', 'b']) writeFileSync(join(work, name), `${name}\n`);
});

afterAll(() => {
  enforcer?.close();
  for (const cgroup of cgroups) rmdirSync(cgroup);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

function makeCgroup(name: string): { path: string; id: bigint } {
  const path = join('/sys/fs/cgroup', `bulwark-shared-${name}-${process.pid}`);
  mkdirSync(path);
  cgroups.push(path);
  return { path, id: statSync(path, { bigint: true }).ino };
}

/** Opens a and b for reading from a process in `cgroup`: file -> ok or denied. */
function opens(cgroup: string): Record<string, string> {
  const script = `echo $$ > ${cgroup}/cgroup.procs && for f in a b; do if (: < ${work}/$f) 2>/dev/null; then echo "$f ok"; else echo "$f denied"; fi; done`;
  const run = spawnSync('sh', ['-c', script], { encoding: 'utf8', timeout: 60_000 });
  expect(run.status, run.stderr).toBe(0);
  return Object.fromEntries(run.stdout.trim().split('\n').map((line) => line.split(' ') as [string, string]));
}

function policy(name: string, labels: Record<string, string>, file: string): Policy {
  const selector = Object.entries(labels)
    .map(([key, value]) => `      ${key}: ${value}`)
    .join('\n');
  const text = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: ${name}
spec:
  selector:
    matchLabels:
${selector}
  file:
    matchPaths:
    - path: ${join(work, file)}
  action: Block
`;
  const { policies, errors } = parsePolicies(text, `${name}.yaml`);
  expect(errors).toEqual([]);
  return policies[0]!;
}

const report = (id: string, cgroup: { path: string; id: bigint }, annotations: Record<string, string>): ContainerReport => ({
  id,
  stage: 'createRuntime',
  status: 'creating',
  bundle: `/bundles/${id}`,
  names: { runtime: 'unknown' },
  annotations,
  cgroup: { path: cgroup.path, id: String(cgroup.id) },
});

describe('rule sets shared by containers, through the agent\'s Enforcement, in the kernel guest', () => {
  it('shares a set, counts each container apart, splits the group on a policy change, swaps the shared set in place, and removes it after its last container', () => {
    const enforcement = new Enforcement({ mode: 'required', kernel: scopeKernelOf(enforcer), log: createLogger('json', () => undefined), collect: 'manual' });
    const web = { app: 'web' };
    const gold = { app: 'web', tier: 'gold' };
    const one = makeCgroup('one');
    const two = makeCgroup('two');
    const three = makeCgroup('three');
    enforcement.setPolicies([policy('web', web, 'a')]);
    const first = enforcement.containerCreated(report('one', one, web));
    const second = enforcement.containerCreated(report('two', two, web));
    const third = enforcement.containerCreated(report('three', three, gold));
    expect(first).toMatchObject({ enforced: true, shared: false });
    expect(second).toMatchObject({ enforced: true, shared: true, set: first.set });
    expect(third).toMatchObject({ enforced: true, shared: true, set: first.set });
    expect(new Set([first.scope, second.scope, third.scope]).size).toBe(3);
    expect(enforcer.setsWithRules()).toEqual([first.set]);

    for (const cgroup of [one, two, three]) expect(opens(cgroup.path)).toEqual({ a: 'denied', b: 'ok' });
    // Twice for the first container: its counters move, the others' do not.
    expect(opens(one.path)).toEqual({ a: 'denied', b: 'ok' });
    expect(enforcer.decisions(first.scope!)).toMatchObject({ denied: 2n });
    expect(enforcer.decisions(second.scope!)).toMatchObject({ denied: 1n });
    expect(enforcer.decisions(third.scope!)).toMatchObject({ denied: 1n });

    // A policy for the gold tier splits the group: only `three` moves, to a new set.
    const goldPolicy = policy('gold', { tier: 'gold' }, 'b');
    expect(enforcement.setPolicies([policy('web', web, 'a'), goldPolicy])).toEqual({ containers: 3, failed: 0 });
    const moved = enforcement.scopeOfContainer('three')!;
    expect(moved.index).toBe(third.scope);
    expect(moved.set).not.toBe(first.set);
    expect(enforcer.scopes().get(one.id)).toEqual({ scope: first.scope, set: first.set });
    expect(enforcer.scopes().get(three.id)).toEqual({ scope: third.scope, set: moved.set });
    expect(opens(one.path)).toEqual({ a: 'denied', b: 'ok' });
    expect(opens(two.path)).toEqual({ a: 'denied', b: 'ok' });
    expect(opens(three.path)).toEqual({ a: 'denied', b: 'denied' });

    // The web policy changes: the shared set is rewritten in place (the same index), and so is three's.
    enforcement.setPolicies([policy('web', web, 'b'), goldPolicy]);
    expect(enforcement.scopeOfContainer('one')?.set).toBe(first.set);
    expect(enforcement.scopeOfContainer('two')?.set).toBe(first.set);
    expect(opens(one.path)).toEqual({ a: 'ok', b: 'denied' });
    expect(opens(two.path)).toEqual({ a: 'ok', b: 'denied' });
    expect(opens(three.path)).toEqual({ a: 'ok', b: 'denied' });

    // The shared set stays while one of its containers runs, and goes with the last.
    enforcement.containerStopped('one');
    expect(enforcement.collectSets()).toBe(0);
    expect(enforcer.hasRules(first.set!)).toBe(true);
    expect(opens(one.path)).toEqual({ a: 'ok', b: 'ok' });
    expect(opens(two.path)).toEqual({ a: 'ok', b: 'denied' });
    enforcement.containerStopped('two');
    expect(enforcement.collectSets()).toBe(1);
    expect(enforcer.hasRules(first.set!)).toBe(false);
    expect(enforcer.setsWithRules()).toEqual([moved.set]);
    expect(opens(three.path)).toEqual({ a: 'ok', b: 'denied' });
    enforcement.containerStopped('three');
    enforcement.collectSets();
    expect(enforcer.setsWithRules()).toEqual([]);
    expect([...enforcer.scopes().keys()]).toEqual([]);
  });
});
