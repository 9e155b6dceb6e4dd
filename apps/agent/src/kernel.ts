/**
 * The kernel side of enforcement: the BPF LSM enforcer loaded and pinned
 * under bpffs, or the one a previous agent pinned taken over (its scopes and
 * rules stay in force throughout: the programs are never detached), the
 * agent's own processes protected, and the enforcer's events read.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { describeError, toSystemError } from '@bulwark/errors';
import { loadEnforcer, openPinnedEnforcer, probeBpfLsm, type Enforcer, type EnforcerEvent, type RingBuffer } from '@bulwark/ebpf-lsm';
import type { DecisionCounts, Postures, Rule, RulePart } from '@bulwark/ebpf-lsm/rules';
import type { ScopeKernel } from './enforcement.js';
import type { Logger } from './log.js';

export const DEFAULT_BPFFS_DIRECTORY = '/sys/fs/bpf/bulwark';

export interface KernelOptions {
  readonly directory: string;
  /** The enforcer's per-scope event throttle (KubeArmor's maxAlertPerSec and throttleSec). */
  readonly throttle?: { readonly eventsPerSecond: number; readonly suppressMs: number } | undefined;
  readonly log: Logger;
}

export interface KernelEnforcer extends ScopeKernel {
  readonly enforcer: Enforcer;
  /** Whether a previous agent's pinned enforcer was taken over. */
  readonly tookOver: boolean;
  /** Scope `index`'s decision counters, from its container's start. */
  decisions(index: number): DecisionCounts;
  /** Events the enforcer could not emit because the ring buffer was full, since this agent started (a running total). */
  lostEvents(): number;
  events(): RingBuffer<EnforcerEvent>;
  /** Closes this process's handles; the pinned enforcer stays attached and in force. */
  close(): void;
}

/** What Enforcement needs of the kernel, over an Enforcer (the agent's own, or one a test or bench loaded). */
export function scopeKernelOf(enforcer: Enforcer): ScopeKernel {
  return {
    setScope: (cgroupId, scope, set) => enforcer.setScope(cgroupId, scope, set),
    removeScope: (cgroupId) => enforcer.removeScope(cgroupId),
    // A new container's counts start at its own first decision: Enforcement resets them before its cgroup is put in scope.
    resetDecisions: (scope) => enforcer.resetDecisions(scope),
    setRules: (set: number, rules: readonly Rule[], postures: Postures, parts?: readonly RulePart[]) => enforcer.setRules(set, rules, { postures, ...(parts === undefined ? {} : { parts }) }),
    setManyRules: (sets) => enforcer.setManyRules(sets),
    clearRules: (set) => enforcer.clearRules(set),
    scopes: () => [...enforcer.scopes()],
    sets: () => enforcer.setsWithRules(),
    setHostScope: (scope, set) => enforcer.setHostScope(scope, set),
    setIdentities: (scope, identities) => enforcer.setIdentities(scope, identities),
    clearIdentities: (scope) => enforcer.clearIdentities(scope),
    identityScopes: () => enforcer.identityScopes(),
    fillPool: (count, options) => enforcer.fillPool(count, options),
    pooledSets: () => enforcer.pooledSets(),
    hostScope: () => {
      const scope = enforcer.hostScope();
      return scope === undefined ? undefined : { scope, set: enforcer.hostSet()! };
    },
  };
}

/** Refuses with the probe's reason when BPF LSM is not active. */
export function requireBpfLsm(): void {
  const probe = probeBpfLsm();
  if (probe.status !== 'supported') throw new Error(`enforcement required, but ${probe.detail}`);
}

export async function openKernel(options: KernelOptions): Promise<KernelEnforcer> {
  const { directory, log } = options;
  let enforcer: Enforcer;
  let tookOver = false;
  if (existsSync(`${directory}/map-scopes`)) {
    enforcer = openPinnedEnforcer(directory);
    tookOver = true;
    log.info('enforcer taken over', { directory });
  } else {
    try {
      await mkdir(directory, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw toSystemError('create bpffs directory', error, directory);
    }
    enforcer = loadEnforcer();
    try {
      enforcer.pin(directory);
    } catch (error) {
      enforcer.close();
      throw error;
    }
    log.info('enforcer loaded and pinned', { directory });
  }
  try {
    enforcer.protect(process.pid);
    if (options.throttle !== undefined) enforcer.setThrottle(options.throttle);
  } catch (error) {
    log.error('enforcer set-up failed', { error: describeError(error) });
    enforcer.close();
    throw error;
  }
  // lost counts are per scope and reset with the scope: what a reset clears is carried here, so the total never goes back.
  const lostAtStart = enforcer.lostEvents();
  let lostCleared = 0n;
  const resetDecisions = (index: number) => {
    lostCleared += enforcer.decisions(index).lost;
    enforcer.resetDecisions(index);
  };
  return {
    enforcer,
    tookOver,
    ...scopeKernelOf(enforcer),
    // What a reset clears of the lost counter is kept in the running total.
    resetDecisions,
    decisions: (index) => enforcer.decisions(index),
    lostEvents: () => Number(enforcer.lostEvents() + lostCleared - lostAtStart),
    events: () => enforcer.events(),
    close: () => enforcer.close(),
  };
}
