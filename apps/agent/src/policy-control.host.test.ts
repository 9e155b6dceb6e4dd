import { asNobodyPrefix } from '../../../test-support/as-nobody.js';
import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentConnection } from '@bulwark/hook-client';
import {
  agentBundle,
  makeTemporaryDirectory,
  removeDirectory,
  requireBuild,
  runCommand,
  startAgentProcess,
  type AgentHandle,
  type CommandResult,
} from '../../../test-support/containers.js';

/**
 * `bulwark policy apply|delete|list` against the built agent (audit mode):
 * applied policies are kept in its state and come back after a restart; a
 * duplicate of a directory policy, a bad file and a non-root caller are
 * refused; a truncated or oversized control frame leaves the agent serving.
 */

let work: string;
let policyDirectory: string;
let paths: { hookSocket: string; controlSocket: string; stateFile: string; runcRoot: string; crunRoot: string };
let agent: AgentHandle | undefined;

const policy = (name: string, paths: readonly string[], action = 'Block') => `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: ${name}
  namespace: shop
spec:
  selector:
    matchLabels:
      app: web
  file:
    matchPaths:
${paths.map((path) => `    - path: ${path}`).join('\n')}
  action: ${action}
`;

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('policy-control');
  await mkdir(join(work, 'run'), { mode: 0o700 });
  policyDirectory = join(work, 'policies');
  await mkdir(policyDirectory);
  await writeFile(join(policyDirectory, 'base.yaml'), policy('from-directory', ['/etc/shadow']));
  paths = {
    hookSocket: join(work, 'run', 'hook.sock'),
    controlSocket: join(work, 'run', 'control.sock'),
    stateFile: join(work, 'state', 'containers.json'),
    runcRoot: join(work, 'runc-root'),
    crunRoot: join(work, 'crun-root'),
  };
});

afterAll(async () => {
  await agent?.stop();
  if (work !== undefined) await removeDirectory(work);
});

const start = () => startAgentProcess(paths, ['--no-scan', '--enforcement', 'audit', '--policy-dir', policyDirectory]);

function bulwark(args: readonly string[], input?: string): Promise<CommandResult> {
  return runCommand(process.execPath, [agentBundle, 'policy', ...args, '--control-socket', paths.controlSocket], input === undefined ? {} : { input });
}

interface Listed {
  policies: { kind: string; namespace: string | null; name: string; action: string; origin: string; containers: number; rules: number }[];
}

async function list(): Promise<Listed['policies']> {
  const result = await bulwark(['list', '--json']);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as Listed).policies;
}

/** The CLI as uid 65534, with the socket opened up so that the agent's own check is what refuses it. */
function asNobody(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Through the prefix, not spawn's uid: under /root nobody could not reach the checkout's Node.
    const [command, ...prefix] = asNobodyPrefix();
    const child = spawn(command!, [...prefix, process.execPath, agentBundle, 'policy', ...args, '--control-socket', paths.controlSocket], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Raw bytes to the control socket; resolves with what came back once the agent closes. */
function sendRaw(bytes: Buffer, end: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path: paths.controlSocket });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.write(bytes, () => {
      if (end) socket.end();
    });
  });
}

