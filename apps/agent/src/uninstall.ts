/**
 * `bulwark uninstall`: takes off this host what Bulwark put on it, once no
 * agent runs. Checks first, changing nothing: no agent holds the state
 * file's lock or answers on its sockets, the pin directory is an enforcer's
 * own on bpffs, the hook's install record reads. Then, in order: the
 * agent's files (its registry, the registry's backup and temporary files,
 * the applied policies, stale sockets, the alerts file, its log file), the
 * pinned enforcer (@bulwark/ebpf-lsm's removeEnforcerPins: the programs
 * detach once their pins are gone), the hook (install-hook's --uninstall
 * --all), the service units (install-service's --uninstall), the state
 * lock, and last the directories that are Bulwark's own (/run/bulwark,
 * /var/log/bulwark) when nothing else is left in them. Only the paths the
 * configuration names, or Bulwark's defaults, are touched; a file is
 * removed only when it is what Bulwark would have put there (a regular
 * file, a socket), and no directory is removed that Bulwark did not name.
 * The configuration and the policies stay.
 */
import { lstat, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BulwarkError, describeError, errnoOf, toSystemError } from '@bulwark/errors';
import { listEnforcerPins, removeEnforcerPins, type EnforcerPins, type EnforcerPinsOptions } from '@bulwark/ebpf-lsm';
import { AgentUnreachableError, DEFAULT_CONTROL_SOCKET, DEFAULT_HOOK_CONFIG, DEFAULT_HOOK_LOG, DEFAULT_HOOK_SOCKET, parseHookConfig, sendRequest } from '@bulwark/hook-client';
import { appliedDirectoryFor } from './applied-policies.js';
import { agentConfigSchema } from './config.js';
import { DEFAULT_COMPILE_CACHE, installHook, type InstallStep } from './install-hook.js';
import { installRecordPath, nodeCopyPath, readInstallRecord, type InstallRecord } from './install-record.js';
import { PATH_UNIT, SERVICE_UNIT, defaultAgentBundle, installService } from './install-service.js';
import { findStateLockHolder, lockStateFile, type StateLock, type StateLockBinding } from './state-lock.js';

export type UninstallPart = 'agent' | 'enforcer' | 'hook' | 'service';

export interface UninstallStep {
  readonly part: UninstallPart;
  /**
   * removed, updated (a shared file that lost only Bulwark's entries),
   * unchanged (it had none), absent (nothing there), kept (left, `detail`
   * says why); with dryRun, `would remove` and `would update`.
   */
  readonly action: 'removed' | 'updated' | 'unchanged' | 'absent' | 'kept' | 'would remove' | 'would update';
  readonly path: string;
  readonly detail?: string;
}

export interface UninstallOptions {
  /** The agent's paths, from its configuration (or the defaults). */
  readonly stateFile: string;
  readonly hookSocket: string;
  readonly controlSocket: string;
  /** '' for none. */
  readonly alertsFile: string;
  /** '' for none (the log went to standard output). */
  readonly logFile: string;
  readonly bpffsDirectory: string;
  /** The installed hook; its install record beside it lists the hook's side. */
  readonly hookPath: string;
  /** Passed on to install-hook --uninstall --all (which, without a record, takes its defaults). */
  readonly hookConfigPath?: string | undefined;
  readonly compileCache?: string | undefined;
  /** The hook's log when there is no install record to name it. */
  readonly hookLog: string;
  /** Where install-service put the units. */
  readonly unitDirectory: string;
  /** The agent's configuration: kept, and named as kept. */
  readonly agentConfigPath: string;
  readonly dryRun: boolean;
  /** The directories that are Bulwark's own, removed once empty; default bulwarkDirectories(). */
  readonly bulwarkDirectories?: readonly string[];
  /** For the pin directory's file system (tests); default the system's statfs. */
  readonly pinFiles?: EnforcerPinsOptions['files'] | undefined;
  readonly lockBinding?: StateLockBinding;
  /** How long an agent's socket is given to answer. */
  readonly timeoutMs?: number;
}

