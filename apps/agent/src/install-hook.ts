/**
 * `bulwark install-hook`: the hook executable, the Node it runs on, its
 * configuration, and the runtime's hook entries. An install is planned
 * first, reading only (the configuration it would write, weighed against the
 * one there; the interpreter checked; every runtime file it would change
 * parsed), and then carried out through a journal, so that a step that fails
 * undoes every change before it. What was installed is kept in an install
 * record beside the hook, which `--uninstall --all` removes again.
 */
import { access, constants, lstat, open, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BulwarkError, ValidationError, describeError, errnoOf, toSystemError } from '@bulwark/errors';
import { DEFAULT_HOOK_CONFIG, parseHookConfig, type HookConfig } from '@bulwark/hook-client';
import { parseConfig, parseHookFile, renderHookFile, updateSpecFileHooks, type Hook } from '@bulwark/oci-state';
import { formatValue, planHookConfig, type HookConfigFlags } from './hook-config-plan.js';
import { checkInterpreter, checkNodeVersion, inspectNode, shebangFor } from './hook-interpreter.js';
import { InstallJournal, withJournal } from './install-journal.js';
import {
  emptyRecord,
  installRecordPath,
  mergeRecord,
  nodeCopyPath,
  readInstallRecord,
  renderInstallRecord,
  type InstallRecord,
  type RecordedEntry,
} from './install-record.js';

export { checkNodeVersion, checkHookInterpreter, shebangFor } from './hook-interpreter.js';
export type { HookConfigFlags } from './hook-config-plan.js';

export const RUNTIMES = ['podman', 'crio', 'containerd', 'runc', 'kata-guest'] as const;
export type Runtime = (typeof RUNTIMES)[number];

export const DEFAULT_HOOKS_DIRECTORIES: Record<'podman' | 'crio' | 'kata-guest', string> = {
  podman: '/usr/share/containers/oci/hooks.d',
  crio: '/etc/containers/oci/hooks.d',
  // Kata's guest_hook_path, in the guest image: the kata-agent reads its prestart/, poststart/ and poststop/.
  'kata-guest': '/usr/share/oci/hooks',
};
/**
 * The file name in each of the guest hook directory's stage directories.
 * The number orders it among other guest hooks (by name): early, so the
 * container is enforced before hooks that come after it run.
 */
export const KATA_GUEST_HOOK_NAME = '10-bulwark';
/** The stages the kata-agent reads from guest_hook_path, and the two Bulwark's hook is installed for. */
const KATA_STAGE_DIRECTORIES = ['prestart', 'poststart', 'poststop'];
export const KATA_GUEST_STAGES = ['prestart', 'poststop'] as const;
/** The kata-agent kills a guest hook after 10 s by default: the hook's own deadline stays well under that. */
export const KATA_GUEST_MAX_TIMEOUT_MS = 8000;
export const DEFAULT_HOOK_PATH = '/usr/local/lib/bulwark/bulwark-hook';
export const DEFAULT_BASE_SPEC = '/etc/containerd/base-spec.json';
export const DEFAULT_COMPILE_CACHE = '/var/cache/bulwark/hook';
/** The stages the hook is installed for, on every runtime but the Kata guest. */
export const HOOK_STAGES_INSTALLED = ['createRuntime', 'poststop'] as const;
/** The one hooks.d file of earlier installs, for both stages; an install or uninstall now removes it. */
export const LEGACY_HOOKS_FILE_NAME = 'bulwark.json';
/** The hook's argv[0] in every entry Bulwark writes: the marker that tells its entries from others. */
export const HOOK_ARGV0 = 'bulwark-hook';
/** The comment line every Kata guest script carries: the marker that tells it from other guest hooks. */
const KATA_GUEST_MARKER = "# Bulwark's guest hook (bulwark install-hook --runtime kata-guest).";

/** The hooks.d file for one stage: one file per stage, so each entry names its stage and the hook never infers it. */
export function hooksFileName(stage: string): string {
  return `bulwark-${stage}.json`;
}

