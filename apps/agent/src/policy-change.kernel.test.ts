/**
 * A policy change reaches a running container whole, in the BPF-LSM guest.
 *
 * v1 of policy `swap` blocks /data/a.txt, v2 blocks /data/b.txt; the
 * container's loop alternates iterations that open A then B and B then A,
 * and writes each iteration's result with the guest's uptime. The test
 * swaps v1 -> v2 -> v1 and so on, eight times (one rename over the file the agent
 * watches), each swap only once the previous one has shown in 20 stable
 * iterations, so at most one swap is in flight at any time. Under an atomic
 * swap, an iteration can see the old set, the new set, or the old then the
 * new; never a set that is neither:
 *   v1 -> v2: A then B cannot be (allowed, allowed): that needs a moment
 *             with no rule (the old one removed before the new one is in);
 *             B then A cannot be (blocked, blocked): both rules at once.
 *   v2 -> v1: the other way round (A then B blocked twice; B then A allowed twice).
 * Each swap must reach the container within SWAP_BOUND_S of the write (the
 * guest runs under TCG emulation, with the agent's 200 ms debounce).
 *
 * A policy file with a syntax error, and one that parses but is invalid
 * (an action KubeArmor does not have), are each refused with their
 * file:line:column in the agent's log, and the set in force stays: the
 * container's opens keep their last state.
 */
import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertSchema } from '@bulwark/alerts';
import { makeEnforceRootfs, readAlerts } from '../../../test-support/enforce.js';
import { makeTemporaryDirectory, removeDirectory, requireBuild, runCommand, startAgentProcess, type AgentHandle, type AgentPaths } from '../../../test-support/containers.js';
import { deleteContainer, startDetachedContainer, WorkloadBundles } from '../../../test-support/workload.js';

/** Seconds from the rename to the first iteration that shows the new set whole (TCG guest; natively it is the 200 ms debounce plus a map swap). */
const SWAP_BOUND_S = 10;

const version = (file: 'a' | 'b') => `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: swap
spec:
  selector:
    matchLabels:
      app: reader
  file:
    matchPaths:
    - path: /data/${file}.txt
  action: Block
`;

/** A mapping value where a sequence item is expected: YAML refuses it at line 9, column 1. */
const BROKEN = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: broken
spec:
  file:
    matchPaths:
    - path: /etc/passwd
     action: Block
`;

/** Valid YAML, invalid policy: KubeArmor has no action Destroy (line 12, column 11). */
const INVALID = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: invalid
spec:
  selector:
    matchLabels:
      app: reader
  file:
    matchPaths:
    - path: /data/b.txt
  action: Destroy
`;

/**
 * One line per iteration on fd 3: the guest's uptime, the order (ab or ba)
 * and `ok` or `no` for each open in that order. The opens are the shell's
 * own redirections for `true`, a regular built-in: no fork, and a refused
 * one does not end the shell.
 */
const LOOP = `exec 3>>/out/reads
n=0
while [ ! -e /out/stop ]; do
  read -r now rest < /proc/uptime
  if [ $((n % 2)) -eq 0 ]; then order=ab; first=a; second=b; else order=ba; first=b; second=a; fi
  if { true < /data/$first.txt; } 2>/dev/null; then r1=ok; else r1=no; fi
  if { true < /data/$second.txt; } 2>/dev/null; then r2=ok; else r2=no; fi
  echo "$now $order $r1 $r2" >&3
  n=$((n + 1))
  usleep 5000
done
echo done >&3`;

interface Iteration {
  readonly uptime: number;
  readonly order: 'ab' | 'ba';
  /** Whether A, and B, could be opened. */
  readonly a: boolean;
  readonly b: boolean;
}

let work: string;
let paths: AgentPaths;
let policies: string;
let bpffs: string;
let alertsFile: string;
let out: string;
let agent: AgentHandle;

async function iterations(): Promise<Iteration[]> {
  const text = await readFile(join(out, 'reads'), 'utf8').catch(() => '');
  const found: Iteration[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+\.\d+) (ab|ba) (ok|no) (ok|no)$/u.exec(line);
    if (match === null) continue;
    const order = match[2] as 'ab' | 'ba';
    const [first, second] = [match[3] === 'ok', match[4] === 'ok'];
    found.push({ uptime: Number(match[1]), order, a: order === 'ab' ? first : second, b: order === 'ab' ? second : first });
  }
  return found;
}

