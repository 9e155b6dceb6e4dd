/**
 * RE2 patterns (Go's `regexp` syntax and semantics) compiled with re2js, a
 * JavaScript port of RE2 whose matching takes time linear in the text: no
 * pattern can backtrack exponentially, so patterns from configuration or
 * from other people are safe to run.
 */
import { RE2JS, RE2JSSyntaxException } from 're2js';
import { PatternError, patternErrorFromSyntax } from './pattern-error.js';

/**
 * The longest pattern compileRe2 accepts, in UTF-16 code units
 * (`pattern.length`). RE2 bounds what a pattern may expand to (repeat counts
 * of at most 1000, a maximum program size), but the costliest patterns
 * within that bound still take time in proportion to their length to
 * compile; this bound keeps that under a second.
 */
export const maximumPatternLength = 4096;

export interface Re2Options {
  /**
   * `none` (the default): the pattern matches anywhere in the text, as Go's
   * `regexp.MatchString`. `full`: the whole text must match, as Go's
   * `regexp.MatchString("^(?:" + pattern + ")$", text)`.
   */
  readonly anchored?: 'none' | 'full';
}

/** A compiled RE2 pattern, to be reused: one test() does not affect the next. */
export interface Re2Pattern {
  /** The pattern as written. */
  readonly pattern: string;
  readonly anchored: 'none' | 'full';
  /** Whether the pattern matches `text` (anywhere, or all of it with `anchored: 'full'`). */
  test(text: string): boolean;
}

/**
 * Compiles an RE2 pattern. Throws PatternError (code ERR_VALIDATION) for a
 * pattern RE2 refuses or one longer than maximumPatternLength.
 *
 * Recently compiled programs are kept (see compiledPrograms), so compiling
 * the same pattern again, say once per match, costs a lookup.
 */
export function compileRe2(pattern: string, options: Re2Options = {}): Re2Pattern {
  const anchored = options.anchored ?? 'none';
  if (pattern.length > maximumPatternLength) {
    throw new PatternError(pattern, `pattern too long: ${pattern.length} characters, at most ${maximumPatternLength}`);
  }
  return new CompiledPattern(pattern, anchored, compiledPrograms.get(pattern) ?? compileProgram(pattern));
}

function compileProgram(pattern: string): RE2JS {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (error) {
    if (error instanceof RE2JSSyntaxException) throw patternErrorFromSyntax(pattern, error, error);
    throw error;
  }
  compiledPrograms.add(pattern, compiled);
  return compiled;
}

/**
 * The programs of recently compiled patterns, least recently used first.
 * Bounded in count and in total size (re2js's programSize(), in
 * instructions), so that hostile patterns cannot pin memory: a pattern
 * within maximumPatternLength can compile to over half a million
 * instructions (about 45 MB), and such programs are never kept.
 */
class ProgramCache {
  readonly #programs = new Map<string, RE2JS>();
  #instructions = 0;
  readonly #maximumCount: number;
  readonly #maximumInstructions: number;

  constructor(maximumCount: number, maximumInstructions: number) {
    this.#maximumCount = maximumCount;
    this.#maximumInstructions = maximumInstructions;
  }

  get(pattern: string): RE2JS | undefined {
    const program = this.#programs.get(pattern);
    if (program !== undefined) {
      // A Map keeps insertion order: inserting again makes it the most recently used.
      this.#programs.delete(pattern);
      this.#programs.set(pattern, program);
    }
    return program;
  }

  add(pattern: string, program: RE2JS): void {
    const size = program.programSize();
    if (size > this.#maximumInstructions / 8) return;
    this.#programs.set(pattern, program);
    this.#instructions += size;
    for (const [oldest, evicted] of this.#programs) {
      if (this.#instructions <= this.#maximumInstructions && this.#programs.size <= this.#maximumCount) break;
      this.#programs.delete(oldest);
      this.#instructions -= evicted.programSize();
    }
  }

  has(pattern: string): boolean {
    return this.#programs.has(pattern);
  }
}

/** 128 patterns; a label pattern such as `ubuntu-[0-9]+` compiles to about a dozen instructions. */
export const compiledPrograms = /* @__PURE__ */ new ProgramCache(128, 100_000);

class CompiledPattern implements Re2Pattern {
  readonly pattern: string;
  readonly anchored: 'none' | 'full';
  readonly #compiled: RE2JS;

  constructor(pattern: string, anchored: 'none' | 'full', compiled: RE2JS) {
    this.pattern = pattern;
    this.anchored = anchored;
    this.#compiled = compiled;
  }

  test(text: string): boolean {
    // re2js's boolean searches: no capture groups, so its DFA runs whenever it can.
    return this.anchored === 'full' ? this.#compiled.testExact(text) : this.#compiled.test(text);
  }
}
