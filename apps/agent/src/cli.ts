import { parseArgs, type ParseArgsConfig } from 'node:util';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ValidationError, describeError, toSystemError } from '@bulwark/errors';
import { AgentConnection, DEFAULT_CONTROL_SOCKET, DEFAULT_HOOK_CONFIG, DEFAULT_HOOK_LOG, DEFAULT_HOOK_SOCKET } from '@bulwark/hook-client';
import { AGENT_VERSION, startAgent } from './agent.js';
import { agentConfigSchema, loadAgentConfig, type AgentConfig } from './config.js';
import { formatContainerTable } from './containers.js';
import {
  DEFAULT_BASE_SPEC,
  DEFAULT_COMPILE_CACHE,
  DEFAULT_HOOK_PATH,
  DEFAULT_HOOKS_DIRECTORIES,
  RUNTIMES,
  installHook,
  type HookConfigFlags,
  type Runtime,
} from './install-hook.js';
import { INSTALL_SERVICE_HELP, runInstallServiceCommand } from './install-service.js';
import { UNINSTALL_HELP, runUninstallCommand } from './uninstall-command.js';
import { openAgentLog, type AgentLog, type Logger } from './log.js';
import { runAlertsCommand } from './alerts-command.js';
import { runPolicyCommand } from './policy-command.js';
import { formatProbeTable, runProbes } from './probe.js';
import { formatDoctor, runDoctor } from './doctor.js';
import { describeCommandError, resolveControlSocket } from './command-error.js';
import type { ContainerRecord } from './registry.js';

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const MAIN_HELP = `bulwark ${AGENT_VERSION}: secures containers from inside their lifecycle

Usage: bulwark <command> [options]

Commands:
  agent          run the agent: serve the hook socket, keep the container registry
  containers     list the containers the running agent knows
  install-hook   install (or --uninstall) the OCI hook for a runtime
  install-service  install (or --uninstall) the agent as a systemd service
  uninstall      remove everything Bulwark put on this host (the agent's state,
                 alerts and logs, the pinned enforcer, the hook, the service)
  policy         validate, explain, apply, delete or list policies
  alerts         print (or --follow) the running agent's alerts
  probe          report what this machine offers: kernel, BPF LSM, BTF, runtimes
  doctor         check that the set-up works: hook installed, its Node, its socket,
                 the agent answering, BPF LSM, the pinned enforcer

Options:
  -h, --help     this help ('bulwark help COMMAND' or 'bulwark COMMAND --help' for a command's)
  --version      print the version (also 'bulwark COMMAND --version')

On failure every command prints one line on standard error, 'bulwark COMMAND:
what failed', and exits 1 (2 for a usage error).
`;

