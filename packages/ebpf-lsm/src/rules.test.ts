import { describe, expect, it } from 'vitest';
import {
  LAYOUT_VERSION,
  MATCH_DIRECTORY,
  MAX_GLOBS,
  OPERATION_BITS as OP,
  RESOURCE_GLOB,
  RULE_KEY_SIZE,
  RULE_PATH_MAX,
  RULE_VALUE_SIZE,
  SOURCE_DEFINITION,
  SOURCE_SETTINGS,
} from './layout.js';
import {
  CATEGORY_OPERATIONS,
  FILE_OPERATIONS,
  WRITE_OPERATIONS,
  capabilityKey,
  decodeRuleValue,
  encodeRules,
  globKey,
  pathKey,
  presetKey,
  settingsKey,
  socketKey,
  type Rule,
  type RulePart,
} from './rules.js';

const PROTECT = OP.rename | OP.link;

/** Entries as readable rows: [source, what, value]. */
function decode(entries: ReturnType<typeof encodeRules>) {
  return entries.map(({ key, value }) => {
    expect(key.length).toBe(RULE_KEY_SIZE);
    expect(value.length).toBe(RULE_VALUE_SIZE);
    const source = key.readUInt32LE(4);
    const body = key.subarray(8);
    const what = body[0] === 0x2f ? body.subarray(0, body.indexOf(0)).toString('utf8') : body.subarray(0, 12).toString('hex');
    return [source, what, decodeRuleValue(value)] as const;
  });
}

const value = (parts: { ops?: number[]; childOps?: number[]; ownerOps?: number[]; ruleId?: number[] }) => ({
  ops: parts.ops ?? [0, 0, 0],
  childOps: parts.childOps ?? [0, 0, 0],
  ownerOps: parts.ownerOps ?? [0, 0, 0],
  ruleId: parts.ruleId ?? [0, 0, 0],
});

