import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseHookConfig } from '@bulwark/hook-client';
import { parseConfig, parseHookFile } from '@bulwark/oci-state';
import { ValidationError, SystemError } from '@bulwark/errors';
import { AgentUnreachableError } from '@bulwark/hook-client';
import { COMMANDS, runCli } from './cli.js';
import { AGENT_DOWN_HINT, describeCommandError } from './command-error.js';

let work: string;
let hookSource: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bulwark-cli-'));
  hookSource = join(work, 'built-hook.js');
  await writeFile(hookSource, '#!/usr/bin/env node\nconsole.log("hook");\n');
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

async function cli(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { code, stdout, stderr };
}

/**
 * The options every install in these tests shares: everything under the temp
 * directory, and the Node running the tests named (install-hook.test.ts
 * tests the copy made without --node).
 */
function installOptions(...extra: string[]): string[] {
  return [
    'install-hook',
    '--hook-path',
    join(work, 'bin', 'bulwark-hook'),
    '--hook-config',
    join(work, 'etc', 'hook.json'),
    '--hook-source',
    hookSource,
    '--compile-cache',
    join(work, 'cache'),
    // The installer makes the log's directory: here, not /var/log/bulwark.
    '--log',
    join(work, 'log', 'hook.log'),
    '--node',
    process.execPath,
    ...extra,
  ];
}

/** An uninstall of one runtime's entries: the hook's path and the runtime's location only. */
function uninstallOptions(...extra: string[]): string[] {
  return ['install-hook', '--uninstall', '--hook-path', join(work, 'bin', 'bulwark-hook'), ...extra];
}

const specText = `{
  "ociVersion": "1.0.2",
  "process": { "args": ["sh"], "cwd": "/" },
  "root": { "path": "rootfs" },
  "x-unknown": { "kept": true }
}
`;

