/**
 * Enforcement in the agent: the policies that select a container are
 * compiled and its rule set is in the kernel, scoped to its cgroup, before
 * the agent replies to the hook; a stopped container's scope is removed; a
 * policy change recompiles every affected rule set and swaps it whole.
 * Composes @bulwark/policy (what to enforce) and the kernel (kernel.ts,
 * over @bulwark/ebpf-lsm); nothing here decides a rule itself.
 *
 * Rule sets are shared by content. Containers selected by the same
 * policies (the same identities and text) under the same postures get the
 * same rules, so they share one compiled set and one kernel set: the set's
 * key is a SHA-256 over the selected policies' digests and the postures
 * (ruleSetKey). A container whose set already exists is one `scopes`
 * update; a policy change compiles each distinct set once and swaps it in
 * place for all of its containers at once; containers whose key moves away
 * from their group's get another set and are moved to it one `scopes`
 * update each. A set no scope uses any more is removed from the kernel
 * after the reply (collectSets), since that removal waits for a grace
 * period.
 *
 * Modes: `required` enforces (and the agent refuses to start without BPF
 * LSM); `audit` compiles and reports what would be enforced, touching no
 * kernel state; `off` does nothing.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readlinkSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { describeError, ValidationError } from '@bulwark/errors';
import { MAX_SETS, ScopeAllocator, type Postures, type Rule, type RulePart, type ScopeEntry } from '@bulwark/ebpf-lsm/rules';
import type { ContainerReport } from '@bulwark/hook-client';
import {
  compileSelected,
  enforcerPostures,
  hostWorkload,
  rootAliases,
  selectPolicies,
  workloadFromReport,
  type CompiledPolicySet,
  type Policy,
  type PostureSetting,
  type RootAlias,
  type Workload,
} from '@bulwark/policy';
import type { ContainerIdentities, FileIdentity } from './identities.js';
import type { Logger } from './log.js';

export type EnforcementMode = 'required' | 'audit' | 'off';

/** What enforcement needs of the kernel (kernel.ts gives the real one, over the pinned enforcer). */
export interface ScopeKernel {
  /** Puts the cgroup in scope `scope`, enforced with rule set `set`: one hash update, so moving a cgroup to another set is atomic for it. */
  setScope(cgroupId: bigint, scope: number, set: number): void;
  removeScope(cgroupId: bigint): boolean;
  /** Sets scope `scope`'s decision counters to zero (a new container's counts start at its own first decision). */
  resetDecisions(scope: number): void;
  /** Replaces rule set `set` as a whole, for every scope that uses it (the programs see the old set or the new one). Returns the map entries written. */
  setRules(set: number, rules: readonly Rule[], postures: Postures, parts?: readonly RulePart[]): number;
  /**
   * setRules for many sets in one call (Enforcer.setManyRules: one grace
   * period for all the swaps where the kernel batches them): each set's
   * entries, or the error that left it as it was, in order. Without it,
   * setRules is called per set.
   */
  setManyRules?(sets: readonly { set: number; rules: readonly Rule[]; postures: Postures; parts?: readonly RulePart[] }[]): ({ entries: number } | { error: unknown })[];
  clearRules(set: number): boolean;
  /** The cgroup id -> scope and set pairs in force (after a takeover, what the previous agent left). */
  scopes(): [bigint, ScopeEntry][];
  /** The set indexes that have a rule set (after a takeover, to remove those no scope uses). */
  sets(): number[];
  /** Makes `scope` the host scope, enforced with rule set `set` (its rules decide for host processes), or turns host enforcement off. */
  setHostScope(scope: number | undefined, set?: number): void;
  /** The host scope and its set in force (after a takeover, the previous agent's). */
  hostScope(): ScopeEntry | undefined;
  /** Replaces scope `scope`'s file identities (Enforcer.setIdentities); returns how many it holds. Without it, rules go by path only. */
  setIdentities?(scope: number, identities: readonly FileIdentity[]): number;
  /** Removes scope `scope`'s file identities. */
  clearIdentities?(scope: number): number;
  /** The scopes that hold identities (after a takeover, the previous agent's). */
  identityScopes?(): number[];
  /**
   * Puts empty rule maps at free set indexes (none of `exclude`), at most
   * `limit` now, until `count` are pooled (Enforcer.fillPool); a set then
   * written at a pooled index costs no RCU grace period. Off the reply path.
   */
  fillPool?(count: number, options: { exclude: Iterable<number>; limit: number }): number;
  /** The set indexes pooled now. */
  pooledSets?(): number[];
}

/**
 * The allocator's key for the host scope: the largest u64. Cgroup ids are
 * kernfs node ids, counted up from 1, so no container's collides with it.
 */
export const HOST_SCOPE_KEY = 0xffff_ffff_ffff_ffffn;

