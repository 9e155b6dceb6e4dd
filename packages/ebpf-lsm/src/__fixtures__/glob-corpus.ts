/**
 * Random glob patterns and paths over a small alphabet (`a b . x` and `/`),
 * for comparing globMatch with a reference (unit tier) and with the
 * kernel's matcher (host tier). Seeded, so a failure names a case that
 * comes back on the next run.
 *
 * Paths are built from the pattern most of the time (each wildcard
 * replaced by something it may or may not match, then sometimes mutated),
 * so that matches are as common as mismatches; the rest are unrelated.
 */

/** Hand-written cases: [pattern, path, whether it matches]. */
export const globCases: readonly (readonly [string, string, boolean])[] = [
  // * within one component
  ['/etc/*', '/etc/passwd', true],
  ['/etc/*', '/etc/', true],
  ['/etc/*', '/etc', false],
  ['/etc/*', '/etc/ssh/sshd_config', false],
  ['/etc/*.conf', '/etc/host.conf', true],
  ['/etc/*.conf', '/etc/.conf', true],
  ['/etc/*.conf', '/etc/host.conf.bak', false],
  ['/etc/*.conf', '/etc/a/b.conf', false],
  ['/etc/ssh/ssh_host_*_key', '/etc/ssh/ssh_host_ed25519_key', true],
  ['/etc/ssh/ssh_host_*_key', '/etc/ssh/ssh_host_ed25519_key.pub', false],
  ['/etc/ssh/ssh_host_*_key', '/etc/ssh/ssh_host__key', true],
  ['/home/*/.ssh/id_*', '/home/alice/.ssh/id_rsa', true],
  ['/home/*/.ssh/id_*', '/home/alice/bob/.ssh/id_rsa', false],
  ['/home/*/.ssh/id_*', '/home//.ssh/id_rsa', true],
  // several stars, stars next to literals and to each other
  ['/a/*b*c*', '/a/bc', true],
  ['/a/*b*c*', '/a/xxbyyczz', true],
  ['/a/*b*c*', '/a/xxcyybzz', false],
  ['/a/*b*c*', '/a/xxbyy/czz', false],
  ['/a/x*x*x', '/a/xxx', true],
  ['/a/x*x*x', '/a/xx', false],
  ['/a/x*x*x', '/a/xaxbxcx', true],
  ['/a/*a', '/a/aaaa', true],
  ['/a/*a', '/a/aaab', false],
  ['/*/*/*', '/a/b/c', true],
  ['/*/*/*', '/a/b', false],
  ['/*/*/*', '/a/b/c/d', false],
  ['/*', '/', true],
  // ? is one byte other than /
  ['/tmp/?', '/tmp/a', true],
  ['/tmp/?', '/tmp/', false],
  ['/tmp/?', '/tmp/ab', false],
  ['/tmp/a?c', '/tmp/a/c', false],
  ['/tmp/???', '/tmp/abc', true],
  ['/tmp/?*', '/tmp/', false],
  ['/tmp/?*', '/tmp/a', true],
  ['/tmp/*?', '/tmp/ab', true],
  ['/tmp/?', '/tmp/é', false], // é is two bytes in UTF-8
  ['/tmp/??', '/tmp/é', true],
  // ** in the middle
  ['/a/**/b', '/a/b', true],
  ['/a/**/b', '/a/x/b', true],
  ['/a/**/b', '/a/x/y/z/b', true],
  ['/a/**/b', '/a/xb', false],
  ['/a/**/b', '/ab', false],
  ['/a/**/b', '/a/b/c', false],
  ['/a/**/b', '/a/b/b', true],
  ['/a/**/b/c', '/a/b/x/b/c', true],
  ['/a/**/b/c', '/a/b/c/b/d', false],
  ['/a/**/*.so', '/a/lib/x86_64/libc.so', true],
  ['/a/**/*.so', '/a/libc.so', true],
  ['/a/**/*.so', '/a/lib/libc.so.6', false],
  ['/a/**/?', '/a/b/c', true],
  ['/a/**/?', '/a/b/cd', false],
  ['/usr/**/bin/*sh', '/usr/local/bin/bash', true],
  ['/usr/**/bin/*sh', '/usr/bin/zsh', true],
  ['/usr/**/bin/*sh', '/usr/local/bin/sub/bash', false],
  // ** at the end: everything under the directory
  ['/a/**', '/a/b', true],
  ['/a/**', '/a/b/c/d', true],
  ['/a/**', '/a/', true],
  ['/a/**', '/a', false],
  ['/a/**', '/ab', false],
  ['/a/b*/**', '/a/bc/d', true],
  ['/a/b*/**', '/a/cb/d', false],
  // ** at the start, after /
  ['/**', '/', true],
  ['/**', '/anything/at/all', true],
  ['/**/x', '/x', true],
  ['/**/x', '/a/b/x', true],
  ['/**/x', '/a/b/xx', false],
  ['/**/.git/**', '/src/repo/.git/config', true],
  ['/**/.git/**', '/.git/HEAD', true],
  ['/**/.git/**', '/src/.github/x', false],
  // two ** and stars around them
  ['/**/a/**/b', '/a/b', true],
  ['/**/a/**/b', '/x/a/y/z/b', true],
  ['/**/a/**/b', '/x/b/y/a', false],
  ['/*/**/*', '/a/b', true],
  ['/*/**/*', '/a/b/c/d', true],
  ['/*/**/*', '/a', false],
  // literals, with '/' at star boundaries
  ['/a*/b', '/a/b', true],
  ['/a*/b', '/ax/b', true],
  ['/a*/b', '/ax/y/b', false],
  ['/a/*/', '/a/b/', true],
  ['/a/*/', '/a/b', false],
];

