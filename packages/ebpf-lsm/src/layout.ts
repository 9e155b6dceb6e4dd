/**
 * The layout user space shares with the enforcer, as src/bpf/layout.h
 * writes it: the constants, and the structs of map keys and values and of
 * event records as codecs. layout.h is the source; this module mirrors it
 * name for name (`OP_READ` is `OPERATION_BITS.read`, `struct rule_value`
 * is `ruleValueCodec`, `child_ops` is `childOps`), and layout.test.ts
 * parses the header and fails when the two disagree. Pure: no native code.
 */
import { codecs } from './codec.js';

/** The version of the map layout; `layout_version` in enforcer.bpf.c's .rodata must equal it. */
export const LAYOUT_VERSION = 9;
/** Scope indexes (0 to MAX_SCOPES - 1): a container's counters (`decisions`), throttle and events. */
export const MAX_SCOPES = 4096;
/** Rule-set indexes the outer map `rules` and `generations` hold (0 to MAX_SETS - 1); scopes may share one. */
export const MAX_SETS = 4096;
/** Identities (`identities`: a file's device and inode in a scope) all scopes may hold together. */
export const MAX_IDENTITIES = 65536;

/**
 * Bytes in an inner map's key, an LPM trie key (struct rule_key): u32
 * prefixlen (the bits of what follows that the key covers), u32 source,
 * then the path, padded with zeros.
 */
export const RULE_KEY_SIZE = 260;
/** Bytes of a key's path field. */
export const RULE_PATH_SIZE = 252;
/** The longest rule path in bytes (UTF-8), so that every key's path ends in a zero. */
export const RULE_PATH_MAX = RULE_PATH_SIZE - 1;
/** In a value's match bits: the key is a directory's (ends in '/'). */
export const MATCH_DIRECTORY = 0x80000000;

/** Key sources with a meaning of their own. */
export const SOURCE_ANY = 0;
export const SOURCE_SETTINGS = 0xffffffff;
export const SOURCE_DEFINITION = 0xfffffffe;
/** First byte of a key's path for resources that are not paths. */
export const RESOURCE_SOCKET = 1;
export const RESOURCE_CAPABILITY = 2;
export const RESOURCE_GLOB = 3;
/** A preset: the next byte says which (PRESETS). */
export const RESOURCE_PRESET = 4;
/** The presets the program decides: execs that no path rule can name. */
export const PRESETS = { filelessExec: 1, anonymousMapExec: 2 } as const;
/** Glob rules one source may have in one scope. */
export const MAX_GLOBS = 32;
/** A socket key field that matches any value. */
export const ANY_16 = 0xffff;

/** Operation bits, as the program tests them (layout.h's OP_*). */
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

export type RuleAction = 'block' | 'audit' | 'allow';
/** Indexes of the per-action arrays in a value (layout.h's ACTION_*). */
export const ACTION_INDEX: Readonly<Record<RuleAction, number>> = { block: 0, audit: 1, allow: 2 };

/** Verdicts in events, by their number (layout.h's VERDICT_*). */
export const VERDICTS = ['allow', 'block', 'audit', 'posture-block', 'posture-audit', 'fail-closed', 'dropped', 'protected'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** struct throttle_config's flags: no decision cache. */
export const CONFIG_NO_CACHE = 1;
/** In a `generations` value (the generation shifted left by one): the rule set has fromSource rules. */
export const GENERATION_HAS_SOURCES = 1;

/** Bytes in the kernel's pattern buffer (glob.h), a rule value's pattern. */
export const GLOB_PATTERN_SIZE = 256;
/** Bytes in the kernel's path buffer (glob.h), as bpf_d_path fills it. */
export const GLOB_PATH_SIZE = 4096;
/** Steps the kernel's matcher takes at most before it gives up. */
export const GLOB_MAX_STEPS = 65536;

const actions = Object.keys(ACTION_INDEX).length;

/** struct rule_key: an LPM trie key. `prefixlen` counts the bits of `source` and `path` the key covers. */
export const ruleKeyCodec = codecs.struct('struct rule_key', {
  prefixlen: codecs.u32,
  source: codecs.u32,
  path: codecs.bytes(RULE_PATH_SIZE),
});

/** struct rule_value: per action, the operations, those for direct children only, those qualified by ownerOnly, and a rule id; then a glob key's pattern. */
export const ruleValueCodec = codecs.struct('struct rule_value', {
  ops: codecs.array(codecs.u32, actions),
  childOps: codecs.array(codecs.u32, actions),
  ownerOps: codecs.array(codecs.u32, actions),
  ruleId: codecs.array(codecs.u32, actions),
  patternLen: codecs.u32,
  matchBits: codecs.u32,
  pattern: codecs.bytes(GLOB_PATTERN_SIZE),
});

/**
 * A cgroup's entry of `scopes` (struct scope_entry): its scope index (its
 * decision counters, event throttle and the `scope` of its events) and the
 * index of the rule set it is enforced with (in `rules` and
 * `generations`), which several scopes may share.
 */
export interface ScopeEntry {
  readonly scope: number;
  readonly set: number;
}

/** struct scope_entry: a `scopes` value, the cgroup's scope index and the index of its rule set. */
export const scopeEntryCodec = codecs.struct('struct scope_entry', {
  scope: codecs.u32,
  set: codecs.u32,
});

/**
 * struct identity_key: a file in a scope, by its device (the kernel's dev_t
 * of its super block: major << 20 | minor) and inode number.
 */
export const identityKeyCodec = codecs.struct('struct identity_key', {
  scope: codecs.u32,
  dev: codecs.u32,
  ino: codecs.u64,
});

/** struct identity_value: the operations the scope's Block rules deny on that file, and the first such rule. */
export const identityValueCodec = codecs.struct('struct identity_value', {
  ops: codecs.u32,
  ruleId: codecs.u32,
});

/** struct decision_counts: a `decisions` value. */
export const decisionCountsCodec = codecs.struct('struct decision_counts', {
  allowed: codecs.u64,
  denied: codecs.u64,
  failed: codecs.u64,
  audited: codecs.u64,
  cached: codecs.u64,
  lost: codecs.u64,
});

/** struct throttle_config: the `config` value. */
export const throttleConfigCodec = codecs.struct('struct throttle_config', {
  eventsPerSecond: codecs.u32,
  flags: codecs.u32,
  suppressNs: codecs.u64,
  hostScope: codecs.u32,
  hostSet: codecs.u32,
});

/** struct event: one record of the `events` ring buffer, as bytes and numbers (decodeEnforcerEvent makes it readable). */
export const eventRecordCodec = codecs.struct('struct event', {
  timeNs: codecs.u64,
  cgroupId: codecs.u64,
  scope: codecs.u32,
  pid: codecs.u32,
  tgid: codecs.u32,
  uid: codecs.u32,
  operation: codecs.u32,
  ruleId: codecs.u32,
  verdict: codecs.u32,
  dropped: codecs.u32,
  comm: codecs.bytes(16),
  resource: codecs.bytes(RULE_PATH_SIZE),
  source: codecs.bytes(RULE_PATH_SIZE),
});

/** Bytes in an inner map's value (struct rule_value): four arrays of three u32 (per action), the pattern's length, the match bits, a glob key's pattern. */
export const RULE_VALUE_SIZE = ruleValueCodec.size;
/** Bytes in one `decisions` value (struct decision_counts). */
export const DECISION_COUNTS_SIZE = decisionCountsCodec.size;
/** Bytes in one event record (struct event). */
export const EVENT_SIZE = eventRecordCodec.size;