describe('bulwark command line', () => {
  it('prints help for the program and for every command, and rejects unknown input with status 2', async () => {
    const main = await cli('--help');
    expect(main.code).toBe(0);
    expect(main.stdout).toMatch(/^bulwark .*: secures containers/);
    // Every command the main help lists, and each policy subcommand with a help of its own.
    expect(COMMANDS.filter((command) => !new RegExp(`^ {2}${command} `, 'mu').test(main.stdout))).toEqual([]);
    const commands = [...COMMANDS.map((command) => [command]), ...['validate', 'explain', 'apply', 'delete', 'list'].map((subcommand) => ['policy', subcommand])];
    expect(main.stdout).toContain('--version');
    const packageVersion = (JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    expect(await cli('--version')).toEqual({ code: 0, stdout: `${packageVersion}\n`, stderr: '' });
    for (const command of commands) {
      const name = command.join(' ');
      const help = await cli(...command, '--help');
      expect(help.code, name).toBe(0);
      expect(help.stdout, name).toMatch(new RegExp(`^Usage: bulwark ${command[0]}`, 'u'));
      // Each help lists --version as an option, and the command answers it.
      expect(help.stdout, name).toMatch(/^ {2}--version {2,}print the version$/mu);
      expect(await cli(...command, '--version'), `${name} --version`).toEqual({ code: 0, stdout: `${packageVersion}\n`, stderr: '' });
    }
    for (const command of COMMANDS) {
      const viaHelp = await cli('help', command);
      expect(viaHelp.code, command).toBe(0);
      expect(viaHelp.stdout, command).toBe((await cli(command, '--help')).stdout);
    }
    const unknown = await cli('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^bulwark: unknown command 'frobnicate'/);
    const badFlag = await cli('probe', '--colour');
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/^bulwark probe: .*--colour/);
    expect((await cli()).code).toBe(2);
  });

  it('install-hook validates its input before writing anything', async () => {
    const noRuntime = await cli(...installOptions());
    expect(noRuntime.code).toBe(2);
    expect(noRuntime.stderr).toMatch(/--runtime: must be one of podman, crio, containerd, runc/);
    const relative = await cli('install-hook', '--runtime', 'crio', '--hook-path', 'relative/hook');
    expect(relative.code).toBe(2);
    expect(relative.stderr).toMatch(/--hook-path must be an absolute path/);
    const badMode = await cli(...installOptions('--runtime', 'crio', '--hooks-dir', join(work, 'hooks.d'), '--fail-mode', 'sometimes'));
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toBe('bulwark install-hook: --fail-mode: Invalid option: expected one of "open"|"closed"\n');
    await expect(stat(join(work, 'hooks.d'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(join(work, 'bin', 'bulwark-hook'))).rejects.toMatchObject({ code: 'ENOENT' });
    const runcWithoutBundle = await cli(...installOptions('--runtime', 'runc'));
    expect(runcWithoutBundle.code).toBe(2);
    expect(runcWithoutBundle.stderr).toMatch(/--runtime runc needs --bundle DIR/);
  });

  it('install-hook --runtime crio writes a hooks.d file per stage, the hook and its configuration; --uninstall removes the files', async () => {
    const hooks = join(work, 'hooks.d');
    const result = await cli(
      ...installOptions('--runtime', 'crio', '--hooks-dir', hooks, '--fail-mode', 'closed', '--allow-namespace', 'kube-system', '--allow-name', 'bulwark-agent'),
    );
    expect(result.code, result.stderr).toBe(0);
    const files = ['createRuntime', 'poststop'].map((stage) => join(hooks, `bulwark-${stage}.json`));
    for (const [index, stage] of ['createRuntime', 'poststop'].entries()) {
      const definition = parseHookFile(await readFile(files[index]!, 'utf8'), files[index]);
      expect(definition.hook.path).toBe(join(work, 'bin', 'bulwark-hook'));
      expect(definition.hook.env).toEqual([`NODE_COMPILE_CACHE=${join(work, 'cache')}`]);
      expect(definition.stages).toEqual([stage]);
      // Fail-closed: the mode is on the command line too, where the hook takes it over the file's.
      expect(definition.hook.args).toEqual(['bulwark-hook', '--config', join(work, 'etc', 'hook.json'), '--fail-mode', 'closed', '--stage', stage]);
    }
    const installed = await readFile(join(work, 'bin', 'bulwark-hook'), 'utf8');
    // A shebang cannot hold a space: an interpreter under a spaced path goes through env -S, quoted.
    expect(installed.split('\n')[0]).toBe(process.execPath.includes(' ') ? `#!/usr/bin/env -S "${process.execPath}"` : `#!${process.execPath}`);
    expect(installed).toContain('console.log("hook")');
    expect((await stat(join(work, 'bin', 'bulwark-hook'))).mode & 0o777).toBe(0o755);
    const config = parseHookConfig(await readFile(join(work, 'etc', 'hook.json'), 'utf8'));
    expect(config).toMatchObject({ failMode: 'closed', allow: { namespaces: ['kube-system'], names: ['bulwark-agent'] } });

    const removed = await cli(...uninstallOptions('--runtime', 'crio', '--hooks-dir', hooks));
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe(files.map((file) => `removed ${file}\n`).join(''));
    for (const file of files) await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
    // Nothing left to remove is "absent", not "unchanged".
    expect((await cli(...uninstallOptions('--runtime', 'crio', '--hooks-dir', hooks))).stdout).toBe(files.map((file) => `absent ${file}\n`).join(''));
  });

  it('install-hook --runtime containerd adds both stages to the base spec once, keeps the rest, and --uninstall restores it', async () => {
    const spec = join(work, 'base-spec.json');
    const missing = await cli(...installOptions('--runtime', 'containerd', '--base-spec', spec));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/ctr oci spec/);
    // Refused before anything was written: no hook, no configuration, no cache directory.
    expect((await readdir(work)).sort()).toEqual(['built-hook.js']);

    await writeFile(spec, specText);
    for (let round = 0; round < 2; round++) {
      const result = await cli(...installOptions('--runtime', 'containerd', '--base-spec', spec));
      expect(result.code, result.stderr).toBe(0);
    }
    const config = parseConfig(await readFile(spec, 'utf8'));
    expect(config.hooks?.createRuntime).toHaveLength(1);
    expect(config.hooks?.poststop).toHaveLength(1);
    expect(config.hooks?.createRuntime?.[0]?.args).toEqual(['bulwark-hook', '--config', join(work, 'etc', 'hook.json'), '--stage', 'createRuntime']);
    expect((config as Record<string, unknown>)['x-unknown']).toEqual({ kept: true });

    expect((await cli(...uninstallOptions('--runtime', 'containerd', '--base-spec', spec))).code).toBe(0);
    expect(await readFile(spec, 'utf8')).toBe(specText);
  });

  it('install-hook --runtime runc changes one bundle, and the bundle stays a valid config', async () => {
    const bundle = join(work, 'bundle');
    await mkdir(bundle);
    await writeFile(join(bundle, 'config.json'), specText);
    expect((await cli(...installOptions('--runtime', 'runc', '--bundle', bundle, '--timeout-ms', '3000'))).code).toBe(0);
    const config = parseConfig(await readFile(join(bundle, 'config.json'), 'utf8'));
    expect(config.hooks?.createRuntime?.[0]).toMatchObject({ path: join(work, 'bin', 'bulwark-hook'), timeout: 28 });
    expect(parseHookConfig(await readFile(join(work, 'etc', 'hook.json'), 'utf8')).timeoutMs).toBe(3000);
    expect((await cli(...uninstallOptions('--runtime', 'runc', '--bundle', bundle))).code).toBe(0);
    expect(await readFile(join(bundle, 'config.json'), 'utf8')).toBe(specText);
  });

  it('probe reports every item as supported, unsupported or inconclusive, in JSON and as a table', async () => {
    const json = await cli('probe', '--json');
    expect(json.code).toBe(0);
    const results = JSON.parse(json.stdout) as { name: string; status: string; detail: string }[];
    expect(results.map((result) => result.name)).toEqual([
      'kernel',
      'bpf lsm',
      'btf',
      'bpffs',
      'cgroup layout',
      'libbpf',
      'runc',
      'crun',
      'podman',
      'crio',
      'containerd',
      'hook interpreter',
    ]);
    for (const result of results) {
      expect(['supported', 'unsupported', 'inconclusive']).toContain(result.status);
      expect(result.detail).not.toBe('');
    }
    const table = await cli('probe');
    expect(table.stdout.split('\n').filter(Boolean)).toHaveLength(results.length);
    expect(table.stdout).toMatch(/^kernel\s+supported\s+linux /);
  });

  it('every command that talks to the control socket says the agent is unreachable with the same hint, in one line', async () => {
    const policy = join(work, 'policy.yaml');
    await writeFile(policy, 'apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: p\n  namespace: shop\nspec:\n  selector:\n    matchLabels:\n      app: web\n  file:\n    matchPaths:\n    - path: /etc/shadow\n  action: Block\n');
    const commands = [['containers'], ['alerts'], ['policy', 'list'], ['policy', 'apply', policy], ['policy', 'delete', 'p'], ['policy', 'explain', policy, '--container', 'web-1']];
    const bySocket = join(work, 'absent.sock');
    // The socket named with --control-socket, or through the agent's configuration (--config).
    const byConfig = join(work, 'configured.sock');
    const config = join(work, 'agent.yaml');
    await writeFile(config, `controlSocket: ${byConfig}\n`);
    for (const [socket, flags] of [[bySocket, ['--control-socket', bySocket]], [byConfig, ['--config', config]]] as const) {
      for (const command of commands) {
        const name = command.slice(0, command[0] === 'policy' ? 2 : 1).join(' ');
        const result = await cli(...command, ...flags);
        expect(result, `${name} ${flags[0]}`).toEqual({ code: 1, stdout: '', stderr: `bulwark ${name}: agent unreachable at ${socket}: no such file or directory; ${AGENT_DOWN_HINT}\n` });
      }
    }
    expect(AGENT_DOWN_HINT).toBe("is the agent running? (start it with 'bulwark agent', or name its socket with --control-socket or --config)");
  });

  it('install-hook --timeout-ms that is not a number names the flag and the value', async () => {
    const result = await cli(...installOptions('--runtime', 'crio', '--hooks-dir', join(work, 'hooks.d'), '--timeout-ms', 'abc'));
    expect(result).toEqual({ code: 2, stdout: '', stderr: 'bulwark install-hook: --timeout-ms: expected a whole number of milliseconds, got "abc"\n' });
    await expect(stat(join(work, 'hooks.d'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('agent reports a bad value under the flag that gave it, and the same path for both sockets, in one line with status 2', async () => {
    const relative = await cli('agent', '--hook-socket', 'h.sock', '--log-level', 'loud');
    expect(relative.code).toBe(2);
    expect(relative.stderr).toBe(`bulwark agent: --hook-socket: must be an absolute path; --log-level: Invalid option: expected one of "debug"|"info"|"warn"|"error"\n`);
    const same = await cli('agent', '--hook-socket', join(work, 'one.sock'), '--control-socket', join(work, 'one.sock'));
    expect(same.code).toBe(2);
    expect(same.stderr).toBe(`bulwark agent: the hook socket and the control socket are the same path (${join(work, 'one.sock')}); give each its own (--hook-socket, --control-socket)\n`);
    const file = join(work, 'agent-bad-key.yaml');
    await writeFile(file, 'logLevel: loud\n');
    const fromFile = await cli('agent', '--config', file);
    expect(fromFile.stderr.startsWith(`bulwark agent: ${file}: line 1 logLevel: `)).toBe(true);
  });

  it('names the command once, and a permission failure by someone other than root says to run as root, on a socket too', () => {
    expect(describeCommandError('install-hook', new ValidationError('install-hook', [{ path: '--runtime', message: 'must be one of podman' }]))).toBe(
      'bulwark install-hook: --runtime: must be one of podman',
    );
    expect(describeCommandError('policy', new ValidationError('policy apply', [{ path: '', message: 'expected a file' }]))).toBe('bulwark policy apply: expected a file');
    const denied = new SystemError('create state directory', 'EACCES', '/run/bulwark');
    expect(describeCommandError('agent', denied, 1000)).toBe('bulwark agent: create state directory: permission denied (/run/bulwark); run as root');
    expect(describeCommandError('agent', denied, 0)).toBe('bulwark agent: create state directory: permission denied (/run/bulwark)');
    // The agent's socket closed to this user: the fix is the user, not starting an agent that is running.
    for (const errno of ['EACCES', 'EPERM']) {
      const closed = new AgentUnreachableError('/run/bulwark/control.sock', errno);
      expect(describeCommandError('containers', closed, 1000)).toBe(`bulwark containers: ${closed.message}; run as root (or as the socket's owner)`);
      expect(describeCommandError('containers', closed, 0)).toBe(`bulwark containers: ${closed.message}`);
    }
    expect(describeCommandError('alerts', new AgentUnreachableError('/run/bulwark/control.sock', 'ECONNREFUSED'), 1000)).toBe(
      `bulwark alerts: agent unreachable at /run/bulwark/control.sock: connection refused; ${AGENT_DOWN_HINT}`,
    );
    // Without a uid given, the process's own.
    const euid = vi.spyOn(process, 'geteuid').mockReturnValue(1000);
    try {
      expect(describeCommandError('agent', denied)).toBe('bulwark agent: create state directory: permission denied (/run/bulwark); run as root');
    } finally {
      euid.mockRestore();
    }
  });

  it('agent refuses a bad configuration file with the line at fault', async () => {
    const file = join(work, 'agent.yaml');
    await writeFile(file, 'hookSocket: /run/x.sock\nlimits:\n  maxConnections: lots\n');
    const result = await cli('agent', '--config', file);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/line 3 limits\.maxConnections/);
  });
});
