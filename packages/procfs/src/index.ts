/**
 * @bulwark/procfs: read a process's identity, namespaces, cgroup and LSM
 * label from /proc. Importing touches nothing; every reader checks the
 * platform and its pid on first use.
 */
export { ProcessGoneError, type ProcessGoneReason } from './errors.js';
export type { ProcfsOptions } from './context.js';
export { NAMESPACE_TYPES, type NamespaceId, type NamespaceType, type Namespaces, readNamespaces } from './namespaces.js';
export { type CgroupInfo, cgroupV1Path, readCgroup } from './cgroup.js';
export type { CapabilitySets, CgroupLayout, IdSet, SeccompMode } from './parse.js';
export { readLsmLabel } from './lsm.js';
export { type ProcessIdentity, isProcessAlive, processKey, readProcessIdentity, readStartTime } from './identity.js';
export { type ProcessSnapshot, readProcess } from './process.js';
export { CAPABILITY_NAMES, capabilityNames } from './capabilities.js';
