/**
 * The error vocabulary shared by every Bulwark package.
 *
 * Errors are recognised by their `code` field and a global marker, never by
 * `instanceof` across packages: two copies of this package in one tree (a
 * common npm outcome) still recognise each other's errors.
 */

const marker = Symbol.for('bulwark.error');

export type ErrorCode =
  | 'ERR_NOT_SUPPORTED'
  | 'ERR_SYSTEM'
  | 'ERR_VALIDATION'
  | 'ERR_PROCESS_GONE'
  | 'ERR_AGENT_UNREACHABLE'
  | 'ERR_AGENT_TIMEOUT'
  | 'ERR_AGENT_REFUSED'
  | 'ERR_PROTOCOL'
  | 'ERR_STATE';

export class BulwarkError extends Error {
  readonly code: ErrorCode;
  readonly [marker] = true;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /** True for any Bulwark error (optionally of one code), whichever copy of this package made it. */
  static is(value: unknown, code?: ErrorCode): value is BulwarkError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[marker] === true &&
      (code === undefined || (value as { code?: unknown }).code === code)
    );
  }
}

export type NotSupportedReason = 'kernel' | 'platform' | 'config';

/** A feature this system cannot provide; `missing` names what is absent. */
export class NotSupportedError extends BulwarkError {
  readonly feature: string;
  readonly reason: NotSupportedReason;
  readonly missing: string;

  constructor(feature: string, reason: NotSupportedReason, missing: string) {
    super('ERR_NOT_SUPPORTED', `${feature} not supported: ${missing}`);
    this.feature = feature;
    this.reason = reason;
    this.missing = missing;
  }
}

/** A system call that failed; `errno` is the symbolic name (EACCES, ENOENT, ...). */
export class SystemError extends BulwarkError {
  readonly operation: string;
  readonly errno: string;
  readonly path: string | undefined;

  constructor(operation: string, errno: string, path?: string, options?: ErrorOptions) {
    super('ERR_SYSTEM', `${operation}: ${describeErrno(errno)}${path === undefined ? '' : ` (${path})`}`, options);
    this.operation = operation;
    this.errno = errno;
    this.path = path;
  }

  get isPermission(): boolean {
    return this.errno === 'EACCES' || this.errno === 'EPERM';
  }
}

export interface ValidationIssue {
  /** Where in the input: a dotted path such as `process.args.0`, or '' for the whole. */
  readonly path: string;
  readonly message: string;
  /** 1-based line in the source text, where known. */
  readonly line?: number;
  /** 1-based column in the source text, where known (with `line`). */
  readonly column?: number;
}

/** Input that does not have the expected shape. `source` names the input (a file, "stdin", "frame"). */
export class ValidationError extends BulwarkError {
  readonly source: string;
  readonly issues: readonly ValidationIssue[];

  constructor(source: string, issues: readonly ValidationIssue[], options?: ErrorOptions) {
    super('ERR_VALIDATION', `${source}: ${issues.map(formatIssue).join('; ')}`, options);
    this.source = source;
    this.issues = issues;
  }
}

/**
 * One issue as compilers print them, `source:line:column: path: message`
 * (the parts that are unknown left out), for one-line-per-issue output.
 */