/** What is in force for one scope: for alerts (rule id -> policy) and for `bulwark policy explain --container`. */
export interface ScopeState {
  readonly index: number;
  /** The rule set's index, which other scopes may share. */
  readonly set: number;
  readonly cgroupId: bigint;
  readonly containerId: string;
  readonly workload: Workload;
  readonly compiled: CompiledPolicySet;
  readonly entries: number;
}

/** A rule set in the kernel, as the agent keeps it. */
export interface RuleSetState {
  readonly index: number;
  /** ruleSetKey of what it holds; `adopted:<index>` for a set a previous agent wrote, until it is rewritten. */
  readonly key: string;
  readonly entries: number;
  /** The scopes that use it. */
  readonly scopes: ReadonlySet<number>;
}

export interface EnforcementOptions {
  readonly mode: EnforcementMode;
  /** Required in `required` mode. */
  readonly kernel?: ScopeKernel;
  readonly log: Logger;
  readonly postures?: { readonly file?: PostureSetting; readonly network?: PostureSetting; readonly capabilities?: PostureSetting };
  /**
   * Host policies (KubeArmorHostPolicy), on this host's processes: the host
   * as their nodeSelector sees it, and its default postures. Without it,
   * host policies are compiled for explain only.
   */
  readonly host?: {
    readonly name: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly postures?: { readonly file?: PostureSetting; readonly network?: PostureSetting; readonly capabilities?: PostureSetting };
  };
  /**
   * How a set no scope uses any more is removed from the kernel (a wait
   * for a grace period): `deferred` (the default) after the current
   * event-loop turn, so not on the hook's reply path; `manual` only when
   * collectSets() is called.
   */
  readonly collect?: 'deferred' | 'manual';
  /** The merged-/usr links of a container's root (default: read from its bundle's rootfs, rootAliasesOfReport). */
  readonly rootAliases?: (report: ContainerReport) => readonly RootAlias[];
  /** The containers' evasion guard (CompileOptions.evasion; config evasionPosture): default 'block'. */
  readonly evasion?: 'block' | 'allow';
  /**
   * How many empty rule maps to keep at free set indexes (default 8; 0 for
   * none): the first container of a new set then skips the map-in-map
   * update and its grace period. Refilled one map at a time after the
   * current turn, off the reply path.
   */
  readonly pool?: number;
  /** The identities of a container's blocked files (the agent gives containerIdentities of identities.ts: read through its process); default none, rules by path only. */
  readonly identities?: (report: ContainerReport, rules: readonly Rule[]) => ContainerIdentities;
}

export interface CreateResult {
  /** Whether the container is in a scope with rules now. */
  readonly enforced: boolean;
  readonly scope?: number;
  readonly set?: number;
  /** Whether its set was already in the kernel (no rule set written for it). */
  readonly shared?: boolean;
  readonly rules: number;
  readonly policies: readonly string[];
}

const policyLabel = (compiled: CompiledPolicySet) => compiled.policies.map((policy) => `${policy.kind}/${policy.namespace === undefined ? '' : `${policy.namespace}/`}${policy.name}`);

const policyDigests = new WeakMap<Policy, string>();

/** A policy's identity and everything it compiles from (its spec, and the positions its rules' origins name), hashed once per policy object. */
function policyDigest(policy: Policy): string {
  let digest = policyDigests.get(policy);
  if (digest === undefined) {
    const identity = [policy.kind, policy.namespace ?? null, policy.name, policy.source, policy.document, policy.position];
    digest = createHash('sha256')
      .update(JSON.stringify([identity, policy.spec, [...policy.positions], [...policy.keys]]))
      .digest('hex');
    policyDigests.set(policy, digest);
  }
  return digest;
}

/**
 * The merged-/usr links of a container's root, read (lstat and readlink,
 * never followed) from its bundle's rootfs as the host sees it; none when
 * the report names no root or it cannot be read.
 */
export function rootAliasesOfReport(report: ContainerReport): RootAlias[] {
  const rootfs = report.config?.rootfs;
  if (rootfs === undefined || rootfs === '') return [];
  const root = isAbsolute(rootfs) ? rootfs : join(report.bundle, rootfs);
  return rootAliases((name) => {
    try {
      const path = join(root, name);
      return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
    } catch {
      return undefined;
    }
  });
}

/**
 * The content key of a rule set: SHA-256 over the digests of the selected
 * policies, in compile order, and the postures. Two workloads with the
 * same key compile to the same rules (compileSelected reads nothing else
 * of the workload), so they can share one compiled set and one kernel set.
 */
