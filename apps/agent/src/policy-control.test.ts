import { describe, expect, it } from 'vitest';
import type { ContainerReport } from '@bulwark/hook-client';
import { parsePolicies, type Policy } from '@bulwark/policy';
import { policyKey } from './applied-policies.js';
import { countRules, formatPolicyTable, listPolicies, planApply, planDelete, policyFromRecord, sliceDocument, type AppliedPolicy } from './policy-control.js';

const policyText = (name: string, namespace = 'shop', paths = ['/etc/shadow']) => `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  selector:
    matchLabels:
      app: web
  file:
    matchPaths:
${paths.map((path) => `    - path: ${path}`).join('\n')}
  action: Block
`;

const directory: Policy[] = parsePolicies(policyText('from-dir'), '/etc/bulwark/policies/a.yaml').policies;

function appliedFrom(text: string, source = '/root/p.yaml'): Map<string, AppliedPolicy> {
  const plan = planApply([{ source, text }], [], new Map());
  if (!plan.ok) throw new Error(plan.problems.join('\n'));
  return new Map(plan.changes.map((change) => [policyKey(change.policy), { record: change.record, policy: change.policy }]));
}

describe('planApply', () => {
  it('creates each policy of a multi-document file, each kept as its own document', () => {
    const text = `${policyText('one')}---\n${policyText('two', 'shop', ['/etc/passwd', '/etc/group'])}`;
    const plan = planApply([{ source: '/root/p.yaml', text }], directory, new Map(), new Date(0));
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    expect(plan.changes.map((change) => [change.policy.name, change.action])).toEqual([
      ['one', 'created'],
      ['two', 'created'],
    ]);
    const second = plan.changes[1]!.record;
    expect(second).toMatchObject({ kind: 'KubeArmorPolicy', namespace: 'shop', name: 'two', source: '/root/p.yaml', appliedAt: '1970-01-01T00:00:00.000Z' });
    expect(second.text).not.toContain('name: one');
    const back = policyFromRecord(second);
    expect(typeof back === 'string' ? back : countRules(back)).toBe(2);
  });

  it('says configured when an applied policy of the same kind, namespace and name is replaced', () => {
    const applied = appliedFrom(policyText('one'));
    const plan = planApply([{ source: '/root/q.yaml', text: policyText('one', 'shop', ['/etc/hosts']) }], directory, applied);
    expect(plan.ok && plan.changes.map((change) => change.action)).toEqual(['configured']);
    // Another namespace is another policy.
    const other = planApply([{ source: '/root/q.yaml', text: policyText('one', 'other') }], directory, applied);
    expect(other.ok && other.changes.map((change) => change.action)).toEqual(['created']);
  });

  it('refuses a policy the directory defines, naming both origins', () => {
    const plan = planApply([{ source: '/root/dup.yaml', text: policyText('from-dir') }], directory, new Map());
    expect(plan).toEqual({
      ok: false,
      problems: ['KubeArmorPolicy shop/from-dir is defined in the policy directory at /etc/bulwark/policies/a.yaml:1:1 and applied from /root/dup.yaml; delete one of them'],
    });
  });

  it('refuses a bad file with file:line:column, a policy given twice, and a file with no policy', () => {
    const bad = planApply([{ source: '/root/bad.yaml', text: policyText('x').replace('action: Block', 'action: Maybe') }], [], new Map());
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.problems[0]).toMatch(/^\/root\/bad\.yaml:13:11: spec\.action: /u);
    const twice = planApply(
      [
        { source: '/root/a.yaml', text: policyText('same') },
        { source: '/root/b.yaml', text: policyText('same') },
      ],
      [],
      new Map(),
    );
    expect(!twice.ok && twice.problems).toEqual(['/root/b.yaml:1:1: metadata.name: KubeArmorPolicy shop/same is already defined at /root/a.yaml:1:1']);
    const empty = planApply([{ source: '-', text: '# nothing\n' }], [], new Map());
    expect(!empty.ok && empty.problems).toEqual(['-: no policy in it']);
  });
});

describe('sliceDocument and policyFromRecord', () => {
  it('slices each document of a stream', () => {
    const text = `${policyText('one')}---\n${policyText('two')}`;
    expect(sliceDocument(text, 0)).toContain('name: one');
    expect(sliceDocument(text, 1)).toContain('name: two');
    expect(sliceDocument(text, 2)).toBeUndefined();
  });

  it('refuses a stored record that is not the policy it names', () => {
    const problem = policyFromRecord({ kind: 'KubeArmorPolicy', namespace: 'shop', name: 'other', source: '/root/p.yaml', text: policyText('one'), appliedAt: '' });
    expect(problem).toBe('/root/p.yaml: the stored document is not the one policy KubeArmorPolicy shop/other');
  });
});

describe('planDelete', () => {
  const applied = appliedFrom(`${policyText('one')}---\n${policyText('one', 'other')}`);

  it('finds an applied policy by name, namespace and kind', () => {
    const found = planDelete({ name: 'one', namespace: 'shop', kind: 'kubearmorpolicy' }, directory, applied);
    expect('key' in found && found.policy.namespace).toBe('shop');
  });

  it('refuses a directory policy with the file to remove it from, an unknown one, and an ambiguous name', () => {
    expect(planDelete({ name: 'from-dir' }, directory, applied)).toEqual({
      problem: 'KubeArmorPolicy shop/from-dir comes from the policy directory; remove it from /etc/bulwark/policies/a.yaml',
    });
    expect(planDelete({ name: 'nope', namespace: 'shop' }, directory, applied)).toEqual({ problem: 'no policy shop/nope is in force' });
    expect(planDelete({ name: 'one' }, directory, applied)).toEqual({
      problem: 'one names 2 policies (KubeArmorPolicy shop/one, KubeArmorPolicy other/one); give --namespace or --kind',
    });
  });
});

describe('listPolicies', () => {
  const container = (id: string, labels: Record<string, string>, namespace = 'shop'): ContainerReport => ({
    id,
    stage: 'createRuntime',
    status: 'created',
    bundle: '/b',
    names: { runtime: 'runc', podNamespace: namespace },
    annotations: labels,
  });

  it('gives origin, action, selected containers and rule count for each policy in force', () => {
    const applied = appliedFrom(policyText('one', 'shop', ['/a', '/b', '/c']));
    const policies = [...directory, ...[...applied.values()].map((entry) => entry.policy)];
    const rows = listPolicies(policies, applied, [container('c1', { app: 'web' }), container('c2', { app: 'db' }), container('c3', { app: 'web' }, 'other'), container('c4', { app: 'web' })]);
    expect(rows.map((row) => [row.name, row.origin, row.action, row.containers, row.rules])).toEqual([
      ['from-dir', '/etc/bulwark/policies/a.yaml:1:1', 'Block', 2, 1],
      ['one', 'applied', 'Block', 2, 3],
    ]);
    expect(rows[1]!.appliedFrom).toBe('/root/p.yaml');
    expect(formatPolicyTable(rows).split('\n')[0]).toBe('KIND             NAMESPACE  NAME      ACTION  ORIGIN                            CONTAINERS  RULES');
    expect(formatPolicyTable([])).toContain('(no policies in force)');
  });
});
