/**
 * The enforcer's pins under bpffs, as Enforcer.pin() lays them out in a
 * directory of their own: maps as `map-<name>`, the object's .rodata (its
 * layout version) as `map-rodata`, links as `link-<program>`. Removing the
 * pins is how an enforcer leaves the kernel for good: a pinned link keeps
 * its program attached, and once the pin is gone and no process holds the
 * link, the kernel detaches the program; each map goes with its last
 * reference. listEnforcerPins() only reads; removeEnforcerPins() unlinks
 * what it lists and nothing else. Neither loads libbpf, so they work on
 * the pins of an enforcer of any layout, on a partial set of pins, and where
 * this build's object could not be loaded.
 */
import { lstatSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ValidationError, errnoOf, toSystemError } from '@bulwark/errors';
import { StateError } from './errors.js';
import { BPF_FS_MAGIC, systemFileAccess, type ProbeFileAccess } from './probes.js';

/**
 * The maps user space reads or writes, which pin() pins as `map-<name>`
 * and openPinnedEnforcer() opens again. The programs' own state (the
 * decision cache, each task's source, the scratch buffers) stays reachable
 * through the programs alone.
 */
export const ENFORCER_MAP_NAMES = ['scopes', 'rules', 'generations', 'decisions', 'throttle', 'config', 'protected', 'events', 'identities'] as const;
export type EnforcerMapName = (typeof ENFORCER_MAP_NAMES)[number];

/**
 * The pin of the object's .rodata, which holds its layout_version: what a
 * takeover checks first. pin() makes it last, and unpin() and
 * removeEnforcerPins() remove it first, so where it is, every other pin is
 * too.
 */
export const LAYOUT_PIN = 'map-rodata';
export const MAP_PIN_PREFIX = 'map-';
export const LINK_PIN_PREFIX = 'link-';

export interface EnforcerPinsOptions {
  /** How the file system under the directory is told (statfs); default the system's. */
  readonly files?: Pick<ProbeFileAccess, 'fileSystemType'>;
}

/** What an enforcer's pin directory holds: data, read from the directory and nothing else. */
export interface EnforcerPins {
  /** The directory, resolved. */
  readonly directory: string;
  /** False when there is no such directory (nothing pinned there). */
  readonly exists: boolean;
  /** The pins' names, in the order they are removed: `map-rodata` first, then the maps, then the links. */
  readonly pins: readonly string[];
  /** Anything else in the directory: never removed; while it is there, the directory stays. */
  readonly others: readonly string[];
}

/** True for a name pin() gives: `map-<name>` or `link-<program>`, of any layout. */
function isPinName(name: string): boolean {
  return (name.startsWith(MAP_PIN_PREFIX) && name.length > MAP_PIN_PREFIX.length) || (name.startsWith(LINK_PIN_PREFIX) && name.length > LINK_PIN_PREFIX.length);
}

/** Removal order: the layout pin, the maps (this layout's in its order, then any other), the links. */
function pinRank(name: string): [number, number, string] {
  if (name === LAYOUT_PIN) return [0, 0, name];
  if (name.startsWith(MAP_PIN_PREFIX)) {
    const index = (ENFORCER_MAP_NAMES as readonly string[]).indexOf(name.slice(MAP_PIN_PREFIX.length));
    return [1, index < 0 ? ENFORCER_MAP_NAMES.length : index, name];
  }
  return [2, 0, name];
}

function comparePins(left: string, right: string): number {
  const [a, b] = [pinRank(left), pinRank(right)];
  return a[0] - b[0] || a[1] - b[1] || a[2].localeCompare(b[2]);
}

/**
 * Lists the enforcer's pins in `directory` (Enforcer.pin()'s layout):
 * regular files named `map-*` or `link-*`, whatever the layout that made
 * them. Reads only. Throws StateError, before anything could be removed,
 * when the directory is not on a bpf file system (its files are not pins),
 * when it is the root of one (the enforcer pins in a directory of its own;
 * another tool's pins would be there), or when it is not a directory.
 */
