import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caught } from './__fixtures__/caught.js';
import {
  BPF_MAP_TYPE_ARRAY,
  BPF_MAP_TYPE_ARRAY_OF_MAPS,
  BPF_MAP_TYPE_HASH,
  BPF_MAP_TYPE_RINGBUF,
  EPERM,
  FakeBinding,
  type FakeObjectSpec,
} from './__fixtures__/fake-binding.js';
import { codecs } from './codec.js';
import { ENFORCER_MAP_NAMES, loadEnforcer, openPinnedEnforcer, Enforcer } from './enforcer.js';
import { DECISION_COUNTS_SIZE, LAYOUT_VERSION, RULE_KEY_SIZE, RULE_VALUE_SIZE, throttleConfigCodec } from './layout.js';
import { ScopeAllocator } from './scope-allocator.js';

/**
 * Unit tier: the enforcer pinned and taken over, against the fake binding,
 * whose pins are also empty files in a temporary directory (the pin
 * directory is listed with node:fs, as on bpffs). The kernel tier
 * (enforcer-pin.kernel.test.ts) does the same with real enforcement.
 */

const LPM_TRIE = 11;
const objectPath = '/fake/enforcer.bpf.o';

function enforcerSpec(layoutVersion = LAYOUT_VERSION): FakeObjectSpec {
  return {
    name: 'enforcer',
    programs: [
      { name: 'enforce_file_open', section: 'lsm/file_open' },
      { name: 'enforce_task_kill', section: 'lsm/task_kill' },
    ],
    maps: [
      { name: 'scopes', type: BPF_MAP_TYPE_HASH, keySize: 8, valueSize: 8, maxEntries: 4096 },
      {
        name: 'rules',
        type: BPF_MAP_TYPE_ARRAY_OF_MAPS,
        keySize: 4,
        valueSize: 4,
        maxEntries: 4096,
        innerMap: { type: LPM_TRIE, keySize: RULE_KEY_SIZE, valueSize: RULE_VALUE_SIZE, maxEntries: 1 },
      },
      { name: 'decisions', type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: DECISION_COUNTS_SIZE, maxEntries: 4096 },
      { name: 'throttle', type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 24, maxEntries: 4096 },
      { name: 'config', type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: throttleConfigCodec.size, maxEntries: 1 },
      { name: 'protected', type: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 4, maxEntries: 64 },
      { name: 'events', type: BPF_MAP_TYPE_RINGBUF, keySize: 0, valueSize: 0, maxEntries: 1 << 20 },
      { name: 'generations', type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 4096 },
      { name: 'identities', type: BPF_MAP_TYPE_HASH, keySize: 16, valueSize: 8, maxEntries: 65536 },
      { name: 'enforcer.rodata', type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, initialValue: codecs.u32.encode(layoutVersion) },
    ],
  };
}

let bpffs: string;
let directory: string;
let binding: FakeBinding;

beforeEach(() => {
  bpffs = mkdtempSync(join(tmpdir(), 'bulwark-takeover-'));
  directory = join(bpffs, 'bulwark');
  binding = new FakeBinding().addObject(objectPath, enforcerSpec());
  binding.bpffsRoot = bpffs;
  binding.pinFiles = true;
});

afterEach(() => {
  rmSync(bpffs, { recursive: true, force: true });
});

function loadPinned(): Enforcer {
  const enforcer = loadEnforcer({ object: objectPath, binding });
  enforcer.pin(directory);
  return enforcer;
}

const pinNames = [...ENFORCER_MAP_NAMES.map((name) => `map-${name}`), 'link-enforce_file_open', 'link-enforce_task_kill', 'map-rodata'].sort();

