import { access, chmod, constants, lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError, errnoOf, toSystemError } from '@bulwark/errors';
import { parseHookConfig, renderHookConfig, type HookConfigInput } from '@bulwark/hook-client';
import {
  parseHookFile,
  readConfig,
  renderHookFile,
  updateSpecFileHooks,
  writeBundleHooks,
  writeFileAtomic,
} from '@bulwark/oci-state';

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
export const HOOKS_FILE_NAME = 'bulwark.json';

export interface InstallOptions {
  readonly runtime: Runtime;
  readonly uninstall: boolean;
  /** Where the hook executable is installed. */
  readonly hookPath: string;
  /** The built hook bundle to install; default: the one next to this agent's build. */
  readonly hookSource?: string | undefined;
  /** The Node binary the hook runs on (the shebang of the installed hook). */
  readonly nodePath: string;
  readonly hookConfigPath: string;
  readonly hookConfig: HookConfigInput;
  readonly hooksDirectory?: string | undefined;
  readonly bundle?: string | undefined;
  readonly baseSpec?: string | undefined;
  /** OCI hook timeout in seconds, enforced by the runtime. */
  readonly timeoutSeconds: number;
  /**
   * Node's compile cache for the hook (NODE_COMPILE_CACHE in the hook's
   * environment); '' turns it off. It saves compiling the bundle at every
   * container start.
   */
  readonly compileCache: string;
}

export const DEFAULT_COMPILE_CACHE = '/var/cache/bulwark/hook';

export interface InstallStep {
  readonly action: 'wrote' | 'removed' | 'updated' | 'unchanged';
  readonly path: string;
}

function usage(message: string): ValidationError {
  return new ValidationError('install-hook', [{ path: '', message }]);
}

/** The hook bundle built beside this agent (apps/hook/dist), if there is one. */
export function defaultHookSource(): string {
  return fileURLToPath(new URL('../../hook/dist/bulwark-hook.cjs', import.meta.url));
}

async function checkExecutable(path: string, what: string): Promise<void> {
  try {
    await access(path, constants.X_OK);
  } catch (error) {
    throw toSystemError(`check ${what}`, error, path);
  }
}

/** Refuses a Node binary older than 24 (or not a Node at all); `command` and `what` name the caller in the message. */
export function checkNodeVersion(nodePath: string, command = 'install-hook', what = 'the hook'): void {
  const result = spawnSync(nodePath, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 10_000 });
  const version = (result.stdout ?? '').trim();
  const major = Number.parseInt(version.split('.')[0] ?? '', 10);
  if (result.status !== 0 || !(major >= 24)) {
    throw new ValidationError(command, [{ path: '', message: `${what} needs Node 24 or newer; ${nodePath} is ${version === '' ? 'not a working node' : `Node ${version}`} (pass --node)` }]);
  }
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
export function renderKataGuestHook(options: { hookPath: string; hookConfigPath: string; stage: string; compileCache: string }): string {
  return [
    '#!/bin/sh',
    "# Bulwark's guest hook (bulwark install-hook --runtime kata-guest). The kata-agent",
    '# runs every regular executable file of this directory with the OCI state on stdin.',
    ...(options.compileCache === '' ? [] : [`NODE_COMPILE_CACHE=${shellQuote(options.compileCache)}`, 'export NODE_COMPILE_CACHE']),
    `exec ${[options.hookPath, '--config', options.hookConfigPath, '--stage', options.stage].map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
}

/** The guest hook directory is guest_hook_path itself, not one of its stage directories. */
function kataHooksDirectory(options: InstallOptions): string {
  const directory = options.hooksDirectory ?? DEFAULT_HOOKS_DIRECTORIES['kata-guest'];
  if (!isAbsolute(directory)) throw usage(`--hooks-dir must be an absolute path, got '${directory}'`);
  if (KATA_STAGE_DIRECTORIES.includes(basename(directory))) {
    throw usage(`--hooks-dir is Kata's guest_hook_path (the directory that holds prestart/), got ${directory}; pass ${dirname(directory)}`);
  }
  return directory;
}

