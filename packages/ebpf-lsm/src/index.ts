/**
 * @bulwark/ebpf-lsm: load, attach and inspect BPF programs and maps through
 * libbpf. Importing does nothing; the first call loads libbpf.so.1. The pure
 * part (rules, layout, globs, event decoding, the scope allocator) is also at
 * @bulwark/ebpf-lsm/rules, which loads no native code at all.
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
// Everything pure, also at @bulwark/ebpf-lsm/rules: codecs, the layout's constants, rules, globs, event decoding.
export * from './rules-entry.js';
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
  ENFORCER_MAP_NAMES,
  Enforcer,
  createRuleMap,
  fillRuleMap,
  enforcerObjectPath,
  loadEnforcer,
  markRulesChanged,
  openPinnedEnforcer,
  type EnforcerMapName,
  type LoadEnforcerOptions,
  type OpenPinnedEnforcerOptions,
  type ScopeIdentity,
  type ThrottleLimits,
} from './enforcer.js';
export { listEnforcerPins, removeEnforcerPins, type EnforcerPins, type EnforcerPinsOptions, type PinRemovalStep } from './enforcer-pins.js';
export {
  BPF_FS_MAGIC,
  probeBpfLsm,
  probeBpffs,
  probeBtf,
  probeEnforcement,
  probeLibbpf,
  systemFileAccess,
  toNotSupportedError,
  type EnforcementProbeOptions,
  type EnforcementReport,
  type LibbpfProbeOptions,
  type ProbeFileAccess,
  type ProbeOptions,
  type ProbeStatus,
  type SystemProbe,
} from './probes.js';
