/**
 * The enforcer as a typed object: loads the shipped enforcer.bpf.o (or
 * another build of it), checks that it reads the layout this package
 * writes, attaches its programs, and offers the operations a loader needs:
 * scopes, the rule sets they use (shared, each swapped whole and
 * atomically), protected processes, the
 * event throttle, events and counters. Everything else stays reachable
 * through `object` for tools that need the raw maps.
 */
import { readdirSync, rmdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotSupportedError, ValidationError, addContext, errnoOf, toSystemError } from '@bulwark/errors';
import type { LibbpfBinding } from './binding.js';
import { codecs, type Codec } from './codec.js';
import { StateError } from './errors.js';
import { ENFORCER_MAP_NAMES, LAYOUT_PIN, LINK_PIN_PREFIX, MAP_PIN_PREFIX, type EnforcerMapName } from './enforcer-pins.js';
import { Link } from './link.js';
import { BpfMap, createMap, mapBinding } from './map.js';
import { openObject, type LoadedObject, type OpenObjectOptions } from './object.js';
import { openRingBuffer, type RingBuffer, type RingBufferOptions } from './ring-buffer.js';
import {
  CONFIG_NO_CACHE,
  DECISION_COUNTS_SIZE,
  EVENT_SIZE,
  GENERATION_HAS_SOURCES,
  LAYOUT_VERSION,
  MAX_IDENTITIES,
  MAX_SCOPES,
  MAX_SETS,
  RULE_KEY_SIZE,
  RULE_VALUE_SIZE,
  identityKeyCodec,
  identityValueCodec,
  scopeEntryCodec,
  throttleConfigCodec,
  type ScopeEntry,
} from './layout.js';
import { decodeDecisionCounts, decodeEnforcerEvent, type DecisionCounts, type EnforcerEvent } from './records.js';
import { encodeRules, type Postures, type Rule, type RuleEntry, type RulePart } from './rules.js';

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
 * Tells the programs that rule set `set` changed, so that the decision
 * cache no longer uses allows decided under the old one: the set's entry
 * of `generations` becomes the next generation (shifted left
 * by one), with bit 0 set when the new set has fromSource rules (then the
 * cache checks each task's source; `fromSource` defaults to true, which is
 * always safe). Enforcer.setRules and clearRules do it; a tool that writes
 * the `rules` map itself must call it after every change (after the swap,
 * not before). Between the swap and this call a cached allow is still tied
 * to the inner map it was decided with, so the old set's allows do not
 * apply beside the new set: the swap itself is what takes effect.
 */
export function markRulesChanged(generations: BpfMap, set: number, options: { fromSource?: boolean } = {}): void {
  checkSet('mark rules changed', set);
  const map = generations.typed(codecs.u32, codecs.u64);
  const next = (((map.lookup(set) ?? 0n) >> 1n) + 1n) << 1n;
  map.update(set, options.fromSource === false ? next : next | BigInt(GENERATION_HAS_SOURCES));
}

/** BPF_F_NO_PREALLOC: an LPM trie must be created with it. */
const NO_PREALLOC = 1;

/** The most entries a pooled inner map takes (an LPM trie allocates per entry, so the bound costs nothing); a larger set is swapped in as a new map. */
export const POOL_MAP_ENTRIES = 1 << 18;

/**
 * A rule set as a new inner map, ready to swap into `rules`: an LPM
 * trie like the enforcer's template (RULE_KEY_SIZE keys, RULE_VALUE_SIZE
 * values, BPF_F_NO_PREALLOC), sized to `entries` and filled with them, in
 * one batch where the kernel has batch updates for LPM tries, else one by
 * one (the map is not in use yet, so either way no program sees it half
 * filled). The caller closes it once swapped in.
 */
export function createRuleMap(entries: readonly RuleEntry[], name = 'set_rules', options: { binding?: LibbpfBinding } = {}): BpfMap {
  const binding = options.binding === undefined ? {} : { binding: options.binding };
  const map = createMap({ type: 'lpm_trie', flags: NO_PREALLOC, keySize: RULE_KEY_SIZE, valueSize: RULE_VALUE_SIZE, maxEntries: Math.max(entries.length, 1), name, ...binding });
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

function checkIndex(operation: string, path: 'scope' | 'set', index: number, limit: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= limit) {
    throw new ValidationError(operation, [{ path, message: `expected an integer from 0 to ${limit - 1}, got ${String(index)}` }]);
  }
}

