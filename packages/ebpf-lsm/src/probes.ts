/**
 * What this machine offers the enforcer, asked of the system's files: is
 * BPF LSM active, is there BTF for CO-RE, is a directory on a BPF file
 * system, can libbpf be loaded. Each probe answers supported, unsupported
 * (with what is missing and whether the kernel, the platform or the
 * configuration lacks it) or inconclusive (it could not tell); a
 * permission error is thrown, never reported as unsupported. The answers
 * about the kernel (BPF LSM, BTF) are cached per file access table when
 * conclusive, as features.ts caches its own; a mount can appear at any
 * time, so the bpffs answer is not cached.
 */
import { readFileSync, statSync, statfsSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { NotSupportedError, ValidationError, describeError, errnoOf, toSystemError, type NotSupportedReason } from '@bulwark/errors';
import { createLibbpfBinding, type LibbpfVersion } from './binding.js';

export type ProbeStatus = 'supported' | 'unsupported' | 'inconclusive';

export type SystemProbe =
  | { readonly name: string; readonly status: 'supported'; readonly detail: string }
  | { readonly name: string; readonly status: 'unsupported'; readonly reason: NotSupportedReason; readonly detail: string }
  | { readonly name: string; readonly status: 'inconclusive'; readonly detail: string };

/**
 * The calls the probes make, one table for each way of making them (the
 * system's own, or a test's). Each throws as node:fs does, with an errno
 * `code` (ENOENT, EACCES, ...).
 */
export interface ProbeFileAccess {
  readFile(path: string): string;
  /** The file's size in bytes (stat(2)). */
  fileSize(path: string): number;
  /** `f_type` of the file system holding `path` (statfs(2)). */
  fileSystemType(path: string): number;
  /** The running kernel's release (uname -r), to find /boot/config-<release>. */
  kernelRelease(): string;
}

export const systemFileAccess: ProbeFileAccess = {
  readFile: (path) => readFileSync(path, 'utf8'),
  fileSize: (path) => statSync(path).size,
  fileSystemType: (path) => statfsSync(path).type,
  kernelRelease: () => release(),
};

export interface ProbeOptions {
  /** Default: the system's own files (systemFileAccess). */
  readonly files?: ProbeFileAccess;
}

/** statfs(2) magic numbers (linux/magic.h) of the file systems the probes expect or name. */
export const BPF_FS_MAGIC = 0xcafe4a11;
export const SECURITYFS_MAGIC = 0x73636673;
export const SYSFS_MAGIC = 0x62656572;
const fileSystemNames: Readonly<Record<number, string>> = {
  [BPF_FS_MAGIC]: 'bpf',
  [SECURITYFS_MAGIC]: 'securityfs',
  [SYSFS_MAGIC]: 'sysfs',
  0x01021994: 'tmpfs',
  0x9fa0: 'proc',
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x794c7630: 'overlayfs',
  0x01021997: '9p',
};

const lsmPath = '/sys/kernel/security/lsm';
const btfPath = '/sys/kernel/btf/vmlinux';

const cache = new WeakMap<ProbeFileAccess, Map<string, SystemProbe>>();

/** The cached answer to `name` for `files`, or the probe's, cached when conclusive. */
function cached(files: ProbeFileAccess, name: string, probe: () => SystemProbe): SystemProbe {
  let results = cache.get(files);
  if (results === undefined) {
    results = new Map();
    cache.set(files, results);
  }
  const known = results.get(name);
  if (known !== undefined) return known;
  const result = probe();
  if (result.status !== 'inconclusive') results.set(name, result);
  return result;
}

function isPermissionErrno(error: unknown): boolean {
  const errno = errnoOf(error);
  return errno === 'EACCES' || errno === 'EPERM';
}

/** Off Linux, with the system's own files, every system probe answers this. */
function offLinux(name: string, options: ProbeOptions): SystemProbe | undefined {
  if (options.files !== undefined || process.platform === 'linux') return undefined;
  return { name, status: 'unsupported', reason: 'platform', detail: `${name} requires linux, not ${process.platform}` };
}

/** A probe of the kernel (`probe ${name}`): off Linux unsupported, else the answer of `probe`, cached when conclusive. */
function probeKernel(name: string, options: ProbeOptions, probe: (name: string, files: ProbeFileAccess, operation: string) => SystemProbe): SystemProbe {
  const platform = offLinux(name, options);
  if (platform !== undefined) return platform;
  const files = options.files ?? systemFileAccess;
  return cached(files, name, () => probe(name, files, `probe ${name}`));
}

/** Runs a read; a permission error is thrown as a SystemError naming the probe, anything else is handed back. */
function attempt<T>(operation: string, path: string, read: () => T): { value: T } | { error: unknown } {
  try {
    return { value: read() };
  } catch (error) {
    if (isPermissionErrno(error)) throw toSystemError(operation, error, path);
    return { error };
  }
}

/** The file system type of `path` by name, or undefined when it cannot be read. */
function fileSystemOf(files: ProbeFileAccess, operation: string, path: string): number | undefined {
  const result = attempt(operation, path, () => files.fileSystemType(path));
  return 'value' in result ? result.value : undefined;
}

function fileSystemName(type: number): string {
  return fileSystemNames[type] ?? `file system type 0x${type.toString(16)}`;
}

/** What the kernel's build configuration says of `option` (from /boot/config-<release>): 'y', 'm', 'n', or undefined when unknown. */
function kernelConfig(files: ProbeFileAccess, operation: string, option: string): { value: 'y' | 'm' | 'n'; path: string } | undefined {
  const path = `/boot/config-${files.kernelRelease()}`;
  const result = attempt(operation, path, () => files.readFile(path));
  if (!('value' in result)) return undefined;
  for (const line of result.value.split('\n')) {
    if (line === `# ${option} is not set`) return { value: 'n', path };
    if (line === `${option}=y` || line === `${option}=m`) return { value: line.endsWith('y') ? 'y' : 'm', path };
  }
  return { value: 'n', path };
}

/**
 * Whether BPF LSM is active: `bpf` in /sys/kernel/security/lsm. When it is
 * not, the detail says how to get it: the kernel's build (CONFIG_BPF_LSM,
 * when /boot/config-<release> says it is not set; reason 'kernel') or the
 * boot command line (`lsm=` with bpf added; reason 'config').
 * Inconclusive when securityfs is not mounted. Throws SystemError
 * (isPermission) when the file cannot be read for lack of permission.
 */
export function probeBpfLsm(options: ProbeOptions = {}): SystemProbe {
  return probeKernel('bpf lsm', options, (name, files, operation) => {
    const read = attempt(operation, lsmPath, () => files.readFile(lsmPath).trim());
    if (!('value' in read)) {
      if (errnoOf(read.error) !== 'ENOENT') return { name, status: 'inconclusive', detail: `${lsmPath}: ${describeError(read.error)}` };
      if (fileSystemOf(files, operation, dirname(lsmPath)) === SECURITYFS_MAGIC) {
        return { name, status: 'unsupported', reason: 'kernel', detail: `bpf lsm not active: securityfs has no lsm file (the kernel lacks CONFIG_SECURITY)` };
      }
      return { name, status: 'inconclusive', detail: `securityfs not mounted at ${dirname(lsmPath)} (mount -t securityfs securityfs ${dirname(lsmPath)})` };
    }
    const active = read.value.split(',').filter((entry) => entry !== '');
    if (active.includes('bpf')) return { name, status: 'supported', detail: `active lsms: ${active.join(',')}` };
    const missing = `bpf lsm not active: ${lsmPath} lacks bpf (${active.join(',')})`;
    const config = kernelConfig(files, operation, 'CONFIG_BPF_LSM');
    if (config?.value === 'n') return { name, status: 'unsupported', reason: 'kernel', detail: `${missing}; the kernel is built without CONFIG_BPF_LSM (${config.path})` };
    return { name, status: 'unsupported', reason: 'config', detail: `${missing}; boot with lsm=${[...active, 'bpf'].join(',')}` };
  });
}

/**
 * Whether the kernel has BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF),
 * which the enforcer's CO-RE relocations need. Inconclusive when sysfs is
 * not mounted at /sys. Throws SystemError (isPermission) for lack of permission.
 */
export function probeBtf(options: ProbeOptions = {}): SystemProbe {
  return probeKernel('btf', options, (name, files, operation) => {
    const stat = attempt(operation, btfPath, () => files.fileSize(btfPath));
    if ('value' in stat) return { name, status: 'supported', detail: `${btfPath} (${stat.value} bytes)` };
    if (errnoOf(stat.error) !== 'ENOENT') return { name, status: 'inconclusive', detail: `${btfPath}: ${describeError(stat.error)}` };
    if (fileSystemOf(files, operation, '/sys') !== SYSFS_MAGIC) return { name, status: 'inconclusive', detail: 'sysfs not mounted at /sys (mount -t sysfs sysfs /sys)' };
    return { name, status: 'unsupported', reason: 'kernel', detail: `${btfPath} missing: the kernel is built without BTF (CONFIG_DEBUG_INFO_BTF)` };
  });
}

/**
 * Whether `directory` (default /sys/fs/bpf) is on a BPF file system, where
 * Enforcer.pin() can pin. A directory not made yet is judged by its nearest
 * existing parent, as pin() would create it there. Unsupported (reason
 * 'config') names the file system it is on and the mount command. Not
 * cached. Throws SystemError (isPermission) for lack of permission.
 */
export function probeBpffs(directory = '/sys/fs/bpf', options: ProbeOptions = {}): SystemProbe {
  const given: unknown = directory;
  if (typeof given !== 'string' || !isAbsolute(given)) {
    throw new ValidationError('probe bpffs', [{ path: 'directory', message: `expected an absolute path, got ${String(given)}` }]);
  }
  const files = options.files ?? systemFileAccess;
  const name = 'bpffs';
  const platform = offLinux(name, options);
  if (platform !== undefined) return platform;
  const wanted = resolve(directory);
  for (let path = wanted; ; path = dirname(path)) {
    const stat = attempt('probe bpffs', path, () => files.fileSystemType(path));
    if ('value' in stat) {
      const where = path === wanted ? wanted : `${wanted} (not made yet; its parent ${path})`;
      if (stat.value === BPF_FS_MAGIC) return { name, status: 'supported', detail: `${where} is on a bpf file system` };
      const mountPoint = path === '/' ? wanted : path;
      return {
        name,
        status: 'unsupported',
        reason: 'config',
        detail: `no bpf file system at ${where}: it is on ${fileSystemName(stat.value)} (mount -t bpf bpf ${mountPoint})`,
      };
    }
    if (errnoOf(stat.error) !== 'ENOENT' || path === '/') return { name, status: 'inconclusive', detail: `${path}: ${describeError(stat.error)}` };
  }
}

export interface LibbpfProbeOptions {
  /** How libbpf is loaded; default the package's own (createLibbpfBinding, which throws NotSupportedError off Linux). */
  readonly load?: () => { readonly version: LibbpfVersion };
}

/**
 * Whether libbpf.so.1 (1.0 or later) loads, through koffi, as the rest of
 * the package loads it: this probe loads native code. Unsupported with the
 * NotSupportedError's reason and what is missing; inconclusive on any other
 * failure.
 */
export function probeLibbpf(options: LibbpfProbeOptions = {}): SystemProbe {
  const name = 'libbpf';
  try {
    const { version } = (options.load ?? createLibbpfBinding)();
    return { name, status: 'supported', detail: `libbpf ${version.major}.${version.minor}` };
  } catch (error) {
    if (error instanceof NotSupportedError) return { name, status: 'unsupported', reason: error.reason, detail: error.missing };
    return { name, status: 'inconclusive', detail: describeError(error) };
  }
}

export interface EnforcementProbeOptions extends ProbeOptions, LibbpfProbeOptions {
  /** Where the enforcer will be pinned; default /sys/fs/bpf. */
  readonly pinDirectory?: string;
}

export interface EnforcementReport {
  /** unsupported when any probe is, else inconclusive when any probe is, else supported. */
  readonly status: ProbeStatus;
  /** bpf lsm, btf, bpffs and libbpf, in that order. */
  readonly probes: readonly SystemProbe[];
}

/**
 * Everything the enforcer needs of the machine, in one report: what an
 * agent logs once at start and decides `enforcement: required | audit |
 * off` by. Loading and attaching remain the final word (privileges are
 * not probed: without CAP_BPF and CAP_PERFMON, loadEnforcer throws a
 * permission error).
 */
export function probeEnforcement(options: EnforcementProbeOptions = {}): EnforcementReport {
  const files = options.files === undefined ? {} : { files: options.files };
  const probes = [
    probeBpfLsm(files),
    probeBtf(files),
    probeBpffs(options.pinDirectory, files),
    probeLibbpf(options.load === undefined ? {} : { load: options.load }),
  ];
  const status = probes.some((probe) => probe.status === 'unsupported')
    ? 'unsupported'
    : probes.some((probe) => probe.status === 'inconclusive')
      ? 'inconclusive'
      : 'supported';
  return { status, probes };
}

/** The NotSupportedError an unsupported probe stands for (to throw when enforcement is required). */
export function toNotSupportedError(probe: Extract<SystemProbe, { status: 'unsupported' }>): NotSupportedError {
  return new NotSupportedError(probe.name, probe.reason, probe.detail);
}
