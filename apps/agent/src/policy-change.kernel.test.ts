/**
 * A policy change reaches a running container, in the BPF-LSM guest: a
 * detached container reads a file in a loop; a Block policy for it is
 * written into the directory the agent watches, and within a second its
 * reads fail. A policy file with a syntax error added afterwards is refused
 * whole ('policy change refused'), and the set in force stays: the reads
 * keep failing.
 */
import { mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEnforceRootfs, readAlerts } from '../../../test-support/enforce.js';
import { makeTemporaryDirectory, removeDirectory, requireBuild, runCommand, startAgentProcess, type AgentHandle, type AgentPaths } from '../../../test-support/containers.js';
import { deleteContainer, startDetachedContainer, WorkloadBundles } from '../../../test-support/workload.js';

const POLICY = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: block-data-file
spec:
  selector:
    matchLabels:
      app: reader
  file:
    matchPaths:
    - path: /data/file.txt
  action: Block
`;

/** A mapping value where a sequence item is expected: YAML refuses it. */
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

/**
 * One line per read on fd 3: the kernel's uptime (the guest's own clock,
 * which the test reads too) and `ok` or `no` for opening /data/file.txt.
 * The opens are the shell's own redirections for `true`, a regular
 * built-in: no fork, and a refused one does not end the shell as a special
 * built-in's (`:`) would. Every 20 ms.
 */
const LOOP = `exec 3>>/out/reads
while [ ! -e /out/stop ]; do
  read -r now rest < /proc/uptime
  if { true < /data/file.txt; } 2>/dev/null; then echo "$now ok" >&3; else echo "$now no" >&3; fi
  usleep 20000
done
echo done >&3`;

let work: string;
let paths: AgentPaths;
let policies: string;
let bpffs: string;
let alertsFile: string;
let out: string;
let agent: AgentHandle;

interface Read {
  readonly uptime: number;
  readonly ok: boolean;
}

async function reads(): Promise<Read[]> {
  const text = await readFile(join(out, 'reads'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => /^(\d+\.\d+) (ok|no)$/u.exec(line))
    .filter((match) => match !== null)
    .map((match) => ({ uptime: Number(match[1]), ok: match[2] === 'ok' }));
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

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('policy-change');
  const rootfs = await makeEnforceRootfs(work);
  await symlink('busybox', join(rootfs, 'bin/usleep'));
  await mkdir(join(rootfs, 'data'));
  await writeFile(join(rootfs, 'data/file.txt'), 'data\n');
  await mkdir(join(work, 'run'), { mode: 0o700 });
  policies = join(work, 'policies');
  await mkdir(policies);
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
  agent = await startAgentProcess(paths, ['--enforcement', 'required', '--policy-dir', policies, '--bpffs-dir', bpffs, '--alerts-file', alertsFile, '--log-format', 'json']);
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
  it('reads succeed while no policy selects the container', async () => {
    await waitFor('10 reads', async () => (await reads()).length >= 10);
    expect((await reads()).every((read) => read.ok)).toBe(true);
    expect(agent.logLines().some((line) => line.message === 'enforcing' && line.id === 'reader')).toBe(false);
  });

  it('a Block policy written into the watched directory makes the reads fail within a second', async () => {
    const before = agent.logLines().length;
    const written = await uptime();
    await placePolicy('block-data-file.yaml', POLICY);
    await waitFor('a refused read', async () => (await reads()).some((read) => !read.ok && read.uptime >= written), 30_000);
    const applied = agent.logLines().slice(before).find((line) => line.message === 'policies applied');
    expect(applied).toMatchObject({ policies: 1, containers: 1, failed: 0 });
    const all = await reads();
    const firstRefused = all.find((read) => !read.ok)!;
    const lastAllowed = all.filter((read) => read.ok).at(-1)!;
    console.log(`policy written at uptime ${written.toFixed(2)} s; last read allowed at ${lastAllowed.uptime.toFixed(2)} s; first refused at ${firstRefused.uptime.toFixed(2)} s (${(firstRefused.uptime - written).toFixed(2)} s after)`);
    expect(firstRefused.uptime - written).toBeLessThan(1);
    // Once refused, never allowed again: the set was swapped whole.
    expect(all.filter((read) => read.uptime > firstRefused.uptime && read.ok)).toEqual([]);
    await waitFor('the alert', async () => (await readAlerts(alertsFile)).some((alert) => alert.containerID === 'reader' && alert.policyName === 'block-data-file'));
  });

  it('a policy file with a syntax error is refused whole, and the reads keep failing', async () => {
    const before = agent.logLines().length;
    await placePolicy('broken.yaml', BROKEN);
    await agent.waitForLog((line) => agent.logLines().indexOf(line) >= before && line.message === 'policy change refused: the previous policies stay in force', 30_000);
    expect(agent.logLines().slice(before).some((line) => line.message === 'policy refused' && typeof line.problem === 'string' && line.problem.includes('broken.yaml'))).toBe(true);
    expect(agent.logLines().slice(before).some((line) => line.message === 'policies applied')).toBe(false);
    const refusedAt = await uptime();
    await waitFor('10 more reads', async () => (await reads()).filter((read) => read.uptime > refusedAt).length >= 10);
    const after = (await reads()).filter((read) => read.uptime > refusedAt);
    expect(after.every((read) => !read.ok)).toBe(true);
  });
});
