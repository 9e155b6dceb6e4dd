import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { indexUrl, packageDirectory, sourceNodeArguments } from './__fixtures__/child.js';
import { makeCgroup, probe as probeScope, ruleMap } from './__fixtures__/enforcer.js';
import { BpfMap, Link, codecs, markRulesChanged } from './index.js';

/**
 * Kernel tier: enforcement survives its loader. A child Node process loads
 * the enforcer (src/bpf/enforcer.bpf.c), fills a scope, pins the link and
 * the scopes and rules maps, and is killed with SIGKILL; the block holds,
 * and this process takes the pins over and changes the scope's rules.
 * JavaScript is slow in the guest, so each check runs one shell script that
 * opens both files once.
 */

const pinDirectory = `/sys/fs/bpf/bulwark-enforcer-pin-${process.pid}`;
const cgroups: string[] = [];
let work: string;
let scope: { path: string; id: bigint };
let loader: ChildProcess | undefined;

const probeScript = `probe() { if err=$( (: < "$2") 2>&1 ); then echo "$1 ok"; else echo "$1 $err"; fi; }
cd "$(dirname "$0")"
probe secret "$PWD/secret.txt"
probe plain "$PWD/plain.txt"
`;

/** The loader: run with the object, the pin directory, the scope's cgroup id and the path to deny. */
const loaderScript = `
const ebpf = await import(${JSON.stringify(indexUrl)});
const [objectPath, pinDirectory, cgroupId, denied] = process.argv.slice(2);
const object = ebpf.openObject(objectPath).load();
const link = object.program('enforce_file_open').attach();
object.map('scopes').typed(ebpf.codecs.u64, ebpf.codecs.u32).update(BigInt(cgroupId), 0);
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

const probe = () => probeScope(join(work, 'probe.sh'), scope.path);
const denied = expect.stringMatching(/Operation not permitted/);

/** Starts the loader and resolves once it printed `ready`; rejects with its stderr when it ends first. */
function startLoader(objectPath: string): Promise<ChildProcess> {
  const scriptPath = join(work, 'loader.mjs');
  writeFileSync(scriptPath, loaderScript);
  const args = [...sourceNodeArguments, scriptPath, objectPath, pinDirectory, String(scope.id), join(work, 'secret.txt')];
  const started = spawn(process.execPath, args, { cwd: packageDirectory, stdio: ['ignore', 'pipe', 'pipe'] });
  loader = started;
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
  for (const file of ['secret.txt', 'plain.txt']) writeFileSync(join(work, file), `${file}\n`);
  scope = makeCgroup('bulwark-enforcer-pin', 'scope', cgroups);
});

afterAll(() => {
  if (loader !== undefined && loader.exitCode === null && loader.signalCode === null) loader.kill('SIGKILL');
  // Whatever a failed run left pinned: removing the pins detaches the program.
  spawnSync('rm', ['-rf', pinDirectory]);
  for (const path of cgroups) rmdirSync(path);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

describe('the enforcer, pinned', () => {
  it('keeps denying after its loader is killed, is taken over through its pins, and stops once unpinned and destroyed', { timeout: 300_000 }, async () => {
    const objectPath = join(work, 'enforcer.bpf.o');
    compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
    const started = await startLoader(objectPath);
    expect(probe()).toEqual({ secret: denied, plain: 'ok' });

    expect(await kill(started)).toBe('SIGKILL');
    // Nothing of the loader is left but its pins.
    expect(probe()).toEqual({ secret: denied, plain: 'ok' });

    const link = Link.openPinned(join(pinDirectory, 'link'));
    const rules = BpfMap.openPinned(join(pinDirectory, 'rules'));
    const scopes = BpfMap.openPinned(join(pinDirectory, 'scopes'));
    const generations = BpfMap.openPinned(join(pinDirectory, 'generations'));
    expect(rules.info).toMatchObject({ name: 'rules', type: 'array_of_maps' });
    expect(scopes.typed(codecs.u64, codecs.u32).lookup(scope.id)).toBe(0);
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
    expect(probe()).toEqual({ secret: 'ok', plain: denied });

    for (const handle of [rules, scopes, generations, link]) handle.unpin();
    rmdirSync(pinDirectory);
    rules.close();
    scopes.close();
    generations.close();
    // The last handle on the attachment: destroying it detaches the program.
    link.destroy();
    expect(probe()).toEqual({ secret: 'ok', plain: 'ok' });
  });
});
