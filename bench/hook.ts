/**
 * Hook benchmarks, measured side by side in one run:
 *   1. bulwark-hook wall time per invocation (a full registration with a live
 *      agent), as a ratio to bare `node -e 0` on the same Node and to
 *      /bin/true, runs interleaved A B A B so machine drift hits both;
 *   2. the fail-open path with the agent down, against the hook's own
 *      start-up (`--help`, which loads the same bundle);
 *   3. hook-to-agent round trip (connect, request, reply, close) p50 and p99,
 *      for ping and for container.create (which persists the registry).
 *
 * Usage: node bench/hook.ts [--runs N] [--round-trips N]   (build first; root)
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sendRequest, type ContainerReport } from '@bulwark/hook-client';
import {
  hookBundle,
  makeBundle,
  makeRootfs,
  makeTemporaryDirectory,
  removeDirectory,
  requireBuild,
  startAgentProcess,
} from '../test-support/containers.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' }, 'round-trips': { type: 'string', default: '2000' } } });
const runs = Number(values.runs);
const floorHook = join(import.meta.dirname, 'hook-floor.cjs');
const roundTrips = Number(values['round-trips']);

/** The environment `bulwark install-hook` gives the hook: Node's compile cache on. Both sides of each pair get it. */
let hookEnvironment: NodeJS.ProcessEnv = {};

/**
 * stdin is the state in a regular file, which the hook reads the way it reads
 * the pipe runc and crun give it. spawnSync's `input` would hand over a
 * socket pair instead, which no runtime does and which takes the hook's
 * slower fallback path.
 */
