import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, renameSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { makeCgroup, ruleMap } from './__fixtures__/enforcer.js';
import { codecs, loadEnforcer, markRulesChanged, type DecisionCounts, type Enforcer } from './index.js';

/**
 * Kernel tier: the decision cache (enforcer.bpf.c, "The decision cache").
 * An allowed open is kept on the inode and reused only while resolving the
 * path again would give the path it was decided for, under the same rule
 * set. Each case opens files from a scope, changes something on the host
 * (the rules, a name, a mount) and opens again: what the change makes
 * denied must be denied at once. The probes stay in the host's mount
 * namespace (no unshare), so that one probe's cached allows are there for
 * the next, as they are for a container's long-lived processes.
 */

let work: string;
let tree: string;
let enforcer: Enforcer | undefined;
const cgroups: string[] = [];
const mounts: string[] = [];

function sh(command: string): void {
  const run = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
  expect(run.status, `${command}: ${run.stderr}`).toBe(0);
}

/** Runs `body` in `cgroup`; `o LABEL PATH` opens PATH for reading and prints `LABEL ok` or `LABEL denied`. */
function inScope(cgroup: string, body: string): Record<string, string> {
  const prelude = `o() { if ( : < "$2" ) 2>&-; then echo "$1 ok"; else echo "$1 denied"; fi; }\n`;
  const run = spawnSync('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && ${prelude}${body}`], { encoding: 'utf8', timeout: 60_000 });
  expect(run.status, run.stderr).toBe(0);
  return Object.fromEntries(run.stdout.trim().split('\n').map((line) => line.split(' ') as [string, string]));
}

const delta = (after: DecisionCounts, before: DecisionCounts) => ({
  allowed: after.allowed - before.allowed,
  cached: after.cached - before.cached,
  audited: after.audited - before.audited,
});

/** A fresh scope `index` for a case, with its files under tree/NAME. */
function scope(name: string, index: number) {
  const cgroup = makeCgroup('bulwark-cache', name, cgroups);
  enforcer!.setScope(cgroup.id, index);
  const base = join(tree, name);
  mkdirSync(base);
  return { cgroup: cgroup.path, base };
}

const put = (path: string) => {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, 'x\n');
};

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-enforcer-cache-'));
  const objectPath = join(work, 'enforcer.bpf.o');
  compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
  enforcer = loadEnforcer({ object: objectPath });
  // A private tmpfs of our own, so that its mounts can be moved.
  tree = join(work, 'tree');
  mkdirSync(tree);
  sh(`mount -t tmpfs bulwark-cache ${tree} && mount --make-private ${tree}`);
  mounts.push(tree);
});