/** The directories Bulwark's defaults put files in, and nothing else does: /run/bulwark, /var/log/bulwark. */
export function bulwarkDirectories(): string[] {
  const defaults = agentConfigSchema.parse({});
  return [...new Set([defaults.stateFile, DEFAULT_HOOK_SOCKET, DEFAULT_CONTROL_SOCKET, defaults.alerts.file, DEFAULT_HOOK_LOG].map((path) => dirname(path)))];
}

/** A refusal before anything was removed: one line, exit 1. */
function refuse(message: string): BulwarkError {
  return new BulwarkError('ERR_STATE', `${message}; nothing was removed`);
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ENOENT' || errno === 'ENOTDIR') return undefined;
    throw toSystemError('check', error, path);
  }
}

/** An error that says no one listens at a socket path (nothing there, or a stale socket). */
function nobodyListens(error: unknown): boolean {
  const errno = error instanceof AgentUnreachableError ? error.errno : errnoOf(error);
  return errno === 'ENOENT' || errno === 'ECONNREFUSED' || errno === 'ENOTSOCK' || errno === 'ENOTDIR';
}

/** How to stop the agent, for the refusal: its service when the units are there, else its pid. */
async function howToStop(options: UninstallOptions, pid: number | undefined): Promise<string> {
  if ((await lstatOrUndefined(join(options.unitDirectory, SERVICE_UNIT))) !== undefined) return `systemctl disable --now ${PATH_UNIT} ${SERVICE_UNIT}`;
  return pid === undefined ? 'SIGTERM' : `kill ${pid}`;
}

/** Refuses while an agent runs on these paths: it holds the state lock, or answers on a socket. */
async function refuseWhileAgentRuns(options: UninstallOptions): Promise<void> {
  const holder = findStateLockHolder(options.stateFile, options.lockBinding);
  if (holder !== undefined) {
    const pid = holder.pid === undefined ? 'pid unknown' : `pid ${holder.pid}`;
    throw refuse(`an agent is running (${pid}; it holds ${options.stateFile}.lock): stop it first (${await howToStop(options, holder.pid)})`);
  }
  for (const socket of new Set([options.controlSocket, options.hookSocket])) {
    let reply: unknown;
    try {
      reply = await sendRequest(socket, { type: 'ping' }, { totalTimeoutMs: options.timeoutMs ?? 3000 });
    } catch (error) {
      if (nobodyListens(error)) continue;
      throw refuse(`cannot tell whether an agent serves ${socket} (${describeError(error)}): stop it first`);
    }
    const pid = (reply as { pid?: unknown } | null)?.pid;
    const known = typeof pid === 'number' ? pid : undefined;
    throw refuse(`an agent answers on ${socket}${known === undefined ? '' : ` (pid ${known})`}: stop it first (${await howToStop(options, known)})`);
  }
}

type Emit = (step: UninstallStep) => void;

/**
 * Removes `path` when it is a regular file (or, for `socket`, a socket);
 * anything else there is kept and named. With dryRun, says what it would do.
 */
async function removeFile(emit: Emit, part: UninstallPart, path: string, what: string, options: { dryRun: boolean; socket?: boolean }): Promise<void> {
  const stats = await lstatOrUndefined(path);
  if (stats === undefined) return emit({ part, action: 'absent', path, detail: what });
  const wanted = options.socket === true ? stats.isSocket() : stats.isFile();
  if (!wanted) {
    const found = stats.isSymbolicLink() ? 'a symbolic link, not followed' : stats.isDirectory() ? 'a directory' : options.socket === true ? 'not a socket' : 'not a regular file';
    return emit({ part, action: 'kept', path, detail: `${what}: ${found}` });
  }
  if (options.dryRun) return emit({ part, action: 'would remove', path, detail: what });
  try {
    await rm(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return emit({ part, action: 'absent', path, detail: what });
    throw toSystemError('remove', error, path);
  }
  emit({ part, action: 'removed', path, detail: what });
}

async function listDirectory(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ENOENT' || errno === 'ENOTDIR') return [];
    throw toSystemError('read directory', error, path);
  }
}

