/**
 * One agent per state file: the agent holds an exclusive flock(2) on
 * `<state file>.lock` while it runs, and writes its pid there for the next
 * one to name. The kernel drops the lock when the holder exits however it
 * exits (SIGKILL included), so a lock file left behind never blocks a start.
 * Node.js has no flock, so libc's is called over koffi, loaded on first use
 * (never at import); `lockStateFile` takes the binding as a parameter, so its
 * error paths are unit-tested with a fake.
 */
import { createRequire } from 'node:module';
import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import type * as Koffi from 'koffi';
import { BulwarkError, SystemError, toSystemError } from '@bulwark/errors';

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EWOULDBLOCK = 11;

/** The one libc call, named as in C, and the errno it left. */
export interface StateLockBinding {
  /** Returns 0, or -1 with the reason in errno(). */
  flock(fd: number, operation: number): number;
  errno(): number;
}

let cached: StateLockBinding | undefined;

/** libc's flock over koffi, declared once. Throws when koffi or libc cannot be loaded. */
export function loadStateLockBinding(): StateLockBinding {
  if (cached !== undefined) return cached;
  const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
  const libc = koffi.load(null);
  const flock = libc.func('int flock(int fd, int operation)') as (fd: number, operation: number) => number;
  cached = { flock: (fd, operation) => flock(fd, operation), errno: () => koffi.errno() };
  return cached;
}

/** Held while the agent runs; release() (or exit) lets the next agent have the state file. */
export interface StateLock {
  readonly path: string;
  release(): void;
  [Symbol.dispose](): void;
}

/** errno numbers koffi gives back, as names for SystemError (Linux's values). */
const errnoNames: Record<number, string> = { 1: 'EPERM', 5: 'EIO', 9: 'EBADF', 4: 'EINTR', 22: 'EINVAL', 37: 'ENOLCK' };

/**
 * Takes the state file's lock, or throws: ERR_STATE naming the agent that
 * holds it (its pid, as it wrote it), or a SystemError when the lock file
 * cannot be opened.
 */
export function lockStateFile(stateFile: string, binding: StateLockBinding = loadStateLockBinding()): StateLock {
  const path = `${stateFile}.lock`;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    throw toSystemError('lock state file', error, path);
  }
  if (binding.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = binding.errno();
    let holder = '';
    try {
      holder = readFileSync(fd, 'utf8').trim();
    } catch {
      // The pid is only for the message.
    }
    closeSync(fd);
    if (errno === EWOULDBLOCK) {
      throw new BulwarkError(
        'ERR_STATE',
        `lock state file ${stateFile}: another agent uses it (${/^\d+$/.test(holder) ? `pid ${holder}` : 'pid unknown'}); stop it, or give this agent a --state-file of its own`,
      );
    }
    throw new SystemError('lock state file', errnoNames[errno] ?? `errno ${errno}`, path);
  }
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  } catch (error) {
    closeSync(fd);
    throw toSystemError('lock state file', error, path);
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    binding.flock(fd, LOCK_UN);
    closeSync(fd);
  };
  return { path, release, [Symbol.dispose]: release };
}

/** The agent that holds a state file's lock: its pid as it wrote it, when the lock file holds one. */
export interface StateLockHolder {
  readonly pid: number | undefined;
}

/**
 * Whether an agent holds `stateFile`'s lock, without taking it for long or
 * writing anything: the lock file (if there is one) is opened read-only,
 * the lock tried and at once released. Undefined when no agent holds it (or
 * there is no lock file: an agent that runs always has one).
 */
export function findStateLockHolder(stateFile: string, binding: StateLockBinding = loadStateLockBinding()): StateLockHolder | undefined {
  const path = `${stateFile}.lock`;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw toSystemError('read state lock', error, path);
  }
  try {
    if (binding.flock(fd, LOCK_EX | LOCK_NB) === 0) {
      binding.flock(fd, LOCK_UN);
      return undefined;
    }
    const errno = binding.errno();
    if (errno !== EWOULDBLOCK) throw new SystemError('read state lock', errnoNames[errno] ?? `errno ${errno}`, path);
    let holder = '';
    try {
      holder = readFileSync(fd, 'utf8').trim();
    } catch {
      // The pid is only for the message.
    }
    return { pid: /^\d+$/.test(holder) ? Number(holder) : undefined };
  } finally {
    closeSync(fd);
  }
}