describe('Enforcer.pin', () => {
  it('pins every map, every link and the layout under the directory, which it makes', () => {
    using enforcer = loadPinned();
    expect(readdirSync(directory).sort()).toEqual(pinNames);
    expect(enforcer.pinDirectory).toBe(directory);
    // The layout pin comes last: where it is, the rest is.
    expect(binding.calls.filter((call) => call.startsWith('pin')).at(-1)).toBe(`pinMap ${join(directory, 'map-rodata')}`);
    expect(caught(() => enforcer.pin(join(bpffs, 'other')))).toMatchObject({ code: 'ERR_STATE', message: `pin enforcer: already pinned at ${directory}` });
  });

  it('removes the pins it made when one fails, and the directory it made', () => {
    using enforcer = loadEnforcer({ object: objectPath, binding });
    binding.failNext('pinLink', EPERM);
    expect(caught(() => enforcer.pin(directory))).toMatchObject({ code: 'ERR_SYSTEM', errno: 'EPERM' });
    expect(existsSync(directory)).toBe(false);
    expect(binding.mapPins.size + binding.pins.size).toBe(0);
    expect(enforcer.pinDirectory).toBeUndefined();
    // Nothing is left half done: it pins afterwards.
    enforcer.pin(directory);
    expect(readdirSync(directory).sort()).toEqual(pinNames);
  });
});