const letters = ['a', 'b', '.', 'x'] as const;

/** A small, fast, seeded generator (mulberry32). */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GlobCase {
  readonly pattern: string;
  readonly path: string;
}

export interface CorpusOptions {
  /** Components in a pattern: 1 to this many. */
  readonly maxComponents?: number;
  /** Tokens (letters, `*`, `?`) in a component: 1 to this many. */
  readonly maxTokens?: number;
  /** Components a `**` stands for in a built path: 0 to this many. */
  readonly maxSpan?: number;
  /** Bytes a `*` stands for in a built path: 0 to this many. */
  readonly maxRun?: number;
  /** Only patterns that validateGlob accepts (else also `**` inside components, `***`, `//`, a trailing `/`). */
  readonly validOnly?: boolean;
}

export function globCorpus(seed: number, count: number, options: CorpusOptions = {}): GlobCase[] {
  const random = createRandom(seed);
  const below = (limit: number) => Math.floor(random() * limit);
  const pick = <T>(items: readonly T[]): T => items[below(items.length)]!;
  const maxComponents = options.maxComponents ?? 5;
  const maxTokens = options.maxTokens ?? 4;
  const maxSpan = options.maxSpan ?? 3;
  const maxRun = options.maxRun ?? 3;
  const validOnly = options.validOnly ?? true;

  const word = (length: number) => Array.from({ length }, () => pick(letters)).join('');

  const component = (): string => {
    const tokens = 1 + below(maxTokens);
    let text = '';
    for (let index = 0; index < tokens; index++) {
      const roll = random();
      text += roll < 0.55 ? pick(letters) : roll < 0.8 ? '*' : '?';
    }
    if (!validOnly && random() < 0.1) text = text.replace('*', '**');
    if (!validOnly) return text;
    text = text.replace(/\*{2,}/g, '*');
    return text === '.' || text === '..' ? `${text}x` : text;
  };

  const pattern = (): string => {
    const components: string[] = [];
    const total = 1 + below(maxComponents);
    for (let index = 0; index < total; index++) {
      const previous = components.at(-1);
      components.push(random() < 0.25 && !(validOnly && previous === '**') ? '**' : component());
    }
    let text = `/${components.join('/')}`;
    if (!validOnly && random() < 0.1) text = random() < 0.5 ? `${text}/` : text.replace('/', '//');
    if (validOnly && !/[*?]/.test(text)) text += '*';
    return text;
  };

  // A path the pattern should match, before mutation: each wildcard made concrete.
  const instantiate = (text: string): string =>
    text
      .split('/')
      .map((part) => {
        if (part === '**') {
          const span = below(maxSpan + 1);
          return Array.from({ length: span }, () => word(1 + below(3))).join('/');
        }
        return part.replace(/\*+|\?/g, (token) => (token === '?' ? pick(letters) : word(below(maxRun + 1))));
      })
      .join('/')
      .replace(/\/{2,}/g, '/');

  const mutate = (text: string): string => {
    // ASCII only, so string indexes are bytes.
    const at = 1 + below(Math.max(1, text.length - 1));
    const roll = random();
    const result =
      roll < 0.3
        ? text.slice(0, at) + text.slice(at + 1)
        : roll < 0.6
          ? text.slice(0, at) + pick([...letters, '/']) + text.slice(at)
          : text.slice(0, at) + pick([...letters, '/']) + text.slice(at + 1);
    return result.startsWith('/') ? result : `/${result}`;
  };

  const unrelated = (): string => {
    const total = 1 + below(maxComponents + 1);
    return `/${Array.from({ length: total }, () => word(1 + below(4))).join('/')}`;
  };

  const cases: GlobCase[] = [];
  for (let index = 0; index < count; index++) {
    const text = pattern();
    const roll = random();
    const path = roll < 0.45 ? instantiate(text) : roll < 0.85 ? mutate(instantiate(text)) : unrelated();
    cases.push({ pattern: text, path });
  }
  return cases;
}