describe('bulwark policy apply|delete|list', () => {
  it('applies, lists, re-applies, deletes and restores after a restart; refuses duplicates, bad files and non-root callers', async () => {
    agent = await start();
    // A registered container the policies select (audit mode: compiled, nothing in the kernel).
    const hook = await AgentConnection.connect(paths.hookSocket);
    await hook.request({
      type: 'container.create',
      container: { id: 'web-1', stage: 'createRuntime', status: 'created', bundle: '/nonexistent', names: { runtime: 'runc', podNamespace: 'shop' }, annotations: { app: 'web' } },
    });
    hook.close();

    const file = join(work, 'applied.yaml');
    await writeFile(file, policy('applied-one', ['/etc/passwd', '/etc/group'], 'Audit'));
    const created = await bulwark(['apply', file]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toBe('KubeArmorPolicy shop/applied-one created\n');
    expect(await list()).toEqual([
      { kind: 'KubeArmorPolicy', namespace: 'shop', name: 'from-directory', action: 'Block', origin: `${join(policyDirectory, 'base.yaml')}:1:1`, containers: 1, rules: 1 },
      { kind: 'KubeArmorPolicy', namespace: 'shop', name: 'applied-one', action: 'Audit', origin: 'applied', appliedFrom: file, containers: 1, rules: 2 },
    ]);
    await agent.waitForLog((line) => line.message === 'policy created' && line.policy === 'KubeArmorPolicy shop/applied-one');

    // Re-applied from standard input: replaced.
    const configured = await bulwark(['apply', '-', '--json'], policy('applied-one', ['/etc/passwd', '/etc/group', '/etc/hosts']));
    expect(configured.code, configured.stderr).toBe(0);
    expect(JSON.parse(configured.stdout)).toEqual({ changes: [{ kind: 'KubeArmorPolicy', namespace: 'shop', name: 'applied-one', action: 'configured' }], failed: 0 });
    expect((await list()).find((row) => row.name === 'applied-one')?.rules).toBe(3);

    // Kept in the agent's state: 0700, 0600.
    const stateDirectory = join(work, 'state', 'policies.applied');
    expect((await stat(stateDirectory)).mode & 0o777).toBe(0o700);
    const stored = await readdir(stateDirectory);
    expect(stored).toHaveLength(1);
    expect((await stat(join(stateDirectory, stored[0]!))).mode & 0o777).toBe(0o600);

    // A duplicate of a directory policy: both origins named; a bad file: its line and column, nothing sent.
    const duplicate = join(work, 'duplicate.yaml');
    await writeFile(duplicate, policy('from-directory', ['/tmp/x']));
    const refused = await bulwark(['apply', duplicate]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`bulwark policy apply: KubeArmorPolicy shop/from-directory is defined in the policy directory at ${join(policyDirectory, 'base.yaml')}:1:1 and applied from ${duplicate}; delete one of them\n`);
    const bad = join(work, 'bad.yaml');
    await writeFile(bad, policy('bad', ['relative/path']));
    const invalid = await bulwark(['apply', bad]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(new RegExp(`^${bad}:12:13: spec\\.file\\.matchPaths\\.0\\.path: `, 'u'));
    expect(invalid.stderr).not.toContain('    at ');

    // Delete: a directory policy refused with its file, an unknown one in one line.
    const fromDirectory = await bulwark(['delete', 'from-directory']);
    expect(fromDirectory).toMatchObject({ code: 1, stderr: `bulwark policy delete: KubeArmorPolicy shop/from-directory comes from the policy directory; remove it from ${join(policyDirectory, 'base.yaml')}\n` });
    const unknown = await bulwark(['delete', 'nope']);
    expect(unknown).toMatchObject({ code: 1, stderr: 'bulwark policy delete: no policy nope is in force\n' });

    // Restart: the applied policy comes back.
    await agent.stop();
    agent = await start();
    expect(await agent.waitForLog((line) => line.message === 'policies loaded')).toMatchObject({ policies: 1, applied: 1 });
    expect((await list()).map((row) => [row.name, row.origin, row.rules])).toEqual([
      ['from-directory', `${join(policyDirectory, 'base.yaml')}:1:1`, 1],
      ['applied-one', 'applied', 3],
    ]);

    const deleted = await bulwark(['delete', 'applied-one', '--namespace', 'shop', '--kind', 'KubeArmorPolicy']);
    expect(deleted).toMatchObject({ code: 0, stdout: 'KubeArmorPolicy shop/applied-one deleted\n' });
    expect((await list()).map((row) => row.name)).toEqual(['from-directory']);
    expect(await readdir(stateDirectory)).toEqual([]);
    await agent.waitForLog((line) => line.message === 'policy deleted');

    // A non-root caller: refused by the agent (peer credentials), and by the socket's mode when it is closed to it.
    await chmod(join(work, 'run'), 0o755);
    await chmod(paths.controlSocket, 0o666);
    for (const argv of [['list'], ['apply', file], ['delete', 'applied-one']]) {
      const result = await asNobody(argv);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`bulwark policy ${argv[0]}: root only (the caller is uid 65534)\n`);
    }
    await chmod(paths.controlSocket, 0o600);
    const closed = await asNobody(['list']);
    expect(closed).toEqual({ code: 1, stderr: `bulwark policy list: agent unreachable at ${paths.controlSocket}: permission denied; run as root (or as the socket's owner)\n` });
    expect((await list()).map((row) => row.name)).toEqual(['from-directory']);
  });

  it('survives an oversized and a truncated control frame', async () => {
    agent ??= await start();
    const oversized = Buffer.alloc(8);
    oversized.writeUInt32BE(0xffff_ffff, 0);
    const answer = await sendRaw(oversized, false);
    expect(answer.subarray(4).toString('utf8')).toContain('frame-too-large');
    const truncated = Buffer.alloc(14);
    truncated.writeUInt32BE(100, 0);
    await sendRaw(truncated, true);
    const garbage = Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('{"v":')]);
    expect((await sendRaw(garbage, true)).subarray(4).toString('utf8')).toContain('bad-request');
    expect(agent.process.exitCode).toBeNull();
    expect((await list()).map((row) => row.name)).toEqual(['from-directory']);
  });
});
