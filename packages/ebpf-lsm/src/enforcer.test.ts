import { describe, expect, it } from 'vitest';
import { FakeBinding } from './__fixtures__/fake-binding.js';
import { Enforcer, fillRuleMap, markRulesChanged } from './enforcer.js';
import { codecs } from './codec.js';
import { CONFIG_NO_CACHE, DECISION_COUNTS_SIZE, EVENT_SIZE, LAYOUT_VERSION, OPERATION_BITS, RULE_KEY_SIZE, RULE_VALUE_SIZE, SOURCE_ANY, eventRecordCodec, ruleKeyCodec, throttleConfigCodec } from './layout.js';
import { decodeDecisionCounts, decodeEnforcerEvent, decodeEventResource } from './records.js';
import { createMap, type BpfMap } from './map.js';
import { capabilityKey, encodeRules, presetKey, socketKey } from './rules.js';

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

  it('reads a resource by its operation: the socket and capability keys the program copies whole, paths, signals, dropped records', () => {
    /** A record whose resource is `resource` (a key's path field, or text), decoded as the ring buffer's reader does. */
    const event = (operation: number, resource: Uint8Array) =>
      decodeEnforcerEvent(
        eventRecordCodec.encode({
          timeNs: 1n,
          cgroupId: 2n,
          scope: 3,
          pid: 4,
          tgid: 4,
          uid: 0,
          operation,
          ruleId: 5,
          verdict: 1,
          dropped: 0,
          comm: new Uint8Array(16),
          resource: Uint8Array.from({ length: 252 }, (_, index) => resource[index] ?? 0),
          source: new Uint8Array(252),
        }),
      );
    const keyPath = (key: Buffer) => ruleKeyCodec.decode(key).path;
    // socket(AF_INET, SOCK_STREAM, IPPROTO_TCP): 01, then 02 00, 01 00, 06 00. AF_INET's zero byte cut the old string copy short.
    const socket = event(OPERATION_BITS.socket, keyPath(socketKey(SOURCE_ANY, 2, 1, 6)));
    expect(socket.resource).toBe('010200010006000000000000');
    expect(decodeEventResource(socket)).toEqual({ kind: 'socket', family: 2, type: 1, protocol: 6 });
    expect(decodeEventResource(event(OPERATION_BITS.socket, keyPath(socketKey(SOURCE_ANY, 17, 3, 768))))).toEqual({ kind: 'socket', family: 17, type: 3, protocol: 768 });
    expect(decodeEventResource(event(OPERATION_BITS.capability, keyPath(capabilityKey(SOURCE_ANY, 13))))).toEqual({ kind: 'capability', capability: 13 });
    expect(decodeEventResource(event(OPERATION_BITS.capability, keyPath(capabilityKey(SOURCE_ANY, 0))))).toEqual({ kind: 'capability', capability: 0 });
    expect(decodeEventResource(event(OPERATION_BITS.read, Buffer.from('/etc/shadow')))).toEqual({ kind: 'path', path: '/etc/shadow' });
    expect(decodeEventResource(event(OPERATION_BITS.exec, new Uint8Array(0)))).toEqual({ kind: 'path', path: '' });
    expect(decodeEventResource(event(OPERATION_BITS.signal, Buffer.from('sig')))).toEqual({ kind: 'signal', via: 'signal' });
    expect(decodeEventResource(event(OPERATION_BITS.signal, Buffer.from('ptr')))).toEqual({ kind: 'signal', via: 'ptrace' });
    expect(decodeEventResource(event(OPERATION_BITS.signal, Buffer.from('zzz')))).toEqual({ kind: 'signal' });
    expect(decodeEventResource(event(0, new Uint8Array(0)))).toEqual({ kind: 'none' });
    // A preset's exec with no path: its key.
    expect(decodeEventResource(event(OPERATION_BITS.exec, keyPath(presetKey(SOURCE_ANY, 'anonymousMapExec'))))).toEqual({ kind: 'preset', preset: 'anonymousMapExec' });
    expect(decodeEventResource(event(OPERATION_BITS.exec, keyPath(presetKey(SOURCE_ANY, 'filelessExec'))))).toEqual({ kind: 'preset', preset: 'filelessExec' });
    expect(decodeEventResource(event(OPERATION_BITS.read, keyPath(presetKey(SOURCE_ANY, 'filelessExec'))))).toEqual({ kind: 'unknown', resource: '040100000000000000000000' });
    expect(decodeEventResource({ operation: OPERATION_BITS.exec, resource: '0409' })).toEqual({ kind: 'unknown', resource: '0409' });
    // A capability key under the socket operation, a path under the capability one: unknown, not misread.
    expect(decodeEventResource(event(OPERATION_BITS.socket, keyPath(capabilityKey(SOURCE_ANY, 13))))).toEqual({ kind: 'unknown', resource: '020d00000000000000000000' });
    expect(decodeEventResource({ operation: OPERATION_BITS.capability, resource: '/etc/x' })).toEqual({ kind: 'unknown', resource: '/etc/x' });
  });
});

