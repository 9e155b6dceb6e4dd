/**
 * RE2 (Go `regexp`) patterns, as hooks.d files use them, translated to
 * JavaScript regular expressions that match the same strings.
 *
 * The translation is strict: whatever RE2 refuses (backreferences,
 * lookaround, atomic groups, possessive quantifiers, `\Z`, ...) is refused
 * with a message, and RE2 syntax whose JavaScript spelling differs is
 * rewritten: `.` does not match `\r` or U+2028 in JavaScript but does in RE2,
 * `\s` is ASCII-only in RE2, `(?i)` sets flags until the end of the group,
 * `\z`, `\A`, `\Q...\E`, `\x{...}`, octal escapes, POSIX classes, `\pL`, a
 * `{` that does not start a repeat is a literal, and the `U` flag swaps
 * greediness. Matching is unanchored, as with Go's `regexp.MatchString`.
 *
 * The result runs on JavaScript's backtracking engine, so unlike RE2 a
 * pathological pattern can take exponential time: hooks.d patterns are
 * trusted configuration.
 */

/** A pattern RE2 would reject, or one JavaScript cannot express the same way. */
export class PatternError extends Error {
  readonly pattern: string;
  readonly offset: number;

  constructor(pattern: string, offset: number, detail: string) {
    super(`${detail} (at offset ${offset})`);
    this.pattern = pattern;
    this.offset = offset;
  }
}

export interface TranslatedPattern {
  /** The RE2 pattern as written. */
  readonly pattern: string;
  /** The JavaScript source, to be compiled with the `u` flag. */
  readonly source: string;
}

/** RE2's limit on `{n,m}` counts. */
const maximumRepeat = 1000;

