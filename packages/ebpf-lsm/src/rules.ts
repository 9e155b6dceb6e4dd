/**
 * Encodes a scope's rules into the entries of its inner rule map, as
 * src/bpf/enforcer.bpf.c reads them (struct rule_key and struct
 * rule_value in src/bpf/layout.h, described in README.md). Pure and
 * deterministic: the same rules give the same entries,
 * in the same order, wherever it runs.
 */
import { ValidationError, type ValidationIssue } from '@bulwark/errors';
import { codecs, encodeInto } from './codec.js';
import { findGlobProblem, validateGlob } from './glob.js';
import {
  ACTION_INDEX,
  ANY_16,
  GLOB_PATTERN_SIZE,
  MATCH_DIRECTORY,
  MAX_GLOBS,
  OPERATION_BITS,
  PRESETS,
  RESOURCE_CAPABILITY,
  RESOURCE_GLOB,
  RESOURCE_PRESET,
  RESOURCE_SOCKET,
  RULE_KEY_SIZE,
  RULE_PATH_MAX,
  RULE_PATH_SIZE,
  RULE_VALUE_SIZE,
  SOURCE_ANY,
  SOURCE_DEFINITION,
  SOURCE_SETTINGS,
  ruleKeyCodec,
  ruleValueCodec,
  type Operation,
  type RuleAction,
} from './layout.js';

/** What a path rule may name: a file operation, or `open` (read and write). */
export type PathOperation = 'open' | 'read' | 'write' | 'exec' | 'unlink' | 'rmdir' | 'mkdir' | 'rename' | 'truncate' | 'chmod' | 'link' | 'symlink' | 'mknod';
export type Posture = 'block' | 'audit';

const PATH_OPERATIONS: readonly PathOperation[] = ['open', 'read', 'write', 'exec', 'unlink', 'rmdir', 'mkdir', 'rename', 'truncate', 'chmod', 'link', 'symlink', 'mknod'];
const bit = (...operations: Operation[]) => operations.reduce((flags, operation) => flags | OPERATION_BITS[operation], 0);

/** Every file operation but exec: what a path rule without `operations` covers (opening to execute is a read). */
export const FILE_OPERATIONS = bit('read', 'write', 'unlink', 'rmdir', 'mkdir', 'rename', 'truncate', 'chmod', 'link', 'symlink', 'mknod');
/** The operations that change a file or a directory: what readOnly blocks. */
export const WRITE_OPERATIONS = FILE_OPERATIONS & ~OPERATION_BITS.read;
/** Categories, for the allow-list posture: a category with an allow rule is in allow-list mode. */
export const CATEGORY_OPERATIONS = {
  file: FILE_OPERATIONS,
  process: OPERATION_BITS.exec,
  network: OPERATION_BITS.socket,
  capabilities: OPERATION_BITS.capability,
} as const;
export type Category = keyof typeof CATEGORY_OPERATIONS;

interface CommonRule {
  /** Block (default), Audit (allow and report) or Allow (allow; puts its category in allow-list mode). */
  readonly action?: RuleAction;
  /** The rule applies only to processes running this executable (absolute path). */
  readonly fromSource?: string;
  /** Reported in events; default: the rule's position in the list, from 1. */
  readonly id?: number;
}

/**
 * A file rule: an absolute, normalised path. A path ending in '/' names a
 * directory: the directory itself and everything under it (`recursive`,
 * the default), or only its direct entries (`recursive: false`).
 */
export interface PathRule extends CommonRule {
  readonly kind?: 'path';
  readonly path: string;
  readonly recursive?: boolean;
  /** Default: every file operation (FILE_OPERATIONS). `open` is read and write. */
  readonly operations?: readonly PathOperation[];
  /** Block: only the operations that write; Allow: only reading. */
  readonly readOnly?: boolean;
  /** Block or Audit: the file's owner is spared; Allow: only the owner is allowed. */
  readonly ownerOnly?: boolean;
}

/** A socket rule: socket(family, type, protocol); an absent field matches any. */
export interface SocketRule extends CommonRule {
  readonly kind: 'socket';
  readonly family?: number;
  readonly type?: number;
  readonly protocol?: number;
}

/** A capability rule: `capable(capability)` (e.g. 13, CAP_NET_RAW). */
export interface CapabilityRule extends CommonRule {
  readonly kind: 'capability';
  readonly capability: number;
}

