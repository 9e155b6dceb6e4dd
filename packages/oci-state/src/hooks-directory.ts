/**
 * Loading hooks.d directories the way podman and CRI-O do: only `*.json`
 * files; a file in a later (higher-precedence) directory masks the file of
 * the same name in an earlier one; a file whose hook executable does not
 * exist is dropped; definitions come out sorted by their lower-cased file
 * names, compared by Unicode code point.
 */

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeErrno, describeError, errnoOf, SystemError, toSystemError, ValidationError } from '@bulwark/errors';
import { parseHookFile, type HookDefinition } from './hooks-file.js';
import { findLine, parseJsonText } from './json-lines.js';

export interface LoadedHooks {
  /** Valid definitions, in injection order. */
  hooks: HookDefinition[];
  /** One error per file that could not be read or parsed; such a file masks nothing. */
  errors: ValidationError[];
}

/**
 * Reads hooks.d directories given in increasing precedence (for podman's
 * defaults: `['/usr/share/containers/oci/hooks.d', '/etc/containers/oci/hooks.d']`).
 *
 * A missing directory is skipped. An invalid file is reported in `errors` and
 * does not mask a valid file of the same name in a lower-precedence directory;
 * so is a file whose hook executable (`hook.path`) cannot be found.
 * Throws SystemError when a directory exists but cannot be listed.
 */
export async function loadHooksDirectories(directories: readonly string[]): Promise<LoadedHooks> {
  const byName = new Map<string, HookDefinition>();
  const errors: ValidationError[] = [];

  for (const directory of directories) {
    let names: string[];
    try {
      names = await readdir(directory);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') continue;
      throw toSystemError('read hooks directory', error, directory);
    }
    for (const name of names.filter((entry) => entry.endsWith('.json')).sort(compareCodePoints)) {
      const path = join(directory, name);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        // Removed since the listing, or a dangling symlink: nothing to load, as in podman.
        if (errnoOf(error) === 'ENOENT') continue;
        const systemError = toSystemError('read hook file', error, path);
        errors.push(new ValidationError(path, [{ path: '', message: describeError(systemError) }], { cause: systemError }));
        continue;
      }
      let definition: HookDefinition;
      try {
        definition = parseHookFile(text, path);
      } catch (error) {
        // parseHookFile throws this package's own ValidationError class for bad content.
        if (!(error instanceof ValidationError)) throw error;
        errors.push(error);
        continue;
      }
      const missing = await checkHookExecutable(definition, text, path);
      if (missing !== undefined) {
        errors.push(missing);
        continue;
      }
      byName.set(name, definition);
    }
  }

  const hooks = [...byName.entries()]
    .sort(([left], [right]) => compareCodePoints(left.toLowerCase(), right.toLowerCase()) || compareCodePoints(left, right))
    .map(([, definition]) => definition);
  return { hooks, errors };
}

/**
 * The error for a definition whose hook executable cannot be found, or
 * undefined when it exists. podman and CRI-O stat `hook.path` when they load
 * a file and drop the file when that fails: a runtime that injected the hook
 * could not start it, and the container would fail to start. As there, only
 * existence is checked (following symlinks); whether the file may be run is
 * found out when the runtime runs it.
 */
async function checkHookExecutable(definition: HookDefinition, text: string, file: string): Promise<ValidationError | undefined> {
  const executable = definition.hook.path;
  try {
    await stat(executable);
    return undefined;
  } catch (error) {
    const systemError = toSystemError('stat hook path', error, executable);
    if (!(systemError instanceof SystemError)) throw error;
    // The field as the file writes it: `hook` (a string) in 0.1.0, `hook.path` in 1.0.0. Scanned again only here, for its line.
    const { value, root } = parseJsonText(text, file);
    const field = typeof (value as { hook?: unknown }).hook === 'string' ? ['hook'] : ['hook', 'path'];
    const issue = { path: field.join('.'), message: `stat ${executable}: ${describeErrno(systemError.errno)}`, line: findLine(root, field) };
    return new ValidationError(file, [issue], { cause: systemError });
  }
}

/** Orders strings by Unicode code point (plain `<` compares UTF-16 units, which differs above U+FFFF). */
export function compareCodePoints(left: string, right: string): number {
  const leftPoints = Array.from(left, (character) => character.codePointAt(0) ?? 0);
  const rightPoints = Array.from(right, (character) => character.codePointAt(0) ?? 0);
  const length = Math.min(leftPoints.length, rightPoints.length);
  for (let index = 0; index < length; index++) {
    const difference = (leftPoints[index] ?? 0) - (rightPoints[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return leftPoints.length - rightPoints.length;
}
