import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asNobodyPrefix } from './as-nobody.js';
import { makeTemporaryDirectory, removeDirectory, runCommand } from './containers.js';

/**
 * Issue 11 item 15: from a clone under /root (0700) the tests run as nobody
 * could not reach the checkout. The CI checkout is reachable, so the host
 * tests that use asNobodyPrefix never take its other way there; this one
 * does: a directory behind a 0700 one, with a space and glob characters in
 * its path, reached by nobody through the prefix, and the host left as it
 * was (no mount, no mode changed, no directory left behind).
 */

let work: string;
let checkout: string;
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

beforeAll(async () => {
  work = await makeTemporaryDirectory('as-nobody');
  // private/ is the 0700 directory (as /root is), under a name with a space and glob characters; the checkout's own directory is open, as a clone's is.
  checkout = join(work, 'a dir * [x]', 'private', 'main');
  await mkdir(checkout, { recursive: true });
  await chmod(join(work, 'a dir * [x]'), 0o755);
  await chmod(join(work, 'a dir * [x]', 'private'), 0o700);
  await chmod(checkout, 0o755);
  await writeFile(join(checkout, 'readme'), 'reachable\n', { mode: 0o644 });
  // A name the glob characters match, in the directory the prefix runs in: a path left unquoted would expand to it.
  await mkdir(join(work, 'a dir - x'));
});
afterAll(async () => {
  if (work !== undefined) await removeDirectory(work);
});

async function ownMounts(): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((line) => line.includes(work) || line.includes('bulwark-nobody-view'));
}
async function views(): Promise<string[]> {
  return (await readdir('/tmp')).filter((name) => name.startsWith('bulwark-nobody-view-'));
}

describe('asNobodyPrefix', () => {
  it('without it, nobody cannot read a checkout behind a 0700 directory', async () => {
    const result = await runCommand('setpriv', [...NOBODY, 'cat', join(checkout, 'readme')]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Permission denied');
  });

  it('runs the command as nobody with the checkout reachable at its own path, and leaves the host as it was', async () => {
    const viewsBefore = await views();
    const [command, ...prefix] = asNobodyPrefix([], checkout);
    const result = await runCommand(command!, [...prefix, 'sh', '-c', 'id -u; cat "$1"; ls "$2"', 'sh', join(checkout, 'readme'), checkout], { cwd: work });
    expect(result, result.stderr).toMatchObject({ code: 0, stdout: '65534\nreachable\nreadme\n' });
    expect((await stat(join(work, 'a dir * [x]', 'private'))).mode & 0o7777).toBe(0o700);
    expect(await ownMounts()).toEqual([]);
    expect((await views()).filter((name) => !viewsBefore.includes(name))).toEqual([]);
  });

  it('runs the command at once when the directory is reachable already', async () => {
    const open = join(work, 'open checkout');
    await mkdir(open, { mode: 0o755 });
    await chmod(open, 0o755);
    const [command, ...prefix] = asNobodyPrefix([], open);
    const result = await runCommand(command!, [...prefix, 'sh', '-c', 'id -u; grep -c bulwark-nobody-view /proc/self/mountinfo || true']);
    expect(result, result.stderr).toMatchObject({ code: 0, stdout: '65534\n0\n' });
  });
});
