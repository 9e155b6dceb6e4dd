import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMap } from '@bulwark/ebpf-lsm';
import { agentBundle, installHook, makeBundle, makeTemporaryDirectory, removeDirectory, requireBuild, runChecked, runCommand } from '../../../test-support/containers.js';
import { listTree } from './__fixtures__/tree.js';

/**
 * `bulwark uninstall` on the built CLI against what a real agent, a real
 * install-hook (runc, into a bundle) and install-service left in a
 * temporary directory, with the enforcer's pins standing in as real maps
 * pinned on a private bpffs (this host cannot load the LSM enforcer; the
 * pins are laid out as it lays them out). It refuses while the agent runs,
 * says what it would remove with --dry-run, removes it all, and says
 * absent for everything the second time. The alerts file is written here:
 * an agent writes one only while it enforces, which needs BPF LSM.
 */

let work: string;
let bpffs: string | undefined;

const at = (...parts: string[]) => join(work, ...parts);

/** What the agent is started with, and what uninstall is told: every path in the work directory. */
function agentFlags(): string[] {
  return ['--config', at('etc/agent.yaml'), '--hook-socket', at('run/hook.sock'), '--control-socket', at('run/control.sock'), '--state-file', at('state/containers.json')];
}

function uninstall(...extra: string[]) {
  return runCommand(process.execPath, [agentBundle, 'uninstall', ...agentFlags(), '--hook-path', at('hook/bin/bulwark-hook'), '--unit-dir', at('units'), ...extra], { timeoutMs: 60_000 });
}

const policy = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: block-shadow
  namespace: shop
spec:
  selector:
    matchLabels:
      app: web
  file:
    matchPaths:
    - path: /etc/shadow
  action: Block