/**
 * Installs (or removes) the hook for a runtime: the hook executable, its
 * configuration, and the runtime's hook entry. Everything written is read
 * back and validated; a bad configuration is caught here, not at the first
 * container start.
 */
export async function installHook(options: InstallOptions): Promise<InstallStep[]> {
  for (const [name, path] of [
    ['--hook-path', options.hookPath],
    ['--hook-config', options.hookConfigPath],
  ] as const) {
    if (!isAbsolute(path)) throw usage(`${name} must be an absolute path, got '${path}'`);
  }
  if (options.uninstall) return uninstall(options);
  if (options.runtime === 'kata-guest') {
    kataHooksDirectory(options);
    const timeoutMs = options.hookConfig.timeoutMs;
    if (timeoutMs !== undefined && timeoutMs > KATA_GUEST_MAX_TIMEOUT_MS) {
      throw usage(`--timeout-ms ${timeoutMs} is too long for a guest hook: the kata-agent kills it after 10 s (at most ${KATA_GUEST_MAX_TIMEOUT_MS})`);
    }
  }

  const steps: InstallStep[] = [];
  // 1. The hook's configuration, validated before anything else is touched.
  const configText = renderHookConfig(options.hookConfig);
  // 2. The hook executable: the bundle with a shebang naming Node 24, so the
  // runtime's PATH cannot pick an older Node.
  checkNodeVersion(options.nodePath);
  const source = options.hookSource ?? defaultHookSource();
  let bundle: string;
  try {
    bundle = await readFile(source, 'utf8');
  } catch (error) {
    throw toSystemError('read hook bundle (run the build first, or pass --hook-source)', error, source);
  }
  const body = bundle.startsWith('#!') ? bundle.slice(bundle.indexOf('\n') + 1) : bundle;
  await mkdir(dirname(options.hookPath), { recursive: true, mode: 0o755 });
  await writeFileAtomic(options.hookPath, `${shebangFor(options.nodePath)}\n${body}`, 0o755);
  await chmod(options.hookPath, 0o755);
  await checkExecutable(options.hookPath, 'hook');
  steps.push({ action: 'wrote', path: options.hookPath });

  await mkdir(dirname(options.hookConfigPath), { recursive: true, mode: 0o755 });
  await writeFileAtomic(options.hookConfigPath, configText, 0o644);
  parseHookConfig(await readFile(options.hookConfigPath, 'utf8'), options.hookConfigPath);
  steps.push({ action: 'wrote', path: options.hookConfigPath });

  if (options.compileCache !== '') {
    if (!isAbsolute(options.compileCache)) throw usage(`--compile-cache must be an absolute path, got '${options.compileCache}'`);
    await mkdir(options.compileCache, { recursive: true, mode: 0o700 });
  }
  // The runtime gives a hook exactly this environment.
  const env = options.compileCache === '' ? undefined : [`NODE_COMPILE_CACHE=${options.compileCache}`];
  const args = (stage?: string) => [
    'bulwark-hook',
    '--config',
    options.hookConfigPath,
    ...(stage === undefined ? [] : ['--stage', stage]),
  ];
  switch (options.runtime) {
    case 'podman':
    case 'crio': {
      const directory = options.hooksDirectory ?? DEFAULT_HOOKS_DIRECTORIES[options.runtime];
      const file = join(directory, HOOKS_FILE_NAME);
      // One entry for both stages: the hook tells them apart by the state's status.
      const text = renderHookFile({
        path: options.hookPath,
        args: args(),
        ...(env === undefined ? {} : { env }),
        timeout: options.timeoutSeconds,
        stages: ['createRuntime', 'poststop'],
        when: { always: true },
      });
      await mkdir(directory, { recursive: true, mode: 0o755 });
      await writeFileAtomic(file, text, 0o644);
      parseHookFile(await readFile(file, 'utf8'), file);
      steps.push({ action: 'wrote', path: file });
      break;
    }
    case 'containerd':
    case 'runc': {
      const entries = (['createRuntime', 'poststop'] as const).map((stage) => ({
        stage,
        hook: { path: options.hookPath, args: args(stage), ...(env === undefined ? {} : { env }), timeout: options.timeoutSeconds },
      }));
      if (options.runtime === 'runc') {
        if (options.bundle === undefined) throw usage('--runtime runc needs --bundle DIR (the bundle whose config.json gets the hooks)');
        // replacePath: a second install updates our entries instead of adding more.
        await writeBundleHooks(options.bundle, entries, { replacePath: options.hookPath });
        await readConfig(options.bundle);
        steps.push({ action: 'updated', path: join(options.bundle, 'config.json') });
      } else {
        const spec = options.baseSpec ?? DEFAULT_BASE_SPEC;
        try {
          await access(spec);
        } catch {
          throw usage(`base spec ${spec} does not exist: create it with 'ctr oci spec > ${spec}', point containerd's base_runtime_spec at it, then run this again`);
        }
        await updateSpecFileHooks(spec, entries, { replacePath: options.hookPath });
        steps.push({ action: 'updated', path: spec });
      }
      break;
    }
    case 'kata-guest': {
      // One script per stage: a regular file (the kata-agent skips symbolic links), executable, read back.
      const directory = kataHooksDirectory(options);
      for (const stage of KATA_GUEST_STAGES) {
        const file = join(directory, stage, KATA_GUEST_HOOK_NAME);
        const text = renderKataGuestHook({ hookPath: options.hookPath, hookConfigPath: options.hookConfigPath, stage, compileCache: options.compileCache });
        await mkdir(dirname(file), { recursive: true, mode: 0o755 });
        await writeFileAtomic(file, text, 0o755);
        await checkKataGuestHook(file, text);
        steps.push({ action: 'wrote', path: file });
      }
      break;
    }
  }
  return steps;
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
  await checkExecutable(file, 'guest hook');
}