export function listEnforcerPins(directory: string, options: EnforcerPinsOptions = {}): EnforcerPins {
  const operation = 'list enforcer pins';
  const given: unknown = directory;
  if (typeof given !== 'string' || !isAbsolute(given) || given.includes('\0')) {
    throw new ValidationError(operation, [{ path: 'directory', message: `expected an absolute path, got ${String(given)}` }]);
  }
  const files = options.files ?? systemFileAccess;
  const root = resolve(directory);
  let stats;
  try {
    stats = lstatSync(root);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ENOENT' || errno === 'ENOTDIR') return { directory: root, exists: false, pins: [], others: [] };
    throw toSystemError(operation, error, root);
  }
  if (!stats.isDirectory()) throw new StateError(operation, `${root} is not a directory${stats.isSymbolicLink() ? ' (a symbolic link, not followed)' : ''}`);
  const typeOf = (path: string) => {
    try {
      return files.fileSystemType(path);
    } catch (error) {
      throw toSystemError(operation, error, path);
    }
  };
  if (typeOf(root) !== BPF_FS_MAGIC) throw new StateError(operation, `${root} is not on a bpf file system: its files are not pins`);
  if (root === '/' || typeOf(dirname(root)) !== BPF_FS_MAGIC) {
    throw new StateError(operation, `${root} is the root of a bpf file system, not a directory of the enforcer's own: other programs' pins may be there`);
  }
  let names: string[];
  try {
    names = readdirSync(root);
  } catch (error) {
    throw toSystemError(operation, error, root);
  }
  const pins: string[] = [];
  const others: string[] = [];
  for (const name of names) {
    let file = false;
    try {
      file = lstatSync(join(root, name)).isFile();
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') continue;
      throw toSystemError(operation, error, join(root, name));
    }
    (file && isPinName(name) ? pins : others).push(name);
  }
  return { directory: root, exists: true, pins: pins.sort(comparePins), others: others.sort() };
}

/** One path removeEnforcerPins() dealt with. */
export interface PinRemovalStep {
  /** absent: nothing there (a directory never made, a pin gone meanwhile); kept: left, `detail` says why. */
  readonly action: 'removed' | 'absent' | 'kept';
  readonly path: string;
  readonly detail?: string;
}

/**
 * Removes the enforcer's pins in `directory` (those listEnforcerPins()
 * lists, `map-rodata` first so that a takeover meanwhile sees partial pins
 * and refuses), then the directory when nothing else is in it. The programs
 * are detached once no process holds their links any more: at once when no
 * agent runs. Anything else in the directory is left, and the directory
 * with it. Throws listEnforcerPins()'s StateError before removing anything,
 * or the SystemError of the first pin that cannot be removed.
 */
export function removeEnforcerPins(directory: string, options: EnforcerPinsOptions = {}): PinRemovalStep[] {
  const found = listEnforcerPins(directory, options);
  if (!found.exists) return [{ action: 'absent', path: found.directory }];
  const steps: PinRemovalStep[] = [];
  for (const name of found.pins) {
    const path = join(found.directory, name);
    try {
      unlinkSync(path);
      steps.push({ action: 'removed', path });
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw toSystemError('remove enforcer pin', error, path);
      steps.push({ action: 'absent', path });
    }
  }
  if (found.others.length > 0) {
    steps.push({ action: 'kept', path: found.directory, detail: `not empty: ${found.others.join(', ')}` });
    return steps;
  }
  try {
    rmdirSync(found.directory);
    steps.push({ action: 'removed', path: found.directory });
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ENOENT') steps.push({ action: 'absent', path: found.directory });
    else if (errno === 'ENOTEMPTY' || errno === 'EEXIST') steps.push({ action: 'kept', path: found.directory, detail: 'not empty: something was pinned there meanwhile' });
    else if (errno === 'EBUSY') steps.push({ action: 'kept', path: found.directory, detail: 'a mount point' });
    else throw toSystemError('remove pin directory', error, found.directory);
  }
  return steps;
}
