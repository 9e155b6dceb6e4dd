/**
 * @bulwark/ebpf-lsm: load, attach and inspect BPF programs and maps through
 * libbpf. Importing does nothing; the first call loads libbpf.so.1.
 */
export { openObject, OpenObject, LoadedObject, type OpenObjectOptions } from './object.js';
export { Program, type ProgramInfo, type ProgramTestRun } from './program.js';
export { Link, type OpenPinnedLinkOptions } from './link.js';
export {
  BpfMap,
  TypedMap,
  createMap,
  mapTypeName,
  mapTypeNames,
  type CreateMapOptions,
  type LookupBatchOptions,
  type MapInfo,
  type MapTypeName,
  type OpenPinnedMapOptions,
  type UpdateMode,
  type UpdateOptions,
} from './map.js';
export { RingBuffer, openRingBuffer, type DropCounter, type RingBufferOptions, type RingBufferCodecOptions } from './ring-buffer.js';
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
  OPERATION_BITS,
  RESOURCE_CAPABILITY,
  RESOURCE_GLOB,
  RESOURCE_SOCKET,
  RULE_KEY_SIZE,
  RULE_PATH_MAX,
  RULE_PATH_SIZE,
  RULE_VALUE_SIZE,
  SOURCE_ANY,
  SOURCE_DEFINITION,
  SOURCE_SETTINGS,
  VERDICTS,
  type Operation,
  type RuleAction,
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
  isGlob,
  pathKey,
  settingsKey,
  socketKey,
  type CapabilityRule,
  type Category,
  type PathOperation,
  type PathRule,
  type Posture,
  type Postures,
  type Rule,
  type RuleEntry,
  type SocketRule,
} from './rules.js';
export { GLOB_PATTERN_MAX, findGlobProblem, globMatch, validateGlob, type GlobMatchOptions, type GlobMatchResult, type ValidGlob } from './glob.js';
export { decodeDecisionCounts, decodeEnforcerEvent, type DecisionCounts, type EnforcerEvent } from './records.js';
export { StateError, LibbpfError, VerifierError, type LogEntry, type LibbpfErrorDetails } from './errors.js';
export type { LogOptions } from './call.js';
export {
  createLibbpfBinding,
  LibbpfCallError,
  type LibbpfBinding,
  type LibbpfVersion,
  type LogLevel,
  type LogSink,
  type MapDefinition,
  type OpenObjectSettings,
  type ObjectPointer,
  type ProgramPointer,
  type MapPointer,
  type LinkPointer,
  type RingBufferPointer,
  type CreateMapSettings,
  type KernelMapInfo,
  type KernelProgramInfo,
  type TestRunOutcome,
  type LookupBatchResult,
  type SampleHandler,
} from './binding.js';
export { errnoName } from './errno.js';
export {
  Enforcer,
  createRuleMap,
  fillRuleMap,
  enforcerObjectPath,
  loadEnforcer,
  markRulesChanged,
  type LoadEnforcerOptions,
  type ThrottleLimits,
} from './enforcer.js';
