import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDirectory, repositoryRoot, runCommand } from '../test-support/containers.js';

/**
 * Issue 11 item 14: `./run demo` left a fresh clone dirty (package-lock.json
 * gained 397 lines). A fresh clone of this checkout's HEAD, in a path with a
 * space, goes through what `./run demo` does before the demo itself: the
 * set-up (scripts/setup.sh: its npm install from the lock, the bulwark
 * command in .tools/bin) and the build (`./run build` is that set-up and
 * the same `turbo run build`). Then git must find nothing changed and
 * nothing new: a lock that does not match the package.json files, a build
 * output outside the ignored paths, a generated file that differs from the
 * committed one, each shows. The npm cache is preferred to the registry
 * (npm_config_prefer_offline) and Node 24 is this checkout's (.tools/node,
 * linked), so that nothing is fetched but what the cache lacks.
 */

let scratch: string | undefined;
afterAll(async () => {
  if (scratch !== undefined) await removeDirectory(scratch);
});

describe("the demo's set-up and build in a fresh clone", () => {
  it('leave git status empty', { timeout: 900_000 }, async () => {
    scratch = await mkdtemp(join(tmpdir(), 'bulwark-clean-clone-'));
    const clone = join(scratch, 'a clone');
    const cloned = await runCommand('git', ['-c', 'safe.directory=*', 'clone', '--quiet', repositoryRoot, clone], { timeoutMs: 120_000 });
    expect(cloned.code, cloned.stderr).toBe(0);
    const node = join(repositoryRoot, '.tools', 'node');
    if (existsSync(join(node, 'bin', 'node'))) {
      await mkdir(join(clone, '.tools'));
      await symlink(node, join(clone, '.tools', 'node'));
    }
    const env = { ...process.env, npm_config_prefer_offline: 'true', TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' };
    const built = await runCommand(join(clone, 'run'), ['build', '--output-logs=errors-only'], { cwd: clone, env, timeoutMs: 840_000 });
    expect(built.code, `${built.stdout}\n${built.stderr}`).toBe(0);
    const status = await runCommand('git', ['-c', 'safe.directory=*', 'status', '--porcelain', '--untracked-files=all'], { cwd: clone });
    expect(status.code, status.stderr).toBe(0);
    const diff = status.stdout === '' ? '' : (await runCommand('git', ['-c', 'safe.directory=*', 'diff', '--stat'], { cwd: clone })).stdout;
    expect(status.stdout, `the set-up and build changed the clone:\n${status.stdout}${diff}`).toBe('');
  });
});
