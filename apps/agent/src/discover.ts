import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeErrno, describeError, errnoOf } from '@bulwark/errors';
import { buildContainerReport, type ContainerReport } from '@bulwark/hook-client';
import { MAX_PODMAN_CONTAINERS_BYTES, identifyContainer, parsePodmanNames, readConfig } from '@bulwark/oci-state';
import { isProcessAlive, readProcess } from '@bulwark/procfs';

/**
 * Finds containers that are running but that the agent never heard of (it
 * was down when their hook ran). runc keeps `<root>/<id>/state.json`, crun
 * `<root>/<id>/status`; podman runs them through crun or runc under those
 * same roots and keeps names in its storage's containers.json.
 */

export interface DiscoverOptions {
  readonly runcRoots: readonly string[];
  readonly crunRoots: readonly string[];
  /** podman's containers.json, for names. */
  readonly podmanContainersFile?: string | undefined;
}

export const DEFAULT_DISCOVER_OPTIONS: DiscoverOptions = {
  runcRoots: ['/run/runc'],
  crunRoots: ['/run/crun'],
  podmanContainersFile: '/var/lib/containers/storage/overlay-containers/containers.json',
};

export interface RuntimeEntry {
  readonly runtime: 'runc' | 'crun';
  readonly id: string;
  readonly pid: number;
  readonly startTime: bigint | undefined;
  readonly bundle: string;
}

export interface DiscoverResult {
  readonly containers: ContainerReport[];
  /** One line per entry that could not be read, for the log. */
  readonly problems: string[];
}

async function listDirectory(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return [];
    throw error;
  }
}

function parseRuncState(id: string, text: string): RuntimeEntry {
  const value = JSON.parse(text) as {
    init_process_pid?: unknown;
    init_process_start?: unknown;
    config?: { labels?: unknown };
  };
  const labels = Array.isArray(value.config?.labels) ? (value.config.labels as unknown[]) : [];
  const bundleLabel = labels.find((label): label is string => typeof label === 'string' && label.startsWith('bundle='));
  if (typeof value.init_process_pid !== 'number' || bundleLabel === undefined) {
    throw new Error('state.json lacks init_process_pid or a bundle label');
  }
  return {
    runtime: 'runc',
    id,
    pid: value.init_process_pid,
    startTime: typeof value.init_process_start === 'number' ? BigInt(value.init_process_start) : undefined,
    bundle: bundleLabel.slice('bundle='.length),
  };
}

function parseCrunStatus(id: string, text: string): RuntimeEntry {
  const value = JSON.parse(text) as { pid?: unknown; 'process-start-time'?: unknown; bundle?: unknown };
  if (typeof value.pid !== 'number' || typeof value.bundle !== 'string') {
    throw new Error('status lacks pid or bundle');
  }
  const start = value['process-start-time'];
  return {
    runtime: 'crun',
    id,
    pid: value.pid,
    startTime: typeof start === 'number' ? BigInt(start) : undefined,
    bundle: value.bundle,
  };
}

/** The runtime entries under the given roots, live or not. */
export async function listRuntimeEntries(options: DiscoverOptions): Promise<{ entries: RuntimeEntry[]; problems: string[] }> {
  const entries: RuntimeEntry[] = [];
  const problems: string[] = [];
  const sources = [
    ...options.runcRoots.map((root) => ({ runtime: 'runc', root, file: 'state.json', parse: parseRuncState })),
    ...options.crunRoots.map((root) => ({ runtime: 'crun', root, file: 'status', parse: parseCrunStatus })),
  ];
  for (const source of sources) {
    let ids: string[];
    try {
      ids = await listDirectory(source.root);
    } catch (error) {
      // A root that cannot be listed is that root's problem: the scan goes on with the others.
      problems.push(`list ${source.runtime} root ${source.root}: ${describeScanError(error)}`);
      continue;
    }
    for (const id of ids) {
      const path = join(source.root, id, source.file);
      try {
        entries.push(source.parse(id, await readFile(path, 'utf8')));
      } catch (error) {
        const errno = errnoOf(error);
        if (errno === 'ENOENT' || errno === 'ENOTDIR') continue; // not a container directory, or it just went away
        problems.push(`read ${path}: ${describeScanError(error)}`);
      }
    }
  }
  return { entries, problems };
}

/** A scan problem in one line; a permission failure says what would fix it. */
function describeScanError(error: unknown): string {
  const errno = errnoOf(error);
  const message = errno === undefined ? describeError(error) : describeErrno(errno);
  return (errno === 'EACCES' || errno === 'EPERM') && process.geteuid?.() !== 0 ? `${message}; run the agent as root` : message;
}

/** podman's names by container id, cached by the file's modification time. */
export class PodmanNames {
  readonly #path: string | undefined;
  #cache: { mtimeMs: number; names: Map<string, string> } | undefined;

  constructor(path: string | undefined) {
    this.#path = path;
  }

  async lookup(id: string): Promise<string | undefined> {
    if (this.#path === undefined) return undefined;
    try {
      const info = await stat(this.#path);
      if (this.#cache?.mtimeMs !== info.mtimeMs) {
        if (info.size > MAX_PODMAN_CONTAINERS_BYTES) return undefined;
        this.#cache = { mtimeMs: info.mtimeMs, names: parsePodmanNames(await readFile(this.#path, 'utf8')) };
      }
      return this.#cache.names.get(id);
    } catch {
      return undefined;
    }
  }
}

/** Reports for every live container under the runtime roots. */
export async function discoverContainers(options: DiscoverOptions, podmanNames: PodmanNames): Promise<DiscoverResult> {
  const { entries, problems } = await listRuntimeEntries(options);
  const containers: ContainerReport[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      try {
        if (entry.startTime !== undefined && !(await isProcessAlive(entry.pid, entry.startTime))) return;
        const [config, snapshot] = await Promise.all([readConfig(entry.bundle), readProcess(entry.pid)]);
        const annotations = { ...config.annotations };
        const identified = identifyContainer(annotations);
        // No manager wrote its annotations: the runtime whose root it was found under names it.
        const names = identified.runtime === 'unknown' ? { ...identified, runtime: entry.runtime } : identified;
        const podmanName = names.runtime === 'podman' ? await podmanNames.lookup(entry.id) : undefined;
        containers.push(
          buildContainerReport({
            state: { id: entry.id, status: 'running', bundle: entry.bundle, pid: entry.pid },
            stage: 'poststart',
            config,
            names: podmanName === undefined ? names : { ...names, name: podmanName },
            annotations,
            snapshot,
          }),
        );
      } catch (error) {
        if (errnoOf(error) === 'ENOENT' || (error as { code?: unknown }).code === 'ERR_PROCESS_GONE') return;
        problems.push(`inspect ${entry.runtime} container ${entry.id}: ${describeScanError(error)}`);
      }
    }),
  );
  containers.sort((left, right) => left.id.localeCompare(right.id));
  return { containers, problems };
}