const HELP: Record<string, string> = {
  agent: `Usage: bulwark agent [options]

Serves the hook socket and the control socket, keeps the container registry
on disk, and on start finds containers that started while it was down.

Options:
  --config FILE           YAML configuration (flags override it)
  --hook-socket PATH      socket the hook connects to (default ${DEFAULT_HOOK_SOCKET})
  --control-socket PATH   socket for 'bulwark containers' (default ${DEFAULT_CONTROL_SOCKET})
  --state-file PATH       where the registry is kept (default /run/bulwark/containers.json)
  --runc-root DIR         runc state root to scan at start (repeatable; default /run/runc)
  --crun-root DIR         crun state root to scan at start (repeatable; default /run/crun)
  --no-scan               do not scan for running containers at start
  --enforcement MODE      required: enforce policies (refuses to start without
                          BPF LSM); audit: report what would be enforced;
                          off (default): register containers only
  --policy-dir DIR        policies (*.yaml), watched (default /etc/bulwark/policies)
  --bpffs-dir DIR         where the enforcer is pinned (default /sys/fs/bpf/bulwark)
  --alerts-file FILE      alerts as JSON lines ('' for none; default /var/log/bulwark/alerts.jsonl)
  --alerts-stdout         alerts on standard output too
  --log-format FORMAT     json (default) or text
  --log-level LEVEL       debug, info (default), warn or error
  --log-file FILE         the agent's log as a file, reopened on SIGHUP
                          (default: standard output)
  -h, --help              show this help
  --version               print the version

Signals: SIGHUP reads the configuration again (log level and log file in
force at once; other changes are logged as waiting for a restart), reloads
the policies and reopens the log and alert files; SIGTERM and SIGINT stop
the agent (the pinned enforcer stays in force until the next agent takes it
over).

On failure: exits 1 with one line on standard error (2 for bad options),
having closed what it opened; a second agent on the same --state-file is
refused with the first one's pid. A log line that cannot be written is
counted (the control socket's ping, log.failed), and the agent goes on.
`,
  containers: `Usage: bulwark containers [options]

Lists the containers the running agent knows.

Options:
  --control-socket PATH   the agent's control socket (default ${DEFAULT_CONTROL_SOCKET})
  --config FILE           read the control socket from the agent's configuration
  --json                  print JSON instead of a table
  -h, --help              show this help
  --version               print the version
`,
  'install-hook': `Usage: bulwark install-hook --runtime RUNTIME [options]
       bulwark install-hook --runtime RUNTIME --uninstall [location]
       bulwark install-hook --uninstall --all [--hook-path PATH]

Installs the hook executable, the Node it runs on, its configuration and the
runtime's hook entries (one per stage, each naming its stage, and for a
fail-closed install --fail-mode closed, which the hook takes over its
configuration's), and validates each by reading it back.

  podman, crio   writes bulwark-createRuntime.json and bulwark-poststop.json
                 into the hooks directory (oci-hooks 1.0.0)
  containerd     adds the hook to containerd's base runtime spec
  runc           adds the hook to a bundle's config.json
  kata-guest     writes prestart/ and poststop/ scripts into Kata's guest_hook_path
                 (in the guest image; the kata-agent runs them)

The hook runs on a copy of the Node running this, beside it
(bulwark-node), unless --node names one. An existing configuration keeps
every value not given here; one that would be weakened (fail-closed to
fail-open, allow-list entries added or dropped, its log turned off) is
refused unless --force. Repeating an install changes nothing; a runtime file
holds one Bulwark hook per stage.

Options:
  --runtime RUNTIME       ${RUNTIMES.join(', ')} (required but for --uninstall --all)
  --hooks-dir DIR         podman: ${DEFAULT_HOOKS_DIRECTORIES.podman}; crio: ${DEFAULT_HOOKS_DIRECTORIES.crio};
                          kata-guest: ${DEFAULT_HOOKS_DIRECTORIES['kata-guest']}
  --base-spec FILE        containerd: its base spec (default ${DEFAULT_BASE_SPEC})
  --bundle DIR            runc: the bundle to change (required)
  --fail-mode MODE        open (default): containers start when the agent cannot be asked;
                          closed: they fail to start
  --allow-namespace NAME  pod namespace that always starts (repeatable; replaces the list)
  --allow-name NAME       container or pod name that always starts (repeatable; replaces the list)
  --socket PATH           agent hook socket (default ${DEFAULT_HOOK_SOCKET})
  --timeout-ms N          the hook's deadline for the agent's answer (default 5000)
  --log FILE              hook log, '' for none (default ${DEFAULT_HOOK_LOG})
  --force                 install even though the configuration there would be weakened
                          (or is not valid)
  --hook-path PATH        where to install the hook executable (default ${DEFAULT_HOOK_PATH})
  --hook-config PATH      where to write its configuration (default ${DEFAULT_HOOK_CONFIG})
  --hook-source FILE      the built hook bundle (default: apps/hook/dist/bulwark-hook.cjs)
  --node PATH             a Node 24 for the hook to run on, checked (default: a copy of
                          this one beside the hook)
  --compile-cache DIR     Node compile cache for the hook, '' for none
                          (default ${DEFAULT_COMPILE_CACHE})
  --uninstall             remove the runtime's hook entries (the hook and its
                          configuration stay for other runtimes)
  --all                   with --uninstall: remove everything install-hook put here
                          (the install record beside the hook lists it), each path printed
  -h, --help              show this help
  --version               print the version

Output: one line per path, 'wrote', 'updated', 'unchanged', 'removed',
'absent' (nothing to remove) or 'kept' (with why); a changed configuration
lists each key, 'key: old -> new'.

On failure: one line, exit 1 (2 for a flag that is wrong or does not apply to
the runtime), and nothing is left changed: the steps already taken are undone
and files that were there get their old contents back.
`,
  'install-service': INSTALL_SERVICE_HELP,
  uninstall: UNINSTALL_HELP,
  probe: `Usage: bulwark probe [--json] [--hook-path PATH]

Reports kernel, BPF LSM, BTF, bpffs, cgroup layout, runtimes and libbpf, and
whether the installed hook's interpreter (the Node its shebang names) is
there and runs as Node 24: supported, unsupported (with what is missing) or
inconclusive.

Options:
  --json              print JSON instead of a table
  --hook-path PATH    the installed hook to check (default ${DEFAULT_HOOK_PATH})
  -h, --help          show this help
  --version           print the version
`,
  doctor: `Usage: bulwark doctor [options]

Checks each link a container start goes through, one line per check (ok;
problem, with what to do; warning; skipped): the install record beside the hook;
the hook entry of each runtime it was installed for, and of each runtime
found on PATH (podman, crio, containerd) that has none (a warning); the hook's
interpreter; its configuration; that the socket it connects to is the one
the agent serves, and answers; the agent on its control socket; BPF LSM;
the pinned enforcer (its layout and maps). The agent, when it answers, says
which hook socket and pin directory it uses.

Options:
  --config FILE           the agent's configuration: its sockets and pin directory
  --control-socket PATH   the agent's control socket (default ${DEFAULT_CONTROL_SOCKET})
  --hook-socket PATH      the socket the agent serves, when it does not answer
                          (default ${DEFAULT_HOOK_SOCKET})
  --bpffs-dir DIR         where the enforcer is pinned, when the agent does not answer
                          (default /sys/fs/bpf/bulwark)
  --hook-path PATH        the installed hook (default ${DEFAULT_HOOK_PATH})
  --hook-config PATH      its configuration (default: the one its install record names,
                          else ${DEFAULT_HOOK_CONFIG})
  --json                  print JSON ({ ok, checks: [{ name, status, detail }] })
  -h, --help              show this help
  --version               print the version

Exit: 0 when no check found a problem, 1 when one did (2 for bad options).
`,
};

