import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { indexUrl, packageDirectory, sourceNodeArguments } from './__fixtures__/child.js';
import { makeCgroup, probe as probeScope, ruleMap, startOpenLoop, type OpenLoop } from './__fixtures__/enforcer.js';
import { BpfMap, LAYOUT_VERSION, Link, codecs, markRulesChanged, openPinnedEnforcer, scopeEntryCodec, type Enforcer } from './index.js';

/**
 * Kernel tier: enforcement survives its loader. A child Node process loads
 * the enforcer (src/bpf/enforcer.bpf.c), fills a scope, pins it, and is
 * killed with SIGKILL; the block holds, and this process takes the pins
 * over and changes the scope's rules: once by hand through the raw maps and
 * links, once with the typed API (Enforcer.pin, openPinnedEnforcer) while
 * a shell in the scope keeps trying the blocked open. JavaScript is slow in
 * the guest, so each check runs one shell script that opens the files once.
 */

const pinDirectory = `/sys/fs/bpf/bulwark-enforcer-pin-${process.pid}`;
const takeoverDirectory = `/sys/fs/bpf/bulwark-enforcer-takeover-${process.pid}`;
const cgroups: string[] = [];
let work: string;
let objectPath: string;
let scope: { path: string; id: bigint };
const loaders: ChildProcess[] = [];
const loops: OpenLoop[] = [];
let takenOver: Enforcer | undefined;

const probeScript = `probe() { if err=$( (: < "$2") 2>&1 ); then echo "$1 ok"; else echo "$1 $err"; fi; }
cd "$(dirname "$0")"
probe secret "$PWD/secret.txt"
probe plain "$PWD/plain.txt"
probe other "$PWD/other.txt"
`;

/** The raw loader: run with the object, the pin directory, the scope's cgroup id and the path to deny. */
const rawLoaderScript = `
const ebpf = await import(${JSON.stringify(indexUrl)});
const [objectPath, pinDirectory, cgroupId, denied] = process.argv.slice(2);
const object = ebpf.openObject(objectPath).load();
const link = object.program('enforce_file_open').attach();
object.map('scopes').typed(ebpf.codecs.u64, ebpf.scopeEntryCodec).update(BigInt(cgroupId), { scope: 0, set: 0 });
const entries = ebpf.encodeRules([{ path: denied }]);
const inner = ebpf.createRuleMap(entries, 'rules_loader');
object.map('rules').updateInnerMap(ebpf.codecs.u32.encode(0), inner);
inner.close();
object.map('scopes').pin(pinDirectory + '/scopes');
object.map('rules').pin(pinDirectory + '/rules');
object.map('generations').pin(pinDirectory + '/generations');
link.pin(pinDirectory + '/link');
process.stdout.write('ready\\n');
setInterval(() => {}, 1 << 30);
`;

/** The typed loader, as an agent would do it: the same arguments, scope 5, pinned last. */
const typedLoaderScript = `
const ebpf = await import(${JSON.stringify(indexUrl)});
const [objectPath, pinDirectory, cgroupId, denied] = process.argv.slice(2);
const enforcer = ebpf.loadEnforcer({ object: objectPath });
enforcer.setScope(BigInt(cgroupId), 5);
enforcer.setRules(5, [{ path: denied, id: 51 }]);
enforcer.pin(pinDirectory);
process.stdout.write('ready\\n');
setInterval(() => {}, 1 << 30);
`;

const probe = () => probeScope(join(work, 'probe.sh'), scope.path);
const denied = expect.stringMatching(/Operation not permitted/);

/** Starts a loader script with the object, `directory`, the scope and the path to deny; resolves once it printed `ready`, rejects with its stderr when it ends first. */
function startLoader(name: string, script: string, directory: string): Promise<ChildProcess> {
  const scriptPath = join(work, `${name}.mjs`);
  writeFileSync(scriptPath, script);
  const args = [...sourceNodeArguments, scriptPath, objectPath, directory, String(scope.id), join(work, 'secret.txt')];
  const started = spawn(process.execPath, args, { cwd: packageDirectory, stdio: ['ignore', 'pipe', 'pipe'] });
  loaders.push(started);
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    started.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('ready\n')) resolve(started);
    });
    started.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    started.on('error', reject);
    started.on('exit', (code, signal) => reject(new Error(`loader exited (${signal ?? `code ${code}`}) before ready: ${stderr}`)));
  });
}

/** Kills with SIGKILL and resolves once the process is reaped, so its file descriptors are closed. */
function kill(child: ChildProcess): Promise<NodeJS.Signals | null> {
  return new Promise((resolve) => {
    child.on('exit', (_code, signal) => resolve(signal));
    child.kill('SIGKILL');
  });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-enforcer-pin-'));
  writeFileSync(join(work, 'probe.sh'), probeScript);
  for (const file of ['secret.txt', 'plain.txt', 'other.txt']) writeFileSync(join(work, file), `${file}\n`);
  scope = makeCgroup('bulwark-enforcer-pin', 'scope', cgroups);
  objectPath = join(work, 'enforcer.bpf.o');
  compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
});

