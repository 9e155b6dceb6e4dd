/**
 * Encodes a scope's rules into the entries of its inner rule map, as
 * src/bpf/enforcer.bpf.c reads them (layout version 5, described in
 * README.md). Pure and deterministic: the same rules give the same entries,
 * in the same order, wherever it runs.
 */
import { ValidationError, type ValidationIssue } from '@bulwark/errors';
import { GLOB_PATTERN_SIZE, findGlobProblem, validateGlob } from './glob.js';

/** The version of the map layout below; `layout_version` in enforcer.bpf.c's .rodata must equal it. */
export const LAYOUT_VERSION = 5;
/**
 * Bytes in an inner map's key, an LPM trie key: u32 prefixlen (the bits of
 * what follows that the key covers), u32 source, then the path, padded
 * with zeros.
 */
export const RULE_KEY_SIZE = 260;
/** Bytes of a key's path field. */
export const RULE_PATH_SIZE = 252;
/** The longest rule path in bytes (UTF-8), so that every key's path ends in a zero. */
export const RULE_PATH_MAX = RULE_PATH_SIZE - 1;
/** Bytes in an inner map's value: four arrays of three u32 (per action), then a glob key's pattern length, the key's match bits (its prefixlen, | MATCH_DIRECTORY) and a glob key's pattern (256 bytes), in host byte order. */
export const RULE_VALUE_SIZE = 48 + 8 + GLOB_PATTERN_SIZE;
/** Scope indexes the outer map holds (0 to MAX_SCOPES - 1). */
export const MAX_SCOPES = 4096;

/** Key sources with a meaning of their own. */
export const SOURCE_ANY = 0;
export const SOURCE_SETTINGS = 0xffffffff;
export const SOURCE_DEFINITION = 0xfffffffe;
/** First byte of a key's path for resources that are not paths. */
export const RESOURCE_SOCKET = 1;
export const RESOURCE_CAPABILITY = 2;
export const RESOURCE_GLOB = 3;
/** In a value's match bits: the key is a directory's (ends in '/'). */
export const MATCH_DIRECTORY = 0x80000000;
/** Glob rules one source may have in one scope. */
export const MAX_GLOBS = 32;
/** A socket key field that matches any value. */
export const ANY_16 = 0xffff;

/** Operation bits, as the program tests them. */
export const OPERATION_BITS = {
  read: 1 << 0,
  write: 1 << 1,
  exec: 1 << 2,
  unlink: 1 << 3,
  rmdir: 1 << 4,
  mkdir: 1 << 5,
  rename: 1 << 6,
  truncate: 1 << 7,
  chmod: 1 << 8,
  link: 1 << 9,
  symlink: 1 << 10,
  mknod: 1 << 11,
  socket: 1 << 12,
  capability: 1 << 13,
  signal: 1 << 14,
} as const;

export type Operation = keyof typeof OPERATION_BITS;
/** What a path rule may name: a file operation, or `open` (read and write). */
export type PathOperation = 'open' | 'read' | 'write' | 'exec' | 'unlink' | 'rmdir' | 'mkdir' | 'rename' | 'truncate' | 'chmod' | 'link' | 'symlink' | 'mknod';
export type RuleAction = 'block' | 'audit' | 'allow';
export type Posture = 'block' | 'audit';

/** Indexes of the per-action arrays in a value. */
export const ACTION_INDEX: Readonly<Record<RuleAction, number>> = { block: 0, audit: 1, allow: 2 };

/** Verdicts in events. */
export const VERDICTS = ['allow', 'block', 'audit', 'posture-block', 'posture-audit', 'fail-closed', 'dropped', 'protected'] as const;
export type Verdict = (typeof VERDICTS)[number];

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

export type Rule = PathRule | SocketRule | CapabilityRule;

/** The default posture of each category in allow-list mode (default block). */
export type Postures = Partial<Record<Category, Posture>>;

export interface RuleEntry {
  readonly key: Buffer;
  readonly value: Buffer;
}

interface Value {
  ops: [number, number, number];
  childOps: [number, number, number];
  ownerOps: [number, number, number];
  ruleId: [number, number, number];
  /** Glob keys only. */
  pattern?: string;
}