/** Every command, in the order the main help lists them. */
export const COMMANDS: readonly string[] = ['agent', 'containers', 'install-hook', 'install-service', 'uninstall', 'policy', 'alerts', 'probe', 'doctor'];

type Options = NonNullable<ParseArgsConfig['options']>;

type ParsedValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

function parse(command: string, args: readonly string[], options: Options): { values: ParsedValues } {
  try {
    return parseArgs({ args: [...args], options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
  } catch (error) {
    throw new ValidationError(command, [{ path: '', message: describeError(error).replace(/\. To specify.*$/s, '') }]);
  }
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && COMMANDS.includes(command) && rest.includes('--version')) {
    io.stdout(`${AGENT_VERSION}\n`);
    return 0;
  }
  try {
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        // 'bulwark help COMMAND' is 'bulwark COMMAND --help'.
        if (command === 'help' && rest[0] !== undefined && rest[0] !== 'help') return await runCli([rest[0], '--help'], io);
        io.stdout(MAIN_HELP);
        return command === undefined ? 2 : 0;
      case '--version':
        io.stdout(`${AGENT_VERSION}\n`);
        return 0;
      case 'agent':
        return await runAgentCommand(rest, io);
      case 'containers':
        return await runContainersCommand(rest, io);
      case 'install-hook':
        return await runInstallCommand(rest, io);
      case 'install-service':
        return await runInstallServiceCommand(rest, io);
      case 'uninstall':
        return await runUninstallCommand(rest, io);
      case 'probe':
        return await runProbeCommand(rest, io);
      case 'doctor':
        return await runDoctorCommand(rest, io);
      case 'policy':
        return await runPolicyCommand(rest, io);
      case 'alerts': {
        // --follow ends on SIGINT, or when its reader has gone (`| head`): nothing it prints can arrive any more.
        const stopped = new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.stdout.once('error', () => resolve());
        });
        return await runAlertsCommand(rest, { ...io, stopped });
      }
      default:
        io.stderr(`bulwark: unknown command '${command}'\n\n${MAIN_HELP}`);
        return 2;
    }
  } catch (error) {
    // `policy validate|explain` fail here; apply, delete and list say their own failures (through the same describeCommandError).
    const named = command === 'policy' && (rest[0] === 'validate' || rest[0] === 'explain') ? `policy ${rest[0]}` : (command ?? '');
    io.stderr(`${describeCommandError(named, error)}\n`);
    return error instanceof ValidationError ? 2 : 1;
  }
}

