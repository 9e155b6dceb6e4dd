/**
 * `bulwark doctor`: whether this machine's Bulwark set-up works end to end,
 * one line per check. It asks the running agent what it serves (its
 * control socket's ping), reads what install-hook left (the install record
 * beside the hook, the hook's configuration), and checks each link of the
 * chain a container start goes through: the runtime's hook entry, the
 * hook's interpreter, the socket the hook connects to, the agent answering
 * there, BPF LSM, the pinned enforcer.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { describeErrno, describeError, errnoOf } from '@bulwark/errors';
import { AgentConnection, AgentUnreachableError, DEFAULT_HOOK_CONFIG, defaultHookConfig, parseHookConfig, type HookConfig } from '@bulwark/hook-client';
import { agentUnreachableHint } from './command-error.js';
import { checkHookInterpreter } from './hook-interpreter.js';
import { installRecordPath, readInstallRecord, RECORD_RUNTIMES, type InstallRecord } from './install-record.js';

/** `problem` fails the doctor (exit 1); `warning` is worth knowing and does not. */
export type DoctorStatus = 'ok' | 'problem' | 'warning' | 'skipped';

export interface DoctorCheck {
  readonly name: string;
  readonly status: DoctorStatus;
  readonly detail: string;
}

export interface DoctorOptions {
  readonly hookPath: string;
  /** The hook's configuration; default: the one the install record names, else DEFAULT_HOOK_CONFIG. */
  readonly hookConfig?: string | undefined;
  readonly controlSocket: string;
  /** The agent's hook socket and pin directory when the agent cannot be asked (its configuration, or the defaults). */
  readonly hookSocket: string;
  readonly bpffsDirectory: string;
  /** Whether `command` is on PATH (tests give their own). */
  readonly onPath?: (command: string) => boolean;
  /** Opens the pinned enforcer at a directory and closes it, or throws why it cannot (the real one loads libbpf). */
  readonly openEnforcer?: (directory: string) => Promise<string>;
  /** The file that lists the kernel's active LSMs (default: /sys/kernel/security/lsm). */
  readonly lsmFile?: string;
  /** Per-connection deadline for the agent's answers. */
  readonly timeoutMs?: number;
}

interface AgentPing {
  readonly version?: string;
  readonly enforcement?: string;
  readonly hookSocket?: string;
  readonly bpffsDirectory?: string;
  readonly containers?: number;
}

