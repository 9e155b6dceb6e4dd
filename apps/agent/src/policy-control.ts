/**
 * The policy set in force: the policy directory's policies, then those
 * applied over the control socket. Planning an apply or a delete, and
 * listing, is plain data here (unit-tested); agent.ts persists the plan
 * (applied-policies.ts) and puts the new set in force.
 */
import { describeIssue } from '@bulwark/errors';
import type { ContainerReport } from '@bulwark/hook-client';
import { matchPolicy, parsePolicies, workloadFromReport, type Policy } from '@bulwark/policy';
import { parseAllDocuments } from 'yaml';
import { policyKey, type AppliedRecord } from './applied-policies.js';

export interface AppliedPolicy {
  readonly record: AppliedRecord;
  readonly policy: Policy;
}

export interface ApplyFile {
  readonly source: string;
  readonly text: string;
}

export interface PlannedChange {
  readonly policy: Policy;
  readonly record: AppliedRecord;
  /** `created`: no applied policy had its kind, namespace and name; `configured`: it replaces one. */
  readonly action: 'created' | 'configured';
}

export type ApplyPlan = { readonly ok: true; readonly changes: readonly PlannedChange[] } | { readonly ok: false; readonly problems: readonly string[] };

export interface PolicyRow {
  readonly kind: string;
  readonly namespace: string | null;
  readonly name: string;
  readonly action: string;
  /** `file:line:column` of a directory policy, or `applied`. */
  readonly origin: string;
  /** The file an applied policy was applied from. */
  readonly appliedFrom?: string;
  readonly containers: number;
  readonly rules: number;
}

/** `KubeArmorPolicy default/name`, for messages. */
export function describePolicy(policy: { readonly kind: string; readonly namespace: string | undefined; readonly name: string }): string {
  return `${policy.kind} ${policy.namespace === undefined ? '' : `${policy.namespace}/`}${policy.name}`;
}

const at = (policy: Policy) => `${policy.source}:${policy.position.line}:${policy.position.column}`;

/** The text of document `index` of a YAML stream (the same split parsePolicies makes). */
export function sliceDocument(text: string, index: number): string | undefined {
  const documents = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: false, strict: true, stringKeys: true });
  if ('empty' in documents) return undefined;
  const document = documents[index];
  if (document === undefined) return undefined;
  return `${text.slice(document.range[0], document.range[2]).replace(/\s+$/u, '')}\n`;
}

/** Parses one stored record back into its policy; a problem string when it no longer is exactly that policy. */
export function policyFromRecord(record: AppliedRecord): Policy | string {
  const parsed = parsePolicies(record.text, record.source);
  const problems = parsed.errors.flatMap((error) => error.issues.map((issue) => describeIssue(error.source, issue)));
  if (problems.length > 0) return problems.join('; ');
  const [policy, ...others] = parsed.policies;
  if (policy === undefined || others.length > 0 || policyKey(policy) !== policyKey(record)) {
    return `${record.source}: the stored document is not the one policy ${describePolicy(record)}`;
  }
  return policy;
}

/** Duplicates between the directory's policies and the applied ones, each naming both origins. */
export function findConflicts(directory: readonly Policy[], applied: readonly AppliedPolicy[]): string[] {
  const byKey = new Map(directory.map((policy) => [policyKey(policy), policy]));
  const problems: string[] = [];
  for (const { policy, record } of applied) {
    const earlier = byKey.get(policyKey(policy));
    if (earlier !== undefined) {
      problems.push(`${describePolicy(policy)} is defined in the policy directory at ${at(earlier)} and applied from ${record.source}; delete one of them`);
    }
  }
  return problems;
}

/**
 * What applying `files` would do, given the directory's policies and those
 * applied before: every file must validate, no policy may be given twice,
 * and none may have a directory policy's kind, namespace and name.
 */