const emptyValue = (): Value => ({ ops: [0, 0, 0], childOps: [0, 0, 0], ownerOps: [0, 0, 0], ruleId: [0, 0, 0] });

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
export function encodeRules(rules: readonly Rule[], options: { postures?: Postures } = {}): RuleEntry[] {
  const issues: ValidationIssue[] = [];
  const values = new Map<string, { key: Buffer; value: Value }>();
  const sources = [...new Set(rules.flatMap((rule) => (typeof rule.fromSource === 'string' ? [rule.fromSource] : [])))].sort();
  const sourceIndex = new Map(sources.map((path, index) => [path, index + 1]));
  let allowOps = 0;

  // Entries are found by a cheap text name; a key's bytes are built once, for a new name.
  type KeyRef = readonly [name: string, make: () => Buffer];
  const entry = ([name, make]: KeyRef) => {
    let found = values.get(name);
    if (found === undefined) {
      found = { key: make(), value: emptyValue() };
      values.set(name, found);
    }
    return found.value;
  };
  const add = (key: KeyRef, action: number, ops: number, id: number, options: { children?: boolean; owner?: boolean } = {}) => {
    const value = entry(key);
    (options.children === true ? value.childOps : value.ops)[action]! |= ops;
    if (options.owner === true) value.ownerOps[action]! |= ops;
    const current = value.ruleId[action]!;
    if (current === 0 || id < current) value.ruleId[action] = id;
  };
  const forPath = (source: number, path: string): KeyRef => [`p${source}\u0000${path}`, () => pathKey(source, path)];
  /** Block rename and link on `path` and every directory above it (not '/'). */
  const protectAncestors = (source: number, path: string, id: number) => {
    for (let cut = path.length; cut > 0; cut = path.lastIndexOf('/', cut - 1)) {
      add(forPath(source, path.slice(0, cut)), ACTION_INDEX.block, OPERATION_BITS.rename | OPERATION_BITS.link, id);
    }
  };

  rules.forEach((rule, index) => {
    const where = `rules[${index}]`;
    const before = issues.length;
    const action = checkAction(rule.action, `${where}.action`, issues);
    const id = rule.id ?? index + 1;
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
      if (issues.length > before) return;
      if (action === ACTION_INDEX.allow) allowOps |= OPERATION_BITS.socket;
      add([`s${source}\u0000${fields.join(',')}`, () => socketKey(source, fields[0]!, fields[1]!, fields[2]!)], action, OPERATION_BITS.socket, id);
      return;
    }
    if (kind === 'capability') {
      const capability = (rule as CapabilityRule).capability;
      if (!Number.isInteger(capability) || capability < 0 || capability > 63) issues.push({ path: `${where}.capability`, message: 'expected a capability number from 0 to 63' });
      if (issues.length > before) return;
      if (action === ACTION_INDEX.allow) allowOps |= OPERATION_BITS.capability;
      add([`c${source}\u0000${capability}`, () => capabilityKey(source, capability)], action, OPERATION_BITS.capability, id);
      return;
    }
    if (kind !== 'path') {
      issues.push({ path: `${where}.kind`, message: "expected 'path', 'socket' or 'capability'" });
      return;
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
    if (issues.length > before) return;
    if (pathRule.readOnly === true) ops &= action === ACTION_INDEX.allow ? OPERATION_BITS.read | OPERATION_BITS.exec : WRITE_OPERATIONS;
    if (ops === 0) {
      issues.push({ path: `${where}.operations`, message: 'readOnly leaves none of these operations' });
      return;
    }
    if (action === ACTION_INDEX.allow) allowOps |= ops;
    const owner = pathRule.ownerOnly === true;
    const path = pathRule.path;
    if (glob) {
      const { prefix } = validateGlob(path);
      const protect = action === ACTION_INDEX.block ? OPERATION_BITS.rename | OPERATION_BITS.link : 0;
      // A matching file cannot be moved or linked away from its name, nor a directory above the pattern's fixed part.
      add([`g${source}\u0000${path}`, () => Buffer.alloc(0)], action, ops | protect, id, { owner });
      if (protect !== 0) protectAncestors(source, prefix.slice(0, -1), id);
      return;
    }
    if (path.endsWith('/')) {
      add(forPath(source, path), action, ops, id, { children: pathRule.recursive === false, owner });
      if (path !== '/') add(forPath(source, path.slice(0, -1)), action, ops, id, { owner });
    } else {
      add(forPath(source, path), action, ops, id, { owner });
    }
    // The name is protected with the rule: no moving or linking it, or a directory above it, away.
    if (action === ACTION_INDEX.block) protectAncestors(source, path.endsWith('/') ? path.slice(0, -1) : path, id);
  });

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
    .sort((a, b) => Buffer.compare(a.key.subarray(4), b.key.subarray(4)) || a.key.readUInt32LE(0) - b.key.readUInt32LE(0));
}

/** The directory keys above a path key, nearest first: '/a/b/c' and '/a/b/' both give '/a/', then '/'. */
function directoriesAbove(path: string): string[] {
  const above: string[] = [];
  let end = path.endsWith('/') ? path.length - 1 : path.length;
  while (end > 0) {
    const slash = path.lastIndexOf('/', end - 1);
    if (slash < 0) break;
    above.push(path.slice(0, slash + 1));
    end = slash;
  }
  return above;
}

/**
 * Merges into each path entry what the directories above it add (see
 * encodeRules). Entries are taken shortest path first, so the nearest
 * directory above an entry is merged before the entry reads it.
 */
