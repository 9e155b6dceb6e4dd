/**
 * End to end in the BPF-LSM guest: the built agent with `enforcement:
 * required` and a policy directory, real runc containers with the built
 * hook, and the kernel deciding. Seed 002's proof of concept: a raw socket
 * blocked in every container (a cluster policy), /bin/ and /sbin/
 * read-only in every container (file integrity monitoring), and
 * /var/lib/mysql/ blocked for the container labelled app=mysql only. Each
 * container's first instruction is the operation under test, so that a
 * block proves the rules were in the kernel before it ran.
 */
import { chmod, copyFile, link, mkdir, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { BpfMap } from '@bulwark/ebpf-lsm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertSchema } from '@bulwark/alerts';
import { makeEnforceRootfs, readAlerts, runHookedContainer } from '../../../test-support/enforce.js';
import {
  DOCKER_DEFAULT_CAPABILITIES,
  agentBundle,
  makeTemporaryDirectory,
  removeDirectory,
  requireBuild,
  runCommand,
  startAgentProcess,
  type AgentHandle,
} from '../../../test-support/containers.js';

let work: string;
let rootfs: string;
/** A merged-/usr root: /bin is a symlink to usr/bin. */
let mergedRootfs: string;
let agent: AgentHandle;
let paths: { hookSocket: string; controlSocket: string; stateFile: string; runcRoot: string; crunRoot: string };
let policies: string;
let bpffs: string;
let alertsFile: string;

const POLICIES: Record<string, string> = {
  'net-raw-block.yaml': `apiVersion: security.kubearmor.com/v1
kind: KubeArmorClusterPolicy
metadata:
  name: net-raw-block
spec:
  severity: 5
  message: raw sockets are not allowed
  network:
    matchProtocols:
    - protocol: raw
  action: Block
`,
  'file-integrity-monitoring.yaml': `apiVersion: security.kubearmor.com/v1
kind: KubeArmorClusterPolicy
metadata:
  name: file-integrity-monitoring
spec:
  severity: 7
  tags: [FIM]
  file:
    matchDirectories:
    - dir: /bin/
      recursive: true
      readOnly: true
    - dir: /sbin/
      recursive: true
      readOnly: true
  action: Block
`,
  // Merged /usr: the rule names /bin/tool; in the merged root that file is /usr/bin/tool, the path exec resolves.
  'block-tool.yaml': `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: block-tool
spec:
  selector:
    matchLabels:
      app: tools
  process:
    matchPaths:
    - path: /bin/tool
  action: Block
`,
  // A file the image also holds under another name (a hard link): the rule follows the file (its identity), not just the path.
  'block-vault-key.yaml': `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: block-vault-key
spec:
  selector:
    matchLabels:
      app: vault
  file:
    matchPaths:
    - path: /etc/vault.key
  action: Block
`,
  'block-mysql-data-access.yaml': `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: block-mysql-data-access
spec:
  selector:
    matchLabels:
      app: mysql
  file:
    matchDirectories:
    - dir: /var/lib/mysql/
      recursive: true
  action: Block
`,
};

const run = (name: string, script: string, annotations: Record<string, string> = {}, capabilities?: readonly string[]) =>
  runHookedContainer({ work, rootfs, runcRoot: paths.runcRoot, hookSocket: paths.hookSocket, name, script, annotations, ...(capabilities === undefined ? {} : { capabilities }) });

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('enforce');
  rootfs = await makeEnforceRootfs(work);
  const merged = join(work, 'merged');
  await mkdir(merged);
  mergedRootfs = await makeEnforceRootfs(merged);
  await mkdir(join(mergedRootfs, 'usr'));
  await rename(join(mergedRootfs, 'bin'), join(mergedRootfs, 'usr', 'bin'));
  await symlink('usr/bin', join(mergedRootfs, 'bin'));
  // A program of its own (a busybox copy: run as `tool` it says "applet not found", which shows it ran), not a link: exec decides the file it opens.
  await copyFile(join(mergedRootfs, 'usr', 'bin', 'busybox'), join(mergedRootfs, 'usr', 'bin', 'tool'));
  await writeFile(join(rootfs, 'etc', 'vault.key'), 'vault key\n');
  await link(join(rootfs, 'etc', 'vault.key'), join(rootfs, 'var', 'vault.key.bak'));
  // A file under the blocked /var/lib/mysql/ that the image also holds elsewhere: the directory rule follows it there.
  await link(join(rootfs, 'var', 'lib', 'mysql', 'ibdata1'), join(rootfs, 'var', 'ibdata1.copy'));
  const run = join(work, 'run');
  await mkdir(run, { mode: 0o700 });
  policies = join(work, 'policies');
  await mkdir(policies);
  for (const [file, text] of Object.entries(POLICIES)) await writeFile(join(policies, file), text);
  // A host policy for this host: a file no host process may read, the policy file itself among them (the agent, protected, still reads it).
  await writeFile(join(work, 'host-secret'), 'host secret\n');
  await writeFile(
    join(policies, 'host-secret.yaml'),
    `apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata:
  name: host-secret-block
spec:
  nodeSelector:
    matchLabels:
      kubernetes.io/hostname: ${hostname()}
  severity: 9
  file:
    matchPaths:
    - path: ${join(work, 'host-secret')}
    - path: ${join(policies, 'host-secret.yaml')}
  action: Block
`,
  );
  bpffs = `/sys/fs/bpf/bulwark-test-${process.pid}`;
  alertsFile = join(work, 'alerts.jsonl');
  paths = {
    hookSocket: join(run, 'hook.sock'),
    controlSocket: join(run, 'control.sock'),
    stateFile: join(work, 'state', 'containers.json'),
    runcRoot: join(work, 'runc-root'),
    crunRoot: join(work, 'crun-root'),
  };
  await chmod(work, 0o755);
  const config = join(work, 'agent.yaml');
  await writeFile(config, 'metrics:\n  listen: 127.0.0.1:0\n');
  agent = await startAgentProcess(paths, ['--config', config, '--enforcement', 'required', '--policy-dir', policies, '--bpffs-dir', bpffs, '--alerts-file', alertsFile, '--log-format', 'json']);
});

