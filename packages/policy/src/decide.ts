/**
 * What the enforcer decides for one operation, computed from a compiled
 * rule set the way the kernel program decides it (src/bpf/enforcer.bpf.c
 * in @bulwark/ebpf-lsm): every rule of the acting process's source and of
 * every process that matches the resource and the operation counts; per
 * action, ownerOnly spares the owner (Block, Audit) or only allows the
 * owner (Allow); then Block over Audit over Allow; and when nothing allows
 * and the category has Allow rules, the category's posture.
 */
import { FILE_OPERATIONS, globMatch, isGlob, OPERATION_BITS, WRITE_OPERATIONS, type PathOperation, type Rule } from '@bulwark/ebpf-lsm/rules';
import type { CompiledPolicySet, CompiledRule, PostureSetting } from './compile.js';

export type FileOperation = Exclude<PathOperation, 'open'>;

/** One operation by one process. */
export type Query =
  | { readonly operation: FileOperation; readonly path: string; readonly source?: string; readonly owner?: boolean }
  | { readonly operation: 'socket'; readonly family: number; readonly type: number; readonly protocol: number; readonly source?: string }
  | { readonly operation: 'capability'; readonly capability: number; readonly source?: string };

export type Decision =
  | { readonly verdict: 'block' | 'audit'; readonly by: 'rule'; readonly rule: CompiledRule }
  | { readonly verdict: 'allow'; readonly by: 'rule'; readonly rule: CompiledRule }
  | { readonly verdict: 'allow'; readonly by: 'none' }
  | { readonly verdict: 'posture-block' | 'posture-audit'; readonly by: 'posture'; readonly category: Category };

type Category = 'file' | 'process' | 'network' | 'capabilities';

const ACTION_ORDER = ['block', 'audit', 'allow'] as const;

export function decide(compiled: CompiledPolicySet, query: Query): Decision {
  const bit = OPERATION_BITS[query.operation];
  const matched: Record<(typeof ACTION_ORDER)[number], { rules: CompiledRule[]; plain: boolean }> = {
    block: { rules: [], plain: false },
    audit: { rules: [], plain: false },
    allow: { rules: [], plain: false },
  };
  for (const entry of compiled.rules) {
    const rule = entry.rule;
    if (rule.fromSource !== undefined && rule.fromSource !== query.source) continue;
    const match = matches(rule, query, bit);
    if (match === 'no') continue;
    const action = rule.action ?? 'block';
    // A glob the matcher cannot decide counts for Block and Audit, never for Allow (the kernel fails closed).
    if (match === 'undecided' && action === 'allow') continue;
    const slot = matched[action];
    slot.rules.push(entry);
    if (rule.kind === undefined || rule.kind === 'path' ? (rule as { ownerOnly?: boolean }).ownerOnly !== true : true) slot.plain = true;
  }
  const owner = 'owner' in query ? query.owner : true;
  for (const action of ACTION_ORDER) {
    const slot = matched[action];
    if (slot.rules.length === 0) continue;
    // Rules that all are ownerOnly: Block/Audit spare the owner, Allow allows only the owner.
    const applies = slot.plain || (action === 'allow' ? owner : !owner);
    if (!applies) continue;
    const rule = slot.rules.reduce((best, entry) => (entry.rule.id < best.rule.id ? entry : best));
    return action === 'allow' ? { verdict: 'allow', by: 'rule', rule } : { verdict: action, by: 'rule', rule };
  }
  const category = categoryOf(query.operation);
  const inAllowList = compiled.rules.some((entry) => (entry.rule.action ?? 'block') === 'allow' && categoryOf(operationsOf(entry.rule)) === category);
  if (inAllowList) {
    const posture: PostureSetting = compiled.postures[category];
    if (posture === 'block') return { verdict: 'posture-block', by: 'posture', category };
    if (posture === 'audit') return { verdict: 'posture-audit', by: 'posture', category };
  }
  return { verdict: 'allow', by: 'none' };
}

function categoryOf(operation: string): Category {
  if (operation === 'exec') return 'process';
  if (operation === 'socket') return 'network';
  if (operation === 'capability') return 'capabilities';
  return 'file';
}

/** A representative operation of a rule's category. */
function operationsOf(rule: Rule): string {
  if (rule.kind === 'socket') return 'socket';
  if (rule.kind === 'capability') return 'capability';
  if (rule.kind === 'preset') return 'exec';
  const operations = rule.operations;
  if (operations !== undefined && operations.length > 0 && operations.every((operation) => operation === 'exec')) return 'exec';
  return 'read';
}

function pathOperationBits(rule: Rule & { kind?: 'path' }): number {
  let bits = 0;
  if (rule.operations === undefined) bits = FILE_OPERATIONS;
  else for (const operation of rule.operations) bits |= operation === 'open' ? OPERATION_BITS.read | OPERATION_BITS.write : OPERATION_BITS[operation];
  if (rule.readOnly === true) bits &= rule.action === 'allow' ? OPERATION_BITS.read | OPERATION_BITS.exec : WRITE_OPERATIONS;
  return bits;
}

function matches(rule: Rule, query: Query, bit: number): 'yes' | 'no' | 'undecided' {
  if (query.operation === 'socket') {
    if (rule.kind !== 'socket') return 'no';
    return (rule.family === undefined || rule.family === query.family) &&
      rule.type === query.type &&
      (rule.protocol === undefined || rule.protocol === query.protocol) &&
      // The kernel looks up (family, type, protocol), (family, type, any) and (any, type, any) only.
      !(rule.family === undefined && rule.protocol !== undefined)
      ? 'yes'
      : 'no';
  }
  if (query.operation === 'capability') return rule.kind === 'capability' && rule.capability === query.capability ? 'yes' : 'no';
  if (rule.kind !== undefined && rule.kind !== 'path') return 'no';
  const path = query.path;
  const protect = (rule.action ?? 'block') === 'block' && (bit & (OPERATION_BITS.rename | OPERATION_BITS.link)) !== 0;
  if (protect && isProtectedName(rule.path, path)) return 'yes';
  if ((pathOperationBits(rule) & bit) === 0) return 'no';
  if (isGlob(rule.path)) {
    const result = globMatch(rule.path, path);
    return result === 'match' ? 'yes' : result === 'undecided' ? 'undecided' : 'no';
  }
  if (!rule.path.endsWith('/')) return rule.path === path ? 'yes' : 'no';
  const directory = rule.path;
  if (path === directory.slice(0, -1) || path === directory) return 'yes';
  if (!path.startsWith(directory)) return directory === '/' && path === '/' ? 'yes' : 'no';
  if (rule.recursive !== false) return 'yes';
  return path.slice(directory.length).includes('/') ? 'no' : 'yes';
}

/**
 * A Block rule keeps its name: no rename or link of the path (a pattern's
 * match, or its fixed part's directories) or of a directory above it.
 */
function isProtectedName(rulePath: string, path: string): boolean {
  let name = rulePath.endsWith('/') && rulePath !== '/' ? rulePath.slice(0, -1) : rulePath;
  if (isGlob(name)) {
    if (globMatch(name, path) !== 'no-match') return true;
    const first = name.search(/[*?]/u);
    name = name.slice(0, name.lastIndexOf('/', first));
  }
  if (name === '' || name === '/') return false;
  return name === path || name.startsWith(`${path}/`);
}