export interface InstallOptions {
  /** Required, but for `uninstall` with `all`. */
  readonly runtime?: Runtime | undefined;
  readonly uninstall?: boolean | undefined;
  /** With `uninstall`: remove everything the install record lists. */
  readonly all?: boolean | undefined;
  /** Install over an existing configuration that the new one would weaken (or that is not valid). */
  readonly force?: boolean | undefined;
  /** Where the hook executable is installed; default DEFAULT_HOOK_PATH. */
  readonly hookPath?: string | undefined;
  /** The built hook bundle to install; default: the one next to this agent's build. */
  readonly hookSource?: string | undefined;
  /**
   * A Node 24 the hook runs on, named in its shebang (`--node`). Default:
   * the installer copies the Node it runs on beside the hook
   * (`bulwark-node`) and names that copy.
   */
  readonly nodePath?: string | undefined;
  /** The Node binary copied for the hook when `nodePath` is not given; default: the one running this. */
  readonly nodeSource?: string | undefined;
  /** Default DEFAULT_HOOK_CONFIG. */
  readonly hookConfigPath?: string | undefined;
  /** The configuration values given; one not given keeps the existing configuration's value. */
  readonly hookConfig?: HookConfigFlags | undefined;
  readonly hooksDirectory?: string | undefined;
  readonly bundle?: string | undefined;
  readonly baseSpec?: string | undefined;
  /**
   * Node's compile cache for the hook (NODE_COMPILE_CACHE in the hook's
   * environment); '' turns it off. It saves compiling the bundle at every
   * container start. Default DEFAULT_COMPILE_CACHE.
   */
  readonly compileCache?: string | undefined;
}

export interface InstallStep {
  /** absent: there was nothing to remove; kept: left in place, `detail` says why. */
  readonly action: 'wrote' | 'updated' | 'unchanged' | 'removed' | 'absent' | 'kept';
  readonly path: string;
  readonly detail?: string;
  /** For a configuration that changed: one line per key, `key: old -> new`. */
  readonly changes?: readonly string[];
}

function usage(message: string): ValidationError {
  return new ValidationError('install-hook', [{ path: '', message }]);
}

/** The hook bundle built beside this agent (apps/hook/dist), if there is one. */
export function defaultHookSource(): string {
  return fileURLToPath(new URL('../../hook/dist/bulwark-hook.cjs', import.meta.url));
}

/**
 * The hook's arguments in a runtime entry: its configuration and its stage,
 * and for a fail-closed install the mode too. The hook takes a mode given on
 * its command line over the file's, so a hook.json damaged later (a typo, an
 * unknown key, a directory) cannot turn an installed fail-closed hook
 * fail-open. A fail-open install names no mode: the file's is the one.
 */
export function hookArguments(hookConfigPath: string, failMode: 'open' | 'closed', stage: string): string[] {
  return ['--config', hookConfigPath, ...(failMode === 'closed' ? ['--fail-mode', 'closed'] : []), '--stage', stage];
}

/** Quotes a word for /bin/sh: single quotes, each ' written as '\''. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/u.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/**
 * The executable the kata-agent runs for one stage. The agent passes no
 * arguments of ours (only the file name and the stage) and no environment,
 * so this small script names the configuration and the stage, and sets the
 * compile cache, then replaces itself with the hook.
 */
