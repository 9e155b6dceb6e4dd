/**
 * Policies + a workload + postures -> one rule set in the enforcer's rule
 * model (`@bulwark/ebpf-lsm/rules`), each rule carrying the policy and
 * field it came from. Pure and deterministic: the same policies give the
 * same rules in the same order, whatever order they were loaded in.
 *
 * This is the only module that knows both languages; the README's
 * "Semantics" table is its specification.
 */
import { ValidationError } from '@bulwark/errors';
import { encodeRules, isGlob, MAX_GLOBS, type PathOperation, type Postures, type Rule, type RuleAction, type RuleEntry, type RulePart } from '@bulwark/ebpf-lsm/rules';
import type { Policy, Position } from './parse.js';
import { CAPABILITY_NUMBERS, describeSocket, PROTOCOL_SOCKETS, RAW_SOCKETS, splitList, capabilityName } from './resources.js';
import type { PolicyAction, PolicyKind } from './schema.js';
import { selectPolicies, type Workload } from './select.js';
import { normalisePath } from './semantic.js';
import { compact } from './compact.js';

/** A category's posture: what happens to what no rule allows once the category has an Allow rule. */
export type PostureSetting = 'allow' | 'audit' | 'block';
export type Section = 'process' | 'file' | 'network' | 'capabilities';

export interface CompileOptions {
  /**
   * KubeArmor's defaultFilePosture, defaultNetworkPosture and
   * defaultCapabilitiesPosture (default block each). Process rules follow
   * the file posture, as in KubeArmor.
   */
  readonly postures?: { readonly file?: PostureSetting; readonly network?: PostureSetting; readonly capabilities?: PostureSetting };
  /**
   * Directories of the workload's root that are symlinks to others (merged
   * /usr: `/bin` -> `/usr/bin`), as `rootAliases` finds them. A rule path
   * under one also gets a rule on the path the kernel resolves (an exec of
   * `/bin/x` opens `/usr/bin/x`), so that the rule means the file it names.
   */
  readonly rootAliases?: readonly RootAlias[];
  /**
   * The evasion guard of a container (default 'block'): where a file or
   * process rule blocks, or puts its category in allow-list mode, the
   * capabilities that give a file another name are blocked too:
   * CAP_SYS_CHROOT (chroot above a blocked file), CAP_SYS_ADMIN (bind,
   * move and overlay mounts and pivot_root, in a user namespace as well)
   * and CAP_DAC_READ_SEARCH (open_by_handle_at). A capability a policy
   * names itself is left to that policy. 'allow' leaves them alone (a
   * workload that mounts). Host workloads never get the guard.
   */
  readonly evasion?: 'block' | 'allow';
}

/** The capabilities the evasion guard blocks, and why (CompileOptions.evasion). */
export const EVASION_CAPABILITIES = [
  { name: 'sys_chroot', why: 'chroot' },
  { name: 'sys_admin', why: 'mounts and pivot_root' },
  { name: 'dac_read_search', why: 'open_by_handle_at' },
] as const;

/** A top-level directory of a root that is a symlink: paths under `from` are the files under `to` (both end in `/`). */
export interface RootAlias {
  readonly from: string;
  readonly to: string;
}

/**
 * The top-level symlinked directories merged-/usr images have, given how
 * `readlink` reads each in the root (undefined: not a symlink or absent).
 * Pure: the caller reads the root. A link whose target leaves the root or
 * is the root itself is ignored.
 */
export const ROOT_ALIAS_NAMES = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'] as const;

export function rootAliases(readlink: (name: (typeof ROOT_ALIAS_NAMES)[number]) => string | undefined): RootAlias[] {
  const aliases: RootAlias[] = [];
  for (const name of ROOT_ALIAS_NAMES) {
    const target = readlink(name);
    if (target === undefined || target === '') continue;
    const parts: string[] = [];
    let escapes = false;
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (parts.length === 0) escapes = true;
        parts.pop();
        continue;
      }
      parts.push(part);
    }
    if (escapes || parts.length === 0 || (parts.length === 1 && parts[0] === name)) continue;
    aliases.push({ from: `/${name}/`, to: `/${parts.join('/')}/` });
  }
  return aliases;
}