/** A file the registry's atomic writes leave behind when interrupted: `.<name>.<12 hex>.tmp` (oci-state's writeFileAtomic). */
function registryTemporary(stateFile: string): RegExp {
  const name = basename(stateFile).replace(/[.*+?^${}()|[\]\\]/gu, '\\$&');
  return new RegExp(`^\\.${name}(\\.bak)?\\.[0-9a-f]{12}\\.tmp$`, 'u');
}
/** An applied policy's record (applied-policies.ts: a hash of its identity), and its temporary file. */
const APPLIED_RECORD = /^[0-9a-f]{32}\.json(\.\d+\.\d+\.tmp)?$/u;

/** The agent's own files: the registry and what goes with it, the applied policies, stale sockets, alerts, its log. */
async function removeAgentFiles(emit: Emit, options: UninstallOptions): Promise<void> {
  const { dryRun, stateFile } = options;
  await removeFile(emit, 'agent', stateFile, 'the container registry', { dryRun });
  await removeFile(emit, 'agent', `${stateFile}.bak`, "the registry's backup", { dryRun });
  const temporary = registryTemporary(stateFile);
  for (const name of (await listDirectory(dirname(stateFile))).filter((entry) => temporary.test(entry))) {
    await removeFile(emit, 'agent', join(dirname(stateFile), name), "a temporary file of the registry's", { dryRun });
  }

  const applied = appliedDirectoryFor(stateFile);
  const appliedStats = await lstatOrUndefined(applied);
  if (appliedStats === undefined) {
    emit({ part: 'agent', action: 'absent', path: applied, detail: 'the applied policies' });
  } else if (!appliedStats.isDirectory()) {
    emit({ part: 'agent', action: 'kept', path: applied, detail: 'the applied policies: not a directory' });
  } else {
    const names = await listDirectory(applied);
    for (const name of names.filter((entry) => APPLIED_RECORD.test(entry))) await removeFile(emit, 'agent', join(applied, name), 'an applied policy', { dryRun });
    const others = names.filter((entry) => !APPLIED_RECORD.test(entry));
    await removeDirectory(emit, 'agent', applied, 'the applied policies', others, dryRun);
  }

  for (const [socket, what] of [
    [options.hookSocket, 'the hook socket'],
    [options.controlSocket, 'the control socket'],
  ] as const) {
    // Only a killed agent leaves them: one that stops removes its sockets, and one that answered was refused above.
    await removeFile(emit, 'agent', socket, what, { dryRun, socket: true });
  }
  if (options.alertsFile !== '') await removeFile(emit, 'agent', options.alertsFile, 'the alerts', { dryRun });
  if (options.logFile !== '') await removeFile(emit, 'agent', options.logFile, "the agent's log", { dryRun });
}

/** Removes a directory when nothing but what was removed was in it; `left` is what else is there. */
async function removeDirectory(emit: Emit, part: UninstallPart, path: string, what: string, left: readonly string[], dryRun: boolean): Promise<void> {
  const shown = (names: readonly string[]) => `${names.slice(0, 5).join(', ')}${names.length > 5 ? `, and ${names.length - 5} more` : ''}`;
  if (left.length > 0) return emit({ part, action: 'kept', path, detail: `${what}: not empty: ${shown(left)}` });
  if (dryRun) return emit({ part, action: 'would remove', path, detail: what });
  try {
    await rmdir(path);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ENOENT') return emit({ part, action: 'absent', path, detail: what });
    if (errno === 'ENOTEMPTY' || errno === 'EEXIST') return emit({ part, action: 'kept', path, detail: `${what}: not empty: ${shown(await listDirectory(path))}` });
    throw toSystemError('remove directory', error, path);
  }
  emit({ part, action: 'removed', path, detail: what });
}