afterAll(() => {
  enforcer?.close();
  for (const mount of mounts.reverse()) spawnSync('umount', ['-l', mount]);
  for (const cgroup of cgroups) rmdirSync(cgroup);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

describe('the decision cache in the kernel guest', () => {
  it('allows from the cache what it allowed before, and decides afresh once the rule set changes', () => {
    const active = enforcer!;
    const { cgroup, base } = scope('rules', 1);
    for (const name of ['a', 'blocked']) put(join(base, name));
    active.setRules(1, [{ path: join(base, 'blocked'), operations: ['read'] }]);
    const before = active.decisions(1);
    expect(inScope(cgroup, `o a1 ${base}/a; o a2 ${base}/a; o a3 ${base}/a; o b ${base}/blocked`)).toEqual({ a1: 'ok', a2: 'ok', a3: 'ok', b: 'denied' });
    // The first open of a is decided and kept; the next two come from the cache.
    expect(delta(active.decisions(1), before)).toMatchObject({ allowed: 3n, cached: 2n });

    // A new set through setRules: a, allowed from the cache a moment ago, is denied at once.
    active.setRules(1, [{ path: join(base, 'a'), operations: ['read'] }]);
    expect(inScope(cgroup, `o a ${base}/a; o b1 ${base}/blocked; o b2 ${base}/blocked`)).toEqual({ a: 'denied', b1: 'ok', b2: 'ok' });

    // A set swapped in by hand and not marked yet (what setRules' swap looks like to a
    // concurrent open, between the swap and the generation's move): the old set's
    // cached allow of blocked must not stand beside the new set's allow of a, a rule
    // set that is neither. A cached allow is tied to the inner map it was decided with.
    expect(inScope(cgroup, `o b ${base}/blocked`)).toEqual({ b: 'ok' });
    active.map('rules').updateInnerMap(codecs.u32.encode(1), ruleMap('cache_unmarked', [{ path: join(base, 'blocked'), operations: ['read'] }]));
    expect(inScope(cgroup, `o a ${base}/a; o b ${base}/blocked`)).toEqual({ a: 'ok', b: 'denied' });
    markRulesChanged(active.map('generations'), 1);
    expect(inScope(cgroup, `o a ${base}/a; o b ${base}/blocked`)).toEqual({ a: 'ok', b: 'denied' });
  });

  it('decides every open afresh while the cache is turned off', () => {
    const active = enforcer!;
    const { cgroup, base } = scope('off', 2);
    put(join(base, 'a'));
    active.setRules(2, [{ path: join(base, 'other'), operations: ['read'] }]);
    active.setDecisionCache(false);
    try {
      const before = active.decisions(2);
      expect(inScope(cgroup, `o a1 ${base}/a; o a2 ${base}/a; o a3 ${base}/a`)).toEqual({ a1: 'ok', a2: 'ok', a3: 'ok' });
      expect(delta(active.decisions(2), before)).toMatchObject({ allowed: 3n, cached: 0n });
    } finally {
      active.setDecisionCache(true);
    }
  });

  it('drops cached allows when the file or a directory above it is renamed, by anyone', () => {
    const active = enforcer!;
    const { cgroup, base } = scope('rename', 3);
    for (const name of ['allowed/x', 'allowed/dir/y', 'other/z']) put(join(base, name));
    active.setRules(3, [{ path: `${base}/allowed/`, operations: ['read'], action: 'allow' }], { postures: { file: 'block' } });
    const before = active.decisions(3);
    expect(inScope(cgroup, `o x1 ${base}/allowed/x; o x2 ${base}/allowed/x; o y1 ${base}/allowed/dir/y; o y2 ${base}/allowed/dir/y; o z ${base}/other/z`)).toEqual({
      x1: 'ok',
      x2: 'ok',
      y1: 'ok',
      y2: 'ok',
      z: 'denied',
    });
    expect(delta(active.decisions(3), before).cached).toBe(2n);

    // Renamed on the host: the same dentries, now under a path the allow-list does not name.
    renameSync(join(base, 'allowed/x'), join(base, 'other/x'));
    renameSync(join(base, 'allowed/dir'), join(base, 'other/dir'));
    expect(inScope(cgroup, `o x ${base}/other/x; o y ${base}/other/dir/y`)).toEqual({ x: 'denied', y: 'denied' });
    // And back under the allowed directory: allowed again.
    renameSync(join(base, 'other/x'), join(base, 'allowed/x2'));
    expect(inScope(cgroup, `o x ${base}/allowed/x2`)).toEqual({ x: 'ok' });
  });

  it('lets no open through a name the allow-list does not name while directories above files are moved out of it', async () => {
    const active = enforcer!;
    const { cgroup, base } = scope('race', 8);
    mkdirSync(join(base, 'allowed'));
    mkdirSync(join(base, 'other'));
    active.setRules(8, [{ path: `${base}/allowed/`, operations: ['read'], action: 'allow' }], { postures: { file: 'block' } });
    const before = active.decisions(8);
    // The host, as fast as it can: a new file under allowed/d, then the directory moved to other/d
    // (the file's own dentry and parent stay the same: only the rename sequence count tells), then
    // removed. A file never comes back under the allowed name, so an open of other/d/x that gets
    // through was decided for a file that was not under it: a leak, not the race every path-based
    // check has between the lookup and the hook.
    const renamer = spawn('sh', ['-c', `cd ${base} && while :; do mkdir allowed/d && echo x > allowed/d/x && mv allowed/d other/d && rm -r other/d; done`], {
      stdio: 'ignore',
    });
    try {
      // In the scope: open the allowed name (which fills the cache), then the other name, which must never open.
      const reader = spawnSync(
        'sh',
        [
          '-c',
          `echo $$ > ${cgroup}/cgroup.procs
i=0; allowed=0; leaks=0
while [ $i -lt 1500 ]; do
  if ( : < ${base}/allowed/d/x ) 2>&-; then allowed=$((allowed + 1)); fi
  if ( : < ${base}/allowed/d/x ) 2>&-; then allowed=$((allowed + 1)); fi
  if ( : < ${base}/other/d/x ) 2>&-; then leaks=$((leaks + 1)); fi
  i=$((i + 1))
done
echo "$allowed $leaks"`,
        ],
        { encoding: 'utf8', timeout: 240_000 },
      );
      expect(reader.status, reader.stderr).toBe(0);
      const [allowed, leaks] = reader.stdout.trim().split(' ').map(Number);
      // The race was run: the allowed name opened many times, the cache answered some of them.
      expect(allowed).toBeGreaterThan(50);
      expect(active.decisions(8).cached - before.cached).toBeGreaterThan(0n);
      expect(leaks).toBe(0);
    } finally {
      renamer.kill('SIGKILL');
      await new Promise((resolve) => renamer.once('exit', resolve));
    }
  });

  it('decides a hard link and a bind mount of an allowed file by their own paths', () => {
    const active = enforcer!;
    const { cgroup, base } = scope('links', 4);
    put(join(base, 'allowed/h'));
    mkdirSync(join(base, 'other/bind'), { recursive: true });
    linkSync(join(base, 'allowed/h'), join(base, 'other/h'));
    sh(`mount --bind ${base}/allowed ${base}/other/bind`);
    mounts.push(join(base, 'other/bind'));
    active.setRules(4, [{ path: `${base}/allowed/`, operations: ['read'], action: 'allow' }], { postures: { file: 'block' } });
    expect(inScope(cgroup, `o h1 ${base}/allowed/h; o h2 ${base}/allowed/h; o link ${base}/other/h; o bind ${base}/other/bind/h`)).toEqual({
      h1: 'ok',
      h2: 'ok',
      link: 'denied',
      bind: 'denied',
    });
  });

  it('drops cached allows when a mount above the file is moved', () => {
    const active = enforcer!;
    const { cgroup, base } = scope('mount', 5);
    mkdirSync(join(base, 'allowed/m'), { recursive: true });
    mkdirSync(join(base, 'other/m'), { recursive: true });
    sh(`mount -t tmpfs bulwark-cache-m ${base}/allowed/m && echo x > ${base}/allowed/m/f`);
    active.setRules(5, [{ path: `${base}/allowed/`, operations: ['read'], action: 'allow' }], { postures: { file: 'block' } });
    const before = active.decisions(5);
    expect(inScope(cgroup, `o f1 ${base}/allowed/m/f; o f2 ${base}/allowed/m/f`)).toEqual({ f1: 'ok', f2: 'ok' });
    expect(delta(active.decisions(5), before).cached).toBe(1n);
    sh(`mount --move ${base}/allowed/m ${base}/other/m`);
    mounts.push(join(base, 'other/m'));
    expect(inScope(cgroup, `o f ${base}/other/m/f`)).toEqual({ f: 'denied' });
  });

  it('leaves out of the cache a process whose executable has rules of its own (fromSource)', () => {
    const active = enforcer!;
    const { cgroup, base } = scope('source', 7);
    put(join(base, 'f'));
    active.setRules(7, [{ path: join(base, 'f'), operations: ['read'], fromSource: '/usr/bin/dd' }]);
    // The shell's allow is cached; dd, whose rule blocks it, is decided afresh.
    const script = `o s1 ${base}/f; o s2 ${base}/f; if dd if=${base}/f of=/dev/null status=none 2>&-; then echo dd ok; else echo dd denied; fi; o s3 ${base}/f`;
    expect(inScope(cgroup, script)).toEqual({ s1: 'ok', s2: 'ok', dd: 'denied', s3: 'ok' });
  });

  it('keeps no Audit decision: each open is audited', () => {
    const active = enforcer!;
    const { cgroup, base } = scope('audit', 6);
    put(join(base, 'audited'));
    active.setRules(6, [{ path: join(base, 'audited'), operations: ['read'], action: 'audit' }]);
    const before = active.decisions(6);
    expect(inScope(cgroup, `o a1 ${base}/audited; o a2 ${base}/audited; o a3 ${base}/audited`)).toEqual({ a1: 'ok', a2: 'ok', a3: 'ok' });
    expect(delta(active.decisions(6), before)).toMatchObject({ audited: 3n, cached: 0n });
  });
});
