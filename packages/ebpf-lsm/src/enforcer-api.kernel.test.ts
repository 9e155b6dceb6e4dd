import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { makeCgroup, probe } from './__fixtures__/enforcer.js';
import { loadEnforcer, type Enforcer, type EnforcerEvent } from './index.js';
import { OPERATION_BITS } from './layout.js';

/**
 * Kernel tier: the typed Enforcer (src/enforcer.ts) drives the enforcer in
 * the guest end to end: load with the layout check, a scope, a rule set
 * replaced whole, decoded events, counters, and a clean detach.
 */

let work: string;
let enforcer: Enforcer | undefined;
const cgroups: string[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-enforcer-api-'));
  const objectPath = join(work, 'enforcer.bpf.o');
  compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
  enforcer = loadEnforcer({ object: objectPath });
  for (const name of ['a', 'b']) writeFileSync(join(work, name), `${name}\n`);
  writeFileSync(join(work, 'probe.sh'), `for f in a b; do if (: < ${work}/$f) 2>/dev/null; then echo "$f ok"; else echo "$f denied"; fi; done\n`);
});

afterAll(() => {
  enforcer?.close();
  for (const cgroup of cgroups) rmdirSync(cgroup);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

describe('the typed Enforcer in the kernel guest', () => {
  it('loads with every program attached, enforces a scope, swaps its rules, reports decoded events, and detaches', async () => {
    const active = enforcer!;
    expect(active.links.size).toBe(active.object?.programs().length);
    const scope = makeCgroup('bulwark-api', 'a', cgroups);
    active.setScope(scope.id, 9);
    expect(active.setRules(9, [{ path: join(work, 'a'), operations: ['read'], id: 70 }])).toBeGreaterThan(0);
    const events = active.events();
    const iterator = events[Symbol.asyncIterator]();
    try {
      expect(probe(join(work, 'probe.sh'), scope.path)).toEqual({ a: 'denied', b: 'ok' });
      const first = (await iterator.next()).value as EnforcerEvent;
      expect(first).toMatchObject({ scope: 9, cgroupId: scope.id, verdict: 'block', ruleId: 70, operation: OPERATION_BITS.read, resource: join(work, 'a') });
      expect(first.source).toMatch(/sh$|dash$/);

      // The whole set replaced: now b is audited and a is free.
      active.setRules(9, [{ path: join(work, 'b'), operations: ['read'], action: 'audit', id: 71 }]);
      expect(probe(join(work, 'probe.sh'), scope.path)).toEqual({ a: 'ok', b: 'ok' });
      const second = (await iterator.next()).value as EnforcerEvent;
      expect(second).toMatchObject({ verdict: 'audit', ruleId: 71, resource: join(work, 'b') });
      expect(active.decisions(9)).toMatchObject({ denied: 1n, audited: 1n });

      expect(() => active.setRules(9, [{ path: 'relative' }])).toThrow(/rules\[0\]\.path/);
      expect(active.clearRules(9)).toBe(true);
      expect(active.removeScope(scope.id)).toBe(true);
      expect(active.removeScope(scope.id)).toBe(false);
    } finally {
      events.close();
    }
    active.close();
    enforcer = undefined;
    // Detached: nothing is denied any more, in the cgroup that was a scope or anywhere.
    expect(probe(join(work, 'probe.sh'), scope.path)).toEqual({ a: 'ok', b: 'ok' });
  });
});
