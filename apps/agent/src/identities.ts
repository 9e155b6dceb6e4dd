/**
 * The identities of a container's blocked files: for each exact-file Block
 * rule (identityTargets), the device and inode of that file as the
 * container sees it, so the enforcer denies it under its other names too (a
 * hard link made before the rule, the file reopened after its unlink).
 *
 * The container's files are reached through its init process:
 * `/proc/<pid>/root`, its root. At createRuntime the runtime has made the
 * container's mounts but not yet pivoted into its root file system: the
 * process's root is still the host's, and the container's files are under
 * its rootfs path there (`/proc/<pid>/root/<rootfs>`, which sees the
 * container's own mounts, volumes included). Later (a policy change), its
 * root is the container's.
 */
import { lstatSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { identityTargets, kernelDevice, type IdentityTarget, type Rule } from '@bulwark/ebpf-lsm/rules';
import type { ContainerReport } from '@bulwark/hook-client';

/** A file's identity as Enforcer.setIdentities takes it (ScopeIdentity of @bulwark/ebpf-lsm). */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: bigint;
  readonly ops: number;
  readonly ruleId: number;
}

export interface ContainerIdentities {
  readonly identities: FileIdentity[];
  /** Where the container's files were read from; undefined when nothing could be (no process, no root). */
  readonly root: string | undefined;
  /** Rule paths with no regular file there (absent in this image: nothing to follow). */
  readonly missing: number;
}

/** Field 22 of /proc/<pid>/stat (the start time), or undefined when the process is gone. */
function startTimeOf(pid: number, proc: string): string | undefined {
  try {
    const stat = readFileSync(join(proc, String(pid), 'stat'), 'latin1');
    // comm (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * The directory the container's root is at, seen from here: through its
 * process (see above) when it is the one the report names (same start
 * time), else its bundle's rootfs as the host sees it (no volumes).
 */
export function containerRoot(report: ContainerReport, options: { proc?: string; hostRoot?: string } = {}): string | undefined {
  const proc = options.proc ?? '/proc';
  const rootfs = report.config?.rootfs;
  const bundleRoot = rootfs === undefined || rootfs === '' ? undefined : isAbsolute(rootfs) ? rootfs : join(report.bundle, rootfs);
  const pid = report.pid;
  if (pid !== undefined && (report.process === undefined || startTimeOf(pid, proc) === report.process.startTime)) {
    const processRoot = join(proc, String(pid), 'root');
    try {
      const own = statSync(processRoot, { bigint: true });
      const host = statSync(options.hostRoot ?? '/', { bigint: true });
      if (own.dev !== host.dev || own.ino !== host.ino) return processRoot;
      if (bundleRoot !== undefined) return join(processRoot, bundleRoot);
    } catch {
      // Gone, or not ours to read: the bundle's view below.
    }
  }
  return bundleRoot;
}

/**
 * Stats each target under `root` (the last component not followed: a rule
 * on a symbolic link decides by the path it resolves to, in the kernel).
 * Only regular files count. An absolute symbolic link above a target
 * resolves against this process's root, not the container's: such a target
 * may be missed (its path rule still holds), never another container's file
 * taken; at worst a host file's identity, which only that container is then
 * denied.
 */
export function identitiesUnder(root: string, targets: readonly IdentityTarget[]): { identities: FileIdentity[]; missing: number } {
  const identities: FileIdentity[] = [];
  let missing = 0;
  for (const target of targets) {
    try {
      const stats = lstatSync(join(root, target.path), { bigint: true });
      if (!stats.isFile()) {
        missing++;
        continue;
      }
      identities.push({ dev: kernelDevice(stats.dev), ino: stats.ino, ops: target.ops, ruleId: target.ruleId });
    } catch {
      missing++;
    }
  }
  return { identities, missing };
}

/** The identities a container's compiled rules want, read from its root (containerRoot). */
export function containerIdentities(report: ContainerReport, rules: readonly Rule[], options: { proc?: string; hostRoot?: string } = {}): ContainerIdentities {
  const targets = identityTargets(rules);
  if (targets.length === 0) return { identities: [], root: undefined, missing: 0 };
  const root = containerRoot(report, options);
  if (root === undefined) return { identities: [], root, missing: targets.length };
  return { ...identitiesUnder(root, targets), root };
}