/** The pinned enforcer: its pins, then its directory (removeEnforcerPins), or with dryRun what that would remove. */
function removeEnforcer(emit: Emit, options: UninstallOptions, pins: EnforcerPins): void {
  const files = options.pinFiles === undefined ? {} : { files: options.pinFiles };
  const what = (path: string) => (path === pins.directory ? "the enforcer's pin directory" : 'an enforcer pin');
  if (!options.dryRun) {
    for (const step of removeEnforcerPins(options.bpffsDirectory, files)) emit({ part: 'enforcer', ...step, detail: step.detail === undefined ? what(step.path) : `${what(step.path)}: ${step.detail}` });
    return;
  }
  if (!pins.exists) return emit({ part: 'enforcer', action: 'absent', path: pins.directory, detail: what(pins.directory) });
  for (const name of pins.pins) emit({ part: 'enforcer', action: 'would remove', path: join(pins.directory, name), detail: 'an enforcer pin' });
  emit(
    pins.others.length === 0
      ? { part: 'enforcer', action: 'would remove', path: pins.directory, detail: what(pins.directory) }
      : { part: 'enforcer', action: 'kept', path: pins.directory, detail: `${what(pins.directory)}: not empty: ${pins.others.join(', ')}` },
  );
}

/** install-hook --uninstall --all, its steps as this command's. */
async function removeHook(emit: Emit, options: UninstallOptions): Promise<void> {
  const steps: InstallStep[] = await installHook({
    uninstall: true,
    all: true,
    hookPath: options.hookPath,
    hookConfigPath: options.hookConfigPath,
    compileCache: options.compileCache,
  });
  for (const step of steps) {
    if (step.action === 'wrote') continue;
    emit({ part: 'hook', action: step.action, path: step.path, ...(step.detail === undefined ? {} : { detail: step.detail }) });
  }
}

/**
 * With dryRun: what install-hook --uninstall --all would take, from the
 * install record (or, without one, its defaults), each path there named
 * once. install-hook itself checks, when it removes them, that each is
 * Bulwark's (a file without its marker is kept).
 */
async function previewHook(emit: Emit, options: UninstallOptions, record: InstallRecord | undefined): Promise<void> {
  const seen = new Set<string>();
  const say = async (path: string, what: string, shared = false) => {
    if (seen.has(path)) return;
    seen.add(path);
    const there = (await lstatOrUndefined(path)) !== undefined;
    emit({ part: 'hook', action: there ? (shared ? 'would update' : 'would remove') : 'absent', path, detail: shared && there ? `${what}: Bulwark's entries only` : what });
  };
  for (const entry of record?.entries ?? []) await say(entry.path, `the ${entry.runtime} hook entry`, entry.runtime === 'runc' || entry.runtime === 'containerd');
  for (const path of [...(record?.hooks ?? []), options.hookPath]) await say(path, 'the hook');
  for (const path of [record?.node, nodeCopyPath(options.hookPath)]) if (path !== undefined) await say(path, "the hook's Node");
  const configs = [...(record?.configs ?? []), ...[options.hookConfigPath ?? (record === undefined ? DEFAULT_HOOK_CONFIG : undefined)].filter((path) => path !== undefined)];
  const logs = [...(record?.logs ?? [])];
  for (const path of configs) {
    await say(path, "the hook's configuration");
    try {
      const log = parseHookConfig(await readFile(path, 'utf8'), path).log;
      if (log !== '' && !logs.includes(log)) logs.push(log);
    } catch {
      // No configuration there, or one that names no log install-hook would take.
    }
  }
  await say(installRecordPath(options.hookPath), 'the install record');
  for (const path of logs) await say(path, "the hook's log");
  const cache = options.compileCache ?? (record === undefined ? DEFAULT_COMPILE_CACHE : undefined);
  for (const path of [...(record?.compileCaches ?? []), ...(cache === undefined || cache === '' ? [] : [cache])]) await say(path, "the hook's compile cache (whole if install-hook made it, else its code cache files)");
  for (const path of [...(record?.directories ?? [])].reverse()) await say(path, 'a directory install-hook made, if empty then');
}