describe('openPinnedEnforcer', () => {
  it('reopens every map and link, sees what the first process wrote, and drives the same maps', () => {
    const first = loadPinned();
    first.setScope(4242n, 3);
    first.protect(100);
    first.setThrottle({ eventsPerSecond: 7, suppressMs: 2 });
    // The first process ends without a clean stop: its handles go, its pins stay.
    first.close();
    expect(binding.liveLinks).toBe(0);

    using second = openPinnedEnforcer(directory, { binding });
    expect(second.object).toBeUndefined();
    expect(second.layoutVersion).toBe(LAYOUT_VERSION);
    expect(second.pinDirectory).toBe(directory);
    expect([...second.links.keys()]).toEqual(['enforce_file_open', 'enforce_task_kill']);
    expect(second.scopes()).toEqual(new Map([[4242n, { scope: 3, set: 3 }]]));
    expect(second.protectedProcesses()).toEqual([100]);
    expect(throttleConfigCodec.decode(second.map('config').lookup(codecs.u32.encode(0))!)).toMatchObject({ eventsPerSecond: 7, suppressNs: 2_000_000n });

    // The same operations as a loaded enforcer, on the pinned maps.
    second.setScope(17n, 0);
    // Two scopes, one rule set.
    second.setScope(9n, 1, 3);
    expect(second.setRules(3, [{ path: '/etc/shadow' }])).toBeGreaterThan(0);
    expect(second.hasRules(3)).toBe(true);
    expect(second.setsWithRules()).toEqual([3]);
    expect(second.scopes()).toEqual(
      new Map([
        [9n, { scope: 1, set: 3 }],
        [17n, { scope: 0, set: 0 }],
        [4242n, { scope: 3, set: 3 }],
      ]),
    );
    expect(second.clearRules(3)).toBe(true);
    expect(second.setsWithRules()).toEqual([]);
    expect(second.removeScope(4242n)).toBe(true);
    expect(second.decisions(0)).toEqual({ allowed: 0n, denied: 0n, failed: 0n, audited: 0n, cached: 0n, lost: 0n });
    second.unprotect(100);
    second.protect(200);
    expect(second.protectedProcesses()).toEqual([200]);

    // A third process sees the second one's changes.
    using third = openPinnedEnforcer(directory, { binding });
    expect(third.scopes()).toEqual(
      new Map([
        [9n, { scope: 1, set: 3 }],
        [17n, { scope: 0, set: 0 }],
      ]),
    );
    // The registry can be rebuilt from what is in force.
    expect(ScopeAllocator.fromEntries([...third.scopes()].map(([cgroupId, entry]) => [cgroupId, entry.scope] as const)).allocate(5n)).toBe(2);
  });

  it('finds the rule sets by looking up only the sets a scope names or whose generation moved', () => {
    using enforcer = loadEnforcer({ object: objectPath, binding });
    enforcer.setRules(7, [{ path: '/etc/shadow' }]);
    enforcer.setRules(9, [{ path: '/etc/shadow' }]);
    enforcer.clearRules(9);
    // Put in place by hand, unmarked: seen only once a scope names its index.
    const byHand = (index: number) => {
      const inner = binding.createMap(LPM_TRIE, 'by_hand', RULE_KEY_SIZE, RULE_VALUE_SIZE, 1, {});
      binding.updateElement(enforcer.map('rules').fd, codecs.u32.encode(index), codecs.u32.encode(inner), 0);
    };
    byHand(2);
    byHand(3);
    enforcer.setScope(33n, 0, 3);
    const before = binding.calls.length;
    expect(enforcer.setsWithRules()).toEqual([3, 7]);
    expect(binding.calls.slice(before).filter((call) => call === 'lookupElement rules')).toHaveLength(3);
    expect(enforcer.hasRules(2)).toBe(true);
  });

  it('closes what it opened: no map fd or link handle is left', () => {
    loadPinned().close();
    const before = binding.openMapFds;
    const reopened = openPinnedEnforcer(directory, { binding });
    expect(binding.openMapFds).toBe(before + ENFORCER_MAP_NAMES.length + 1);
    expect(binding.liveLinks).toBe(2);
    reopened.close();
    reopened.close();
    expect(binding.openMapFds).toBe(before);
    expect(binding.liveLinks).toBe(0);
    // Closing a reopened enforcer leaves the pins, and so the enforcement.
    expect(readdirSync(directory).sort()).toEqual(pinNames);
    expect(caught(() => reopened.setScope(1n, 0))).toMatchObject({ code: 'ERR_STATE', message: expect.stringMatching(/: map scopes is closed$/) });
  });

  it('refuses a pinned enforcer of another layout, naming both versions', () => {
    // Loading refuses such an object before it attaches anything.
    const older = new FakeBinding().addObject(objectPath, enforcerSpec(LAYOUT_VERSION - 1));
    expect(caught(() => loadEnforcer({ object: objectPath, binding: older }))).toMatchObject({
      code: 'ERR_STATE',
      message: `load enforcer: ${objectPath} has map layout ${LAYOUT_VERSION - 1}, this package writes layout ${LAYOUT_VERSION}`,
    });
    expect(older.liveLinks).toBe(0);
    // A takeover: the layout pin swapped for an older object's .rodata.
    loadPinned().close();
    const rodata = join(directory, 'map-rodata');
    binding.removePin(rodata);
    const olderRodata = binding.createMap(BPF_MAP_TYPE_ARRAY, 'enforcer.rodata', 4, 4, 1, {});
    binding.updateElement(olderRodata, codecs.u32.encode(0), codecs.u32.encode(LAYOUT_VERSION - 1), 0);
    binding.pinFd(olderRodata, rodata);
    const openFds = binding.openMapFds;
    expect(caught(() => openPinnedEnforcer(directory, { binding }))).toMatchObject({
      code: 'ERR_STATE',
      message: `open pinned enforcer: ${directory} has map layout ${LAYOUT_VERSION - 1}, this package writes layout ${LAYOUT_VERSION}`,
    });
    expect(binding.openMapFds).toBe(openFds);
  });

  it('refuses a pin that holds another map than its name says', () => {
    loadPinned().close();
    const path = join(directory, 'map-protected');
    binding.removePin(path);
    binding.pinFd(binding.createMap(BPF_MAP_TYPE_HASH, 'something_else', 4, 4, 64, {}), path);
    expect(caught(() => openPinnedEnforcer(directory, { binding }))).toMatchObject({
      code: 'ERR_STATE',
      message: `open pinned enforcer: ${path} holds map something_else, not protected`,
    });
  });

  it('fails in one line when the directory holds no enforcer or part of one', () => {
    expect(caught(() => openPinnedEnforcer(directory, { binding }))).toMatchObject({
      code: 'ERR_STATE',
      message: `open pinned enforcer: no enforcer pinned at ${directory} (no such directory)`,
    });
    mkdirSync(directory);
    writeFileSync(join(directory, 'unrelated'), '');
    expect(caught(() => openPinnedEnforcer(directory, { binding }))).toMatchObject({
      message: `open pinned enforcer: no enforcer pinned at ${directory} (no map-* or link-* pins)`,
    });
    rmSync(directory, { recursive: true });

    loadPinned().close();
    for (const name of ['map-rodata', 'map-scopes']) binding.removePin(join(directory, name));
    expect(caught(() => openPinnedEnforcer(directory, { binding }))).toMatchObject({
      code: 'ERR_STATE',
      message: `open pinned enforcer: partial enforcer pins at ${directory}: missing map-scopes, map-rodata`,
    });
    for (const name of readdirSync(directory)) binding.removePin(join(directory, name));
    loadPinned().close();
    for (const name of ['link-enforce_file_open', 'link-enforce_task_kill']) binding.removePin(join(directory, name));
    const error = caught(() => openPinnedEnforcer(directory, { binding }));
    expect(error).toMatchObject({ message: `open pinned enforcer: partial enforcer pins at ${directory}: missing link-* (no program is attached)` });
    expect((error as Error).message).not.toContain('\n');
  });

  it('adds its context to a failure to open a pin', () => {
    loadPinned().close();
    binding.failNext('openPinned', EPERM);
    expect(caught(() => openPinnedEnforcer(directory, { binding }))).toMatchObject({
      code: 'ERR_SYSTEM',
      isPermission: true,
      message: `open pinned enforcer: open pinned map: operation not permitted (${join(directory, 'map-rodata')})`,
    });
  });
});

