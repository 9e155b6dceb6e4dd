import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliCaptured } from './__fixtures__/run-cli.js';
import { parseAgentConfig } from './config.js';
import { changedUnitSettings, renderPathUnit, renderServiceUnit } from './install-service.js';

let work: string;
let units: string;
let config: string;
let bundle: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bulwark-service-'));
  units = join(work, 'units');
  config = join(work, 'etc', 'agent.yaml');
  // A stand-in for the built agent: the bundle and the enforcer object beside it, as the build lays them out.
  bundle = join(work, 'lib', 'dist', 'bulwark.js');
  await mkdir(join(work, 'lib', 'dist', 'bpf'), { recursive: true });
  await writeFile(bundle, '#!/usr/bin/env node\n');
  await writeFile(join(work, 'lib', 'dist', 'bpf', 'enforcer.bpf.o'), '');
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const cli = runCliCaptured;

const install = (...extra: string[]) => cli('install-service', '--unit-dir', units, '--config', config, '--agent-bundle', bundle, ...extra);

describe('the units', () => {
  it('run the agent bundle on the given Node with its configuration, restart always, and keep what BPF needs', () => {
    const text = renderServiceUnit({ nodePath: '/opt/node/bin/node', agentBundle: '/usr/lib/bulwark/dist/bulwark.js', configPath: '/etc/bulwark/agent.yaml' });
    const settings = text.split('\n').filter((line) => /^[A-Z]\w*=/u.test(line));
    expect(settings).toContain('ExecStart=/opt/node/bin/node /usr/lib/bulwark/dist/bulwark.js agent --config /etc/bulwark/agent.yaml');
    expect(settings).toContain('Restart=always');
    expect(settings).toContain('After=local-fs.target');
    const capabilities = settings.find((line) => line.startsWith('CapabilityBoundingSet='))!.split('=')[1]!.split(' ');
    expect(capabilities).toEqual(expect.arrayContaining(['CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_ADMIN']));
    // These would make bpffs or cgroupfs read-only, or hide the containers' /proc.
    for (const breaking of ['ProtectKernelTunables', 'ProtectControlGroups', 'ProtectProc', 'MemoryDenyWriteExecute', 'DynamicUser', 'PrivateUsers']) {
      expect(settings.filter((line) => line.startsWith(`${breaking}=`)), breaking).toEqual([]);
    }
  });

  it('quote and escape paths systemd would split or expand', () => {
    const text = renderServiceUnit({ nodePath: '/opt/my node/node', agentBundle: '/srv/100%/$HOME/bulwark.js', configPath: '/etc/bulwark/agent.yaml' });
    expect(text).toContain('ExecStart="/opt/my node/node" /srv/100%%/$$HOME/bulwark.js agent --config /etc/bulwark/agent.yaml');
    expect(renderPathUnit({ configPath: '/etc/50%/agent.yaml', policyDirectory: '/etc/p' })).toContain('PathExists=/etc/50%%/agent.yaml');
  });

  it('name the settings that changed between two versions', () => {
    const before = '[Service]\nExecStart=/a\nRestart=always\n# comment\n';
    expect(changedUnitSettings(before, '[Service]\nExecStart=/b\nRestart=always\n')).toEqual(['Service.ExecStart']);
    expect(changedUnitSettings(before, `${before}UMask=0077\n`)).toEqual(['Service.UMask']);
  });

  it('pass systemd-analyze verify, written with ExecStart on real files', async () => {
    const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (analyze.error !== undefined) throw new Error(`systemd-analyze is missing (${analyze.error.message}): install the Debian package systemd (scripts/setup.sh does)`);
    const result = await install();
    expect(result.code, result.stderr).toBe(0);
    const verify = spawnSync('systemd-analyze', ['verify', join(units, 'bulwark-agent.service'), join(units, 'bulwark-agent.path')], { encoding: 'utf8' });
    expect({ status: verify.status, stderr: verify.stderr.trim(), stdout: verify.stdout.trim() }).toEqual({ status: 0, stderr: '', stdout: '' });
    // And verify does fail a unit whose ExecStart is not there, so the pass above means something.
    await writeFile(join(units, 'bulwark-agent.service'), (await readFile(join(units, 'bulwark-agent.service'), 'utf8')).replace(process.execPath, join(work, 'no-node')));
    expect(spawnSync('systemd-analyze', ['verify', join(units, 'bulwark-agent.service')], { encoding: 'utf8' }).status).not.toBe(0);
  });
});