export function renderKataGuestHook(options: { hookPath: string; hookConfigPath: string; stage: string; compileCache: string; failMode?: 'open' | 'closed' }): string {
  return [
    '#!/bin/sh',
    `${KATA_GUEST_MARKER} The kata-agent`,
    '# runs every regular executable file of this directory with the OCI state on stdin.',
    ...(options.compileCache === '' ? [] : [`NODE_COMPILE_CACHE=${shellQuote(options.compileCache)}`, 'export NODE_COMPILE_CACHE']),
    `exec ${[options.hookPath, ...hookArguments(options.hookConfigPath, options.failMode ?? 'open', options.stage)].map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
}

/** Every option's flag, for messages. */
const FLAGS = {
  runtime: '--runtime',
  all: '--all',
  force: '--force',
  hookPath: '--hook-path',
  hookSource: '--hook-source',
  nodePath: '--node',
  hookConfigPath: '--hook-config',
  hooksDirectory: '--hooks-dir',
  bundle: '--bundle',
  baseSpec: '--base-spec',
  compileCache: '--compile-cache',
} as const;
const CONFIG_FLAGS: Record<keyof HookConfigFlags, string> = {
  socket: '--socket',
  failMode: '--fail-mode',
  log: '--log',
  timeoutMs: '--timeout-ms',
  allowNamespaces: '--allow-namespace',
  allowNames: '--allow-name',
};
/** The runtimes each location flag belongs to. */
const LOCATION_RUNTIMES: Record<'hooksDirectory' | 'bundle' | 'baseSpec', readonly Runtime[]> = {
  hooksDirectory: ['podman', 'crio', 'kata-guest'],
  bundle: ['runc'],
  baseSpec: ['containerd'],
};

/** The flags given, by option name (a boolean counts when true). */
function givenOptions(options: InstallOptions): string[] {
  const given = (Object.keys(FLAGS) as (keyof typeof FLAGS)[]).filter((key) => {
    const value = options[key];
    return typeof value === 'boolean' ? value : value !== undefined;
  });
  const config = (Object.keys(CONFIG_FLAGS) as (keyof HookConfigFlags)[]).filter((key) => options.hookConfig?.[key] !== undefined);
  return [...given, ...config];
}

function flagOf(option: string): string {
  return (FLAGS as Record<string, string>)[option] ?? (CONFIG_FLAGS as Record<string, string>)[option] ?? option;
}

/**
 * Refuses a flag that does not apply to what was asked, so that none is
 * ignored without a word: a location flag of another runtime, a
 * configuration value with --uninstall, --runtime with --uninstall --all.
 */
function checkApplicable(options: InstallOptions): void {
  const given = givenOptions(options);
  const runtime = options.runtime;
  if (options.all === true && options.uninstall !== true) throw usage('--all goes with --uninstall (--uninstall --all removes everything Bulwark installed)');
  if (options.uninstall === true && options.all === true) {
    const allowed = new Set(['all', 'hookPath', 'hookConfigPath', 'compileCache']);
    const refused = given.find((option) => !allowed.has(option));
    if (refused !== undefined) {
      throw usage(`${flagOf(refused)} does not apply to --uninstall --all (it removes everything the install record lists; only --hook-path, --hook-config and --compile-cache apply)`);
    }
    return;
  }
  if (runtime === undefined || !(RUNTIMES as readonly string[]).includes(runtime)) {
    throw new ValidationError('install-hook', [{ path: '--runtime', message: `must be one of ${RUNTIMES.join(', ')}` }]);
  }
  for (const [option, runtimes] of Object.entries(LOCATION_RUNTIMES)) {
    if (given.includes(option) && !runtimes.includes(runtime)) {
      throw usage(`${flagOf(option)} does not apply to --runtime ${runtime} (only to ${runtimes.join(', ')})`);
    }
  }
  if (options.uninstall === true) {
    const allowed = new Set(['runtime', 'hookPath', 'hooksDirectory', 'bundle', 'baseSpec']);
    const refused = given.find((option) => !allowed.has(option));
    if (refused !== undefined) {
      throw usage(`${flagOf(refused)} does not apply to --uninstall --runtime (it removes the runtime's entries only; --uninstall --all removes the rest)`);
    }
  }
  if (runtime === 'runc' && options.bundle === undefined) {
    throw usage('--runtime runc needs --bundle DIR (the bundle whose config.json gets the hooks)');
  }
}

function checkAbsolute(flag: string, path: string | undefined): void {
  if (path !== undefined && !isAbsolute(path)) throw usage(`${flag} must be an absolute path, got '${path}'`);
}

/** The guest hook directory is guest_hook_path itself, not one of its stage directories. */
function kataHooksDirectory(options: InstallOptions): string {
  const directory = options.hooksDirectory ?? DEFAULT_HOOKS_DIRECTORIES['kata-guest'];
  if (KATA_STAGE_DIRECTORIES.includes(basename(directory))) {
    throw usage(`--hooks-dir is Kata's guest_hook_path (the directory that holds prestart/), got ${directory}; pass ${dirname(directory)}`);
  }
  return directory;
}

/**
 * Installs (or removes) the hook for a runtime: the hook executable, the
 * Node it runs on, its configuration, and the runtime's hook entries. Every
 * file written is read back and validated; a bad configuration is caught
 * here, not at the first container start. All or nothing: a failing step
 * undoes the steps before it.
 */