/** Where a rule came from: enough for an alert to name the policy and for a user to find the line. */
export interface RuleOrigin {
  readonly policy: string;
  readonly kind: PolicyKind;
  readonly namespace?: string;
  /** The rule's field, below spec: `file.matchPaths.0`. */
  readonly field: string;
  readonly section: Section;
  readonly source: string;
  readonly line: number;
  readonly column: number;
  readonly action: PolicyAction;
  readonly severity?: number;
  readonly tags: readonly string[];
  readonly message?: string;
  /** What the rule names, as written: a path, a pattern, a protocol, a capability. */
  readonly resource: string;
}

export interface CompiledRule {
  /** The enforcer's rule; `id` is its index in `rules` plus one, the id events carry. */
  readonly rule: Rule & { readonly id: number };
  readonly origin: RuleOrigin;
  /** How the policy's rule became this one, where it is not one to one. */
  readonly note?: string;
}

export interface NotEnforced {
  readonly policy: string;
  readonly kind: PolicyKind;
  readonly namespace?: string;
  /** Below spec (`syscalls`, `process.matchPaths.0.allowedArgs`), or '' for the whole policy. */
  readonly field: string;
  readonly why: string;
  readonly source: string;
  readonly line: number;
  readonly column: number;
}

export interface CompiledPolicySet {
  readonly workload: Workload;
  /** The selected policies, in compile order. */
  readonly policies: readonly { readonly name: string; readonly kind: PolicyKind; readonly namespace?: string; readonly source: string; readonly document: number }[];
  readonly rules: readonly CompiledRule[];
  /** The postures in force, per enforcer category (process follows file). */
  readonly postures: Readonly<Record<'file' | 'process' | 'network' | 'capabilities', PostureSetting>>;
  readonly notEnforced: readonly NotEnforced[];
  /**
   * Where each selected policy's rules sit in `rules` (encodeRules' parts):
   * a policy compiled once is encoded once, and merged into every set that
   * has it.
   */
  readonly parts?: readonly RulePart[];
}

const SECTION_CATEGORY = { process: 'process', file: 'file', network: 'network', capabilities: 'capabilities' } as const;

/**
 * Selects the policies for `workload` (selectPolicies) and compiles them.
 * Throws a ValidationError only for what no single policy shows: more glob
 * patterns for one source than the enforcer holds.
 */
export function compilePolicies(policies: readonly Policy[], workload: Workload, options: CompileOptions = {}): CompiledPolicySet {
  return compileSelected(selectPolicies(policies, workload), workload, options);
}

/** Compiles policies already selected for `workload`, in the order given (selectPolicies gives compile order). */
export function compileSelected(selected: readonly Policy[], workload: Workload, options: CompileOptions = {}): CompiledPolicySet {
  const filePosture = options.postures?.file ?? 'block';
  const postures = {
    file: filePosture,
    process: filePosture,
    network: options.postures?.network ?? 'block',
    capabilities: options.postures?.capabilities ?? 'block',
  };
  const rules: CompiledRule[] = [];
  const notEnforced: NotEnforced[] = [];
  const aliases = options.rootAliases ?? [];
  const variant = `${postures.file}\u0000${postures.network}\u0000${postures.capabilities}\u0000${aliases.map((alias) => `${alias.from}\u0000${alias.to}`).join('\u0000')}`;
  const parts: RulePart[] = [];
  for (const policy of selected) {
    const own = compiledPolicy(policy, postures, aliases, variant);
    // A policy's rules are numbered from 1 on their own: here they follow the rules before them.
    const offset = rules.length;
    for (const entry of own.rules) rules.push(offset === 0 ? entry : { ...entry, rule: { ...entry.rule, id: entry.rule.id + offset } });
    if (own.rules.length > 0) parts.push({ start: offset, count: own.rules.length, key: own });
    notEnforced.push(...own.notEnforced);
  }
  if (workload.kind === 'container' && (options.evasion ?? 'block') === 'block') addEvasionGuard(rules, postures);
  checkGlobCount(rules);
  return {
    workload,
    policies: selected.map((policy) => compact({ name: policy.name, kind: policy.kind, namespace: policy.namespace, source: policy.source, document: policy.document })),
    rules,
    postures,
    notEnforced,
    parts,
  };
}

