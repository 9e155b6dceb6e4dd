import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { makeCgroup as makeScopeCgroup, ruleMap, startOpenLoop } from './__fixtures__/enforcer.js';
import { codecs, createRuleMap, markRulesChanged, openObject, scopeEntryCodec, type LoadedObject } from './index.js';
import { encodeRules, type Rule } from './rules.js';

/**
 * Kernel tier: a scope's rule set is replaced atomically. One rule set
 * blocks reading a file, the other blocks writing it, so an open for
 * reading and writing is denied under either; only a mix of the two (the
 * old rule gone, the new one not yet there) would let it through. A reader
 * in the scope opens the file that way in a tight loop while the rule sets
 * are swapped back and forth. The control does the same change in place
 * (delete, then insert, in one inner map), which does let it through: so
 * the reader can see a mix when there is one.
 */

let work: string;
let object: LoadedObject;
const cgroups: string[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-swap-'));
  const objectPath = join(work, 'enforcer.bpf.o');
  compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
  object = openObject(objectPath).load();
  object.program('enforce_file_open').attach();
  writeFileSync(join(work, 'file'), 'data\n');
});

afterAll(() => {
  object?.close();
  for (const cgroup of cgroups) rmdirSync(cgroup);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

/** A reader in `cgroup` that keeps opening the file for reading and writing (startOpenLoop). */
const startReader = (cgroup: string) => startOpenLoop(cgroup, `(: 1<> ${join(work, 'file')}) 2>/dev/null`);

const readBlocked: Rule[] = [{ path: '', operations: ['read'] }];
const writeBlocked: Rule[] = [{ path: '', operations: ['write'] }];
const withPath = (rules: Rule[], path: string): Rule[] => rules.map((rule) => ({ ...rule, path }));

describe('atomic rule-set replacement in the kernel guest', () => {
  it('never lets an open through while whole rule sets are swapped; an in-place change does', async () => {
    const file = join(work, 'file');
    const scopes = object.map('scopes').typed(codecs.u64, scopeEntryCodec);

    // Swapped whole: a new inner map each time.
    const swapped = makeScopeCgroup('bulwark-swap', 'whole', cgroups);
    scopes.update(swapped.id, { scope: 0, set: 0 });
    const generations = object.map('generations');
    object.map('rules').updateInnerMap(codecs.u32.encode(0), ruleMap('swap_first', withPath(readBlocked, file)));
    markRulesChanged(generations, 0);
    const reader = startReader(swapped.path);
    await reader.ready;
    const swaps = 120;
    for (let index = 0; index < swaps; index++) {
      const map = ruleMap(`swap_${index % 2}`, withPath(index % 2 === 0 ? writeBlocked : readBlocked, file));
      object.map('rules').updateInnerMap(codecs.u32.encode(0), map);
      map.close();
      // As Enforcer.setRules does: the decision cache drops what the old set allowed.
      markRulesChanged(generations, 0);
      // Let the reader run between swaps too.
      if (index % 10 === 0) await sleep(5);
    }
    const whole = await reader.stop();
    // The reader really ran during the swaps: hundreds of opens, none let through.
    expect(whole.tries).toBeGreaterThan(100);
    expect(whole.opened).toBe(0);

    // Changed in place: delete the old rule's key, wait a moment, insert the new one.
    const inPlace = makeScopeCgroup('bulwark-swap', 'in-place', cgroups);
    scopes.update(inPlace.id, { scope: 1, set: 1 });
    const readEntries = encodeRules(withPath(readBlocked, file));
    const writeEntries = encodeRules(withPath(writeBlocked, file));
    const inner = createRuleMap(readEntries, 'swap_in_place');
    object.map('rules').updateInnerMap(codecs.u32.encode(1), inner);
    const control = startReader(inPlace.path);
    await control.ready;
    for (let index = 0; index < 20; index++) {
      const [from, to] = index % 2 === 0 ? [readEntries, writeEntries] : [writeEntries, readEntries];
      for (const { key } of from) inner.delete(key);
      markRulesChanged(generations, 1);
      await sleep(20);
      for (const { key, value } of to) inner.update(key, value);
      markRulesChanged(generations, 1);
      await sleep(5);
    }
    inner.close();
    expect((await control.stop()).opened).toBeGreaterThan(0);
  });
});