/**
 * The reference semantics, built independently of glob.ts's algorithm: a
 * regular expression per pattern (`*` becomes `[^/]*`, `?` becomes
 * `[^/]`, a `**` component in the middle becomes `(.*` + `/)?` and at the
 * end `.*`). For patterns
 * validateGlob accepts; over ASCII, a character is a byte.
 */
export function referenceRegex(pattern: string): RegExp {
  const components = pattern.slice(1).split('/');
  let source = '^/';
  components.forEach((component, index) => {
    const last = index === components.length - 1;
    if (component === '**') {
      source += last ? '.*' : '(?:.*/)?';
      return;
    }
    for (const character of component) {
      source += character === '*' ? '[^/]*' : character === '?' ? '[^/]' : character.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
    if (!last) source += '/';
  });
  return new RegExp(`${source}$`, 's');
}

/**
 * Long cases for the kernel's limits: patterns of 200 to 255 bytes and
 * paths of 3,900 to 4,096 bytes (GLOB_PATH_SIZE), most built from their
 * pattern (the first '**', or else the first '*', stretched to the length),
 * some mutated. A few take more steps than GLOB_MAX_STEPS.
 */
export function longGlobCorpus(seed: number, count: number): GlobCase[] {
  const random = createRandom(seed);
  const below = (limit: number) => Math.floor(random() * limit);
  const pick = <T>(items: readonly T[]): T => items[below(items.length)]!;
  const word = (length: number) => Array.from({ length }, () => pick(letters)).join('');
  const cases: GlobCase[] = [];
  for (let index = 0; index < count; index++) {
    const patternLength = 200 + below(56);
    const components: string[] = [];
    let text = '';
    while (text.length < patternLength) {
      const roll = random();
      const component =
        roll < 0.1 && components.at(-1) !== '**'
          ? '**'
          : Array.from({ length: 1 + below(10) }, () => {
              const token = random();
              return token < 0.7 ? pick(letters) : token < 0.85 ? '*' : '?';
            })
              .join('')
              .replace(/\*{2,}/g, '*');
      components.push(component === '.' || component === '..' ? `${component}x` : component);
      text = `/${components.join('/')}`;
    }
    const pattern = text.slice(0, patternLength).replace(/\/$/, 'a').replace(/(^|[^/])\*\*$/, '$1*');
    // Built with every '**' empty and every '*' a short word, then stretched.
    const parts = pattern.split('/');
    const stretch = parts.indexOf('**') > 0 ? parts.indexOf('**') : parts.findIndex((part) => part.includes('*'));
    const built = parts.map((part, at) =>
      part === '**' ? (at === stretch ? '\u0000' : '') : part.replace(/\*|\?/g, (token) => (token === '?' ? pick(letters) : word(below(3)))),
    );
    let path = built.join('/').replace(/\/{2,}/g, '/');
    const target = 3900 + below(197);
    const room = target - (path.length - 1);
    if (stretch > 0 && parts[stretch] === '**') {
      let filler = '';
      while (filler.length < room - 1) filler += `${word(1 + below(20))}/`;
      path = path.replace('\u0000', filler.slice(0, Math.max(0, room - 1)).replace(/\/$/, 'a'));
    } else if (stretch > 0) {
      const starred = built[stretch]!;
      built[stretch] = `${starred}${word(Math.max(0, room))}`;
      path = built.join('/').replace(/\/{2,}/g, '/');
    }
    path = path.replace('\u0000', '').replace(/\/{2,}/g, '/').slice(0, 4096);
    if (random() < 0.4) {
      const at = 1 + below(path.length - 1);
      path = `${path.slice(0, at)}${pick([...letters, '/'])}${path.slice(at + 1)}`;
    }
    cases.push({ pattern, path });
  }
  return cases;
}