/**
 * A preset: an exec that no path names, decided for the scope by the
 * preset's action (Block or Audit; never in an allow-list). `filelessExec`:
 * running, or mapping executable, a file that has no name left (a memfd, an
 * unlinked file, an O_TMPFILE file: no link to it anywhere); the event names
 * the path the kernel gives it (`/memfd:x (deleted)`). `anonymousMapExec`:
 * an executable mapping of no file (mmap or mprotect of anonymous memory
 * with PROT_EXEC; what every JIT does, so only for workloads without one).
 */
export interface PresetRule extends CommonRule {
  readonly kind: 'preset';
  readonly preset: keyof typeof PRESETS;
}

export type Rule = PathRule | SocketRule | CapabilityRule | PresetRule;

/** The default posture of each category in allow-list mode (default block). */
export type Postures = Partial<Record<Category, Posture>>;

export interface RuleEntry {
  readonly key: Buffer;
  readonly value: Buffer;
}

interface Value {
  ops: [number, number, number];
  childOps: [number, number, number];
  /** Per action, the operations only ownerOnly rules gave: the owner is spared them (Block, Audit) or alone allowed them (Allow). */
  ownerOps: [number, number, number];
  ruleId: [number, number, number];
  /** Glob keys only. */
  pattern?: string;
}

/** While encoding: per action, the operations some rule without ownerOnly gave; they are never the owner's alone. */
interface Draft extends Value {
  plainOps: [number, number, number];
}

const emptyValue = (): Draft => ({ ops: [0, 0, 0], childOps: [0, 0, 0], ownerOps: [0, 0, 0], ruleId: [0, 0, 0], plainOps: [0, 0, 0] });

/** A path rule whose path has `*` or `?` is a glob rule. */
export const isGlob = (path: string): boolean => path.includes('*') || path.includes('?');

/**
 * Encodes a rule set into inner-map entries, sorted by key bytes. Rules on
 * the same key merge (operations add up; each action keeps its lowest rule
 * id). Besides the rules' own keys it writes:
 * - for every Block rule on a path, rename and link blocked on that path
 *   and on each directory above it, so that a blocked file cannot be moved
 *   or linked out from under its rule (the rename-then-open bypass);
 * - a definition key per fromSource executable, which the program looks up
 *   at exec to give the process its source index (1, 2, ... in the order
 *   of the sorted paths);
 * - the settings key when some category has an Allow rule: that category's
 *   operations fall to its posture (default block) when no rule matches.
 * The program finds a path with one longest-prefix lookup, so each path
 * entry carries, merged in, what the directories above it add: the
 * operations (and ownerOnly marks) of the nearest directory entry above it
 * (itself merged the same way), and for a file's entry the non-recursive
 * operations of its parent directory. A merged-in action's rule id is the
 * nearest contributor's: the entry's own, its parent's non-recursive one,
 * then the directory above.
 * Throws a ValidationError naming every bad rule.
 */
/**
 * A run of a rule list that is the same every time a part with this `key`
 * is given (encodeRules' `parts`): rules[start] .. rules[start + count - 1],
 * whose ids are their positions in the list plus one (as @bulwark/policy
 * numbers a compiled set). Its entries are drafted once per key and merged
 * into every set that has it, so a set made of policies already seen costs
 * only the merge: the caller promises that the rules behind a key never
 * change (a compiled policy, for one variant of postures and aliases). A
 * part with fromSource rules, or whose ids are not its positions, is
 * drafted with the rest.
 */
export interface RulePart {
  readonly start: number;
  readonly count: number;
  readonly key: object;
}

type DraftEntries = Map<string, { key: Buffer; value: Draft }>;

/** An entry's cheap text name, and how to build its key's bytes (once, for a new name). */
type KeyRef = readonly [name: string, make: () => Buffer];

/** The draft value of the entry `key` names, made empty the first time. */
function draftEntry(values: DraftEntries, [name, make]: KeyRef): Draft {
  let found = values.get(name);
  if (found === undefined) {
    found = { key: make(), value: emptyValue() };
    values.set(name, found);
  }
  return found.value;
}

const forPath = (source: number, path: string): KeyRef => [`p${source}\u0000${path}`, () => pathKey(source, path)];

/** What the rules of a list (or of a part of it) add before the directories are merged. */
interface RuleDrafts {
  readonly values: DraftEntries;
  allowOps: number;
  readonly issues: ValidationIssue[];
  /** The lowest rule id each name was protected with (protectAncestors): once a directory is, so is every one above it with an id no higher. */
  readonly protectedWith: Map<string, number>;
}

