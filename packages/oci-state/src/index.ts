export { parseState, containerStatuses, type ContainerState, type ContainerStatus } from './state.js';
export {
  parseConfig,
  readConfig,
  ociStages,
  type Capabilities,
  type Hook,
  type Hooks,
  type Mount,
  type OciStage,
  type Process,
  type Rlimit,
  type Root,
  type RuntimeConfig,
  type User,
} from './config.js';
export { parseConfigSummary, readConfigSummary, type ConfigSummary, type ReadConfigOptions } from './config-summary.js';
export type { IdMapping } from './config-ids.js';
export {
  namespaceTypes,
  type LinuxConfig,
  type LinuxDevice,
  type Namespace,
  type NamespaceType,
  type Seccomp,
  type SeccompSyscall,
} from './config-linux.js';
export { parseFeatures, type LinuxFeatures, type RuntimeFeatures } from './features.js';
export { parseHookFile, countConditions, type HookConditions, type HookDefinition } from './hooks-file.js';
export { loadHooksDirectories, type LoadedHooks } from './hooks-directory.js';
export {
  selectHooks,
  matchHook,
  hasBindMounts,
  hookStages,
  type HookStage,
  type SelectedHooks,
  type SelectionContext,
} from './hooks-select.js';
export { renderHookFile, type HookFileContent } from './hooks-render.js';
export { compileRe2, PatternError, type Re2Options, type Re2Pattern } from '@bulwark/re2';
export { identifyContainer, type ContainerNames, type ContainerRuntime } from './identity.js';
export { DEFAULT_PODMAN_CONTAINERS_FILE, MAX_PODMAN_CONTAINERS_BYTES, parsePodmanNames, readPodmanContainerName } from './podman-names.js';
export { resolveCgroupsPath, expandSlice, type CgroupsPathOptions } from './cgroups-path.js';
export { injectHooks, removeHooks, isSameHook, type HookEntry, type InjectOptions } from './inject.js';
export { writeBundleHooks, updateSpecFileHooks, type SpecFileChange } from './bundle.js';
export { writeFileAtomic, writeFileAtomicSync } from './write.js';
