/**
 * Policies applied over the control socket (`bulwark policy apply`), kept in
 * the agent's own state: one JSON file per policy in a directory beside the
 * state file (0700, the files 0600), each written whole (a temporary file,
 * fsync, rename) and never through a symlink. Read back at start.
 */
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import * as z from 'zod';
import { BulwarkError, errnoOf, toSystemError } from '@bulwark/errors';

/** One applied policy as stored: the YAML document it came from, and where that was. */
export interface AppliedRecord {
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly name: string;
  /** The file the client named (or `-` for standard input). */
  readonly source: string;
  /** The policy's YAML document, as it was applied. */
  readonly text: string;
  readonly appliedAt: string;
}

const recordSchema = z.strictObject({
  version: z.literal(1),
  kind: z.string().min(1),
  namespace: z.string().optional(),
  name: z.string().min(1),
  source: z.string().min(1),
  text: z.string(),
  appliedAt: z.string(),
});

/** Where applied policies are kept for a state file: `<state dir>/policies.applied`. */
export function appliedDirectoryFor(stateFile: string): string {
  return join(dirname(stateFile), 'policies.applied');
}

/** kind, namespace and name: a policy's identity (as @bulwark/policy's duplicate check has it). */
export function policyKey(policy: { readonly kind: string; readonly namespace: string | undefined; readonly name: string }): string {
  return `${policy.kind}\u0000${policy.namespace ?? ''}\u0000${policy.name}`;
}

/** The file name of a policy's record: a hash of its identity, so no name can make a path. */
export function recordFileName(policy: { readonly kind: string; readonly namespace: string | undefined; readonly name: string }): string {
  return `${createHash('sha256').update(policyKey(policy)).digest('hex').slice(0, 32)}.json`;
}

const NOFOLLOW = constants.O_NOFOLLOW;

export class AppliedPolicyStore {
  readonly directory: string;

  constructor(directory: string) {
    this.directory = directory;
  }

  /** Creates the directory (0700) if needed; refuses a symlink, a non-directory, or one owned by someone else. */
  async prepare(): Promise<void> {
    try {
      await mkdir(this.directory, { recursive: true, mode: 0o700 });
      const info = await lstat(this.directory);
      if (!info.isDirectory()) throw new BulwarkError('ERR_STATE', `prepare ${this.directory}: not a directory (a symlink is refused)`);
      const owner = process.geteuid?.() ?? info.uid;
      if (info.uid !== owner) throw new BulwarkError('ERR_STATE', `prepare ${this.directory}: owned by uid ${info.uid}, expected ${owner}`);
      if ((info.mode & 0o077) !== 0) await chmod(this.directory, 0o700);
    } catch (error) {
      throw toSystemError('prepare applied policies', error, this.directory);
    }
  }

  /** Every stored record, in file-name order; a record that is unreadable or malformed is a problem (file: reason). */
  async load(): Promise<{ records: AppliedRecord[]; problems: string[] }> {
    let names: string[];
    try {
      names = (await readdir(this.directory)).filter((name) => name.endsWith('.json')).sort();
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return { records: [], problems: [] };
      throw toSystemError('read applied policies', error, this.directory);
    }
    const records: AppliedRecord[] = [];
    const problems: string[] = [];
    for (const name of names) {
      const path = join(this.directory, name);
      try {
        const handle = await open(path, constants.O_RDONLY | NOFOLLOW);
        let text: string;
        try {
          if (!(await handle.stat()).isFile()) throw new Error('not a regular file');
          text = await handle.readFile('utf8');
        } finally {
          await handle.close();
        }
        const parsed = recordSchema.safeParse(JSON.parse(text));
        if (!parsed.success) throw new Error(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
        const { kind, namespace, name: policyName, source, text: policyText, appliedAt } = parsed.data;
        records.push({ kind, namespace, name: policyName, source, text: policyText, appliedAt });
      } catch (error) {
        problems.push(`${path}: ${errnoOf(error) === 'ELOOP' ? 'a symlink, refused' : error instanceof Error ? error.message : String(error)}`);
      }
    }
    return { records, problems };
  }

  /** Writes a record whole: a new 0600 file (O_EXCL, O_NOFOLLOW), fsynced, renamed over the old one, then the directory fsynced. */
  async write(record: AppliedRecord): Promise<void> {
    const path = join(this.directory, recordFileName(record));
    const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
    const body = `${JSON.stringify({ version: 1, ...record }, null, 2)}\n`;
    try {
      const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
      try {
        await handle.writeFile(body, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, path);
      await this.#syncDirectory();
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw toSystemError('write applied policy', error, path);
    }
  }

  /** Removes a record; false when there was none. */
  async remove(policy: { readonly kind: string; readonly namespace: string | undefined; readonly name: string }): Promise<boolean> {
    const path = join(this.directory, recordFileName(policy));
    try {
      await unlink(path);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return false;
      throw toSystemError('remove applied policy', error, path);
    }
    await this.#syncDirectory();
    return true;
  }

  async #syncDirectory(): Promise<void> {
    const handle = await open(this.directory, constants.O_RDONLY | constants.O_DIRECTORY | NOFOLLOW);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