const newDrafts = (): RuleDrafts => ({ values: new Map(), allowOps: 0, issues: [], protectedWith: new Map() });

/** Drafts rules[from .. to - 1] into `drafts`, each rule's id less `idShift` (a part's drafts keep ids from 1, shifted back when merged). */
function draftRules(drafts: RuleDrafts, rules: readonly Rule[], from: number, to: number, sourceIndex: ReadonlyMap<string, number>, idShift: number): void {
  const { values, issues, protectedWith } = drafts;
  const entry = (key: KeyRef) => draftEntry(values, key);
  const add = (key: KeyRef, action: number, ops: number, id: number, options: { children?: boolean; owner?: boolean } = {}) => {
    const value = entry(key);
    (options.children === true ? value.childOps : value.ops)[action]! |= ops;
    if (options.owner === true) value.ownerOps[action]! |= ops;
    else value.plainOps[action]! |= ops;
    const current = value.ruleId[action]!;
    if (current === 0 || id < current) value.ruleId[action] = id;
  };
  /** Block rename and link on `path` and every directory above it (not '/'). */
  const protectAncestors = (source: number, path: string, id: number) => {
    for (let cut = path.length; cut > 0; cut = path.lastIndexOf('/', cut - 1)) {
      const name = `${source}\u0000${path.slice(0, cut)}`;
      const earlier = protectedWith.get(name);
      if (earlier !== undefined && earlier <= id) return;
      protectedWith.set(name, id);
      add(forPath(source, path.slice(0, cut)), ACTION_INDEX.block, OPERATION_BITS.rename | OPERATION_BITS.link, id);
    }
  };

  for (let index = from; index < to; index++) {
    const rule = rules[index]!;
    const where = `rules[${index}]`;
    const before = issues.length;
    const action = checkAction(rule.action, `${where}.action`, issues);
    const id = (rule.id ?? index + 1) - idShift;
    if (!Number.isInteger(id) || id < 1 || id > 0xffffffff) issues.push({ path: `${where}.id`, message: 'expected an integer from 1 to 4294967295' });
    let source = SOURCE_ANY;
    if (rule.fromSource !== undefined) {
      const problem = checkPath(rule.fromSource, false);
      if (problem !== undefined) issues.push({ path: `${where}.fromSource`, message: problem });
      else source = sourceIndex.get(rule.fromSource)!;
    }
    const kind = rule.kind ?? 'path';
    if (kind === 'socket') {
      const socket = rule as SocketRule;
      const fields = (['family', 'type', 'protocol'] as const).map((name) => {
        const value = socket[name];
        if (value === undefined) return ANY_16;
        if (!Number.isInteger(value) || value < 0 || value >= ANY_16) issues.push({ path: `${where}.${name}`, message: 'expected an integer from 0 to 65534' });
        return value;
      });
      if (socket.type === undefined) issues.push({ path: `${where}.type`, message: 'expected a socket type (the program always looks the type up)' });
      if (issues.length > before) continue;
      if (action === ACTION_INDEX.allow) drafts.allowOps |= OPERATION_BITS.socket;
      add([`s${source}\u0000${fields.join(',')}`, () => socketKey(source, fields[0]!, fields[1]!, fields[2]!)], action, OPERATION_BITS.socket, id);
      continue;
    }
    if (kind === 'capability') {
      const capability = (rule as CapabilityRule).capability;
      if (!Number.isInteger(capability) || capability < 0 || capability > 63) issues.push({ path: `${where}.capability`, message: 'expected a capability number from 0 to 63' });
      if (issues.length > before) continue;
      if (action === ACTION_INDEX.allow) drafts.allowOps |= OPERATION_BITS.capability;
      add([`c${source}\u0000${capability}`, () => capabilityKey(source, capability)], action, OPERATION_BITS.capability, id);
      continue;
    }
    if (kind === 'preset') {
      const preset = (rule as PresetRule).preset;
      if (!Object.hasOwn(PRESETS, preset)) issues.push({ path: `${where}.preset`, message: `expected ${Object.keys(PRESETS).map((name) => `'${name}'`).join(' or ')}` });
      if (action === ACTION_INDEX.allow) issues.push({ path: `${where}.action`, message: "a preset blocks or audits: expected 'block' or 'audit'" });
      if (issues.length > before) continue;
      add([`p${source}\u0000${preset}`, () => presetKey(source, preset)], action, OPERATION_BITS.exec, id);
      continue;
    }
    if (kind !== 'path') {
      issues.push({ path: `${where}.kind`, message: "expected 'path', 'socket', 'capability' or 'preset'" });
      continue;
    }
    const pathRule = rule as PathRule;
    const glob = typeof pathRule.path === 'string' && isGlob(pathRule.path);
    const problem = glob ? findGlobProblem(pathRule.path) : checkPath(pathRule.path, true);
    if (problem !== undefined) issues.push({ path: `${where}.path`, message: problem });
    let ops = operationsFlags(pathRule.operations, `${where}.operations`, issues);
    if (pathRule.recursive !== undefined && typeof pathRule.recursive !== 'boolean') issues.push({ path: `${where}.recursive`, message: 'expected a boolean' });
    if (pathRule.recursive === false && typeof pathRule.path === 'string' && (glob || !pathRule.path.endsWith('/'))) {
      issues.push({ path: `${where}.recursive`, message: "applies to a directory rule (a path ending in '/')" });
    }
    if (issues.length > before) continue;
    if (pathRule.readOnly === true) ops &= action === ACTION_INDEX.allow ? OPERATION_BITS.read | OPERATION_BITS.exec : WRITE_OPERATIONS;
    if (ops === 0) {
      issues.push({ path: `${where}.operations`, message: 'readOnly leaves none of these operations' });
      continue;
    }
    if (action === ACTION_INDEX.allow) drafts.allowOps |= ops;
    const owner = pathRule.ownerOnly === true;
    const path = pathRule.path;
    if (glob) {
      const { prefix } = validateGlob(path);
      const protect = action === ACTION_INDEX.block ? OPERATION_BITS.rename | OPERATION_BITS.link : 0;
      // A matching file cannot be moved or linked away from its name, nor a directory above the pattern's fixed part.
      add([`g${source}\u0000${path}`, () => Buffer.alloc(0)], action, ops | protect, id, { owner });
      if (protect !== 0) protectAncestors(source, prefix.slice(0, -1), id);
      continue;
    }
    if (path.endsWith('/')) {
      add(forPath(source, path), action, ops, id, { children: pathRule.recursive === false, owner });
      if (path !== '/') add(forPath(source, path.slice(0, -1)), action, ops, id, { owner });
    } else {
      add(forPath(source, path), action, ops, id, { owner });
    }
    // The name is protected with the rule: no moving or linking it, or a directory above it, away.
    if (action === ACTION_INDEX.block) protectAncestors(source, path.endsWith('/') ? path.slice(0, -1) : path, id);
  }
}

