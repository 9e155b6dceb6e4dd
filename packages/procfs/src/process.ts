import { type CgroupInfo, readCgroupIn } from './cgroup.js';
import { type ProcfsOptions, createContext, withVerb } from './context.js';
import { type ProcessIdentity, confirmSameProcess, readIdentityAfterStat, readStat } from './identity.js';
import { readLsmLabelIn } from './lsm.js';
import { type Namespaces, readNamespacesIn } from './namespaces.js';

/** Everything this package reads about one process, taken as one consistent view. */
export interface ProcessSnapshot {
  identity: ProcessIdentity;
  namespaces: Namespaces;
  cgroup: CgroupInfo;
  lsmLabel?: string;
}

/**
 * Reads the identity, namespaces, cgroup and LSM label of a process
 * concurrently, between two reads of its start time. If the process exits or
 * its pid is reused at any point, throws ProcessGoneError rather than
 * returning a mix of two processes. When a part fails, a process that is
 * gone is reported as gone; otherwise the first failing part's error
 * (identity, namespaces, cgroup, label, in that order) is thrown.
 */
export async function readProcess(pid: number, options?: ProcfsOptions): Promise<ProcessSnapshot> {
  const context = createContext('read snapshot', pid, options);
  const stat = await readStat(context);
  const [identity, namespaces, cgroup, lsmLabel] = await Promise.allSettled([
    readIdentityAfterStat(withVerb(context, 'read identity'), stat),
    readNamespacesIn(withVerb(context, 'read namespaces')),
    readCgroupIn(withVerb(context, 'read cgroup')),
    readLsmLabelIn(withVerb(context, 'read lsm label')),
  ]);
  // Gone or replaced outweighs whatever a part ran into on the way.
  await confirmSameProcess(context, stat.startTime);
  const snapshot: ProcessSnapshot = { identity: valueOf(identity), namespaces: valueOf(namespaces), cgroup: valueOf(cgroup) };
  const label = valueOf(lsmLabel);
  if (label !== undefined) snapshot.lsmLabel = label;
  return snapshot;
}

function valueOf<T>(result: PromiseSettledResult<T>): T {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}