afterAll(async () => {
  await agent?.stop();
  await runCommand('rm', ['-rf', bpffs]);
  if (work !== undefined) await removeDirectory(work);
});

describe('enforcement through the agent (seed 002 proof of concept)', () => {
  it('blocks /var/lib/mysql/ in the mysql container from its first instruction, a file below it under its other name too, and lets others read both', async () => {
    const mysql = await run('mysql', 'cat /var/lib/mysql/ibdata1; cat /var/ibdata1.copy', { app: 'mysql' });
    expect(mysql.result).toMatch(/can't open '\/var\/lib\/mysql\/ibdata1': (Operation not permitted|Permission denied)/u);
    expect(mysql.result).toMatch(/can't open '\/var\/ibdata1\.copy': (Operation not permitted|Permission denied)/u);
    expect(mysql.result).not.toContain('rows');
    expect(mysql.result).toContain('exit=1');
    const other = await run('web', 'cat /var/lib/mysql/ibdata1; cat /var/ibdata1.copy', { app: 'web' });
    expect(other.result).toBe('rows\nrows\nexit=0\n');
  });

  it('follows a blocked file to the hard link its image holds, in the container the policy selects only', async () => {
    const vault = await run('vault', 'cat /var/vault.key.bak; cat /etc/vault.key; cat /etc/secret', { app: 'vault' });
    expect(vault.result).toMatch(/can't open '\/var\/vault\.key\.bak': (Operation not permitted|Permission denied)/u);
    expect(vault.result).toMatch(/can't open '\/etc\/vault\.key': (Operation not permitted|Permission denied)/u);
    expect(vault.result).toContain('s3cret\n');
    expect(vault.result).not.toContain('vault key');
    const plain = await run('plain-vault', 'cat /var/vault.key.bak', { app: 'web' });
    expect(plain.result).toBe('vault key\nexit=0\n');
  });

  it('holds against a default root container (Docker\'s capabilities) renaming its way to a blocked file: chroot, a new link, /proc/self/root; in a container in no scope each works', async () => {
    // chroot into /etc with a busybox copied there, then the key by its short name; a hard link made now; the key through the process's root link.
    const attempts = [
      'busybox cp /bin/busybox /etc/busybox',
      'if busybox chroot /etc /busybox cat /vault.key; then echo chroot-read; else echo chroot-denied; fi',
      'if busybox ln /etc/vault.key /tmp/key-link; then echo link-made; else echo link-denied; fi',
      'if cat /proc/self/root/etc/vault.key; then echo proc-root-read; else echo proc-root-denied; fi',
      'id -u',
    ].join('; ');
    const vault = await run('vault-default', attempts, { app: 'vault' }, DOCKER_DEFAULT_CAPABILITIES);
    expect(vault.result).toContain('chroot-denied');
    expect(vault.result).toContain('link-denied');
    expect(vault.result).toContain('proc-root-denied');
    expect(vault.result).not.toContain('vault key');
    expect(vault.result).toMatch(/^0$/mu);
    // Control: the same attempts, the same capabilities, in a container without the hook (in no scope): each works, so the probes are sound.
    // (A hooked one would do: every container here is under the cluster-wide file-integrity policy, whose Block rules bring the evasion guard.)
    const control = await runHookedContainer({ work, rootfs, runcRoot: paths.runcRoot, hookSocket: paths.hookSocket, name: 'vault-control', script: attempts, capabilities: DOCKER_DEFAULT_CAPABILITIES, hook: false });
    expect(control.result).toContain('chroot-read');
    expect(control.result).toContain('link-made');
    expect(control.result).toContain('proc-root-read');
  });

  it('blocks /bin/tool in a merged-/usr root, where exec opens /usr/bin/tool, for the container the policy selects only', async () => {
    const merged = (name: string, app: string) => runHookedContainer({ work, rootfs: mergedRootfs, runcRoot: paths.runcRoot, hookSocket: paths.hookSocket, name, script: '/bin/tool', annotations: { app } });
    const tools = await merged('tools', 'tools');
    expect(tools.result).toMatch(/\/bin\/tool: (Operation not permitted|Permission denied)/u);
    const other = await merged('tools-web', 'web');
    expect(other.result).toMatch(/tool: applet not found/u);
  });

  it('keeps /bin/ read-only in every container, and reading it allowed', async () => {
    const result = await run('fim', 'cat /bin/busybox > /dev/null && echo read-ok; echo x > /bin/new', { app: 'web' });
    expect(result.result).toContain('read-ok');
    expect(result.result).toMatch(/can't create \/bin\/new: (Operation not permitted|Permission denied|Read-only file system)/u);
  });

  it('blocks raw and packet sockets in every container, not on the host', async () => {
    const result = await run('raw', 'arping -c 1 -w 1 -I lo 127.0.0.1', { app: 'web' });
    expect(result.result).toMatch(/socket.*(Operation not permitted|Permission denied)/u);
    const host = await runCommand('/bin/busybox', ['arping', '-c', '1', '-w', '1', '-I', 'lo', '127.0.0.1']);
    expect(`${host.stdout}${host.stderr}`).not.toMatch(/socket.*(Operation not permitted|Permission denied)/u);
  });

  it('applies a host policy to host processes, not to a process in a pid namespace of its own, nor to the agent', async () => {
    const host = await runCommand('cat', [join(work, 'host-secret')]);
    expect(host.code).not.toBe(0);
    expect(host.stderr).toMatch(/Operation not permitted/u);
    expect((await runCommand('cat', [join(policies, 'host-secret.yaml')])).stderr).toMatch(/Operation not permitted/u);
    const ownPidNamespace = await runCommand('unshare', ['--pid', '--fork', '--mount', 'cat', join(work, 'host-secret')]);
    expect(ownPidNamespace).toMatchObject({ code: 0, stdout: 'host secret\n' });
    expect(agent.logLines().find((line) => line.message === 'enforcing host policies')).toMatchObject({ host: hostname(), rules: 2, policies: ['KubeArmorHostPolicy/host-secret-block'] });
    // The agent reads the policy directory again, host-secret.yaml included: it is under no host policy.
    agent.process.kill('SIGHUP');
    expect(await agent.waitForLog((line) => line.message === 'policies applied', 60_000)).toMatchObject({ policies: 6, failed: 0 });
  });

  it('wrote an alert for each decision, in the documented schema, naming the policy', async () => {
    const alerts = await readAlerts(alertsFile);
    for (const alert of alerts) expect(alertSchema.safeParse(alert).error?.issues ?? []).toEqual([]);
    expect(alerts).toContainEqual(
      expect.objectContaining({
        containerID: 'mysql',
        policyName: 'block-mysql-data-access',
        operation: 'File',
        resource: '/var/lib/mysql/ibdata1',
        action: 'Block',
        result: 'Permission denied',
        enforcer: 'BPFLSM',
        labels: expect.stringContaining('app=mysql'),
      }),
    );
    expect(alerts).toContainEqual(expect.objectContaining({ containerID: 'mysql', policyName: 'block-mysql-data-access', resource: '/var/ibdata1.copy', action: 'Block' }));
    // The hard link is reported by the name it was opened by, under the rule of the file it names.
    expect(alerts).toContainEqual(expect.objectContaining({ containerID: 'vault', policyName: 'block-vault-key', operation: 'File', resource: '/var/vault.key.bak', action: 'Block' }));
    expect(alerts).toContainEqual(expect.objectContaining({ containerID: 'fim', policyName: 'file-integrity-monitoring', resource: '/bin/new', action: 'Block' }));
    expect(alerts).toContainEqual(expect.objectContaining({ containerID: 'raw', policyName: 'net-raw-block', operation: 'Network', action: 'Block' }));
    expect(alerts).toContainEqual(
      expect.objectContaining({
        type: 'MatchedHostPolicy',
        hostName: hostname(),
        policyName: 'host-secret-block',
        severity: '9',
        operation: 'File',
        resource: join(work, 'host-secret'),
        processName: expect.stringMatching(/cat$/u),
        action: 'Block',
        result: 'Permission denied',
      }),
    );
    expect(alerts.filter((alert) => alert.type === 'MatchedHostPolicy').every((alert) => alert.containerID === undefined)).toBe(true);
    // The unselected container's read raised nothing.
    expect(alerts.filter((alert) => alert.containerID === 'web' || alert.containerID === 'plain-vault' || alert.containerID === 'vault-control')).toEqual([]);
  });

  it('answers on the metrics endpoint with the documented series, counted in the kernel', async () => {
    const address = agent.logLines().find((line) => line.message === 'metrics listening')?.address as string;
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/u);
    const response = await fetch(`http://${address}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    const value = (series: string) => {
      const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    for (const family of ['bulwark_agent_info', 'bulwark_registry_containers', 'bulwark_enforcement_scopes', 'bulwark_hook_requests_total', 'bulwark_hook_request_duration_seconds', 'bulwark_decisions_total', 'bulwark_alerts_total', 'bulwark_ring_buffer_received_total', 'bulwark_ring_buffer_dropped_total']) {
      expect(text).toContain(`# TYPE ${family} `);
    }
    // The host scope's decisions, from the kernel: at least the two host reads blocked above.
    expect(value(`bulwark_decisions_total{container_id="",container_name="${hostname()}",decision="denied"}`)).toBeGreaterThanOrEqual(2);
    expect(value('bulwark_ring_buffer_received_total')).toBeGreaterThanOrEqual(4);
    expect(value('bulwark_ring_buffer_dropped_total')).toBe(0);
    expect(value('bulwark_alerts_total{container_name="mysql",policy_name="block-mysql-data-access",action="Block"}')).toBeGreaterThanOrEqual(1);
  });

  it('removed every stopped container\'s scope from the kernel', () => {
    expect(agent.logLines().find((line) => line.message === 'enforcing' && line.id === 'mysql')).toMatchObject({ policies: expect.arrayContaining(['KubeArmorPolicy/block-mysql-data-access']) });
    const removed = agent.logLines().filter((line) => line.message === 'container removed');
    expect(removed.map((line) => line.id)).toEqual(expect.arrayContaining(['mysql', 'web', 'fim', 'raw']));
    const scopes = BpfMap.openPinned(join(bpffs, 'map-scopes'));
    try {
      expect([...scopes.keys()]).toEqual([]);
    } finally {
      scopes.close();
    }
  });
});

describe('bulwark doctor on this set-up (issue 11: the agent, its pinned enforcer, hooks installed by install-hook)', () => {
  type Report = { ok: boolean; checks: { name: string; status: string; detail: string }[] };
  const doctor = async (hookPath: string, ...extra: string[]) => {
    const result = await runCommand(process.execPath, [agentBundle, 'doctor', '--json', '--control-socket', paths.controlSocket, '--hook-path', hookPath, ...extra]);
    const report = JSON.parse(result.stdout) as Report;
    return { code: result.code, report, status: Object.fromEntries(report.checks.map((check) => [check.name, check.status])), detail: (name: string) => report.checks.find((check) => check.name === name)?.detail };
  };

  it("passes every check; names a removed interpreter, and a hook socket that is not the agent's", async () => {
    const passing = await doctor(join(work, 'bin', 'bulwark-hook'));
    expect(passing.report.checks.filter((check) => check.status === 'problem')).toEqual([]);
    expect(passing.status).toMatchObject({ agent: 'ok', 'hook for runc': 'ok', 'hook interpreter': 'ok', 'hook configuration': 'ok', 'hook socket': 'ok', 'bpf lsm': 'ok', enforcer: 'ok' });
    expect(passing.code).toBe(0);
    expect(passing.detail('enforcer')).toMatch(new RegExp(`^pinned at ${bpffs}, \\d+ scopes in force$`, 'u'));

    // A second install whose hook runs on a Node that is then removed (a deleted checkout, an upgraded Node).
    const other = join(work, 'doctor');
    await mkdir(join(other, 'bundle'), { recursive: true });
    await copyFile(join(work, 'bundles', 'mysql', 'config.json'), join(other, 'bundle', 'config.json'));
    await symlink(process.execPath, join(other, 'node'));
    const installed = await runCommand(process.execPath, [
      agentBundle, 'install-hook', '--runtime', 'runc', '--bundle', join(other, 'bundle'), '--hook-path', join(other, 'bin', 'bulwark-hook'),
      '--hook-config', join(other, 'hook.json'), '--node', join(other, 'node'), '--socket', paths.hookSocket, '--log', '', '--compile-cache', '',
    ]);
    expect(installed.code, installed.stderr).toBe(0);
    expect((await doctor(join(other, 'bin', 'bulwark-hook'))).code).toBe(0);
    await unlink(join(other, 'node'));
    const noInterpreter = await doctor(join(other, 'bin', 'bulwark-hook'));
    expect(noInterpreter.code).toBe(1);
    expect(noInterpreter.status).toMatchObject({ 'hook interpreter': 'problem', agent: 'ok', 'hook socket': 'ok' });
    expect(noInterpreter.detail('hook interpreter')).toContain(join(other, 'node'));

    await writeFile(join(other, 'elsewhere.json'), JSON.stringify({ version: 1, socket: join(work, 'run', 'other.sock'), failMode: 'closed' }));
    const elsewhere = await doctor(join(work, 'bin', 'bulwark-hook'), '--hook-config', join(other, 'elsewhere.json'));
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.detail('hook socket')).toBe(
      `the hook connects to ${join(work, 'run', 'other.sock')}, the agent serves ${paths.hookSocket}: reinstall with --socket ${paths.hookSocket}, or start the agent with --hook-socket ${join(work, 'run', 'other.sock')}`,
    );
  });

  it('names the agent when it is stopped, and the hook socket no longer answering (fail-closed: containers do not start)', async () => {
    await agent.stop();
    const stopped = await doctor(join(work, 'bin', 'bulwark-hook'), '--hook-socket', paths.hookSocket, '--bpffs-dir', bpffs);
    expect(stopped.code).toBe(1);
    expect(stopped.status).toMatchObject({ agent: 'problem', 'hook socket': 'problem', 'bpf lsm': 'ok' });
    expect(stopped.detail('agent')).toMatch(/^no agent answers on .*control\.sock \((no socket there|nothing listens there)\): is the agent running\? \(start it with 'bulwark agent'/u);
    expect(stopped.detail('hook socket')).toMatch(/does not answer .*: containers start not at all \(fail-closed\)$/u);
    // The enforcer stays pinned and in force while the agent is down.
    expect(stopped.status.enforcer).toBe('ok');
  });
});