export function ruleSetKey(selected: readonly Policy[], postures: EnforcementOptions['postures'], aliases: readonly RootAlias[] = [], evasion: 'block' | 'allow' = 'block'): string {
  const hash = createHash('sha256').update(JSON.stringify([postures?.file ?? null, postures?.network ?? null, postures?.capabilities ?? null]));
  if (evasion !== 'block') hash.update('\nevasion ').update(evasion);
  // The root's layout changes the rules (merged /usr): containers of another layout get another set.
  if (aliases.length > 0) hash.update('\naliases ').update(JSON.stringify(aliases));
  for (const policy of selected) hash.update('\n').update(policyDigest(policy));
  return hash.digest('hex');
}

class RuleSet implements RuleSetState {
  readonly index: number;
  key: string;
  /** Undefined for an adopted set (what it holds is not known). */
  compiled: CompiledPolicySet | undefined;
  entries: number;
  readonly scopes = new Set<number>();

  constructor(index: number, key: string, compiled: CompiledPolicySet | undefined, entries: number) {
    this.index = index;
    this.key = key;
    this.compiled = compiled;
    this.entries = entries;
  }
}

/** One container of a batch, with its key and where it is now. */
interface Member {
  readonly report: ContainerReport;
  readonly workload: Workload;
  readonly cgroupId: bigint | undefined;
}

/** The containers of a batch that share a key. */
interface Group {
  readonly key: string;
  readonly compiled: CompiledPolicySet;
  readonly members: Member[];
}

type Outcome = { readonly result: CreateResult } | { readonly error: unknown };

export class Enforcement {
  readonly mode: EnforcementMode;
  readonly #kernel: ScopeKernel | undefined;
  readonly #log: Logger;
  readonly #postures: EnforcementOptions['postures'];
  readonly #collect: 'deferred' | 'manual';
  readonly #rootAliases: (report: ContainerReport) => readonly RootAlias[];
  /** Each container's root links, read once (its create) rather than on every policy change: container id -> aliases. */
  readonly #aliasesOf = new Map<string, readonly RootAlias[]>();
  readonly #evasion: 'block' | 'allow';
  #allocator = new ScopeAllocator();
  /** By scope index. */
  readonly #scopes = new Map<number, ScopeState>();
  /** What a freed scope enforced, until its index is used again: its last events may still be on their way. */
  readonly #released = new Map<number, ScopeState>();
  /** Container id -> the report it was enforced for (also those selected by no policy, for a later policy change). */
  readonly #containers = new Map<string, ContainerReport>();
  /** Scope index -> the set it uses, for every scope in the kernel (also those adopted and not yet reconciled). */
  readonly #setOfScope = new Map<number, number>();
  /** The rule sets in the kernel (those no scope uses until collected), by set index and by key. */
  readonly #sets = new Map<number, RuleSet>();
  readonly #setsByKey = new Map<string, RuleSet>();
  /** Sets no scope uses, to be removed by collectSets() unless a container needs them again first. */
  readonly #unused = new Set<number>();
  #collectScheduled = false;
  #policies: readonly Policy[] = [];
  readonly #host: EnforcementOptions['host'];
  /** Set by reconcile: the kernel's scopes are adopted, so the host scope may be allocated. */
  #reconciled = false;
  readonly #identities: (report: ContainerReport, rules: readonly Rule[]) => ContainerIdentities;
  /** The scopes whose identities are in the kernel (those adopted included), so a scope with none costs nothing. */
  readonly #scopesWithIdentities = new Set<number>();
  readonly #poolSize: number;
  #poolScheduled = false;

  constructor(options: EnforcementOptions) {
    this.mode = options.mode;
    this.#kernel = options.kernel;
    this.#log = options.log;
    this.#postures = options.postures;
    this.#host = options.host;
    this.#collect = options.collect ?? 'deferred';
    this.#rootAliases = options.rootAliases ?? rootAliasesOfReport;
    this.#evasion = options.evasion ?? 'block';
    this.#identities = options.identities ?? (() => ({ identities: [], root: undefined, missing: 0 }));
    this.#poolSize = options.pool ?? 8;
    if (options.mode === 'required' && options.kernel === undefined) throw new Error('enforcement: required mode needs the kernel enforcer');
  }

  get policies(): readonly Policy[] {
    return this.#policies;
  }

  /** What scope `index` enforces, or last enforced if it was freed since (for the events still on their way). */
  scope(index: number): ScopeState | undefined {
    return this.#scopes.get(index) ?? this.#released.get(index);
  }

  scopeOfContainer(containerId: string): ScopeState | undefined {
    const report = this.#containers.get(containerId);
    const cgroupId = report === undefined ? undefined : cgroupIdOf(report);
    const index = cgroupId === undefined ? undefined : this.#allocator.indexOf(cgroupId);
    const state = index === undefined ? undefined : this.#scopes.get(index);
    return state?.containerId === containerId ? state : undefined;
  }

  /** The host scope, when host policies are in force. */
  hostState(): ScopeState | undefined {
    const index = this.#allocator.indexOf(HOST_SCOPE_KEY);
    return index === undefined ? undefined : this.#scopes.get(index);
  }