export function describeIssue(source: string, issue: ValidationIssue): string {
  const position = issue.line === undefined ? '' : issue.column === undefined ? `:${issue.line}` : `:${issue.line}:${issue.column}`;
  return `${source}${position}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

function formatIssue(issue: ValidationIssue): string {
  const where = issue.line === undefined ? issue.path : `line ${issue.line}${issue.path ? ` ${issue.path}` : ''}`;
  return where ? `${where}: ${issue.message}` : issue.message;
}

const errnoText: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ESRCH: 'no such process',
  EEXIST: 'file exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EINVAL: 'invalid argument',
  ENOSPC: 'no space left on device',
  ENOMEM: 'out of memory',
  EBUSY: 'device or resource busy',
  EAGAIN: 'resource temporarily unavailable',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  EPIPE: 'broken pipe',
  ETIMEDOUT: 'timed out',
  EADDRINUSE: 'address in use',
  ENOTSOCK: 'not a socket',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'file name too long',
  EMFILE: 'too many open files',
  EROFS: 'read-only file system',
};

export function describeErrno(errno: string): string {
  return errnoText[errno] ?? errno.toLowerCase();
}

/**
 * The one place where a Node.js system error becomes a SystemError. Anything
 * without an errno code is returned unchanged so callers never lose it.
 */
export function toSystemError(operation: string, error: unknown, path?: string): unknown {
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string') {
    const code = (error as { code: string }).code;
    if (/^E[A-Z0-9]+$/.test(code)) {
      const errorPath = path ?? (error as { path?: unknown }).path;
      return new SystemError(operation, code, typeof errorPath === 'string' ? errorPath : undefined, { cause: error });
    }
  }
  return error;
}

/** The errno name of a Node.js or Bulwark system error, if it has one. */
export function errnoOf(error: unknown): string | undefined {
  if (error instanceof SystemError) return error.errno;
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** Prefixes an error's message with an operation, keeping its class and fields: `load enforcer: ...`. */
export function addContext<E>(operation: string, error: E): E {
  if (error instanceof Error) {
    error.message = `${operation}: ${error.message}`;
  }
  return error;
}

/** The message to show a person: the error's message for known errors, never a stack trace. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The structural part of a zod error this package needs; zod itself stays a dependency of the callers. */
export interface ZodLikeError {
  readonly issues: readonly ZodLikeIssue[];
}

/** One zod issue: its path and message, and the fields a message can be made from where zod gives only "Invalid input" (zod/mini). */
export interface ZodLikeIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly code?: string;
  readonly keys?: readonly string[];
  readonly expected?: unknown;
  readonly values?: readonly unknown[];
  readonly minimum?: unknown;
  readonly maximum?: unknown;
  readonly inclusive?: boolean;
}

/**
 * What an issue means, in words. zod/mini carries no messages ("Invalid
 * input" for everything), so the message is made from the issue's fields
 * where zod gave only that.
 */
function describeZodIssue(issue: ZodLikeIssue): string {
  if (issue.message !== 'Invalid input') return issue.message;
  const listed = (values: readonly unknown[]) => values.map((value) => JSON.stringify(value)).join(', ');
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${String(issue.expected)}`;
    case 'invalid_value':
      return issue.values === undefined ? issue.message : issue.values.length === 1 ? `must be ${listed(issue.values)}` : `must be one of ${listed(issue.values)}`;
    case 'too_small':
      return `must be at least ${String(issue.minimum)}${issue.inclusive === false ? ' (exclusive)' : ''}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}${issue.inclusive === false ? ' (exclusive)' : ''}`;
    default:
      return issue.message;
  }
}

/**
 * A ValidationError from a zod error; `lineOf` maps an issue path to a source line where the caller knows it.
 * An unknown key is reported at the key itself (`allow.nmes: unknown key`), one issue per key.
 */
export function validationErrorFromZod(
  source: string,
  error: ZodLikeError,
  lineOf?: (path: readonly PropertyKey[]) => number | undefined,
): ValidationError {
  const flat = error.issues.flatMap((issue): { path: readonly PropertyKey[]; message: string }[] =>
    issue.code === 'unrecognized_keys' && issue.keys !== undefined && issue.keys.length > 0
      ? issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown key' }))
      : [{ path: issue.path, message: describeZodIssue(issue) }],
  );
  const issues = flat.map((issue): ValidationIssue => {
    const line = lineOf?.(issue.path);
    const path = issue.path.map(String).join('.');
    return line === undefined ? { path, message: issue.message } : { path, message: issue.message, line };
  });
  return new ValidationError(source, issues, { cause: error });
}