export async function installHook(options: InstallOptions): Promise<InstallStep[]> {
  checkApplicable(options);
  checkAbsolute('--hook-path', options.hookPath);
  checkAbsolute('--hook-config', options.hookConfigPath);
  checkAbsolute('--hooks-dir', options.hooksDirectory);
  checkAbsolute('--bundle', options.bundle);
  checkAbsolute('--base-spec', options.baseSpec);
  if (options.compileCache !== '') checkAbsolute('--compile-cache', options.compileCache);
  if (options.runtime === 'kata-guest') kataHooksDirectory(options);
  if (options.uninstall === true) return options.all === true ? uninstallAll(options) : uninstall(options);
  return install(options);
}

/** The runtime's own limit is a last resort far above the hook's deadline: under a burst of container starts the hook's own start-up waits for CPU, and a hook killed by the runtime fails its container. */
export function runtimeTimeoutSeconds(timeoutMs: number): number {
  return Math.ceil(timeoutMs / 1000) + 25;
}

/** True for a hook entry Bulwark wrote: its argv[0], or the path the hook is installed at. */
function isBulwarkHook(hookPath: string): (hook: Hook) => boolean {
  return (hook) => hook.args?.[0] === HOOK_ARGV0 || hook.path === hookPath;
}

/** The existing configuration, or undefined; `invalid` says why the one there cannot be read as one. */
async function readExistingConfig(path: string): Promise<{ config?: HookConfig; invalid?: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return {};
    throw toSystemError('read hook config', error, path);
  }
  try {
    return { config: parseHookConfig(text, path) };
  } catch (error) {
    return { invalid: describeError(error) };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return false;
    throw toSystemError('read', error, path);
  }
}

/** A spec file a hook is added to: it must exist and be a valid config before anything is written. */
async function checkSpecFile(path: string, missing: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') throw usage(missing);
    throw toSystemError('read spec file', error, path);
  }
  parseConfig(text, path);
}

/** What a file written whole for a runtime (hooks.d entry, guest script) holds; whether it is Bulwark's. */
async function isBulwarkFile(runtime: Runtime, path: string, hookPath: string): Promise<boolean> {
  const stats = await lstat(path);
  if (!stats.isFile()) return false;
  const text = await readFile(path, 'utf8');
  if (runtime === 'kata-guest') return text.includes(KATA_GUEST_MARKER);
  try {
    return isBulwarkHook(hookPath)(parseHookFile(text, path).hook);
  } catch {
    return false;
  }
}

/** The files one runtime's install writes whole, or the spec file it adds hooks to. */
function runtimeTarget(options: InstallOptions): { kind: 'files'; paths: string[]; legacy?: string } | { kind: 'spec'; path: string } {
  const runtime = options.runtime!;
  switch (runtime) {
    case 'podman':
    case 'crio': {
      const directory = options.hooksDirectory ?? DEFAULT_HOOKS_DIRECTORIES[runtime];
      return { kind: 'files', paths: HOOK_STAGES_INSTALLED.map((stage) => join(directory, hooksFileName(stage))), legacy: join(directory, LEGACY_HOOKS_FILE_NAME) };
    }
    case 'kata-guest': {
      const directory = kataHooksDirectory(options);
      return { kind: 'files', paths: KATA_GUEST_STAGES.map((stage) => join(directory, stage, KATA_GUEST_HOOK_NAME)) };
    }
    case 'runc':
      return { kind: 'spec', path: join(options.bundle!, 'config.json') };
    case 'containerd':
      return { kind: 'spec', path: options.baseSpec ?? DEFAULT_BASE_SPEC };
  }
}

function formatChanges(changes: readonly { key: string; from: unknown; to: unknown }[]): string[] {
  return changes.map((change) => `${change.key}: ${formatValue(change.from)} -> ${formatValue(change.to)}`);
}