/** The drafts of a part (RulePart), made once per key. */
const partDrafts = new WeakMap<object, { count: number; drafts: RuleDrafts }>();

/** Merges a part's drafts into a set's, its rule ids shifted by `shift`. */
function mergeDrafts(into: RuleDrafts, from: RuleDrafts, shift: number): void {
  into.allowOps |= from.allowOps;
  for (const [name, found] of from.values) {
    const value = found.value;
    const target = into.values.get(name);
    if (target === undefined) {
      into.values.set(name, {
        key: found.key,
        value: {
          ops: [...value.ops],
          childOps: [...value.childOps],
          ownerOps: [...value.ownerOps],
          plainOps: [...value.plainOps],
          ruleId: [value.ruleId[0] === 0 ? 0 : value.ruleId[0] + shift, value.ruleId[1] === 0 ? 0 : value.ruleId[1] + shift, value.ruleId[2] === 0 ? 0 : value.ruleId[2] + shift],
        },
      });
      continue;
    }
    const mine = target.value;
    for (let action = 0; action < 3; action++) {
      mine.ops[action]! |= value.ops[action]!;
      mine.childOps[action]! |= value.childOps[action]!;
      mine.ownerOps[action]! |= value.ownerOps[action]!;
      mine.plainOps[action]! |= value.plainOps[action]!;
      const id = value.ruleId[action]!;
      if (id !== 0 && (mine.ruleId[action] === 0 || id + shift < mine.ruleId[action]!)) mine.ruleId[action] = id + shift;
    }
  }
}

/** Whether rules[start .. start + count - 1] can be drafted as a part: in range, no fromSource, ids their positions plus one. */
function partFits(rules: readonly Rule[], part: RulePart): boolean {
  const { start, count } = part;
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 1 || start + count > rules.length) return false;
  for (let index = start; index < start + count; index++) {
    const rule = rules[index]!;
    if (rule.fromSource !== undefined || rule.id !== index + 1) return false;
  }
  return true;
}

