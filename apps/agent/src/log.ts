import { AlertLog, createStreamSink, type SinkStats } from '@bulwark/alerts/sinks';
import { SystemError, errnoOf } from '@bulwark/errors';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

export interface LoggerOptions {
  /** Lines below this level are not written. Default: every level. */
  readonly level?: () => LogLevel;
}

/** One line per event on the given stream: JSON for machines, or `LEVEL message key=value` for people. */
export function createLogger(format: 'json' | 'text', write: (line: string) => void = (line) => process.stdout.write(line), options: LoggerOptions = {}): Logger {
  const emit = (level: LogLevel, message: string, fields: Record<string, unknown> = {}) => {
    if (options.level !== undefined && LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(options.level())) return;
    const time = new Date().toISOString();
    if (format === 'json') {
      write(`${JSON.stringify({ time, level, message, ...fields }, bigintAsString)}\n`);
      return;
    }
    const rest = Object.entries(fields)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${key}=${typeof value === 'string' || typeof value === 'bigint' ? String(value) : JSON.stringify(value, bigintAsString)}`)
      .join(' ');
    write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${rest === '' ? '' : ` ${rest}`}\n`);
  };
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
  };
}

export interface AgentLogOptions {
  readonly format: 'json' | 'text';
  readonly level: LogLevel;
  /** A file to append to ('' or undefined: standard output). */
  readonly file?: string | undefined;
  /** The stream used without a file (process.stdout by default). */
  readonly stream?: NodeJS.WritableStream;
}

/**
 * The agent's own log: standard output, or a file that survives rotation
 * (`reopen()` on SIGHUP opens the path again). A line that cannot be
 * written (a full disk, a reader gone: `bulwark agent | head`) is counted in
 * `stats`, never thrown: the agent goes on.
 */
export interface AgentLog extends Logger {
  readonly stats: SinkStats;
  /** Where the lines go: the file's path, or `stdout`. */
  readonly destination: string;
  level: LogLevel;
  /** Opens the file again (after logrotate moved it); false, with the error in `stats`, when it cannot. */
  reopen(): boolean;
  close(): void;
}

function openLogFile(path: string): AlertLog {
  try {
    return AlertLog.open(path);
  } catch (error) {
    const errno = errnoOf(error);
    throw errno === undefined ? error : new SystemError('open log file', errno, path, { cause: error });
  }
}

/** Opens the agent's log. Throws a SystemError when the file cannot be opened (a missing directory, EACCES, a symbolic link). */
export function openAgentLog(options: AgentLogOptions): AgentLog {
  const file = options.file === undefined || options.file === '' ? undefined : openLogFile(options.file);
  const stream = file === undefined ? createStreamSink(options.stream ?? process.stdout) : undefined;
  let level = options.level;
  const logger = createLogger(options.format, (line) => (file === undefined ? stream!.writeText(line) : file.writeText(line)), { level: () => level });
  return {
    ...logger,
    get stats() {
      return file?.stats ?? stream!.stats;
    },
    destination: file?.path ?? 'stdout',
    get level() {
      return level;
    },
    set level(next: LogLevel) {
      level = next;
    },
    reopen: () => file?.reopen() ?? true,
    close: () => file?.close(),
  };
}