async function install(options: InstallOptions): Promise<InstallStep[]> {
  const runtime = options.runtime!;
  const hookPath = options.hookPath ?? DEFAULT_HOOK_PATH;
  const hookConfigPath = options.hookConfigPath ?? DEFAULT_HOOK_CONFIG;
  const compileCache = options.compileCache ?? DEFAULT_COMPILE_CACHE;
  const force = options.force === true;

  // 1. The configuration: the existing one with the values given over it, never weaker unless forced.
  const existing = await readExistingConfig(hookConfigPath);
  if (existing.invalid !== undefined && !force) {
    throw new BulwarkError('ERR_STATE', `install-hook: ${hookConfigPath} is there and is not a valid hook configuration (${existing.invalid}); nothing was changed (fix it, or pass --force to replace it)`);
  }
  const plan = planHookConfig(existing.config, options.hookConfig ?? {});
  if (plan.weakenings.length > 0 && !force) {
    throw new BulwarkError('ERR_STATE', `install-hook: this would weaken ${hookConfigPath}: ${plan.weakenings.join('; ')}; nothing was changed (pass --force to weaken it)`);
  }
  if (runtime === 'kata-guest' && plan.config.timeoutMs > KATA_GUEST_MAX_TIMEOUT_MS) {
    throw usage(`--timeout-ms ${plan.config.timeoutMs} is too long for a guest hook: the kata-agent kills it after 10 s (at most ${KATA_GUEST_MAX_TIMEOUT_MS})`);
  }

  // 2. The interpreter: one named with --node is checked; otherwise the Node running this is copied beside the hook.
  const nodeCopy = options.nodePath === undefined ? nodeCopyPath(hookPath) : undefined;
  const nodeSource = options.nodeSource ?? process.execPath;
  if (options.nodePath !== undefined) await checkInterpreter(options.nodePath);
  else checkNodeVersion(nodeSource);
  const interpreter = options.nodePath ?? nodeCopy!;

  // 3. The hook executable: the bundle with a shebang naming that Node, so the runtime's PATH cannot pick another.
  const source = options.hookSource ?? defaultHookSource();
  let bundle: string;
  try {
    bundle = await readFile(source, 'utf8');
  } catch (error) {
    throw toSystemError('read hook bundle (run the build first, or pass --hook-source)', error, source);
  }
  const body = bundle.startsWith('#!') ? bundle.slice(bundle.indexOf('\n') + 1) : bundle;
  const hookText = `${shebangFor(interpreter)}\n${body}`;

  // 4. The runtime's entries, each naming its stage (the hook never infers it from the state's status), and a fail-closed install its mode.
  const env = compileCache === '' ? undefined : [`NODE_COMPILE_CACHE=${compileCache}`];
  const args = (stage: string) => [HOOK_ARGV0, ...hookArguments(hookConfigPath, plan.config.failMode, stage)];
  const timeout = runtimeTimeoutSeconds(plan.config.timeoutMs);
  const target = runtimeTarget(options);
  if (target.kind === 'spec') {
    await checkSpecFile(
      target.path,
      runtime === 'runc'
        ? `bundle ${options.bundle!} has no config.json`
        : `base spec ${target.path} does not exist: create it with 'ctr oci spec > ${target.path}', point containerd's base_runtime_spec at it, then run this again`,
    );
  }
  const recordPath = installRecordPath(hookPath);
  let record: InstallRecord | undefined;
  try {
    record = await readInstallRecord(recordPath);
  } catch (error) {
    if (!force) throw addHint(error, `; nothing was changed (move it away, or pass --force to start a new one)`);
  }

  // Everything checked: now the changes, each undone if a later one fails.
  return withJournal(async (journal) => {
    const steps: InstallStep[] = [];
    if (nodeCopy !== undefined) {
      await journal.ensureDirectory(dirname(nodeCopy));
      steps.push({ action: await journal.copyFile(nodeSource, nodeCopy, 0o755), path: nodeCopy, detail: `the hook's Node, copied from ${nodeSource}` });
      const copied = inspectNode(nodeCopy);
      if (copied.problem !== undefined) throw new Error(`check the hook's Node: ${nodeCopy} ${copied.problem} (pass --node to name a Node 24 for the hook)`);
    }

    await journal.ensureDirectory(dirname(hookPath));
    steps.push({ action: await journal.writeFile(hookPath, hookText, 0o755), path: hookPath });
    try {
      await access(hookPath, constants.X_OK);
    } catch (error) {
      throw toSystemError('check hook', error, hookPath);
    }

    await journal.ensureDirectory(dirname(hookConfigPath));
    if (existing.config !== undefined && plan.changes.length === 0) {
      steps.push({ action: 'unchanged', path: hookConfigPath });
    } else {
      const action = await journal.writeFile(hookConfigPath, plan.text, 0o644);
      parseHookConfig(await readFile(hookConfigPath, 'utf8'), hookConfigPath);
      if (existing.invalid !== undefined) steps.push({ action: 'updated', path: hookConfigPath, detail: 'replaced a configuration that was not valid (--force)' });
      else steps.push({ action, path: hookConfigPath, ...(plan.changes.length === 0 ? {} : { changes: formatChanges(plan.changes) }) });
    }
    // The directories the hook writes to at run time, made now so that an uninstall knows they are Bulwark's.
    if (plan.config.log !== '') await journal.ensureDirectory(dirname(plan.config.log), 0o700);
    if (compileCache !== '') await journal.ensureDirectory(compileCache, 0o700);

    const entries: RecordedEntry[] = [];
    switch (runtime) {
      case 'podman':
      case 'crio': {
        if (target.kind !== 'files') break;
        await journal.ensureDirectory(dirname(target.paths[0]!));
        for (const [index, stage] of HOOK_STAGES_INSTALLED.entries()) {
          const file = target.paths[index]!;
          const text = renderHookFile({ path: hookPath, args: args(stage), ...(env === undefined ? {} : { env }), timeout, stages: [stage], when: { always: true } });
          steps.push({ action: await journal.writeFile(file, text, 0o644), path: file });
          parseHookFile(await readFile(file, 'utf8'), file);
          entries.push({ runtime, path: file });
        }
        // The one file for both stages that earlier installs wrote: its createRuntime read as startContainer under crun.
        if (target.legacy !== undefined && (await exists(target.legacy)) && (await isBulwarkFile(runtime, target.legacy, hookPath))) {
          steps.push({ action: await journal.remove(target.legacy), path: target.legacy, detail: 'replaced by one file per stage' });
        }
        break;
      }
      case 'containerd':
      case 'runc': {
        if (target.kind !== 'spec') break;
        const hooks = HOOK_STAGES_INSTALLED.map((stage) => ({ stage, hook: { path: hookPath, args: args(stage), ...(env === undefined ? {} : { env }), timeout } }));
        // Every Bulwark entry is replaced, whatever path an earlier install gave it: one Bulwark hook per stage.
        const action = await journal.edit(target.path, () => updateSpecFileHooks(target.path, hooks, { replace: isBulwarkHook(hookPath) }));
        parseConfig(await readFile(target.path, 'utf8'), target.path);
        steps.push({ action, path: target.path });
        entries.push({ runtime, path: target.path });
        break;
      }
      case 'kata-guest': {
        if (target.kind !== 'files') break;
        // One script per stage: a regular file (the kata-agent skips symbolic links), executable, read back.
        for (const [index, stage] of KATA_GUEST_STAGES.entries()) {
          const file = target.paths[index]!;
          const text = renderKataGuestHook({ hookPath, hookConfigPath, stage, compileCache, failMode: plan.config.failMode });
          await journal.ensureDirectory(dirname(file));
          steps.push({ action: await journal.writeFile(file, text, 0o755), path: file });
          await checkKataGuestHook(file, text);
          entries.push({ runtime, path: file });
        }
        break;
      }
    }

    const next = mergeRecord(record ?? emptyRecord(hookPath), {
      hooks: [hookPath],
      ...(nodeCopy === undefined ? {} : { node: nodeCopy }),
      configs: [hookConfigPath],
      logs: plan.config.log === '' ? [] : [plan.config.log],
      compileCaches: compileCache === '' ? [] : [compileCache],
      entries,
      directories: journal.createdDirectories,
    });
    steps.push({ action: await journal.writeFile(recordPath, renderInstallRecord(next), 0o644), path: recordPath, detail: 'what --uninstall --all removes' });
    return steps;
  });
}