export function encodeRules(rules: readonly Rule[], options: { postures?: Postures; parts?: readonly RulePart[] } = {}): RuleEntry[] {
  const sources = [...new Set(rules.flatMap((rule) => (typeof rule.fromSource === 'string' ? [rule.fromSource] : [])))].sort();
  const sourceIndex = new Map(sources.map((path, index) => [path, index + 1]));
  const drafts = newDrafts();
  // The parts drafted once (or found), in order; the rules between them drafted here.
  const parts = [...(options.parts ?? [])].sort((a, b) => a.start - b.start);
  let next = 0;
  for (const part of parts) {
    if (part.start < next || !partFits(rules, part)) continue;
    let cached = partDrafts.get(part.key);
    if (cached === undefined || cached.count !== part.count) {
      const own = newDrafts();
      draftRules(own, rules, part.start, part.start + part.count, sourceIndex, part.start);
      // A bad rule is reported by the whole list's encoding, at its own index.
      if (own.issues.length > 0) return encodeRules(rules, options.postures === undefined ? {} : { postures: options.postures });
      cached = { count: part.count, drafts: own };
      partDrafts.set(part.key, cached);
    }
    draftRules(drafts, rules, next, part.start, sourceIndex, 0);
    mergeDrafts(drafts, cached.drafts, part.start);
    next = part.start + part.count;
  }
  draftRules(drafts, rules, next, rules.length, sourceIndex, 0);
  const { values, issues } = drafts;
  const allowOps = drafts.allowOps;
  const entry = (key: KeyRef) => draftEntry(values, key);

  const postures = options.postures ?? {};
  for (const [category, posture] of Object.entries(postures)) {
    if (!(category in CATEGORY_OPERATIONS)) issues.push({ path: `postures.${category}`, message: "expected 'file', 'process', 'network' or 'capabilities'" });
    else if (posture !== 'block' && posture !== 'audit') issues.push({ path: `postures.${category}`, message: "expected 'block' or 'audit'" });
  }
  if (issues.length > 0) throw new ValidationError('encode rules', issues);

  // Glob keys get their slots now: per source, in the order of their patterns' bytes.
  const globNames = [...values.keys()].filter((name) => name.startsWith('g')).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const slots = new Map<number, number>();
  for (const name of globNames) {
    const found = values.get(name)!;
    const separator = name.indexOf('\u0000');
    const source = Number(name.slice(1, separator));
    const slot = slots.get(source) ?? 0;
    if (slot >= MAX_GLOBS) throw new ValidationError('encode rules', [{ path: 'rules', message: `expected at most ${MAX_GLOBS} glob patterns per source, got more` }]);
    slots.set(source, slot + 1);
    found.key = globKey(source, slot);
    found.value.pattern = name.slice(separator + 1);
  }

  mergeDirectories(values);
  for (const [path, index] of sourceIndex) {
    const value = entry(forPath(SOURCE_DEFINITION, path));
    value.ruleId[0] = index;
  }
  const settings = emptyValue();
  for (const [category, ops] of Object.entries(CATEGORY_OPERATIONS) as [Category, number][]) {
    if ((allowOps & ops) === 0) continue;
    settings.ops[(postures[category] ?? 'block') === 'block' ? 0 : 1] |= ops;
  }
  if (settings.ops[0] !== 0 || settings.ops[1] !== 0) values.set('settings', { key: settingsKey(), value: settings });

  return [...values.values()]
    .map(({ key, value }) => ({ key, value: encodeValue(value, key) }))
    .sort((a, b) => compareKeys(a.key, b.key));
}

/**
 * Merges into each path entry what the directories above it add (see
 * encodeRules). Entries are taken shortest path first, so the nearest
 * directory above an entry is merged before the entry reads it.
 */