const checkScope = (operation: string, index: number) => checkIndex(operation, 'scope', index, MAX_SCOPES);
const checkSet = (operation: string, set: number) => checkIndex(operation, 'set', set, MAX_SETS);


/** A file a scope's Block rules follow by identity: Enforcer.setIdentities(). */
export interface ScopeIdentity {
  /** The file system's device as the kernel numbers it (major << 20 | minor): kernelDevice() of a stat's dev. */
  readonly dev: number;
  readonly ino: bigint;
  /** The operations denied (OPERATION_BITS). */
  readonly ops: number;
  /** The rule reported in the event. */
  readonly ruleId: number;
}

// The pin layout (map-<name>, link-<program>, map-rodata) is enforcer-pins.ts's, shared with removeEnforcerPins().
export { ENFORCER_MAP_NAMES, type EnforcerMapName } from './enforcer-pins.js';

/**
 * The layout version in an enforcer's .rodata map (layout_version is the
 * object's only read-only global, so the value starts with it). Throws
 * StateError naming both versions unless it is LAYOUT_VERSION; `source` is
 * what the message says has that layout (the object file, the pin directory).
 */
function checkLayout(operation: string, source: string, rodata: BpfMap | undefined): number {
  const value = rodata?.lookup(codecs.u32.encode(0));
  const version = value === undefined ? undefined : codecs.u32.decode(value);
  if (version !== LAYOUT_VERSION) {
    throw new StateError(operation, `${source} has map layout ${version === undefined ? 'unknown' : String(version)}, this package writes layout ${LAYOUT_VERSION}`);
  }
  return version;
}

/** What an Enforcer is made of: from a loaded object, or from the pins of one. */
interface EnforcerParts {
  /** The loaded object; undefined for an enforcer opened from pins. */
  readonly object: LoadedObject | undefined;
  readonly maps: ReadonlyMap<EnforcerMapName, BpfMap>;
  /** The object's .rodata map (layout_version). */
  readonly rodata: BpfMap | undefined;
  readonly links: ReadonlyMap<string, Link>;
  readonly layoutVersion: number;
  /** Where the enforcer's pins are: those it was opened from; undefined until pin(). */
  readonly pinDirectory: string | undefined;
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
    const layoutVersion = checkLayout('load enforcer', path, rodata);
    const maps = new Map(ENFORCER_MAP_NAMES.map((name) => [name, object.map(name)] as const));
    const names = options.attach === undefined || options.attach === 'all' ? object.programs().map((program) => program.name) : options.attach;
    const links = new Map<string, Link>();
    try {
      for (const name of names) links.set(name, object.program(name).attach());
    } catch (error) {
      for (const link of links.values()) link.destroy();
      throw error;
    }
    return new Enforcer({ object, maps, rodata, links, layoutVersion, pinDirectory: undefined });
  } catch (error) {
    object.close();
    throw error;
  }
}

export interface OpenPinnedEnforcerOptions {
  /** The libbpf binding to use; default the real libbpf.so.1. */
  readonly binding?: LibbpfBinding;
}

/**
 * Takes over an enforcer that another process (alive, exited or killed)
 * pinned with Enforcer.pin(directory): opens every map and link from the
 * pins, so that this process drives the same scopes, rule sets and
 * attachments as the one that loaded them. The programs stay attached
 * throughout: nothing is loaded, detached or written. Checks first that
 * the pinned object's layout (its .rodata layout_version, pinned as
 * map-rodata) is this package's, and throws StateError naming both
 * versions when it is not; StateError too, in one line, when the directory
 * holds no enforcer or only part of one (what is missing is named), or a
 * pin holds another map than its name says. Two processes driving the same
 * pins at once write over each other: make sure the old one is gone.
 */
