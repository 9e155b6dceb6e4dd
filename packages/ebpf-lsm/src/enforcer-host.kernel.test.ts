import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { makeCgroup, probe } from './__fixtures__/enforcer.js';
import { loadEnforcer, type Enforcer, type EnforcerEvent } from './index.js';

/**
 * Kernel tier: the host scope (host policies). Its rules decide for user
 * processes of the initial pid namespace that are in no container scope,
 * never for a process in a pid namespace of its own, in a container scope,
 * or protected (the agent); a protected process may still be signalled by
 * the host. And events the ring buffer has no room for are counted.
 */

let work: string;
let enforcer: Enforcer | undefined;
const cgroups: string[] = [];
const HOST = 40;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-enforcer-host-'));
  const objectPath = join(work, 'enforcer.bpf.o');
  compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
  enforcer = loadEnforcer({ object: objectPath });
  for (const name of ['secret', 'other']) writeFileSync(join(work, name), `${name}\n`);
  writeFileSync(join(work, 'probe.sh'), `for f in secret other; do if (: < ${work}/$f) 2>/dev/null; then echo "$f ok"; else echo "$f denied"; fi; done\n`);
});

afterAll(() => {
  enforcer?.setHostScope(undefined);
  enforcer?.close();
  for (const cgroup of cgroups) rmdirSync(cgroup);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

/** Runs `sh -c script` as a host process that waits for a line on stdin before it goes on; `before` runs with its pid first. */
async function runAfter(script: string, before: (pid: number) => void): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn('sh', ['-c', `read line; ${script}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<number | null>((resolve) => child.on('close', resolve));
  before(child.pid!);
  child.stdin.end('go\n');
  return { status: await done, stdout, stderr };
}

describe('the host scope in the kernel guest', () => {
  it('decides for host processes only: not a new pid namespace, not a container scope, not a protected process', async () => {
    const active = enforcer!;
    expect(active.hostScope()).toBeUndefined();
    active.setRules(HOST, [{ path: join(work, 'secret'), operations: ['read'], id: 90 }]);
    // Rules alone decide nothing: the scope is not the host's yet.
    expect(probe(join(work, 'probe.sh'), undefined, { pidNamespace: false })).toEqual({ secret: 'ok', other: 'ok' });

    active.setHostScope(HOST);
    expect(active.hostScope()).toBe(HOST);
    const events = active.events();
    const iterator = events[Symbol.asyncIterator]();
    try {
      expect(probe(join(work, 'probe.sh'), undefined, { pidNamespace: false })).toEqual({ secret: 'denied', other: 'ok' });
      const event = (await iterator.next()).value as EnforcerEvent;
      expect(event).toMatchObject({ scope: HOST, verdict: 'block', ruleId: 90, resource: join(work, 'secret') });

      // A process in a pid namespace of its own is a container's, never the host's.
      expect(probe(join(work, 'probe.sh'))).toEqual({ secret: 'ok', other: 'ok' });
      // A process in a container scope is decided by that scope's rules (here: none for secret).
      const container = makeCgroup('bulwark-host', 'c', cgroups);
      active.setRules(41, [{ path: join(work, 'other'), operations: ['read'], id: 91 }]);
      active.setScope(container.id, 41);
      expect(probe(join(work, 'probe.sh'), container.path, { pidNamespace: false })).toEqual({ secret: 'ok', other: 'denied' });

      // A protected process (the agent) is under no host policy.
      const exempt = await runAfter(`exec cat ${join(work, 'secret')}`, (pid) => active.protect(pid));
      expect(exempt).toMatchObject({ status: 0, stdout: 'secret\n' });
      const unprotected = await runAfter(`exec cat ${join(work, 'secret')}`, () => undefined);
      expect(unprotected.status).not.toBe(0);
      expect(unprotected.stderr).toMatch(/Operation not permitted/u);

      // The host may still signal a protected process (a service manager stops the agent); a container scope may not.
      const guarded = spawn('sleep', ['60']);
      const exited = new Promise((resolve) => guarded.on('exit', resolve));
      active.protect(guarded.pid!);
      const fromContainer = spawnSync('sh', ['-c', `echo $$ > ${container.path}/cgroup.procs && kill -TERM ${guarded.pid}`], { encoding: 'utf8' });
      expect(fromContainer.status).not.toBe(0);
      expect(fromContainer.stderr).toMatch(/Operation not permitted/u);
      const fromHost = spawnSync('sh', ['-c', `kill -TERM ${guarded.pid}`], { encoding: 'utf8' });
      expect(fromHost.status, fromHost.stderr).toBe(0);
      await exited;
      active.unprotect(guarded.pid!);

      active.setHostScope(undefined);
      expect(active.hostScope()).toBeUndefined();
      expect(probe(join(work, 'probe.sh'), undefined, { pidNamespace: false })).toEqual({ secret: 'ok', other: 'ok' });
      active.removeScope(container.id);
      active.clearRules(41);
      active.clearRules(HOST);
    } finally {
      events.close();
    }
  });

  it('counts the events a full ring buffer had no room for', () => {
    const active = enforcer!;
    const container = makeCgroup('bulwark-host', 'flood', cgroups);
    active.setThrottle({ eventsPerSecond: 1_000_000, suppressMs: 1000 });
    active.resetDecisions(42);
    active.setRules(42, [{ path: join(work, 'secret'), operations: ['read'], id: 92 }]);
    active.setScope(container.id, 42);
    const before = active.lostEvents();
    // Nobody reads the ring: 1 MiB holds fewer than 2,000 records of 560 bytes.
    const flood = spawnSync('sh', ['-c', `echo $$ > ${container.path}/cgroup.procs; exec 2>/dev/null; i=0; while [ $i -lt 2500 ]; do true < ${join(work, 'secret')} || :; i=$((i + 1)); done`], { encoding: 'utf8', timeout: 300_000 });
    expect(flood.status).toBe(0);
    const counts = active.decisions(42);
    expect(counts.denied).toBe(2500n);
    expect(counts.lost).toBeGreaterThan(0n);
    expect(counts.lost).toBeLessThan(2500n);
    expect(active.lostEvents() - before).toBe(counts.lost);
    active.removeScope(container.id);
    active.clearRules(42);
  });
});