function mergeDirectories(values: Map<string, { key: Buffer; value: Draft }>): void {
  // An operation a rule without ownerOnly gives is not spared the owner, whatever ownerOnly rules on the same key say.
  for (const { value } of values.values()) for (let action = 0; action < 3; action++) value.ownerOps[action]! &= ~value.plainOps[action]!;
  const paths = [...values.entries()]
    .filter(([name]) => name.startsWith('p'))
    .map(([name, found]) => ({ name, separator: name.indexOf('\u0000'), value: found.value }))
    .sort((a, b) => a.name.length - a.separator - (b.name.length - b.separator));
  for (const { name, separator, value } of paths) {
    const prefix = name.slice(0, separator + 1);
    const path = name.slice(separator + 1);
    // The directories above, nearest first, looked up until one has an entry (no list of them is built).
    let parent: Draft | undefined;
    let nearest: Draft | undefined;
    let end = path.endsWith('/') ? path.length - 1 : path.length;
    for (let first = true; end > 0; first = false) {
      const slash = path.lastIndexOf('/', end - 1);
      if (slash < 0) break;
      const found = values.get(prefix + path.slice(0, slash + 1))?.value;
      if (first && !path.endsWith('/')) parent = found;
      if (found !== undefined) {
        nearest = found;
        break;
      }
      end = slash;
    }
    for (let action = 0; action < 3; action++) {
      const own = value.ops[action]! | value.childOps[action]!;
      const fromParent = parent === undefined ? 0 : parent.childOps[action]!;
      const fromAbove = nearest === undefined ? 0 : nearest.ops[action]!;
      value.ops[action]! |= fromParent | fromAbove;
      const parentOwner = parent === undefined ? 0 : parent.ownerOps[action]!;
      const nearestOwner = nearest === undefined ? 0 : nearest.ownerOps[action]!;
      value.plainOps[action]! |= (fromParent & ~parentOwner) | (fromAbove & ~nearestOwner);
      value.ownerOps[action] = (value.ownerOps[action]! | (parentOwner & fromParent) | (nearestOwner & fromAbove)) & ~value.plainOps[action]!;
      if (own === 0) {
        if (fromParent !== 0) value.ruleId[action] = parent!.ruleId[action]!;
        else if (fromAbove !== 0) value.ruleId[action] = nearest!.ruleId[action]!;
      }
    }
  }
}

/**
 * Zeroed buffers for keys and values, cut from larger slabs: a rule set of
 * thousands of entries would otherwise cost an allocation (and its garbage)
 * per key and per value. Each buffer is its own region of a slab.
 */
function slabAllocator(size: number, count: number): () => Buffer {
  let slab = Buffer.alloc(0);
  let used = 0;
  return () => {
    if (used + size > slab.length) {
      slab = Buffer.alloc(size * count);
      used = 0;
    }
    const region = slab.subarray(used, used + size);
    used += size;
    return region;
  };
}
const allocateKey = slabAllocator(RULE_KEY_SIZE, 1024);
const allocateValue = slabAllocator(RULE_VALUE_SIZE, 1024);

const noPath = new Uint8Array(RULE_PATH_SIZE);

/**
 * A key for a source: its path field is `resource` padded with zeros, and
 * its prefixlen covers the source and the resource's first `covered`
 * bytes (by default all of them).
 */
function key(source: number, resource: Uint8Array, covered = resource.length): Buffer {
  const bytes = allocateKey();
  encodeInto(ruleKeyCodec, { prefixlen: 8 * (codecs.u32.size + covered), source, path: noPath }, bytes, 0);
  bytes.set(resource, ruleKeyCodec.fields.path.offset);
  return bytes;
}

/**
 * The resources that are not paths, as the program writes them into a key's
 * path field (and, whole, into an event's resource: records.ts decodes them).
 */
export const socketResource = codecs.struct('socket resource', { resource: codecs.u8, family: codecs.u16, type: codecs.u16, protocol: codecs.u16 });
export const capabilityResource = codecs.struct('capability resource', { resource: codecs.u8, capability: codecs.u32 });
const globResource = codecs.struct('glob resource', { resource: codecs.u8, slot: codecs.u8 });
export const presetResource = codecs.struct('preset resource', { resource: codecs.u8, preset: codecs.u8 });

/**
 * The key of a path rule for a source (SOURCE_ANY for every process): a
 * directory's (ending in '/') covers the path, a file's the path and its
 * terminating zero, so that it is no prefix of a longer name.
 */
export function pathKey(source: number, path: string): Buffer {
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length > RULE_PATH_MAX) {
    throw new ValidationError('encode rule key', [{ path: '', message: `expected at most ${RULE_PATH_MAX} bytes, got ${bytes.length}` }]);
  }
  return key(source, bytes, path.endsWith('/') ? bytes.length : bytes.length + 1);
}

