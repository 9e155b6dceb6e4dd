/**
 * Podman's container names. Podman writes neither the container's name nor
 * its pod's into config.json (identity.ts), so a hook that must know the
 * name before the agent does (an allow-list entry, with the agent
 * unreachable) reads it where podman keeps it: containers/storage's
 * `containers.json`, a JSON array of `{ id, names: [name, ...], ... }`,
 * written (atomically, renamed into place) when the container is created,
 * before the runtime runs its hooks. Rootful podman's file is at
 * DEFAULT_PODMAN_CONTAINERS_FILE; rootless podman keeps its own under the
 * user's home.
 */
import { readFileSync, statSync } from 'node:fs';

export const DEFAULT_PODMAN_CONTAINERS_FILE = '/var/lib/containers/storage/overlay-containers/containers.json';

/** Files larger than this are not read (a machine with some 100,000 containers). */
export const MAX_PODMAN_CONTAINERS_BYTES = 64 * 1024 * 1024;

/** id -> first name, from containers.json's text; entries of another shape are skipped. Throws only on text that is not JSON. */
export function parsePodmanNames(text: string): Map<string, string> {
  const list = JSON.parse(text) as unknown;
  const names = new Map<string, string>();
  if (!Array.isArray(list)) return names;
  for (const item of list as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const { id, names: given } = item as { id?: unknown; names?: unknown };
    if (typeof id === 'string' && Array.isArray(given) && typeof given[0] === 'string' && given[0] !== '') names.set(id, given[0]);
  }
  return names;
}

/**
 * The name podman gave container `id`, read from `file` now; undefined when
 * the file is missing, unreadable, too large or not JSON, or does not list
 * it. Never throws: a name it cannot find is a name the caller does not
 * have.
 */
export function readPodmanContainerName(id: string, file: string = DEFAULT_PODMAN_CONTAINERS_FILE): string | undefined {
  try {
    if (statSync(file).size > MAX_PODMAN_CONTAINERS_BYTES) return undefined;
    return parsePodmanNames(readFileSync(file, 'utf8')).get(id);
  } catch {
    return undefined;
  }
}
