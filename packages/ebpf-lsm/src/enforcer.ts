/**
 * The enforcer as a typed object: loads the shipped enforcer.bpf.o (or
 * another build of it), checks that it reads the layout this package
 * writes, attaches its programs, and offers the operations a loader needs:
 * scopes, whole rule sets swapped atomically, protected processes, the
 * event throttle, events and counters. Everything else stays reachable
 * through `object` for tools that need the raw maps.
 */
import { fileURLToPath } from 'node:url';
import { ValidationError } from '@bulwark/errors';
import { codecs, type Codec } from './codec.js';
import { StateError } from './errors.js';
import type { Link } from './link.js';
import { createMap, type BpfMap } from './map.js';
import { openObject, type LoadedObject, type OpenObjectOptions } from './object.js';
import { openRingBuffer, type RingBuffer, type RingBufferOptions } from './ring-buffer.js';
import { NotSupportedError } from '@bulwark/errors';
import {
  CONFIG_NO_CACHE,
  EVENT_SIZE,
  GENERATION_HAS_SOURCES,
  LAYOUT_VERSION,
  MAX_SCOPES,
  RULE_KEY_SIZE,
  RULE_VALUE_SIZE,
  throttleConfigCodec,
} from './layout.js';
import { decodeDecisionCounts, decodeEnforcerEvent, type DecisionCounts, type EnforcerEvent } from './records.js';
import { encodeRules, type Postures, type Rule, type RuleEntry } from './rules.js';

/** Where the package's own build of the enforcer is. */
export function enforcerObjectPath(): string {
  return fileURLToPath(new URL('./bpf/enforcer.bpf.o', import.meta.url));
}

export interface LoadEnforcerOptions extends Pick<OpenObjectOptions, 'binding' | 'onLog' | 'logLevel'> {
  /** The object file; default the package's own (enforcerObjectPath()). */
  readonly object?: string;
  /** Programs to attach; default all of them. */
  readonly attach?: 'all' | readonly string[];
}

/**
 * Tells the programs that scope `index`'s rule set changed, so that the
 * decision cache no longer uses allows decided under the old one: the
 * scope's entry of `generations` becomes the next generation (shifted left
 * by one), with bit 0 set when the new set has fromSource rules (then the
 * cache checks each task's source; `fromSource` defaults to true, which is
 * always safe). Enforcer.setRules and clearRules do it; a tool that writes
 * the `rules` map itself must call it after every change (after the swap,
 * not before).
 */
export function markRulesChanged(generations: BpfMap, index: number, options: { fromSource?: boolean } = {}): void {
  checkScope('mark rules changed', index);
  const map = generations.typed(codecs.u32, codecs.u64);
  const next = (((map.lookup(index) ?? 0n) >> 1n) + 1n) << 1n;
  map.update(index, options.fromSource === false ? next : next | BigInt(GENERATION_HAS_SOURCES));
}

/** BPF_F_NO_PREALLOC: an LPM trie must be created with it. */
const NO_PREALLOC = 1;

/**
 * A scope's rule set as a new inner map, ready to swap into `rules`: an LPM
 * trie like the enforcer's template (RULE_KEY_SIZE keys, RULE_VALUE_SIZE
 * values, BPF_F_NO_PREALLOC), sized to `entries` and filled with them, in
 * one batch where the kernel has batch updates for LPM tries, else one by
 * one (the map is not in use yet, so either way no program sees it half
 * filled). The caller closes it once swapped in.
 */
export function createRuleMap(entries: readonly RuleEntry[], name = 'scope_rules'): BpfMap {
  const map = createMap({ type: 'lpm_trie', flags: NO_PREALLOC, keySize: RULE_KEY_SIZE, valueSize: RULE_VALUE_SIZE, maxEntries: Math.max(entries.length, 1), name });
  try {
    fillRuleMap(map, entries);
    return map;
  } catch (error) {
    map.close();
    throw error;
  }
}

