import { mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findStateLockHolder, lockStateFile, type StateLockBinding } from './state-lock.js';

let directory: string;
let stateFile: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bulwark-state-lock-'));
  stateFile = join(directory, 'containers.json');
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('lockStateFile', () => {
  it('lets one holder have the state file; the second is refused with the holder pid, and may take it once released', async () => {
    const first = lockStateFile(stateFile);
    expect(first.path).toBe(`${stateFile}.lock`);
    expect(await readFile(first.path, 'utf8')).toBe(`${process.pid}\n`);
    expect((await stat(first.path)).mode & 0o777).toBe(0o600);
    // flock conflicts between open file descriptions, in one process too.
    expect(() => lockStateFile(stateFile)).toThrow(
      `lock state file ${stateFile}: another agent uses it (pid ${process.pid}); stop it, or give this agent a --state-file of its own`,
    );
    first.release();
    first.release();
    using second = lockStateFile(stateFile);
    expect(second.path).toBe(first.path);
  });

  it('another process holding it is named by its pid; once it is killed, the lock is free again', async () => {
    const module = new URL('./state-lock.ts', import.meta.url).pathname;
    const script = `import { lockStateFile } from ${JSON.stringify(module)}; lockStateFile(${JSON.stringify(stateFile)}); console.log('locked'); setInterval(() => {}, 1000);`;
    const holder = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [chunk] = (await once(holder.stdout, 'data')) as [Buffer];
      expect(chunk.toString()).toBe('locked\n');
      expect(() => lockStateFile(stateFile)).toThrow(`another agent uses it (pid ${holder.pid})`);
    } finally {
      holder.kill('SIGKILL');
      await once(holder, 'exit');
    }
    // Its pid is still in the file; the kernel dropped the lock with the process.
    expect(await readFile(`${stateFile}.lock`, 'utf8')).toBe(`${holder.pid}\n`);
    using lock = lockStateFile(stateFile);
    expect(await readFile(lock.path, 'utf8')).toBe(`${process.pid}\n`);
  });

  it('a flock failure other than a held lock is a SystemError, and an unopenable lock file names its path', () => {
    const failing: StateLockBinding = { flock: () => -1, errno: () => 37 };
    expect(() => lockStateFile(stateFile, failing)).toThrow(expect.objectContaining({ code: 'ERR_SYSTEM', errno: 'ENOLCK', path: `${stateFile}.lock` }));
    expect(() => lockStateFile(join(directory, 'absent', 'containers.json'))).toThrow(
      expect.objectContaining({ code: 'ERR_SYSTEM', errno: 'ENOENT', path: join(directory, 'absent', 'containers.json.lock') }),
    );
  });
});

describe('findStateLockHolder', () => {
  it('names the agent that holds the lock, and finds none once it is released or when there is no lock file, writing nothing', async () => {
    expect(findStateLockHolder(stateFile)).toBeUndefined();
    await expect(stat(`${stateFile}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
    const held = lockStateFile(stateFile);
    expect(findStateLockHolder(stateFile)).toEqual({ pid: process.pid });
    held.release();
    expect(findStateLockHolder(stateFile)).toBeUndefined();
    // Asking took the lock for a moment and let it go: an agent can start.
    using again = lockStateFile(stateFile);
    expect(await readFile(again.path, 'utf8')).toBe(`${process.pid}\n`);
  });

  it('a holder whose pid is not in the file is named without one; a flock failure other than a held lock is a SystemError', async () => {
    using held = lockStateFile(stateFile);
    await truncate(held.path, 0);
    expect(findStateLockHolder(stateFile)).toEqual({ pid: undefined });
    const failing: StateLockBinding = { flock: () => -1, errno: () => 37 };
    expect(() => findStateLockHolder(stateFile, failing)).toThrow(expect.objectContaining({ code: 'ERR_SYSTEM', errno: 'ENOLCK', path: `${stateFile}.lock` }));
  });
});