export function openPinnedEnforcer(directory: string, options: OpenPinnedEnforcerOptions = {}): Enforcer {
  const operation = 'open pinned enforcer';
  if (typeof directory !== 'string' || directory === '' || directory.includes('\0')) {
    throw new ValidationError(operation, [{ path: 'directory', message: 'expected a non-empty path' }]);
  }
  const root = resolve(directory);
  let names: string[];
  try {
    names = readdirSync(root);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ENOENT' || errno === 'ENOTDIR') throw new StateError(operation, `no enforcer pinned at ${root} (${errno === 'ENOENT' ? 'no such directory' : 'not a directory'})`);
    throw toSystemError(operation, error, root);
  }
  const present = new Set(names);
  const linkNames = names.filter((name) => name.startsWith(LINK_PIN_PREFIX)).sort();
  const mapPins = [...ENFORCER_MAP_NAMES.map((name) => MAP_PIN_PREFIX + name), LAYOUT_PIN];
  const missing = mapPins.filter((name) => !present.has(name));
  if (missing.length === mapPins.length && linkNames.length === 0) {
    throw new StateError(operation, `no enforcer pinned at ${root} (no map-* or link-* pins)`);
  }
  if (linkNames.length === 0) missing.push('link-* (no program is attached)');
  if (missing.length > 0) throw new StateError(operation, `partial enforcer pins at ${root}: missing ${missing.join(', ')}`);

  const binding = options.binding === undefined ? {} : { binding: options.binding };
  const opened: (BpfMap | Link)[] = [];
  const open = <T extends BpfMap | Link>(handle: T): T => {
    opened.push(handle);
    return handle;
  };
  try {
    const rodata = open(BpfMap.openPinned(join(root, LAYOUT_PIN), binding));
    if (!rodata.name.endsWith('.rodata')) throw new StateError(operation, `${join(root, LAYOUT_PIN)} holds map ${rodata.name}, not an enforcer's .rodata`);
    const layoutVersion = checkLayout(operation, root, rodata);
    const maps = new Map<EnforcerMapName, BpfMap>();
    for (const name of ENFORCER_MAP_NAMES) {
      const path = join(root, MAP_PIN_PREFIX + name);
      const map = open(BpfMap.openPinned(path, binding));
      if (map.name !== name) throw new StateError(operation, `${path} holds map ${map.name}, not ${name}`);
      maps.set(name, map);
    }
    const links = new Map<string, Link>();
    for (const name of linkNames) links.set(name.slice(LINK_PIN_PREFIX.length), open(Link.openPinned(join(root, name), binding)));
    return new Enforcer({ object: undefined, maps, rodata, links, layoutVersion, pinDirectory: root });
  } catch (error) {
    // Closing handles opened from pins leaves the pins, and so the enforcement, as they were.
    for (const handle of opened) handle.close();
    throw error instanceof StateError && error.operation === operation ? error : addContext(operation, error);
  }
}

export class Enforcer implements Disposable {
  /** The loaded object, for tools that need more than the maps; undefined for an enforcer opened from pins. */
  readonly object: LoadedObject | undefined;
  /** The attached programs' links, by program name. */
  readonly links: ReadonlyMap<string, Link>;
  /** The object's map layout version (its .rodata layout_version), LAYOUT_VERSION. */
  readonly layoutVersion: number;
  readonly #maps: ReadonlyMap<EnforcerMapName, BpfMap>;
  readonly #rodata: BpfMap | undefined;
  #pinDirectory: string | undefined;
  #closed = false;
  /** Empty inner maps this process put into `rules` at free set indexes (fillPool), by index, still open to be filled in place. */
  readonly #pool = new Map<number, BpfMap>();
  /** Whether a set index holds a rule set, as this process wrote or last looked it up (fillPool looks up each other index once). */
  readonly #holdsRules = new Map<number, boolean>();

  /** @internal Use loadEnforcer() or openPinnedEnforcer(). */
  constructor(parts: EnforcerParts) {
    this.object = parts.object;
    this.links = parts.links;
    this.layoutVersion = parts.layoutVersion;
    this.#maps = parts.maps;
    this.#rodata = parts.rodata;
    this.#pinDirectory = parts.pinDirectory;
  }

  /** Opens the enforcer pinned at `directory`: openPinnedEnforcer(). */
  static openPinned(directory: string, options: OpenPinnedEnforcerOptions = {}): Enforcer {
    return openPinnedEnforcer(directory, options);
  }

  /** One of the enforcer's maps (the object's, or one opened from its pin), for what the methods do not cover. */
  map(name: EnforcerMapName): BpfMap {
    const map = this.#maps.get(name);
    if (map === undefined) throw new StateError(`get map ${name}`, `the enforcer has no map ${name}`);
    return map;
  }

  /** Where the enforcer is pinned (by pin(), or the directory it was opened from); undefined when it is not. */
  get pinDirectory(): string | undefined {
    return this.#pinDirectory;
  }

  /**
   * Puts the processes of cgroup `cgroupId` (the cgroup directory's inode
   * number) in scope `scope`, enforced with rule set `set` (default: the
   * set of the same index as the scope). One update of a hash map: for a
   * cgroup already in a scope, the programs see the old entry or the new
   * one, so moving a container to another set (its scope kept) is atomic
   * for it, and no grace period is waited for.
   */
  setScope(cgroupId: bigint, scope: number, set: number = scope): void {
    checkScope('set scope', scope);
    checkSet('set scope', set);
    this.map('scopes').typed(codecs.u64, scopeEntryCodec).update(cgroupId, { scope, set });
  }

