import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { describeError, errnoOf, toSystemError, validationErrorFromZod } from '@bulwark/errors';
import { containerReportSchema, type ContainerReport } from '@bulwark/hook-client';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '@bulwark/oci-state';

/**
 * The agent's containers, keyed by container id. Namespace inodes alone are
 * not an identity (the kernel reuses them once a namespace is freed), so a
 * record also keeps the process start time and the cgroup id; an old record
 * that shares a new one's namespace pair but differs in either is evicted.
 */

export const recordSchema = z.object({
  container: z.unknown().pipe(z.custom<ContainerReport>((value) => containerReportSchema().safeParse(value).success)),
  source: z.enum(['hook', 'scan']),
  registeredAt: z.string(),
  updatedAt: z.string(),
});
export type ContainerRecord = z.infer<typeof recordSchema>;

const fileSchema = z.object({ version: z.literal(1), containers: z.array(z.unknown()) });

export interface RegisterResult {
  readonly created: boolean;
  /** Ids of records dropped because their namespaces now belong to this container. */
  readonly evicted: readonly string[];
}

export interface RegistryOptions {
  /** Where the registry is persisted; undefined keeps it in memory only. */
  readonly statePath?: string;
  readonly now?: () => Date;
}

function namespacePair(report: ContainerReport): string | undefined {
  const { mnt, pid } = report.namespaces ?? {};
  if (mnt === undefined || pid === undefined) return undefined;
  return `${mnt.device}:${mnt.inode}/${pid.device}:${pid.inode}`;
}

/** True when two reports name the same running process (same start time and cgroup where both know them). */
function sameIncarnation(left: ContainerReport, right: ContainerReport): boolean {
  if (left.process?.startTime !== undefined && right.process?.startTime !== undefined) {
    if (left.process.startTime !== right.process.startTime || left.pid !== right.pid) return false;
  }
  if (left.cgroup?.id !== undefined && right.cgroup?.id !== undefined && left.cgroup.id !== right.cgroup.id) {
    return false;
  }
  return true;
}

export class ContainerRegistry {
  readonly #records = new Map<string, ContainerRecord>();
  readonly #statePath: string | undefined;
  /** Whether the registry file lives on tmpfs or ramfs; found at the first write. */
  #inMemory: boolean | undefined;
  readonly #now: () => Date;
  #writing: Promise<void> | undefined;
  #generation = 0;
  #persistedGeneration = 0;

  constructor(options: RegistryOptions = {}) {
    this.#statePath = options.statePath;
    this.#now = options.now ?? (() => new Date());
  }

  get size(): number {
    return this.#records.size;
  }

  get(id: string): ContainerRecord | undefined {
    return this.#records.get(id);
  }