/** Each `bulwark agent` flag and the configuration key it sets, so a bad value is reported by the name it was given under. */
const AGENT_FLAG_KEYS = {
  'hook-socket': 'hookSocket',
  'control-socket': 'controlSocket',
  'state-file': 'stateFile',
  'runc-root': 'scan.runcRoots',
  'crun-root': 'scan.crunRoots',
  'no-scan': 'scan.enabled',
  'log-format': 'logFormat',
  'log-level': 'logLevel',
  'log-file': 'logFile',
  enforcement: 'enforcement',
  'policy-dir': 'policyDirectory',
  'bpffs-dir': 'bpffsDirectory',
  'alerts-file': 'alerts.file',
  'alerts-stdout': 'alerts.stdout',
} as const;

const AGENT_OPTIONS: Options = {
  config: { type: 'string' },
  'hook-socket': { type: 'string' },
  'control-socket': { type: 'string' },
  'state-file': { type: 'string' },
  'runc-root': { type: 'string', multiple: true },
  'crun-root': { type: 'string', multiple: true },
  'no-scan': { type: 'boolean' },
  'log-format': { type: 'string' },
  'log-level': { type: 'string' },
  'log-file': { type: 'string' },
  enforcement: { type: 'string' },
  'policy-dir': { type: 'string' },
  'bpffs-dir': { type: 'string' },
  'alerts-file': { type: 'string' },
  'alerts-stdout': { type: 'boolean' },
};

/**
 * The agent's configuration: the file's (if any), with the flags over it.
 * A bad value is reported under the flag that gave it, or the file's key.
 */
export async function resolveAgentConfig(values: ParsedValues): Promise<AgentConfig> {
  const configPath = values.config as string | undefined;
  const { ignoredKeys, ...base } = await loadAgentConfig(configPath);
  const merged: Record<string, unknown> = { ...base, alerts: { ...base.alerts }, scan: { ...base.scan } };
  for (const [flag, key] of Object.entries(AGENT_FLAG_KEYS)) {
    const value = values[flag];
    if (value === undefined) continue;
    const [section, member] = key.split('.') as [string, string | undefined];
    if (member === undefined) merged[section] = value;
    else (merged[section] as Record<string, unknown>)[member] = flag === 'no-scan' ? false : value;
  }
  const parsed = agentConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const flagOf = (path: string) => Object.entries(AGENT_FLAG_KEYS).find(([flag, key]) => values[flag] !== undefined && (path === key || path.startsWith(`${key}.`)))?.[0];
    throw new ValidationError(
      'agent',
      parsed.error.issues.map((issue) => {
        const path = issue.path.join('.');
        const flag = flagOf(path);
        return { path: flag === undefined ? `${configPath ?? 'configuration'}: ${path}` : `--${flag}`, message: issue.message };
      }),
    );
  }
  const config = parsed.data;
  if (config.hookSocket === config.controlSocket) {
    throw new ValidationError('agent', [{ path: '', message: `the hook socket and the control socket are the same path (${config.hookSocket}); give each its own (--hook-socket, --control-socket)` }]);
  }
  return ignoredKeys === undefined ? config : { ...config, ignoredKeys };
}

/** Keys a SIGHUP puts in force; any other change is logged as waiting for a restart. */
const RELOADABLE_KEYS: ReadonlySet<string> = new Set(['logLevel', 'logFile', 'logFormat', 'ignoredKeys']);

/** The top-level keys whose values differ between two configurations. */
function changedKeys(before: AgentConfig, after: AgentConfig): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((key) => JSON.stringify((before as Record<string, unknown>)[key]) !== JSON.stringify((after as Record<string, unknown>)[key])).sort();
}

async function openLog(config: AgentConfig): Promise<AgentLog> {
  if (config.logFile !== '') {
    try {
      await mkdir(dirname(config.logFile), { recursive: true, mode: 0o700 });
    } catch (error) {
      throw toSystemError('create log directory', error, dirname(config.logFile));
    }
  }
  return openAgentLog({ format: config.logFormat, level: config.logLevel, file: config.logFile });
}

