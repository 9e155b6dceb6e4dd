/**
 * Enforcement in the agent: the policies that select a container are
 * compiled and its rule set is in the kernel, scoped to its cgroup, before
 * the agent replies to the hook; a stopped container's scope and rules are
 * removed; a policy change recompiles every affected container and swaps
 * its set whole. Composes @bulwark/policy (what to enforce) and the kernel
 * (kernel.ts, over @bulwark/ebpf-lsm); nothing here decides a rule itself.
 *
 * Modes: `required` enforces (and the agent refuses to start without BPF
 * LSM); `audit` compiles and reports what would be enforced, touching no
 * kernel state; `off` does nothing.
 */
import { describeError, ValidationError } from '@bulwark/errors';
import { ScopeAllocator, type Postures, type Rule } from '@bulwark/ebpf-lsm/rules';
import type { ContainerReport } from '@bulwark/hook-client';
import {
  compilePolicies,
  enforcerPostures,
  hostWorkload,
  workloadFromReport,
  type CompiledPolicySet,
  type Policy,
  type PostureSetting,
  type Workload,
} from '@bulwark/policy';
import type { Logger } from './log.js';

export type EnforcementMode = 'required' | 'audit' | 'off';

/** What enforcement needs of the kernel (kernel.ts gives the real one, over the pinned enforcer). */
export interface ScopeKernel {
  setScope(cgroupId: bigint, index: number): void;
  removeScope(cgroupId: bigint): boolean;
  /** Replaces the scope's rule set as a whole (the programs see the old set or the new one). Returns the map entries written. */
  setRules(index: number, rules: readonly Rule[], postures: Postures): number;
  clearRules(index: number): boolean;
  /** The cgroup id -> scope index pairs in force (after a takeover, what the previous agent left). */
  scopes(): [bigint, number][];
  /** Makes `index` the host scope (its rules decide for host processes), or turns host enforcement off. */
  setHostScope(index: number | undefined): void;
  /** The host scope in force (after a takeover, the previous agent's). */
  hostScope(): number | undefined;
}

/**
 * The allocator's key for the host scope: the largest u64. Cgroup ids are
 * kernfs node ids, counted up from 1, so no container's collides with it.
 */
export const HOST_SCOPE_KEY = 0xffff_ffff_ffff_ffffn;

/** What is in force for one scope: for alerts (rule id -> policy) and for `bulwark policy explain --container`. */
export interface ScopeState {
  readonly index: number;
  readonly cgroupId: bigint;
  readonly containerId: string;
  readonly workload: Workload;
  readonly compiled: CompiledPolicySet;
  readonly entries: number;
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
}

export interface CreateResult {
  /** Whether the container is in a scope with rules now. */
  readonly enforced: boolean;
  readonly scope?: number;
  readonly rules: number;
  readonly policies: readonly string[];
}

const policyLabel = (compiled: CompiledPolicySet) => compiled.policies.map((policy) => `${policy.kind}/${policy.namespace === undefined ? '' : `${policy.namespace}/`}${policy.name}`);

export class Enforcement {
  readonly mode: EnforcementMode;
  readonly #kernel: ScopeKernel | undefined;
  readonly #log: Logger;
  readonly #postures: EnforcementOptions['postures'];
  #allocator = new ScopeAllocator();
  /** By scope index. */
  readonly #scopes = new Map<number, ScopeState>();
  /** What a freed scope enforced, until its index is used again: its last events may still be on their way. */
  readonly #released = new Map<number, ScopeState>();
  /** Container id -> the report it was enforced for (also those selected by no policy, for a later policy change). */
  readonly #containers = new Map<string, ContainerReport>();
  #policies: readonly Policy[] = [];
  readonly #host: EnforcementOptions['host'];
  /** Set by reconcile: the kernel's scopes are adopted, so the host scope may be allocated. */
  #reconciled = false;

