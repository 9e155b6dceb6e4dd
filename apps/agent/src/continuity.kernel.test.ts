/**
 * Enforcement outlives the agent, in the BPF-LSM guest: a container whose
 * Block policy is in force keeps trying the blocked open every few
 * milliseconds while the agent is SIGKILLed and a new one takes over the
 * pinned enforcer (same --state-file and --bpffs-dir); not one open
 * succeeds before, during or after. While no agent runs, a new container
 * meets the hook's fail mode: fail-closed, it does not start.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertSchema } from '@bulwark/alerts';
import { makeEnforceRootfs, readAlerts } from '../../../test-support/enforce.js';
import { makeTemporaryDirectory, removeDirectory, requireBuild, runCommand, startAgentProcess, type AgentHandle, type AgentPaths } from '../../../test-support/containers.js';
import { deleteContainer, runContainer, startDetachedContainer, WorkloadBundles } from '../../../test-support/workload.js';

const POLICY = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: block-secret
spec:
  selector:
    matchLabels:
      app: continuity
  file:
    matchPaths:
    - path: /etc/secret
  action: Block
`;

/**
 * One attempt per line on fd 3: `ok` or `no` for opening the blocked
 * /etc/secret, then the same for /etc/passwd, which nothing blocks (the
 * control: the loop's opens work), then the count. The opens are the
 * shell's own redirections for `true`, a regular built-in: no fork, and a
 * refused one does not end the shell as a special built-in's (`:`) would.
 * Then a 2 ms pause; /out/stop ends the loop (`[ -e ]` is a stat, not an
 * open).
 */
const LOOP = `exec 3>>/out/attempts
n=0
while [ ! -e /out/stop ]; do
  if { true < /etc/secret; } 2>/dev/null; then blocked=ok; else blocked=no; fi
  if { true < /etc/passwd; } 2>/dev/null; then control=ok; else control=no; fi
  echo "$blocked $control $n" >&3
  n=$((n + 1))
  usleep 2000
done
echo "done $n" >&3`;

let work: string;
let paths: AgentPaths;
let agentArguments: string[];
let bpffs: string;
let bundles: WorkloadBundles;
let out: string;
const agents: AgentHandle[] = [];

const attempts = async () => {
  const lines = (await readFile(join(out, 'attempts'), 'utf8').catch(() => '')).split('\n').filter((line) => line !== '');
  const tries = lines.filter((line) => /^(ok|no) (ok|no) \d+$/u.test(line));
  return { total: tries.length, ok: tries.filter((line) => line.startsWith('ok ')), controlFailed: tries.filter((line) => / no /u.test(line)), done: lines.some((line) => line.startsWith('done ')) };
};

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('continuity');
  const rootfs = await makeEnforceRootfs(work);
  await symlink('busybox', join(rootfs, 'bin/usleep'));
  await mkdir(join(work, 'run'), { mode: 0o700 });
  const policies = join(work, 'policies');
  await mkdir(policies);
  await writeFile(join(policies, 'block-secret.yaml'), POLICY);
  bpffs = `/sys/fs/bpf/bulwark-continuity-${process.pid}`;
  paths = {
    hookSocket: join(work, 'run', 'hook.sock'),
    controlSocket: join(work, 'run', 'control.sock'),
    stateFile: join(work, 'state', 'containers.json'),
    runcRoot: join(work, 'runc-root'),
    crunRoot: join(work, 'crun-root'),
  };
  agentArguments = ['--enforcement', 'required', '--policy-dir', policies, '--bpffs-dir', bpffs, '--alerts-file', join(work, 'alerts.jsonl'), '--log-format', 'json'];
  bundles = await WorkloadBundles.create({ work, rootfs, hookSocket: paths.hookSocket, failMode: 'closed' });
  out = join(work, 'out');
  await mkdir(out);
});

afterAll(async () => {
  if (paths !== undefined) {
    await writeFile(join(out, 'stop'), '').catch(() => undefined);
    await deleteContainer(paths.runcRoot, 'looper');
    await deleteContainer(paths.runcRoot, 'latecomer');
  }
  for (const agent of agents) await agent.stop();
  if (bpffs !== undefined) await runCommand('rm', ['-rf', bpffs]);
  if (work !== undefined) await removeDirectory(work);
});

