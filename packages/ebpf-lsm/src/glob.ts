/**
 * Path globs as the kernel matches them (src/bpf/glob.h): `validateGlob`
 * checks a pattern before it goes into a map, and `globMatch` is the
 * kernel's matcher step for step, so that user space can tell what the
 * kernel will decide (the host test compares the two on random inputs).
 *
 * Syntax, over the UTF-8 bytes of absolute paths:
 * - `*` matches any run of bytes except `/` (within one component);
 * - `?` matches one byte except `/` (so a non-ASCII character takes 2 to 4);
 * - `**`, as a whole component only, matches any number of components:
 *   `/a/**` + `/b` matches `/a/b`, `/a/x/b` and `/a/x/y/b`; a trailing
 *   `/a/**` matches `/a/` and everything under `/a/`;
 * - every other byte is literal: there are no escapes, classes or braces.
 *
 * Pure: nothing here touches the kernel.
 */
import { ValidationError } from '@bulwark/errors';
import { GLOB_MAX_STEPS, GLOB_PATH_SIZE, GLOB_PATTERN_SIZE } from './layout.js';

/** The longest pattern in bytes (UTF-8); a pattern buffer is GLOB_PATTERN_SIZE bytes (layout.ts), so one ends in a zero. */
export const GLOB_PATTERN_MAX = GLOB_PATTERN_SIZE - 1;

/** `undecided`: the step bound was reached (or an input is longer than the kernel's buffer); the enforcer denies. */
export type GlobMatchResult = 'match' | 'no-match' | 'undecided';

export interface GlobMatchOptions {
  /** The step bound; default GLOB_MAX_STEPS, the kernel's. */
  readonly maxSteps?: number;
}

/** A checked pattern. */
export interface ValidGlob {
  readonly pattern: string;
  /**
   * The pattern up to and with the `/` before the first component that has
   * a wildcard, e.g. `/etc/ssh/` for `/etc/ssh/*_key` and `/` for `/**`:
   * every path the pattern matches starts with it.
   */
  readonly prefix: string;
}

const slash = 0x2f;
const star = 0x2a;
const question = 0x3f;
const none = 0xffffffff;

/**
 * Checks a pattern and returns it with its literal prefix; throws a
 * ValidationError saying what is wrong (see `findGlobProblem`).
 */
export function validateGlob(pattern: string): ValidGlob {
  const problem = findGlobProblem(pattern);
  if (problem !== undefined) throw new ValidationError('validate glob', [{ path: '', message: problem }]);
  const components = pattern.split('/');
  const first = components.findIndex((component) => /[*?]/.test(component));
  return { pattern, prefix: `${components.slice(0, first).join('/')}/` };
}

/**
 * What is wrong with a pattern, or undefined: it must be a string, absolute,
 * without NUL, well-formed Unicode, at most GLOB_PATTERN_MAX bytes,
 * normalised (no empty, `.` or `..` component, no trailing `/`), with `**`
 * only as a whole component and never twice in a row, and with at least
 * one wildcard (an exact path is a path rule).
 */
export function findGlobProblem(pattern: string): string | undefined {
  if (typeof pattern !== 'string') return `expected a string, got ${typeof pattern}`;
  if (!pattern.startsWith('/')) return `expected an absolute pattern (starting with /), got ${JSON.stringify(pattern)}`;
  if (pattern.includes('\0')) return 'expected no NUL byte';
  if (!pattern.isWellFormed()) return 'expected well-formed unicode (no lone surrogate)';
  const bytes = Buffer.byteLength(pattern, 'utf8');
  if (bytes > GLOB_PATTERN_MAX) return `expected at most ${GLOB_PATTERN_MAX} bytes, got ${bytes}`;
  if (pattern.length > 1 && pattern.endsWith('/')) {
    return `expected no trailing '/' (resolved paths never end in one; ${pattern}** matches everything under the directory)`;
  }
  const components = pattern === '/' ? [] : pattern.slice(1).split('/');
  for (const [index, component] of components.entries()) {
    if (component === '' || component === '.' || component === '..') {
      return `expected a normalised pattern (no empty, '.' or '..' component), got ${JSON.stringify(pattern)}`;
    }
    if (component !== '**' && component.includes('**')) {
      return `expected '**' only as a whole component (as in /a/**/b), got ${JSON.stringify(component)}`;
    }
    if (component === '**' && components[index - 1] === '**') return "expected no '**' right after another (one matches any number of directories)";
  }
  if (!/[*?]/.test(pattern)) return "expected a wildcard ('*', '?' or '**'); an exact path is a path rule";
  return undefined;
}

/**
 * Whether `path` matches `pattern`, decided exactly as the kernel's
 * glob_match decides it, including `undecided` when it would take more
 * than `maxSteps` steps or an input is longer than the kernel's buffer
 * (GLOB_PATTERN_SIZE, GLOB_PATH_SIZE bytes). Strings are taken as UTF-8.
 * Any pattern is matched by the rules above, checked or not; validateGlob
 * says which patterns the enforcer takes.
 */
export function globMatch(pattern: string | Uint8Array, path: string | Uint8Array, options: GlobMatchOptions = {}): GlobMatchResult {
  return runGlob(bytesOf(pattern), bytesOf(path), options.maxSteps ?? GLOB_MAX_STEPS).result;
}

/** The result and the number of steps it took (as bpf_loop counts them); for tests and measurements. */
export function runGlob(pattern: Uint8Array, path: Uint8Array, maxSteps: number = GLOB_MAX_STEPS): { result: GlobMatchResult; steps: number } {
  const patternLength = pattern.length;
  const pathLength = path.length;
  if (patternLength > GLOB_PATTERN_SIZE || pathLength > GLOB_PATH_SIZE) return { result: 'undecided', steps: 0 };
  // The variables of glob.h's struct glob_vars, with the same names.
  let p = 0;
  let n = 0;
  let starP = none;
  let starN = 0;
  let dstarP = none;
  let dstarN = 0;
  const at = (bytes: Uint8Array, index: number): number => bytes[index] ?? 0;
  const doubleStarAt = (index: number): boolean => {
    if (index + 1 >= patternLength || at(pattern, index + 1) !== star) return false;
    if (index > 0 && at(pattern, index - 1) !== slash) return false;
    return index + 2 === patternLength || at(pattern, index + 2) === slash;
  };
  // One iteration of this loop is one glob_step call.
  for (let step = 1; step <= maxSteps; step++) {
    if (p < patternLength) {
      const c = at(pattern, p);
      if (c === star) {
        if (doubleStarAt(p)) {
          if (p + 2 === patternLength) return { result: 'match', steps: step };
          dstarP = p + 3;
          dstarN = n;
          starP = none;
          p += 3;
          continue;
        }
        starP = p + 1;
        starN = n;
        p += 1;
        continue;
      }
      if (n < pathLength) {
        const d = at(path, n);
        if (c === d || (c === question && d !== slash)) {
          if (c === slash) starP = none;
          p += 1;
          n += 1;
          continue;
        }
      }
    } else if (n === pathLength) {
      return { result: 'match', steps: step };
    }
    if (starP !== none && starN < pathLength && at(path, starN) !== slash) {
      starN += 1;
      p = starP;
      n = starN;
      continue;
    }
    starP = none;
    if (dstarP !== none && dstarN < pathLength) {
      const d = at(path, dstarN);
      dstarN += 1;
      if (d === slash) {
        p = dstarP;
        n = dstarN;
      }
      continue;
    }
    return { result: 'no-match', steps: step };
  }
  return { result: 'undecided', steps: maxSteps };
}

function bytesOf(value: string | Uint8Array): Uint8Array {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}