  /** Takes a cgroup out of its scope; its processes are no longer affected. Returns whether it was in one. */
  removeScope(cgroupId: bigint): boolean {
    return this.map('scopes').typed(codecs.u64, scopeEntryCodec).delete(cgroupId);
  }

  /**
   * The scopes in force: cgroup id -> its scope and set indexes, as the
   * `scopes` map holds them, ordered by cgroup id. After a restart, what an
   * agent holds its registry against (ScopeAllocator.fromEntries takes the
   * scope indexes).
   */
  scopes(): Map<bigint, ScopeEntry> {
    const entries = [...this.map('scopes').typed(codecs.u64, scopeEntryCodec).entries()];
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return new Map(entries);
  }

  /**
   * Replaces scope `scope`'s identities: the files (device as the kernel
   * numbers it, see kernelDevice(), and inode) whose other names its Block
   * rules also deny, with the operations denied and the rule reported. An
   * open, exec or write of a file with other names than one (a hard link,
   * or none left after an unlink) is denied when its identity is here;
   * identityTargets() says which of a rule set's rules to stat. New entries
   * are written before stale ones go, so a file kept in the list is never
   * unguarded. Returns the number of identities the scope holds.
   */
  setIdentities(scope: number, identities: readonly ScopeIdentity[]): number {
    checkScope('set identities', scope);
    const issues: { path: string; message: string }[] = [];
    const wanted = new Map<string, ScopeIdentity>();
    identities.forEach((identity, index) => {
      if (!Number.isInteger(identity.dev) || identity.dev < 0 || identity.dev > 0xffffffff) issues.push({ path: `${index}.dev`, message: 'expected a 32-bit device number' });
      if (typeof identity.ino !== 'bigint' || identity.ino < 0n || identity.ino > 0xffffffffffffffffn) issues.push({ path: `${index}.ino`, message: 'expected a 64-bit inode number (a bigint)' });
      if (!Number.isInteger(identity.ops) || identity.ops <= 0 || identity.ops > 0xffffffff) issues.push({ path: `${index}.ops`, message: 'expected a non-empty set of operation bits' });
      if (!Number.isInteger(identity.ruleId) || identity.ruleId < 0 || identity.ruleId > 0xffffffff) issues.push({ path: `${index}.ruleId`, message: 'expected a 32-bit rule id' });
      const key = `${identity.dev}:${identity.ino}`;
      const found = wanted.get(key);
      // Two rule paths naming one file (a link the rules name twice): one identity, both rules' operations.
      wanted.set(key, found === undefined ? identity : { ...identity, ops: found.ops | identity.ops, ruleId: Math.min(found.ruleId, identity.ruleId) });
    });
    if (issues.length > 0) throw new ValidationError(`set identities of scope ${scope}`, issues);
    const map = this.map('identities').typed(identityKeyCodec, identityValueCodec);
    // One walk of the keys (a syscall each): this scope's stale ones, and how many the other scopes hold.
    const stale: ReturnType<typeof identityKeyCodec.decode>[] = [];
    let held = 0;
    for (const key of map.keys()) {
      if (key.scope !== scope) held++;
      else if (!wanted.has(`${key.dev}:${key.ino}`)) stale.push(key);
    }
    if (held + wanted.size > MAX_IDENTITIES) {
      throw new ValidationError(`set identities of scope ${scope}`, [{ path: '', message: `${wanted.size} identities, with the ${held} other scopes hold, exceed the ${MAX_IDENTITIES} the map holds` }]);
    }
    for (const identity of wanted.values()) map.update({ scope, dev: identity.dev, ino: identity.ino }, { ops: identity.ops, ruleId: identity.ruleId });
    for (const key of stale) map.delete(key);
    return wanted.size;
  }

  /** Removes scope `scope`'s identities; returns how many there were. */
  clearIdentities(scope: number): number {
    checkScope('clear identities', scope);
    const map = this.map('identities').typed(identityKeyCodec, identityValueCodec);
    const mine = [...map.keys()].filter((key) => key.scope === scope);
    for (const key of mine) map.delete(key);
    return mine.length;
  }

