/**
 * The errors this package adds to @bulwark/errors, and the one place where a
 * failed libbpf call (its errno and what libbpf printed meanwhile) becomes a
 * Bulwark error.
 */
import { BulwarkError, NotSupportedError, SystemError, addContext, describeErrno } from '@bulwark/errors';
import type { LibbpfCallError, LogLevel } from './binding.js';
import { cErrorText, errnoName, extraDescriptions } from './errno.js';

/** One message libbpf printed, without its trailing newline. */
export interface LogEntry {
  readonly level: LogLevel;
  readonly message: string;
}

/**
 * A handle used in the wrong phase or after it was closed: an object
 * after close(), an open object after load(), a map of a closed object, a
 * destroyed link. Nothing reached libbpf.
 */
export class StateError extends BulwarkError {
  readonly operation: string;

  constructor(operation: string, detail: string) {
    super('ERR_STATE', `${operation}: ${detail}`);
    this.operation = operation;
  }
}

export interface LibbpfErrorDetails {
  /** The libbpf function that failed, e.g. `bpf_object__load`. */
  readonly functionName: string;
  /** What libbpf printed during the call, warnings and information. */
  readonly log: readonly LogEntry[];
  readonly path?: string | undefined;
  readonly cause?: unknown;
}

/**
 * A libbpf call that failed with an errno. A SystemError (code ERR_SYSTEM)
 * with the libbpf function and log; the message ends with the libbpf
 * warning that explains it, when there is one.
 */
export class LibbpfError extends SystemError {
  readonly functionName: string;
  readonly log: readonly LogEntry[];

  constructor(operation: string, errno: string, details: LibbpfErrorDetails) {
    super(operation, errno, details.path, { cause: details.cause });
    this.functionName = details.functionName;
    this.log = details.log;
    const warning = explainingWarning(details.log, errno);
    const where = details.path === undefined ? '' : ` (${details.path})`;
    this.message = `${operation}: ${describeLibbpfErrno(errno)}${where}${warning === undefined ? '' : `; ${warning}`}`;
  }

  /** The captured log as text, one message per line. */
  get logText(): string {
    return this.log.map((entry) => entry.message).join('\n');
  }
}

/**
 * The kernel's verifier rejected a program. The errno is the kernel's
 * (usually EACCES or EINVAL), but this is never a permission failure:
 * `isPermission` is false. The message ends with the verifier's reason;
 * `verifierLog` holds its whole output.
 */
export class VerifierError extends LibbpfError {
  readonly program: string;
  readonly verifierLog: string;
  /** The verifier's last complaint, e.g. `R0 invalid mem access 'map_value_or_null'`. */
  readonly reason: string;

  constructor(operation: string, errno: string, details: LibbpfErrorDetails, program: string, verifierLog: string) {
    super(operation, errno, details);
    this.program = program;
    this.verifierLog = verifierLog;
    this.reason = verifierReason(verifierLog);
    this.message = `${operation}: program ${program} rejected by the verifier: ${this.reason}`;
  }

  override get isPermission(): boolean {
    return false;
  }
}

export function describeLibbpfErrno(errno: string): string {
  return extraDescriptions[errno] ?? describeErrno(errno);
}

/**
 * Maps a failed libbpf call. A program load log in the captured output makes
 * a VerifierError; libbpf's "program type not supported" a NotSupportedError;
 * anything else a LibbpfError with the errno's name.
 */
export function toBulwarkError(operation: string, failure: LibbpfCallError, log: readonly LogEntry[], path?: string): BulwarkError {
  const errno = errnoName(failure.errno);
  const details: LibbpfErrorDetails = { functionName: failure.functionName, log, path, cause: failure };
  const verifier = findVerifierLog(log);
  if (verifier !== undefined) return new VerifierError(operation, errno, details, verifier.program, verifier.log);
  if (errno === 'LIBBPF_ERRNO__PROGTYPE') {
    const error = new NotSupportedError('bpf program type', 'kernel', 'the kernel lacks this program type');
    Object.defineProperty(error, 'cause', { value: failure, configurable: true, writable: true });
    return addContext(operation, error);
  }
  return new LibbpfError(operation, errno, details);
}

const loadLogPattern = /prog '([^']*)': -- BEGIN PROG LOAD LOG --\n([\s\S]*?)-- END PROG LOAD LOG --/;

/** The verifier output libbpf prints when a program fails to load, with the program's name. */
export function findVerifierLog(log: readonly LogEntry[]): { program: string; log: string } | undefined {
  for (const entry of log) {
    const match = loadLogPattern.exec(entry.message);
    if (match !== null) return { program: match[1]!, log: match[2]! };
  }
  return undefined;
}

/** The last line of a verifier log that says what is wrong, skipping the statistics it ends with. */
export function verifierReason(verifierLog: string): string {
  const lines = verifierLog
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^(processed \d+ insns|verification time|stack depth)/.test(line));
  return lines.at(-1) ?? 'no reason given';
}

/**
 * The warning that best explains a failure: the first naming the errno's C
 * text ("Operation not permitted"), else the first one, leaving out libbpf's
 * notice about RLIMIT_MEMLOCK, which it prints on every unprivileged run.
 */
function explainingWarning(log: readonly LogEntry[], errno: string): string | undefined {
  const lines = log
    .filter((entry) => entry.level === 'warn')
    .map((entry) => entry.message.split('\n').find((line) => line.trim() !== '')?.trim() ?? '')
    .filter((line) => line !== '' && !line.includes('Failed to bump RLIMIT_MEMLOCK'));
  const text = cErrorText[errno];
  return (text === undefined ? undefined : lines.find((line) => line.includes(text))) ?? lines[0];
}