function timeProcess(command: string, args: readonly string[], inputFile?: string): number {
  const stdin = openSync(inputFile ?? '/dev/null', 'r');
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { stdio: [stdin, 'ignore', 'pipe'], env: hookEnvironment });
  closeSync(stdin);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr.toString()}`);
  return elapsed;
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((left, right) => left - right);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}

const median = (values: readonly number[]) => quantile(values, 0.5);
const format = (value: number) => value.toFixed(2);

/** Runs A and B interleaved (one warm-up each), returning both series and the pairwise ratios A/B. */
function compare(a: () => number, b: () => number, count: number) {
  a();
  b();
  const aTimes: number[] = [];
  const bTimes: number[] = [];
  const ratios: number[] = [];
  for (let index = 0; index < count; index++) {
    const first = a();
    const second = b();
    aTimes.push(first);
    bTimes.push(second);
    ratios.push(first / second);
  }
  return { aTimes, bTimes, ratios };
}

async function main(): Promise<void> {
  await requireBuild();
  const work = await makeTemporaryDirectory('bench');
  const shm = await mkdtemp('/dev/shm/bulwark-bench-');
  // As `bulwark install-hook` makes it: a directory only root can write, which the hook trusts with its code cache.
  await mkdir(join(work, 'compile-cache'), { mode: 0o700 });
  hookEnvironment = { NODE_COMPILE_CACHE: join(work, 'compile-cache') };
  const run = join(work, 'run');
  await mkdir(run, { mode: 0o700 });
  const paths = {
    hookSocket: join(run, 'hook.sock'),
    controlSocket: join(run, 'control.sock'),
    // Production keeps the registry in /run, a tmpfs; /dev/shm is one here.
    stateFile: join(shm, 'containers.json'),
    runcRoot: join(work, 'runc'),
    crunRoot: join(work, 'crun'),
  };
  const agent = await startAgentProcess(paths, ['--no-scan']);
  const rootfs = await makeRootfs(work);
  const bundle = await makeBundle(join(work, 'bundle'), { rootfs, args: ['true'] });
  const liveConfig = join(work, 'hook-live.json');
  const downConfig = join(work, 'hook-down.json');
  await writeFile(liveConfig, JSON.stringify({ version: 1, socket: paths.hookSocket, log: '' }));
  await writeFile(downConfig, JSON.stringify({ version: 1, socket: join(run, 'absent.sock'), log: '', failMode: 'open' }));
  // The hook reads /proc for the state's pid: use this process, which stays alive.
  const state = join(work, 'state.json');
  await writeFile(state, JSON.stringify({ ociVersion: '1.0.2', id: 'bench', status: 'creating', pid: process.pid, bundle }));
  const node = process.execPath;

  try {
    const lines: string[] = [];
    lines.push(`node ${process.version}, ${runs} interleaved runs per pair, ${roundTrips} round trips`);

    const live = compare(() => timeProcess(node, [hookBundle, '--config', liveConfig], state), () => timeProcess(node, ['-e', '0']), runs);
    lines.push(
      `hook (registration, live agent) vs node -e 0: hook median ${format(median(live.aTimes))} ms, node median ${format(median(live.bTimes))} ms, ratio median ${format(median(live.ratios))} (min ${format(Math.min(...live.ratios))}, max ${format(Math.max(...live.ratios))})`,
    );
    // The least any Node hook can do: the same reads and request, hand-written, no validation.
    const floor = compare(() => timeProcess(node, [floorHook, paths.hookSocket], state), () => timeProcess(node, ['-e', '0']), runs);
    lines.push(
      `minimal hand-written Node hook (same I/O, no validation) vs node -e 0: floor median ${format(median(floor.aTimes))} ms, node median ${format(median(floor.bTimes))} ms, ratio median ${format(median(floor.ratios))}`,
    );
    const versusFloor = compare(() => timeProcess(node, [hookBundle, '--config', liveConfig], state), () => timeProcess(node, [floorHook, paths.hookSocket], state), runs);
    lines.push(`hook vs minimal hand-written hook: ratio median ${format(median(versusFloor.ratios))}`);
    const versusTrue = compare(() => timeProcess(node, [hookBundle, '--config', liveConfig], state), () => timeProcess('/bin/true', []), runs);
    lines.push(
      `hook vs /bin/true: hook median ${format(median(versusTrue.aTimes))} ms, /bin/true median ${format(median(versusTrue.bTimes))} ms, ratio median ${format(median(versusTrue.ratios))}`,
    );
    const down = compare(() => timeProcess(node, [hookBundle, '--config', downConfig], state), () => timeProcess(node, [hookBundle, '--help']), runs);
    const added = down.aTimes.map((time, index) => time - down.bTimes[index]!);
    lines.push(
      `fail-open, agent down vs hook start-up (--help): down median ${format(median(down.aTimes))} ms, start-up median ${format(median(down.bTimes))} ms, added median ${format(median(added))} ms (p90 ${format(quantile(added, 0.9))} ms)`,
    );

    const report: ContainerReport = { id: 'bench-rt', stage: 'createRuntime', status: 'creating', bundle, pid: process.pid, names: { runtime: 'unknown' } };
    const measure = async (name: string, socket: string, body: Parameters<typeof sendRequest>[1]) => {
      const times: number[] = [];
      for (let index = 0; index < roundTrips + 50; index++) {
        const started = process.hrtime.bigint();
        await sendRequest(socket, body);
        if (index >= 50) times.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
      lines.push(`round trip ${name}: p50 ${format(quantile(times, 0.5))} ms, p99 ${format(quantile(times, 0.99))} ms, max ${format(Math.max(...times))} ms`);
    };
    await measure('ping', paths.hookSocket, { type: 'ping' });
    await measure('container.create, registry on tmpfs (/run in production)', paths.hookSocket, { type: 'container.create', container: report });
    // The same agent code with its registry on the disk (ext4 here), for comparison.
    const diskRun = join(work, 'run-disk');
    await mkdir(diskRun, { mode: 0o700 });
    const diskAgent = await startAgentProcess(
      { ...paths, hookSocket: join(diskRun, 'hook.sock'), controlSocket: join(diskRun, 'control.sock'), stateFile: join(work, 'state-disk', 'containers.json') },
      ['--no-scan'],
    );
    try {
      await measure('container.create, registry on disk', join(diskRun, 'hook.sock'), { type: 'container.create', container: report });
    } finally {
      await diskAgent.stop();
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await agent.stop();
    await removeDirectory(work);
    await removeDirectory(shm);
  }
}

await main();