describe('bulwark install-service', () => {
  it('writes the default configuration, the path unit watching its policy directory, and the service', async () => {
    const result = await install();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split('\n')).toEqual([
      `wrote ${config}`,
      `wrote ${join(units, 'bulwark-agent.path')}`,
      `wrote ${join(units, 'bulwark-agent.service')}`,
      'next: systemctl daemon-reload && systemctl enable --now bulwark-agent.path',
      '',
    ]);
    const parsed = parseAgentConfig(await readFile(config, 'utf8'), config);
    expect(parsed).toMatchObject({ enforcement: 'required', policyDirectory: join(work, 'etc', 'policies') });
    const pathUnit = await readFile(join(units, 'bulwark-agent.path'), 'utf8');
    expect(pathUnit).toContain(`PathExists=${config}\n`);
    expect(pathUnit).toContain(`DirectoryNotEmpty=${join(work, 'etc', 'policies')}\n`);
    expect(pathUnit).toContain('Unit=bulwark-agent.service\n');
    const service = await readFile(join(units, 'bulwark-agent.service'), 'utf8');
    // A word with a space (a checkout under a spaced path) is quoted, as systemd splits at whitespace.
    const word = (value: string) => (/\s/u.test(value) ? `"${value}"` : value);
    expect(service).toContain(`ExecStart=${word(process.execPath)} ${word(bundle)} agent --config ${word(config)}\n`);
    expect((await stat(join(units, 'bulwark-agent.service'))).mode & 0o777).toBe(0o644);

    // Again: nothing to do, and it says so.
    const again = await install();
    expect(again.stdout.split('\n').slice(0, 3)).toEqual([
      `kept ${config} (it exists; --force replaces it)`,
      `unchanged ${join(units, 'bulwark-agent.path')}`,
      `unchanged ${join(units, 'bulwark-agent.service')}`,
    ]);
  });

  it('keeps an existing configuration, follows its policy directory, and replaces it only with --force', async () => {
    await mkdir(join(work, 'etc'), { recursive: true });
    const mine = 'enforcement: audit\npolicyDirectory: /srv/policies\n';
    await writeFile(config, mine);
    const kept = await install();
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain(`kept ${config} (it exists; --force replaces it)\n`);
    expect(await readFile(config, 'utf8')).toBe(mine);
    expect(await readFile(join(units, 'bulwark-agent.path'), 'utf8')).toContain('DirectoryNotEmpty=/srv/policies\n');

    const forced = await install('--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain(`replaced ${config} (enforcement, policyDirectory changed)\n`);
    expect(forced.stdout).toContain(`updated ${join(units, 'bulwark-agent.path')} (Path.DirectoryNotEmpty changed)\n`);
    expect(parseAgentConfig(await readFile(config, 'utf8'), config).enforcement).toBe('required');
  });

  it('refuses an existing configuration that does not validate, in one line, writing nothing', async () => {
    await mkdir(join(work, 'etc'), { recursive: true });
    await writeFile(config, 'enforcement: sometimes\n');
    const result = await install();
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^bulwark install-service: the existing configuration does not validate \(.*line 1 enforcement.*\); fix it, or pass --force/);
    await expect(stat(units)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await install('--force')).stdout).toContain(`replaced ${config} (it did not validate)\n`);
  });

  it('refuses bad input in one line: relative paths, an absent bundle, an unknown flag', async () => {
    const relative = await cli('install-service', '--unit-dir', 'units');
    expect(relative).toMatchObject({ code: 2, stderr: "bulwark install-service: --unit-dir must be an absolute path, got 'units'\n" });
    const absent = await cli('install-service', '--unit-dir', units, '--config', config, '--agent-bundle', join(work, 'absent.js'));
    expect(absent.code).toBe(1);
    expect(absent.stderr).toMatch(/^bulwark install-service: check agent bundle \(run the build first, or pass --agent-bundle\): .*absent\.js.*\n$/);
    await rm(join(work, 'lib', 'dist', 'bpf'), { recursive: true });
    const noObject = await install();
    expect(noObject.stderr).toMatch(/check enforcer object beside the agent bundle/);
    const flag = await cli('install-service', '--colour');
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^bulwark install-service: .*--colour/);
    const help = await cli('install-service', '--help');
    expect(help.stdout).toMatch(/^Usage: bulwark install-service/);
  });

  it('--dry-run prints each file it would write and writes none', async () => {
    const result = await install('--dry-run');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`would write ${config}\n  | # Bulwark agent configuration`);
    expect(result.stdout).toContain(`would write ${join(units, 'bulwark-agent.service')}\n`);
    expect(result.stdout).toContain('  | Restart=always\n');
    expect(result.stdout).not.toContain('next:');
    await expect(stat(config)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(units)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('--uninstall removes the units and their enable links, and keeps the configuration', async () => {
    expect((await install()).code).toBe(0);
    // What `systemctl enable bulwark-agent.path` leaves.
    await mkdir(join(units, 'multi-user.target.wants'));
    await symlink(join(units, 'bulwark-agent.path'), join(units, 'multi-user.target.wants', 'bulwark-agent.path'));
    const removed = await install('--uninstall');
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout.split('\n').slice(0, 4)).toEqual([
      `removed ${join(units, 'multi-user.target.wants', 'bulwark-agent.path')}`,
      `removed ${join(units, 'bulwark-agent.path')}`,
      `removed ${join(units, 'bulwark-agent.service')}`,
      `kept ${config} (the configuration and the policies stay)`,
    ]);
    expect(await readdir(units, { recursive: true })).toEqual(['multi-user.target.wants']);
    expect(parseAgentConfig(await readFile(config, 'utf8'), config).enforcement).toBe('required');
    expect((await install('--uninstall')).stdout).toContain(`unchanged ${join(units, 'bulwark-agent.service')}\n`);
  });
});