`;

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('uninstall');
  for (const directory of ['etc', 'policies', 'state', 'log', 'runc-root', 'crun-root', 'units']) await mkdir(at(directory));
  await mkdir(at('run'), { mode: 0o700 });
  await mkdir(at('bpffs'));
  await runChecked('mount', ['-t', 'bpf', 'bpf', at('bpffs')]);
  bpffs = at('bpffs');
});
afterAll(async () => {
  if (bpffs !== undefined) await runCommand('umount', [bpffs]);
  if (work !== undefined) await removeDirectory(work);
});

describe('bulwark uninstall on a host', () => {
  it("refuses while the agent runs, then removes the agent's files, the pins, the hook and the units; a second run finds nothing", async () => {
    // The agent: audit mode (policies applied over the control socket are kept in its state), a log file, alerts named.
    await writeFile(
      at('etc/agent.yaml'),
      `enforcement: audit\npolicyDirectory: ${at('policies')}\nbpffsDirectory: ${at('bpffs/bulwark')}\nlogFile: ${at('log/agent.log')}\nalerts:\n  file: ${at('log/alerts.jsonl')}\nscan:\n  runcRoots: [${at('runc-root')}]\n  crunRoots: [${at('crun-root')}]\n`,
    );
    // A registry with an entry the agent drops: it keeps the file as containers.json.bak first.
    await writeFile(at('state/containers.json'), '{"version":1,"containers":[{"container":{"id":"broken"}}]}\n');
    let atBpffsRoot: string[] = [];
    const agent = spawn(process.execPath, [agentBundle, 'agent', ...agentFlags()], { stdio: ['ignore', 'ignore', 'pipe'] });
    let agentStderr = '';
    agent.stderr.setEncoding('utf8').on('data', (chunk: string) => (agentStderr += chunk));
    const exited = once(agent, 'exit') as Promise<[number | null, string | null]>;
    try {
      for (const deadline = Date.now() + 60_000; !(await readFile(at('log/agent.log'), 'utf8').catch(() => '')).includes('"agent ready"'); ) {
        if (Date.now() > deadline || agent.exitCode !== null) throw new Error(`the agent did not get ready: ${agentStderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await writeFile(at('block-shadow.yaml'), policy);
      const applied = await runCommand(process.execPath, [agentBundle, 'policy', 'apply', at('block-shadow.yaml'), '--control-socket', at('run/control.sock')]);
      expect(applied.code, applied.stderr).toBe(0);
      await writeFile(at('log/alerts.jsonl'), '{"Type":"MatchedPolicy"}\n');

      // The hook (runc, into a bundle) and the service, each by its own command.
      const bundle = await makeBundle(at('bundle'), { rootfs: at('rootfs'), args: ['true'] });
      await installHook({ runtime: 'runc', target: bundle, work: at('hook'), socket: at('run/hook.sock'), failMode: 'closed' });
      expect(await readFile(join(bundle, 'config.json'), 'utf8')).toContain('bulwark-hook');
      await runChecked(process.execPath, [agentBundle, 'install-service', '--unit-dir', at('units'), '--config', at('etc/agent.yaml')]);
      // The enforcer's pins, as Enforcer.pin() names them; a new bpffs may hold the kernel's own iterators, which stay.
      atBpffsRoot = await readdir(at('bpffs'));
      await mkdir(at('bpffs/bulwark'));
      for (const name of ['scopes', 'rodata']) {
        const map = createMap({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1, name });
        map.pin(at('bpffs/bulwark', `map-${name}`));
        map.close();
      }

      const before = await listTree(work);
      expect(before).toEqual(
        expect.arrayContaining([
          'state/containers.json',
          'state/containers.json.bak',
          'state/containers.json.lock',
          'state/policies.applied/',
          'run/hook.sock',
          'run/control.sock',
          'log/agent.log',
          'log/alerts.jsonl',
          'bpffs/bulwark/map-rodata',
          'hook/bin/bulwark-install.json',
          'units/bulwark-agent.service',
        ]),
      );
      expect(before.filter((path) => path.startsWith('state/policies.applied/') && path.endsWith('.json'))).toHaveLength(1);

      // While the agent runs: one line naming it, exit 1, nothing removed.
      const refused = await uninstall();
      expect(refused.code, refused.stdout).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toBe(
        `bulwark uninstall: an agent is running (pid ${agent.pid}; it holds ${at('state/containers.json')}.lock): stop it first (systemctl disable --now bulwark-agent.path bulwark-agent.service); nothing was removed\n`,
      );
      expect(await listTree(work)).toEqual(before);

      agent.kill('SIGTERM');
      expect(await exited).toEqual([0, null]);
    } finally {
      agent.kill('SIGKILL');
    }
    // The agent stopped: its sockets are gone with it, the rest stays.
    const stopped = await listTree(work);

    const dryRun = await uninstall('--dry-run');
    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(await listTree(work)).toEqual(stopped);
    const lines = dryRun.stdout.trim().split('\n');
    expect(lines).toContain(`would remove ${at('state/containers.json')} (the container registry)`);
    expect(lines).toContain(`would remove ${at('bpffs/bulwark/map-rodata')} (an enforcer pin)`);
    expect(lines).toContain(`would update ${at('bundle/config.json')} (the runc hook entry: Bulwark's entries only)`);
    expect(lines).toContain(`would remove ${at('units/bulwark-agent.service')} (a systemd unit)`);

    const done = await uninstall('--json');
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toBe('');
    const report = JSON.parse(done.stdout) as { ok: boolean; steps: { part: string; action: string; path: string }[]; next: string[] };
    expect(report.ok).toBe(true);
    expect(report.next).toEqual(['systemctl daemon-reload']);
    const removed = report.steps.filter((step) => step.action === 'removed' || step.action === 'updated').map((step) => step.path);
    // What --dry-run said it would do is what was done.
    const planned = lines.filter((line) => line.startsWith('would ')).map((line) => line.replace(/^would (remove|update) /u, '').replace(/ \(.*$/u, ''));
    expect(removed.sort()).toEqual(planned.sort());
    for (const path of ['state/containers.json', 'state/containers.json.bak', 'state/containers.json.lock', 'state/policies.applied', 'log/agent.log', 'log/alerts.jsonl', 'bpffs/bulwark']) {
      expect(removed, path).toContain(at(path));
    }
    expect(report.steps).toContainEqual({ part: 'hook', action: 'updated', path: at('bundle/config.json') });

    // Left: the configuration and the policies, the bundle without Bulwark's hooks, the directories Bulwark did not make, another program's pins.
    expect((await listTree(work)).sort()).toEqual(['block-shadow.yaml', 'bpffs/', ...atBpffsRoot.map((name) => `bpffs/${name}`), 'bundle/', 'bundle/config.json', 'crun-root/', 'etc/', 'etc/agent.yaml', 'log/', 'policies/', 'run/', 'runc-root/', 'state/', 'units/'].sort());
    expect(await readFile(at('bundle/config.json'), 'utf8')).not.toContain('bulwark-hook');

    const again = await uninstall();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.split('\n').filter((line) => /^(removed|updated|would) /u.test(line))).toEqual([]);
  });
});
