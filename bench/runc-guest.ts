/**
 * What the hook and enforcement add to a container's start, in the kernel
 * test VM (tools/kernel-vm), where BPF LSM is active: `runc run` of the same
 * busybox bundle running /bin/true, side by side in one run,
 *   - hooked: the hook installed fail-closed (createRuntime registers the
 *     container with the built agent over its socket, poststop removes it),
 *     and the container selected by a Block policy, so the agent puts its
 *     rule set in force before its first instruction;
 *   - unhooked: the same config.json with no hooks.
 * Each round runs both, in an order that alternates from round to round; the
 * figure is the median of the per-round ratio hooked/unhooked, with the
 * medians of each. Before measuring it checks that the hooked container is
 * enforced (`cat /etc/secret` refused) and the unhooked one is not.
 *
 * The guest is QEMU with TCG emulation: absolute times are many times the
 * native ones (Node's start-up in the hook most of all); the ratio is the figure.
 *
 * Usage (build first; root):
 *   node bench/runc-guest.ts [--rounds N] [--timeout S]
 *       boots the guest and runs the bench there
 * (--in-guest is what the guest runs.)
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeTemporaryDirectory, removeDirectory, requireBuild, runCommand, startAgentProcess, type AgentPaths } from '../test-support/containers.ts';
import { makeEnforceRootfs } from '../test-support/enforce.ts';
import { runContainer, WorkloadBundles } from '../test-support/workload.ts';

const { values } = parseArgs({
  options: {
    'in-guest': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '15' },
    timeout: { type: 'string', default: '900' },
  },
});
const rounds = Number(values.rounds);
const repo = join(import.meta.dirname, '..');

const POLICY = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: bench-block-secret
spec:
  selector:
    matchLabels:
      app: bench
  file:
    matchPaths:
    - path: /etc/secret
  action: Block
`;

const median = (numbers: readonly number[]): number => {
  const sorted = [...numbers].sort((left, right) => left - right);
  const middle = sorted.length / 2;
  return sorted.length % 2 === 1 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

function runInGuest(): number {
  spawnSync(join(repo, 'tools', 'kernel-vm', 'prepare.sh'), { stdio: 'inherit' });
  const run = spawnSync(
    join(repo, 'tools', 'kernel-vm', 'run.sh'),
    ['--timeout', values.timeout, '--', process.execPath, fileURLToPath(import.meta.url), '--in-guest', '--rounds', String(rounds)],
    { cwd: repo, stdio: 'inherit' },
  );
  return run.status ?? 1;
}

async function inGuest(): Promise<void> {
  if (process.env.BULWARK_KERNEL_VM !== '1') throw new Error('--in-guest runs only in the kernel test VM (tools/kernel-vm)');
  await requireBuild();
  const work = await makeTemporaryDirectory('bench-runc');
  const bpffs = `/sys/fs/bpf/bulwark-bench-runc-${process.pid}`;
  const paths: AgentPaths = {
    hookSocket: join(work, 'run', 'hook.sock'),
    controlSocket: join(work, 'run', 'control.sock'),
    stateFile: join(work, 'state', 'containers.json'),
    runcRoot: join(work, 'runc-root'),
    crunRoot: join(work, 'crun-root'),
  };
  await mkdir(join(work, 'run'), { mode: 0o700 });
  await mkdir(join(work, 'policies'));
  await writeFile(join(work, 'policies', 'bench.yaml'), POLICY);
  const rootfs = await makeEnforceRootfs(work);
  const agent = await startAgentProcess(paths, ['--enforcement', 'required', '--policy-dir', join(work, 'policies'), '--bpffs-dir', bpffs, '--alerts-file', join(work, 'alerts.jsonl'), '--log-format', 'json']);
  try {
    const bundles = await WorkloadBundles.create({ work, rootfs, hookSocket: paths.hookSocket, failMode: 'closed' });
    /** The hooked bundle, and the same config.json without its hooks. */
    const pair = async (name: string, args: string[]): Promise<{ hooked: string; unhooked: string }> => {
      const hooked = await bundles.bundle({ id: `${name}-hooked`, args, annotations: { app: 'bench' } });
      const config = JSON.parse(await readFile(join(hooked, 'config.json'), 'utf8')) as { hooks?: unknown };
      delete config.hooks;
      const unhooked = join(work, 'bundles', `${name}-unhooked`);
      await mkdir(unhooked, { recursive: true });
      await writeFile(join(unhooked, 'config.json'), JSON.stringify(config, null, 2));
      return { hooked, unhooked };
    };

    // The hooked container is enforced, the unhooked one is not: what is measured is enforcement's cost.
    const check = await pair('check', ['/bin/cat', '/etc/secret']);
    const refused = await runContainer(paths.runcRoot, check.hooked, 'check-hooked');
    const allowed = await runContainer(paths.runcRoot, check.unhooked, 'check-unhooked');
    if (refused.code === 0 || allowed.code !== 0) throw new Error(`bench: expected the hooked container refused and the unhooked one allowed; got ${refused.code} (${refused.output.trim()}) and ${allowed.code} (${allowed.output.trim()})`);
    if (!agent.logLines().some((line) => line.message === 'enforcing' && line.id === 'check-hooked')) throw new Error('bench: the agent did not log enforcing for the hooked container');

    const bench = await pair('bench', ['/bin/true']);
    const time = async (bundle: string, id: string): Promise<number> => {
      const started = performance.now();
      const result = await runContainer(paths.runcRoot, bundle, id);
      const elapsed = performance.now() - started;
      if (result.code !== 0) throw new Error(`bench: runc run ${id}: exit ${result.code}: ${result.output.trim()}`);
      return elapsed;
    };
    // One unmeasured run of each: page cache, the hook's compile cache.
    await time(bench.hooked, 'warm-hooked');
    await time(bench.unhooked, 'warm-unhooked');
    const hooked: number[] = [];
    const unhooked: number[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      let withHook: number;
      let without: number;
      if (round % 2 === 0) {
        withHook = await time(bench.hooked, `hooked-${round}`);
        without = await time(bench.unhooked, `unhooked-${round}`);
      } else {
        without = await time(bench.unhooked, `unhooked-${round}`);
        withHook = await time(bench.hooked, `hooked-${round}`);
      }
      hooked.push(withHook);
      unhooked.push(without);
      ratios.push(withHook / without);
    }
    const enforced = agent.logLines().filter((line) => line.message === 'enforcing' && typeof line.id === 'string' && line.id.startsWith('hooked-')).length;
    const lines = [
      `runc run /bin/true, ${rounds} rounds, guest under TCG (kernel ${(await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim()}):`,
      `  unhooked               median ${Math.round(median(unhooked))} ms (min ${Math.round(Math.min(...unhooked))}, max ${Math.round(Math.max(...unhooked))})`,
      `  hooked + enforcement   median ${Math.round(median(hooked))} ms (min ${Math.round(Math.min(...hooked))}, max ${Math.round(Math.max(...hooked))}); ${enforced}/${rounds} logged 'enforcing'`,
      `  ratio hooked/unhooked  median ${median(ratios).toFixed(2)} (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)}); added ${Math.round(median(hooked) - median(unhooked))} ms`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await agent.stop();
    await runCommand('rm', ['-rf', bpffs]);
    await removeDirectory(work);
  }
}

if (values['in-guest']) await inGuest();
else process.exit(runInGuest());
