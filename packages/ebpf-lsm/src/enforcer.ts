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
import { LAYOUT_VERSION, MAX_SCOPES, RULE_KEY_SIZE, RULE_PATH_SIZE, RULE_VALUE_SIZE, VERDICTS, encodeRules, type Postures, type Rule, type RuleEntry, type Verdict } from './rules.js';

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

export interface DecisionCounts {
  readonly allowed: bigint;
  readonly denied: bigint;
  /** Undecidable (a path that could not be resolved), so denied. */
  readonly failed: bigint;
  readonly audited: bigint;
  /** Of `allowed`, the opens and execs the decision cache allowed without resolving the path. */
  readonly cached: bigint;
}

/** Bytes in one `decisions` value (struct decision_counts). */
export const DECISION_COUNTS_SIZE = 40;

/** Decodes one `decisions` value. Throws ValidationError for a value of the wrong size. */
export function decodeDecisionCounts(value: Uint8Array): DecisionCounts {
  if (value.length !== DECISION_COUNTS_SIZE) {
    throw new ValidationError('decode decision counts', [{ path: '', message: `expected ${DECISION_COUNTS_SIZE} bytes, got ${value.length}` }]);
  }
  const view = Buffer.from(value.buffer, value.byteOffset, value.length);
  return { allowed: view.readBigUInt64LE(0), denied: view.readBigUInt64LE(8), failed: view.readBigUInt64LE(16), audited: view.readBigUInt64LE(24), cached: view.readBigUInt64LE(32) };
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
  map.update(index, options.fromSource === false ? next : next | 1n);
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

/** Flags of the `config` value (struct throttle_config's `flags`). */
const CONFIG_NO_CACHE = 1;


export interface ThrottleLimits {
  /** Events one scope may emit per second (default 100). */
  readonly eventsPerSecond: number;
  /** Once over the limit, nothing is emitted for this long (default 1 s). */
  readonly suppressMs: number;
}

/** One record of the `events` ring buffer (struct event in enforcer.bpf.c). */
export interface EnforcerEvent {
  readonly timeNs: bigint;
  readonly cgroupId: bigint;
  readonly scope: number;
  readonly pid: number;
  readonly tgid: number;
  readonly uid: number;
  /** One OPERATION_BITS bit (0 for a `dropped` record). */
  readonly operation: number;
  readonly ruleId: number;
  readonly verdict: Verdict;
  /** For a `dropped` record: how many events the throttle held back. */
  readonly dropped: number;
  readonly comm: string;
  /** The path; for a socket or capability, the key's bytes in hex. */
  readonly resource: string;
  /** The executable of the process. */
  readonly source: string;
}

/** Bytes in one event record. */
export const EVENT_SIZE = 8 + 8 + 8 * 4 + 16 + RULE_PATH_SIZE + RULE_PATH_SIZE;

function text(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, end === -1 ? bytes.length : end)).toString('utf8');
}

/** Decodes one event record. Throws ValidationError for a record of the wrong size. */
export function decodeEnforcerEvent(record: Uint8Array): EnforcerEvent {
  if (record.length !== EVENT_SIZE) {
    throw new ValidationError('decode enforcer event', [{ path: '', message: `expected ${EVENT_SIZE} bytes, got ${record.length}` }]);
  }
  const view = Buffer.from(record.buffer, record.byteOffset, record.length);
  const u32 = (offset: number) => view.readUInt32LE(offset);
  const resource = view.subarray(64, 64 + RULE_PATH_SIZE);
  return {
    timeNs: view.readBigUInt64LE(0),
    cgroupId: view.readBigUInt64LE(8),
    scope: u32(16),
    pid: u32(20),
    tgid: u32(24),
    uid: u32(28),
    operation: u32(32),
    ruleId: u32(36),
    verdict: VERDICTS[u32(40)] ?? 'allow',
    dropped: u32(44),
    comm: text(view.subarray(48, 64)),
    resource: resource[0] === 0x2f || resource[0] === 0 ? text(resource) : resource.subarray(0, 12).toString('hex'),
    source: text(view.subarray(64 + RULE_PATH_SIZE, 64 + 2 * RULE_PATH_SIZE)),
  };
}

const eventCodec: Codec<EnforcerEvent> = {
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
    const version = rodata?.lookup(codecs.u32.encode(0))?.readUInt32LE(0);
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
    const value = this.#config();
    value.writeUInt32LE(limits.eventsPerSecond, 0);
    value.writeBigUInt64LE(BigInt(Math.round(limits.suppressMs * 1e6)), 8);
    this.object.map('config').update(codecs.u32.encode(0), value);
  }

  /**
   * Turns the decision cache on (the default) or off. Off, every open and
   * exec in a scope resolves its path and walks the rules; for measuring,
   * or to rule the cache out when looking into a decision.
   */
  setDecisionCache(enabled: boolean): void {
    const value = this.#config();
    const flags = value.readUInt32LE(4);
    value.writeUInt32LE(enabled ? flags & ~CONFIG_NO_CACHE : flags | CONFIG_NO_CACHE, 4);
    this.object.map('config').update(codecs.u32.encode(0), value);
  }

  #config(): Buffer {
    return this.object.map('config').lookup(codecs.u32.encode(0)) ?? Buffer.alloc(16);
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
    return openRingBuffer(this.object.map('events'), { ...options, codec: eventCodec });
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
