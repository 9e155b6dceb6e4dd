import { describe, expect, it } from 'vitest';
import { FakeBinding } from './__fixtures__/fake-binding.js';
import { Enforcer, fillRuleMap, markRulesChanged } from './enforcer.js';
import { codecs } from './codec.js';
import { CONFIG_NO_CACHE, DECISION_COUNTS_SIZE, LAYOUT_VERSION, EVENT_SIZE, RULE_KEY_SIZE, RULE_VALUE_SIZE, throttleConfigCodec } from './layout.js';
import { decodeDecisionCounts, decodeEnforcerEvent } from './records.js';
import { createMap, type BpfMap } from './map.js';
import { encodeRules } from './rules.js';

describe('enforcer events', () => {
  it('decodes a record field by field, paths as text and other resources as key bytes', () => {
    const record = Buffer.alloc(EVENT_SIZE);
    record.writeBigUInt64LE(123n, 0);
    record.writeBigUInt64LE(456n, 8);
    [7, 100, 99, 1000, 2, 42, 1, 0].forEach((value, index) => record.writeUInt32LE(value, 16 + index * 4));
    record.write('cat', 48);
    record.write('/etc/shadow', 64);
    record.write('/usr/bin/cat', 64 + 252);
    expect(decodeEnforcerEvent(record)).toEqual({
      timeNs: 123n,
      cgroupId: 456n,
      scope: 7,
      pid: 100,
      tgid: 99,
      uid: 1000,
      operation: 2,
      ruleId: 42,
      verdict: 'block',
      dropped: 0,
      comm: 'cat',
      resource: '/etc/shadow',
      source: '/usr/bin/cat',
    });
    record.fill(0, 64, 64 + 252);
    record[64] = 2; // a capability key: 2, then u32 13
    record.writeUInt32LE(13, 65);
    record.writeUInt32LE(6, 40);
    expect(decodeEnforcerEvent(record)).toMatchObject({ resource: '020d0000000000000000000000000000'.slice(0, 24), verdict: 'dropped' });
    expect(() => decodeEnforcerEvent(record.subarray(1))).toThrow(/decode enforcer event: expected 568 bytes, got 567/);
  });
});

describe('decision counters', () => {
  it('decodes the five counters and refuses a value of another size', () => {
    const value = Buffer.alloc(DECISION_COUNTS_SIZE);
    [5n, 4n, 3n, 2n, 1n].forEach((count, index) => value.writeBigUInt64LE(count, index * 8));
    expect(decodeDecisionCounts(value)).toEqual({ allowed: 5n, denied: 4n, failed: 3n, audited: 2n, cached: 1n });
    expect(() => decodeDecisionCounts(value.subarray(0, 32))).toThrow('decode decision counts: expected 40 bytes, got 32');
  });
});

describe('rule maps', () => {
  it('fills a rule map one entry at a time where the kernel has no batch update for its type', () => {
    const binding = new FakeBinding(); // its kernel has no batch operations for LPM tries
    const entries = encodeRules([{ path: '/etc/shadow' }, { path: '/srv/', operations: ['read'] }]);
    using map = createMap({ type: 'lpm_trie', flags: 1, keySize: RULE_KEY_SIZE, valueSize: RULE_VALUE_SIZE, maxEntries: entries.length, name: 'rules', binding });
    fillRuleMap(map, entries);
    for (const { key, value } of entries) expect(map.lookup(key)).toEqual(value);
    // The batch probe, refused, then one update per entry.
    expect(binding.calls.filter((call) => call.startsWith('update'))).toEqual(['updateBatch rules', ...entries.map(() => 'updateElement rules')]);
  });
});

describe('Enforcer argument checks (before any map is touched)', () => {
  // An enforcer with no maps at all: every check below fails before one is looked for.
  const untouchable = new Proxy({}, { get: () => { throw new Error('touched the map'); } }) as unknown as BpfMap;
  const enforcer = new Enforcer({ object: undefined, maps: new Map(), rodata: undefined, links: new Map(), layoutVersion: LAYOUT_VERSION, pinDirectory: undefined });

  it('refuses scope indexes outside 0 to 4095', () => {
    expect(() => enforcer.setScope(1n, 4096)).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION', message: 'set scope: scope: expected an integer from 0 to 4095, got 4096' }));
    expect(() => enforcer.setRules(-1, [])).toThrow(/set rules: scope: expected an integer from 0 to 4095, got -1/);
    expect(() => enforcer.decisions(1.5)).toThrow(/read decisions: scope/);
  });

  it('refuses a bad rule set whole, naming the rule', () => {
    expect(() => enforcer.setRules(0, [{ path: 'relative' }])).toThrow(/encode rules: rules\[0\]\.path: expected an absolute path/);
  });

  it('refuses to mark a scope outside 0 to 4095', () => {
    expect(() => markRulesChanged(untouchable, 4096)).toThrow(/mark rules changed: scope: expected an integer from 0 to 4095, got 4096/);
  });

  it('writes the throttle limits and the cache flag as struct throttle_config, keeping the other fields', () => {
    const binding = new FakeBinding();
    using config = createMap({ type: 'array', keySize: 4, valueSize: throttleConfigCodec.size, maxEntries: 1, name: 'config', binding });
    const withConfig = new Enforcer({ object: undefined, maps: new Map([['config', config]]), rodata: undefined, links: new Map(), layoutVersion: LAYOUT_VERSION, pinDirectory: undefined });
    withConfig.setDecisionCache(false);
    withConfig.setThrottle({ eventsPerSecond: 5, suppressMs: 1.5 });
    const read = () => throttleConfigCodec.decode(config.lookup(codecs.u32.encode(0))!);
    expect(read()).toEqual({ eventsPerSecond: 5, flags: CONFIG_NO_CACHE, suppressNs: 1_500_000n });
    withConfig.setDecisionCache(true);
    expect(read()).toEqual({ eventsPerSecond: 5, flags: 0, suppressNs: 1_500_000n });
  });

  it('refuses throttle limits that are not positive', () => {
    expect(() => enforcer.setThrottle({ eventsPerSecond: 0, suppressMs: -1 })).toThrow(
      'set throttle: eventsPerSecond: expected a positive integer; suppressMs: expected a positive number of milliseconds',
    );
  });
});