/**
 * Each policy's own rules, compiled once for each variant of the postures
 * and root aliases they depend on (a policy is never changed once parsed:
 * a changed file is a new Policy). Shared by every workload the policy
 * selects, so a new workload's set costs the compile of no policy already
 * seen. The entries are not to be changed by callers (they are not).
 */
const compiledPolicies = new WeakMap<Policy, Map<string, { rules: readonly CompiledRule[]; notEnforced: readonly NotEnforced[] }>>();
/** The most variants kept per policy (a workload's root aliases are one of very few in practice). */
const MAX_VARIANTS = 16;

function compiledPolicy(policy: Policy, postures: Record<'file' | 'process' | 'network' | 'capabilities', PostureSetting>, aliases: readonly RootAlias[], variant: string) {
  let variants = compiledPolicies.get(policy);
  const found = variants?.get(variant);
  if (found !== undefined) return found;
  const rules: CompiledRule[] = [];
  const notEnforced: NotEnforced[] = [];
  compileOne(policy, postures, rules, notEnforced, aliases);
  const compiled = { rules, notEnforced };
  if (variants === undefined) {
    variants = new Map();
    compiledPolicies.set(policy, variants);
  }
  if (variants.size >= MAX_VARIANTS) variants.delete(variants.keys().next().value!);
  variants.set(variant, compiled);
  return compiled;
}

/**
 * The evasion guard (CompileOptions.evasion): Block rules on
 * EVASION_CAPABILITIES, credited to the first file or process rule that
 * needs them, after every policy's own rules.
 */
function addEvasionGuard(rules: CompiledRule[], postures: Record<'file' | 'process' | 'network' | 'capabilities', PostureSetting>): void {
  const needs = rules.find(({ rule, origin }) => {
    if (origin.section !== 'file' && origin.section !== 'process') return false;
    return rule.action === 'block' || (rule.action === 'allow' && postures[SECTION_CATEGORY[origin.section]] === 'block');
  });
  if (needs === undefined) return;
  const named = new Set(rules.flatMap(({ rule }) => (rule.kind === 'capability' ? [rule.capability] : [])));
  for (const { name, why } of EVASION_CAPABILITIES) {
    const capability = CAPABILITY_NUMBERS[name]!;
    if (named.has(capability)) continue;
    rules.push({
      rule: { kind: 'capability', capability, action: 'block', id: rules.length + 1 },
      origin: { ...needs.origin, section: 'capabilities', action: 'Block', resource: name },
      note: `evasion guard: ${capabilityName(capability)} (${why}) would give a file another name than its rule's; blocked for the workload, not the runtime's set-up (evasionPosture: allow turns this off)`,
    });
  }
}

/** The other names `path` has in a root with `aliases` (none, or the one its aliased directory resolves to). */
function aliasesOf(path: string, aliases: readonly RootAlias[]): string[] {
  for (const alias of aliases) if (path.startsWith(alias.from)) return [alias.to + path.slice(alias.from.length)];
  return [];
}

/** The set's enforcer entries (encodeRules with the set's postures): what goes into the workload's inner map. */
export function encodeCompiled(compiled: CompiledPolicySet): RuleEntry[] {
  return encodeRules(
    compiled.rules.map((entry) => entry.rule),
    { postures: enforcerPostures(compiled), ...(compiled.parts === undefined ? {} : { parts: compiled.parts }) },
  );
}

/** The enforcer's postures: allow needs none (its allow rules are left out), audit and block are the enforcer's. */
export function enforcerPostures(compiled: CompiledPolicySet): Postures {
  const postures: Postures = {};
  for (const category of ['file', 'process', 'network', 'capabilities'] as const) {
    const setting = compiled.postures[category];
    if (setting !== 'allow') postures[category] = setting;
  }
  return postures;
}

interface Inherited {
  action: PolicyAction;
  severity?: number;
  tags: readonly string[];
  message?: string;
}

interface RuleFields {
  action?: string;
  severity?: number;
  tags?: string[];
  message?: string;
  fromSource?: { path?: string }[];
}