async function runAgentCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse('agent', args, AGENT_OPTIONS);
  if (values.help === true) {
    io.stdout(HELP.agent!);
    return 0;
  }
  let config = await resolveAgentConfig(values);
  let log = await openLog(config);

  // Signals are taken from the first moment: a SIGHUP or SIGTERM during the
  // start (a long scan, say) must not kill the agent with its sockets left
  // behind. A stop asked for then is carried out once the start is over.
  let stopSignal: string | undefined;
  let wake: (() => void) | undefined;
  let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
  let reloading = Promise.resolve();
  const onStop = (signal: string) => {
    if (stopSignal !== undefined) return;
    stopSignal = signal;
    log.info('stopping', { signal });
    wake?.();
  };
  const onTerm = () => onStop('SIGTERM');
  const onInt = () => onStop('SIGINT');
  const onHup = () => {
    if (agent === undefined) {
      log.info('SIGHUP during start: nothing to reload yet', { signal: 'SIGHUP' });
      return;
    }
    const running = agent;
    reloading = reloading.then(async () => {
      log.info('reloading the configuration and policies, reopening log files', { signal: 'SIGHUP' });
      try {
        const next = await resolveAgentConfig(values);
        const changed = changedKeys(config, next);
        if (next.logFile !== config.logFile || next.logFormat !== config.logFormat) {
          const previous = log;
          log = await openLog(next);
          previous.info('log moved', { to: log.destination });
          previous.close();
        } else if (!log.reopen()) {
          log.warn('log file not reopened: the old one is kept', { file: config.logFile, error: log.stats.lastError });
        }
        log.level = next.logLevel;
        const needRestart = changed.filter((key) => !RELOADABLE_KEYS.has(key));
        if (needRestart.length > 0) log.warn('configuration changes that take effect at the next start', { keys: needRestart });
        config = { ...config, logLevel: next.logLevel, logFile: next.logFile, logFormat: next.logFormat };
      } catch (error) {
        log.error('configuration not reloaded: the one in force stays', { error: describeError(error) });
      }
      running.alerts?.reopen();
      await running.reloadPolicies();
    }).catch((error: unknown) => log.error('reload failed', { error: describeError(error) }));
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGHUP', onHup);
  try {
    // The agent logs through whichever log is open now: a SIGHUP may have moved it.
    const current: Logger = {
      debug: (message, fields) => log.debug(message, fields),
      info: (message, fields) => log.info(message, fields),
      warn: (message, fields) => log.warn(message, fields),
      error: (message, fields) => log.error(message, fields),
    };
    agent = await startAgent(config, current, { logStats: () => log.stats });
    if (stopSignal === undefined) await new Promise<void>((resolve) => (wake = resolve));
    await reloading;
    await agent.stop();
    return 0;
  } finally {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('SIGHUP', onHup);
    log.close();
  }
}

async function runDoctorCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse('doctor', args, {
    config: { type: 'string' },
    'control-socket': { type: 'string' },
    'hook-socket': { type: 'string' },
    'bpffs-dir': { type: 'string' },
    'hook-path': { type: 'string' },
    'hook-config': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help === true) {
    io.stdout(HELP.doctor!);
    return 0;
  }
  const config = await loadAgentConfig(values.config as string | undefined);
  const checks = await runDoctor({
    hookPath: (values['hook-path'] as string | undefined) ?? DEFAULT_HOOK_PATH,
    hookConfig: values['hook-config'] as string | undefined,
    controlSocket: (values['control-socket'] as string | undefined) ?? config.controlSocket,
    hookSocket: (values['hook-socket'] as string | undefined) ?? config.hookSocket,
    bpffsDirectory: (values['bpffs-dir'] as string | undefined) ?? config.bpffsDirectory,
  });
  const ok = checks.every((check) => check.status !== 'problem');
  io.stdout(values.json === true ? `${JSON.stringify({ ok, checks }, null, 2)}\n` : formatDoctor(checks));
  return ok ? 0 : 1;
}

async function runContainersCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse('containers', args, {
    'control-socket': { type: 'string' },
    config: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help === true) {
    io.stdout(HELP.containers!);
    return 0;
  }
  const connection = await AgentConnection.connect(await resolveControlSocket(values));
  let records: ContainerRecord[];
  try {
    records = (await connection.request({ type: 'containers.list' }, { replyTimeoutMs: 5000 })) as ContainerRecord[];
  } finally {
    connection.close();
  }
  io.stdout(values.json === true ? `${JSON.stringify(records, null, 2)}\n` : formatContainerTable(records));
  return 0;
}

