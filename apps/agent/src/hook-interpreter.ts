/**
 * The Node binary the installed hook runs on. The runtime execs the hook
 * through its shebang at every container start, fail-open or not: an
 * interpreter that is gone (a deleted checkout, an upgraded Node) stops
 * every container on the node. So the installer checks the interpreter it
 * names, and `probe` (and a later `doctor`) can check it again.
 */
import { spawnSync } from 'node:child_process';
import { access, constants, open, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { ValidationError, describeErrno, errnoOf } from '@bulwark/errors';

/** The oldest Node major the hook runs on (`engines` in every package.json). */
export const MINIMUM_NODE_MAJOR = 24;

/**
 * The hook's first line. A shebang ends its interpreter at the first space,
 * so a Node binary whose path has whitespace (a checkout under "/tmp/ci
 * clone") is named through `env -S`, which takes a quoted path whole.
 */
export function shebangFor(nodePath: string): string {
  if (!/\s/u.test(nodePath)) return `#!${nodePath}`;
  return `#!/usr/bin/env -S "${nodePath.replace(/["\\$]/gu, (character) => `\\${character}`)}"`;
}

/**
 * The interpreter a shebang line names: the inverse of shebangFor, and the
 * plain forms (`#!/usr/bin/node`, `#!/usr/bin/env node`). `viaPath` is set
 * when the name is looked up on PATH (`env node`): the runtime's PATH, not
 * ours, decides which Node that is.
 */
export function parseShebang(line: string): { interpreter: string; viaPath: boolean } | undefined {
  if (!line.startsWith('#!')) return undefined;
  const rest = line.slice(2).trim();
  const quoted = /^\S*\/env\s+-S\s+"((?:[^"\\]|\\.)*)"/u.exec(rest);
  if (quoted !== null) return { interpreter: quoted[1]!.replace(/\\(.)/gu, '$1'), viaPath: false };
  const words = rest.split(/\s+/u).filter((word) => word !== '');
  const first = words[0];
  if (first === undefined) return undefined;
  if (/\/env$/u.test(first)) {
    const name = words.slice(1).find((word) => !word.startsWith('-'));
    return name === undefined ? undefined : { interpreter: name, viaPath: !name.includes('/') };
  }
  return { interpreter: first, viaPath: false };
}

/** What running a binary as Node says: its version, or why it is not a working Node 24. */
export function inspectNode(nodePath: string): { version?: string; problem?: string } {
  const result = spawnSync(nodePath, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 10_000 });
  if (result.error !== undefined) {
    const errno = errnoOf(result.error);
    return { problem: `does not run (${errno === undefined ? result.error.message : describeErrno(errno)})` };
  }
  const version = (result.stdout ?? '').trim();
  const major = Number.parseInt(version.split('.')[0] ?? '', 10);
  if (result.status !== 0 || !/^\d+\.\d+\.\d+$/u.test(version)) {
    const said = (result.stderr ?? '').trim().split('\n')[0] ?? '';
    return { problem: `is not a working node (exit ${result.status ?? result.signal}${said === '' ? '' : `: ${said}`})` };
  }
  if (major < MINIMUM_NODE_MAJOR) return { version, problem: `is Node ${version}; the hook needs Node ${MINIMUM_NODE_MAJOR} or newer` };
  return { version };
}

/** Refuses a Node binary older than 24 (or not a Node at all); `command` and `what` name the caller in the message. */
export function checkNodeVersion(nodePath: string, command = 'install-hook', what = 'the hook'): void {
  const { version, problem } = inspectNode(nodePath);
  if (problem !== undefined) {
    throw new ValidationError(command, [{ path: '', message: `${what} needs Node ${MINIMUM_NODE_MAJOR} or newer; ${nodePath} is ${version === undefined ? 'not a working node' : `Node ${version}`} (pass --node)` }]);
  }
}

/**
 * Checks an interpreter named with `--node`: an absolute path to an
 * executable file that runs as Node 24 or newer. Throws a ValidationError
 * that names the flag, the path and what is wrong.
 */