/** Compiles an RE2 pattern into an equivalent JavaScript RegExp. Throws PatternError. */
export function compileRe2(pattern: string): RegExp {
  const { source } = translateRe2(pattern);
  try {
    return new RegExp(source, 'u');
  } catch (error) {
    throw new PatternError(pattern, 0, `does not compile: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Translates an RE2 pattern into JavaScript source for a `u`-flag RegExp. Throws PatternError. */
export function translateRe2(pattern: string): TranslatedPattern {
  return { pattern, source: new Translator(pattern).run() };
}

interface Flags {
  caseInsensitive: boolean;
  multiLine: boolean;
  dotAll: boolean;
  ungreedy: boolean;
}

interface Frame {
  flags: Flags;
  /** Offset in the output of the group's opening parenthesis, where a quantifier after it applies. */
  readonly groupStart: number;
  /** Offset in the pattern of the `(` that opened it, for messages. */
  readonly patternOffset: number;
  /** Case modifiers opened by inline `(?i)` / `(?-i)` in this group, re-opened after each `|`. */
  openModifiers: string[];
  /** Output offset of the last quantifiable item, or undefined when there is none. */
  lastAtom: number | undefined;
  /** The last item is a zero-width assertion (JavaScript will not quantify those bare). */
  lastAtomIsAssertion: boolean;
  /** The last item was a quantifier, and whether it already took its lazy `?`. */
  afterQuantifier: 'none' | 'quantifier' | 'lazy';
}

type CodeRange = readonly [number, number];

const maximumCodePoint = 0x10ffff;
const digitRanges: CodeRange[] = [[0x30, 0x39]];
const wordRanges: CodeRange[] = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
const spaceRanges: CodeRange[] = [
  [0x09, 0x0a],
  [0x0c, 0x0d],
  [0x20, 0x20],
];

const posixClasses: Record<string, CodeRange[]> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: wordRanges,
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};

/** Characters that must be escaped to be literal outside a JavaScript character class. */
const syntaxCharacters = /* @__PURE__ */ new Set('^$\\.*+?()[]{}|/');

class Translator {
  private offset = 0;
  private output = '';
  private readonly frames: Frame[] = [];
  private readonly captureNames = new Set<string>();

  private readonly pattern: string;

  constructor(pattern: string) {
    this.pattern = pattern;
  }

  run(): string {
    this.frames.push(this.newFrame({ caseInsensitive: false, multiLine: false, dotAll: false, ungreedy: false }, -1, 0));
    while (this.offset < this.pattern.length) this.step();
    if (this.frames.length > 1) {
      this.fail(this.frame.patternOffset, 'missing closing )');
    }
    this.closeModifiers(this.frame);
    return this.output;
  }

  private get frame(): Frame {
    const frame = this.frames[this.frames.length - 1];
    if (frame === undefined) throw new Error('regex translator: no open group');
    return frame;
  }

  private fail(offset: number, detail: string): never {
    throw new PatternError(this.pattern, offset, detail);
  }

  private newFrame(flags: Flags, patternOffset: number, groupStart: number): Frame {
    return {
      flags: { ...flags },
      groupStart,
      patternOffset,
      openModifiers: [],
      lastAtom: undefined,
      lastAtomIsAssertion: false,
      afterQuantifier: 'none',
    };
  }

  private peek(ahead = 0): string | undefined {
    return this.pattern[this.offset + ahead];
  }

  private step(): void {
    const start = this.offset;
    const character = this.pattern.codePointAt(this.offset) ?? 0;
    const text = String.fromCodePoint(character);
    switch (text) {
      case '(':
        this.openGroup();
        return;
      case ')':
        this.closeGroup(start);
        return;
      case '|':
        this.offset++;
        this.alternate();
        return;
      case '*':
      case '+':
      case '?':
        this.offset++;
        this.quantify(start, text);
        return;
      case '{': {
        const repeat = this.readRepeat();
        if (repeat === undefined) {
          this.offset++;
          this.emitAtom('\\{');
        } else {
          this.quantify(start, repeat);
        }
        return;
      }
      case '[':
        this.emitAtom(this.readClass());
        return;
      case '.':
        this.offset++;
        this.emitAtom(this.frame.flags.dotAll ? '[\\s\\S]' : '[^\\n]');
        return;
      case '^':
        this.offset++;
        this.emitAssertion(this.frame.flags.multiLine ? '(?<![^\\n])' : '^');
        return;
      case '$':
        this.offset++;
        this.emitAssertion(this.frame.flags.multiLine ? '(?![^\\n])' : '$');
        return;
      case '\\':
        this.readEscape();
        return;
      default:
        this.offset += text.length;
        this.emitAtom(literal(character));
    }
  }

  private emitAtom(source: string): void {
    const frame = this.frame;
    frame.lastAtom = this.output.length;
    frame.lastAtomIsAssertion = false;
    frame.afterQuantifier = 'none';
    this.output += source;
  }

  private emitAssertion(source: string): void {
    this.emitAtom(source);
    this.frame.lastAtomIsAssertion = true;
  }

  private quantify(start: number, quantifier: string): void {
    const frame = this.frame;
    if (frame.afterQuantifier !== 'none') {
      if (quantifier === '?' && frame.afterQuantifier === 'quantifier') {
        // A lazy marker: under the U flag it makes the quantifier greedy again.
        frame.afterQuantifier = 'lazy';
        if (frame.flags.ungreedy) {
          this.output = this.output.slice(0, -1);
        } else {
          this.output += '?';
        }
        return;
      }
      if (quantifier === '+') this.fail(start, 'possessive quantifiers are not supported by RE2');
      this.fail(start, `invalid nested repetition operator ${quantifier}`);
    }
    if (frame.lastAtom === undefined) this.fail(start, `missing argument to repetition operator ${quantifier}`);
    if (frame.lastAtomIsAssertion) {
      this.output = `${this.output.slice(0, frame.lastAtom)}(?:${this.output.slice(frame.lastAtom)})`;
    }
    this.output += quantifier;
    if (frame.flags.ungreedy) this.output += '?';
    frame.afterQuantifier = 'quantifier';
  }

  /** Reads `{n}`, `{n,}` or `{n,m}` at the current offset; undefined (offset unchanged) when it is a literal brace. */
  private readRepeat(): string | undefined {
    const match = /^\{(\d+)(,(\d*))?\}/u.exec(this.pattern.slice(this.offset));
    if (match === null) return undefined;
    const minimum = Number(match[1]);
    const maximum = match[2] === undefined ? minimum : match[3] === '' ? undefined : Number(match[3]);
    if (minimum > maximumRepeat || (maximum !== undefined && (maximum > maximumRepeat || maximum < minimum))) {
      this.fail(this.offset, `invalid repeat count ${match[0]} (RE2 allows at most ${maximumRepeat})`);
    }
    this.offset += match[0].length;
    return match[2] === undefined ? `{${minimum}}` : `{${minimum},${maximum ?? ''}}`;
  }

  private alternate(): void {
    const frame = this.frame;
    const modifiers = frame.openModifiers;
    this.output += ')'.repeat(modifiers.length) + '|' + modifiers.join('');
    frame.lastAtom = undefined;
    frame.lastAtomIsAssertion = false;
    frame.afterQuantifier = 'none';
  }

  private closeModifiers(frame: Frame): void {
    this.output += ')'.repeat(frame.openModifiers.length);
  }

  private openGroup(): void {
    const start = this.offset;
    const rest = this.pattern.slice(this.offset);
    const parentFlags = this.frame.flags;

    if (!rest.startsWith('(?')) {
      this.offset++;
      this.pushGroup(start, '(', parentFlags);
      return;
    }

    const named = /^\(\?P?<([^>]*)>/u.exec(rest);
    if (named !== null) {
      const name = named[1] ?? '';
      if (!/^[A-Za-z0-9_]+$/u.test(name)) this.fail(start, `invalid capture group name ${JSON.stringify(name)}`);
      if (this.captureNames.has(name)) this.fail(start, `duplicate capture group name ${JSON.stringify(name)}`);
      this.captureNames.add(name);
      this.offset += named[0].length;
      // Names do not affect whether a pattern matches; JavaScript's naming rules are stricter, so drop them.
      this.pushGroup(start, '(', parentFlags);
      return;
    }
    if (rest.startsWith('(?=') || rest.startsWith('(?!')) {
      this.fail(start, `lookahead ${rest.slice(0, 3)} is not supported by RE2`);
    }
    if (rest.startsWith('(?<=') || rest.startsWith('(?<!')) {
      this.fail(start, `lookbehind ${rest.slice(0, 4)} is not supported by RE2`);
    }
    if (rest.startsWith('(?>')) this.fail(start, 'atomic groups (?>...) are not supported by RE2');
    if (rest.startsWith('(?#')) this.fail(start, 'comments (?#...) are not supported by RE2');
    if (rest.startsWith('(?P=') || rest.startsWith('(?P>')) {
      this.fail(start, `named backreferences and recursion ${rest.slice(0, 4)} are not supported by RE2`);
    }

    // Flags: (?flags) or (?flags:re), flags from imsU, optionally negated after '-'.
    const flagGroup = /^\(\?([A-Za-z-]*)([:)])/u.exec(rest);
    if (flagGroup === null) this.fail(start, `unsupported group syntax ${rest.slice(0, 3)}`);
    const letters = flagGroup[1] ?? '';
    const scoped = flagGroup[2] === ':';
    const flags = this.applyFlags(start, letters, parentFlags, scoped);
    this.offset += flagGroup[0].length;

    if (scoped) {
      const modifier = caseModifier(parentFlags, flags);
      this.pushGroup(start, modifier ?? '(?:', flags);
      return;
    }
    // (?flags): the flags hold until the end of the enclosing group.
    const frame = this.frame;
    const modifier = caseModifier(frame.flags, flags);
    frame.flags = flags;
    if (modifier !== undefined) {
      frame.openModifiers.push(modifier);
      this.output += modifier;
      frame.lastAtom = undefined;
      frame.afterQuantifier = 'none';
    }
  }

  private applyFlags(start: number, letters: string, parent: Flags, scoped: boolean): Flags {
    if (letters === '' && !scoped) this.fail(start, 'empty flag group (?)');
    const flags = { ...parent };
    let negated = false;
    let sawFlag = false;
    for (const letter of letters) {
      switch (letter) {
        case '-':
          if (negated) this.fail(start, 'invalid flag group: two - signs');
          negated = true;
          sawFlag = false;
          break;
        case 'i':
          flags.caseInsensitive = !negated;
          sawFlag = true;
          break;
        case 'm':
          flags.multiLine = !negated;
          sawFlag = true;
          break;
        case 's':
          flags.dotAll = !negated;
          sawFlag = true;
          break;
        case 'U':
          flags.ungreedy = !negated;
          sawFlag = true;
          break;
        default:
          this.fail(start, `unknown flag ${letter} (RE2 knows i, m, s and U)`);
      }
    }
    if (negated && !sawFlag) this.fail(start, 'invalid flag group: - without flags');
    return flags;
  }

  private pushGroup(start: number, opening: string, flags: Flags): void {
    const groupStart = this.output.length;
    this.output += opening;
    this.frames.push(this.newFrame(flags, start, groupStart));
  }

  private closeGroup(start: number): void {
    if (this.frames.length === 1) this.fail(start, 'unexpected )');
    this.offset++;
    const frame = this.frame;
    this.closeModifiers(frame);
    this.output += ')';
    this.frames.pop();
    const parent = this.frame;
    parent.lastAtom = frame.groupStart;
    parent.lastAtomIsAssertion = false;
    parent.afterQuantifier = 'none';
  }

  private readEscape(): void {
    const start = this.offset;
    this.offset++;
    const next = this.pattern.codePointAt(this.offset);
    if (next === undefined) this.fail(start, 'trailing backslash at end of pattern');
    const letter = String.fromCodePoint(next);
    switch (letter) {
      case 'A':
        this.offset++;
        this.emitAssertion('^');
        return;
      case 'z':
        this.offset++;
        this.emitAssertion('$');
        return;
      case 'b':
      case 'B':
        this.offset++;
        this.emitAssertion(`\\${letter}`);
        return;
      case 'Q': {
        this.offset++;
        const end = this.pattern.indexOf('\\E', this.offset);
        const text = this.pattern.slice(this.offset, end === -1 ? undefined : end);
        this.offset = end === -1 ? this.pattern.length : end + 2;
        for (const character of text) this.emitAtom(literal(character.codePointAt(0) ?? 0));
        return;
      }
      case 'C':
        return this.fail(start, '\\C (any byte) is not supported');
      case 'Z':
        return this.fail(start, '\\Z is not supported by RE2; use \\z for the end of text');
      case 'k':
        return this.fail(start, 'named backreferences \\k<...> are not supported by RE2');
      default:
        break;
    }
    const set = this.readClassEscape(start, false);
    this.emitAtom(set.kind === 'character' ? literal(set.codePoint) : `[${set.source}]`);
  }

  /**
   * Reads an escape valid both inside and outside a class (offset just past
   * the backslash): a single character, or a set (\d, \s, \pL, ...).
   */
  private readClassEscape(
    start: number,
    inClass: boolean,
  ): { kind: 'character'; codePoint: number } | { kind: 'set'; source: string } {
    const letter = this.peek() ?? '';
    switch (letter) {
      case 'd':
      case 'D':
      case 's':
      case 'S':
      case 'w':
      case 'W': {
        this.offset++;
        const ranges = letter.toLowerCase() === 'd' ? digitRanges : letter.toLowerCase() === 's' ? spaceRanges : wordRanges;
        return { kind: 'set', source: renderRanges(letter === letter.toUpperCase() ? complement(ranges) : ranges) };
      }
      case 'p':
      case 'P':
        return { kind: 'set', source: this.readUnicodeClass(start, letter === 'P') };
      case 'x':
        return { kind: 'character', codePoint: this.readHex(start) };
      case 'a':
        this.offset++;
        return { kind: 'character', codePoint: 0x07 };
      case 'f':
        this.offset++;
        return { kind: 'character', codePoint: 0x0c };
      case 't':
        this.offset++;
        return { kind: 'character', codePoint: 0x09 };
      case 'n':
        this.offset++;
        return { kind: 'character', codePoint: 0x0a };
      case 'r':
        this.offset++;
        return { kind: 'character', codePoint: 0x0d };
      case 'v':
        this.offset++;
        return { kind: 'character', codePoint: 0x0b };
      default:
        break;
    }
    if (/^[0-7]$/u.test(letter)) return { kind: 'character', codePoint: this.readOctal(start) };
    if (/^[89]$/u.test(letter)) {
      this.fail(start, `backreference \\${letter} is not supported by RE2`);
    }
    const codePoint = letter.codePointAt(0) ?? 0;
    if (codePoint < 0x80 && !/^[A-Za-z0-9]$/u.test(letter)) {
      this.offset++;
      return { kind: 'character', codePoint };
    }
    if (inClass && letter === 'b') this.fail(start, '\\b is not allowed inside a character class in RE2');
    this.fail(start, `invalid escape \\${String.fromCodePoint(codePoint)}`);
  }

  private readOctal(start: number): number {
    const digits = /^[0-7]{1,3}/u.exec(this.pattern.slice(this.offset))?.[0] ?? '';
    // RE2 reads \1 to \7 followed by a non-octal as a backreference, which it does not support.
    if (digits.length === 1 && digits !== '0') {
      this.fail(start, `backreference \\${digits} is not supported by RE2`);
    }
    this.offset += digits.length;
    return Number.parseInt(digits, 8);
  }

  private readHex(start: number): number {
    this.offset++;
    const rest = this.pattern.slice(this.offset);
    const braced = /^\{([0-9A-Fa-f]{1,8})\}/u.exec(rest);
    const plain = /^[0-9A-Fa-f]{2}/u.exec(rest);
    const match = braced ?? plain;
    if (match === null) this.fail(start, 'invalid hex escape: expected \\xHH or \\x{H...}');
    const codePoint = Number.parseInt(braced === null ? match[0] : (match[1] ?? ''), 16);
    if (codePoint > maximumCodePoint) this.fail(start, `hex escape beyond U+10FFFF`);
    this.offset += match[0].length;
    return codePoint;
  }

  private readUnicodeClass(start: number, negatedByLetter: boolean): string {
    this.offset++;
    let name: string;
    const rest = this.pattern.slice(this.offset);
    if (rest.startsWith('{')) {
      const end = rest.indexOf('}');
      if (end === -1) this.fail(start, 'unterminated \\p{...}');
      name = rest.slice(1, end);
      this.offset += end + 1;
    } else {
      const character = rest.codePointAt(0);
      if (character === undefined) this.fail(start, 'missing class name after \\p');
      name = String.fromCodePoint(character);
      this.offset += name.length;
    }
    let negated = negatedByLetter;
    if (name.startsWith('^')) {
      negated = !negated;
      name = name.slice(1);
    }
    if (!/^[A-Za-z_]+$/u.test(name)) this.fail(start, `invalid unicode class name ${JSON.stringify(name)}`);
    // One or two letters name a general category (L, Lu, Nd); Any is a property; anything else is a script.
    const property = /^[A-Z][a-z]?$/u.test(name) || name === 'Any' ? name : `Script=${name}`;
    const source = `\\${negated ? 'P' : 'p'}{${property}}`;
    try {
      new RegExp(source, 'u');
    } catch {
      this.fail(start, `unknown unicode class ${JSON.stringify(name)}`);
    }
    return source;
  }

  /** Reads a bracketed class and returns its JavaScript form. */
  private readClass(): string {
    const start = this.offset;
    this.offset++;
    let negated = false;
    if (this.peek() === '^') {
      negated = true;
      this.offset++;
    }
    let body = '';
    let first = true;
    for (;;) {
      const character = this.peek();
      if (character === undefined) this.fail(start, 'missing closing ]');
      if (character === ']' && !first) {
        this.offset++;
        break;
      }
      first = false;
      if (character === '[' && this.peek(1) === ':') {
        // As in RE2, "[:" up to the next ":]" names a POSIX class, and an unknown name is an error.
        const end = this.pattern.indexOf(':]', this.offset + 2);
        if (end !== -1) {
          const written = this.pattern.slice(this.offset, end + 2);
          const negated = written.startsWith('[:^');
          const ranges = Object.hasOwn(posixClasses, written.slice(negated ? 3 : 2, -2))
            ? posixClasses[written.slice(negated ? 3 : 2, -2)]
            : undefined;
          if (ranges === undefined) this.fail(this.offset, `unknown POSIX class ${written}`);
          body += renderRanges(negated ? complement(ranges) : ranges);
          this.offset = end + 2;
          continue;
        }
      }
      const itemStart = this.offset;
      const low = this.readClassItem();
      if (low.kind === 'set') {
        body += low.source;
        continue;
      }
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) {
        this.offset++;
        const high = this.readClassItem();
        if (high.kind === 'set') this.fail(itemStart, 'invalid character class range');
        if (high.codePoint < low.codePoint) this.fail(itemStart, 'invalid character class range: bounds out of order');
        body += `${classCharacter(low.codePoint)}-${classCharacter(high.codePoint)}`;
        continue;
      }
      body += classCharacter(low.codePoint);
    }
    return `[${negated ? '^' : ''}${body}]`;
  }

  private readClassItem(): { kind: 'character'; codePoint: number } | { kind: 'set'; source: string } {
    const start = this.offset;
    const codePoint = this.pattern.codePointAt(this.offset) ?? 0;
    if (codePoint === 0x5c) {
      this.offset++;
      if (this.peek() === undefined) this.fail(start, 'trailing backslash at end of pattern');
      return this.readClassEscape(start, true);
    }
    this.offset += codePoint > 0xffff ? 2 : 1;
    return { kind: 'character', codePoint };
  }
}

/** The JavaScript case modifier to open when moving from one set of flags to another, if case sensitivity changes. */
function caseModifier(from: Flags, to: Flags): string | undefined {
  if (from.caseInsensitive === to.caseInsensitive) return undefined;
  return to.caseInsensitive ? '(?i:' : '(?-i:';
}

function hex(codePoint: number): string {
  return `\\u{${codePoint.toString(16)}}`;
}

/** A literal character outside a class, escaped when JavaScript would read it as syntax. */
function literal(codePoint: number): string {
  const character = String.fromCodePoint(codePoint);
  if (syntaxCharacters.has(character)) return `\\${character}`;
  if (codePoint < 0x20 || codePoint === 0x7f) return hex(codePoint);
  return character;
}

/** A literal character inside a class, always as a code point escape. */
function classCharacter(codePoint: number): string {
  return /^[A-Za-z0-9_]$/u.test(String.fromCodePoint(codePoint)) ? String.fromCodePoint(codePoint) : hex(codePoint);
}

function renderRanges(ranges: readonly CodeRange[]): string {
  return ranges.map(([low, high]) => (low === high ? classCharacter(low) : `${classCharacter(low)}-${classCharacter(high)}`)).join('');
}

/** The complement of sorted, disjoint ranges over all code points. */
function complement(ranges: readonly CodeRange[]): CodeRange[] {
  const result: CodeRange[] = [];
  let next = 0;
  for (const [low, high] of ranges) {
    if (low > next) result.push([next, low - 1]);
    next = high + 1;
  }
  if (next <= maximumCodePoint) result.push([next, maximumCodePoint]);
  return result;
}
