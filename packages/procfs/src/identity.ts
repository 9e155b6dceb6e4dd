import { join } from 'node:path';
import { ValidationError, addContext, errnoOf, toSystemError } from '@bulwark/errors';
import { type ProcfsOptions, type ReadContext, createContext, inOperation, isPidDirectoryGone, readProcFile } from './context.js';
import { ProcessGoneError } from './errors.js';
import { type CapabilitySets, type IdSet, type ProcStat, type SeccompMode, hasExited, parseProcStat, parseProcStatus } from './parse.js';

/** Who a process is: enough to recognise it across pid reuse and to judge its privileges. */
export interface ProcessIdentity {
  pid: number;
  /** Clock ticks after boot (field 22 of /proc/<pid>/stat); with pid, identifies the process. */
  startTime: bigint;
  /** The command name from /proc/<pid>/stat, unescaped, at most 15 bytes for user processes. */
  comm: string;
  /**
   * readlink of /proc/<pid>/exe, as the kernel prints it (may end in ' (deleted)').
   * Undefined for kernel threads, zombies, and when the reader may not look
   * (another user's process without CAP_SYS_PTRACE).
   */
  exe?: string;
  ppid: number;
  uids: IdSet;
  gids: IdSet;
  capabilities: CapabilitySets;
  noNewPrivs: boolean;
  seccomp: SeccompMode;
}

export async function readStat(context: ReadContext): Promise<ProcStat> {
  const { text, path } = await readProcFile(context, 'stat');
  return inOperation(context, () => parseProcStat(text, path));
}

/** Throws ProcessGoneError unless the process still has the start time it had when a read began. */
export async function confirmSameProcess(context: ReadContext, startTime: bigint): Promise<void> {
  const now = await readStat(context);
  if (now.startTime !== startTime) throw new ProcessGoneError(context.pid, context.operation, 'replaced');
}

async function readExe(context: ReadContext): Promise<string | undefined> {
  const path = join(context.pidDirectory, 'exe');
  try {
    return await context.files.readlink(path);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ESRCH') throw new ProcessGoneError(context.pid, context.operation, 'exited', { cause: error });
    // Kernel threads and zombies have no executable: the link is there but reading it fails with ENOENT.
    if (errno === 'ENOENT') {
      if (await isPidDirectoryGone(context)) throw new ProcessGoneError(context.pid, context.operation, 'exited', { cause: error });
      return undefined;
    }
    // exe needs ptrace read access (same user, or CAP_SYS_PTRACE): without it the identity is still useful.
    if (errno === 'EACCES' || errno === 'EPERM') return undefined;
    throw toSystemError(context.operation, error, path);
  }
}

/** The rest of the identity once /proc/<pid>/stat has been read; the caller confirms the start time afterwards. */
export async function readIdentityAfterStat(context: ReadContext, stat: ProcStat): Promise<ProcessIdentity> {
  const [status, exe] = await Promise.all([readProcFile(context, 'status'), readExe(context)]);
  const parsed = inOperation(context, () => parseProcStatus(status.text, status.path));
  const identity: ProcessIdentity = {
    pid: context.pid,
    startTime: stat.startTime,
    comm: stat.comm,
    ppid: parsed.ppid,
    uids: parsed.uids,
    gids: parsed.gids,
    capabilities: parsed.capabilities,
    noNewPrivs: parsed.noNewPrivs,
    seccomp: parsed.seccomp,
  };
  if (exe !== undefined) identity.exe = exe;
  return identity;
}

/** Field 22 of /proc/<pid>/stat: clock ticks after boot at which the process started. */
export async function readStartTime(pid: number, options?: ProcfsOptions): Promise<bigint> {
  const context = createContext('read start time', pid, options);
  return (await readStat(context)).startTime;
}

/**
 * Reads /proc/<pid>/stat, status and exe, then reads stat again: if the
 * start time changed in between, the pid was reused and ProcessGoneError
 * (reason 'replaced') is thrown rather than a mix of two processes.
 */
export async function readProcessIdentity(pid: number, options?: ProcfsOptions): Promise<ProcessIdentity> {
  const context = createContext('read identity', pid, options);
  const stat = await readStat(context);
  const [identity] = await Promise.allSettled([readIdentityAfterStat(context, stat)]);
  // Gone or replaced outweighs whatever the reads ran into on the way.
  await confirmSameProcess(context, stat.startTime);
  if (identity.status === 'rejected') throw identity.reason;
  return identity.value;
}

/** `pid:startTime`, a key that names one process even after its pid is reused. */
export function processKey(identity: Pick<ProcessIdentity, 'pid' | 'startTime'>): string {
  return `${identity.pid}:${identity.startTime}`;
}

/**
 * True while `pid` still names the process that started at `startTime`.
 * False when it is gone, has exited and waits to be reaped (a zombie), or
 * the pid now belongs to another process. Other failures (EACCES) throw.
 */
export async function isProcessAlive(pid: number, startTime: bigint, options?: ProcfsOptions): Promise<boolean> {
  const context = createContext('check process', pid, options);
  if (typeof startTime !== 'bigint' || startTime < 0n) {
    const got = typeof startTime === 'bigint' ? String(startTime) : typeof startTime;
    throw addContext(context.operation, new ValidationError('startTime', [{ path: '', message: `expected a non-negative bigint, got ${got}` }]));
  }
  try {
    const stat = await readStat(context);
    return stat.startTime === startTime && !hasExited(stat.state);
  } catch (error) {
    if (error instanceof ProcessGoneError) return false;
    throw error;
  }
}