describe('enforcement across an agent SIGKILL', () => {
  it('blocks every open of the loop before, during and after the takeover; a container started with no agent does not start', async () => {
    const first = await startAgentProcess(paths, agentArguments);
    agents.push(first);
    const bundle = await bundles.bundle({ id: 'looper', args: ['/bin/sh', '-c', LOOP], annotations: { app: 'continuity' }, binds: [[out, '/out', false]] });
    const started = await startDetachedContainer(paths.runcRoot, bundle, 'looper');
    expect(started.code, started.stderr).toBe(0);
    // The refusals are the policy's (EPERM with an alert), not a missing file.
    await waitFor('the first agent\'s block alert', async () => (await readAlerts(join(work, 'alerts.jsonl'))).some((alert) => alert.containerID === 'looper' && alert.policyName === 'block-secret' && alert.action === 'Block'));
    expect(first.logLines().find((line) => line.message === 'enforcing' && line.id === 'looper')).toMatchObject({ policies: ['KubeArmorPolicy/block-secret'] });

    await waitFor('20 attempts with the first agent', async () => (await attempts()).total >= 20);
    first.process.kill('SIGKILL');
    await new Promise<void>((resolve) => (first.process.exitCode !== null || first.process.signalCode !== null ? resolve() : first.process.once('exit', () => resolve())));
    const atKill = (await attempts()).total;

    // No agent: the hook cannot ask, and fail-closed refuses the container.
    const latecomerOut = join(work, 'latecomer-out');
    await mkdir(latecomerOut);
    const latecomer = await runContainer(paths.runcRoot, await bundles.bundle({ id: 'latecomer', args: ['/bin/sh', '-c', 'echo ran > /out/ran'], annotations: { app: 'continuity' }, binds: [[latecomerOut, '/out', false]] }), 'latecomer');
    expect(latecomer.code).not.toBe(0);
    expect(existsSync(join(latecomerOut, 'ran'))).toBe(false);
    expect(latecomer.output).toMatch(/hook/u);
    await waitFor('attempts while no agent runs', async () => (await attempts()).total >= atKill + 10);

    const second = await startAgentProcess(paths, agentArguments);
    agents.push(second);
    const atTakeover = (await attempts()).total;
    expect(second.logLines().some((line) => line.message === 'enforcer taken over')).toBe(true);
    // The registry came back from the state file, and the container's set was swapped in again under the same scope.
    expect(second.logLines().find((line) => line.message === 'enforcing' && line.id === 'looper')).toMatchObject({ policies: ['KubeArmorPolicy/block-secret'] });
    await waitFor('20 attempts with the second agent', async () => (await attempts()).total >= atTakeover + 20);

    await writeFile(join(out, 'stop'), '');
    await waitFor('the loop to end', async () => (await attempts()).done);
    const final = await attempts();
    console.log(`attempts: ${atKill} with the first agent, ${atTakeover - atKill} while none ran, ${final.total - atTakeover} after the takeover; ${final.ok.length} succeeded`);
    expect(final.ok).toEqual([]);
    expect(final.controlFailed).toEqual([]);
    expect(atKill).toBeGreaterThan(0);
    expect(atTakeover - atKill).toBeGreaterThan(0);
    expect(final.total - atTakeover).toBeGreaterThan(0);
    // Both agents' alerts are documented alerts, and the loop's blocks say what was blocked.
    const alerts = await readAlerts(join(work, 'alerts.jsonl'));
    for (const alert of alerts) expect(alertSchema.safeParse(alert).error?.issues ?? [], JSON.stringify(alert)).toEqual([]);
    expect(alerts.filter((alert) => alert.containerID === 'looper' && alert.policyName === 'block-secret')[0]).toMatchObject({ operation: 'File', resource: '/etc/secret', action: 'Block', result: 'Permission denied', enforcer: 'BPFLSM' });
  });
});
