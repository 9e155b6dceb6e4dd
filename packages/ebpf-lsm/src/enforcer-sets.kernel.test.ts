import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { checkOpens, makeCgroup, startOpenLoop } from './__fixtures__/enforcer.js';
import { loadEnforcer, type Enforcer, type EnforcerEvent } from './index.js';
import type { Rule } from './rules.js';

/**
 * Kernel tier: rule sets shared by scopes (layout 7). A cgroup's `scopes`
 * entry names its scope (counters, throttle, events) and its set (the
 * rules, the generation): scopes sharing a set are each enforced and
 * counted on their own; a swap of a shared set reaches all of them at once
 * and whole; a scope moved to another set by one `scopes` update sees the
 * old set or the new one, never a mix, and no allow the decision cache
 * kept under the old set.
 */

let work: string;
let enforcer: Enforcer;
const cgroups: string[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-sets-'));
  const objectPath = join(work, 'enforcer.bpf.o');
  compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
  enforcer = loadEnforcer({ object: objectPath, attach: ['enforce_file_open'] });
  for (const name of ['a', 'b', 'file']) writeFileSync(join(work, name), `${name}\n`);
});

afterAll(() => {
  enforcer?.close();
  for (const cgroup of cgroups) rmdirSync(cgroup);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

const blockRead = (name: string, id: number): Rule[] => [{ path: join(work, name), operations: ['read'], id }];
/** Opens a and b for reading from each cgroup: label `<cgroup name>-<file>`. */
const opens = (scopes: Record<string, string>) =>
  checkOpens(Object.entries(scopes).flatMap(([label, cgroup]) => ['a', 'b'].map((file) => ({ label: `${label}-${file}`, cgroup, path: join(work, file) }))));
const denied = expect.stringMatching(/Operation not permitted/);

describe('rule sets shared by scopes in the kernel guest', () => {
  it('enforces each scope of a shared set, counts each on its own, and names each in its events', async () => {
    const one = makeCgroup('bulwark-sets', 'one', cgroups);
    const two = makeCgroup('bulwark-sets', 'two', cgroups);
    const other = makeCgroup('bulwark-sets', 'other', cgroups);
    enforcer.setRules(7, blockRead('a', 80));
    enforcer.setRules(8, blockRead('b', 81));
    for (const scope of [3, 4, 5]) enforcer.resetDecisions(scope);
    enforcer.setScope(one.id, 3, 7);
    enforcer.setScope(two.id, 4, 7);
    enforcer.setScope(other.id, 5, 8);
    expect(enforcer.scopes().get(two.id)).toEqual({ scope: 4, set: 7 });
    const events = enforcer.events();
    const iterator = events[Symbol.asyncIterator]();
    try {
      expect(opens({ one: one.path, two: two.path, other: other.path })).toEqual({ 'one-a': denied, 'one-b': 'ok', 'two-a': denied, 'two-b': 'ok', 'other-a': 'ok', 'other-b': denied });
      // One open of each scope's two was denied, in its own counters.
      for (const scope of [3, 4, 5]) expect(enforcer.decisions(scope)).toMatchObject({ denied: 1n });
      const seen: EnforcerEvent[] = [];
      for (let index = 0; index < 3; index++) seen.push((await iterator.next()).value as EnforcerEvent);
      expect(seen.map((event) => [event.scope, event.cgroupId, event.ruleId]).sort((x, y) => Number(x[0]) - Number(y[0]))).toEqual([
        [3, one.id, 80],
        [4, two.id, 80],
        [5, other.id, 81],
      ]);

      // One swap of the shared set reaches both of its scopes; the other set is untouched.
      enforcer.setRules(7, blockRead('b', 82));
      expect(opens({ one: one.path, two: two.path, other: other.path })).toEqual({ 'one-a': 'ok', 'one-b': denied, 'two-a': 'ok', 'two-b': denied, 'other-a': 'ok', 'other-b': denied });
      expect(enforcer.decisions(3)).toMatchObject({ denied: 2n });
      expect(enforcer.decisions(4)).toMatchObject({ denied: 2n });
      expect(enforcer.decisions(5)).toMatchObject({ denied: 2n });
    } finally {
      events.close();
    }
    for (const cgroup of [one, two, other]) enforcer.removeScope(cgroup.id);
    enforcer.clearRules(7);
    enforcer.clearRules(8);
  });

  it('moves one scope of a shared set to another set with one scopes update (a split), and no allow cached under the old set carries over', () => {
    const stays = makeCgroup('bulwark-sets', 'stays', cgroups);
    const moves = makeCgroup('bulwark-sets', 'moves', cgroups);
    enforcer.setRules(10, blockRead('a', 90));
    enforcer.setScope(stays.id, 10, 10);
    enforcer.setScope(moves.id, 11, 10);
    // b is allowed under set 10 (and kept in the decision cache for both scopes).
    expect(opens({ stays: stays.path, moves: moves.path })).toEqual({ 'stays-a': denied, 'stays-b': 'ok', 'moves-a': denied, 'moves-b': 'ok' });
    const cachedBefore = enforcer.decisions(11).cached;
    expect(opens({ moves: moves.path })).toEqual({ 'moves-a': denied, 'moves-b': 'ok' });
    expect(enforcer.decisions(11).cached).toBeGreaterThan(cachedBefore);

    // The split: a new set, written before the scope moves to it.
    enforcer.setRules(12, blockRead('b', 91));
    enforcer.setScope(moves.id, 11, 12);
    expect(opens({ stays: stays.path, moves: moves.path })).toEqual({ 'stays-a': denied, 'stays-b': 'ok', 'moves-a': 'ok', 'moves-b': denied });
    // And back: set 10's allow of b, cached before the move, is still good for set 10 and only there.
    enforcer.setScope(moves.id, 11, 10);
    expect(opens({ moves: moves.path })).toEqual({ 'moves-a': denied, 'moves-b': 'ok' });
    for (const cgroup of [stays, moves]) enforcer.removeScope(cgroup.id);
    for (const set of [10, 12]) enforcer.clearRules(set);
  });

  it('never lets an open through while a shared set is swapped, or while a scope flips between two sets', async () => {
    const file = join(work, 'file');
    const readBlocked: Rule[] = [{ path: file, operations: ['read'] }];
    const writeBlocked: Rule[] = [{ path: file, operations: ['write'] }];
    const open = `(: 1<> ${file}) 2>/dev/null`;
    const first = makeCgroup('bulwark-sets', 'swap-1', cgroups);
    const second = makeCgroup('bulwark-sets', 'swap-2', cgroups);
    const flipper = makeCgroup('bulwark-sets', 'flip', cgroups);
    enforcer.setRules(20, readBlocked);
    enforcer.setRules(21, readBlocked);
    enforcer.setRules(22, writeBlocked);
    enforcer.setScope(first.id, 20, 20);
    enforcer.setScope(second.id, 21, 20);
    enforcer.setScope(flipper.id, 22, 21);
    const readers = [startOpenLoop(first.path, open), startOpenLoop(second.path, open), startOpenLoop(flipper.path, open)];
    await Promise.all(readers.map((reader) => reader.ready));
    for (let index = 0; index < 60; index++) {
      enforcer.setRules(20, index % 2 === 0 ? writeBlocked : readBlocked);
      enforcer.setScope(flipper.id, 22, index % 2 === 0 ? 22 : 21);
      if (index % 10 === 0) await sleep(5);
    }
    await Promise.all(readers.map((reader) => reader.moreTries(20)));
    const counts = await Promise.all(readers.map((reader) => reader.stop()));
    for (const count of counts) {
      expect(count.tries).toBeGreaterThan(50);
      expect(count.opened).toBe(0);
    }
    for (const cgroup of [first, second, flipper]) enforcer.removeScope(cgroup.id);
    for (const set of [20, 21, 22]) enforcer.clearRules(set);
  });

  it('swaps many sets in one call (setManyRules), each whole and never letting an open through, and keeps a set refused in the call', async () => {
    const x = makeCgroup('bulwark-sets', 'many-x', cgroups);
    const y = makeCgroup('bulwark-sets', 'many-y', cgroups);
    const z = makeCgroup('bulwark-sets', 'many-z', cgroups);
    enforcer.setRules(40, blockRead('a', 100));
    enforcer.setRules(41, blockRead('a', 101));
    enforcer.setRules(42, blockRead('a', 102));
    enforcer.setScope(x.id, 40, 40);
    enforcer.setScope(y.id, 41, 41);
    enforcer.setScope(z.id, 42, 42);
    const results = enforcer.setManyRules([
      { set: 40, rules: blockRead('b', 103) },
      { set: 41, rules: blockRead('b', 104) },
      { set: 42, rules: [{ path: 'relative' }] },
    ]);
    expect(results.map((result) => ('error' in result ? 'refused' : result.entries))).toEqual([expect.any(Number), expect.any(Number), 'refused']);
    expect(opens({ x: x.path, y: y.path, z: z.path })).toEqual({ 'x-a': 'ok', 'x-b': denied, 'y-a': 'ok', 'y-b': denied, 'z-a': denied, 'z-b': 'ok' });

    // Swapped together, over and over, under readers of a file whose read each set blocks one way or the other.
    const file = join(work, 'file');
    const readBlocked: Rule[] = [{ path: file, operations: ['read'] }];
    const writeBlocked: Rule[] = [{ path: file, operations: ['write'] }];
    enforcer.setManyRules([
      { set: 40, rules: readBlocked },
      { set: 41, rules: writeBlocked },
    ]);
    const readers = [startOpenLoop(x.path, `(: 1<> ${file}) 2>/dev/null`), startOpenLoop(y.path, `(: 1<> ${file}) 2>/dev/null`)];
    await Promise.all(readers.map((reader) => reader.ready));
    for (let index = 0; index < 40; index++) {
      const flip = index % 2 === 0;
      const written = enforcer.setManyRules([
        { set: 40, rules: flip ? writeBlocked : readBlocked },
        { set: 41, rules: flip ? readBlocked : writeBlocked },
      ]);
      expect(written.every((result) => 'entries' in result)).toBe(true);
      if (index % 10 === 0) await sleep(5);
    }
    await Promise.all(readers.map((reader) => reader.moreTries(20)));
    const counts = await Promise.all(readers.map((reader) => reader.stop()));
    for (const count of counts) {
      expect(count.tries).toBeGreaterThan(30);
      expect(count.opened).toBe(0);
    }
    for (const cgroup of [x, y, z]) enforcer.removeScope(cgroup.id);
    for (const set of [40, 41, 42]) enforcer.clearRules(set);
  });

  it('leaves a scope unaffected once its set is removed, and lists only the sets still there', () => {
    const lone = makeCgroup('bulwark-sets', 'lone', cgroups);
    enforcer.setRules(30, blockRead('a', 95));
    enforcer.setScope(lone.id, 30, 30);
    expect(enforcer.setsWithRules()).toEqual([30]);
    expect(opens({ lone: lone.path })).toEqual({ 'lone-a': denied, 'lone-b': 'ok' });
    enforcer.removeScope(lone.id);
    expect(enforcer.clearRules(30)).toBe(true);
    expect(enforcer.hasRules(30)).toBe(false);
    expect(enforcer.setsWithRules()).toEqual([]);
  });
});
