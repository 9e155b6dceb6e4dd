import { describe, expect, it } from 'vitest';
import { parsePolicies, type Policy } from './parse.js';
import { hostWorkload, matchPolicy, parseLabelList, selectPolicies, workloadFromReport, type Workload } from './select.js';

function policy(text: string): Policy {
  const result = parsePolicies(text, 'test.yaml');
  expect(result.errors.map((error) => error.message)).toEqual([]);
  return result.policies[0]!;
}

const ksp = (selector: string, namespace = 'shop', name = 'p') => `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: ${name}
${namespace === '' ? '' : `  namespace: ${namespace}\n`}spec:
  selector:
${selector}
  file:
    matchPaths:
    - path: /etc/shadow
`;

const web: Workload = { kind: 'container', name: 'web-1', namespace: 'shop', labels: { app: 'web', tier: 'front' } };

describe('selection', () => {
  it('matches every matchLabels pair, in the policy namespace', () => {
    expect(matchPolicy(policy(ksp('    matchLabels:\n      app: web\n      tier: front')), web).selected).toBe(true);
    const other = matchPolicy(policy(ksp('    matchLabels:\n      app: web\n      tier: back')), web);
    expect(other).toEqual({ selected: false, reason: 'selector.matchLabels tier=back: the label is "front"' });
    expect(matchPolicy(policy(ksp('    matchLabels:\n      app: web', 'bank')), web).reason).toBe("namespace bank, the container's is shop");
    // Without metadata.namespace, every namespace.
    expect(matchPolicy(policy(ksp('    matchLabels:\n      app: web', '')), { ...web, namespace: 'bank' }).selected).toBe(true);
  });

  it('selects nothing with an empty selector, as KubeArmor', () => {
    const result = matchPolicy(policy(ksp('    matchLabels: {}')), web);
    expect(result.selected).toBe(false);
    expect(result.reason).toContain('selects no container');
  });

  it('reads kubearmor.io/container.name as a list or an RE2 expression over the whole name', () => {
    const named = (value: string) => policy(ksp(`    matchLabels:\n      kubearmor.io/container.name: "${value}"`));
    expect(matchPolicy(named('[db, web-1]'), web).selected).toBe(true);
    expect(matchPolicy(named('[db, web]'), web).selected).toBe(false);
    expect(matchPolicy(named('web-[0-9]+'), web).selected).toBe(true);
    expect(matchPolicy(named('web'), web).selected).toBe(false); // the whole name, not a part of it
    expect(matchPolicy(named('.*'), web).selected).toBe(true);
  });

  it('refuses a container-name expression RE2 does not take, at its line and column', () => {
    const result = parsePolicies(ksp('    matchLabels:\n      kubearmor.io/container.name: "(a)\\\\1"'), 'bad.yaml');
    expect(result.errors).toHaveLength(1);
    const issue = result.errors[0]!.issues[0]!;
    expect(issue.path).toBe('spec.selector.matchLabels.kubearmor.io/container.name');
    expect([issue.line, issue.column]).toEqual([9, 36]);
    expect(issue.message).toContain('expected a container-name list [a, b] or an RE2 regular expression');
  });

  it('applies label expressions: In has one of the labels, NotIn none', () => {
    const expression = (operator: string, values: string) => policy(ksp(`    matchExpressions:\n    - key: label\n      operator: ${operator}\n      values: [${values}]`));
    expect(matchPolicy(expression('In', 'app=db, app=web'), web).selected).toBe(true);
    expect(matchPolicy(expression('In', 'app=db'), web).selected).toBe(false);
    expect(matchPolicy(expression('NotIn', 'app=db'), web).selected).toBe(true);
    expect(matchPolicy(expression('NotIn', 'tier=front'), web).selected).toBe(false);
  });

  it('selects by namespace in cluster policies, and every container without expressions', () => {
    const csp = (selector: string) =>
      policy(`apiVersion: security.kubearmor.com/v1\nkind: KubeArmorClusterPolicy\nmetadata:\n  name: c\nspec:\n${selector}  process:\n    matchPaths:\n    - path: /bin/sh\n`);
    const inShop = csp('  selector:\n    matchExpressions:\n    - key: namespace\n      operator: In\n      values: [shop]\n');
    expect(matchPolicy(inShop, web).selected).toBe(true);
    expect(matchPolicy(inShop, { ...web, namespace: 'bank' }).selected).toBe(false);
    const notShop = csp('  selector:\n    matchExpressions:\n    - key: namespace\n      operator: NotIn\n      values: [shop]\n');
    expect(matchPolicy(notShop, web).selected).toBe(false);
    expect(matchPolicy(notShop, { kind: 'container', labels: {} }).selected).toBe(true);
    expect(matchPolicy(csp(''), web).selected).toBe(true);
    expect(matchPolicy(csp(''), hostWorkload('node')).selected).toBe(false);
  });

  it('selects the host by nodeSelector, and never a container', () => {
    const hsp = policy(`apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata:
  name: h
spec:
  nodeSelector:
    matchLabels:
      kubernetes.io/hostname: node-1
  file:
    matchPaths:
    - path: /etc/shadow
`);
    expect(matchPolicy(hsp, hostWorkload('node-1')).selected).toBe(true);
    expect(matchPolicy(hsp, hostWorkload('node-2')).selected).toBe(false);
    expect(matchPolicy(hsp, web).selected).toBe(false);
  });

  it('orders selected policies by kind, namespace and name, whatever the load order', () => {
    const texts = [ksp('    matchLabels:\n      app: web', 'shop', 'zeta'), ksp('    matchLabels:\n      app: web', '', 'alpha'), ksp('    matchLabels:\n      app: web', 'shop', 'beta')];
    const forward = selectPolicies(texts.map(policy), web).map((selected) => selected.name);
    const backward = selectPolicies([...texts].reverse().map(policy), web).map((selected) => selected.name);
    expect(forward).toEqual(['alpha', 'beta', 'zeta']);
    expect(backward).toEqual(forward);
  });
});

describe('workloads', () => {
  it('takes every annotation as a label, with the CRI-O labels laid over them', () => {
    const workload = workloadFromReport({
      id: 'abc',
      names: { runtime: 'cri-o', name: 'web', podName: 'web-0', podNamespace: 'shop', image: 'nginx:1' },
      annotations: {
        'io.kubernetes.cri-o.Labels': JSON.stringify({ app: 'web', 'io.kubernetes.pod.namespace': 'shop' }),
        app: 'stale',
        team: 'blue',
      },
    });
    expect(workload).toMatchObject({ kind: 'container', id: 'abc', name: 'web', namespace: 'shop', pod: 'web-0', image: 'nginx:1' });
    expect(workload.labels).toMatchObject({ app: 'web', team: 'blue', 'io.kubernetes.pod.namespace': 'shop' });
  });

  it('keeps a labels annotation that is not JSON as a plain label', () => {
    const workload = workloadFromReport({ id: 'x', names: { runtime: 'unknown' }, annotations: { 'io.kubernetes.cri-o.Labels': '{not json' } });
    expect(workload.labels['io.kubernetes.cri-o.Labels']).toBe('{not json');
    expect(workload.namespace).toBeUndefined();
  });

  it('parses a k=v list and refuses an item without =', () => {
    expect(parseLabelList('app=web, tier=front,empty=')).toEqual({ app: 'web', tier: 'front', empty: '' });
    expect(() => parseLabelList('app')).toThrow('expected key=value, got "app"');
  });
});
