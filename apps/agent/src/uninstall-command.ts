/**
 * The `bulwark uninstall` command line: its flags, the agent's
 * configuration they are read against, and the output (one line per path,
 * or JSON). What it removes is uninstall.ts's.
 */
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { parseArgs } from 'node:util';
import { ValidationError, describeError } from '@bulwark/errors';
import { DEFAULT_HOOK_LOG } from '@bulwark/hook-client';
import { loadAgentConfig } from './config.js';
import { DEFAULT_HOOK_PATH } from './install-hook.js';
import { DEFAULT_AGENT_CONFIG, DEFAULT_UNIT_DIRECTORY } from './install-service.js';
import { uninstall, type UninstallStep } from './uninstall.js';

export const UNINSTALL_HELP = `Usage: bulwark uninstall [options]

Removes what Bulwark put on this host, one line per path. It refuses, with
nothing removed, while an agent runs (it holds the state file's lock, or
answers on its sockets). Then it removes:

  the agent's files    the registry (stateFile), its .bak backup, its temporary
                       files, the applied policies (policies.applied/ beside it),
                       sockets left by a killed agent, the alerts file, logFile
  the enforcer         its pins (map-*, link-*) in bpffsDirectory, then the
                       directory: the programs detach and enforcement ends
  the hook             what install-hook --uninstall --all removes (its install
                       record lists it); without a record, the hook's default log
  the service          the systemd units and their enable links (install-service
                       --uninstall)
  the state lock, and last /run/bulwark and /var/log/bulwark when empty

Only Bulwark's default paths and those its configuration names are touched,
and only files Bulwark would have put there (a regular file, a socket, a pin);
no directory is removed but its own. Kept: the agent's configuration and the
policies (/etc/bulwark), rotated copies of the logs, and this command.

Options:
  --config FILE           the agent's configuration, which names its paths
                          (default ${DEFAULT_AGENT_CONFIG} when it exists, else the defaults)
  --state-file PATH       the registry (default /run/bulwark/containers.json)
  --hook-socket PATH      the agent's sockets (default /run/bulwark/hook.sock,
  --control-socket PATH   /run/bulwark/control.sock)
  --alerts-file FILE      the alerts (default /var/log/bulwark/alerts.jsonl; '' for none)
  --log-file FILE         the agent's log file ('' for none, the default)
  --bpffs-dir DIR         where the enforcer is pinned (default /sys/fs/bpf/bulwark)
  --hook-path PATH        the installed hook (default ${DEFAULT_HOOK_PATH})
  --hook-config PATH      passed on to install-hook --uninstall --all
  --compile-cache DIR     passed on to install-hook --uninstall --all
  --hook-log FILE         the hook's log when no install record names it
                          (default ${DEFAULT_HOOK_LOG})
  --unit-dir DIR          where install-service put the units (default ${DEFAULT_UNIT_DIRECTORY})
  --dry-run               say what would be removed, remove nothing (the hook's
                          side is read from its install record)
  --json                  print JSON ({ ok, dryRun, steps: [{ part, action, path, detail }],
                          next }; on a failure ok is false, with error and the steps done)
  -h, --help              show this help
  --version               print the version

Output: one line per path, 'removed', 'updated' (a shared file that lost
only Bulwark's entries), 'unchanged', 'absent' (nothing there), 'kept' (with
why); with --dry-run, 'would remove' and 'would update'.

On failure: one line on standard error and exit 1 (2 for a bad option or a
configuration that does not validate). A refusal (an agent running, a pin
directory that is not on bpffs or is its root, an install record that does
not read) comes before anything is removed; a failure part way stops there,
after the lines of what was already removed.
`;

const PATH_FLAGS = ['config', 'state-file', 'hook-socket', 'control-socket', 'bpffs-dir', 'hook-path', 'hook-config', 'hook-log', 'unit-dir'] as const;
/** Flags that take '' for none. */
const OPTIONAL_PATH_FLAGS = ['alerts-file', 'log-file', 'compile-cache'] as const;

function usage(path: string, message: string): ValidationError {
  return new ValidationError('uninstall', [{ path, message }]);
}

export function formatUninstallSteps(steps: readonly UninstallStep[]): string {
  return steps.map((step) => `${step.action} ${step.path}${step.detail === undefined ? '' : ` (${step.detail})`}\n`).join('');
}

/** What to do next, once the steps are done: systemd still has removed units loaded. */
export function uninstallNextSteps(steps: readonly UninstallStep[]): string[] {
  return steps.some((step) => step.part === 'service' && step.action === 'removed') ? ['systemctl daemon-reload'] : [];
}

export async function runUninstallCommand(args: readonly string[], io: { stdout: (text: string) => void }): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries([...PATH_FLAGS, ...OPTIONAL_PATH_FLAGS].map((flag) => [flag, { type: 'string' as const }])),
        'dry-run': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw usage('', describeError(error).replace(/\. To specify.*$/su, ''));
  }
  if (values.help === true) {
    io.stdout(UNINSTALL_HELP);
    return 0;
  }
  const text = (flag: string) => values[flag] as string | undefined;
  for (const flag of PATH_FLAGS) {
    const value = text(flag);
    if (value !== undefined && !isAbsolute(value)) throw usage(`--${flag}`, `must be an absolute path, got '${value}'`);
  }
  for (const flag of OPTIONAL_PATH_FLAGS) {
    const value = text(flag);
    if (value !== undefined && value !== '' && !isAbsolute(value)) throw usage(`--${flag}`, `must be an absolute path, or '' for none, got '${value}'`);
  }
  const configPath = text('config') ?? (existsSync(DEFAULT_AGENT_CONFIG) ? DEFAULT_AGENT_CONFIG : undefined);
  const config = await loadAgentConfig(configPath);
  const dryRun = values['dry-run'] === true;
  const json = values.json === true;
  const steps: UninstallStep[] = [];
  const onStep = (step: UninstallStep) => {
    steps.push(step);
    if (!json) io.stdout(formatUninstallSteps([step]));
  };
  try {
    await uninstall(
      {
        stateFile: text('state-file') ?? config.stateFile,
        hookSocket: text('hook-socket') ?? config.hookSocket,
        controlSocket: text('control-socket') ?? config.controlSocket,
        alertsFile: text('alerts-file') ?? config.alerts.file,
        logFile: text('log-file') ?? config.logFile,
        bpffsDirectory: text('bpffs-dir') ?? config.bpffsDirectory,
        hookPath: text('hook-path') ?? DEFAULT_HOOK_PATH,
        hookConfigPath: text('hook-config'),
        compileCache: text('compile-cache'),
        hookLog: text('hook-log') ?? DEFAULT_HOOK_LOG,
        unitDirectory: text('unit-dir') ?? DEFAULT_UNIT_DIRECTORY,
        agentConfigPath: configPath ?? DEFAULT_AGENT_CONFIG,
        dryRun,
      },
      onStep,
    );
  } catch (error) {
    // What was done before the failure is said first; the failure's one line follows on standard error.
    if (json) io.stdout(`${JSON.stringify({ ok: false, dryRun, steps, error: describeError(error) }, null, 2)}\n`);
    throw error;
  }
  const next = dryRun ? [] : uninstallNextSteps(steps);
  if (json) io.stdout(`${JSON.stringify({ ok: true, dryRun, steps, next }, null, 2)}\n`);
  else for (const line of next) io.stdout(`next: ${line}\n`);
  return 0;
}