export function socketKey(source: number, family: number, type: number, protocol: number): Buffer {
  return key(source, socketResource.encode({ resource: RESOURCE_SOCKET, family, type, protocol }));
}

export function capabilityKey(source: number, capability: number): Buffer {
  return key(source, capabilityResource.encode({ resource: RESOURCE_CAPABILITY, capability }));
}

export function presetKey(source: number, preset: keyof typeof PRESETS): Buffer {
  return key(source, presetResource.encode({ resource: RESOURCE_PRESET, preset: PRESETS[preset] }));
}

export function globKey(source: number, slot: number): Buffer {
  return key(source, globResource.encode({ resource: RESOURCE_GLOB, slot }));
}

export function settingsKey(): Buffer {
  return key(SOURCE_SETTINGS, new Uint8Array(0));
}

/** Keys in the map's order of bytes after the prefixlen, then by prefixlen. */
function compareKeys(a: Buffer, b: Buffer): number {
  // Compared in place: a sort of thousands of keys would otherwise make a view per comparison.
  const from = ruleKeyCodec.fields.source.offset;
  const prefixlen = (key: Buffer) => (prefixlenAtStart ? codecs.u32.decode(key) : codecs.u32.decode(key.subarray(ruleKeyCodec.fields.prefixlen.offset)));
  return a.compare(b, from, RULE_KEY_SIZE, from, RULE_KEY_SIZE) || prefixlen(a) - prefixlen(b);
}
const prefixlenAtStart = ruleKeyCodec.fields.prefixlen.offset === 0;

const noPattern = Buffer.alloc(GLOB_PATTERN_SIZE);

function encodeValue(value: Value, key: Buffer): Buffer {
  // The two fields read in place: decoding the whole key would copy its path.
  const { prefixlen: prefixlenField, path: pathField } = ruleKeyCodec.fields;
  const prefixlen = codecs.u32.decode(key.subarray(prefixlenField.offset));
  const path = key.subarray(pathField.offset, pathField.offset + pathField.codec.size);
  const covered = (prefixlen - 8 * codecs.u32.size) / 8;
  const directory = path[0] === 0x2f && path[covered - 1] === 0x2f;
  const pattern = value.pattern === undefined ? noPattern : Buffer.alloc(GLOB_PATTERN_SIZE);
  const patternLen = value.pattern === undefined ? 0 : pattern.write(value.pattern, 'utf8');
  const bytes = allocateValue();
  encodeInto(
    ruleValueCodec,
    {
      ops: value.ops.map((number) => number >>> 0),
      childOps: value.childOps.map((number) => number >>> 0),
      ownerOps: value.ownerOps.map((number) => number >>> 0),
      ruleId: value.ruleId.map((number) => number >>> 0),
      patternLen,
      matchBits: (prefixlen | (directory ? MATCH_DIRECTORY : 0)) >>> 0,
      pattern,
    },
    bytes,
    0,
  );
  return bytes;
}

/** A value decoded, for tests and for tools that read a scope's rules back. */
export function decodeRuleValue(buffer: Buffer): Value {
  if (buffer.length !== RULE_VALUE_SIZE) throw new ValidationError('decode rule value', [{ path: '', message: `expected ${RULE_VALUE_SIZE} bytes, got ${buffer.length}` }]);
  const raw = ruleValueCodec.decode(buffer);
  const three = (values: number[]): [number, number, number] => [values[0]!, values[1]!, values[2]!];
  const decoded: Value = { ops: three(raw.ops), childOps: three(raw.childOps), ownerOps: three(raw.ownerOps), ruleId: three(raw.ruleId) };
  if (raw.patternLen > 0) decoded.pattern = Buffer.from(raw.pattern.subarray(0, raw.patternLen)).toString('utf8');
  return decoded;
}

/** A blocked file whose identity (device and inode, in a container's root) the enforcer should also hold: identityTargets(). */
export interface IdentityTarget {
  /** The rule's path, as the container sees it (a directory's ends in '/'). */
  readonly path: string;
  /** The operations blocked on it (OPERATION_BITS). */
  readonly ops: number;
  /** The first Block rule on it. */
  readonly ruleId: number;
  /**
   * For a directory rule: which of the files below it the rule covers,
   * every one ('recursive') or those directly in it ('children'). Their
   * identities are wanted only for files that have other names (more than
   * one link): a file with one name is reached by its path alone.
   */
  readonly directory?: 'recursive' | 'children';
}

