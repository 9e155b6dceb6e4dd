/**
 * Enforcer benchmarks in the kernel test VM (tools/kernel-vm), where BPF LSM
 * is active:
 *   (a) enforcement overhead, as ratios measured side by side in one run.
 *       A static C workload (bench/enforcer-guest/workload.c) runs loops in a
 *       cgroup that is a scope with 1,000 rules, none matching what the loop
 *       touches (the common case: everything allowed, every check made):
 *         - open: open and close 8 files;
 *         - stat-open: stat, open and close the same files;
 *         - exec-static: posix_spawn the static workload itself (exits at once);
 *         - exec-dynamic: posix_spawn /usr/bin/true (the loader opens its libraries).
 *       Each round runs every loop in five modes, in an order that
 *       alternates from round to round (detached, enforced, uncached,
 *       unscoped, noop; then the reverse):
 *         - enforced: every program attached, the loop's cgroup in scope 0;
 *           the loops reopen the same files, so after the first round the
 *           decision cache allows them;
 *         - uncached: the same with the decision cache turned off: every
 *           open resolves its path and walks the rules (a first open);
 *         - detached: no program attached at all (links destroyed), same
 *           cgroup, same maps: the kernel without the enforcer, the baseline;
 *         - unscoped: attached, the loop in a cgroup that is no scope: what
 *           every other process on the machine pays;
 *         - noop: the enforcer detached and bench/enforcer-guest/noop.bpf.c
 *           (returns 0) attached to file_open and bprm_check_security alone:
 *           the floor of any BPF LSM enforcer on these hooks.
 *       After each attach or detach it waits a second and runs every loop
 *       briefly, unmeasured, so that the kernel's clean-up is not measured.
 *       A ratio is enforced/detached (or unscoped/detached) within one round;
 *       the figure is the median over the rounds.
 *   (b) the time to load a 16,384-rule set into a scope: encodeRules, create
 *       the inner hash map, batch update, swap it into the outer map (the
 *       enforcer's `rules`), each step timed; median of several.
 * The loops time themselves (CLOCK_MONOTONIC around the loop), so process
 * start-up is not in the figures.
 *
 * The guest is QEMU with TCG (no KVM here): the kernel and JavaScript run
 * emulated, so absolute times are many times the native ones; the ratios are
 * the figures. --load-only runs (b) natively on the host, into a standalone
 * array_of_maps built like `rules` (the host kernel cannot load the LSM
 * programs), for an absolute load time.
 *
 * Usage (build first; root):
 *   node bench/enforcer-guest.ts [--rounds N] [--loads N] [--target-ms N] [--timeout S]
 *       compiles the workload, boots the guest and runs the bench there
 *   node bench/enforcer-guest.ts --profile
 *       only each enforcer program's mean time per run in each loop, as the
 *       kernel counts it (kernel.bpf_stats_enabled): quick, exact, no ratios
 *   node bench/enforcer-guest.ts --load-only [--loads N]
 *       (b) only, on this machine
 * (--in-guest is what the guest runs.)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compileBpf } from '../packages/ebpf-lsm/scripts/build-bpf.ts';
import {
  type BpfMap,
  type Link,
  type LoadedObject,
  type PathRule,
  RULE_KEY_SIZE,
  RULE_VALUE_SIZE,
  codecs,
  scopeEntryCodec,
  createMap,
  createRuleMap,
  fillRuleMap,
  encodeRules,
  openObject,
} from '@bulwark/ebpf-lsm';

const { values } = parseArgs({
  options: {
    'in-guest': { type: 'boolean', default: false },
    'load-only': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    workload: { type: 'string' },
    rounds: { type: 'string', default: '15' },
    loads: { type: 'string', default: '7' },
    'target-ms': { type: 'string', default: '1000' },
    timeout: { type: 'string', default: '1500' },
  },
});
const rounds = Number(values.rounds);
const loads = Number(values.loads);
const targetMs = Number(values['target-ms']);
const overheadRules = 1000;
const loadRules = 16_384;
const repo = join(import.meta.dirname, '..');

const median = (numbers: readonly number[]): number => {
  const sorted = [...numbers].sort((left, right) => left - right);
  const middle = sorted.length / 2;
  return sorted.length % 2 === 1 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const now = (): bigint => process.hrtime.bigint();
const msSince = (start: bigint): number => Number(now() - start) / 1e6;
const format = (value: number): string => Math.round(value).toLocaleString('en-US');

/**
 * `count` rules under `base`, none of them matching the workload's files:
 * a quarter directories (two keys each), a quarter exec rules, half exact
 * open rules.
 */