/** Writes `entries` into a rule map: one batch update, or one update each where the kernel has no batch for the map's type. */
export function fillRuleMap(map: BpfMap, entries: readonly RuleEntry[]): void {
  if (entries.length === 0) return;
  try {
    map.updateBatch(entries.map(({ key, value }) => [key, value] as const));
  } catch (error) {
    if (!(error instanceof NotSupportedError)) throw error;
    for (const { key, value } of entries) map.update(key, value);
  }
}

type ThrottleConfig = ReturnType<typeof throttleConfigCodec.decode>;

export interface ThrottleLimits {
  /** Events one scope may emit per second (default 100). */
  readonly eventsPerSecond: number;
  /** Once over the limit, nothing is emitted for this long (default 1 s). */
  readonly suppressMs: number;
}

/** The ring buffer's records, decoded. */
const enforcerEventCodec: Codec<EnforcerEvent> = {
  name: 'struct event',
  size: EVENT_SIZE,
  encode: (): never => {
    throw new StateError('encode enforcer event', 'events are written by the kernel only');
  },
  decode: decodeEnforcerEvent,
};

function checkScope(operation: string, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SCOPES) {
    throw new ValidationError(operation, [{ path: 'scope', message: `expected an integer from 0 to ${MAX_SCOPES - 1}, got ${String(index)}` }]);
  }
}

/**
 * Loads the enforcer: opens the object, checks its layout version against
 * LAYOUT_VERSION (a StateError names both when they differ, before any
 * program is attached), and attaches the programs asked for. Errors: those
 * of openObject and load (NotSupportedError, LibbpfError, VerifierError).
 */
export function loadEnforcer(options: LoadEnforcerOptions = {}): Enforcer {
  const path = options.object ?? enforcerObjectPath();
  const { binding, onLog, logLevel } = options;
  const object = openObject(path, { ...(binding === undefined ? {} : { binding }), ...(onLog === undefined ? {} : { onLog }), ...(logLevel === undefined ? {} : { logLevel }) }).load();
  try {
    const rodata = object.maps().find((map) => map.name.endsWith('.rodata'));
    // layout_version is the object's only read-only global, so .rodata's value starts with it.
    const rodataValue = rodata?.lookup(codecs.u32.encode(0));
    const version = rodataValue === undefined ? undefined : codecs.u32.decode(rodataValue);
    if (version !== LAYOUT_VERSION) {
      throw new StateError('load enforcer', `${path} has map layout ${version === undefined ? 'unknown' : String(version)}, this package writes layout ${LAYOUT_VERSION}`);
    }
    const names = options.attach === undefined || options.attach === 'all' ? object.programs().map((program) => program.name) : options.attach;
    const links = new Map<string, Link>();
    try {
      for (const name of names) links.set(name, object.program(name).attach());
    } catch (error) {
      for (const link of links.values()) link.destroy();
      throw error;
    }
    return new Enforcer(object, links);
  } catch (error) {
    object.close();
    throw error;
  }
}

export class Enforcer implements Disposable {
  readonly object: LoadedObject;
  /** The attached programs' links, by program name. */
  readonly links: ReadonlyMap<string, Link>;

  /** @internal Use loadEnforcer(). */
  constructor(object: LoadedObject, links: ReadonlyMap<string, Link>) {
    this.object = object;
    this.links = links;
  }

  /** Puts the processes of cgroup `cgroupId` (the cgroup directory's inode number) in scope `index`. */
  setScope(cgroupId: bigint, index: number): void {
    checkScope('set scope', index);
    this.object.map('scopes').typed(codecs.u64, codecs.u32).update(cgroupId, index);
  }

  /** Takes a cgroup out of its scope; its processes are no longer affected. Returns whether it was in one. */
  removeScope(cgroupId: bigint): boolean {
    return this.object.map('scopes').typed(codecs.u64, codecs.u32).delete(cgroupId);
  }

  /**
   * Replaces scope `index`'s rule set with `rules` as a whole: encoded
   * (ValidationError names every bad rule, and nothing changes), written
   * into a new inner map, then swapped in; the programs see the old set or
   * the new one, never a mix. Returns the number of map entries.
   */
  setRules(index: number, rules: readonly Rule[], options: { postures?: Postures } = {}): number {
    checkScope('set rules', index);
    const entries = encodeRules(rules, options);
    const map = createRuleMap(entries);
    try {
      this.object.map('rules').updateInnerMap(codecs.u32.encode(index), map);
    } finally {
      map.close();
    }
    markRulesChanged(this.object.map('generations'), index, { fromSource: rules.some((rule) => rule.fromSource !== undefined) });
    return entries.length;
  }