  /** The scopes that hold identities, in order. */
  identityScopes(): number[] {
    const scopes = new Set<number>();
    for (const key of this.map('identities').typed(identityKeyCodec, identityValueCodec).keys()) scopes.add(key.scope);
    return [...scopes].sort((a, b) => a - b);
  }

  /** Scope `scope`'s identities, ordered by device and inode. */
  identities(scope: number): ScopeIdentity[] {
    checkScope('list identities', scope);
    const found: ScopeIdentity[] = [];
    for (const [key, value] of this.map('identities').typed(identityKeyCodec, identityValueCodec).entries()) {
      if (key.scope === scope) found.push({ dev: key.dev, ino: key.ino, ops: value.ops, ruleId: value.ruleId });
    }
    return found.sort((a, b) => a.dev - b.dev || (a.ino < b.ino ? -1 : a.ino > b.ino ? 1 : 0));
  }

  /** Whether rule set `set` is in `rules` (setRules, not cleared since; a pooled empty map is not a rule set). */
  hasRules(set: number): boolean {
    checkSet('look up rules', set);
    if (this.#pool.has(set)) return false;
    return this.map('rules').lookup(codecs.u32.encode(set)) !== undefined;
  }

  /**
   * Puts up to `count` empty inner maps into `rules` at free set indexes
   * (no rule set there, no scope using it, `exclude` left out), lowest
   * first, until POOL holds `count`; returns how many it added. Each is a
   * map-in-map update, so each waits for an RCU grace period: call it off
   * any latency-critical path. A later setRules at a pooled index fills
   * that map in place (no scope reads it yet), with no map-in-map update
   * and so no grace period: what a new rule set costs on the hook's path.
   * The pool is this process's (the maps' descriptors); an enforcer taken
   * over sees pooled slots as free indexes, and a setRules there swaps as
   * usual.
   */
  fillPool(count: number, options: { exclude?: Iterable<number>; limit?: number } = {}): number {
    if (!Number.isInteger(count) || count < 0 || count > MAX_SETS) throw new ValidationError('fill pool', [{ path: 'count', message: `expected an integer from 0 to ${MAX_SETS}` }]);
    const exclude = new Set(options.exclude ?? []);
    const used = new Set([...this.scopes().values()].map((entry) => entry.set));
    for (const [set, generation] of this.map('generations').typed(codecs.u32, codecs.u64).lookupBatch()) {
      // A set written once (its generation moved) may hold rules still, or have been cleared: looked up once, then known.
      if (generation === 0n || this.#pool.has(set)) continue;
      let holds = this.#holdsRules.get(set);
      if (holds === undefined) {
        holds = this.map('rules').lookup(codecs.u32.encode(set)) !== undefined;
        this.#holdsRules.set(set, holds);
      }
      if (holds) used.add(set);
    }
    // The host scope's set (an enforcer built from maps alone may have no config map, and so no host scope).
    const host = this.#maps.has('config') ? this.hostSet() : undefined;
    if (host !== undefined) used.add(host);
    const outer = this.map('rules');
    let added = 0;
    const limit = options.limit ?? count;
    for (let set = 0; set < MAX_SETS && this.#pool.size < count && added < limit; set++) {
      if (this.#pool.has(set) || used.has(set) || exclude.has(set)) continue;
      const map = createMap({ type: 'lpm_trie', flags: NO_PREALLOC, keySize: RULE_KEY_SIZE, valueSize: RULE_VALUE_SIZE, maxEntries: POOL_MAP_ENTRIES, name: 'pool_rules', binding: mapBinding(outer) });
      try {
        outer.updateInnerMap(codecs.u32.encode(set), map);
      } catch (error) {
        map.close();
        throw error;
      }
      this.#pool.set(set, map);
      added++;
    }
    return added;
  }

  /** The set indexes that hold an empty pooled map (fillPool), ascending. */
  pooledSets(): number[] {
    return [...this.#pool.keys()].sort((a, b) => a - b);
  }

  /**
   * The set indexes that have a rule set, ascending. Each lookup in a map
   * of maps is slow on some kernels (6.1 waits for an RCU grace period on
   * each, about 17 ms under TCG against 0.1 ms for a plain array), so only
   * the candidates are looked up: the sets `scopes` names, and those whose
   * generation has moved (setRules, clearRules and markRulesChanged move
   * it; all of `generations` is one batch read). A rule set written into
   * `rules` by hand, not marked, at an index no scope names, is not seen.
   */
  setsWithRules(): number[] {
    const candidates = new Set([...this.scopes().values()].map((entry) => entry.set));
    for (const [set, generation] of this.map('generations').typed(codecs.u32, codecs.u64).lookupBatch()) if (generation !== 0n) candidates.add(set);
    return [...candidates].sort((a, b) => a - b).filter((set) => this.hasRules(set));
  }

  /**
   * Replaces rule set `set` with `rules` as a whole: encoded
   * (ValidationError names every bad rule, and nothing changes), written
   * into a new inner map, then swapped in; the programs of every scope
   * that uses the set see the old set or the new one, never a mix, and all
   * of them change at once. Returns the number of map entries. `parts`:
   * runs of the rules encoded once and kept (encodeRules), such as a
   * compiled set's policies.
   */
  setRules(set: number, rules: readonly Rule[], options: { postures?: Postures; parts?: readonly RulePart[] } = {}): number {
    checkSet('set rules', set);
    return this.setEncodedRules(set, encodeRules(rules, options), { fromSource: rules.some((rule) => rule.fromSource !== undefined) });
  }

  /**
   * setRules for entries already encoded (encodeRules), such as a set a
   * caller encodes once and keeps. `fromSource`: whether any rule has
   * fromSource (default true, which is always safe; false lets the
   * decision cache skip each task's source).
   */
  setEncodedRules(set: number, entries: readonly RuleEntry[], options: { fromSource?: boolean } = {}): number {
    checkSet('set rules', set);
    const pooled = this.#pool.get(set);
    if (pooled !== undefined && entries.length <= POOL_MAP_ENTRIES) {
      // No scope uses a pooled index: filled in place, it is whole before any scope is pointed at it.
      this.#pool.delete(set);
      try {
        fillRuleMap(pooled, entries);
      } catch (error) {
        // Half filled and out of the pool: removed (a grace period, on this failure path only) so nothing ever uses it.
        try {
          this.map('rules').delete(codecs.u32.encode(set));
        } finally {
          pooled.close();
        }
        throw error;
      }
      pooled.close();
      markRulesChanged(this.map('generations'), set, options.fromSource === false ? { fromSource: false } : {});
      this.#holdsRules.set(set, true);
      return entries.length;
    }
    const outer = this.map('rules');
    // The inner map is made through the same binding as the outer one.
    const map = createRuleMap(entries, undefined, { binding: mapBinding(outer) });
    try {
      outer.updateInnerMap(codecs.u32.encode(set), map);
    } finally {
      map.close();
    }
    this.#swapped(set, options.fromSource);
    return entries.length;
  }

  /** After a set's new inner map is swapped in: a pooled map it replaced closed, the set marked changed. */
  #swapped(set: number, fromSource: boolean | undefined): void {
    const pooled = this.#pool.get(set);
    if (pooled !== undefined) {
      // Too many entries for the pooled map: swapped out like any set.
      this.#pool.delete(set);
      pooled.close();
    }
    markRulesChanged(this.map('generations'), set, fromSource === false ? { fromSource: false } : {});
    this.#holdsRules.set(set, true);
  }

  /**
   * setRules for many sets at once, each replaced whole as setRules does
   * it; the sets change one after another, not together. Those at pooled
   * indexes are filled in place; the others are written into new inner
   * maps and swapped in with one batch update of `rules` where the kernel
   * has batch updates for maps of maps (one RCU grace period for all of
   * them, not one per set), else one by one. Returns, in order, each set's
   * number of entries or the error that left that set as it was (a set
   * that fails to encode, to fill or to swap changes nothing else).
   */
  setManyRules(sets: readonly { readonly set: number; readonly rules: readonly Rule[]; readonly postures?: Postures; readonly parts?: readonly RulePart[] }[]): ({ entries: number } | { error: unknown })[] {
    const results: ({ entries: number } | { error: unknown })[] = sets.map(() => ({ error: undefined }));
    const seen = new Set<number>();
    const outer = this.map('rules');
    const swaps: { at: number; set: number; map: BpfMap; entries: number; fromSource: boolean }[] = [];
    try {
      sets.forEach(({ set, rules, postures, parts }, at) => {
        try {
          checkSet('set rules', set);
          if (seen.has(set)) throw new ValidationError('set rules', [{ path: 'set', message: `set ${set} is given twice` }]);
          seen.add(set);
          const entries = encodeRules(rules, { ...(postures === undefined ? {} : { postures }), ...(parts === undefined ? {} : { parts }) });
          const fromSource = rules.some((rule) => rule.fromSource !== undefined);
          if (this.#pool.has(set) && entries.length <= POOL_MAP_ENTRIES) {
            results[at] = { entries: this.setEncodedRules(set, entries, { fromSource }) };
            return;
          }
          swaps.push({ at, set, map: createRuleMap(entries, undefined, { binding: mapBinding(outer) }), entries: entries.length, fromSource });
        } catch (error) {
          results[at] = { error };
        }
      });
      let done = 0;
      while (done < swaps.length) {
        const rest = swaps.slice(done);
        try {
          outer.updateInnerMaps(rest.map(({ set, map }) => [codecs.u32.encode(set), map] as const));
          done = swaps.length;
        } catch (error) {
          // The first `written` are in place; the one after them failed: reported, and the rest tried again.
          const reported = (error as { written?: unknown }).written;
          const written = typeof reported === 'number' && reported >= 0 && reported < rest.length ? reported : 0;
          for (const swap of rest.slice(0, written)) this.#swapped(swap.set, swap.fromSource);
          for (const swap of rest.slice(0, written)) results[swap.at] = { entries: swap.entries };
          results[rest[written]!.at] = { error };
          done += written + 1;
          continue;
        }
        for (const swap of rest) {
          this.#swapped(swap.set, swap.fromSource);
          results[swap.at] = { entries: swap.entries };
        }
      }
    } finally {
      for (const { map } of swaps) map.close();
    }
    return results;
  }

  /** Removes rule set `set`: a scope still using it is then unaffected (as without rules). */
  clearRules(set: number): boolean {
    checkSet('clear rules', set);
    const pooled = this.#pool.get(set);
    this.#pool.delete(set);
    pooled?.close();
    const deleted = this.map('rules').delete(codecs.u32.encode(set)) && pooled === undefined;
    this.#holdsRules.set(set, false);
    markRulesChanged(this.map('generations'), set, { fromSource: false });
    return deleted;
  }

  /** No scoped process may signal `tgid` (the agent's own processes). */
  protect(tgid: number): void {
    this.map('protected').typed(codecs.u32, codecs.u32).update(tgid, 1);
  }

  unprotect(tgid: number): boolean {
    return this.map('protected').typed(codecs.u32, codecs.u32).delete(tgid);
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

  /**
   * Makes scope `index` the host scope, enforced with rule set `set`
   * (default: the set of the same index): that set's rules (setRules) then
   * decide for every user process of the initial pid namespace that is in
   * no container scope and not protected, and its counters and events are
   * scope `index`'s. `undefined` turns host enforcement off. The set's
   * rules should be in place first.
   */
  setHostScope(index: number | undefined, set: number | undefined = index): void {
    if (index === undefined) {
      this.#setConfig({ ...this.#config(), hostScope: 0, hostSet: 0 });
      return;
    }
    checkScope('set host scope', index);
    checkSet('set host scope', set ?? index);
    this.#setConfig({ ...this.#config(), hostScope: index + 1, hostSet: set ?? index });
  }

  /** The host scope's index, or undefined when there is none. */
  hostScope(): number | undefined {
    const value = this.#config().hostScope;
    return value === 0 || value > MAX_SCOPES ? undefined : value - 1;
  }

  /** The host scope's rule set index, or undefined when there is no host scope. */
  hostSet(): number | undefined {
    const config = this.#config();
    return this.hostScope() === undefined ? undefined : config.hostSet;
  }

  /** The `config` value (all zeros, the defaults, if the map has none). */
  #config(): ThrottleConfig {
    const value = this.map('config').lookup(codecs.u32.encode(0));
    return value === undefined ? { eventsPerSecond: 0, flags: 0, suppressNs: 0n, hostScope: 0, hostSet: 0 } : throttleConfigCodec.decode(value);
  }

  #setConfig(config: ThrottleConfig): void {
    this.map('config').update(codecs.u32.encode(0), throttleConfigCodec.encode(config));
  }

  /** Scope `index`'s decision counters. */
  decisions(index: number): DecisionCounts {
    checkScope('read decisions', index);
    const value = this.map('decisions').lookup(codecs.u32.encode(index));
    if (value === undefined) throw new StateError('read decisions', `no counters for scope ${index}`);
    return decodeDecisionCounts(value);
  }

  /**
   * Events lost to a full ring buffer, summed over every scope's counters
   * (one batch read of `decisions`). resetDecisions sets a scope's share to
   * zero: a caller that reports a running total adds what it resets.
   */
  lostEvents(): bigint {
    let total = 0n;
    for (const [, value] of this.map('decisions').lookupBatch()) total += decodeDecisionCounts(value).lost;
    return total;
  }

  /**
   * Sets scope `index`'s decision counters to zero: for a scope index given
   * to a new container, so that its counts start from its own first
   * decision (the counters are per index, and an index is reused).
   */
  resetDecisions(index: number): void {
    checkScope('reset decisions', index);
    this.map('decisions').update(codecs.u32.encode(index), new Uint8Array(DECISION_COUNTS_SIZE));
  }

  /** The decisions' events, decoded, as an async iterator (close it when done). */
  events(options: RingBufferOptions = {}): RingBuffer<EnforcerEvent> {
    return openRingBuffer(this.map('events'), { ...options, codec: enforcerEventCodec });
  }

  /** The processes no scoped process may signal (protect()), ascending. */
  protectedProcesses(): number[] {
    return [...this.map('protected').typed(codecs.u32, codecs.u32).keys()].sort((a, b) => a - b);
  }

  /**
   * Pins the maps and the links under `directory` (on bpffs; created when
   * missing), so that the enforcement outlives this process and another can
   * take it over (openPinnedEnforcer): maps as `map-<name>`, links as
   * `link-<program>`, and last the object's .rodata as `map-rodata`, which
   * holds the layout version a takeover checks. When a pin fails, those
   * made by this call are removed again.
   */
  pin(directory: string): void {
    const operation = 'pin enforcer';
    if (this.#pinDirectory !== undefined) throw new StateError(operation, `already pinned at ${this.#pinDirectory}`);
    const rodata = this.#rodata;
    if (rodata === undefined) throw new StateError(operation, 'the enforcer has no .rodata map to pin');
    const root = resolve(directory);
    const pinned: (BpfMap | Link)[] = [];
    try {
      for (const [name, map] of this.#maps) {
        map.pin(join(root, MAP_PIN_PREFIX + name));
        pinned.push(map);
      }
      for (const [program, link] of this.links) {
        link.pin(join(root, LINK_PIN_PREFIX + program));
        pinned.push(link);
      }
      rodata.pin(join(root, LAYOUT_PIN));
    } catch (error) {
      for (const handle of pinned.reverse()) {
        try {
          handle.unpin();
        } catch {
          // The first failure is the one to report; this pin stays.
        }
      }
      removeEmptyDirectory(root);
      throw error;
    }
    this.#pinDirectory = root;
  }

  /**
   * Removes the pins this enforcer made with pin(directory), or was opened
   * from: the layout pin first (so that a takeover meanwhile sees partial
   * pins and refuses), then the maps and links, then the directory if
   * nothing else is left in it. The programs stay attached while this
   * process holds the links; close() then detaches them, and the
   * enforcement ends with nothing left behind. A pin already gone counts
   * as removed.
   */
  unpin(directory: string): void {
    const operation = 'unpin enforcer';
    const root = this.#pinDirectory;
    if (root === undefined) throw new StateError(operation, 'the enforcer is not pinned');
    if (resolve(directory) !== root) throw new StateError(operation, `the enforcer is pinned at ${root}, not ${resolve(directory)}`);
    let failure: Error | undefined;
    for (const handle of [this.#rodata, ...this.#maps.values(), ...this.links.values()]) {
      try {
        if (handle !== undefined && handle.pinPath !== undefined) handle.unpin();
      } catch (error) {
        // The first failure is reported, after the other pins are removed.
        if (errnoOf(error) !== 'ENOENT') failure ??= error instanceof Error ? error : new Error(String(error));
      }
    }
    if (failure !== undefined) throw failure;
    removeEmptyDirectory(root);
    this.#pinDirectory = undefined;
  }

  /**
   * Closes every handle: destroys the links, which detaches the programs
   * unless they are pinned, closes the maps opened from pins, and unloads
   * the object. Pinned links and maps stay in the kernel until unpinned.
   * Closing twice does nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const link of this.links.values()) link.destroy();
    for (const map of this.#maps.values()) map.close();
    for (const map of this.#pool.values()) map.close();
    this.#pool.clear();
    this.#rodata?.close();
    this.object?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Removes `directory` when it exists and is empty; leaves it when anything else is in it. */
function removeEmptyDirectory(directory: string): void {
  try {
    rmdirSync(directory);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno !== 'ENOENT' && errno !== 'ENOTEMPTY' && errno !== 'EEXIST') throw toSystemError('remove pin directory', error, directory);
  }
}