function makeRules(base: string, count: number): PathRule[] {
  return Array.from({ length: count }, (_, index): PathRule => {
    if (index % 4 === 0) return { path: `${base}/srv/data-${index}/` };
    if (index % 4 === 1) return { path: `${base}/usr/bin/tool-${index}`, operations: ['exec'] };
    return { path: `${base}/etc/secret-${index}.key` };
  });
}

interface LoadTimes {
  encode: number;
  create: number;
  update: number;
  swap: number;
  total: number;
}

/** (b): loads `rules` into `slot` of `outer` `loads` times after a warm-up, timing each step. */
function benchLoad(lines: string[], outer: BpfMap, slot: number, rules: readonly PathRule[], where: string): void {
  const times: LoadTimes[] = [];
  let entryCount = 0;
  for (let round = 0; round <= loads; round++) {
    const start = now();
    const entries = encodeRules(rules);
    const encoded = now();
    const inner = createMap({ type: 'lpm_trie', flags: 1, keySize: RULE_KEY_SIZE, valueSize: RULE_VALUE_SIZE, maxEntries: entries.length, name: 'bench_rules' });
    const created = now();
    try {
      fillRuleMap(inner, entries);
      const updated = now();
      outer.updateInnerMap(codecs.u32.encode(slot), inner);
      const swapped = now();
      entryCount = entries.length;
      if (round > 0) {
        const ms = (from: bigint, to: bigint) => Number(to - from) / 1e6;
        times.push({ encode: ms(start, encoded), create: ms(encoded, created), update: ms(created, updated), swap: ms(updated, swapped), total: ms(start, swapped) });
      }
    } finally {
      inner.close();
    }
  }
  const step = (name: keyof LoadTimes) => median(times.map((time) => time[name])).toFixed(1);
  lines.push(
    `load ${format(rules.length)} rules (${format(entryCount)} keys) into a scope, ${where}: median ${step('total')} ms ` +
      `(encodeRules ${step('encode')}, create map ${step('create')}, fill (batch, or one by one) ${step('update')}, swap into the outer map ${step('swap')}; ` +
      `totals ${times.map((time) => time.total.toFixed(0)).join(', ')} ms; median of ${loads} after a warm-up)`,
  );
}

// --- host: build the workload, boot the guest -------------------------------------------------------------

