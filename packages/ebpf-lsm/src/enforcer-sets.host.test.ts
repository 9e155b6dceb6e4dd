/**
 * Enforcer.setManyRules on real kernel maps (built like the enforcer's:
 * BPF maps work on this host, LSM programs cannot load): many rule sets
 * written in one call, the new ones swapped in with one batch, pooled ones
 * filled in place, and a bad set refused alone.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { codecs } from './codec.js';
import { Enforcer } from './enforcer.js';
import type { EnforcerMapName } from './enforcer.js';
import { DECISION_COUNTS_SIZE, LAYOUT_VERSION, MAX_SCOPES, MAX_SETS, RULE_KEY_SIZE, RULE_VALUE_SIZE, scopeEntryCodec } from './layout.js';
import { type BpfMap, createMap } from './map.js';
import { encodeRules } from './rules.js';

const template = createMap({ type: 'lpm_trie', flags: 1, keySize: RULE_KEY_SIZE, valueSize: RULE_VALUE_SIZE, maxEntries: 1, name: 'test_template' });
const maps = new Map<EnforcerMapName, BpfMap>([
  ['scopes', createMap({ type: 'hash', keySize: 8, valueSize: scopeEntryCodec.size, maxEntries: MAX_SCOPES, name: 'scopes' })],
  ['rules', createMap({ type: 'array_of_maps', keySize: 4, valueSize: 4, maxEntries: MAX_SETS, name: 'rules', innerMap: template })],
  ['generations', createMap({ type: 'array', keySize: 4, valueSize: 8, maxEntries: MAX_SETS, name: 'generations' })],
  ['decisions', createMap({ type: 'array', keySize: 4, valueSize: DECISION_COUNTS_SIZE, maxEntries: MAX_SCOPES, name: 'decisions' })],
]);
const enforcer = new Enforcer({ object: undefined, maps, rodata: undefined, links: new Map(), layoutVersion: LAYOUT_VERSION, pinDirectory: undefined });

afterAll(() => {
  enforcer.close();
  template.close();
});

/** Every entry of set `set`'s inner map, sorted, as hex pairs (to compare with encodeRules). */
function contents(set: number): string[] {
  const inner = maps.get('rules')!.lookupInnerMap(codecs.u32.encode(set));
  if (inner === undefined) return [];
  try {
    return [...inner.entries()].map(([key, value]) => `${key.toString('hex')}=${value.toString('hex')}`).sort();
  } finally {
    inner.close();
  }
}
const expected = (rules: Parameters<typeof encodeRules>[0]) => encodeRules(rules).map(({ key, value }) => `${Buffer.from(key).toString('hex')}=${Buffer.from(value).toString('hex')}`).sort();
const generation = (set: number) => maps.get('generations')!.typed(codecs.u32, codecs.u64).lookup(set) ?? 0n;

describe('Enforcer.setManyRules on real maps', () => {
  it('writes each set whole, new ones in one batch and pooled ones in place, and refuses a bad set alone', () => {
    const old = [{ path: '/srv/old' }];
    enforcer.setRules(3, old);
    enforcer.fillPool(1, { exclude: [0, 1, 2, 3] });
    const pooled = enforcer.pooledSets()[0]!;
    expect(pooled).toBe(4);
    const before = [1, 2, 3, pooled].map(generation);
    const sets = [
      { set: 1, rules: [{ path: '/etc/shadow' }, { path: '/srv/data/', operations: ['read' as const] }] },
      { set: 2, rules: [{ path: 'relative' }] },
      { set: 3, rules: [{ path: '/srv/new', operations: ['write' as const] }] },
      { set: pooled, rules: [{ path: '/srv/pooled' }] },
      { set: 1, rules: [{ path: '/twice' }] },
    ];
    const results = enforcer.setManyRules(sets);
    expect(results.map((result) => ('error' in result ? (result.error as Error).message : result.entries))).toEqual([
      expected(sets[0]!.rules).length,
      expect.stringMatching(/^encode rules: rules\[0\]\.path: /),
      expected(sets[2]!.rules).length,
      expected(sets[3]!.rules).length,
      'set rules: set: set 1 is given twice',
    ]);
    expect(contents(1)).toEqual(expected(sets[0]!.rules));
    expect(contents(2)).toEqual([]);
    expect(contents(3)).toEqual(expected(sets[2]!.rules));
    expect(contents(pooled)).toEqual(expected(sets[3]!.rules));
    expect(enforcer.pooledSets()).toEqual([]);
    // Every set written is marked changed (the decision cache drops its allows); the refused one is not.
    const after = [1, 2, 3, pooled].map(generation);
    expect(after.map((value, index) => value > before[index]!)).toEqual([true, false, true, true]);
    expect(enforcer.setsWithRules()).toEqual([1, 3, pooled]);
  });
});
