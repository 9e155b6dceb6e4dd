/**
 * Loading hooks.d directories the way podman and CRI-O do: only `*.json`
 * files; a file in a later (higher-precedence) directory masks the file of
 * the same name in an earlier one; definitions come out sorted by their
 * lower-cased file names, compared by Unicode code point.
 */

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError, errnoOf, toSystemError, ValidationError } from '@bulwark/errors';
import { parseHookFile, type HookDefinition } from './hooks-file.js';

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
 * does not mask a valid file of the same name in a lower-precedence directory.
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
      try {
        byName.set(name, parseHookFile(text, path));
      } catch (error) {
        // parseHookFile throws this package's own ValidationError class for bad content.
        if (!(error instanceof ValidationError)) throw error;
        errors.push(error);
      }
    }
  }

  const hooks = [...byName.entries()]
    .sort(([left], [right]) => compareCodePoints(left.toLowerCase(), right.toLowerCase()) || compareCodePoints(left, right))
    .map(([, definition]) => definition);
  return { hooks, errors };
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