export function onPath(command: string): boolean {
  for (const directory of (process.env.PATH ?? '').split(delimiter)) {
    if (directory === '') continue;
    try {
      accessSync(join(directory, command), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** The runtimes whose hook entries are machine-wide: one missing is a problem when the runtime is installed. */
const MACHINE_RUNTIMES = ['podman', 'crio', 'containerd'] as const;

async function ping(socket: string, timeoutMs: number): Promise<unknown> {
  const connection = await AgentConnection.connect(socket, { connectTimeoutMs: timeoutMs });
  try {
    return await connection.request({ type: 'ping' }, { replyTimeoutMs: timeoutMs });
  } finally {
    connection.close();
  }
}

/** Why a socket did not answer, in a few words. */
function whySocket(error: unknown): string {
  const errno = error instanceof AgentUnreachableError ? error.errno : errnoOf(error);
  if (errno === 'ENOENT') return 'no socket there';
  if (errno === 'ECONNREFUSED') return 'nothing listens there';
  if (errno === 'EACCES' || errno === 'EPERM') return 'permission denied';
  return describeError(error);
}

/** Why a file could not be read: `PATH: no such file or directory`. */
function whyFile(path: string, error: unknown): string {
  const errno = errnoOf(error);
  return errno === undefined ? describeError(error) : `${path}: ${describeErrno(errno)}`;
}

export const DEFAULT_LSM_FILE = '/sys/kernel/security/lsm';

/** Whether a runtime file still holds the hook: it names the hook's path (as is, or JSON-escaped). */
async function holdsHook(path: string, hookPath: string): Promise<'yes' | 'no' | 'gone'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return 'gone';
    throw error;
  }
  return text.includes(hookPath) || text.includes(JSON.stringify(hookPath).slice(1, -1)) ? 'yes' : 'no';
}

async function runtimeChecks(record: InstallRecord | undefined, options: DoctorOptions): Promise<DoctorCheck[]> {
  const found = options.onPath ?? onPath;
  const checks: DoctorCheck[] = [];
  for (const runtime of RECORD_RUNTIMES) {
    const name = `hook for ${runtime}`;
    const entries = (record?.entries ?? []).filter((entry) => entry.runtime === runtime);
    if (entries.length === 0) {
      if ((MACHINE_RUNTIMES as readonly string[]).includes(runtime) && found(runtime)) {
        // Installed is not in use: a machine may have podman and run containerd. Worth a line, not a failure.
        checks.push({ name, status: 'warning', detail: `${runtime} is on PATH and has no Bulwark hook: containers it starts run unregistered (bulwark install-hook --runtime ${runtime})` });
      }
      continue;
    }
    const held: string[] = [];
    const lost: string[] = [];
    let gone = 0;
    for (const entry of entries) {
      let state: 'yes' | 'no' | 'gone';
      try {
        state = await holdsHook(entry.path, options.hookPath);
      } catch (error) {
        lost.push(`${entry.path} cannot be read (${describeError(error)})`);
        continue;
      }
      if (state === 'yes') held.push(entry.path);
      // A runc bundle is removed with its container: nothing to hook any more.
      else if (state === 'gone' && runtime === 'runc') gone++;
      else lost.push(state === 'gone' ? `${entry.path} is gone` : `${entry.path} no longer names ${options.hookPath}`);
    }
    const goneNote = gone === 0 ? '' : ` (${gone} bundle${gone === 1 ? '' : 's'} since removed)`;
    if (lost.length > 0) checks.push({ name, status: 'problem', detail: `${lost.join('; ')}: reinstall (bulwark install-hook --runtime ${runtime})` });
    else if (held.length === 0) checks.push({ name, status: 'skipped', detail: `every bundle it was installed in is gone${goneNote}` });
    else checks.push({ name, status: 'ok', detail: runtime === 'runc' ? `${held.length} bundle${held.length === 1 ? '' : 's'}${goneNote}` : held.join(', ') });
  }
  return checks;
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorCheck[]> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const checks: DoctorCheck[] = [];

  // The agent, asked on its control socket: what it serves.
  let agent: AgentPing | undefined;
  try {
    agent = (await ping(options.controlSocket, timeoutMs)) as AgentPing;
    checks.push({
      name: 'agent',
      status: 'ok',
      detail: `answers on ${options.controlSocket} (version ${agent.version ?? '?'}, enforcement ${agent.enforcement ?? '?'}, ${agent.containers ?? '?'} containers)`,
    });
  } catch (error) {
    const hint = agentUnreachableHint(error);
    checks.push({ name: 'agent', status: 'problem', detail: `no agent answers on ${options.controlSocket} (${whySocket(error)})${hint === undefined ? '' : `: ${hint}`}` });
  }
  const agentHookSocket = agent?.hookSocket ?? options.hookSocket;
  const bpffsDirectory = agent?.bpffsDirectory ?? options.bpffsDirectory;

  // What install-hook left: the record, and through it the runtime entries and the configuration.
  const recordPath = installRecordPath(options.hookPath);
  let record: InstallRecord | undefined;
  try {
    record = await readInstallRecord(recordPath);
    if (record === undefined) checks.push({ name: 'install record', status: 'problem', detail: `none at ${recordPath}: the hook was not installed here (bulwark install-hook), or --hook-path names another place` });
  } catch (error) {
    checks.push({ name: 'install record', status: 'problem', detail: describeError(error) });
  }
  checks.push(...(await runtimeChecks(record, options)));

  const interpreter = await checkHookInterpreter(options.hookPath);
  checks.push({ name: 'hook interpreter', status: interpreter.status === 'ok' ? 'ok' : 'problem', detail: interpreter.detail });

  const configPath = options.hookConfig ?? record?.configs[0] ?? DEFAULT_HOOK_CONFIG;
  let hookConfig: HookConfig | undefined;
  let hookConfigMissing = false;
  try {
    hookConfig = parseHookConfig(await readFile(configPath, 'utf8'), configPath);
    checks.push({ name: 'hook configuration', status: 'ok', detail: `${configPath}: fail-${hookConfig.failMode}, socket ${hookConfig.socket}` });
  } catch (error) {
    hookConfigMissing = errnoOf(error) === 'ENOENT';
    const detail = hookConfigMissing ? `none at ${configPath}: the hook runs on its defaults (fail-open, unless its runtime entry gives --fail-mode closed)` : describeError(error);
    checks.push({ name: 'hook configuration', status: 'problem', detail });
  }

  if (hookConfig === undefined) {
    // The socket the hook connects to is the configuration's: without one there is nothing to hold against the agent's.
    checks.push({
      name: 'hook socket',
      status: 'skipped',
      detail: `not checked: ${hookConfigMissing ? `no hook configuration at ${configPath}` : `the hook configuration ${configPath} is not valid`} (see 'hook configuration'); without one the hook connects to ${defaultHookConfig().socket}`,
    });
  } else {
    if (hookConfig.socket !== agentHookSocket) {
      checks.push({
        name: 'hook socket',
        status: 'problem',
        detail: `the hook connects to ${hookConfig.socket}, the agent ${agent === undefined ? 'is configured to serve' : 'serves'} ${agentHookSocket}: reinstall with --socket ${agentHookSocket}, or start the agent with --hook-socket ${hookConfig.socket}`,
      });
    } else {
      try {
        await ping(hookConfig.socket, timeoutMs);
        checks.push({ name: 'hook socket', status: 'ok', detail: `the hook's socket ${hookConfig.socket} answers` });
      } catch (error) {
        checks.push({ name: 'hook socket', status: 'problem', detail: `the hook's socket ${hookConfig.socket} does not answer (${whySocket(error)}): containers start ${hookConfig.failMode === 'closed' ? 'not at all (fail-closed)' : 'unregistered (fail-open)'}` });
      }
    }
  }

  const lsmFile = options.lsmFile ?? DEFAULT_LSM_FILE;
  let lsms: string | undefined;
  try {
    lsms = (await readFile(lsmFile, 'utf8')).trim();
  } catch (error) {
    checks.push({ name: 'bpf lsm', status: 'problem', detail: `the active LSMs cannot be read (${whyFile(lsmFile, error)}): is securityfs mounted at ${dirname(lsmFile)}?` });
  }
  if (lsms !== undefined) {
    checks.push(
      lsms.split(',').includes('bpf')
        ? { name: 'bpf lsm', status: 'ok', detail: `active (${lsms})` }
        : { name: 'bpf lsm', status: 'problem', detail: `not active (${lsms}): boot with lsm=${lsms === '' ? '' : `${lsms},`}bpf; nothing can be enforced` },
    );
  }

  if (agent !== undefined && agent.enforcement !== undefined && agent.enforcement !== 'required') {
    checks.push({ name: 'enforcer', status: 'skipped', detail: `the agent runs with --enforcement ${agent.enforcement}: nothing is pinned` });
  } else if (!existsSync(join(bpffsDirectory, 'map-scopes'))) {
    checks.push({ name: 'enforcer', status: 'problem', detail: `not pinned at ${bpffsDirectory}: no agent with --enforcement required has run since boot, or it pins elsewhere (--bpffs-dir)` });
  } else {
    try {
      const detail = await (options.openEnforcer ?? openPinned)(bpffsDirectory);
      checks.push({ name: 'enforcer', status: 'ok', detail });
    } catch (error) {
      checks.push({ name: 'enforcer', status: 'problem', detail: describeError(error) });
    }
  }
  return checks;
}

/** Opens the pinned enforcer (checking its layout and every map) and closes it again. */
async function openPinned(directory: string): Promise<string> {
  const { openPinnedEnforcer } = await import('@bulwark/ebpf-lsm');
  const enforcer = openPinnedEnforcer(directory);
  try {
    return `pinned at ${directory}, ${enforcer.scopes().size} scopes in force`;
  } finally {
    enforcer.close();
  }
}

export function formatDoctor(checks: readonly DoctorCheck[]): string {
  const width = Math.max(...checks.map((check) => check.name.length));
  return checks.map((check) => `${check.status.padEnd(7)}  ${check.name.padEnd(width)}  ${check.detail}`).join('\n') + '\n';
}