  /** Removes scope `index`'s rule set: the scope is then unaffected (as without rules). */
  clearRules(index: number): boolean {
    checkScope('clear rules', index);
    const deleted = this.object.map('rules').delete(codecs.u32.encode(index));
    markRulesChanged(this.object.map('generations'), index, { fromSource: false });
    return deleted;
  }

  /** No scoped process may signal `tgid` (the agent's own processes). */
  protect(tgid: number): void {
    this.object.map('protected').typed(codecs.u32, codecs.u32).update(tgid, 1);
  }

  unprotect(tgid: number): boolean {
    return this.object.map('protected').typed(codecs.u32, codecs.u32).delete(tgid);
  }

  /** Sets the per-scope event throttle. */
  setThrottle(limits: ThrottleLimits): void {
    const issues = [];
    if (!Number.isInteger(limits.eventsPerSecond) || limits.eventsPerSecond < 1 || limits.eventsPerSecond > 0xffffffff) issues.push({ path: 'eventsPerSecond', message: 'expected a positive integer' });
    if (!Number.isFinite(limits.suppressMs) || limits.suppressMs <= 0) issues.push({ path: 'suppressMs', message: 'expected a positive number of milliseconds' });
    if (issues.length > 0) throw new ValidationError('set throttle', issues);
    this.#setConfig({ ...this.#config(), eventsPerSecond: limits.eventsPerSecond, suppressNs: BigInt(Math.round(limits.suppressMs * 1e6)) });
  }

  /**
   * Turns the decision cache on (the default) or off. Off, every open and
   * exec in a scope resolves its path and walks the rules; for measuring,
   * or to rule the cache out when looking into a decision.
   */
  setDecisionCache(enabled: boolean): void {
    const config = this.#config();
    this.#setConfig({ ...config, flags: enabled ? config.flags & ~CONFIG_NO_CACHE : config.flags | CONFIG_NO_CACHE });
  }

  /** The `config` value (all zeros, the defaults, if the map has none). */
  #config(): ThrottleConfig {
    const value = this.object.map('config').lookup(codecs.u32.encode(0));
    return value === undefined ? { eventsPerSecond: 0, flags: 0, suppressNs: 0n } : throttleConfigCodec.decode(value);
  }

  #setConfig(config: ThrottleConfig): void {
    this.object.map('config').update(codecs.u32.encode(0), throttleConfigCodec.encode(config));
  }

  /** Scope `index`'s decision counters. */
  decisions(index: number): DecisionCounts {
    checkScope('read decisions', index);
    const value = this.object.map('decisions').lookup(codecs.u32.encode(index));
    if (value === undefined) throw new StateError('read decisions', `no counters for scope ${index}`);
    return decodeDecisionCounts(value);
  }

  /** The decisions' events, decoded, as an async iterator (close it when done). */
  events(options: RingBufferOptions = {}): RingBuffer<EnforcerEvent> {
    return openRingBuffer(this.object.map('events'), { ...options, codec: enforcerEventCodec });
  }

  /**
   * Pins the maps and the links under `directory` (on bpffs), so that the
   * enforcement outlives this process and another can take it over
   * (BpfMap.openPinned, Link.openPinned): maps as `map-<name>`, links as
   * `link-<program>`.
   */
  pin(directory: string): void {
    for (const name of ['scopes', 'rules', 'generations', 'decisions', 'throttle', 'config', 'protected', 'events']) this.object.map(name).pin(`${directory}/map-${name}`);
    for (const [program, link] of this.links) link.pin(`${directory}/link-${program}`);
  }

  /** Detaches (destroys the links) and unloads. Pinned links and maps stay in the kernel until unpinned. */
  close(): void {
    for (const link of this.links.values()) link.destroy();
    this.object.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