describe('Enforcer.fillPool', () => {
  it('puts empty maps at free indexes, fills one in place for setRules (no map-in-map update), and skips indexes in use', () => {
    const enforcer = loadPinned();
    enforcer.setRules(0, [{ path: '/etc/shadow', operations: ['read'] }]);
    enforcer.setScope(44n, 5, 1);
    const before = binding.calls.length;
    expect(enforcer.fillPool(3, { exclude: [2] })).toBe(3);
    // Set 0 holds rules, 1 is a scope's, 2 was excluded.
    expect(enforcer.pooledSets()).toEqual([3, 4, 5]);
    expect(binding.calls.slice(before).filter((call) => call.startsWith('createMap'))).toEqual(['createMap pool_rules', 'createMap pool_rules', 'createMap pool_rules']);
    expect(enforcer.hasRules(3)).toBe(false);
    expect(enforcer.fillPool(3)).toBe(0);

    const writing = binding.calls.length;
    expect(enforcer.setRules(4, [{ path: '/etc/gshadow', operations: ['read'] }])).toBeGreaterThan(0);
    const written = binding.calls.slice(writing);
    // Filled in place: no new map, no update of the outer map.
    expect(written.filter((call) => call.startsWith('createMap'))).toEqual([]);
    expect(written.filter((call) => call.startsWith('update') && call.endsWith(' rules'))).toEqual([]);
    expect(written.some((call) => call.startsWith('update') && call.endsWith(' pool_rules'))).toBe(true);
    expect(enforcer.pooledSets()).toEqual([3, 5]);
    expect(enforcer.hasRules(4)).toBe(true);
    expect(enforcer.setsWithRules()).toEqual([0, 4]);
    // A pooled index cleared is no rule set removed; the index is free again.
    expect(enforcer.clearRules(3)).toBe(false);
    expect(enforcer.pooledSets()).toEqual([5]);
    expect(enforcer.fillPool(2, { limit: 1 })).toBe(1);
    // The lowest free index first: 2, no longer excluded.
    expect(enforcer.pooledSets()).toEqual([2, 5]);
    enforcer.close();
  });
});

