import { BulwarkError } from '@bulwark/errors';

/** Why a process is gone: it exited (or was never there), or its pid now names another process. */
export type ProcessGoneReason = 'exited' | 'replaced';

/**
 * The process behind a pid is gone: /proc/<pid> is missing (ENOENT or
 * ESRCH), the process is a zombie where live state was asked for, or its
 * start time changed while it was being read (the pid was reused). Distinct
 * from permission failures, which stay SystemErrors.
 */
export class ProcessGoneError extends BulwarkError {
  readonly pid: number;
  readonly reason: ProcessGoneReason;

  constructor(pid: number, operation: string, reason: ProcessGoneReason = 'exited', options?: ErrorOptions) {
    const detail = reason === 'replaced' ? 'process is gone (pid reused by another process)' : 'process is gone';
    super('ERR_PROCESS_GONE', `${operation}: ${detail}`, options);
    this.pid = pid;
    this.reason = reason;
  }
}