  constructor(options: EnforcementOptions) {
    this.mode = options.mode;
    this.#kernel = options.kernel;
    this.#log = options.log;
    this.#postures = options.postures;
    this.#host = options.host;
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
    for (const state of this.#scopes.values()) if (state.containerId === containerId && state.workload.kind === 'container') return state;
    return undefined;
  }

  /** The host scope, when host policies are in force. */
  hostState(): ScopeState | undefined {
    for (const state of this.#scopes.values()) if (state.workload.kind === 'host') return state;
    return undefined;
  }

  get scopeCount(): number {
    return this.#scopes.size;
  }

  /** What each scope in use enforces (for the metrics). */
  scopeStates(): IterableIterator<ScopeState> {
    return this.#scopes.values();
  }

  /** Compiles for a workload, as enforcement would (for explain and audit). */
  compile(workload: Workload): CompiledPolicySet {
    return compilePolicies(this.#policies, workload, this.#postures === undefined ? {} : { postures: this.#postures });
  }

  /**
   * Takes over what the kernel holds (a previous agent's scopes): each
   * cgroup keeps its index, so its rules stay in force until `reconcile`
   * recompiles them; the rest of the kernel's scopes are dropped there.
   */
  adoptKernelScopes(): number {
    if (this.#kernel === undefined) return 0;
    const found = this.#kernel.scopes();
    const host = this.#kernel.hostScope();
    this.#allocator = ScopeAllocator.fromEntries(host === undefined ? found : [...found, [HOST_SCOPE_KEY, host]]);
    return found.length;
  }

  /**
   * After start: every registered container is compiled and its set swapped
   * in (the old set stays in force until then), and every kernel scope no
   * registered container owns is removed with its rules.
   */
  reconcile(reports: readonly ContainerReport[]): void {
    const wanted = new Set<bigint>();
    for (const report of reports) {
      const cgroupId = cgroupIdOf(report);
      if (cgroupId !== undefined) wanted.add(cgroupId);
      try {
        this.containerCreated(report);
      } catch (error) {
        this.#log.error('enforcement: container not enforced after restart', { id: report.id, error: describeError(error) });
      }
    }
    if (this.#kernel === undefined) return;
    for (const [cgroupId, index] of this.#kernel.scopes()) {
      if (wanted.has(cgroupId)) continue;
      this.#kernel.removeScope(cgroupId);
      this.#kernel.clearRules(index);
      this.#allocator.release(cgroupId);
      this.#log.info('enforcement: dropped the scope of a container that is gone', { cgroupId: cgroupId.toString(), scope: index });
    }
    this.#reconciled = true;
    this.#applyHost();
  }

  /**
   * Host policies compiled for this host and, in required mode, in the
   * kernel as the host scope: the set swapped whole when it changes, the
   * scope dropped when no host policy selects the host any more. A failure
   * keeps the previous set (reported, and thrown to the caller).
   */
  #applyHost(): void {
    const host = this.#host;
    const kernel = this.#kernel;
    if (host === undefined || this.mode === 'off' || !this.#reconciled) return;
    const workload = hostWorkload(host.name, host.labels ?? {});
    const compiled = compilePolicies(this.#policies, workload, host.postures === undefined ? {} : { postures: host.postures });
    if (this.mode === 'audit' || kernel === undefined) {
      if (compiled.rules.length > 0) this.#log.info('audit: would enforce host policies', { host: host.name, rules: compiled.rules.length, policies: policyLabel(compiled) });
      return;
    }
    const existing = this.#allocator.indexOf(HOST_SCOPE_KEY);
    if (compiled.rules.length === 0) {
      if (existing === undefined) return;
      // Host enforcement off first: no host process is ever under a half-removed set.
      kernel.setHostScope(undefined);
      this.#release(HOST_SCOPE_KEY, existing, { scopeEntry: false });
      this.#log.info('host policies: none select this host any more', { host: host.name });
      return;
    }
    const index = existing ?? this.#allocator.allocate(HOST_SCOPE_KEY);
    try {
      const entries = kernel.setRules(index, compiled.rules.map((entry) => entry.rule), enforcerPostures(compiled));
      if (kernel.hostScope() !== index) kernel.setHostScope(index);
      this.#scopes.set(index, { index, cgroupId: HOST_SCOPE_KEY, containerId: '', workload, compiled, entries });
      this.#released.delete(index);
      this.#log.info('enforcing host policies', { host: host.name, scope: index, rules: compiled.rules.length, entries, policies: policyLabel(compiled) });
    } catch (error) {
      if (existing === undefined) {
        kernel.clearRules(index);
        this.#allocator.release(HOST_SCOPE_KEY);
      }
      throw error;
    }
  }

  /**
   * The container's policies compiled and, in required mode, its rule set
   * in the kernel and its cgroup in scope: done when this returns (the hook
   * is answered after). Throws (a one-line reason) when it cannot be
   * enforced: no cgroup id, every scope in use, the kernel refused.
   */
  containerCreated(report: ContainerReport): CreateResult {
    if (this.mode === 'off') return { enforced: false, rules: 0, policies: [] };
    this.#containers.set(report.id, report);
    const workload = workloadFromReport(report);
    const compiled = this.compile(workload);
    const policies = policyLabel(compiled);
    if (this.mode === 'audit') {
      if (compiled.rules.length > 0) this.#log.info('audit: would enforce', { id: report.id, name: workload.name, rules: compiled.rules.length, policies });
      return { enforced: false, rules: compiled.rules.length, policies };
    }
    return this.#apply(report, workload, compiled);
  }

  #apply(report: ContainerReport, workload: Workload, compiled: CompiledPolicySet): CreateResult {
    const kernel = this.#kernel!;
    const cgroupId = cgroupIdOf(report);
    const existing = cgroupId === undefined ? undefined : this.#allocator.indexOf(cgroupId);
    const policies = policyLabel(compiled);
    if (compiled.rules.length === 0) {
      // Nothing selects it: it is not in a scope (unaffected), and a scope it had is freed.
      if (cgroupId !== undefined && existing !== undefined) this.#release(cgroupId, existing);
      return { enforced: false, rules: 0, policies };
    }
    if (cgroupId === undefined) throw new ValidationError('enforce container', [{ path: 'cgroup.id', message: `container ${report.id} has policies but no cgroup id in its report` }]);
    const index = existing ?? this.#allocator.allocate(cgroupId);
    try {
      // Rules first, then the scope: the moment the cgroup is in scope, its rules are there.
      const entries = kernel.setRules(index, compiled.rules.map((entry) => entry.rule), enforcerPostures(compiled));
      if (existing === undefined) kernel.setScope(cgroupId, index);
      this.#scopes.set(index, { index, cgroupId, containerId: report.id, workload, compiled, entries });
      this.#released.delete(index);
      this.#log.info('enforcing', { id: report.id, name: workload.name, scope: index, rules: compiled.rules.length, entries, policies });
      return { enforced: true, scope: index, rules: compiled.rules.length, policies };
    } catch (error) {
      if (existing === undefined) {
        kernel.clearRules(index);
        this.#allocator.release(cgroupId);
      }
      throw error;
    }
  }

  /** The container's scope and rules removed (its processes are gone, or going). */
  containerStopped(containerId: string): boolean {
    this.#containers.delete(containerId);
    const state = this.scopeOfContainer(containerId);
    if (state === undefined) return false;
    this.#release(state.cgroupId, state.index);
    return true;
  }

  #release(cgroupId: bigint, index: number, options: { scopeEntry?: boolean } = {}): void {
    const kernel = this.#kernel;
    if (kernel !== undefined) {
      // Out of scope first: a process still there is then unaffected, never under a half-removed set.
      if (options.scopeEntry !== false) kernel.removeScope(cgroupId);
      kernel.clearRules(index);
    }
    this.#allocator.release(cgroupId);
    const state = this.#scopes.get(index);
    if (state !== undefined) this.#released.set(index, state);
    this.#scopes.delete(index);
  }

  /**
   * A new policy set for every container: each is recompiled and its set
   * swapped whole. Returns how many containers' sets changed. A container
   * whose new set cannot be written keeps its old one (and is reported).
   */
  setPolicies(policies: readonly Policy[]): { containers: number; failed: number } {
    this.#policies = policies;
    let containers = 0;
    let failed = 0;
    for (const report of this.#containers.values()) {
      try {
        this.containerCreated(report);
        containers++;
      } catch (error) {
        failed++;
        this.#log.error('enforcement: policy change not applied to a container; its previous rules stay', { id: report.id, error: describeError(error) });
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
}

export function cgroupIdOf(report: ContainerReport): bigint | undefined {
  const id = report.cgroup?.id;
  return id === undefined ? undefined : BigInt(id);
}
