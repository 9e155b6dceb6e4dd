import { describe, expect, it } from 'vitest';
import { caught } from './__fixtures__/caught.js';
import { MAX_SCOPES } from './layout.js';
import { ScopeAllocator } from './scope-allocator.js';
import * as pure from './rules-entry.js';

describe('ScopeAllocator', () => {
  it('gives the lowest free index, the same one again for the same cgroup, and reuses a released one first', () => {
    const allocator = new ScopeAllocator();
    expect(allocator.capacity).toBe(MAX_SCOPES);
    expect([10n, 20n, 30n, 40n].map((id) => allocator.allocate(id))).toEqual([0, 1, 2, 3]);
    expect(allocator.allocate(30n)).toBe(2);
    expect(allocator.size).toBe(4);
    expect(allocator.release(20n)).toBe(1);
    expect(allocator.release(20n)).toBeUndefined();
    expect(allocator.release(10n)).toBe(0);
    expect(allocator.indexOf(20n)).toBeUndefined();
    // Lowest first, whatever the order of release.
    expect(allocator.allocate(50n)).toBe(0);
    expect(allocator.allocate(60n)).toBe(1);
    expect(allocator.allocate(70n)).toBe(4);
    expect(allocator.indexOf(60n)).toBe(1);
    expect(allocator.cgroupAt(4)).toBe(70n);
    expect(allocator.cgroupAt(5)).toBeUndefined();
    expect([...allocator.entries()]).toEqual([
      [50n, 0],
      [60n, 1],
      [30n, 2],
      [40n, 3],
      [70n, 4],
    ]);
  });

  it('is deterministic: the same calls give the same indexes and the same JSON', () => {
    const run = () => {
      const allocator = new ScopeAllocator({ capacity: 64 });
      for (let id = 1n; id <= 40n; id++) allocator.allocate(id * 7919n);
      for (let id = 3n; id <= 40n; id += 3n) allocator.release(id * 7919n);
      for (let id = 100n; id < 110n; id++) allocator.allocate(id);
      return JSON.stringify(allocator);
    };
    expect(run()).toBe(run());
  });

  it('fills all 4096 scopes, then throws a StateError, and has room again after a release', () => {
    const allocator = new ScopeAllocator();
    for (let id = 1n; id <= BigInt(MAX_SCOPES); id++) allocator.allocate(id);
    expect(allocator.indexOf(4096n)).toBe(4095);
    expect(caught(() => allocator.allocate(5000n))).toMatchObject({ name: 'StateError', code: 'ERR_STATE', message: 'scope allocator: all 4096 scopes in use' });
    // A cgroup that has an index still gets it.
    expect(allocator.allocate(17n)).toBe(16);
    allocator.release(2000n);
    expect(allocator.allocate(5000n)).toBe(1999);
    const small = new ScopeAllocator({ capacity: 2 });
    small.allocate(1n);
    small.allocate(2n);
    expect(caught(() => small.allocate(3n))).toMatchObject({ message: 'scope allocator: all 2 scopes in use' });
  });

  it('round-trips through JSON with cgroup ids as decimal strings, by index', () => {
    const allocator = new ScopeAllocator();
    allocator.allocate(18446744073709551615n);
    allocator.allocate(12345n);
    allocator.release(18446744073709551615n);
    allocator.allocate(99n);
    const json = allocator.toJSON();
    expect(json).toEqual({
      capacity: 4096,
      scopes: [
        { cgroupId: '99', index: 0 },
        { cgroupId: '12345', index: 1 },
      ],
    });
    const restored = ScopeAllocator.fromJSON(JSON.parse(JSON.stringify(json)));
    expect(restored.toJSON()).toEqual(json);
    expect(restored.allocate(12345n)).toBe(1);
    expect(restored.allocate(7n)).toBe(2);
    // A gap persisted stays a gap to fill first.
    const gapped = ScopeAllocator.fromJSON({ capacity: 8, scopes: [{ cgroupId: '5', index: 3 }] });
    expect([gapped.allocate(6n), gapped.allocate(7n), gapped.allocate(8n), gapped.allocate(9n)]).toEqual([0, 1, 2, 4]);
  });

  it('refuses bad JSON, naming every bad field', () => {
    expect(caught(() => ScopeAllocator.fromJSON(null))).toMatchObject({ code: 'ERR_VALIDATION', message: 'scope allocator json: expected an object with capacity and scopes, got null' });
    expect(caught(() => ScopeAllocator.fromJSON({ capacity: 5000, scopes: [] }))).toMatchObject({ message: 'scope allocator json: capacity: expected an integer from 1 to 4096, got 5000' });
    expect(caught(() => ScopeAllocator.fromJSON({ capacity: 4, scopes: {} }))).toMatchObject({ message: 'scope allocator json: scopes: expected an array, got an object' });
    const error = caught(() =>
      ScopeAllocator.fromJSON({
        capacity: 4,
        scopes: [
          { cgroupId: '10', index: 0 },
          { cgroupId: '011', index: 1 },
          { cgroupId: 12, index: 1 },
          { cgroupId: '13', index: 4 },
          { cgroupId: '14', index: 0 },
          { cgroupId: '10', index: 2 },
          { cgroupId: '18446744073709551616', index: 3 },
          'x',
        ],
      }),
    );
    expect(error).toMatchObject({
      code: 'ERR_VALIDATION',
      issues: [
        { path: 'scopes.1.cgroupId', message: 'expected a decimal string from 1 to 18446744073709551615, got "011"' },
        { path: 'scopes.2.cgroupId', message: 'expected a decimal string from 1 to 18446744073709551615, got 12' },
        { path: 'scopes.3.index', message: 'expected an integer from 0 to 3, got 4' },
        { path: 'scopes.4', message: "index 0 is cgroup 10's, not cgroup 14's" },
        { path: 'scopes.5', message: 'cgroup 10 has index 0, not 2' },
        { path: 'scopes.6.cgroupId', message: 'expected a decimal string from 1 to 18446744073709551615, got "18446744073709551616"' },
        { path: 'scopes.7', message: 'expected { cgroupId, index }, got "x"' },
      ],
    });
  });

  it('builds from the scopes in force, and assigns known pairs', () => {
    const allocator = ScopeAllocator.fromEntries(
      new Map([
        [300n, 2],
        [100n, 0],
      ]),
    );
    expect(allocator.allocate(200n)).toBe(1);
    expect(allocator.allocate(400n)).toBe(3);
    allocator.assign(500n, 9);
    allocator.assign(500n, 9);
    expect(allocator.allocate(600n)).toBe(4);
    expect(caught(() => allocator.assign(700n, 9))).toMatchObject({ code: 'ERR_STATE', message: "assign scope: index 9 is cgroup 500's, not cgroup 700's" });
    expect(caught(() => allocator.assign(500n, 10))).toMatchObject({ code: 'ERR_STATE', message: 'assign scope: cgroup 500 has index 9, not 10' });
    expect(caught(() => allocator.assign(800n, 4096))).toMatchObject({ code: 'ERR_VALIDATION', message: 'assign scope: index: expected an integer from 0 to 4095, got 4096' });
    expect(
      caught(() =>
        ScopeAllocator.fromEntries([
          [1n, 0],
          [2n, 0],
        ]),
      ),
    ).toMatchObject({ code: 'ERR_VALIDATION', message: "scope allocator entries: 1: index 0 is cgroup 1's, not cgroup 2's" });
  });

  it('refuses cgroup ids that are not u64 bigints and capacities outside 1 to 4096', () => {
    const allocator = new ScopeAllocator();
    expect(caught(() => allocator.allocate(0n))).toMatchObject({ code: 'ERR_VALIDATION', message: 'allocate scope: cgroupId: expected a bigint from 1 to 18446744073709551615, got 0n' });
    expect(caught(() => allocator.allocate(12 as unknown as bigint))).toMatchObject({ message: /got 12$/ });
    expect(caught(() => allocator.release(1n << 64n))).toMatchObject({ message: /^release scope: cgroupId:/ });
    expect(caught(() => allocator.cgroupAt(-1))).toMatchObject({ message: 'look up scope: index: expected an integer from 0 to 4095, got -1' });
    expect(caught(() => new ScopeAllocator({ capacity: 0 }))).toMatchObject({ message: 'scope allocator: capacity: expected an integer from 1 to 4096, got 0' });
  });

  it('is exported from the pure subpath, with its error', () => {
    expect(pure.ScopeAllocator).toBe(ScopeAllocator);
    const full = new pure.ScopeAllocator({ capacity: 1 });
    full.allocate(1n);
    expect(caught(() => full.allocate(2n))).toBeInstanceOf(pure.StateError);
  });
});
