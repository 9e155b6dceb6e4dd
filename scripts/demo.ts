/**
 * The main job, end to end: the agent enforcing the example policies
 * (examples/policies/) on hooked runc containers, operations blocked and
 * allowed, and the alerts they raise. One line per check; exits 0 only when
 * every expected block, allow and alert happened.
 *
 * Enforcement needs BPF LSM. Where this host has it active, the demo runs
 * here; elsewhere it boots the kernel test guest (tools/kernel-vm: QEMU,
 * BPF LSM active) and runs there, and says so.
 * Run it with `./run demo` (which sets up Node 24 and builds first).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTemporaryDirectory, removeDirectory, repositoryRoot, requireBuild, runCommand, startAgentProcess, agentBundle, runChecked } from '../test-support/containers.ts';
import { makeEnforceRootfs, readAlerts, runHookedContainer } from '../test-support/enforce.ts';

const say = (text: string) => process.stdout.write(`${text}\n`);
const step = (text: string) => say(`\n==> ${text}`);

function activeLsms(): string {
  try {
    return readFileSync('/sys/kernel/security/lsm', 'utf8').trim();
  } catch {
    return 'unknown: /sys/kernel/security/lsm cannot be read, securityfs is not mounted';
  }
}

/** Boots the kernel test guest and runs this script in it. */
function runInGuest(lsms: string): number {
  say(`demo: BPF LSM is not active on this host (lsm: ${lsms}), so the demo runs in the kernel test guest`);
  say('demo: (QEMU with BPF LSM active, this machine\'s root read-only inside; under TCG emulation it takes a few minutes)');
  const prepare = spawnSync(join(repositoryRoot, 'tools/kernel-vm/prepare.sh'), [], { stdio: 'inherit' });
  if (prepare.status !== 0) return prepare.status ?? 1;
  const guest = spawnSync(join(repositoryRoot, 'tools/kernel-vm/run.sh'), ['--timeout', '1500', '--', process.execPath, join(repositoryRoot, 'scripts/demo.ts')], {
    stdio: 'inherit',
    cwd: repositoryRoot,
  });
  return guest.status ?? 1;
}

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