function runInGuest(): number {
  const enforcer = fileURLToPath(import.meta.resolve('@bulwark/ebpf-lsm/bpf/enforcer.bpf.o'));
  if (!existsSync(enforcer)) throw new Error(`${enforcer} is missing: run 'npm run build' first`);
  const work = mkdtempSync(join(tmpdir(), 'bulwark-bench-guest-'));
  try {
    const workload = join(work, 'workload');
    execFileSync('clang', ['-O2', '-Wall', '-Wextra', '-Werror', '-static', '-o', workload, join(import.meta.dirname, 'enforcer-guest', 'workload.c')], { stdio: 'inherit' });
    execFileSync(join(repo, 'tools', 'kernel-vm', 'prepare.sh'), { stdio: 'inherit' });
    const args = ['--in-guest', '--workload', workload, '--rounds', String(rounds), '--loads', String(loads), '--target-ms', String(targetMs)];
    if (values.profile) args.push('--profile');
    const run = spawnSync(
      join(repo, 'tools', 'kernel-vm', 'run.sh'),
      ['--workdir', work, '--timeout', values.timeout, '--', process.execPath, fileURLToPath(import.meta.url), ...args],
      { cwd: repo, stdio: 'inherit' },
    );
    return run.status ?? 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// --- guest: the measurements --------------------------------------------------------------------------------

type Mode = 'enforced' | 'uncached' | 'detached' | 'unscoped' | 'noop';
type Loop = 'open' | 'stat-open' | 'exec-static' | 'exec-dynamic';
const loops: readonly Loop[] = ['open', 'stat-open', 'exec-static', 'exec-dynamic'];
/** Operations per iteration of each loop, for the per-operation times. */
const loopOperations: Readonly<Record<Loop, string>> = { open: 'open+close', 'stat-open': 'stat+open+close', 'exec-static': 'spawn+wait', 'exec-dynamic': 'spawn+wait' };

function inGuest(): void {
  if (process.env.BULWARK_KERNEL_VM !== '1') throw new Error('--in-guest runs only in the kernel test VM (tools/kernel-vm)');
  if (values.workload === undefined) throw new Error('--in-guest needs --workload PATH');
  const lines: string[] = [`node ${process.version}, kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}, QEMU TCG guest`];
  const work = mkdtempSync(join(tmpdir(), 'bulwark-bench-'));
  const cgroups: string[] = [];
  let object: LoadedObject | undefined;
  let links: Link[] = [];
  let noop: LoadedObject | undefined;
  let noopLinks: Link[] = [];
  try {
    // The workload on tmpfs (the work folder is 9p, which every exec would read through).
    const workload = join(work, 'workload');
    copyFileSync(values.workload, workload);
    chmodSync(workload, 0o755);
    const base = join(work, 'root');
    const files = Array.from({ length: 8 }, (_, index) => join(base, index % 2 === 0 ? 'etc/app/conf.d' : 'usr/lib/x86_64-linux-gnu', `file-${index}.conf`));
    for (const file of files) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, 'x\n');
    }
    // A file one rule names, for the check that the enforcer is live.
    const blocked = join(base, 'etc', 'secret-2.key');
    writeFileSync(blocked, 'x\n');

    const enforcer = fileURLToPath(import.meta.resolve('@bulwark/ebpf-lsm/bpf/enforcer.bpf.o'));
    object = openObject(enforcer).load();
    const loaded = object;
    const makeCgroup = (name: string) => {
      const path = join('/sys/fs/cgroup', `bulwark-bench-${name}-${process.pid}`);
      mkdirSync(path);
      cgroups.push(path);
      return { procs: join(path, 'cgroup.procs'), id: statSync(path, { bigint: true }).ino };
    };
    const scoped = makeCgroup('scoped');
    const unscoped = makeCgroup('unscoped');
    loaded.map('scopes').typed(codecs.u64, scopeEntryCodec).update(scoped.id, { scope: 0, set: 0 });
    const entries = encodeRules(makeRules(base, overheadRules));
    {
      using inner = createRuleMap(entries, 'bench_1000');
      loaded.map('rules').updateInnerMap(codecs.u32.encode(0), inner);
    }

    // The floor of any BPF LSM enforcer here: a program that allows everything, alone on the same hooks.
    const noopObject = join(work, 'noop.bpf.o');
    compileBpf(join(dirname(fileURLToPath(import.meta.url)), 'enforcer-guest', 'noop.bpf.c'), noopObject);
    noop = openObject(noopObject).load();
    const loadedNoop = noop;
    const attach = () => {
      // Every program of the enforcer: the path, exec, fork (task_alloc) and capability hooks all run in these loops.
      if (links.length === 0) links = loaded.programs().map((program) => program.attach());
    };
    const detach = () => {
      for (const link of links) link.destroy();
      links = [];
    };
    const workloadRun = (procs: string, args: readonly string[]): string => {
      const run = spawnSync(workload, [procs, ...args], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`workload ${args.join(' ')}: exit ${String(run.status)}: ${run.stderr}`);
      return run.stdout.trim();
    };
    const loopArgs = (loop: Loop): string[] =>
      loop === 'exec-static' ? ['exec', '', workload] : loop === 'exec-dynamic' ? ['exec', '', '/usr/bin/true'] : [loop, '', ...files];
    const runLoop = (loop: Loop, mode: Mode, iterations: number): number => {
      const args = loopArgs(loop);
      args[1] = String(iterations);
      return Number(workloadRun(mode === 'unscoped' ? unscoped.procs : scoped.procs, args)) / 1e6;
    };
    /**
     * Attaches or detaches for `mode`. A change leaves the kernel work to do
     * (the trampoline's old image is freed after RCU tasks grace periods),
     * which would land in the next measurement: wait a second, then run
     * each loop briefly, unmeasured.
     */
    /** The decision cache on or off (struct throttle_config's flags, CONFIG_NO_CACHE). */
    const setCache = (enabled: boolean) => {
      const config = loaded.map('config');
      const value = config.lookup(codecs.u32.encode(0)) ?? Buffer.alloc(16);
      value.writeUInt32LE(enabled ? 0 : 1, 4);
      config.update(codecs.u32.encode(0), value);
    };
    const enter = (mode: Mode) => {
      setCache(mode !== 'uncached');
      const before = `${String(links.length > 0)} ${String(noopLinks.length > 0)}`;
      if (mode === 'detached' || mode === 'noop') detach();
      else attach();
      if (mode === 'noop' && noopLinks.length === 0) noopLinks = loadedNoop.programs().map((program) => program.attach());
      if (mode !== 'noop') {
        for (const link of noopLinks) link.destroy();
        noopLinks = [];
      }
      if (before === `${String(links.length > 0)} ${String(noopLinks.length > 0)}`) return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
      for (const loop of loops) runLoop(loop, mode, loop.startsWith('exec') ? 2 : 20);
    };

    // The enforcer is live: the scope is denied its rule, the unscoped cgroup is not. (A loop
    // stops at its first error, so no loop was denied anything.)
    const checkLive = () => {
      attach();
      const inScope = workloadRun(scoped.procs, ['try', blocked]);
      const outside = workloadRun(unscoped.procs, ['try', blocked]);
      if (inScope !== 'Operation not permitted' || outside !== 'ok') {
        throw new Error(`the enforcer is not live: opening ${blocked} gave '${inScope}' in the scope, '${outside}' outside`);
      }
    };
    checkLive();

    // Iterations per loop: about --target-ms detached.
    const iterations = {} as Record<Loop, number>;
    for (const loop of loops) {
      const trial = loop.startsWith('exec') ? 20 : 200;
      enter('detached');
      runLoop(loop, 'detached', trial); // warm the caches
      const ms = runLoop(loop, 'detached', trial);
      iterations[loop] = Math.max(trial, Math.round((trial * targetMs) / Math.max(ms, 1)));
    }

    /**
     * The kernel's own account (kernel.bpf_stats_enabled): each enforcer
     * program's mean time per run while the loops run enforced. It leaves
     * out the trampoline around the program, and it is exact where the
     * ratios are noisy, so it shows what a change to a program is worth.
     */
    const profile = (mode: 'enforced' | 'uncached') => {
      enter(mode);
      const sysctl = '/proc/sys/kernel/bpf_stats_enabled';
      for (const loop of loops) {
        const before = new Map(loaded.programs().map((program) => [program.name, program.info] as const));
        writeFileSync(sysctl, '1');
        try {
          runLoop(loop, mode, iterations[loop]);
        } finally {
          writeFileSync(sysctl, '0');
        }
        const parts: string[] = [];
        for (const program of loaded.programs()) {
          const { runTimeNs, runCount } = program.info;
          const runs = runCount - before.get(program.name)!.runCount;
          // Programs the loop does not run (a stray run by another process aside).
          if (runs < iterations[loop] / 20) continue;
          const ns = (runTimeNs - before.get(program.name)!.runTimeNs) / runs;
          parts.push(`${program.name} ${format(ns)} ns x ${(runs / iterations[loop]).toFixed(1)}`);
        }
        lines.push(`  ${mode.padEnd(8)} ${loop.padEnd(12)} per run (TCG), x runs per iteration: ${parts.join('; ')}`);
      }
    };
    if (values.profile) {
      lines.push(`program profile, ${overheadRules} rules (${entries.length} keys) in the loop's scope:`);
      profile('enforced');
      profile('uncached');
      checkLive();
      detach();
      process.stdout.write(`${lines.join('\n')}\n`);
      return;
    }

    const times: Record<Loop, Record<Mode, number[]>> = Object.fromEntries(
      loops.map((loop) => [loop, { enforced: [], uncached: [], detached: [], unscoped: [], noop: [] }]),
    ) as unknown as Record<Loop, Record<Mode, number[]>>;
    const started = now();
    for (let round = 0; round < rounds; round++) {
      const order: Mode[] = round % 2 === 0 ? ['detached', 'enforced', 'uncached', 'unscoped', 'noop'] : ['noop', 'unscoped', 'uncached', 'enforced', 'detached'];
      for (const mode of order) {
        enter(mode);
        for (const loop of loops) times[loop][mode].push(runLoop(loop, mode, iterations[loop]));
      }
    }
    const roundsTime = msSince(started) / 1000;
    checkLive();
    detach();

    lines.push(
      `(a) enforcement overhead: ${overheadRules} rules (${entries.length} keys) in the loop's scope, none matching; ${rounds} rounds, modes interleaved, ${roundsTime.toFixed(0)} s`,
    );
    for (const loop of loops) {
      const { enforced, uncached, detached, unscoped, noop: noopTimes } = times[loop];
      const ratios = enforced.map((time, index) => time / detached[index]!);
      const uncachedRatios = uncached.map((time, index) => time / detached[index]!);
      const unscopedRatios = unscoped.map((time, index) => time / detached[index]!);
      const noopRatios = noopTimes.map((time, index) => time / detached[index]!);
      const perOperation = (list: number[]) => ((median(list) * 1000) / iterations[loop] / (loop.startsWith('exec') ? 1 : files.length)).toFixed(1);
      lines.push(
        `  ${loop.padEnd(12)} enforced/detached ${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}); ` +
          `uncached/detached ${median(uncachedRatios).toFixed(3)} (min ${Math.min(...uncachedRatios).toFixed(3)}, max ${Math.max(...uncachedRatios).toFixed(3)}); ` +
          `unscoped/detached ${median(unscopedRatios).toFixed(3)}; noop/detached ${median(noopRatios).toFixed(3)} (min ${Math.min(...noopRatios).toFixed(3)}, max ${Math.max(...noopRatios).toFixed(3)}); ${loopOperations[loop]} ${perOperation(enforced)} / ${perOperation(uncached)} / ${perOperation(detached)} / ${perOperation(unscoped)} us ` +
          `(enforced / uncached / detached / unscoped, TCG); ${format(iterations[loop])} iterations`,
      );
    }

    lines.push('  program profile:');
    profile('enforced');
    profile('uncached');
    detach();

    // (b): into scope 1, which no cgroup maps to.
    benchLoad(lines, loaded.map('rules'), 1, makeRules(join(work, 'load'), loadRules), "the enforcer's rules map in the guest (TCG)");
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const link of links) link.destroy();
    for (const link of noopLinks) link.destroy();
    object?.close();
    noop?.close();
    for (const cgroup of cgroups) rmdirSync(cgroup);
    rmSync(work, { recursive: true, force: true });
  }
}

// --- host, (b) only ------------------------------------------------------------------------------------------

function loadOnly(): void {
  const lines: string[] = [`node ${process.version}, kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}, this machine`];
  using template = createMap({ type: 'lpm_trie', flags: 1, keySize: RULE_KEY_SIZE, valueSize: RULE_VALUE_SIZE, maxEntries: 1, name: 'bench_template' });
  using outer = createMap({ type: 'array_of_maps', keySize: 4, valueSize: 4, maxEntries: 4096, name: 'bench_outer', innerMap: template });
  benchLoad(lines, outer, 1, makeRules('/bench/load', loadRules), 'a standalone array_of_maps like the enforcer\'s rules, natively');
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (process.getuid?.() !== 0) throw new Error('bench/enforcer-guest.ts creates BPF maps and boots the guest: run it as root');
if (values['in-guest']) inGuest();
else if (values['load-only']) loadOnly();
else process.exitCode = runInGuest();
