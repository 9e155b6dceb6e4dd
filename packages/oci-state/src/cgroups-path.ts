/**
 * Where a container's cgroup is, from `linux.cgroupsPath`, computed as runc
 * and crun do. The result is relative to the cgroup root (the cgroup2 mount,
 * or each v1 hierarchy), always starts with '/', and has no '.' or '..'.
 */

import { ValidationError } from '@bulwark/errors';

export interface CgroupsPathOptions {
  /**
   * The runtime's cgroup driver. Default: `systemd` when the value looks like
   * `slice:prefix:name` (exactly two colons, no '/'), else `cgroupfs`.
   */
  driver?: 'cgroupfs' | 'systemd';
  /** The slice an empty `slice` part means: runc uses `system.slice` (`user.slice` when rootless). */
  defaultSlice?: string;
}

const source = 'cgroupsPath';

/**
 * Resolves `linux.cgroupsPath` to a cgroup path.
 *
 * - cgroupfs: `/foo/bar` or `foo/bar` -> `/foo/bar`. Absent or empty:
 *   `/<containerId>`, runc's default with the cgroupfs driver.
 * - systemd: `slice:prefix:name` -> `<expanded slice>/<prefix>-<name>.scope`,
 *   where a slice expands by its dashes (`machine-abc.slice` ->
 *   `/machine.slice/machine-abc.slice`, `-.slice` or `-` -> the root) and an
 *   empty slice means `defaultSlice`. A name ending in `.slice` is used as
 *   the unit itself: `<expanded slice>/<name>`. Absent or empty with the
 *   systemd driver: `:runc:<containerId>`, runc's default.
 *
 * Throws ValidationError for '..' or '.' components, NUL characters, or a
 * malformed slice.
 */
export function resolveCgroupsPath(
  cgroupsPath: string | undefined,
  containerId: string,
  options: CgroupsPathOptions = {},
): string {
  const value = cgroupsPath ?? '';
  if (value.includes('\0')) fail('must not contain NUL characters');
  const driver = options.driver ?? (looksLikeSystemd(value) ? 'systemd' : 'cgroupfs');

  if (value === '') {
    checkContainerId(containerId);
    return driver === 'systemd' ? resolveSystemd(`:runc:${containerId}`, options) : `/${containerId}`;
  }
  return driver === 'systemd' ? resolveSystemd(value, options) : resolveCgroupfs(value);
}

/** Expands a systemd slice name into its cgroup path: `a-b.slice` -> `/a.slice/a-b.slice`; `-.slice` -> `/`. */
export function expandSlice(slice: string): string {
  if (slice === '-' || slice === '-.slice') return '/';
  if (!slice.endsWith('.slice') || slice.includes('/')) fail(`invalid slice name ${JSON.stringify(slice)}`);
  const components = slice.slice(0, -'.slice'.length).split('-');
  let path = '';
  let prefix = '';
  for (const component of components) {
    // Neither test--a.slice nor -test.slice nor .slice names a slice.
    if (component === '') fail(`invalid slice name ${JSON.stringify(slice)}`);
    path += `/${prefix}${component}.slice`;
    prefix += `${component}-`;
  }
  return path;
}

function looksLikeSystemd(value: string): boolean {
  return !value.includes('/') && value.split(':').length === 3;
}

function resolveSystemd(value: string, options: CgroupsPathOptions): string {
  const parts = value.split(':');
  if (parts.length !== 3) fail(`expected slice:prefix:name for the systemd driver, got ${JSON.stringify(value)}`);
  const [slice = '', prefix = '', name = ''] = parts;
  if (name === '') fail(`missing unit name in ${JSON.stringify(value)}`);
  if (name.includes('/') || prefix.includes('/')) fail(`unit name parts must not contain '/' in ${JSON.stringify(value)}`);
  if (name === '.' || name === '..') fail(`invalid unit name ${JSON.stringify(name)}`);
  const parent = expandSlice(slice === '' ? (options.defaultSlice ?? 'system.slice') : slice);
  const unit = name.endsWith('.slice') ? name : `${prefix}-${name}.scope`;
  return parent === '/' ? `/${unit}` : `${parent}/${unit}`;
}

function resolveCgroupfs(value: string): string {
  const components = value.split('/').filter((component) => component !== '');
  for (const component of components) {
    if (component === '..' || component === '.') fail(`'${component}' components are not allowed in ${JSON.stringify(value)}`);
  }
  return `/${components.join('/')}`;
}

function checkContainerId(containerId: string): void {
  if (containerId === '' || containerId.includes('/') || containerId === '.' || containerId === '..') {
    throw new ValidationError('container id', [
      { path: '', message: `resolve cgroups path: invalid container id ${JSON.stringify(containerId)}` },
    ]);
  }
}

function fail(message: string): never {
  throw new ValidationError(source, [{ path: '', message: `resolve cgroups path: ${message}` }]);
}