describe('encodeRules (layout 9)', () => {
  it('encodes a block rule on a file with every file operation, and protects its name and the directories above it', () => {
    expect(LAYOUT_VERSION).toBe(9);
    expect(decode(encodeRules([{ path: '/etc/shadow' }]))).toEqual([
      [0, '/etc', value({ ops: [PROTECT, 0, 0], ruleId: [1, 0, 0] })],
      [0, '/etc/shadow', value({ ops: [FILE_OPERATIONS, 0, 0], ruleId: [1, 0, 0] })],
    ]);
  });

  it('encodes recursive and non-recursive directories, the directory itself included', () => {
    const rows = decode(
      encodeRules([
        { path: '/srv/data/', action: 'audit', operations: ['write'] },
        { path: '/srv/logs/', recursive: false, action: 'audit', operations: ['unlink'] },
      ]),
    );
    expect(rows).toEqual([
      [0, '/srv/data', value({ ops: [0, OP.write, 0], ruleId: [0, 1, 0] })],
      [0, '/srv/data/', value({ ops: [0, OP.write, 0], ruleId: [0, 1, 0] })],
      [0, '/srv/logs', value({ ops: [0, OP.unlink, 0], ruleId: [0, 2, 0] })],
      [0, '/srv/logs/', value({ childOps: [0, OP.unlink, 0], ruleId: [0, 2, 0] })],
    ]);
  });

  it('maps readOnly and ownerOnly per action, and open to read and write', () => {
    const rows = decode(
      encodeRules([
        { path: '/data/ro', readOnly: true },
        { path: '/data/mine', ownerOnly: true, operations: ['open'] },
        { path: '/data/allowed', action: 'allow', readOnly: true },
      ]),
    );
    const byPath = Object.fromEntries(rows.map(([, what, decoded]) => [what, decoded]));
    expect(byPath['/data/ro']).toEqual(value({ ops: [WRITE_OPERATIONS, 0, 0], ruleId: [1, 0, 0] }));
    expect(byPath['/data/mine']).toEqual(value({ ops: [OP.read | OP.write | PROTECT, 0, 0], ownerOps: [OP.read | OP.write, 0, 0], ruleId: [2, 0, 0] }));
    expect(byPath['/data/allowed']).toEqual(value({ ops: [0, 0, OP.read], ruleId: [0, 0, 3] }));
    // The allow rule puts files (not exec) in allow-list mode, posture block by default.
    expect(rows.at(-1)).toEqual([SOURCE_SETTINGS, '000000000000000000000000', value({ ops: [CATEGORY_OPERATIONS.file, 0, 0] })]);
    expect(settingsKey().readUInt32LE(0)).toBe(32);
  });

  it('spares the owner only what every rule on the entry (and every directory merged into it) spares', () => {
    const rows = decode(
      encodeRules([
        { path: '/home/u/', ownerOnly: true },
        { path: '/home/u/', readOnly: true },
        { path: '/home/u/key', operations: ['read'], ownerOnly: true },
        { path: '/srv/', ownerOnly: true, operations: ['read', 'write'] },
        { path: '/srv/log', operations: ['write'] },
      ]),
    );
    const byPath = Object.fromEntries(rows.map(([, what, decoded]) => [what, decoded]));
    // Both rules block writes; only the ownerOnly one blocks reads: the owner may read, never write.
    expect(byPath['/home/u/']!.ownerOps[0]).toBe(FILE_OPERATIONS & ~WRITE_OPERATIONS);
    // A file below keeps that from the directory, with its own ownerOnly read.
    expect(byPath['/home/u/key']!.ownerOps[0]).toBe(OP.read);
    expect(byPath['/home/u/key']!.ops[0] & OP.write).toBe(OP.write);
    // The directory's ownerOnly write meets the file's plain one: not spared; its read still is.
    expect(byPath['/srv/log']!.ownerOps[0]).toBe(OP.read);
  });

  it('writes the settings key only for categories with an allow rule, with their postures', () => {
    const entries = encodeRules(
      [
        { kind: 'socket', type: 2, action: 'allow' },
        { kind: 'capability', capability: 13, action: 'allow' },
        { path: '/bin/', operations: ['exec'], action: 'allow' },
      ],
      { postures: { network: 'audit', process: 'block' } },
    );
    const settings = entries.find(({ key }) => key.equals(settingsKey()))!;
    expect(decodeRuleValue(settings.value).ops).toEqual([OP.exec | OP.capability, OP.socket, 0]);
    expect(encodeRules([{ path: '/a' }]).some(({ key }) => key.equals(settingsKey()))).toBe(false);
  });

  it('encodes socket and capability keys, wildcards as 0xffff', () => {
    const entries = encodeRules([
      { kind: 'socket', type: 3 },
      { kind: 'socket', family: 2, type: 1, protocol: 6, action: 'audit' },
      { kind: 'capability', capability: 12 },
    ]);
    const keys = entries.map(({ key }) => key);
    expect(keys).toContainEqual(socketKey(0, 0xffff, 3, 0xffff));
    expect(keys).toContainEqual(socketKey(0, 2, 1, 6));
    expect(keys).toContainEqual(capabilityKey(0, 12));
    // prefixlen 88 (the source and 7 bytes), the source, then the key's bytes.
    expect(socketKey(0, 2, 1, 6).subarray(0, 16)).toEqual(Buffer.from([88, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 1, 0, 6, 0, 0]));
    expect(capabilityKey(0, 12).readUInt32LE(0)).toBe(72);
    expect(decodeRuleValue(entries.find(({ key }) => key.equals(capabilityKey(0, 12)))!.value).ops).toEqual([OP.capability, 0, 0]);
  });

  it('encodes a preset as its resource byte and number, for exec; an Allow preset or an unknown one is refused', () => {
    const entries = encodeRules([{ kind: 'preset', preset: 'filelessExec' }, { kind: 'preset', preset: 'anonymousMapExec', action: 'audit', id: 9 }]);
    // prefixlen 48 (the source and 2 bytes): RESOURCE_PRESET (4), then the preset (PRESET_FILELESS_EXEC 1, PRESET_ANONYMOUS_MAP_EXEC 2).
    expect(presetKey(0, 'filelessExec').subarray(0, 10)).toEqual(Buffer.from([48, 0, 0, 0, 0, 0, 0, 0, 4, 1]));
    expect(decode(entries)).toEqual([
      [0, '0401' + '00'.repeat(10), value({ ops: [OP.exec, 0, 0], ruleId: [1, 0, 0] })],
      [0, '0402' + '00'.repeat(10), value({ ops: [0, OP.exec, 0], ruleId: [0, 9, 0] })],
    ]);
    expect(() => encodeRules([{ kind: 'preset', preset: 'filelessExec', action: 'allow' }, { kind: 'preset', preset: 'exec' as never }])).toThrow(
      "encode rules: rules[0].action: a preset blocks or audits: expected 'block' or 'audit'; rules[1].preset: expected 'filelessExec' or 'anonymousMapExec'",
    );
  });

  it('gives each fromSource executable an index, a definition key, and keys of its own', () => {
    const rows = decode(
      encodeRules([
        { path: '/secret', action: 'allow', operations: ['read'], fromSource: '/usr/bin/reader' },
        { kind: 'capability', capability: 13, fromSource: '/bin/ping' },
      ]),
    );
    // Sources are numbered by sorted path: /bin/ping is 1, /usr/bin/reader 2.
    expect(rows.filter(([source]) => source === SOURCE_DEFINITION).map(([, what, decoded]) => [what, decoded.ruleId[0]])).toEqual([
      ['/bin/ping', 1],
      ['/usr/bin/reader', 2],
    ]);
    expect(rows.filter(([source]) => source === 2).map(([, what]) => what)).toEqual(['/secret']);
    expect(rows.filter(([source]) => source === 1).map(([, what]) => what)).toEqual([capabilityKey(1, 13).subarray(8, 20).toString('hex')]);
  });

  it('puts glob rules in numbered slots per source, with their patterns, and protects the fixed part of a blocked pattern', () => {
    const entries = encodeRules([
      { path: '/etc/ssh/*_key', operations: ['read'], id: 5 },
      { path: '/var/log/**/*.gz', action: 'audit', operations: ['unlink'], id: 6 },
      { path: '/home/*/.ssh/id_?sa', operations: ['read'], fromSource: '/usr/bin/scp', id: 7 },
    ]);
    const globs = entries.filter(({ key }) => key[8] === RESOURCE_GLOB).map(({ key, value }) => [key.readUInt32LE(4), key[9], decodeRuleValue(value)] as const);
    expect(globs).toEqual([
      [0, 0, { ...value({ ops: [OP.read | PROTECT, 0, 0], ruleId: [5, 0, 0] }), pattern: '/etc/ssh/*_key' }],
      [0, 1, { ...value({ ops: [0, OP.unlink, 0], ruleId: [0, 6, 0] }), pattern: '/var/log/**/*.gz' }],
      [1, 0, { ...value({ ops: [OP.read | PROTECT, 0, 0], ruleId: [7, 0, 0] }), pattern: '/home/*/.ssh/id_?sa' }],
    ]);
    expect(entries.find(({ key }) => key.equals(globKey(0, 0)))!.value.readUInt32LE(48)).toBe('/etc/ssh/*_key'.length);
    // The fixed part of a blocked pattern and the directories above it cannot be renamed; an audit pattern protects nothing.
    const paths = decode(entries).filter(([source]) => source === 0).map(([, what]) => what);
    expect(paths.filter((what) => what.startsWith('/'))).toEqual(['/etc', '/etc/ssh']);
    expect(() => encodeRules(Array.from({ length: MAX_GLOBS + 1 }, (_, index) => ({ path: `/g/${index}/*` })))).toThrow(/at most 32 glob patterns per source/);
    expect(() => encodeRules([{ path: '/a/**b' }, { path: '/c/*/', recursive: false }])).toThrow(/rules\[0\]\.path: .*rules\[1\]\.path: /);
  });

  it('merges rules on one key: operations add up, each action keeps its lowest rule id', () => {
    const rows = decode(
      encodeRules([
        { path: '/x', operations: ['read'], id: 9 },
        { path: '/x', operations: ['write'], id: 4 },
        { path: '/x', action: 'audit', operations: ['exec'], id: 7 },
      ]),
    );
    expect(rows.find(([, what]) => what === '/x')![2]).toEqual(value({ ops: [OP.read | OP.write | PROTECT, OP.exec, 0], ruleId: [4, 7, 0] }));
  });

  it('is deterministic: the order of rules and of operations does not change the bytes', () => {
    const rules: Rule[] = [{ path: '/a/' }, { path: '/b', operations: ['read', 'write'] }, { kind: 'capability', capability: 1, id: 3 }];
    const reordered: Rule[] = [rules[2]!, { path: '/b', operations: ['write', 'read'], id: 2 }, { ...rules[0]!, id: 1 }];
    expect(encodeRules(rules)).toEqual(encodeRules(reordered));
    expect(encodeRules([])).toEqual([]);
  });

  it('pads keys with zeros and takes paths of up to RULE_PATH_MAX bytes, in UTF-8; a file key covers its zero, a directory key its slash', () => {
    const longest = `/${'x'.repeat(RULE_PATH_MAX - 1)}`;
    const key = pathKey(0, longest);
    expect(key.length).toBe(RULE_KEY_SIZE);
    expect(key[RULE_KEY_SIZE - 1]).toBe(0);
    expect(key.readUInt32LE(0)).toBe(32 + 8 * (RULE_PATH_MAX + 1));
    // prefixlen 64: the source, '/é' (3 bytes) and its zero.
    expect(pathKey(5, '/é').subarray(0, 12)).toEqual(Buffer.from([64, 0, 0, 0, 5, 0, 0, 0, 0x2f, 0xc3, 0xa9, 0]));
    expect(pathKey(0, '/etc/').readUInt32LE(0)).toBe(32 + 8 * 5);
    expect(() => pathKey(0, `${longest}y`)).toThrow(/at most 251 bytes, got 252/);
  });

  it('merges into each entry what the directories above it add, and marks directory keys', () => {
    const entries = encodeRules([
      { path: '/a/', operations: ['read'], id: 1 },
      { path: '/a/b/', recursive: false, action: 'audit', operations: ['write'], id: 2 },
      { path: '/a/b/c', action: 'allow', operations: ['exec'], id: 3 },
      { path: '/a/b/c', operations: ['read'], fromSource: '/bin/tool', id: 4 },
    ]);
    const rows = decode(entries);
    const byPath = Object.fromEntries(rows.filter(([source]) => source === 0).map(([, what, decoded]) => [what, decoded]));
    expect(byPath['/a/']).toEqual(value({ ops: [OP.read, 0, 0], ruleId: [1, 0, 0] }));
    // The directory itself: its own audit, and the block from '/a/' above it.
    expect(byPath['/a/b']).toEqual(value({ ops: [OP.read, OP.write, 0], ruleId: [1, 2, 0] }));
    // Under '/a/b/': the block from '/a/' (recursive); its own audit applies to direct entries only.
    expect(byPath['/a/b/']).toEqual(value({ ops: [OP.read, 0, 0], childOps: [0, OP.write, 0], ruleId: [1, 2, 0] }));
    // A direct entry of '/a/b/': everything above it merged in.
    expect(byPath['/a/b/c']).toEqual(value({ ops: [OP.read, OP.write, OP.exec], ruleId: [1, 2, 3] }));
    // A source's entries merge only with that source's directories: nothing of source 0's '/a/' here.
    expect(rows.filter(([source]) => source === 1).map(([, what, decoded]) => [what, decoded.ops])).toEqual([
      ['/a', [PROTECT, 0, 0]],
      ['/a/b', [PROTECT, 0, 0]],
      ['/a/b/c', [OP.read | PROTECT, 0, 0]],
    ]);
    const matchBits = (path: string) => entries.find(({ key }) => key.equals(pathKey(0, path)))!.value.readUInt32LE(52);
    expect(matchBits('/a/b/')).toBe((MATCH_DIRECTORY | (32 + 8 * 5)) >>> 0);
    expect(matchBits('/a/b/c')).toBe(32 + 8 * 7);
  });

  it('names every rule it refuses', () => {
    const rules = [
      { path: 'relative' },
      { path: '/ok' },
      { path: '/a/../b' },
      { path: '/nul\0' },
      { path: `/${'é'.repeat(126)}` },
      { path: '/x', operations: [] },
      { path: '/y', operations: ['fly'] },
      { path: '/z', action: 'deny' },
      { path: '/f', recursive: false },
      { path: '/r', readOnly: true, operations: ['read'] },
      { path: '/s', fromSource: '/bin/' },
      { kind: 'socket', family: 2 },
      { kind: 'capability', capability: 64 },
      { kind: 'other' },
      { path: '/i', id: 0 },
    ] as unknown as Rule[];
    expect(() => encodeRules(rules, { postures: { file: 'deny' } as never })).toThrow(
      expect.objectContaining({
        code: 'ERR_VALIDATION',
        message:
          'encode rules: rules[0].path: expected an absolute path (starting with /); ' +
          "rules[2].path: expected a normalised path (no empty, '.' or '..' component); " +
          'rules[3].path: expected no NUL byte; ' +
          'rules[4].path: expected at most 251 bytes, got 253; ' +
          "rules[5].operations: expected a non-empty list of 'open', 'read', 'write', 'exec', 'unlink', 'rmdir', 'mkdir', 'rename', 'truncate', 'chmod', 'link', 'symlink', 'mknod'; " +
          'rules[6].operations: expected one of open, read, write, exec, unlink, rmdir, mkdir, rename, truncate, chmod, link, symlink, mknod, got "fly"; ' +
          "rules[7].action: expected 'block', 'audit' or 'allow'; " +
          "rules[8].recursive: applies to a directory rule (a path ending in '/'); " +
          'rules[9].operations: readOnly leaves none of these operations; ' +
          'rules[10].fromSource: expected a file, not a directory; ' +
          'rules[11].type: expected a socket type (the program always looks the type up); ' +
          'rules[12].capability: expected a capability number from 0 to 63; ' +
          "rules[13].kind: expected 'path', 'socket', 'capability' or 'preset'; " +
          'rules[14].id: expected an integer from 1 to 4294967295; ' +
          "postures.file: expected 'block' or 'audit'",
      }),
    );
  });
});

