/**
 * `bulwark uninstall` through the command line (runCli): its help, its
 * flags checked before anything happens, the refusal in one line with exit
 * 1, and the text and JSON output. Every path is given, so that nothing
 * outside the temporary directory is looked at but /run/bulwark and
 * /var/log/bulwark's names.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCliCaptured } from './__fixtures__/run-cli.js';
import { lockStateFile } from './state-lock.js';

let work: string;

const cli = runCliCaptured;

/** Every path the command takes, in the temporary directory. */
function flags(): string[] {
  const at = (path: string) => join(work, path);
  return [
    ...['--config', at('etc/agent.yaml'), '--state-file', at('state/containers.json'), '--hook-socket', at('run/hook.sock'), '--control-socket', at('run/control.sock')],
    ...['--alerts-file', at('log/alerts.jsonl'), '--log-file', '', '--bpffs-dir', at('bpffs/bulwark'), '--hook-path', at('lib/bulwark-hook')],
    ...['--hook-config', at('etc/hook.json'), '--compile-cache', '', '--hook-log', at('log/hook.log'), '--unit-dir', at('units')],
  ];
}

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bulwark-uninstall-cli-'));
  await mkdir(join(work, 'etc'));
  await mkdir(join(work, 'state'));
  await mkdir(join(work, 'log'));
  await writeFile(join(work, 'etc/agent.yaml'), 'enforcement: off\n');
  await writeFile(join(work, 'state/containers.json'), '{"version":1,"containers":[]}\n');
  await writeFile(join(work, 'log/alerts.jsonl'), '{}\n');
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('bulwark uninstall', () => {
  it('has help, under help too, and a version', async () => {
    const help = await cli('uninstall', '--help');
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: bulwark uninstall/);
    expect((await cli('help', 'uninstall')).stdout).toBe(help.stdout);
    expect((await cli('--help')).stdout).toContain('uninstall      remove everything Bulwark put on this host');
    expect((await cli('uninstall', '--version')).code).toBe(0);
  });

  it('checks its flags first: a relative path or an unknown flag is one line and exit 2', async () => {
    expect(await cli('uninstall', '--state-file', 'state.json')).toEqual({ code: 2, stdout: '', stderr: "bulwark uninstall: --state-file: must be an absolute path, got 'state.json'\n" });
    const unknown = await cli('uninstall', '--purge');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^bulwark uninstall: .*--purge[^\n]*\n$/u);
  });

  it('refuses while an agent holds the state lock: one line on stderr, exit 1, nothing removed', async () => {
    using lock = lockStateFile(join(work, 'state/containers.json'));
    expect(lock.path).toBe(join(work, 'state/containers.json.lock'));
    const result = await cli('uninstall', ...flags());
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `bulwark uninstall: an agent is running (pid ${process.pid}; it holds ${join(work, 'state/containers.json')}.lock): stop it first (kill ${process.pid}); nothing was removed\n`,
    });
    expect((await readdir(join(work, 'state'))).sort()).toEqual(['containers.json', 'containers.json.lock']);
    const json = await cli('uninstall', ...flags(), '--json');
    expect(json).toMatchObject({ code: 1, stderr: result.stderr });
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, dryRun: false, steps: [], error: result.stderr.slice('bulwark uninstall: '.length, -1) });
  });

  it('prints one line per path; --dry-run says would remove and removes nothing; --json gives the steps', async () => {
    const dry = await cli('uninstall', ...flags(), '--dry-run');
    expect(dry).toMatchObject({ code: 0, stderr: '' });
    expect(dry.stdout.split('\n')).toContain(`would remove ${join(work, 'state/containers.json')} (the container registry)`);
    expect(dry.stdout.split('\n')).toContain(`kept ${join(work, 'etc/agent.yaml')} (the agent's configuration: it and the policies stay)`);
    expect(await readdir(join(work, 'state'))).toEqual(['containers.json']);

    const done = await cli('uninstall', ...flags(), '--json');
    expect(done).toMatchObject({ code: 0, stderr: '' });
    const report = JSON.parse(done.stdout) as { ok: boolean; dryRun: boolean; steps: { part: string; action: string; path: string }[]; next: string[] };
    expect(report).toMatchObject({ ok: true, dryRun: false, next: [] });
    expect(report.steps).toContainEqual({ part: 'agent', action: 'removed', path: join(work, 'state/containers.json'), detail: 'the container registry' });
    expect(report.steps).toContainEqual({ part: 'agent', action: 'removed', path: join(work, 'log/alerts.jsonl'), detail: 'the alerts' });
    expect(report.steps).toContainEqual({ part: 'enforcer', action: 'absent', path: join(work, 'bpffs/bulwark'), detail: "the enforcer's pin directory" });
    expect(new Set(report.steps.map((step) => step.part))).toEqual(new Set(['agent', 'enforcer', 'hook', 'service']));
    expect(await readdir(join(work, 'state'))).toEqual([]);

    const again = await cli('uninstall', ...flags());
    expect(again.code).toBe(0);
    expect(again.stdout).not.toMatch(/^removed /mu);
  });
});
