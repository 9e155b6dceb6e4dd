import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { indexUrl, packageDirectory, sourceNodeArguments } from './__fixtures__/child.js';
import { BpfMap, Link, codecs, createMap } from './index.js';
import { RULE_KEY_SIZE, RULE_VALUE_SIZE, encodeRules, type PathRule } from './rules.js';

/**
 * Kernel tier: enforcement survives its loader. A child Node process loads
 * the enforcer (src/bpf/enforcer.bpf.c), fills a scope, pins the link and
 * the scopes and rules maps, and is killed; the block holds, and this
 * process takes the pins over. JavaScript is slow in the guest, so each
 * check runs one shell script that opens both files once.
 */

const cgroupRoot = '/sys/fs/cgroup';
const pinDirectory = `/sys/fs/bpf/bulwark-enforcer-pin-${process.pid}`;
let work: string;
let cgroup: { path: string; id: bigint } | undefined;
let child: ChildProcess | undefined;

const probeScript = `probe() { if err=$( (: < "$2") 2>&1 ); then echo "$1 ok"; else echo "$1 $err"; fi; }
cd "$(dirname "$0")"
probe secret "$PWD/secret.txt"
probe plain "$PWD/plain.txt"
`;

/** The loader: run by the child with the object, the pin directory, the scope's cgroup id and the path to deny. */
const loaderScript = `
const ebpf = await import(${JSON.stringify(indexUrl)});
const [objectPath, pinDirectory, cgroupId, denied] = process.argv.slice(2);
const object = ebpf.openObject(objectPath).load();
const link = object.program('enforce_file_open').attach();
object.map('scopes').typed(ebpf.codecs.u64, ebpf.codecs.u32).update(BigInt(cgroupId), 0);
const entries = ebpf.encodeRules([{ path: denied }]);
const inner = ebpf.createMap({ type: 'hash', keySize: ebpf.RULE_KEY_SIZE, valueSize: ebpf.RULE_VALUE_SIZE, maxEntries: entries.length, name: 'rules_loader' });
inner.updateBatch(entries.map(({ key, value }) => [key, value]));
object.map('rules').updateInnerMap(ebpf.codecs.u32.encode(0), inner);
inner.close();
object.map('scopes').pin(pinDirectory + '/scopes');
object.map('rules').pin(pinDirectory + '/rules');
link.pin(pinDirectory + '/link');
process.stdout.write('ready\\n');
setInterval(() => {}, 1 << 30);
`;

/** Runs the probe in the scope's cgroup with new mount and pid namespaces, as a container's process would; returns label -> result. */
function probe(): Record<string, string> {
  const run = spawnSync('sh', ['-c', `echo $$ > ${cgroup!.path}/cgroup.procs && exec unshare --mount --pid --fork sh ${join(work, 'probe.sh')}`], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.status, run.stderr).toBe(0);
  return Object.fromEntries(run.stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]));
}

/** A rule set as a fresh inner map, sized to its entries. */
function ruleMap(name: string, rules: readonly PathRule[]): BpfMap {
  const entries = encodeRules(rules);
  const map = createMap({ type: 'hash', keySize: RULE_KEY_SIZE, valueSize: RULE_VALUE_SIZE, maxEntries: Math.max(entries.length, 1), name });
  map.updateBatch(entries.map(({ key, value }) => [key, value] as const));
  return map;
}

/** Starts the loader and resolves once it printed `ready`. */
function startLoader(objectPath: string): Promise<ChildProcess> {
  const scriptPath = join(work, 'loader.mjs');
  writeFileSync(scriptPath, loaderScript);
  const args = [...sourceNodeArguments, scriptPath, objectPath, pinDirectory, String(cgroup!.id), join(work, 'secret.txt')];
  const started = spawn(process.execPath, args, { cwd: packageDirectory, stdio: ['ignore', 'pipe', 'pipe'] });
  child = started;
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    started.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('ready\n')) resolve(started);
    });
    started.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    started.on('error', reject);
    started.on('exit', (code, signal) => reject(new Error(`loader exited (${code ?? signal}) before ready: ${stderr}`)));
  });
}

function killed(loader: ChildProcess): Promise<NodeJS.Signals | null> {
  return new Promise((resolve) => {
    loader.on('exit', (_code, signal) => resolve(signal));
    loader.kill('SIGKILL');
  });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-enforcer-pin-'));
  writeFileSync(join(work, 'probe.sh'), probeScript);
  for (const file of ['secret.txt', 'plain.txt']) writeFileSync(join(work, file), `${file}\n`);
  const path = join(cgroupRoot, `bulwark-enforcer-pin-${process.pid}`);
  mkdirSync(path);
  cgroup = { path, id: statSync(path, { bigint: true }).ino };
});

afterAll(() => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  // Whatever a failed run left pinned: removing the pins detaches the program.
  spawnSync('rm', ['-rf', pinDirectory]);
  if (cgroup !== undefined) rmdirSync(cgroup.path);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

describe('the enforcer, pinned', () => {
  it('keeps denying after its loader is killed, is taken over through its pins, and stops once unpinned and destroyed', { timeout: 300_000 }, async () => {
    const objectPath = join(work, 'enforcer.bpf.o');
    compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
    const loader = await startLoader(objectPath);
    expect(await killed(loader)).toBe('SIGKILL');

    // Nothing of the loader is left but its pins.
    expect(probe()).toEqual({ secret: expect.stringMatching(/Operation not permitted/), plain: 'ok' });

    const link = Link.openPinned(join(pinDirectory, 'link'));
    const rules = BpfMap.openPinned(join(pinDirectory, 'rules'));
    const scopes = BpfMap.openPinned(join(pinDirectory, 'scopes'));
    expect(rules.info).toMatchObject({ name: 'rules', type: 'array_of_maps' });
    expect(scopes.typed(codecs.u64, codecs.u32).lookup(cgroup!.id)).toBe(0);

    // Takeover: a new rule set for the scope, swapped in through the pinned outer map.
    const replacement = ruleMap('rules_takeover', [{ path: join(work, 'plain.txt') }]);
    rules.updateInnerMap(codecs.u32.encode(0), replacement);
    replacement.close();
    expect(probe()).toEqual({ secret: 'ok', plain: expect.stringMatching(/Operation not permitted/) });

    for (const handle of [rules, scopes, link]) handle.unpin();
    rmdirSync(pinDirectory);
    rules.close();
    scopes.close();
    // The last handle on the attachment: destroying it detaches the program.
    link.destroy();
    expect(probe()).toEqual({ secret: 'ok', plain: 'ok' });
  });
});