describe('decision counters', () => {
  it('decodes the six counters and refuses a value of another size', () => {
    const value = Buffer.alloc(DECISION_COUNTS_SIZE);
    [6n, 5n, 4n, 3n, 2n, 1n].forEach((count, index) => value.writeBigUInt64LE(count, index * 8));
    expect(decodeDecisionCounts(value)).toEqual({ allowed: 6n, denied: 5n, failed: 4n, audited: 3n, cached: 2n, lost: 1n });
    expect(() => decodeDecisionCounts(value.subarray(0, 40))).toThrow('decode decision counts: expected 48 bytes, got 40');
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

  it('refuses scope and set indexes outside 0 to 4095', () => {
    expect(() => enforcer.setScope(1n, 4096)).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION', message: 'set scope: scope: expected an integer from 0 to 4095, got 4096' }));
    expect(() => enforcer.setScope(1n, 0, 4096)).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION', message: 'set scope: set: expected an integer from 0 to 4095, got 4096' }));
    expect(() => enforcer.setRules(-1, [])).toThrow(/set rules: set: expected an integer from 0 to 4095, got -1/);
    expect(() => enforcer.decisions(1.5)).toThrow(/read decisions: scope/);
  });

  it('refuses a bad rule set whole, naming the rule', () => {
    expect(() => enforcer.setRules(0, [{ path: 'relative' }])).toThrow(/encode rules: rules\[0\]\.path: expected an absolute path/);
  });

  it('refuses to mark a set outside 0 to 4095', () => {
    expect(() => markRulesChanged(untouchable, 4096)).toThrow(/mark rules changed: set: expected an integer from 0 to 4095, got 4096/);
  });

  it('writes the throttle limits and the cache flag as struct throttle_config, keeping the other fields', () => {
    const binding = new FakeBinding();
    using config = createMap({ type: 'array', keySize: 4, valueSize: throttleConfigCodec.size, maxEntries: 1, name: 'config', binding });
    const withConfig = new Enforcer({ object: undefined, maps: new Map([['config', config]]), rodata: undefined, links: new Map(), layoutVersion: LAYOUT_VERSION, pinDirectory: undefined });
    withConfig.setDecisionCache(false);
    withConfig.setThrottle({ eventsPerSecond: 5, suppressMs: 1.5 });
    const read = () => throttleConfigCodec.decode(config.lookup(codecs.u32.encode(0))!);
    expect(read()).toEqual({ eventsPerSecond: 5, flags: CONFIG_NO_CACHE, suppressNs: 1_500_000n, hostScope: 0, hostSet: 0 });
    withConfig.setDecisionCache(true);
    expect(read()).toEqual({ eventsPerSecond: 5, flags: 0, suppressNs: 1_500_000n, hostScope: 0, hostSet: 0 });
    // The host scope is stored as its index plus one (0: none), beside the throttle, which it keeps.
    expect(withConfig.hostScope()).toBeUndefined();
    withConfig.setHostScope(4095);
    expect(read()).toEqual({ eventsPerSecond: 5, flags: 0, suppressNs: 1_500_000n, hostScope: 4096, hostSet: 4095 });
    expect(withConfig.hostScope()).toBe(4095);
    expect(withConfig.hostSet()).toBe(4095);
    // Its own set, which need not be the scope's index.
    withConfig.setHostScope(7, 2);
    expect(read()).toMatchObject({ hostScope: 8, hostSet: 2 });
    expect([withConfig.hostScope(), withConfig.hostSet()]).toEqual([7, 2]);
    withConfig.setHostScope(undefined);
    expect(read()).toMatchObject({ hostScope: 0, hostSet: 0 });
    expect(withConfig.hostSet()).toBeUndefined();
    expect(() => withConfig.setHostScope(4096)).toThrow('set host scope: scope: expected an integer from 0 to 4095, got 4096');
    expect(() => withConfig.setHostScope(1, 4096)).toThrow('set host scope: set: expected an integer from 0 to 4095, got 4096');
  });

  it('refuses throttle limits that are not positive', () => {
    expect(() => enforcer.setThrottle({ eventsPerSecond: 0, suppressMs: -1 })).toThrow(
      'set throttle: eventsPerSecond: expected a positive integer; suppressMs: expected a positive number of milliseconds',
    );
  });
});