async function uptime(): Promise<number> {
  return Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Puts a file into the watched directory in one step (a rename), as a configuration manager would. */
async function placePolicy(name: string, text: string): Promise<void> {
  const staged = join(work, `${name}.staged`);
  await writeFile(staged, text);
  await rename(staged, join(policies, name));
}

/** The state an iteration shows whole: v1 (A blocked, B allowed) or v2 (the other way). */
const stateOf = (iteration: Iteration): 'v1' | 'v2' | 'mixed' => (!iteration.a && iteration.b ? 'v1' : iteration.a && !iteration.b ? 'v2' : 'mixed');

/** Waits for `count` iterations after `since` that all show `state`; returns the uptime of the first of them. */
async function waitForState(state: 'v1' | 'v2', since: number, count: number, timeoutMs = 60_000): Promise<number> {
  let first = Number.NaN;
  await waitFor(`${count} iterations in ${state}`, async () => {
    const after = (await iterations()).filter((iteration) => iteration.uptime >= since);
    const start = after.findIndex((iteration) => stateOf(iteration) === state);
    if (start === -1) return false;
    first = after[start]!.uptime;
    return after.slice(start).filter((iteration) => stateOf(iteration) === state).length >= count;
  }, timeoutMs);
  return first;
}

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('policy-change');
  const rootfs = await makeEnforceRootfs(work);
  await symlink('busybox', join(rootfs, 'bin/usleep'));
  await mkdir(join(rootfs, 'data'));
  await writeFile(join(rootfs, 'data/a.txt'), 'a\n');
  await writeFile(join(rootfs, 'data/b.txt'), 'b\n');
  await mkdir(join(work, 'run'), { mode: 0o700 });
  policies = join(work, 'policies');
  await mkdir(policies);
  await writeFile(join(policies, 'swap.yaml'), version('a'));
  bpffs = `/sys/fs/bpf/bulwark-policy-change-${process.pid}`;
  alertsFile = join(work, 'alerts.jsonl');
  out = join(work, 'out');
  await mkdir(out);
  paths = {
    hookSocket: join(work, 'run', 'hook.sock'),
    controlSocket: join(work, 'run', 'control.sock'),
    stateFile: join(work, 'state', 'containers.json'),
    runcRoot: join(work, 'runc-root'),
    crunRoot: join(work, 'crun-root'),
  };
  // Every block is judged by its alert: none may be throttled away (the loop blocks tens of opens a second).
  const config = join(work, 'bulwark.yaml');
  await writeFile(config, 'alertThrottling: false\n');
  agent = await startAgentProcess(paths, ['--config', config, '--enforcement', 'required', '--policy-dir', policies, '--bpffs-dir', bpffs, '--alerts-file', alertsFile, '--log-format', 'json']);
  const bundles = await WorkloadBundles.create({ work, rootfs, hookSocket: paths.hookSocket });
  const bundle = await bundles.bundle({ id: 'reader', args: ['/bin/sh', '-c', LOOP], annotations: { app: 'reader' }, binds: [[out, '/out', false]] });
  const started = await startDetachedContainer(paths.runcRoot, bundle, 'reader');
  if (started.code !== 0) throw new Error(`runc run --detach reader: ${started.stderr}`);
});

afterAll(async () => {
  if (out !== undefined) await writeFile(join(out, 'stop'), '').catch(() => undefined);
  if (paths !== undefined) await deleteContainer(paths.runcRoot, 'reader');
  await agent?.stop();
  if (bpffs !== undefined) await runCommand('rm', ['-rf', bpffs]);
  if (work !== undefined) await removeDirectory(work);
});