/** The hook configuration's keys and the install-hook flags that set them. */
const HOOK_CONFIG_FLAGS: Readonly<Record<string, string>> = {
  socket: '--socket',
  failMode: '--fail-mode',
  log: '--log',
  timeoutMs: '--timeout-ms',
  'allow.names': '--allow-name',
  'allow.namespaces': '--allow-namespace',
};

/** Runs an install; a hook configuration it refuses is reported by the flags that gave each value. */
async function reportHookConfigByFlag<T>(install: () => Promise<T>): Promise<T> {
  try {
    return await install();
  } catch (error) {
    if (!(error instanceof ValidationError) || error.source !== 'hook config') throw error;
    const flagOf = (path: string) => Object.entries(HOOK_CONFIG_FLAGS).find(([key]) => path === key || path.startsWith(`${key}.`))?.[1];
    throw new ValidationError(
      'install-hook',
      error.issues.map((issue) => ({ path: flagOf(issue.path) ?? issue.path, message: issue.message })),
      { cause: error },
    );
  }
}

async function runInstallCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse('install-hook', args, {
    runtime: { type: 'string' },
    'hooks-dir': { type: 'string' },
    'base-spec': { type: 'string' },
    bundle: { type: 'string' },
    'fail-mode': { type: 'string' },
    'allow-namespace': { type: 'string', multiple: true },
    'allow-name': { type: 'string', multiple: true },
    socket: { type: 'string' },
    'timeout-ms': { type: 'string' },
    log: { type: 'string' },
    'hook-path': { type: 'string' },
    'hook-config': { type: 'string' },
    'hook-source': { type: 'string' },
    node: { type: 'string' },
    'compile-cache': { type: 'string' },
    force: { type: 'boolean' },
    uninstall: { type: 'boolean' },
    all: { type: 'boolean' },
  });
  if (values.help === true) {
    io.stdout(HELP['install-hook']!);
    return 0;
  }
  const runtime = values.runtime as string | undefined;
  const removingAll = values.uninstall === true && values.all === true;
  if ((runtime === undefined && !removingAll) || (runtime !== undefined && !(RUNTIMES as readonly string[]).includes(runtime))) {
    throw new ValidationError('install-hook', [{ path: '--runtime', message: `must be one of ${RUNTIMES.join(', ')}` }]);
  }
  const timeoutText = values['timeout-ms'] as string | undefined;
  if (timeoutText !== undefined && !/^\d+$/.test(timeoutText)) {
    throw new ValidationError('install-hook', [{ path: '--timeout-ms', message: `expected a whole number of milliseconds, got ${JSON.stringify(timeoutText)}` }]);
  }
  // Only the values given: one not given keeps the existing configuration's.
  const hookConfig: HookConfigFlags = {
    socket: values.socket as string | undefined,
    failMode: values['fail-mode'] as string | undefined,
    log: values.log as string | undefined,
    timeoutMs: timeoutText === undefined ? undefined : Number(timeoutText),
    allowNamespaces: values['allow-namespace'] as string[] | undefined,
    allowNames: values['allow-name'] as string[] | undefined,
  };
  const steps = await reportHookConfigByFlag(() =>
    installHook({
      runtime: runtime as Runtime | undefined,
      uninstall: values.uninstall === true,
      all: values.all === true,
      force: values.force === true,
      hookPath: values['hook-path'] as string | undefined,
      hookSource: values['hook-source'] as string | undefined,
      nodePath: values.node as string | undefined,
      compileCache: values['compile-cache'] as string | undefined,
      hookConfigPath: values['hook-config'] as string | undefined,
      hookConfig,
      hooksDirectory: values['hooks-dir'] as string | undefined,
      bundle: values.bundle as string | undefined,
      baseSpec: values['base-spec'] as string | undefined,
    }),
  );
  for (const step of steps) {
    io.stdout(`${step.action} ${step.path}${step.detail === undefined ? '' : ` (${step.detail})`}\n`);
    for (const change of step.changes ?? []) io.stdout(`  ${change}\n`);
  }
  return 0;
}

async function runProbeCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse('probe', args, { json: { type: 'boolean' }, 'hook-path': { type: 'string' } });
  if (values.help === true) {
    io.stdout(HELP.probe!);
    return 0;
  }
  const hookPath = values['hook-path'] as string | undefined;
  const results = await runProbes(hookPath === undefined ? {} : { hookPath });
  io.stdout(values.json === true ? `${JSON.stringify(results, null, 2)}\n` : formatProbeTable(results));
  return 0;
}