describe('Enforcer.setIdentities', () => {
  it('replaces one scope\'s identities, new before stale, leaves other scopes, and a taken-over enforcer sees them', () => {
    const enforcer = loadPinned();
    expect(enforcer.setIdentities(3, [{ dev: 45, ino: 12n, ops: 1, ruleId: 2 }, { dev: 45, ino: 13n, ops: 4, ruleId: 5 }])).toBe(2);
    expect(enforcer.setIdentities(4, [{ dev: 45, ino: 12n, ops: 2, ruleId: 9 }])).toBe(1);
    // The same file twice (two rule paths naming one inode): one identity with both operations.
    expect(enforcer.setIdentities(3, [{ dev: 45, ino: 12n, ops: 1, ruleId: 2 }, { dev: 45, ino: 2n ** 40n, ops: 8, ruleId: 6 }, { dev: 45, ino: 2n ** 40n, ops: 1, ruleId: 4 }])).toBe(2);
    expect(enforcer.identities(3)).toEqual([
      { dev: 45, ino: 12n, ops: 1, ruleId: 2 },
      { dev: 45, ino: 2n ** 40n, ops: 9, ruleId: 4 },
    ]);
    const taken = openPinnedEnforcer(directory, { binding });
    expect(taken.identities(4)).toEqual([{ dev: 45, ino: 12n, ops: 2, ruleId: 9 }]);
    expect(taken.clearIdentities(3)).toBe(2);
    expect(enforcer.identities(3)).toEqual([]);
    expect(enforcer.identities(4)).toHaveLength(1);
    taken.close();
    enforcer.close();
  });

  it('refuses a bad identity in one line naming its field, and writes nothing', () => {
    const enforcer = loadPinned();
    expect(caught(() => enforcer.setIdentities(1, [{ dev: 45, ino: 12n, ops: 1, ruleId: 1 }, { dev: -1, ino: 5 as unknown as bigint, ops: 0, ruleId: 1 }]))).toMatchObject({
      code: 'ERR_VALIDATION',
      message: 'set identities of scope 1: 1.dev: expected a 32-bit device number; 1.ino: expected a 64-bit inode number (a bigint); 1.ops: expected a non-empty set of operation bits',
    });
    expect(enforcer.identities(1)).toEqual([]);
    expect(caught(() => enforcer.setIdentities(4096, []))).toMatchObject({ code: 'ERR_VALIDATION', message: expect.stringMatching(/^set identities/u) });
    enforcer.close();
  });
});

describe('Enforcer.unpin', () => {
  it('removes every pin, the layout first, then the directory; the loaded enforcer still enforces until closed', () => {
    using enforcer = loadPinned();
    enforcer.unpin(directory);
    expect(existsSync(directory)).toBe(false);
    expect(binding.mapPins.size + binding.pins.size).toBe(0);
    const removals = binding.calls.filter((call) => call.startsWith('unpin'));
    expect(removals[0]).toBe(`unpinMap ${join(directory, 'map-rodata')}`);
    expect(removals).toHaveLength(pinNames.length);
    expect(enforcer.pinDirectory).toBeUndefined();
    expect(binding.liveLinks).toBe(2);
    enforcer.setScope(1n, 0);
    expect(caught(() => enforcer.unpin(directory))).toMatchObject({ code: 'ERR_STATE', message: 'unpin enforcer: the enforcer is not pinned' });
  });

  it('unpins a taken-over enforcer, leaves a directory that holds something else, and refuses another directory', () => {
    loadPinned().close();
    using reopened = openPinnedEnforcer(directory, { binding });
    expect(caught(() => reopened.unpin(join(bpffs, 'elsewhere')))).toMatchObject({
      message: `unpin enforcer: the enforcer is pinned at ${directory}, not ${join(bpffs, 'elsewhere')}`,
    });
    writeFileSync(join(directory, 'someone-else'), '');
    reopened.unpin(`${directory}/`);
    expect(readdirSync(directory)).toEqual(['someone-else']);
    expect(binding.mapPins.size + binding.pins.size).toBe(0);
  });

  it('counts a pin already removed as removed', () => {
    loadPinned().close();
    using reopened = openPinnedEnforcer(directory, { binding });
    binding.removePin(join(directory, 'map-events'));
    reopened.unpin(directory);
    expect(existsSync(directory)).toBe(false);
  });
});