describe('a policy change applied to a running container', () => {
  it('v1 is in force from the container\'s first instruction: A blocked, B allowed', async () => {
    await waitFor('20 iterations', async () => (await iterations()).length >= 20);
    expect((await iterations()).map(stateOf).filter((state) => state !== 'v1')).toEqual([]);
    expect(agent.logLines().find((line) => line.message === 'enforcing' && line.id === 'reader')).toMatchObject({ policies: ['KubeArmorPolicy/swap'] });
  });

  it('swaps v1 -> v2 and back four times with no mixed rule set seen, each within the bound', async () => {
    const swaps: { to: 'v1' | 'v2'; written: number; shown: number }[] = [];
    let current: 'v1' | 'v2' = 'v1';
    for (let swap = 0; swap < 8; swap++) {
      const next: 'v1' | 'v2' = current === 'v1' ? 'v2' : 'v1';
      const before = agent.logLines().length;
      const written = await uptime();
      await placePolicy('swap.yaml', version(next === 'v1' ? 'a' : 'b'));
      const shown = await waitForState(next, written, 20);
      const applied = agent.logLines().slice(before).find((line) => line.message === 'policies applied');
      expect(applied).toMatchObject({ policies: 1, containers: 1, failed: 0 });
      swaps.push({ to: next, written, shown });
      current = next;
    }

    const all = await iterations();
    let checked = 0;
    const impossible: string[] = [];
    for (const iteration of all) {
      // The swap in flight at this iteration: the last one written before it (none: v1 alone).
      const swap = swaps.filter((candidate) => candidate.written <= iteration.uptime).at(-1);
      const state = stateOf(iteration);
      if (swap === undefined) {
        if (state !== 'v1') impossible.push(`${JSON.stringify(iteration)} before any swap`);
        continue;
      }
      checked++;
      // Going to v2 (v1 -> v2): A then B allowed twice means no rule; B then A blocked twice means both. Going to v1, the reverse.
      const noRule = iteration.a && iteration.b;
      const bothRules = !iteration.a && !iteration.b;
      const forbidden = swap.to === 'v2' ? (iteration.order === 'ab' ? noRule : bothRules) : iteration.order === 'ab' ? bothRules : noRule;
      if (forbidden) impossible.push(`${JSON.stringify(iteration)} during the swap to ${swap.to}`);
    }
    const mixed = all.filter((iteration) => stateOf(iteration) === 'mixed').length;
    const latencies = swaps.map((swap) => swap.shown - swap.written);
    console.log(
      `${all.length} iterations (${checked} after the first swap; ${mixed} saw the old set then the new, as an atomic swap allows); ` +
        `swap latencies (rename to first whole new-set iteration): ${latencies.map((latency) => `${latency.toFixed(2)} s`).join(', ')}`,
    );
    expect(impossible).toEqual([]);
    expect(checked).toBeGreaterThan(100);
    for (const latency of latencies) expect(latency).toBeLessThan(SWAP_BOUND_S);

    // The blocks were the policy's, and their alerts are documented alerts.
    const alerts = (await readAlerts(alertsFile)).filter((alert) => alert.containerID === 'reader');
    for (const alert of alerts) expect(alertSchema.safeParse(alert).error?.issues ?? [], JSON.stringify(alert)).toEqual([]);
    const resources = new Set(alerts.filter((alert) => alert.policyName === 'swap' && alert.action === 'Block' && alert.operation === 'File').map((alert) => alert.resource));
    expect([...resources].sort()).toEqual(['/data/a.txt', '/data/b.txt']);
  });

  for (const [name, text, position, what] of [
    ['broken.yaml', BROKEN, '9:1', 'a syntax error'],
    ['invalid.yaml', INVALID, '12:11', 'an invalid action'],
  ] as const) {
    it(`a policy file with ${what} is refused at its file:line:column, and v1 stays in force`, async () => {
      const before = agent.logLines().length;
      await placePolicy(name, text);
      await agent.waitForLog((line) => agent.logLines().indexOf(line) >= before && line.message === 'policy change refused: the previous policies stay in force', 30_000);
      const refused = agent.logLines().slice(before).filter((line) => line.message === 'policy refused');
      expect(refused.map((line) => line.problem)).toEqual([expect.stringContaining(`${join(policies, name)}:${position}: `)]);
      expect(agent.logLines().slice(before).some((line) => line.message === 'policies applied')).toBe(false);
      const refusedAt = await uptime();
      await waitFor('20 more iterations', async () => (await iterations()).filter((iteration) => iteration.uptime > refusedAt).length >= 20);
      expect((await iterations()).filter((iteration) => iteration.uptime > refusedAt).map(stateOf).filter((state) => state !== 'v1')).toEqual([]);
      // Taking the bad file away applies the directory again: v1 alone.
      const removedAt = agent.logLines().length;
      await rm(join(policies, name));
      await agent.waitForLog((line) => agent.logLines().indexOf(line) >= removedAt && line.message === 'policies applied', 30_000);
    });
  }
});