function addHint<E>(error: E, hint: string): E {
  if (error instanceof Error) error.message += hint;
  return error;
}

/** What the kata-agent takes: a regular file, not a symbolic link, executable; and it holds what was written. */
async function checkKataGuestHook(file: string, text: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(file);
  } catch (error) {
    throw toSystemError('check guest hook', error, file);
  }
  if (!stats.isFile() || (stats.mode & 0o111) === 0) throw new Error(`check guest hook: ${file} is not a regular executable file`);
  if ((await readFile(file, 'utf8')) !== text) throw new Error(`check guest hook: ${file} does not hold what was written`);
  try {
    await access(file, constants.X_OK);
  } catch (error) {
    throw toSystemError('check guest hook', error, file);
  }
}

/** Removes a file written whole for a runtime, if it is there and Bulwark's. */
async function removeRuntimeFile(journal: InstallJournal, runtime: Runtime, path: string, hookPath: string): Promise<InstallStep> {
  if (!(await exists(path))) return { action: 'absent', path };
  if (!(await isBulwarkFile(runtime, path, hookPath))) return { action: 'kept', path, detail: "not Bulwark's" };
  return { action: await journal.remove(path), path };
}

/** Takes Bulwark's hooks out of a spec file, keeping every other byte. */
async function removeSpecHooks(journal: InstallJournal, path: string, hookPath: string): Promise<InstallStep> {
  if (!(await exists(path))) return { action: 'absent', path };
  const action = await journal.edit(path, () => updateSpecFileHooks(path, [], { replace: isBulwarkHook(hookPath) }));
  return { action, path, ...(action === 'unchanged' ? { detail: 'no Bulwark hook in it' } : {}) };
}