  list(): ContainerRecord[] {
    return [...this.#records.values()].sort((left, right) => left.registeredAt.localeCompare(right.registeredAt) || left.container.id.localeCompare(right.container.id));
  }

  /** Adds or updates a container. Calling it again with the same report changes nothing but `updatedAt`. */
  register(report: ContainerReport, source: ContainerRecord['source']): RegisterResult {
    const now = this.#now().toISOString();
    const evicted: string[] = [];
    const pair = namespacePair(report);
    if (pair !== undefined) {
      for (const [id, record] of this.#records) {
        if (id === report.id) continue;
        if (namespacePair(record.container) === pair && !sameIncarnation(record.container, report)) {
          this.#records.delete(id);
          evicted.push(id);
        }
      }
    }
    const existing = this.#records.get(report.id);
    this.#records.set(report.id, {
      container: existing === undefined ? report : mergeReports(existing.container, report),
      source: existing?.source === 'hook' ? 'hook' : source,
      registeredAt: existing?.registeredAt ?? now,
      updatedAt: now,
    });
    this.#generation++;
    return { created: existing === undefined, evicted };
  }

  /** Removes a container; false when it was not known (a repeated stop is not an error). */
  unregister(id: string): boolean {
    const removed = this.#records.delete(id);
    if (removed) this.#generation++;
    return removed;
  }

  /** Keeps only the records `keep` says yes to; returns the ids dropped. */
  async prune(keep: (record: ContainerRecord) => Promise<boolean>): Promise<string[]> {
    const dropped: string[] = [];
    const verdicts = await Promise.all([...this.#records.values()].map(async (record) => [record, await keep(record)] as const));
    for (const [record, kept] of verdicts) {
      if (!kept && this.#records.delete(record.container.id)) dropped.push(record.container.id);
    }
    if (dropped.length > 0) this.#generation++;
    return dropped;
  }

  /**
   * Writes the registry to disk (temp file, fsync, rename) and resolves once
   * a write that includes every change made before the call has finished.
   * Concurrent calls share writes, so a burst of 50 creates costs a few.
   */
  async persist(): Promise<void> {
    if (this.#statePath === undefined) return;
    const wanted = this.#generation;
    while (this.#persistedGeneration < wanted) {
      if (this.#writing === undefined) {
        this.#writing = this.#writeOnce().finally(() => {
          this.#writing = undefined;
        });
      }
      await this.#writing;
    }
  }

  async #writeOnce(): Promise<void> {
    const generation = this.#generation;
    const text = `${JSON.stringify({ version: 1, containers: this.list() }, null, 1)}\n`;
    this.#inMemory ??= await isMemoryFileSystem(dirname(this.#statePath!));
    // On tmpfs (/run, the default) no step waits on a disk: writing in one
    // turn of the event loop saves nine thread-pool round trips per create,
    // which is most of the hook's wait. On a disk, fsync may take
    // milliseconds, so it stays off the event loop.
    if (this.#inMemory) writeFileAtomicSync(this.#statePath!, text, 0o600);
    else await writeFileAtomic(this.#statePath!, text, 0o600);
    this.#persistedGeneration = Math.max(this.#persistedGeneration, generation);
  }

  /**
   * Loads a persisted registry. A missing file is an empty registry. A file
   * that is not a registry at all (not JSON, another version) is reported as
   * `problem` and nothing is restored; an entry that does not validate is
   * dropped on its own (one line each in `rejected`) and the rest restored.
   * Either way the file is first copied to `backup` (`<state file>.bak`,
   * 0600), since the next write replaces it.
   */
  async load(): Promise<RegistryLoadResult> {
    if (this.#statePath === undefined) return { loaded: 0 };
    const statePath = this.#statePath;
    let text: string;
    try {
      text = await readFile(statePath, 'utf8');
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return { loaded: 0 };
      throw toSystemError('load registry', error, statePath);
    }
    const keepBackup = async (): Promise<string> => {
      const backup = `${statePath}.bak`;
      try {
        await writeFileAtomic(backup, text, 0o600);
      } catch (error) {
        throw toSystemError('keep a backup of the registry', error, backup);
      }
      return backup;
    };
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return { loaded: 0, problem: `load registry ${statePath}: not valid json: ${describeError(error)}`, backup: await keepBackup() };
    }
    const file = fileSchema.safeParse(value);
    if (!file.success) {
      return { loaded: 0, problem: `load registry ${statePath}: ${validationErrorFromZod('file', file.error).message}`, backup: await keepBackup() };
    }
    const rejected: string[] = [];
    file.data.containers.forEach((entry, index) => {
      const container = (entry as { container?: unknown } | null)?.container;
      const id = (container as { id?: unknown } | null | undefined)?.id;
      const where = `load registry ${statePath}: entry ${index}${typeof id === 'string' ? ` (${id})` : ''}`;
      const report = containerReportSchema().safeParse(container);
      if (!report.success) {
        rejected.push(validationErrorFromZod(`${where} container`, report.error).message);
        return;
      }
      const record = recordSchema.safeParse(entry);
      if (!record.success) {
        rejected.push(validationErrorFromZod(where, record.error).message);
        return;
      }
      this.#records.set(record.data.container.id, record.data);
    });
    this.#generation++;
    // With entries rejected, the file differs from the registry: the next persist writes it without them.
    if (rejected.length === 0) this.#persistedGeneration = this.#generation;
    const loaded = file.data.containers.length - rejected.length;
    return rejected.length === 0 ? { loaded } : { loaded, rejected, backup: await keepBackup() };
  }
}

export interface RegistryLoadResult {
  /** Records restored. */
  readonly loaded: number;
  /** The file as a whole could not be used (nothing was restored). */
  readonly problem?: string;
  /** Entries dropped one by one, each with where it was and what was wrong with it. */
  readonly rejected?: readonly string[];
  /** Where the file was copied before it is written over, when anything in it was refused. */
  readonly backup?: string;
}

/** A later report wins field by field; what it does not know is kept from the earlier one. */
function mergeReports(earlier: ContainerReport, later: ContainerReport): ContainerReport {
  return {
    ...earlier,
    ...later,
    names: { ...earlier.names, ...later.names },
    ...(earlier.config === undefined && later.config === undefined ? {} : { config: { ...earlier.config, ...later.config } }),
  };
}

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

async function isMemoryFileSystem(directory: string): Promise<boolean> {
  try {
    const { type } = await statfs(directory);
    return type === TMPFS_MAGIC || type === RAMFS_MAGIC;
  } catch {
    // The write itself will report the directory's problem.
    return false;
  }
}
