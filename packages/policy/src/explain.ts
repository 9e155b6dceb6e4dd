/**
 * A human-readable account of a compiled set: for each resource, what
 * happens to it and which policy decides it; what the posture does; what
 * is not enforced and why; and, for given operations, the decision.
 */
import { isGlob, type Rule } from '@bulwark/ebpf-lsm/rules';
import type { CompiledPolicySet, CompiledRule, NotEnforced, PostureSetting } from './compile.js';
import { decide, type Decision, type Query } from './decide.js';
import { capabilityName, describeSocket } from './resources.js';
import type { Workload } from './select.js';
import { compact } from './compact.js';

export interface ExplainedRule {
  readonly id: number;
  readonly action: 'Allow' | 'Audit' | 'Block';
  /** What the rule decides, in words: `exec /bin/ls`, `read, write ... /etc/`, `socket AF_INET SOCK_STREAM 0`. */
  readonly what: string;
  readonly fromSource?: string;
  readonly policy: string;
  readonly where: string;
  readonly note?: string;
}

export interface ExplainedCategory {
  readonly category: 'file' | 'process' | 'network' | 'capabilities';
  /** allow-list: the category has Allow rules, so what no rule allows falls to the posture. */
  readonly mode: 'allow-list' | 'rules only';
  readonly posture: PostureSetting;
}

export interface ExplainedDecision {
  readonly query: Query;
  readonly decision: Decision;
  readonly text: string;
}

export interface Explanation {
  readonly workload: Workload;
  readonly policies: CompiledPolicySet['policies'];
  readonly categories: readonly ExplainedCategory[];
  readonly rules: readonly ExplainedRule[];
  readonly notEnforced: readonly NotEnforced[];
  readonly decisions: readonly ExplainedDecision[];
}

export function explain(compiled: CompiledPolicySet, queries: readonly Query[] = []): Explanation {
  const categories = (['file', 'process', 'network', 'capabilities'] as const).map((category) => ({
    category,
    mode: compiled.rules.some((entry) => (entry.rule.action ?? 'block') === 'allow' && categoryOfRule(entry.rule) === category) ? ('allow-list' as const) : ('rules only' as const),
    posture: compiled.postures[category],
  }));
  return {
    workload: compiled.workload,
    policies: compiled.policies,
    categories,
    rules: compiled.rules.map(explainRule),
    notEnforced: compiled.notEnforced,
    decisions: queries.map((query) => {
      const decision = decide(compiled, query);
      return { query, decision, text: describeDecision(query, decision) };
    }),
  };
}

function explainRule(entry: CompiledRule): ExplainedRule {
  const { rule, origin } = entry;
  return compact({
    id: rule.id,
    action: origin.action,
    what: describeRule(rule),
    fromSource: rule.fromSource,
    policy: `${origin.kind}${origin.namespace === undefined ? '' : ` ${origin.namespace}`}/${origin.policy}`,
    where: `${origin.source}:${origin.line}:${origin.column} spec.${origin.field}`,
    note: entry.note,
  });
}

function categoryOfRule(rule: Rule): 'file' | 'process' | 'network' | 'capabilities' {
  if (rule.kind === 'socket') return 'network';
  if (rule.kind === 'capability') return 'capabilities';
  if (rule.kind === 'preset') return 'process';
  return rule.operations !== undefined && rule.operations.every((operation) => operation === 'exec') ? 'process' : 'file';
}

export function describeRule(rule: Rule): string {
  if (rule.kind === 'socket') return `socket ${describeSocket(rule)}`;
  if (rule.kind === 'capability') return `capability ${capabilityName(rule.capability)}`;
  if (rule.kind === 'preset') return rule.preset === 'filelessExec' ? 'exec of a file with no name left (memfd, unlinked)' : 'executable mapping of no file';
  const exec = rule.operations !== undefined && rule.operations.every((operation) => operation === 'exec');
  const what = exec ? 'exec' : rule.readOnly === true ? (rule.action === 'allow' ? 'read' : 'write (readOnly)') : 'any file operation';
  const target = isGlob(rule.path)
    ? `paths matching ${rule.path}`
    : rule.path.endsWith('/')
      ? `${rule.path} and ${rule.recursive === false ? 'its entries' : 'everything under it'}`
      : rule.path;
  const owner = rule.ownerOnly === true ? (rule.action === 'allow' ? ', by the owner only' : ', except by the owner') : '';
  return `${what} ${target}${owner}`;
}

export function describeQuery(query: Query): string {
  const by = query.source === undefined ? '' : ` by ${query.source}`;
  if (query.operation === 'socket') return `socket ${describeSocket(query)}${by}`;
  if (query.operation === 'capability') return `capability ${capabilityName(query.capability)}${by}`;
  const owner = query.owner === true ? ' (as its owner)' : '';
  return `${query.operation} ${query.path}${by}${owner}`;
}

export function describeDecision(query: Query, decision: Decision): string {
  const what = describeQuery(query);
  if (decision.by === 'rule') {
    const origin = decision.rule.origin;
    return `${what}: ${decision.verdict} by rule ${decision.rule.rule.id} (${origin.kind}/${origin.policy} spec.${origin.field}, ${origin.source}:${origin.line}:${origin.column})`;
  }
  if (decision.by === 'posture') return `${what}: ${decision.verdict} (no Allow rule matches, and the ${decision.category} posture applies)`;
  return `${what}: allow (no rule matches)`;
}

/** The explanation as text, one fact per line. */
export function formatExplanation(explanation: Explanation): string {
  const lines: string[] = [];
  const workload = explanation.workload;
  const labels = Object.entries(workload.labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(', ');
  lines.push(
    `${workload.kind}${workload.name === undefined ? '' : ` ${workload.name}`}${workload.namespace === undefined ? '' : ` in namespace ${workload.namespace}`}${labels === '' ? '' : ` (labels: ${labels})`}`,
  );
  if (explanation.policies.length === 0) lines.push('policies: none select it');
  else {
    lines.push('policies, in the order they are compiled:');
    for (const policy of explanation.policies) lines.push(`  ${policy.kind}${policy.namespace === undefined ? '' : ` ${policy.namespace}`}/${policy.name} (${policy.source})`);
  }
  lines.push('categories:');
  for (const category of explanation.categories) {
    lines.push(
      `  ${category.category}: ${category.mode === 'allow-list' ? `allow-list, everything else ${category.posture === 'block' ? 'blocked' : category.posture === 'audit' ? 'audited' : 'allowed'} by the ${category.posture} posture` : 'only what the rules name'}`,
    );
  }
  if (explanation.rules.length > 0) {
    lines.push('rules (Block over Audit over Allow where several match):');
    for (const rule of explanation.rules) {
      lines.push(`  ${rule.id}. ${rule.action} ${rule.what}${rule.fromSource === undefined ? '' : ` from ${rule.fromSource}`}  <- ${rule.policy} (${rule.where})${rule.note === undefined ? '' : ` [${rule.note}]`}`);
    }
  }
  if (explanation.notEnforced.length > 0) {
    lines.push('not enforced:');
    for (const item of explanation.notEnforced) {
      lines.push(`  ${item.kind}/${item.policy}${item.field === '' ? '' : ` spec.${item.field}`} (${item.source}:${item.line}:${item.column}): ${item.why}`);
    }
  }
  if (explanation.decisions.length > 0) {
    lines.push('decisions:');
    for (const decision of explanation.decisions) lines.push(`  ${decision.text}`);
  }
  return `${lines.join('\n')}\n`;
}