afterAll(async () => {
  for (const started of loaders) if (started.exitCode === null && started.signalCode === null) started.kill('SIGKILL');
  for (const loop of loops) await loop.stop();
  takenOver?.close();
  // Whatever a failed run left pinned: removing the pins detaches the programs.
  spawnSync('rm', ['-rf', pinDirectory, takeoverDirectory]);
  for (const path of cgroups) rmdirSync(path);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

describe('the enforcer, pinned', () => {
  it('keeps denying after its loader is killed, is taken over through its pins, and stops once unpinned and destroyed', { timeout: 300_000 }, async () => {
    const started = await startLoader('raw-loader', rawLoaderScript, pinDirectory);
    expect(probe()).toEqual({ secret: denied, plain: 'ok', other: 'ok' });

    expect(await kill(started)).toBe('SIGKILL');
    // Nothing of the loader is left but its pins.
    expect(probe()).toEqual({ secret: denied, plain: 'ok', other: 'ok' });

    const link = Link.openPinned(join(pinDirectory, 'link'));
    const rules = BpfMap.openPinned(join(pinDirectory, 'rules'));
    const scopes = BpfMap.openPinned(join(pinDirectory, 'scopes'));
    const generations = BpfMap.openPinned(join(pinDirectory, 'generations'));
    expect(rules.info).toMatchObject({ name: 'rules', type: 'array_of_maps' });
    expect(scopes.typed(codecs.u64, scopeEntryCodec).lookup(scope.id)).toEqual({ scope: 0, set: 0 });
    // The rule set the loader put in the scope's slot is still there.
    const loaderRules = rules.lookupInnerMap(codecs.u32.encode(0));
    expect(loaderRules?.name).toBe('rules_loader');
    loaderRules?.close();

    // Takeover: a new rule set for the scope, swapped in through the pinned outer map.
    const replacement = ruleMap('rules_takeover', [{ path: join(work, 'plain.txt') }]);
    rules.updateInnerMap(codecs.u32.encode(0), replacement);
    replacement.close();
    // plain.txt's allow is in the decision cache: the new set must say it is out of date.
    markRulesChanged(generations, 0);
    expect(probe()).toEqual({ secret: 'ok', plain: denied, other: 'ok' });

    for (const handle of [rules, scopes, generations, link]) handle.unpin();
    rmdirSync(pinDirectory);
    rules.close();
    scopes.close();
    generations.close();
    // The last handle on the attachment: destroying it detaches the program.
    link.destroy();
    expect(probe()).toEqual({ secret: 'ok', plain: 'ok', other: 'ok' });
  });

  it('is taken over whole by openPinnedEnforcer after its loader is killed, with not one blocked open let through', { timeout: 300_000 }, async () => {
    const secret = join(work, 'secret.txt');
    const other = join(work, 'other.txt');
    const started = await startLoader('typed-loader', typedLoaderScript, takeoverDirectory);
    expect(readdirSync(takeoverDirectory)).toContain('map-rodata');
    // A process of the scope keeps trying the blocked open, from before the kill to after the takeover's change.
    const loop = startOpenLoop(scope.path, `{ true < ${secret}; } 2>/dev/null`);
    loops.push(loop);
    await loop.ready;
    await loop.moreTries(50);
    expect(probe()).toEqual({ secret: denied, plain: 'ok', other: 'ok' });

    expect(await kill(started)).toBe('SIGKILL');
    // No process holds the enforcer now: the pins alone keep it, and it keeps denying.
    await loop.moreTries(50);
    expect(loop.opened).toBe(0);

    const enforcer = openPinnedEnforcer(takeoverDirectory);
    takenOver = enforcer;
    expect(enforcer.object).toBeUndefined();
    expect(enforcer.layoutVersion).toBe(LAYOUT_VERSION);
    expect(enforcer.links.size).toBeGreaterThan(10);
    expect([...enforcer.links.keys()]).toContain('enforce_file_open');
    // The scope and its rule set are still in force, as the killed loader left them.
    expect(enforcer.scopes()).toEqual(new Map([[scope.id, { scope: 5, set: 5 }]]));
    expect(enforcer.hasRules(5)).toBe(true);
    expect(enforcer.setsWithRules()).toEqual([5]);
    expect(enforcer.decisions(5).denied).toBeGreaterThanOrEqual(100n);

    // The new process changes the rule set: other.txt is blocked too, and the change takes effect at once
    // (other.txt's earlier allow in the decision cache is out of date).
    enforcer.setRules(5, [
      { path: secret, id: 52 },
      { path: other, id: 53 },
    ]);
    expect(probe()).toEqual({ secret: denied, plain: 'ok', other: denied });
    await loop.moreTries(50);
    const counts = await loop.stop();
    expect(counts.tries).toBeGreaterThan(150);
    expect(counts.opened).toBe(0);
    // Every try was denied and counted by the kernel, through the loader's life, the gap and the takeover.
    // (The last try may have been printed and not made when the shell was killed.)
    expect(enforcer.decisions(5).denied).toBeGreaterThanOrEqual(BigInt(counts.tries - 1));

    // A clean stop with enforcement off: nothing is left pinned, and the programs detach on close.
    enforcer.unpin(takeoverDirectory);
    expect(existsSync(takeoverDirectory)).toBe(false);
    expect(probe()).toEqual({ secret: denied, plain: 'ok', other: denied });
    enforcer.close();
    takenOver = undefined;
    expect(probe()).toEqual({ secret: 'ok', plain: 'ok', other: 'ok' });
  });
});