export async function checkInterpreter(nodePath: string, flag = '--node'): Promise<string> {
  const refuse = (message: string) => new ValidationError('install-hook', [{ path: '', message: `${flag} ${nodePath}: ${message}` }]);
  if (!isAbsolute(nodePath)) throw new ValidationError('install-hook', [{ path: '', message: `${flag} must be an absolute path (the hook's shebang names it), got '${nodePath}'` }]);
  const problem = await fileProblem(nodePath);
  if (problem !== undefined) throw refuse(problem.message);
  const inspected = inspectNode(nodePath);
  if (inspected.problem !== undefined) throw refuse(inspected.problem);
  return inspected.version!;
}

/** Why a path is not an executable regular file, or undefined when it is one. */
async function fileProblem(path: string): Promise<{ message: string; permission: boolean } | undefined> {
  let stats;
  try {
    stats = await stat(path);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ENOENT' || errno === 'ENOTDIR') return { message: 'does not exist', permission: false };
    return { message: `cannot be read (${errno === undefined ? String(error) : describeErrno(errno)})`, permission: errno === 'EACCES' || errno === 'EPERM' };
  }
  if (!stats.isFile()) return { message: 'is not a regular file', permission: false };
  try {
    await access(path, constants.X_OK);
  } catch {
    return { message: 'is not executable', permission: false };
  }
  return undefined;
}

export interface HookInterpreterCheck {
  /**
   * ok: the interpreter runs as Node 24 or newer. not-installed: there is
   * no hook at that path. broken: the hook cannot run (no shebang, its
   * interpreter is gone, not executable, too old). inconclusive: the check
   * itself could not read what it needs (no permission).
   */
  readonly status: 'ok' | 'not-installed' | 'broken' | 'inconclusive';
  /** The interpreter the hook's shebang names, when it names one. */
  readonly interpreter?: string;
  readonly version?: string;
  /** One line: the interpreter and its version, or what is wrong and the fix. */
  readonly detail: string;
}

/** Reads the first line of a file, at most 4 KiB. */
async function readFirstLine(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, bytesRead).toString('utf8');
    const end = text.indexOf('\n');
    return end === -1 ? text : text.slice(0, end);
  } finally {
    await handle.close();
  }
}

/**
 * Checks that the hook installed at `hookPath` can start: it reads the
 * shebang and checks that the interpreter it names exists, is executable
 * and runs as Node 24 or newer. Never throws.
 */
export async function checkHookInterpreter(hookPath: string): Promise<HookInterpreterCheck> {
  const reinstall = "run 'bulwark install-hook' again";
  let line: string;
  try {
    line = await readFirstLine(hookPath);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ENOENT') return { status: 'not-installed', detail: `no hook at ${hookPath} (bulwark install-hook installs it)` };
    return { status: 'inconclusive', detail: `read ${hookPath}: ${errno === undefined ? String(error) : describeErrno(errno)}` };
  }
  const shebang = parseShebang(line);
  if (shebang === undefined) return { status: 'broken', detail: `${hookPath} has no shebang naming its interpreter; ${reinstall}` };
  let interpreter = shebang.interpreter;
  if (shebang.viaPath) {
    const found = (process.env.PATH ?? '').split(delimiter).filter(isAbsolute).map((directory) => join(directory, interpreter));
    let resolved: string | undefined;
    for (const candidate of found) {
      if ((await fileProblem(candidate)) === undefined) {
        resolved = candidate;
        break;
      }
    }
    if (resolved === undefined) return { status: 'broken', interpreter, detail: `${hookPath} runs '${interpreter}' from PATH, and there is none on this PATH; ${reinstall}` };
    interpreter = resolved;
  }
  const problem = await fileProblem(interpreter);
  if (problem !== undefined) {
    if (problem.permission) return { status: 'inconclusive', interpreter, detail: `the hook's interpreter ${interpreter} ${problem.message}` };
    return { status: 'broken', interpreter, detail: `the hook's interpreter ${interpreter} ${problem.message}: every container start fails; ${reinstall}` };
  }
  const inspected = inspectNode(interpreter);
  if (inspected.problem !== undefined) {
    return { status: 'broken', interpreter, ...(inspected.version === undefined ? {} : { version: inspected.version }), detail: `the hook's interpreter ${interpreter} ${inspected.problem}; ${reinstall}` };
  }
  const via = shebang.viaPath ? ` (from PATH: the runtime's PATH may find another)` : '';
  return { status: 'ok', interpreter, version: inspected.version!, detail: `${interpreter}, Node ${inspected.version!}${via}` };
}
