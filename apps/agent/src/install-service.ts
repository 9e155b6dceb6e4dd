/**
 * `bulwark install-service`: the agent as a systemd service (the systemd
 * mode of seed 002, as KubeArmor runs inside a Confidential Containers
 * guest): `bulwark-agent.service`, the `bulwark-agent.path` unit that starts
 * it once its configuration or policies are there, and a default
 * configuration when there is none. The units are rendered as plain text
 * first (renderServiceUnit, renderPathUnit); only installService touches the
 * file system, and it reads back and validates what it wrote.
 */
import { access, constants, lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ValidationError, describeError, errnoOf, toSystemError } from '@bulwark/errors';
import { writeFileAtomic } from '@bulwark/oci-state';
import { parseAgentConfig, type AgentConfig } from './config.js';
import { checkNodeVersion } from './install-hook.js';

export const DEFAULT_UNIT_DIRECTORY = '/etc/systemd/system';
export const DEFAULT_AGENT_CONFIG = '/etc/bulwark/agent.yaml';
export const SERVICE_UNIT = 'bulwark-agent.service';
export const PATH_UNIT = 'bulwark-agent.path';
/** Where `systemctl enable` links both units ([Install] WantedBy=); --uninstall removes those links too. */
const WANTS_DIRECTORY = 'multi-user.target.wants';

export interface ServiceUnitOptions {
  /** The Node 24 binary the agent runs on. */
  readonly nodePath: string;
  /** The agent's bundle (dist/bulwark.js of an installed @bulwark/agent). */
  readonly agentBundle: string;
  readonly configPath: string;
}

export interface PathUnitOptions {
  readonly configPath: string;
  readonly policyDirectory: string;
}

export interface InstallServiceOptions extends ServiceUnitOptions {
  readonly unitDirectory: string;
  readonly uninstall: boolean;
  /** Replace an existing configuration with the default one. */
  readonly force: boolean;
  /** Report what would be written, write nothing. */
  readonly dryRun: boolean;
}

export interface ServiceStep {
  readonly action: 'wrote' | 'updated' | 'unchanged' | 'replaced' | 'kept' | 'removed';
  readonly path: string;
  /** What changed, or why nothing did. */
  readonly detail?: string;
  /** With --dry-run: the text that would be written. */
  readonly text?: string;
}

function usage(message: string): ValidationError {
  return new ValidationError('install-service', [{ path: '', message }]);
}

/** The agent bundle this command runs from (dist/bulwark.js), or the built one beside the sources. */
export function defaultAgentBundle(): string {
  return fileURLToPath(new URL('../dist/bulwark.js', import.meta.url));
}

/**
 * One word of an ExecStart= line: systemd splits the line at whitespace and
 * expands `%` specifiers and `$` variables, so a word with either is quoted
 * and escaped.
 */