function compileOne(
  policy: Policy,
  postures: Record<'file' | 'process' | 'network' | 'capabilities', PostureSetting>,
  rules: CompiledRule[],
  notEnforced: NotEnforced[],
  aliases: readonly RootAlias[],
): void {
  const spec = policy.spec as Record<string, unknown> & RuleFields;
  const positionOf = (field: string): Position => policy.positions.get(field === '' ? 'spec' : `spec.${field}`) ?? policy.position;
  const skip = (field: string, why: string) => {
    const { line, column } = policy.keys.get(`spec.${field}`) ?? positionOf(field);
    notEnforced.push(compact({ policy: policy.name, kind: policy.kind, namespace: policy.namespace, field, why, source: policy.source, line, column }));
  };
  if (policy.kind === 'KubeArmorNetworkPolicy') {
    skip('', 'host network rules (KubeArmorNetworkPolicy): the enforcer decides socket creation, not traffic');
    return;
  }
  if (spec.syscalls !== undefined) skip('syscalls', 'system call rules: they need a seccomp or tracing enforcer; the BPF LSM one decides files, exec, sockets and capabilities');
  if (spec.apparmor !== undefined) skip('apparmor', 'a native AppArmor profile: Bulwark enforces through BPF LSM, not AppArmor');
  if (spec.device !== undefined) skip('device', 'device rules: the enforcer has no device hook');

  /** Where a rule comes from: its policy, field and position, and what it inherited. */
  const originOf = (field: string, section: RuleOrigin['section'], own: Inherited, resource: string): RuleOrigin => {
    const { line, column } = positionOf(field);
    return compact({
      policy: policy.name,
      kind: policy.kind,
      namespace: policy.namespace,
      field,
      section,
      source: policy.source,
      line,
      column,
      action: own.action,
      severity: own.severity,
      tags: own.tags,
      message: own.message,
      resource,
    });
  };
  const top: Inherited = inherit({ action: 'Block', tags: [] }, spec);
  (spec.presets as (RuleFields & { name?: string })[] | undefined)?.forEach((item, index) => {
    const field = `presets.${index}`;
    const preset = PRESET_RULES[item.name ?? ''];
    if (preset === undefined) {
      skip(field, `the ${item.name === undefined ? 'unnamed' : `'${item.name}'`} preset: Bulwark enforces ${Object.keys(PRESET_RULES).join(' and ')}`);
      return;
    }
    const own = inherit(top, item);
    if (own.action === 'Allow') {
      skip(field, 'a preset blocks or audits what it names: Allow has no meaning for it');
      return;
    }
    const origin = originOf(field, 'process', own, item.name!);
    const action = own.action.toLowerCase() as RuleAction;
    for (const { rule, note } of preset) rules.push(compact({ rule: { ...rule, action, id: rules.length + 1 }, origin, note }));
  });
  for (const section of ['process', 'file', 'network', 'capabilities'] as const) {
    const body = spec[section] as (Record<string, unknown> & RuleFields) | undefined;
    if (body === undefined) continue;
    const inherited = inherit(top, body);
    const category = SECTION_CATEGORY[section];
    const add = (field: string, item: RuleFields, resource: string, make: (source: string | undefined) => Rule[], note?: string) => {
      const own = inherit(inherited, item);
      const origin = originOf(field, section, own, resource);
      const action = own.action.toLowerCase() as RuleAction;
      if (action === 'allow' && postures[category] === 'allow') {
        skip(field, `an Allow rule has no effect while the ${category} posture is allow (everything not blocked is allowed)`);
        return;
      }
      const named = item.fromSource === undefined || item.fromSource.length === 0 ? [undefined] : item.fromSource.map((entry) => normalisePath(entry.path!));
      // A source under an aliased directory is the executable the kernel resolves; both names are kept.
      const sources = named.flatMap((source) => (source === undefined ? [source] : [source, ...aliasesOf(source, aliases)]));
      for (const source of sources) {
        for (const rule of make(source)) {
          const withSource = source === undefined ? rule : { ...rule, fromSource: source };
          rules.push(compact({ rule: { ...withSource, action, id: rules.length + 1 }, origin, note }));
          if (!('path' in withSource)) continue;
          for (const path of aliasesOf(withSource.path, aliases)) {
            const aliasNote = `${withSource.path} is ${path} in this root (a symlinked directory): both are enforced`;
            rules.push(compact({ rule: { ...withSource, path, action, id: rules.length + 1 }, origin, note: note === undefined ? aliasNote : `${note}; ${aliasNote}` }));
          }
        }
      }
    };
    const ownerOnly = (item: { ownerOnly?: boolean | undefined }) => (item.ownerOnly === true ? { ownerOnly: true } : {});
    if (section === 'process' || section === 'file') {
      const operations: readonly PathOperation[] | undefined = section === 'process' ? ['exec'] : undefined;
      const withOperations = operations === undefined ? {} : { operations };
      const pathRules = (path: string, item: { readOnly?: boolean | undefined; ownerOnly?: boolean | undefined }, extra: { recursive?: boolean } = {}): Rule[] => {
        const base = { path, ...extra, ...withOperations };
        const action = inherit(inherited, item as RuleFields).action.toLowerCase();
        // Block/Audit with ownerOnly and readOnly: others may do nothing, the owner may only read (two rules).
        if (item.readOnly === true && item.ownerOnly === true && action !== 'allow') {
          return [{ ...base, ownerOnly: true }, { ...base, readOnly: true }];
        }
        return [{ ...base, ...(item.readOnly === true ? { readOnly: true } : {}), ...ownerOnly(item) }];
      };
      const splitNote = (item: { readOnly?: boolean | undefined; ownerOnly?: boolean | undefined }, action: string) =>
        item.readOnly === true && item.ownerOnly === true && action !== 'allow' ? 'ownerOnly with readOnly: two rules, everything for others and writes for the owner' : undefined;
      const list = body as {
        matchPaths?: (RuleFields & { path?: string; execname?: string; readOnly?: boolean; ownerOnly?: boolean; allowedArgs?: string[]; pts?: boolean })[];
        matchDirectories?: (RuleFields & { dir: string; recursive?: boolean; readOnly?: boolean; ownerOnly?: boolean; pts?: boolean })[];
        matchPatterns?: (RuleFields & { pattern: string; readOnly?: boolean; ownerOnly?: boolean })[];
      };
      list.matchPaths?.forEach((item, index) => {
        const field = `${section}.matchPaths.${index}`;
        if (item.allowedArgs !== undefined) skip(`${field}.allowedArgs`, 'argument rules: the rule applies whatever the arguments');
        if (item.pts !== undefined) skip(`${field}.pts`, 'pts: the rule applies with or without a terminal');
        const action = inherit(inherited, item).action.toLowerCase();
        if (item.execname !== undefined) {
          add(field, item, item.execname, () => pathRules(`/**/${item.execname}`, item), 'execname: the executable of that name in any directory');
        } else {
          const path = normalisePath(item.path!);
          add(field, item, path, () => pathRules(path, item), splitNote(item, action));
        }
      });
      list.matchDirectories?.forEach((item, index) => {
        const field = `${section}.matchDirectories.${index}`;
        if (item.pts !== undefined) skip(`${field}.pts`, 'pts: the rule applies with or without a terminal');
        const dir = normalisePath(item.dir);
        const action = inherit(inherited, item).action.toLowerCase();
        add(field, item, dir, () => pathRules(dir, item, { recursive: item.recursive === true }), splitNote(item, action));
      });
      list.matchPatterns?.forEach((item, index) => {
        const field = `${section}.matchPatterns.${index}`;
        const pattern = normalisePath(item.pattern);
        const action = inherit(inherited, item).action.toLowerCase();
        add(field, item, pattern, () => pathRules(pattern, item), isGlob(pattern) ? splitNote(item, action) : 'a pattern without wildcards: an exact path');
      });
    } else if (section === 'network') {
      const list = body as { matchProtocols?: (RuleFields & { protocol: string; pts?: boolean })[]; matchDNSQueries?: unknown[] };
      if (list.matchDNSQueries !== undefined) skip('network.matchDNSQueries', 'DNS query rules: the enforcer sees sockets, not the names looked up');
      list.matchProtocols?.forEach((item, index) => {
        const field = `network.matchProtocols.${index}`;
        if (item.pts !== undefined) skip(`${field}.pts`, 'pts: the rule applies with or without a terminal');
        for (const protocol of splitList(item.protocol)) {
          const shapes = PROTOCOL_SOCKETS[protocol] ?? [];
          add(field, item, protocol, () => shapes.map((shape) => ({ kind: 'socket' as const, ...shape })), `${protocol}: ${shapes.map(describeSocket).join(', ')}`);
        }
      });
    } else {
      const list = body as { matchCapabilities?: (RuleFields & { capability: string })[] };
      list.matchCapabilities?.forEach((item, index) => {
        const field = `capabilities.matchCapabilities.${index}`;
        for (const name of splitList(item.capability, { capability: true })) {
          const capability = CAPABILITY_NUMBERS[name]!;
          const action = inherit(inherited, item).action;
          // CAP_NET_RAW is checked after socket_create: Block and Audit also decide the raw sockets, so the alert is the socket's (as KubeArmor reports it).
          const raw = name === 'net_raw' && action !== 'Allow';
          add(
            field,
            item,
            name,
            () => [{ kind: 'capability' as const, capability }, ...(raw ? RAW_SOCKETS.map((shape) => ({ kind: 'socket' as const, ...shape })) : [])],
            raw ? `${capabilityName(capability)}, and the sockets that need it: ${RAW_SOCKETS.map(describeSocket).join(', ')}` : undefined,
          );
        }
      });
    }
  }
}