describe('encodeRules with parts', () => {
  /** A small deterministic generator (the test's cases are the same every run). */
  function seeded(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (state * 1664525 + 1013904223) >>> 0;
      return state / 2 ** 32;
    };
  }
  const FILES = ['/a', '/a/b', '/a/b/c', '/etc/shadow', '/srv/x/conf', '/srv/y', '/opt/tool'];
  const DIRECTORIES = ['/a/', '/a/b/', '/srv/', '/srv/x/', '/etc/'];
  const GLOBS = ['/a/*.key', '/srv/*/conf', '/home/*/secret'];
  const OPERATIONS = ['read', 'write', 'exec'] as const;
  function randomRule(random: () => number): Rule {
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const action = pick(['block', 'block', 'audit', 'allow'] as const);
    const roll = random();
    if (roll < 0.1) return { kind: 'socket', type: pick([1, 2, 3]), action };
    if (roll < 0.2) return { kind: 'capability', capability: pick([12, 13, 21]), action };
    const path = roll < 0.3 ? pick(GLOBS) : roll < 0.6 ? pick(DIRECTORIES) : pick(FILES);
    const operations = OPERATIONS.filter(() => random() < 0.5);
    return {
      path,
      action,
      ...(random() < 0.2 ? { readOnly: true } : operations.length > 0 && random() < 0.7 ? { operations } : {}),
      ...(random() < 0.15 ? { ownerOnly: true } : {}),
      ...(path.endsWith('/') && random() < 0.3 ? { recursive: false } : {}),
    };
  }
  const hex = (entries: readonly { key: Uint8Array; value: Uint8Array }[]) => entries.map(({ key, value }) => `${Buffer.from(key).toString('hex')}=${Buffer.from(value).toString('hex')}`);

  it('encodes a set made of parts byte for byte as the whole list, each part drafted once and shifted to where it sits', () => {
    const random = seeded(20261204);
    let compared = 0;
    for (let round = 0; round < 30; round++) {
      const templates = Array.from({ length: 4 }, () => Array.from({ length: 1 + Math.floor(random() * 25) }, () => randomRule(random)));
      const keys = templates.map(() => ({}));
      for (let trial = 0; trial < 4; trial++) {
        const rules: Rule[] = [];
        const parts: RulePart[] = [];
        const loose = () => {
          for (let count = Math.floor(random() * 3); count > 0; count--) rules.push({ ...randomRule(random), id: rules.length + 1 });
        };
        const order = templates.map((_, index) => index).sort(() => random() - 0.5).filter(() => random() < 0.8);
        for (const index of order) {
          loose();
          const start = rules.length;
          for (const rule of templates[index]!) rules.push({ ...rule, id: rules.length + 1 });
          parts.push({ start, count: templates[index]!.length, key: keys[index]! });
        }
        loose();
        const postures = random() < 0.5 ? {} : { postures: { file: 'audit' as const } };
        expect(hex(encodeRules(rules, { ...postures, parts }))).toEqual(hex(encodeRules(rules, postures)));
        compared++;
      }
    }
    expect(compared).toBe(120);
  });

  it('drafts with the rest a part with fromSource rules or ids not its positions, and names a bad rule by its index in the list', () => {
    const key = {};
    const withSource: Rule[] = [{ path: '/a', id: 1 }, { path: '/etc/shadow', fromSource: '/bin/cat', id: 2 }];
    expect(hex(encodeRules(withSource, { parts: [{ start: 0, count: 2, key }] }))).toEqual(hex(encodeRules(withSource)));
    const renumbered: Rule[] = [{ path: '/a', id: 7 }, { path: '/b', id: 8 }];
    expect(hex(encodeRules(renumbered, { parts: [{ start: 0, count: 2, key: {} }] }))).toEqual(hex(encodeRules(renumbered)));
    const bad: Rule[] = [{ path: '/a', id: 1 }, { path: 'relative', id: 2 }];
    expect(() => encodeRules(bad, { parts: [{ start: 1, count: 1, key: {} }] })).toThrow(/^encode rules: rules\[1\]\.path: /u);
  });
});
