/**
 * Runs one binding call under an operation name: captures what libbpf prints
 * meanwhile, forwards it to the caller's listener, and maps a failure
 * (LibbpfCallError) to a Bulwark error with that log.
 */
import { type LibbpfBinding, LibbpfCallError, type LogLevel, type LogSink } from './binding.js';
import { type LogEntry, toBulwarkError } from './errors.js';

/** Where to send libbpf's messages besides the errors that carry them. */
export interface LogOptions {
  /** Receives every libbpf message up to `logLevel` printed during this object's calls. */
  onLog?: (entry: LogEntry) => void;
  /** The most detailed level given to `onLog`; default 'info'. Errors always carry warnings and information. */
  logLevel?: LogLevel;
}

export interface CallOptions {
  readonly path?: string;
  readonly log?: LogOptions | undefined;
}

export function callLibbpf<T>(binding: LibbpfBinding, operation: string, call: () => T, options: CallOptions = {}): T {
  const captured: LogEntry[] = [];
  const onLog = options.log?.onLog;
  const level: LogLevel = options.log?.logLevel === 'debug' && onLog !== undefined ? 'debug' : 'info';
  const sink: LogSink = {
    level,
    write(entryLevel, message) {
      const entry = { level: entryLevel, message };
      if (entryLevel !== 'debug') captured.push(entry);
      if (onLog !== undefined && (entryLevel !== 'info' || options.log?.logLevel !== 'warn')) onLog(entry);
    },
  };
  const previous = binding.setLogSink(sink);
  try {
    return call();
  } catch (error) {
    if (error instanceof LibbpfCallError) throw toBulwarkError(operation, error, captured, options.path);
    throw error;
  } finally {
    binding.setLogSink(previous);
  }
}

/** For calls that print nothing (map elements): maps a failure without capturing a log. */
export function callQuiet<T>(operation: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    if (error instanceof LibbpfCallError) throw toBulwarkError(operation, error, []);
    throw error;
  }
}
