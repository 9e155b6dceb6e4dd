import { ValidationError } from '@bulwark/errors';

/**
 * A pattern RE2 refuses, or one longer than this package accepts.
 *
 * A ValidationError (code `ERR_VALIDATION`): a refused pattern is input of
 * the wrong shape, as a malformed hooks.d file or policy is, and callers
 * already report those. `detail` is one line: RE2's own words as Go's
 * `regexp` prints them (`invalid escape sequence: \`\1\``), where in the
 * pattern when that is known, and a hint for syntax other engines have
 * and RE2 lacks (backreferences, lookaround, ...).
 */
export class PatternError extends ValidationError {
  /** The pattern as given. */
  readonly pattern: string;
  /** Where in the pattern (in UTF-16 code units) the refused part starts, when known. */
  readonly offset: number | undefined;
  /** What is wrong, on one line, without the pattern (the offset is in it when known). */
  readonly detail: string;

  constructor(pattern: string, detail: string, offset?: number, options?: ErrorOptions) {
    super(`pattern ${quotePattern(pattern)}`, [{ path: '', message: detail }], options);
    this.pattern = pattern;
    this.offset = offset;
    this.detail = detail;
  }
}

/** How many characters of a pattern a message quotes. */
const quotedLength = 80;

function quotePattern(pattern: string): string {
  return pattern.length <= quotedLength ? JSON.stringify(pattern) : `${JSON.stringify(pattern.slice(0, quotedLength))}...`;
}

/** The parts of re2js's RE2JSSyntaxException this package reads: Go's error code text and the expression it names. */
export interface SyntaxReport {
  /** Go's `ErrorCode` text, e.g. `invalid escape sequence`. */
  readonly error: string;
  /** The part of the pattern the error names (Go's `Error.Expr`), or null. */
  readonly input: string | null;
}

/** Errors whose named part is the whole pattern, which says nothing about where. */
const wholePatternErrors = new Set(['missing closing )', 'unexpected )', 'invalid capture in lookbehind']);

/** Syntax RE2 lacks on purpose, recognised by the part re2js names, with what to say about it. */
const hints: readonly (readonly [error: string, part: RegExp, hint: string])[] = [
  ['invalid escape sequence', /^\\[1-9]/u, 'backreferences are not supported by RE2'],
  ['invalid escape sequence', /^\\k$/u, 'named backreferences are not supported by RE2'],
  ['invalid escape sequence', /^\\Z$/u, 'RE2 spells the end of text \\z'],
  ['invalid or unsupported Perl syntax', /^\(\?[=!]$/u, 'lookahead is not supported by RE2'],
  ['invalid named capture', /^\(\?<[=!]/u, 'lookbehind is not supported by RE2'],
  ['invalid or unsupported Perl syntax', /^\(\?>$/u, 'atomic groups are not supported by RE2'],
  ['invalid nested repetition operator', /^(?:[*+?]|\{[\d,]+\})\+$/u, 'possessive quantifiers are not supported by RE2'],
];

/** The PatternError for a syntax error re2js reported while compiling `pattern`. */
export function patternErrorFromSyntax(pattern: string, report: SyntaxReport, cause: unknown): PatternError {
  const part = report.input;
  const offset = offsetOf(pattern, report);
  let detail = part === null ? report.error : `${report.error}: \`${showPart(part)}\``;
  if (offset !== undefined) detail += ` at offset ${offset}`;
  const hint = part === null ? undefined : hints.find(([error, expression]) => error === report.error && expression.test(part))?.[2];
  if (hint !== undefined) detail += ` (${hint})`;
  return new PatternError(pattern, detail, offset, { cause });
}

/**
 * Where the part re2js names starts. re2js reports the part, not its
 * offset, so the offset is known only when the part occurs once in the
 * pattern (or, for a trailing backslash, at the end).
 */
function offsetOf(pattern: string, report: SyntaxReport): number | undefined {
  if (report.error === 'trailing backslash at end of expression') return pattern.length - 1;
  const part = report.input;
  if (part === null || part === '' || wholePatternErrors.has(report.error) || report.error === 'duplicate capture group name') {
    return undefined;
  }
  const first = pattern.indexOf(part);
  return first !== -1 && pattern.indexOf(part, first + 1) === -1 ? first : undefined;
}

/** A part of a pattern on one line: control characters as the RE2 escapes that mean them. */
function showPart(part: string): string {
  return part.replace(/[\p{Cc}\u2028\u2029]/gu, (character) => {
    const named = controlEscapes[character];
    return named ?? `\\x{${(character.codePointAt(0) ?? 0).toString(16)}}`;
  });
}

const controlEscapes: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '\f': '\\f', '\v': '\\v', '\x07': '\\a' };