async function runDemo(): Promise<number> {
  await requireBuild();
  const work = await makeTemporaryDirectory('demo');
  const run = join(work, 'run');
  await mkdir(run, { mode: 0o700 });
  const paths = {
    hookSocket: join(run, 'hook.sock'),
    controlSocket: join(run, 'control.sock'),
    stateFile: join(work, 'state', 'containers.json'),
    runcRoot: join(work, 'runc'),
    crunRoot: join(work, 'crun'),
  };
  const policies = join(repositoryRoot, 'examples/policies');
  const bpffs = `/sys/fs/bpf/bulwark-demo-${process.pid}`;
  const alertsFile = join(work, 'alerts.jsonl');
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    say(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : `: ${detail}`}`);
  };

  step(`the example policies (${policies})`);
  say((await runChecked(process.execPath, [agentBundle, 'policy', 'validate', policies])).stdout.trim());
  step('starting the agent: enforcement required, the example policies, alerts to a file');
  const agent = await startAgentProcess(paths, ['--enforcement', 'required', '--policy-dir', policies, '--bpffs-dir', bpffs, '--alerts-file', alertsFile, '--log-format', 'json']);
  try {
    const rootfs = await makeEnforceRootfs(work);
    const container = (name: string, script: string, annotations: Record<string, string> = {}) =>
      runHookedContainer({ work, rootfs, runcRoot: paths.runcRoot, hookSocket: paths.hookSocket, name, script, annotations });
    const denied = /Operation not permitted|Permission denied/u;

    step('containers (runc, with the hook; each command is the container\'s first instruction)');
    const mysql = await container('mysql', 'cat /var/lib/mysql/ibdata1', { app: 'mysql' });
    check('app=mysql: reading /var/lib/mysql/ibdata1 is blocked', denied.test(mysql.result) && mysql.result.includes('exit=1'), mysql.result.trim());
    const web = await container('web', 'cat /var/lib/mysql/ibdata1; cat /etc/secret; cat /bin/busybox > /dev/null && echo binary-read; echo x > /bin/planted', { app: 'web' });
    check('app=web: reading /var/lib/mysql/ibdata1 is allowed (the policy selects app=mysql only)', web.result.includes('rows'), web.result.trim());
    check('app=web: reading /etc/secret is allowed (audited)', web.result.includes('s3cret'), web.result.trim());
    check('app=web: reading /bin/busybox is allowed', web.result.includes('binary-read'), web.result.trim());
    check('app=web: writing /bin/planted is blocked (file integrity)', /can't create \/bin\/planted: (Operation not permitted|Permission denied)/u.test(web.result), web.result.trim());
    const raw = await container('raw', 'arping -c 1 -w 1 -I lo 127.0.0.1', { app: 'web' });
    check('every container: a packet socket (arping) is blocked', /socket.*(Operation not permitted|Permission denied)/u.test(raw.result), raw.result.trim());
    const host = await runCommand('/bin/busybox', ['arping', '-c', '1', '-w', '1', '-I', 'lo', '127.0.0.1']);
    check('the host, outside every scope: the same socket is allowed', !/socket.*(Operation not permitted|Permission denied)/u.test(host.stdout + host.stderr), host.stderr.trim());

    step('alerts (JSON lines, KubeArmor field names)');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const alerts = await readAlerts(alertsFile);
    for (const alert of alerts) {
      say(`  ${String(alert.updatedTime)} ${String(alert.containerName ?? alert.containerID)} ${String(alert.policyName)} ${String(alert.operation)} ${String(alert.resource)} ${String(alert.action)} ${String(alert.result)}`);
    }
    const has = (match: Record<string, unknown>) => alerts.some((alert) => Object.entries(match).every(([key, value]) => alert[key] === value));
    check('alert: block-mysql-data-access blocked /var/lib/mysql/ibdata1', has({ policyName: 'block-mysql-data-access', operation: 'File', resource: '/var/lib/mysql/ibdata1', action: 'Block', result: 'Permission denied' }), JSON.stringify(alerts.slice(-3)));
    check('alert: audit-secrets audited /etc/secret, and it passed', has({ policyName: 'audit-secrets', operation: 'File', resource: '/etc/secret', action: 'Audit', result: 'Passed' }), JSON.stringify(alerts.slice(-3)));
    check('alert: file-integrity-monitoring blocked /bin/planted', has({ policyName: 'file-integrity-monitoring', resource: '/bin/planted', action: 'Block' }), JSON.stringify(alerts.slice(-3)));
    check('alert: net-raw-block blocked a Network operation', has({ policyName: 'net-raw-block', operation: 'Network', action: 'Block' }), JSON.stringify(alerts.slice(-3)));
    check('no alert for the unselected read of /var/lib/mysql/ibdata1 in app=web', !alerts.some((alert) => alert.policyName === 'block-mysql-data-access' && alert.containerID === 'web'), '');

    step('bulwark doctor: the hook installed, its Node, its socket, the agent, BPF LSM, the pinned enforcer');
    const doctor = await runCommand(process.execPath, [agentBundle, 'doctor', '--control-socket', paths.controlSocket, '--hook-path', join(work, 'bin', 'bulwark-hook')]);
    for (const line of doctor.stdout.trimEnd().split('\n')) say(`  ${line}`);
    check('bulwark doctor: no check found a problem', doctor.code === 0, doctor.stderr.trim() || `exit ${doctor.code}`);
  } finally {
    await agent.stop();
    await runCommand('rm', ['-rf', bpffs]);
    await removeDirectory(work);
  }
  const failed = checks.filter((entry) => !entry.ok).length;
  step(failed === 0 ? `all ${checks.length} checks passed` : `${failed} of ${checks.length} checks failed`);
  return failed === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo: runc and BPF need root; run it as root (sudo ./run demo)\n');
    return 1;
  }
  const lsms = activeLsms();
  if (!lsms.split(',').includes('bpf')) {
    if (process.env.BULWARK_KERNEL_VM === '1') {
      process.stderr.write(`demo: BPF LSM is not active even in the kernel test guest (lsm: ${lsms})\n`);
      return 1;
    }
    return runInGuest(lsms);
  }
  if (process.env.BULWARK_KERNEL_VM === '1') say('demo: running in the kernel test guest (BPF LSM active)');
  return runDemo();
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