  get scopeCount(): number {
    return this.#scopes.size;
  }

  /** What each scope in use enforces (for the metrics). */
  scopeStates(): IterableIterator<ScopeState> {
    return this.#scopes.values();
  }

  /** The rule sets in the kernel, those waiting to be collected included. */
  ruleSets(): IterableIterator<RuleSetState> {
    return this.#sets.values();
  }

  /** Compiles for a workload, as enforcement would (for explain and audit), in a root with `aliases` (merged /usr). */
  compile(workload: Workload, aliases: readonly RootAlias[] = []): CompiledPolicySet {
    return compileSelected(selectPolicies(this.#policies, workload), workload, this.#compileOptions(aliases));
  }

  #compileOptions(aliases: readonly RootAlias[]) {
    return { ...(this.#postures === undefined ? {} : { postures: this.#postures }), ...(aliases.length === 0 ? {} : { rootAliases: aliases }), evasion: this.#evasion };
  }

  /**
   * Takes over what the kernel holds (a previous agent's scopes and sets):
   * each cgroup keeps its scope index and its set, so its rules stay in
   * force until `reconcile` rewrites them; the rest of the kernel's scopes
   * are dropped there.
   */
  adoptKernelScopes(): number {
    if (this.#kernel === undefined) return 0;
    const found = this.#kernel.scopes();
    const host = this.#kernel.hostScope();
    this.#allocator = ScopeAllocator.fromEntries([
      ...found.map(([cgroupId, entry]) => [cgroupId, entry.scope] as const),
      ...(host === undefined ? [] : [[HOST_SCOPE_KEY, host.scope] as const]),
    ]);
    for (const entry of host === undefined ? found.map(([, value]) => value) : [...found.map(([, value]) => value), host]) {
      let set = this.#sets.get(entry.set);
      if (set === undefined) {
        set = new RuleSet(entry.set, `adopted:${entry.set}`, undefined, 0);
        this.#sets.set(set.index, set);
        this.#setsByKey.set(set.key, set);
      }
      set.scopes.add(entry.scope);
      this.#setOfScope.set(entry.scope, entry.set);
    }
    // A scope's identities stay with it; those of a scope no cgroup is in any more would be inherited by the next container given its index.
    const adopted = new Set([...found.map(([, entry]) => entry.scope), ...(host === undefined ? [] : [host.scope])]);
    for (const scope of this.#kernel.identityScopes?.() ?? []) {
      this.#scopesWithIdentities.add(scope);
      if (!adopted.has(scope)) this.#clearIdentities(scope);
    }
    return found.length;
  }

  /**
   * After start: every registered container is compiled and its set
   * written (the old set stays in force until then), every kernel scope no
   * registered container owns is removed, and so is every set no scope
   * uses then.
   */
  reconcile(reports: readonly ContainerReport[]): void {
    if (this.mode === 'off') return;
    if (this.mode === 'audit') {
      for (const report of reports) this.containerCreated(report);
      this.#reconciled = true;
      this.#applyHost();
      return;
    }
    const wanted = new Set<bigint>();
    for (const report of reports) {
      const cgroupId = cgroupIdOf(report);
      if (cgroupId !== undefined) wanted.add(cgroupId);
      this.#containers.set(report.id, report);
    }
    for (const [id, outcome] of this.#enforce(reports)) {
      if ('error' in outcome) this.#log.error('enforcement: container not enforced after restart', { id, error: describeError(outcome.error) });
    }
    const kernel = this.#kernel!;
    for (const [cgroupId, entry] of kernel.scopes()) {
      if (wanted.has(cgroupId)) continue;
      this.#releaseScope(cgroupId, entry.scope);
      this.#log.info('enforcement: dropped the scope of a container that is gone', { cgroupId: cgroupId.toString(), scope: entry.scope, set: entry.set });
    }
    this.#reconciled = true;
    this.#applyHost();
    for (const index of kernel.sets()) {
      if (this.#sets.has(index)) continue;
      kernel.clearRules(index);
      this.#log.info('enforcement: dropped a rule set no scope uses', { set: index });
    }
    this.collectSets();
    this.#schedulePool();
  }

  /**
   * Host policies compiled for this host and, in required mode, in the
   * kernel as the host scope with a set of its own (never shared with a
   * container's: its key is the host's): the set rewritten whole when it
   * changes, the scope dropped when no host policy selects the host any
   * more. A failure keeps the previous set (reported, and thrown to the
   * caller).
   */
  #applyHost(): void {
    const host = this.#host;
    const kernel = this.#kernel;
    if (this.mode === 'off' || !this.#reconciled) return;
    const existing = this.#allocator.indexOf(HOST_SCOPE_KEY);
    if (host === undefined) {
      // Host policies are off here; a host scope a previous agent left is turned off.
      if (existing !== undefined && kernel !== undefined) this.#dropHost('host policies are not enabled');
      return;
    }
    const workload = hostWorkload(host.name, host.labels ?? {});
    const selected = selectPolicies(this.#policies, workload);
    const postures = host.postures;
    const compiled = compileSelected(selected, workload, postures === undefined ? {} : { postures });
    if (this.mode === 'audit' || kernel === undefined) {
      if (compiled.rules.length > 0) this.#log.info('audit: would enforce host policies', { host: host.name, rules: compiled.rules.length, policies: policyLabel(compiled) });
      return;
    }
    if (compiled.rules.length === 0) {
      if (existing !== undefined) this.#dropHost(`no host policy selects ${host.name} any more`);
      return;
    }
    const key = `host\n${ruleSetKey(selected, postures)}`;
    const index = existing ?? this.#allocator.allocate(HOST_SCOPE_KEY);
    const current = this.#sets.get(this.#setOfScope.get(index) ?? -1);
    // The host's set is the host scope's alone, so it is rewritten in place; a first one takes a free index.
    const setIndex = current?.index ?? this.#freeSetIndex();
    if (setIndex === undefined) {
      if (existing === undefined) this.#allocator.release(HOST_SCOPE_KEY);
      throw new Error(`enforce host policies: every rule set (${MAX_SETS}) is in use`);
    }
    const set = current ?? new RuleSet(setIndex, key, compiled, 0);
    try {
      if (current?.key !== key) {
        set.entries = kernel.setRules(setIndex, compiled.rules.map((entry) => entry.rule), enforcerPostures(compiled), compiled.parts);
      }
      if (existing === undefined) kernel.resetDecisions(index);
      const inForce = kernel.hostScope();
      if (inForce?.scope !== index || inForce.set !== setIndex) kernel.setHostScope(index, setIndex);
    } catch (error) {
      if (current === undefined) {
        try {
          kernel.clearRules(setIndex);
        } catch {
          // The first failure is the one to report; a set left there is replaced when the index is used again.
        }
      }
      if (existing === undefined) this.#allocator.release(HOST_SCOPE_KEY);
      throw error;
    }
    if (this.#setsByKey.get(set.key) === set) this.#setsByKey.delete(set.key);
    set.key = key;
    set.compiled = compiled;
    set.scopes.add(index);
    this.#sets.set(setIndex, set);
    this.#setsByKey.set(key, set);
    this.#unused.delete(setIndex);
    this.#setOfScope.set(index, setIndex);
    this.#scopes.set(index, { index, set: setIndex, cgroupId: HOST_SCOPE_KEY, containerId: '', workload, compiled, entries: set.entries });
    this.#released.delete(index);
    this.#log.info('enforcing host policies', { host: host.name, scope: index, set: setIndex, rules: compiled.rules.length, entries: set.entries, policies: policyLabel(compiled) });
  }

  /** Host enforcement off first (no host process is ever under a half-removed set), then its scope freed. */
  #dropHost(reason: string): void {
    const index = this.#allocator.indexOf(HOST_SCOPE_KEY);
    if (index === undefined) return;
    this.#kernel?.setHostScope(undefined);
    this.#releaseScope(HOST_SCOPE_KEY, index, { scopeEntry: false });
    this.#log.info('host policies: the host scope is dropped', { reason });
  }

  /**
   * The container's policies compiled (or its set found by key) and, in
   * required mode, its rule set in the kernel and its cgroup in scope: done
   * when this returns (the hook is answered after). Throws (a one-line
   * reason) when it cannot be enforced: no cgroup id, every scope in use,
   * the kernel refused.
   */
  containerCreated(report: ContainerReport): CreateResult {
    if (this.mode === 'off') return { enforced: false, rules: 0, policies: [] };
    this.#containers.set(report.id, report);
    if (this.mode === 'audit') {
      const workload = workloadFromReport(report);
      const compiled = this.compile(workload, this.#aliasesFor(report));
      const policies = policyLabel(compiled);
      if (compiled.rules.length > 0) this.#log.info('audit: would enforce', { id: report.id, name: workload.name, rules: compiled.rules.length, policies });
      return { enforced: false, rules: compiled.rules.length, policies };
    }
    const outcome = this.#enforce([report]).get(report.id)!;
    if ('error' in outcome) throw outcome.error;
    return outcome.result;
  }

  #aliasesFor(report: ContainerReport): readonly RootAlias[] {
    let aliases = this.#aliasesOf.get(report.id);
    if (aliases === undefined) {
      aliases = this.#rootAliases(report);
      this.#aliasesOf.set(report.id, aliases);
    }
    return aliases;
  }

  /** The container's scope removed (its processes are gone, or going); its set too once no scope uses it (collectSets). */
  containerStopped(containerId: string): boolean {
    const state = this.scopeOfContainer(containerId);
    this.#containers.delete(containerId);
    this.#aliasesOf.delete(containerId);
    if (state === undefined) return false;
    this.#releaseScope(state.cgroupId, state.index);
    return true;
  }

  /**
   * A new policy set for every container: each distinct set is compiled
   * once and written once, for all the containers that share it. Returns
   * how many containers are as their policies say now, and how many are
   * not (a container whose new set cannot be written keeps its old one,
   * and is reported).
   */
  setPolicies(policies: readonly Policy[]): { containers: number; failed: number } {
    this.#policies = policies;
    if (this.mode === 'off') return { containers: 0, failed: 0 };
    let containers = 0;
    let failed = 0;
    const reports = [...this.#containers.values()];
    if (this.mode === 'audit') {
      for (const report of reports) this.containerCreated(report);
      return { containers: reports.length, failed: 0 };
    }
    for (const [id, outcome] of this.#enforce(reports)) {
      if ('error' in outcome) {
        failed++;
        this.#log.error('enforcement: policy change not applied to a container; its previous rules stay', { id, error: describeError(outcome.error) });
      } else {
        containers++;
      }
    }
    try {
      this.#applyHost();
    } catch (error) {
      failed++;
      this.#log.error('enforcement: policy change not applied to the host; its previous rules stay', { error: describeError(error) });
    }
    return { containers, failed };
  }

  /**
   * Removes from the kernel every set no scope uses (a map-of-maps delete
   * each, which waits for a grace period). In `deferred` mode it runs by
   * itself after the event-loop turn that left a set unused; call it
   * before the kernel is closed. Returns how many sets were removed.
   */
  collectSets(): number {
    this.#collectScheduled = false;
    const kernel = this.#kernel;
    let removed = 0;
    for (const index of [...this.#unused]) {
      this.#unused.delete(index);
      const set = this.#sets.get(index);
      if (set === undefined || set.scopes.size > 0) continue;
      try {
        kernel?.clearRules(index);
      } catch (error) {
        // Left in the kernel at an index that is free again: the next set written there replaces it.
        this.#log.error('enforcement: an unused rule set could not be removed', { set: index, error: describeError(error) });
      }
      this.#sets.delete(index);
      if (this.#setsByKey.get(set.key) === set) this.#setsByKey.delete(set.key);
      removed++;
    }
    return removed;
  }

  /**
   * Enforces a batch of containers as their policies say now: groups them
   * by key, finds or writes one set per group, then puts each container's
   * cgroup in scope with its group's set. The order keeps every container
   * on its old set or its new one, never another: a set is rewritten in
   * place only when every scope that uses it is in the group (so all of
   * them want the new content), and a container is moved (one `scopes`
   * update) only once its new set is written.
   */
  #enforce(reports: readonly ContainerReport[]): Map<string, Outcome> {
    const kernel = this.#kernel!;
    const outcomes = new Map<string, Outcome>();
    const groups = new Map<string, Group>();
    for (const report of reports) {
      const workload = workloadFromReport(report);
      let group: Group | undefined;
      try {
        const selected = selectPolicies(this.#policies, workload);
        const aliases = selected.length === 0 ? [] : this.#aliasesFor(report);
        const key = ruleSetKey(selected, this.#postures, aliases, this.#evasion);
        group = groups.get(key);
        if (group === undefined) {
          const compiled = this.#setsByKey.get(key)?.compiled ?? compileSelected(selected, workload, this.#compileOptions(aliases));
          group = { key, compiled, members: [] };
          groups.set(key, group);
        }
      } catch (error) {
        outcomes.set(report.id, { error });
        continue;
      }
      group.members.push({ report, workload, cgroupId: cgroupIdOf(report) });
    }

    // Where each group goes: its own set if one holds its key already; else a set all of whose scopes are in the group, rewritten; else a new set.
    const targets = new Map<Group, { set: RuleSet; write: boolean; fresh: boolean }>();
    const claimed = new Set<RuleSet>();
    const enforced: Group[] = [];
    for (const group of groups.values()) {
      if (group.compiled.rules.length === 0) {
        // Nothing selects these: they are not in a scope (unaffected), and a scope one had is freed.
        for (const member of group.members) {
          const index = member.cgroupId === undefined ? undefined : this.#allocator.indexOf(member.cgroupId);
          if (member.cgroupId !== undefined && index !== undefined) this.#releaseScope(member.cgroupId, index);
          outcomes.set(member.report.id, { result: { enforced: false, rules: 0, policies: policyLabel(group.compiled) } });
        }
        continue;
      }
      const withCgroup = group.members.filter((member) => {
        if (member.cgroupId !== undefined) return true;
        outcomes.set(member.report.id, {
          error: new ValidationError('enforce container', [{ path: 'cgroup.id', message: `container ${member.report.id} has policies but no cgroup id in its report` }]),
        });
        return false;
      });
      group.members.splice(0, group.members.length, ...withCgroup);
      if (group.members.length === 0) continue;
      enforced.push(group);
      const existing = this.#setsByKey.get(group.key);
      if (existing !== undefined) {
        targets.set(group, { set: existing, write: false, fresh: false });
        claimed.add(existing);
      }
    }
    for (const group of enforced) {
      if (targets.has(group)) continue;
      const scopes = new Set<number>();
      for (const member of group.members) {
        const index = this.#allocator.indexOf(member.cgroupId!);
        if (index !== undefined) scopes.add(index);
      }
      let reuse: RuleSet | undefined;
      for (const index of scopes) {
        const set = this.#sets.get(this.#setOfScope.get(index) ?? -1);
        if (set === undefined || claimed.has(set) || ![...set.scopes].every((scope) => scopes.has(scope))) continue;
        if (reuse === undefined || set.scopes.size > reuse.scopes.size) reuse = set;
      }
      if (reuse !== undefined) {
        claimed.add(reuse);
        targets.set(group, { set: reuse, write: true, fresh: false });
        continue;
      }
      const index = this.#freeSetIndex();
      if (index === undefined) {
        for (const member of group.members) outcomes.set(member.report.id, { error: new Error(`enforce container: every rule set (${MAX_SETS}) is in use`) });
        continue;
      }
      const set = new RuleSet(index, group.key, group.compiled, 0);
      // Reserved now so that the next group does not take the same index.
      this.#sets.set(index, set);
      claimed.add(set);
      targets.set(group, { set, write: true, fresh: true });
    }

    // Sets written first (nothing moves to them before), then the scopes moved or added. More than one set: written in one call.
    const writes = [...targets].filter(([, target]) => target.write);
    const written = new Map<Group, { entries: number } | { error: unknown }>();
    if (writes.length > 1 && kernel.setManyRules !== undefined) {
      const results = kernel.setManyRules(writes.map(([group, target]) => ({ set: target.set.index, rules: group.compiled.rules.map((entry) => entry.rule), postures: enforcerPostures(group.compiled), ...(group.compiled.parts === undefined ? {} : { parts: group.compiled.parts }) })));
      writes.forEach(([group], at) => written.set(group, results[at]!));
    }
    for (const [group, target] of targets) {
      const { set } = target;
      if (target.write) {
        try {
          const result = written.get(group);
          if (result !== undefined && 'error' in result) throw result.error;
          const entries = result?.entries ?? kernel.setRules(set.index, group.compiled.rules.map((entry) => entry.rule), enforcerPostures(group.compiled), group.compiled.parts);
          if (this.#setsByKey.get(set.key) === set) this.#setsByKey.delete(set.key);
          set.key = group.key;
          set.compiled = group.compiled;
          set.entries = entries;
          this.#setsByKey.set(set.key, set);
        } catch (error) {
          if (target.fresh) {
            this.#sets.delete(set.index);
            try {
              kernel.clearRules(set.index);
            } catch {
              // The first failure is the one to report; a set left there is replaced when the index is used again.
            }
          }
          for (const member of group.members) outcomes.set(member.report.id, { error });
          targets.delete(group);
          continue;
        }
      }
      // A set about to be collected is used again: it still holds this content.
      this.#unused.delete(set.index);
      for (const member of group.members) outcomes.set(member.report.id, this.#place(member, group, set, !target.write));
      if (set.scopes.size === 0) this.#markUnused(set);
    }
    return outcomes;
  }

  /** Puts one container's cgroup in scope with `set` (already written): a new scope, or one moved from its old set. */
  #place(member: Member, group: Group, set: RuleSet, shared: boolean): Outcome {
    const kernel = this.#kernel!;
    const cgroupId = member.cgroupId!;
    const existing = this.#allocator.indexOf(cgroupId);
    let index: number;
    try {
      index = existing ?? this.#allocator.allocate(cgroupId);
    } catch (error) {
      return { error };
    }
    const previous = this.#setOfScope.get(index);
    // Identities before the scope: its first process already finds them there.
    this.#setIdentities(index, member.report, group.compiled);
    try {
      if (existing === undefined) {
        kernel.resetDecisions(index);
        kernel.setScope(cgroupId, index, set.index);
      } else if (previous !== set.index) {
        kernel.setScope(cgroupId, index, set.index);
      }
    } catch (error) {
      if (existing === undefined) {
        this.#clearIdentities(index);
        this.#allocator.release(cgroupId);
      }
      return { error };
    }
    if (previous !== undefined && previous !== set.index) {
      const old = this.#sets.get(previous);
      old?.scopes.delete(index);
      if (old !== undefined && old.scopes.size === 0) this.#markUnused(old);
    }
    set.scopes.add(index);
    this.#setOfScope.set(index, set.index);
    const compiled = { ...group.compiled, workload: member.workload };
    this.#scopes.set(index, { index, set: set.index, cgroupId, containerId: member.report.id, workload: member.workload, compiled, entries: set.entries });
    this.#released.delete(index);
    const policies = policyLabel(compiled);
    this.#log.info('enforcing', { id: member.report.id, name: member.workload.name, scope: index, set: set.index, shared, rules: compiled.rules.length, entries: set.entries, policies });
    return { result: { enforced: true, scope: index, set: set.index, shared, rules: compiled.rules.length, policies } };
  }

  /**
   * Writes the identities of the container's blocked files for its scope.
   * A failure leaves its rules in force by path (the container is still
   * enforced) and is logged: identities are what follows a file past its
   * path, not the rules themselves.
   */
  #setIdentities(index: number, report: ContainerReport, compiled: CompiledPolicySet): void {
    const kernel = this.#kernel;
    if (kernel?.setIdentities === undefined) return;
    try {
      const found = this.#identities(report, compiled.rules.map((entry) => entry.rule));
      if (found.identities.length === 0 && !this.#scopesWithIdentities.has(index)) return;
      const held = kernel.setIdentities(index, found.identities);
      if (held > 0) this.#scopesWithIdentities.add(index);
      else this.#scopesWithIdentities.delete(index);
      if (held > 0 || found.missing > 0) this.#log.debug('enforcement: file identities', { id: report.id, scope: index, identities: held, missing: found.missing, root: found.root });
      if ((found.truncated ?? 0) > 0) {
        this.#log.warn('enforcement: a blocked directory has more entries than the walk for linked files looks at; files below it with other names are denied by path only', { id: report.id, scope: index, directories: found.truncated, entries: found.walked });
      }
    } catch (error) {
      this.#log.error('enforcement: the identities of blocked files could not be set; their rules hold by path only', { id: report.id, scope: index, error: describeError(error) });
    }
  }

  #clearIdentities(index: number): void {
    if (!this.#scopesWithIdentities.delete(index)) return;
    try {
      this.#kernel?.clearIdentities?.(index);
    } catch (error) {
      this.#log.error('enforcement: the identities of a released scope could not be removed', { scope: index, error: describeError(error) });
    }
  }

  /** The lowest set index no set holds (those waiting to be collected hold theirs). */
  #freeSetIndex(): number | undefined {
    // A pooled index first: its map is in place already, so the set is written without a grace period.
    for (const index of this.#kernel?.pooledSets?.() ?? []) {
      if (!this.#sets.has(index)) {
        this.#schedulePool();
        return index;
      }
    }
    for (let index = 0; index < MAX_SETS; index++) if (!this.#sets.has(index)) return index;
    return undefined;
  }

  /** Tops the pool up after the current turn, one map (one grace period) per turn, so no turn blocks for long. */
  #schedulePool(): void {
    const kernel = this.#kernel;
    if (this.#poolScheduled || this.#poolSize === 0 || kernel?.fillPool === undefined || this.mode !== 'required') return;
    this.#poolScheduled = true;
    setTimeout(() => {
      this.#poolScheduled = false;
      try {
        const added = kernel.fillPool!(this.#poolSize, { exclude: this.#sets.keys(), limit: 1 });
        if (added > 0) this.#schedulePool();
      } catch (error) {
        // The pool is an optimisation: a set is then written with a swap.
        this.#log.warn('enforcement: a rule map could not be pooled', { error: describeError(error) });
      }
    }, 0).unref();
  }

  #releaseScope(cgroupId: bigint, index: number, options: { scopeEntry?: boolean } = {}): void {
    // Out of scope first: a process still there is then unaffected, never under a half-removed set.
    if (options.scopeEntry !== false) this.#kernel?.removeScope(cgroupId);
    this.#clearIdentities(index);
    this.#allocator.release(cgroupId);
    const setIndex = this.#setOfScope.get(index);
    this.#setOfScope.delete(index);
    const set = setIndex === undefined ? undefined : this.#sets.get(setIndex);
    set?.scopes.delete(index);
    if (set !== undefined && set.scopes.size === 0) this.#markUnused(set);
    const state = this.#scopes.get(index);
    if (state !== undefined) this.#released.set(index, state);
    this.#scopes.delete(index);
  }

  #markUnused(set: RuleSet): void {
    this.#unused.add(set.index);
    if (this.#collect === 'manual' || this.#collectScheduled) return;
    this.#collectScheduled = true;
    setImmediate(() => {
      if (this.#collectScheduled) this.collectSets();
    }).unref();
  }
}

export function cgroupIdOf(report: ContainerReport): bigint | undefined {
  const id = report.cgroup?.id;
  return id === undefined ? undefined : BigInt(id);
}