function execWord(word: string): string {
  const escaped = word.replaceAll('%', '%%').replaceAll('$', '$$$$');
  return /^[^\s"'\\;]+$/u.test(escaped) ? escaped : `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** A path in a unit setting: specifiers escaped. */
function unitPath(path: string): string {
  return path.replaceAll('%', '%%');
}

const HEADER = '# Written by bulwark install-service: run it again to update, with --uninstall to remove.';

/**
 * The service. The agent runs as root with only the capabilities the
 * enforcer and the registry need; the sandboxing keeps the file system
 * read-only where the agent never writes, and leaves alone what BPF needs:
 * bpffs (/sys/fs/bpf, where the enforcer is pinned), /sys/kernel/btf and
 * /sys/kernel/security, /sys/fs/cgroup and /proc of the containers.
 */
export function renderServiceUnit(options: ServiceUnitOptions): string {
  return `${HEADER}
[Unit]
Description=Bulwark agent: container registry and BPF LSM enforcement
After=local-fs.target
# ${PATH_UNIT} starts it once ${options.configPath} is there.

[Service]
Type=simple
ExecStart=${[options.nodePath, options.agentBundle, 'agent', '--config', options.configPath].map(execWord).join(' ')}
# Stopping leaves the pinned enforcer in force; the next agent takes it over.
Restart=always
RestartSec=2
# BPF programs and maps (CAP_BPF), LSM and tracing programs and their helpers
# (CAP_PERFMON), map ids and bpffs pins (CAP_SYS_ADMIN), MAC policy, as the
# kernel's BPF LSM documentation puts it (CAP_MAC_ADMIN), the memlock limit of
# kernels before 5.11 (CAP_SYS_RESOURCE), other users' /proc entries and
# container bundles (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH).
CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_MAC_ADMIN CAP_SYS_RESOURCE CAP_SYS_PTRACE CAP_DAC_READ_SEARCH
LimitMEMLOCK=infinity
NoNewPrivileges=yes
# /usr, /boot and /etc read-only; /run, /var and /sys/fs/bpf stay writable.
ProtectSystem=full
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native
UMask=0077
# Left out on purpose: ProtectKernelTunables= and ProtectControlGroups= (they
# remount /sys and /sys/fs/cgroup read-only, so the enforcer could not pin
# under /sys/fs/bpf), ProtectProc=invisible (the agent reads the containers'
# /proc), MemoryDenyWriteExecute= (Node's JIT), DynamicUser= and
# PrivateUsers= (BPF needs root's capabilities), PrivateNetwork= (metrics).

[Install]
WantedBy=multi-user.target
`;
}

/** The path unit: the service starts when the configuration exists or the policy directory has files. */
export function renderPathUnit(options: PathUnitOptions): string {
  return `${HEADER}
[Unit]
Description=Start the Bulwark agent once its configuration or policies are in place

[Path]
PathExists=${unitPath(options.configPath)}
DirectoryNotEmpty=${unitPath(options.policyDirectory)}
Unit=${SERVICE_UNIT}

[Install]
WantedBy=multi-user.target
`;
}

function yamlScalar(value: string): string {
  return /^[\w/.-]+$/u.test(value) ? value : JSON.stringify(value);
}

/** The configuration written when there is none: enforcing, policies beside it. */
export function renderDefaultAgentConfig(policyDirectory: string): string {
  return `# Bulwark agent configuration, written by bulwark install-service.
# The keys: docs/service-mode.md. kubearmor.yaml's keys are accepted too.
enforcement: required
policyDirectory: ${yamlScalar(policyDirectory)}
# Prometheus metrics, off unless listen is set (loopback only, unless allowRemote: true):
# metrics:
#   listen: 127.0.0.1:9464
`;
}

/** The setting names (`Section.Key`) whose values differ between two unit texts. */
export function changedUnitSettings(before: string, after: string): string[] {
  const settings = (text: string) => {
    const found = new Map<string, string[]>();
    let section = '';
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
      if (line.startsWith('[') && line.endsWith(']')) {
        section = line.slice(1, -1);
        continue;
      }
      const equals = line.indexOf('=');
      const key = `${section}.${equals < 0 ? line : line.slice(0, equals).trim()}`;
      found.set(key, [...(found.get(key) ?? []), equals < 0 ? '' : line.slice(equals + 1).trim()]);
    }
    return found;
  };
  const old = settings(before);
  const next = settings(after);
  const keys = new Set([...old.keys(), ...next.keys()]);
  return [...keys].filter((key) => JSON.stringify(old.get(key)) !== JSON.stringify(next.get(key)));
}

/** The top-level configuration keys whose values differ. */
function changedConfigKeys(before: AgentConfig, after: AgentConfig): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((key) => JSON.stringify((before as Record<string, unknown>)[key]) !== JSON.stringify((after as Record<string, unknown>)[key]));
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw toSystemError('read', error, path);
  }
}

async function checkReadable(path: string, what: string): Promise<void> {
  try {
    await access(path, constants.R_OK);
  } catch (error) {
    throw toSystemError(`check ${what}`, error, path);
  }
}