/**
 * The files whose other names the enforcer should block too (a hard link
 * made before the rule; the file reopened after it was unlinked): every
 * Block rule on one file or on a directory (no pattern) that applies to
 * every process and spares no owner, merged by path. Identities follow a
 * file's inode: for a file rule, the file it names; for a directory rule,
 * the files below it (the caller enumerates them). Rules are taken as
 * encodeRules takes them (ids default to the position from 1); call it on
 * rules that encode.
 */
export function identityTargets(rules: readonly Rule[]): IdentityTarget[] {
  const byPath = new Map<string, { path: string; ops: number; ruleId: number; directory?: 'recursive' | 'children' }>();
  rules.forEach((rule, index) => {
    if ((rule.kind ?? 'path') !== 'path' || (rule.action ?? 'block') !== 'block' || rule.fromSource !== undefined) return;
    const pathRule = rule as PathRule;
    if (pathRule.ownerOnly === true || isGlob(pathRule.path)) return;
    let ops = operationsFlags(pathRule.operations, '', []);
    if (pathRule.readOnly === true) ops &= WRITE_OPERATIONS;
    // Rename and link remove or add a name: the path rule's protection decides them, not the inode.
    ops &= ~(OPERATION_BITS.rename | OPERATION_BITS.link | OPERATION_BITS.unlink);
    if (ops === 0) return;
    const id = rule.id ?? index + 1;
    const directory = pathRule.path.endsWith('/') ? (pathRule.recursive === false ? 'children' : 'recursive') : undefined;
    const key = `${directory ?? 'file'}\u0000${pathRule.path}`;
    const found = byPath.get(key);
    if (found === undefined) byPath.set(key, { path: pathRule.path, ops, ruleId: id, ...(directory === undefined ? {} : { directory }) });
    else byPath.set(key, { ...found, ops: found.ops | ops, ruleId: Math.min(found.ruleId, id) });
  });
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : (a.directory ?? '') < (b.directory ?? '') ? -1 : 1));
}

/**
 * The kernel's dev_t of a device number as stat(2) gives it (glibc's
 * encoding, Node's `Stats.dev`): major << 20 | minor, what the enforcer
 * reads from a file's super block.
 */
export function kernelDevice(statDevice: number | bigint): number {
  const dev = BigInt(statDevice);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return Number(((major << 20n) | (minor & 0xfffffn)) & 0xffffffffn);
}

function checkAction(action: unknown, where: string, issues: ValidationIssue[]): number {
  if (action === undefined) return ACTION_INDEX.block;
  if (action === 'block' || action === 'audit' || action === 'allow') return ACTION_INDEX[action];
  issues.push({ path: where, message: "expected 'block', 'audit' or 'allow'" });
  return ACTION_INDEX.block;
}

function operationsFlags(operations: readonly PathOperation[] | undefined, where: string, issues: ValidationIssue[]): number {
  if (operations === undefined) return FILE_OPERATIONS;
  if (!Array.isArray(operations) || operations.length === 0) {
    issues.push({ path: where, message: `expected a non-empty list of ${PATH_OPERATIONS.map((name) => `'${name}'`).join(', ')}` });
    return 0;
  }
  let flags = 0;
  for (const operation of operations as readonly unknown[]) {
    if (operation === 'open') flags |= OPERATION_BITS.read | OPERATION_BITS.write;
    else if (typeof operation === 'string' && (PATH_OPERATIONS as readonly string[]).includes(operation)) flags |= OPERATION_BITS[operation as Operation];
    else {
      issues.push({ path: where, message: `expected one of ${PATH_OPERATIONS.join(', ')}, got ${JSON.stringify(operation)}` });
      return 0;
    }
  }
  return flags;
}

/** What is wrong with a rule path, or undefined. */
function checkPath(path: unknown, directoryAllowed: boolean): string | undefined {
  if (typeof path !== 'string' || !path.startsWith('/')) return 'expected an absolute path (starting with /)';
  if (path.includes('\0')) return 'expected no NUL byte';
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > RULE_PATH_MAX) return `expected at most ${RULE_PATH_MAX} bytes, got ${bytes}`;
  if (!directoryAllowed && path.endsWith('/')) return 'expected a file, not a directory';
  const components = path.slice(1, path.endsWith('/') ? -1 : undefined).split('/');
  if (path !== '/' && components.some((component) => component === '' || component === '.' || component === '..')) {
    return "expected a normalised path (no empty, '.' or '..' component)";
  }
  return undefined;
}
