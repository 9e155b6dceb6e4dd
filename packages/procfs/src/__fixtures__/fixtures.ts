/**
 * Paths to the fixture trees and a helper that copies them somewhere
 * writable, for tests that change files (chmod, FIFOs, removal).
 */
import { execFileSync } from 'node:child_process';
import { chmod, cp, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixturesDirectory = fileURLToPath(new URL('.', import.meta.url));
export const procRoot = join(fixturesDirectory, 'proc');
export const cgroupV2Root = join(fixturesDirectory, 'cgroup-v2');
export const cgroupHybridRoot = join(fixturesDirectory, 'cgroup-hybrid');
export const cgroupV1Root = join(fixturesDirectory, 'cgroup-v1');

export interface FixtureCopy extends AsyncDisposable {
  readonly root: string;
  readonly procRoot: string;
  readonly cgroupV2Root: string;
  readonly cgroupHybridRoot: string;
}

/** A copy of the fixture trees in a fresh directory that any user may traverse; removed on dispose. */
export async function copyFixtures(): Promise<FixtureCopy> {
  const root = await mkdtemp(join(tmpdir(), 'bulwark-procfs-'));
  await chmod(root, 0o755);
  for (const name of ['proc', 'cgroup-v2', 'cgroup-hybrid']) {
    await cp(join(fixturesDirectory, name), join(root, name), { recursive: true, verbatimSymlinks: true });
  }
  return {
    root,
    procRoot: join(root, 'proc'),
    cgroupV2Root: join(root, 'cgroup-v2'),
    cgroupHybridRoot: join(root, 'cgroup-hybrid'),
    [Symbol.asyncDispose]: () => rm(root, { recursive: true, force: true }),
  };
}

/** The value or the error a promise settles with, without an unhandled rejection in between. */
export const settle = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    (value) => ({ value }),
    (error: unknown) => error,
  );

/**
 * Replaces `file` with a FIFO and starts `read`; once the reader has opened
 * the FIFO (it blocks there), runs `meanwhile`, then feeds `content` and
 * closes, letting the read finish. The process "changes" mid-read, for real.
 */
export async function changeMidRead(file: string, content: string, read: () => Promise<unknown>, meanwhile: () => Promise<void>): Promise<unknown> {
  await rm(file);
  execFileSync('mkfifo', [file]);
  const outcome = settle(read());
  const writer = await open(file, 'w'); // returns once the reader has the FIFO open
  await meanwhile();
  await writer.write(content);
  await writer.close();
  return outcome;
}