/** Writes `text` to `path` (unless dry-run), reads it back, and reports what changed. */
async function writeUnit(path: string, text: string, dryRun: boolean): Promise<ServiceStep> {
  const before = await readIfPresent(path);
  if (before === text) return { action: 'unchanged', path };
  const step: ServiceStep =
    before === undefined ? { action: 'wrote', path } : { action: 'updated', path, detail: `${changedUnitSettings(before, text).join(', ') || 'comments'} changed` };
  if (dryRun) return { ...step, text };
  await writeFileAtomic(path, text, 0o644);
  if ((await readFile(path, 'utf8')) !== text) throw new Error(`install-service: ${path} does not hold what was written`);
  return step;
}

/**
 * Installs (or removes) the service: the configuration first (kept when it
 * exists and validates; replaced only with `force`), then the path unit
 * (watching the policy directory the configuration names) and the service.
 */
export async function installService(options: InstallServiceOptions): Promise<ServiceStep[]> {
  for (const [name, path] of [
    ['--unit-dir', options.unitDirectory],
    ['--config', options.configPath],
    ['--node', options.nodePath],
    ['--agent-bundle', options.agentBundle],
  ] as const) {
    if (!isAbsolute(path)) throw usage(`${name} must be an absolute path, got '${path}'`);
    if (/[\n\r]/u.test(path)) throw usage(`${name} must be one line`);
  }
  if (options.uninstall) return uninstallService(options);

  checkNodeVersion(options.nodePath, 'install-service', 'the agent');
  await checkReadable(options.agentBundle, 'agent bundle (run the build first, or pass --agent-bundle)');
  // The enforcer's BPF object is looked up beside the bundle (tsup.config.ts copies it there).
  await checkReadable(join(dirname(options.agentBundle), 'bpf', 'enforcer.bpf.o'), 'enforcer object beside the agent bundle');

  const steps: ServiceStep[] = [];
  // 1. The configuration: what the agent will run with, and so where the path unit looks for policies.
  const defaultText = renderDefaultAgentConfig(join(dirname(options.configPath), 'policies'));
  const defaultConfig = parseAgentConfig(defaultText, 'default configuration');
  const existingText = await readIfPresent(options.configPath);
  let existing: AgentConfig | undefined;
  if (existingText !== undefined) {
    try {
      existing = parseAgentConfig(existingText, options.configPath);
    } catch (error) {
      if (!options.force) throw usage(`the existing configuration does not validate (${(error as Error).message}); fix it, or pass --force to replace it`);
    }
  }
  let config: AgentConfig;
  if (existingText !== undefined && existing !== undefined && !options.force) {
    config = existing;
    steps.push({ action: 'kept', path: options.configPath, detail: 'it exists; --force replaces it' });
  } else if (existingText === defaultText) {
    config = defaultConfig;
    steps.push({ action: 'unchanged', path: options.configPath });
  } else {
    config = defaultConfig;
    const detail =
      existingText === undefined ? undefined : existing === undefined ? 'it did not validate' : `${changedConfigKeys(existing, defaultConfig).join(', ') || 'comments'} changed`;
    const step: ServiceStep = { action: existingText === undefined ? 'wrote' : 'replaced', path: options.configPath, ...(detail === undefined ? {} : { detail }) };
    if (options.dryRun) {
      steps.push({ ...step, text: defaultText });
    } else {
      await mkdir(dirname(options.configPath), { recursive: true, mode: 0o755 });
      await writeFileAtomic(options.configPath, defaultText, 0o644);
      parseAgentConfig(await readFile(options.configPath, 'utf8'), options.configPath);
      steps.push(step);
    }
  }

  // 2. The units.
  if (!options.dryRun) await mkdir(options.unitDirectory, { recursive: true, mode: 0o755 });
  steps.push(await writeUnit(join(options.unitDirectory, PATH_UNIT), renderPathUnit({ configPath: options.configPath, policyDirectory: config.policyDirectory }), options.dryRun));
  steps.push(await writeUnit(join(options.unitDirectory, SERVICE_UNIT), renderServiceUnit(options), options.dryRun));
  return steps;
}