/** install-service --uninstall: the units and their enable links; the configuration stays. */
async function removeService(emit: Emit, options: UninstallOptions): Promise<void> {
  const steps = await installService({
    uninstall: true,
    dryRun: options.dryRun,
    force: false,
    unitDirectory: options.unitDirectory,
    configPath: options.agentConfigPath,
    nodePath: process.execPath,
    agentBundle: defaultAgentBundle(),
  });
  for (const step of steps) {
    if (step.action === 'kept') {
      const there = (await lstatOrUndefined(step.path)) !== undefined;
      emit({ part: 'service', action: there ? 'kept' : 'absent', path: step.path, detail: "the agent's configuration: it and the policies stay" });
    }
    else if (step.action === 'removed') emit({ part: 'service', action: options.dryRun ? 'would remove' : 'removed', path: step.path, detail: 'a systemd unit' });
    else emit({ part: 'service', action: 'absent', path: step.path, detail: 'a systemd unit' });
  }
}

/**
 * Removes what Bulwark put on this host (see the module comment), each
 * path given to `onStep` as it is dealt with, and returns the steps.
 * Refuses, with nothing removed, while an agent runs on these paths or
 * when the pin directory is not an enforcer's own. A failure part way is
 * thrown; the steps before it have been given to `onStep`.
 */
export async function uninstall(options: UninstallOptions, onStep: (step: UninstallStep) => void = () => undefined): Promise<UninstallStep[]> {
  const steps: UninstallStep[] = [];
  // Each path once: install-hook may already have removed a log or a directory named here too.
  const reported = new Set<string>();
  const emit: Emit = (step) => {
    if (reported.has(step.path)) return;
    reported.add(step.path);
    steps.push(step);
    onStep(step);
  };

  // 1. Checks, changing nothing.
  await refuseWhileAgentRuns(options);
  const pins = (() => {
    try {
      return listEnforcerPins(options.bpffsDirectory, options.pinFiles === undefined ? {} : { files: options.pinFiles });
    } catch (error) {
      throw refuse(describeError(error));
    }
  })();
  const record = await readInstallRecord(installRecordPath(options.hookPath)).catch((error: unknown) => {
    throw refuse(`${describeError(error)} (move it away to remove the hook's defaults instead)`);
  });

  // 2. The state lock, held throughout: an agent started meanwhile on this state file is refused.
  const lockPath = `${options.stateFile}.lock`;
  let lock: StateLock | undefined;
  if (!options.dryRun && (await lstatOrUndefined(lockPath))?.isFile() === true) lock = lockStateFile(options.stateFile, options.lockBinding);
  try {
    await removeAgentFiles(emit, options);
    removeEnforcer(emit, options, pins);
    if (options.dryRun) await previewHook(emit, options, record);
    else await removeHook(emit, options);
    // Without a record nothing names the hook's log but the default (or --hook-log).
    if (record === undefined) await removeFile(emit, 'hook', options.hookLog, "the hook's log", { dryRun: options.dryRun });
    await removeService(emit, options);
    await removeFile(emit, 'agent', lockPath, 'the state lock', { dryRun: options.dryRun });
  } finally {
    lock?.release();
  }

  // 3. The directories the files above were in: only Bulwark's own are removed, and only when empty.
  const own = new Set(options.bulwarkDirectories ?? bulwarkDirectories());
  const files = [options.stateFile, options.hookSocket, options.controlSocket, options.alertsFile, options.logFile, ...(record === undefined ? [options.hookLog] : [])].filter((path) => path !== '');
  const planned = new Set(steps.filter((step) => step.action === 'would remove').map((step) => step.path));
  for (const directory of new Set(files.map((path) => dirname(path)))) {
    if (reported.has(directory)) continue;
    const stats = await lstatOrUndefined(directory);
    if (!own.has(directory)) {
      if (stats !== undefined) emit({ part: 'agent', action: 'kept', path: directory, detail: "not one of Bulwark's own directories: left in place" });
      continue;
    }
    if (stats === undefined) {
      emit({ part: 'agent', action: 'absent', path: directory, detail: "a directory of Bulwark's own" });
      continue;
    }
    if (!stats.isDirectory()) {
      emit({ part: 'agent', action: 'kept', path: directory, detail: 'not a directory' });
      continue;
    }
    const left = (await listDirectory(directory)).filter((name) => !planned.has(join(directory, name)));
    await removeDirectory(emit, 'agent', directory, "a directory of Bulwark's own", left, options.dryRun);
  }
  return steps;
}
