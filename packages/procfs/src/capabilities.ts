import { ValidationError } from '@bulwark/errors';

/** Capability names by bit number, as in linux/capability.h (CAP_LAST_CAP is 40 since Linux 5.9). */
export const CAPABILITY_NAMES: readonly string[] = Object.freeze([
  'CAP_CHOWN', // 0
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL', // 5
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE', // 10
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER', // 15
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', // 20
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', // 25
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL', // 30
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM', // 35
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE', // 40
]);

/**
 * The names of the capabilities set in `mask` (a CapEff-style 64-bit mask),
 * lowest bit first. A bit newer than this table appears as `CAP_<bit>`.
 */
export function capabilityNames(mask: bigint): string[] {
  if (typeof mask !== 'bigint' || mask < 0n) {
    const got = typeof mask === 'bigint' ? String(mask) : typeof mask;
    throw new ValidationError('capability mask', [{ path: '', message: `expected a non-negative bigint, got ${got}` }]);
  }
  const names: string[] = [];
  for (let bit = 0; mask >> BigInt(bit) !== 0n; bit += 1) {
    if (((mask >> BigInt(bit)) & 1n) === 1n) names.push(CAPABILITY_NAMES[bit] ?? `CAP_${bit}`);
  }
  return names;
}