async function removeEntry(journal: InstallJournal, entry: RecordedEntry, hookPath: string): Promise<InstallStep> {
  return entry.runtime === 'runc' || entry.runtime === 'containerd'
    ? removeSpecHooks(journal, entry.path, hookPath)
    : removeRuntimeFile(journal, entry.runtime, entry.path, hookPath);
}

/** `--uninstall --runtime R`: the runtime's entries only; the hook and its configuration stay for other runtimes. */
async function uninstall(options: InstallOptions): Promise<InstallStep[]> {
  const runtime = options.runtime!;
  const hookPath = options.hookPath ?? DEFAULT_HOOK_PATH;
  const target = runtimeTarget(options);
  return withJournal(async (journal) => {
    if (target.kind === 'spec') return [await removeSpecHooks(journal, target.path, hookPath)];
    const steps: InstallStep[] = [];
    for (const path of target.paths) steps.push(await removeRuntimeFile(journal, runtime, path, hookPath));
    if (target.legacy !== undefined && (await exists(target.legacy))) steps.push(await removeRuntimeFile(journal, runtime, target.legacy, hookPath));
    return steps;
  });
}

/** The built hook bundle defines BULWARK_HOOK_PROGRAM in its first lines (apps/hook/tsup.config.ts). */
async function carriesHookMarker(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString('latin1').includes('BULWARK_HOOK_PROGRAM');
  } finally {
    await handle.close();
  }
}

/** A V8 code cache file the hook's launcher writes (launcher.ts), or its temporary file. */
const CODE_CACHE_FILE = /^bulwark-hook-.+\.v8cache(\.\d+\.tmp)?$/u;

/**
 * `--uninstall --all`: everything the install record lists (the runtime
 * entries, the hook, its Node copy, its configurations, their logs, the
 * compile caches, the record itself), then the directories the installer
 * created, when they are empty. A file is removed only where Bulwark put it;
 * a shared file (a spec, a hooks directory) loses only Bulwark's entries; a
 * directory Bulwark did not create is never removed.
 */