export function planApply(files: readonly ApplyFile[], directory: readonly Policy[], applied: ReadonlyMap<string, AppliedPolicy>, now: Date = new Date()): ApplyPlan {
  const problems: string[] = [];
  const changes: PlannedChange[] = [];
  const seen = new Map<string, Policy>();
  for (const file of files) {
    const parsed = parsePolicies(file.text, file.source);
    problems.push(...parsed.errors.flatMap((error) => error.issues.map((issue) => describeIssue(error.source, issue))));
    if (parsed.errors.length === 0 && parsed.policies.length === 0) problems.push(`${file.source}: no policy in it`);
    for (const original of parsed.policies) {
      const key = policyKey(original);
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        problems.push(`${at(original)}: metadata.name: ${describePolicy(original)} is already defined at ${at(earlier)}`);
        continue;
      }
      seen.set(key, original);
      const text = sliceDocument(file.text, original.document);
      const record: AppliedRecord = { kind: original.kind, namespace: original.namespace, name: original.name, source: file.source, text: text ?? '', appliedAt: now.toISOString() };
      const policy = policyFromRecord(record);
      if (typeof policy === 'string') {
        problems.push(`${at(original)}: this document cannot be kept on its own: ${policy}`);
        continue;
      }
      changes.push({ policy, record, action: applied.has(key) ? 'configured' : 'created' });
    }
  }
  problems.push(...findConflicts(directory, changes));
  return problems.length > 0 ? { ok: false, problems } : { ok: true, changes };
}

export interface DeleteQuery {
  readonly name: string;
  readonly namespace?: string | undefined;
  readonly kind?: string | undefined;
}

/** The applied policy a delete names (its key), or a one-line reason it cannot be deleted. */
export function planDelete(query: DeleteQuery, directory: readonly Policy[], applied: ReadonlyMap<string, AppliedPolicy>): { readonly key: string; readonly policy: Policy } | { readonly problem: string } {
  const matches = (policy: Policy) =>
    policy.name === query.name &&
    (query.namespace === undefined || policy.namespace === query.namespace) &&
    (query.kind === undefined || policy.kind.toLowerCase() === query.kind.toLowerCase());
  const fromDirectory = directory.filter(matches);
  const fromApplied = [...applied.values()].map((entry) => entry.policy).filter(matches);
  const all = [...fromDirectory, ...fromApplied];
  const label = `${query.kind === undefined ? '' : `${query.kind} `}${query.namespace === undefined ? '' : `${query.namespace}/`}${query.name}`;
  if (all.length === 0) return { problem: `no policy ${label} is in force` };
  if (all.length > 1) {
    return { problem: `${label} names ${all.length} policies (${all.map(describePolicy).join(', ')}); give --namespace or --kind` };
  }
  const [found] = all as [Policy];
  if (fromDirectory.length === 1) return { problem: `${describePolicy(found)} comes from the policy directory; remove it from ${found.source}` };
  return { key: policyKey(found), policy: found };
}

/** How many rules a policy's spec has: the entries of every `match*` list in its sections. */
export function countRules(policy: Policy): number {
  let rules = 0;
  for (const section of Object.values(policy.spec as Record<string, unknown>)) {
    if (typeof section !== 'object' || section === null || Array.isArray(section)) continue;
    for (const [key, value] of Object.entries(section)) if (key.startsWith('match') && Array.isArray(value)) rules += value.length;
  }
  return rules;
}

/** One row per policy in force, in the order they are in force. */
export function listPolicies(policies: readonly Policy[], applied: ReadonlyMap<string, AppliedPolicy>, containers: readonly ContainerReport[]): PolicyRow[] {
  const workloads = containers.map((container) => workloadFromReport(container));
  return policies.map((policy) => {
    const entry = applied.get(policyKey(policy));
    const action = (policy.spec as { action?: unknown }).action;
    return {
      kind: policy.kind,
      namespace: policy.namespace ?? null,
      name: policy.name,
      action: typeof action === 'string' ? action : '-',
      origin: entry === undefined ? at(policy) : 'applied',
      ...(entry === undefined ? {} : { appliedFrom: entry.record.source }),
      containers: workloads.filter((workload) => matchPolicy(policy, workload).selected).length,
      rules: countRules(policy),
    };
  });
}

/** A fixed-width table of `listPolicies` for people. */
export function formatPolicyTable(rows: readonly PolicyRow[]): string {
  const header = ['KIND', 'NAMESPACE', 'NAME', 'ACTION', 'ORIGIN', 'CONTAINERS', 'RULES'];
  const cells = rows.map((row) => [row.kind, row.namespace ?? '-', row.name, row.action, row.origin, String(row.containers), String(row.rules)]);
  if (cells.length === 0) return `${header.join('  ')}\n(no policies in force)\n`;
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((row) => row[column]!.length)));
  return `${[header, ...cells].map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n')}\n`;
}
