/**
 * Where alerts go: a JSON-lines file that survives log rotation and a full
 * disk, and a stream (stdout) that survives its reader going away. A sink
 * never throws on a write: it counts what it could not write, so that an
 * agent enforcing policies never stops for its log. Node I/O, apart from
 * the pure entry; importing it opens nothing.
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { errnoOf, toSystemError } from '@bulwark/errors';
import type { Alert } from './schema.js';

/** What a sink has done so far. */
export interface SinkStats {
  /** Alerts written whole. */
  readonly written: number;
  /** Alerts not written (or written in part): a failed write, or one after the sink closed or its reader left. */
  readonly failed: number;
  /** The last failure's errno name (`ENOSPC`, `EPIPE`, ...) or `closed`; absent while none failed. */
  readonly lastError?: string;
}

/** The file calls AlertLog makes (node:fs's by default): a fake one stands in for a full disk. */
export interface AlertLogFs {
  openSync(path: string, flags: number, mode: number): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  closeSync(fd: number): void;
}

export interface AlertLogOptions {
  readonly fs?: AlertLogFs;
}

const nodeFs: AlertLogFs = {
  openSync: (path, flags, mode) => openSync(path, flags, mode),
  writeSync: (fd, buffer, offset, length) => writeSync(fd, buffer, offset, length),
  closeSync: (fd) => closeSync(fd),
};

/**
 * Appending, never truncating; created if absent. Not through a symbolic
 * link: a link planted where the log goes would have root append to
 * whatever it names.
 */
const OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
/** A new log's mode (less if the umask says so). An existing file keeps its own. */
const NEW_FILE_MODE = 0o600;

const errorName = (error: unknown) => errnoOf(error) ?? (error instanceof Error ? error.message : String(error));

/**
 * Alerts appended to a file, one JSON object per line. Writes are
 * synchronous (O_APPEND), so lines stay whole and in order between
 * processes; a write that fails counts in `stats` and leaves the next
 * alert to start on a line of its own.
 */
export class AlertLog {
  readonly path: string;
  readonly #fs: AlertLogFs;
  #fd: number | undefined;
  /** The last write stopped part way: the next starts with a newline, so that no alert shares the torn line. */
  #torn = false;
  #written = 0;
  #failed = 0;
  #lastError: string | undefined;

  private constructor(path: string, fs: AlertLogFs, fd: number) {
    this.path = path;
    this.#fs = fs;
    this.#fd = fd;
  }

  /**
   * Opens `path` for appending, creating it with mode 0600 if absent (an
   * existing file's mode is left as it is). Throws a SystemError when it
   * cannot (ENOENT for a missing directory, EACCES, ELOOP for a symbolic
   * link).
   */
  static open(path: string, options: AlertLogOptions = {}): AlertLog {
    const fs = options.fs ?? nodeFs;
    let fd: number;
    try {
      fd = fs.openSync(path, OPEN_FLAGS, NEW_FILE_MODE);
    } catch (error) {
      throw toSystemError('open alert log', error, path);
    }
    return new AlertLog(path, fs, fd);
  }

  get stats(): SinkStats {
    return { written: this.#written, failed: this.#failed, ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }) };
  }

  /** Appends `alert` as one line. False when it could not (counted in `stats`); never throws. */
  write(alert: Alert): boolean {
    return this.writeText(`${JSON.stringify(alert)}\n`);
  }

  /**
   * Appends `text` (whole lines, each ending in a newline: the agent's own
   * log uses this), as `write` does an alert. Never throws.
   */
  writeText(text: string): boolean {
    const fd = this.#fd;
    if (fd === undefined) return this.#fail('closed');
    const line = Buffer.from(`${this.#torn ? '\n' : ''}${text}`, 'utf8');
    let offset = 0;
    try {
      while (offset < line.length) offset += this.#fs.writeSync(fd, line, offset, line.length - offset);
    } catch (error) {
      if (offset > 0) this.#torn = true;
      return this.#fail(errorName(error));
    }
    this.#torn = false;
    this.#written += 1;
    return true;
  }

  /**
   * Opens the path again (after logrotate moved the file: on SIGHUP), then
   * closes the old file. When the path cannot be opened, the log keeps
   * writing to the old file and returns false (the error in `stats`);
   * after close(), it returns false and opens nothing. Never throws.
   */
  reopen(): boolean {
    if (this.#fd === undefined) {
      this.#lastError = 'closed';
      return false;
    }
    let fd: number;
    try {
      fd = this.#fs.openSync(this.path, OPEN_FLAGS, NEW_FILE_MODE);
    } catch (error) {
      this.#lastError = errorName(error);
      return false;
    }
    const old = this.#fd;
    this.#fd = fd;
    this.#torn = false;
    try {
      this.#fs.closeSync(old);
    } catch {
      // The old file's descriptor is gone either way.
    }
    return true;
  }

  /** Closes the file; writes after this count as failed. Closing twice does nothing. */
  close(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd === undefined) return;
    try {
      this.#fs.closeSync(fd);
    } catch {
      // Nothing is pending on a descriptor only ever written synchronously.
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #fail(reason: string): false {
    this.#failed += 1;
    this.#lastError = reason;
    return false;
  }
}

/** The part of a writable stream a StreamSink uses (process.stdout, a socket). */
export interface AlertStream {
  write(chunk: string): boolean;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export interface StreamSink {
  /** Writes `alert` as one line. False once the stream has failed (its reader gone: EPIPE); never throws. */
  write(alert: Alert): boolean;
  /** Writes `text` as it is (a command's output, log lines), as `write` does an alert. */
  writeText(text: string): boolean;
  /** True once the stream reported an error; nothing is written after that. */
  readonly closed: boolean;
  readonly stats: SinkStats;
}

/**
 * Alerts as JSON lines on a stream, stdout by default. The sink listens for
 * the stream's errors, so that a reader that goes away (`bulwark agent |
 * head`, EPIPE) ends the output instead of the process; what comes after
 * is counted as failed. `written` counts what the stream accepted.
 */
export function createStreamSink(stream: AlertStream = process.stdout): StreamSink {
  let written = 0;
  let failed = 0;
  let lastError: string | undefined;
  let closed = false;
  stream.on('error', (error) => {
    closed = true;
    lastError = errorName(error);
  });
  const fail = (reason: string) => {
    failed += 1;
    lastError ??= reason;
    return false;
  };
  const writeText = (text: string) => {
    if (closed) return fail('closed');
    try {
      stream.write(text);
    } catch (error) {
      closed = true;
      return fail(errorName(error));
    }
    written += 1;
    return true;
  };
  return {
    write: (alert) => writeText(`${JSON.stringify(alert)}\n`),
    writeText,
    get closed() {
      return closed;
    },
    get stats() {
      return { written, failed, ...(lastError === undefined ? {} : { lastError }) };
    },
  };
}

/**
 * The Unix time in nanoseconds at which CLOCK_MONOTONIC (the enforcer's
 * event clock, bpf_ktime_get_ns) read zero, for createAlert's `bootTimeNs`.
 * Node's process.hrtime reads CLOCK_MONOTONIC on Linux; the wall clock is
 * read between two of its readings, to the millisecond. CLOCK_MONOTONIC
 * stops while the machine is suspended and the wall clock may be set:
 * measure again after either.
 */
export function measureBootTimeNs(): bigint {
  const before = process.hrtime.bigint();
  const wall = BigInt(Date.now()) * 1_000_000n;
  const after = process.hrtime.bigint();
  return wall - (before + after) / 2n;
}