/**
 * KubeArmor's presets that the enforcer decides, as its rules: execs that
 * no path rule names. filelessExec is also an exec from the shared-memory
 * directories, as KubeArmor's preset has it.
 */
const PRESET_RULES: Record<string, readonly { rule: Rule; note: string }[]> = {
  filelessExec: [
    { rule: { kind: 'preset', preset: 'filelessExec' }, note: 'filelessExec: running or mapping executable a file with no name left (a memfd, an unlinked or O_TMPFILE file)' },
    ...['/dev/shm/', '/run/shm/'].map((path) => ({ rule: { path, recursive: true, operations: ['exec'] as PathOperation[] }, note: `filelessExec: an exec from shared memory (${path})` })),
  ],
  anonymousMapExec: [{ rule: { kind: 'preset', preset: 'anonymousMapExec' }, note: 'anonymousMapExec: an executable mapping of no file (mmap or mprotect with PROT_EXEC)' }],
};

function inherit(from: Inherited, fields: RuleFields): Inherited {
  return compact({
    action: fields.action === undefined ? from.action : canonicalAction(fields.action),
    severity: fields.severity ?? from.severity,
    tags: fields.tags ?? from.tags,
    message: fields.message ?? from.message,
  });
}

function canonicalAction(action: string): PolicyAction {
  const lower = action.toLowerCase();
  return lower === 'allow' ? 'Allow' : lower === 'audit' ? 'Audit' : 'Block';
}

function checkGlobCount(rules: readonly CompiledRule[]): void {
  const bySource = new Map<string, Map<string, CompiledRule>>();
  for (const entry of rules) {
    const rule = entry.rule;
    if (rule.kind !== undefined && rule.kind !== 'path') continue;
    if (!isGlob(rule.path)) continue;
    const source = rule.fromSource ?? '';
    const patterns = bySource.get(source) ?? new Map<string, CompiledRule>();
    if (!patterns.has(rule.path)) patterns.set(rule.path, entry);
    bySource.set(source, patterns);
  }
  for (const [source, patterns] of bySource) {
    if (patterns.size <= MAX_GLOBS) continue;
    const over = [...patterns.values()][MAX_GLOBS]!.origin;
    throw new ValidationError('compile policies', [
      {
        path: `${over.policy} spec.${over.field}`,
        message: `expected at most ${MAX_GLOBS} glob patterns ${source === '' ? 'for every process' : `from ${source}`} in one workload, got ${patterns.size} (the enforcer's glob slots)`,
        line: over.line,
        column: over.column,
      },
    ]);
  }
}

