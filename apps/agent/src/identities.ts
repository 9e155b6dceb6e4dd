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
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
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
  /** Directory rules whose files were not all looked at (the walk stopped at its budget of entries): their other names may go by path only. */
  readonly truncated?: number;
  /** Directory entries the walk looked at. */
  readonly walked?: number;
}

/** The most directory entries one container's directory rules are walked for (at createRuntime, on the hook's reply path). */
export const DIRECTORY_WALK_BUDGET = 10_000;

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
 *
 * A directory target is walked (symbolic links not followed, mounts below
 * it entered: a volume there is under the rule too) for its regular files
 * with more than one link: those are the files the container can reach by
 * another name than the rule's; a file with one name is denied by its path.
 * The walk looks at `budget` entries at most, over all directory targets
 * (default DIRECTORY_WALK_BUDGET): an image cannot slow a start down
 * without bound; a target cut short is counted in `truncated`.
 */
export function identitiesUnder(root: string, targets: readonly IdentityTarget[], options: { budget?: number } = {}): { identities: FileIdentity[]; missing: number; truncated: number; walked: number } {
  const identities: FileIdentity[] = [];
  let missing = 0;
  let truncated = 0;
  const start = options.budget ?? DIRECTORY_WALK_BUDGET;
  let budget = start;
  // One walk per directory and mode: a rule on /bin/ and its merged-/usr alias on /usr/bin/ name one directory.
  const walks = new Map<string, ReturnType<typeof linkedFilesBelow>>();
  for (const target of targets) {
    if (target.directory !== undefined) {
      const directory = join(root, target.path);
      const recursive = target.directory === 'recursive';
      let same: string | undefined;
      try {
        const stats = statSync(directory, { bigint: true });
        same = `${stats.dev}:${stats.ino}:${recursive}`;
      } catch {
        // Not there: the walk below says it is missing.
      }
      let walked = same === undefined ? undefined : walks.get(same);
      if (walked === undefined) {
        walked = linkedFilesBelow(directory, recursive, budget);
        budget = walked.budget;
        if (same !== undefined) walks.set(same, walked);
      }
      if (walked.missing) missing++;
      if (walked.truncated) truncated++;
      for (const { dev, ino } of walked.files) identities.push({ dev, ino, ops: target.ops, ruleId: target.ruleId });
      continue;
    }
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
  return { identities, missing, truncated, walked: start - budget };
}

/** The regular files below `directory` (in it only, unless `recursive`) with more than one link, within `budget` entries. */
function linkedFilesBelow(directory: string, recursive: boolean, budget: number) {
  const files: { dev: number; ino: bigint }[] = [];
  const pending = [directory];
  let first = true;
  let missing = false;
  let truncated = false;
  while (pending.length > 0) {
    const current = pending.pop()!;
    let entries;
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch {
      // Not there in this image (or not a directory, or gone meanwhile): nothing below it to follow.
      if (first) missing = true;
      first = false;
      continue;
    }
    first = false;
    for (const entry of entries) {
      if (budget <= 0) {
        truncated = true;
        return { files, budget, missing, truncated };
      }
      budget--;
      const path = join(current, entry.name);
      if (entry.isDirectory()) {
        if (recursive) pending.push(path);
        continue;
      }
      if (!entry.isFile()) continue;
      try {
        const stats = lstatSync(path, { bigint: true });
        if (stats.isFile() && stats.nlink > 1n) files.push({ dev: kernelDevice(stats.dev), ino: stats.ino });
      } catch {
        // Removed between the listing and the stat: nothing to follow.
      }
    }
  }
  return { files, budget, missing, truncated };
}

/** The identities a container's compiled rules want, read from its root (containerRoot). */
export function containerIdentities(report: ContainerReport, rules: readonly Rule[], options: { proc?: string; hostRoot?: string } = {}): ContainerIdentities {
  const targets = identityTargets(rules);
  if (targets.length === 0) return { identities: [], root: undefined, missing: 0 };
  const root = containerRoot(report, options);
  if (root === undefined) return { identities: [], root, missing: targets.length };
  return { ...identitiesUnder(root, targets), root };
}