function mergeDirectories(values: Map<string, { key: Buffer; value: Value }>): void {
  const paths = [...values.entries()]
    .filter(([name]) => name.startsWith('p'))
    .map(([name, found]) => ({ name, separator: name.indexOf('\u0000'), value: found.value }))
    .sort((a, b) => a.name.length - a.separator - (b.name.length - b.separator));
  for (const { name, separator, value } of paths) {
    const prefix = name.slice(0, separator + 1);
    const path = name.slice(separator + 1);
    const above = directoriesAbove(path);
    const parent = path.endsWith('/') ? undefined : values.get(prefix + above[0]!)?.value;
    const nearest = above.map((directory) => values.get(prefix + directory)?.value).find((found) => found !== undefined);
    for (let action = 0; action < 3; action++) {
      const own = value.ops[action]! | value.childOps[action]!;
      const fromParent = parent === undefined ? 0 : parent.childOps[action]!;
      const fromAbove = nearest === undefined ? 0 : nearest.ops[action]!;
      value.ops[action]! |= fromParent | fromAbove;
      value.ownerOps[action]! |= (parent === undefined ? 0 : parent.ownerOps[action]! & fromParent) | (nearest === undefined ? 0 : nearest.ownerOps[action]! & fromAbove);
      if (own === 0) {
        if (fromParent !== 0) value.ruleId[action] = parent!.ruleId[action]!;
        else if (fromAbove !== 0) value.ruleId[action] = nearest!.ruleId[action]!;
      }
    }
  }
}

/** A key: prefixlen for `covered` bytes after the source, then the source. */
function key(source: number, covered: number): Buffer {
  const buffer = Buffer.alloc(RULE_KEY_SIZE);
  // Host byte order (little-endian on x86-64 and arm64), as the kernel reads both.
  buffer.writeUInt32LE(32 + 8 * covered, 0);
  buffer.writeUInt32LE(source, 4);
  return buffer;
}

/**
 * The key of a path rule for a source (SOURCE_ANY for every process): a
 * directory's (ending in '/') covers the path, a file's the path and its
 * terminating zero, so that it is no prefix of a longer name.
 */
export function pathKey(source: number, path: string): Buffer {
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > RULE_PATH_MAX) {
    throw new ValidationError('encode rule key', [{ path: '', message: `expected at most ${RULE_PATH_MAX} bytes, got ${bytes}` }]);
  }
  const buffer = key(source, path.endsWith('/') ? bytes : bytes + 1);
  buffer.write(path, 8, 'utf8');
  return buffer;
}

export function socketKey(source: number, family: number, type: number, protocol: number): Buffer {
  const buffer = key(source, 7);
  buffer[8] = RESOURCE_SOCKET;
  buffer.writeUInt16LE(family, 9);
  buffer.writeUInt16LE(type, 11);
  buffer.writeUInt16LE(protocol, 13);
  return buffer;
}

export function capabilityKey(source: number, capability: number): Buffer {
  const buffer = key(source, 5);
  buffer[8] = RESOURCE_CAPABILITY;
  buffer.writeUInt32LE(capability, 9);
  return buffer;
}

export function globKey(source: number, slot: number): Buffer {
  const buffer = key(source, 2);
  buffer[8] = RESOURCE_GLOB;
  buffer[9] = slot;
  return buffer;
}

export function settingsKey(): Buffer {
  return key(SOURCE_SETTINGS, 0);
}

function encodeValue(value: Value, key: Buffer): Buffer {
  const buffer = Buffer.alloc(RULE_VALUE_SIZE);
  [...value.ops, ...value.childOps, ...value.ownerOps, ...value.ruleId].forEach((number, index) => buffer.writeUInt32LE(number >>> 0, index * 4));
  if (value.pattern !== undefined) buffer.writeUInt32LE(buffer.write(value.pattern, 56, 'utf8'), 48);
  const prefixlen = key.readUInt32LE(0);
  const directory = key[8] === 0x2f && key[8 + (prefixlen - 32) / 8 - 1] === 0x2f;
  buffer.writeUInt32LE((prefixlen | (directory ? MATCH_DIRECTORY : 0)) >>> 0, 52);
  return buffer;
}

/** A value decoded, for tests and for tools that read a scope's rules back. */
export function decodeRuleValue(buffer: Buffer): Value {
  if (buffer.length !== RULE_VALUE_SIZE) throw new ValidationError('decode rule value', [{ path: '', message: `expected ${RULE_VALUE_SIZE} bytes, got ${buffer.length}` }]);
  const at = (index: number) => buffer.readUInt32LE(index * 4);
  const three = (from: number): [number, number, number] => [at(from), at(from + 1), at(from + 2)];
  const decoded: Value = { ops: three(0), childOps: three(3), ownerOps: three(6), ruleId: three(9) };
  const patternLength = at(12);
  if (patternLength > 0) decoded.pattern = buffer.subarray(56, 56 + patternLength).toString('utf8');
  return decoded;
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
