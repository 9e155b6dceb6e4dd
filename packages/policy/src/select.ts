/**
 * Which policies apply to a workload (a container, or the host), as
 * KubeArmor selects them, in one documented order.
 */
import type { ContainerReport } from '@bulwark/hook-client';
import { compileRe2 } from '@bulwark/re2';
import type { Policy } from './parse.js';
import { CONTAINER_NAME_LABEL, parseNameList } from './semantic.js';
import { compact } from './compact.js';

/** Who a policy is matched against: a container (as the hook reports it) or the host. */
export interface Workload {
  readonly kind: 'container' | 'host';
  /** The OCI container id. */
  readonly id?: string;
  /** The container's name (for `kubearmor.io/container.name`); the host's name for the host. */
  readonly name?: string;
  /** The pod's namespace: what a KubeArmorPolicy's metadata.namespace and a cluster policy's namespace expressions match. */
  readonly namespace?: string;
  readonly pod?: string;
  readonly image?: string;
  /** Labels matched by matchLabels and label expressions (for the host: nodeSelector's). */
  readonly labels: Readonly<Record<string, string>>;
}

/** The CRI-O annotation holding the pod's labels as a JSON object. */
const CRIO_LABELS = 'io.kubernetes.cri-o.Labels';

/**
 * A container's workload from the hook's report. Its labels are every
 * annotation as `key=value` (as KubeArmor outside Kubernetes reads them),
 * then, over those, the labels of CRI-O's labels annotation (the pod's
 * labels and the kubelet's `io.kubernetes.*` ones).
 */
export function workloadFromReport(report: Pick<ContainerReport, 'id' | 'names' | 'annotations'>): Workload {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(report.annotations ?? {})) labels[key] = value;
  const crio = report.annotations?.[CRIO_LABELS];
  if (crio !== undefined) {
    try {
      const parsed: unknown = JSON.parse(crio);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        for (const [key, value] of Object.entries(parsed)) if (typeof value === 'string') labels[key] = value;
      }
    } catch {
      // Not JSON: the annotation stays a plain label.
    }
  }
  const names = report.names;
  return compact({
    kind: 'container' as const,
    id: report.id,
    name: names.name,
    namespace: names.podNamespace,
    pod: names.podName,
    image: names.image,
    labels,
  });
}

/** The host's workload: its labels for nodeSelector, with `kubernetes.io/hostname` set to `hostname` unless given. */
export function hostWorkload(hostname: string, labels: Readonly<Record<string, string>> = {}): Workload {
  return { kind: 'host', name: hostname, labels: { 'kubernetes.io/hostname': hostname, ...labels } };
}

/** Parses `k=v,k2=v2` (as a command line gives labels). Throws on an item without `=`. */
export function parseLabelList(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of text.split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const equals = trimmed.indexOf('=');
    if (equals <= 0) throw new Error(`expected key=value, got ${JSON.stringify(trimmed)}`);
    labels[trimmed.slice(0, equals)] = trimmed.slice(equals + 1);
  }
  return labels;
}

const KIND_ORDER = { KubeArmorHostPolicy: 0, KubeArmorClusterPolicy: 1, KubeArmorPolicy: 2, KubeArmorNetworkPolicy: 3 } as const;

/**
 * The order policies are compiled in (and rule ids given): host policies,
 * cluster policies, then namespaced ones; within a kind by namespace, then
 * name, then source and document. The first policy's rule is the one an
 * alert names when two rules of the same action decide the same thing.
 */
export function comparePolicies(a: Policy, b: Policy): number {
  return (
    KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
    compareText(a.namespace ?? '', b.namespace ?? '') ||
    compareText(a.name, b.name) ||
    compareText(a.source, b.source) ||
    a.document - b.document
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether one policy selects the workload, and why not when it does not. */
export function matchPolicy(policy: Policy, workload: Workload): { selected: boolean; reason: string } {
  const spec = policy.spec as {
    selector?: { matchLabels?: Record<string, string>; matchExpressions?: { key?: string; operator?: string; values?: string[] }[] };
    nodeSelector?: { matchLabels?: Record<string, string> };
  };
  if (policy.kind === 'KubeArmorNetworkPolicy') return { selected: false, reason: 'network policies are not enforced' };
  if (policy.kind === 'KubeArmorHostPolicy') {
    if (workload.kind !== 'host') return { selected: false, reason: 'host policies select hosts' };
    // As in KubeArmor, a selector without labels selects nothing (a policy is never applied everywhere by omission).
    if (Object.keys(spec.nodeSelector?.matchLabels ?? {}).length === 0) return { selected: false, reason: 'nodeSelector has no matchLabels: it selects no host' };
    return matchLabels(spec.nodeSelector?.matchLabels, workload, 'nodeSelector');
  }
  if (workload.kind !== 'container') return { selected: false, reason: `${policy.kind} selects containers` };
  if (policy.kind === 'KubeArmorPolicy') {
    if (policy.namespace !== undefined && policy.namespace !== workload.namespace) {
      return { selected: false, reason: `namespace ${policy.namespace}, the container's is ${workload.namespace ?? 'none'}` };
    }
    if (Object.keys(spec.selector?.matchLabels ?? {}).length === 0 && (spec.selector?.matchExpressions ?? []).length === 0) {
      return { selected: false, reason: 'selector has no matchLabels or matchExpressions: it selects no container' };
    }
    const labels = matchLabels(spec.selector?.matchLabels, workload, 'selector');
    if (!labels.selected) return labels;
  }
  for (const [index, expression] of (spec.selector?.matchExpressions ?? []).entries()) {
    const values = expression.values ?? [];
    let found: boolean;
    if (expression.key === 'namespace') {
      found = workload.namespace !== undefined && values.includes(workload.namespace);
    } else {
      found = values.some((value) => {
        const equals = value.indexOf('=');
        return workload.labels[value.slice(0, equals)] === value.slice(equals + 1);
      });
    }
    if (found !== (expression.operator === 'In')) {
      return { selected: false, reason: `selector.matchExpressions.${index} (${expression.key} ${expression.operator} ${values.join(', ')}) does not match` };
    }
  }
  return { selected: true, reason: 'selected' };
}

function matchLabels(labels: Record<string, string> | undefined, workload: Workload, where: string): { selected: boolean; reason: string } {
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (key === CONTAINER_NAME_LABEL) {
      const name = workload.name ?? '';
      const list = parseNameList(value);
      const ok = list !== undefined ? list.includes(name) : compileRe2(value, { anchored: 'full' }).test(name);
      if (!ok) return { selected: false, reason: `${where}.matchLabels ${key}: ${value} does not match ${JSON.stringify(name)}` };
      continue;
    }
    if (workload.labels[key] !== value) {
      const has = workload.labels[key];
      return { selected: false, reason: `${where}.matchLabels ${key}=${value}: ${has === undefined ? 'no such label' : `the label is ${JSON.stringify(has)}`}` };
    }
  }
  return { selected: true, reason: 'selected' };
}

/** The policies that select the workload, in compile order (comparePolicies). */
export function selectPolicies(policies: readonly Policy[], workload: Workload): Policy[] {
  return policies.filter((policy) => matchPolicy(policy, workload).selected).sort(comparePolicies);
}