async function removeFile(path: string, steps: InstallStep[]): Promise<void> {
  try {
    await rm(path);
    steps.push({ action: 'removed', path });
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT') throw toSystemError('remove', error, path);
    steps.push({ action: 'unchanged', path });
  }
}

async function uninstall(options: InstallOptions): Promise<InstallStep[]> {
  const steps: InstallStep[] = [];
  switch (options.runtime) {
    case 'podman':
    case 'crio':
      await removeFile(join(options.hooksDirectory ?? DEFAULT_HOOKS_DIRECTORIES[options.runtime], HOOKS_FILE_NAME), steps);
      break;
    case 'kata-guest': {
      const directory = kataHooksDirectory(options);
      for (const stage of KATA_GUEST_STAGES) await removeFile(join(directory, stage, KATA_GUEST_HOOK_NAME), steps);
      break;
    }
    case 'runc':
      if (options.bundle === undefined) throw usage('--runtime runc needs --bundle DIR');
      await updateSpecFileHooks(join(options.bundle, 'config.json'), { remove: options.hookPath });
      steps.push({ action: 'updated', path: join(options.bundle, 'config.json') });
      break;
    case 'containerd': {
      const spec = options.baseSpec ?? DEFAULT_BASE_SPEC;
      await updateSpecFileHooks(spec, { remove: options.hookPath });
      steps.push({ action: 'updated', path: spec });
      break;
    }
  }
  // The executable and its configuration stay while another runtime may use them.
  return steps;
}


/**
 * The hook's first line. A shebang ends its interpreter at the first space,
 * so a Node binary whose path has whitespace (a checkout under "/tmp/ci
 * clone") is named through `env -S`, which takes a quoted path whole.
 */
export function shebangFor(nodePath: string): string {
  if (!/\s/u.test(nodePath)) return `#!${nodePath}`;
  return `#!/usr/bin/env -S "${nodePath.replace(/["\\$]/gu, (character) => `\\${character}`)}"`;
}
