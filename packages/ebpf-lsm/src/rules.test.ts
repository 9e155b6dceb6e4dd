import { describe, expect, it } from 'vitest';
import { LAYOUT_VERSION, RULE_EXACT, RULE_EXEC, RULE_KEY_SIZE, RULE_OPEN, RULE_PATH_MAX, RULE_SUBTREE, encodeRuleKey, encodeRules } from './rules.js';

const OPEN = RULE_OPEN;
import { codecs } from './codec.js';

function decode(entries: ReturnType<typeof encodeRules>): [string, number][] {
  return entries.map(({ key, value }) => {
    expect(key.length).toBe(RULE_KEY_SIZE);
    const end = key.indexOf(0);
    expect(key.subarray(end).every((byte) => byte === 0)).toBe(true);
    return [key.subarray(0, end).toString('utf8'), codecs.u32.decode(value)];
  });
}

describe('encodeRules', () => {
  it('encodes exact paths and directories (the directory itself and its subtree), sorted by key bytes', () => {
    expect(decode(encodeRules([{ path: '/srv/secret.txt' }, { path: '/etc/ssl/private/' }, { path: '/' }]))).toEqual([
      ['/', RULE_SUBTREE | OPEN],
      ['/etc/ssl/private', RULE_EXACT | OPEN],
      ['/etc/ssl/private/', RULE_SUBTREE | OPEN],
      ['/srv/secret.txt', RULE_EXACT | OPEN],
    ]);
  });

  it('encodes operations as bits beside the match kind (default open), merging the operations of equal keys', () => {
    expect(LAYOUT_VERSION).toBe(2);
    expect([RULE_EXACT, RULE_SUBTREE, RULE_OPEN, RULE_EXEC]).toEqual([1, 2, 4, 8]);
    expect(
      decode(
        encodeRules([
          { path: '/bin/sh', operations: ['exec'] },
          { path: '/opt/tools/', operations: ['exec', 'open'] },
          { path: '/opt/tools', operations: ['exec'] },
          { path: '/etc/shadow' },
          { path: '/bin/sh', operations: ['open', 'open'] },
        ]),
      ),
    ).toEqual([
      ['/bin/sh', RULE_EXACT | RULE_OPEN | RULE_EXEC],
      ['/etc/shadow', RULE_EXACT | RULE_OPEN],
      ['/opt/tools', RULE_EXACT | RULE_OPEN | RULE_EXEC],
      ['/opt/tools/', RULE_SUBTREE | RULE_OPEN | RULE_EXEC],
    ]);
    expect(encodeRules([{ path: '/a', operations: ['exec', 'open'] }])).toEqual(encodeRules([{ path: '/a', operations: ['open', 'exec'] }]));
    expect(decode(encodeRules([{ path: '/usr/bin/', operations: ['exec'] }]))).toEqual([
      ['/usr/bin', RULE_EXACT | RULE_EXEC],
      ['/usr/bin/', RULE_SUBTREE | RULE_EXEC],
    ]);
  });

  it('is deterministic: order and duplicates of the input do not change the bytes', () => {
    const a = encodeRules([{ path: '/a/' }, { path: '/b' }, { path: '/a' }]);
    const b = encodeRules([{ path: '/a' }, { path: '/b' }, { path: '/a/' }, { path: '/b' }]);
    expect(a).toEqual(b);
    expect(decode(a)).toEqual([
      ['/a', RULE_EXACT | OPEN],
      ['/a/', RULE_SUBTREE | OPEN],
      ['/b', RULE_EXACT | OPEN],
    ]);
    expect(encodeRules([])).toEqual([]);
  });

  it('pads keys with zeros and takes paths of up to RULE_PATH_MAX bytes, in UTF-8', () => {
    const longest = `/${'x'.repeat(RULE_PATH_MAX - 1)}`;
    const key = encodeRuleKey(longest);
    expect(key.length).toBe(RULE_KEY_SIZE);
    expect(key[RULE_KEY_SIZE - 1]).toBe(0);
    expect(encodeRuleKey('/é').subarray(0, 4)).toEqual(Buffer.from([0x2f, 0xc3, 0xa9, 0]));
    expect(() => encodeRuleKey(`${longest}y`)).toThrow(/at most 255 bytes, got 256/);
  });

  it('names every rule it refuses', () => {
    const rules = [
      { path: 'relative' },
      { path: '/ok' },
      { path: '/a/../b' },
      { path: '/a//b' },
      { path: '/a/./' },
      { path: '/nul\0' },
      { path: `/${'é'.repeat(128)}` },
      { path: '/x', operations: [] },
      { path: '/y', operations: ['write'] as unknown as ['open'] },
      { path: 'rel', operations: [] },
    ];
    expect(() => encodeRules(rules)).toThrow(
      expect.objectContaining({
        code: 'ERR_VALIDATION',
        message:
          'encode rules: rules[0].path: expected an absolute path (starting with /); ' +
          "rules[2].path: expected a normalised path (no empty, '.' or '..' component); " +
          "rules[3].path: expected a normalised path (no empty, '.' or '..' component); " +
          "rules[4].path: expected a normalised path (no empty, '.' or '..' component); " +
          'rules[5].path: expected no NUL byte; ' +
          'rules[6].path: expected at most 255 bytes, got 257; ' +
          "rules[7].operations: expected a non-empty list of 'open' and 'exec'; " +
          `rules[8].operations: expected 'open' or 'exec', got "write"; ` +
          'rules[9].path: expected an absolute path (starting with /); ' +
          "rules[9].operations: expected a non-empty list of 'open' and 'exec'",
      }),
    );
  });
});