/** Removes `path` (a file or a symbolic link); false when there was none. */
async function removeIfPresent(path: string, dryRun: boolean): Promise<boolean> {
  try {
    await lstat(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return false;
    throw toSystemError('check', error, path);
  }
  if (!dryRun) {
    try {
      await rm(path);
    } catch (error) {
      throw toSystemError('remove', error, path);
    }
  }
  return true;
}

/** The units and their `systemctl enable` links go; the configuration and the policies stay. */
async function uninstallService(options: InstallServiceOptions): Promise<ServiceStep[]> {
  const steps: ServiceStep[] = [];
  for (const unit of [PATH_UNIT, SERVICE_UNIT]) {
    const link = join(options.unitDirectory, WANTS_DIRECTORY, unit);
    if (await removeIfPresent(link, options.dryRun)) steps.push({ action: 'removed', path: link });
    const file = join(options.unitDirectory, unit);
    steps.push({ action: (await removeIfPresent(file, options.dryRun)) ? 'removed' : 'unchanged', path: file });
  }
  steps.push({ action: 'kept', path: options.configPath, detail: 'the configuration and the policies stay' });
  return steps;
}

const DRY_RUN_ACTIONS: Readonly<Record<ServiceStep['action'], string>> = {
  wrote: 'would write',
  updated: 'would update',
  replaced: 'would replace',
  removed: 'would remove',
  unchanged: 'unchanged',
  kept: 'kept',
};

/** The command's output: one line per step, and with --dry-run the text each write would put there. */
export function formatServiceSteps(steps: readonly ServiceStep[], options: { dryRun: boolean; uninstall: boolean }): string {
  const lines: string[] = [];
  for (const step of steps) {
    const action = options.dryRun ? DRY_RUN_ACTIONS[step.action] : step.action;
    lines.push(`${action} ${step.path}${step.detail === undefined ? '' : ` (${step.detail})`}`);
    if (step.text !== undefined) lines.push(...step.text.trimEnd().split('\n').map((line) => `  | ${line}`));
  }
  if (!options.dryRun) {
    lines.push(
      options.uninstall
        ? `next: systemctl daemon-reload; a running agent stops with 'systemctl stop ${SERVICE_UNIT}' (the pinned enforcer stays in force until 'bulwark uninstall' removes it)`
        : `next: systemctl daemon-reload && systemctl enable --now ${PATH_UNIT}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export const INSTALL_SERVICE_HELP = `Usage: bulwark install-service [options]

Installs the agent as a systemd service: ${SERVICE_UNIT}, and ${PATH_UNIT},
which starts it once the configuration or the policies are there; writes a
default configuration (enforcement: required, policies beside it) when there
is none. Each file is read back and validated; the output says what changed.

Options:
  --unit-dir DIR          where the units go (default ${DEFAULT_UNIT_DIRECTORY})
  --config FILE           the agent's configuration (default ${DEFAULT_AGENT_CONFIG})
  --force                 replace an existing configuration with the default one
  --node PATH             Node 24 binary the agent runs on (default: this one)
  --agent-bundle FILE     the agent's built bundle (default: the one running this)
  --dry-run               print what would be written, write nothing
  --uninstall             remove the units (and their enable links); the
                          configuration and the policies stay
  -h, --help              show this help
  --version               print the version
`;

export async function runInstallServiceCommand(args: readonly string[], io: { stdout: (text: string) => void }): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        'unit-dir': { type: 'string' },
        config: { type: 'string' },
        force: { type: 'boolean' },
        node: { type: 'string' },
        'agent-bundle': { type: 'string' },
        'dry-run': { type: 'boolean' },
        uninstall: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new ValidationError('install-service', [{ path: '', message: describeError(error).replace(/\. To specify.*$/su, '') }]);
  }
  if (values.help === true) {
    io.stdout(INSTALL_SERVICE_HELP);
    return 0;
  }
  const options = { dryRun: values['dry-run'] === true, uninstall: values.uninstall === true };
  const steps = await installService({
    ...options,
    unitDirectory: values['unit-dir'] ?? DEFAULT_UNIT_DIRECTORY,
    configPath: values.config ?? DEFAULT_AGENT_CONFIG,
    force: values.force === true,
    nodePath: values.node ?? process.execPath,
    agentBundle: values['agent-bundle'] ?? defaultAgentBundle(),
  });
  io.stdout(formatServiceSteps(steps, options));
  return 0;
}
