/**
 * @bulwark/ebpf-lsm/rules: everything a policy compiler or an alert
 * formatter needs and nothing that touches the system. Rule types and
 * encodeRules, the keys, the layout's constants (src/bpf/layout.h) and the
 * codecs of its keys and event records, the glob validator and matcher,
 * the decoders of the enforcer's events and counters, and the scope index
 * allocator. It imports no native code (no koffi, no libbpf), so it loads
 * anywhere Node.js runs; the main entry re-exports all of it.
 */
export { codecs, type Codec, type StructCodec, type StructField, type StructValue } from './codec.js';
export {
  ACTION_INDEX,
  ANY_16,
  DECISION_COUNTS_SIZE,
  EVENT_SIZE,
  GLOB_MAX_STEPS,
  GLOB_PATH_SIZE,
  GLOB_PATTERN_SIZE,
  LAYOUT_VERSION,
  MATCH_DIRECTORY,
  MAX_GLOBS,
  MAX_SCOPES,
  MAX_SETS,
  MAX_IDENTITIES,
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
  VERDICTS,
  eventRecordCodec,
  identityKeyCodec,
  identityValueCodec,
  ruleKeyCodec,
  scopeEntryCodec,
  type Operation,
  type RuleAction,
  type ScopeEntry,
  type Verdict,
} from './layout.js';
export {
  CATEGORY_OPERATIONS,
  FILE_OPERATIONS,
  WRITE_OPERATIONS,
  capabilityKey,
  decodeRuleValue,
  encodeRules,
  globKey,
  identityTargets,
  isGlob,
  kernelDevice,
  pathKey,
  presetKey,
  settingsKey,
  socketKey,
  type CapabilityRule,
  type IdentityTarget,
  type Category,
  type PathOperation,
  type PathRule,
  type Posture,
  type Postures,
  type PresetRule,
  type Rule,
  type RuleEntry,
  type RulePart,
  type SocketRule,
} from './rules.js';
export { GLOB_PATTERN_MAX, findGlobProblem, globMatch, validateGlob, type GlobMatchOptions, type GlobMatchResult, type ValidGlob } from './glob.js';
export { decodeDecisionCounts, decodeEnforcerEvent, decodeEventResource, type DecisionCounts, type EnforcerEvent, type EventResource, type ProtectionPath } from './records.js';
export { ScopeAllocator, type ScopeAllocatorJson, type ScopeAllocatorOptions } from './scope-allocator.js';
export { StateError } from './errors.js';