async function uninstallAll(options: InstallOptions): Promise<InstallStep[]> {
  const hookPath = options.hookPath ?? DEFAULT_HOOK_PATH;
  const recordPath = installRecordPath(hookPath);
  const record = await readInstallRecord(recordPath).catch((error: unknown) => {
    throw addHint(error, '; nothing was removed (remove the files it would list by hand, or move it away to remove the defaults)');
  });
  // The paths given are removed too; without a record (an install older than it), the defaults are.
  const givenConfig = options.hookConfigPath ?? (record === undefined ? DEFAULT_HOOK_CONFIG : undefined);
  const givenCache = options.compileCache ?? (record === undefined ? DEFAULT_COMPILE_CACHE : undefined);
  const configs = [...(record?.configs ?? []), ...(givenConfig === undefined ? [] : [givenConfig])];
  const caches = [...(record?.compileCaches ?? []), ...(givenCache === undefined || givenCache === '' ? [] : [givenCache])];
  const logs = [...(record?.logs ?? [])];
  const createdDirectories = new Set(record?.directories ?? []);

  return withJournal(async (journal) => {
    const steps: InstallStep[] = [];
    // Each path once, whichever list names it.
    const done = new Set<string>();
    const first = (path: string): boolean => {
      if (done.has(path)) return false;
      done.add(path);
      return true;
    };

    for (const entry of record?.entries ?? []) {
      if (first(entry.path)) steps.push(await removeEntry(journal, entry, hookPath));
    }
    for (const path of [...(record?.hooks ?? []), hookPath]) {
      if (!first(path)) continue;
      // A hook the record lists is Bulwark's; one it does not list must carry the hook bundle's marker.
      if (!(record?.hooks.includes(path) ?? false) && (await exists(path)) && !(await carriesHookMarker(path))) steps.push({ action: 'kept', path, detail: "not Bulwark's hook" });
      else steps.push({ action: await journal.remove(path), path });
    }
    for (const path of [record?.node, nodeCopyPath(hookPath)]) {
      if (path !== undefined && first(path)) steps.push({ action: await journal.remove(path), path });
    }
    for (const path of configs) {
      if (!first(path)) continue;
      const found = await readExistingConfig(path);
      if (found.config === undefined && found.invalid !== undefined && !(record?.configs.includes(path) ?? false)) {
        steps.push({ action: 'kept', path, detail: 'not a hook configuration' });
        continue;
      }
      if (found.config !== undefined && found.config.log !== '' && !logs.includes(found.config.log)) logs.push(found.config.log);
      steps.push({ action: await journal.remove(path), path });
    }
    if (first(recordPath)) steps.push({ action: await journal.remove(recordPath), path: recordPath });

    // What cannot be put back comes last, once everything above has gone through: the logs and caches.
    for (const path of logs) {
      if (!first(path)) continue;
      try {
        await rm(path);
        steps.push({ action: 'removed', path });
      } catch (error) {
        if (errnoOf(error) !== 'ENOENT') throw toSystemError('remove', error, path);
        steps.push({ action: 'absent', path });
      }
    }
    for (const path of caches) {
      if (first(path)) steps.push(...(await removeCompileCache(path, createdDirectories.has(path))));
    }
    // Deepest first, and only those the installer created; one with anything left in it stays.
    const directories = [...createdDirectories].sort((left, right) => right.split('/').length - left.split('/').length || left.localeCompare(right));
    for (const path of directories) {
      if (!first(path)) continue;
      try {
        await rmdir(path);
        steps.push({ action: 'removed', path });
      } catch (error) {
        const errno = errnoOf(error);
        if (errno === 'ENOENT') continue;
        if (errno === 'ENOTEMPTY' || errno === 'EEXIST') steps.push({ action: 'kept', path, detail: 'not empty' });
        else throw toSystemError('remove directory', error, path);
      }
    }
    return steps;
  });
}

/**
 * A compile cache the installer created is the hook's alone: it goes whole.
 * In one it did not create, only the hook's own code cache files go.
 */
async function removeCompileCache(path: string, created: boolean): Promise<InstallStep[]> {
  if (!(await exists(path))) return [{ action: 'absent', path }];
  if (created) {
    try {
      await rm(path, { recursive: true });
    } catch (error) {
      throw toSystemError('remove compile cache', error, path);
    }
    return [{ action: 'removed', path }];
  }
  let names: string[];
  try {
    names = await readdir(path);
  } catch (error) {
    throw toSystemError('read compile cache', error, path);
  }
  const steps: InstallStep[] = [];
  for (const name of names.filter((entry) => CODE_CACHE_FILE.test(entry)).sort()) {
    await rm(join(path, name), { force: true });
    steps.push({ action: 'removed', path: join(path, name) });
  }
  steps.push({ action: 'kept', path, detail: 'a directory Bulwark did not create' });
  return steps;
}
