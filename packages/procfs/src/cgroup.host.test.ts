import { randomBytes } from 'node:crypto';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LiveProcess, runReader, sh, startProcess } from './__fixtures__/live.js';
import { readCgroup } from './cgroup.js';

/** The unified (v2) mount, found with stat -f rather than by this package. */
const unifiedMount = sh('stat -f -c %T /sys/fs/cgroup') === 'cgroup2fs' ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
const expectedLayout = sh('stat -f -c %T /sys/fs/cgroup') === 'cgroup2fs' ? 'v2' : 'hybrid';

describe('readCgroup (live)', () => {
  const name = `bulwark-test-${randomBytes(4).toString('hex')}`;
  const base = join(unifiedMount, name);
  const directories = [base, join(base, 'target'), join(base, 'reader')];
  let target: LiveProcess;

  beforeAll(async () => {
    for (const directory of directories) await mkdir(directory);
    target = await startProcess('sleep', ['300']);
    await writeFile(join(base, 'target', 'cgroup.procs'), `${target.pid}\n`);
  });

  afterAll(async () => {
    await target.kill();
    for (const directory of directories.reverse()) await rmdir(directory).catch(() => undefined);
  });

  it('matches /proc/<pid>/cgroup and the inode of the cgroup directory', async () => {
    const info = await readCgroup(target.pid);
    const lines = sh(`cat /proc/${target.pid}/cgroup`).split('\n');
    const v2 = lines.find((line) => line.startsWith('0::'));
    expect(v2).toBe(`0::/${name}/target`);
    expect(info.path).toBe(`/${name}/target`);
    expect(info.layout).toBe(expectedLayout);
    expect(info.directory).toBe(join(base, 'target'));
    expect(info.id).toBe(BigInt(sh(`stat -c %i ${join(base, 'target')}`)));
    const v1 = Object.fromEntries(
      lines
        .filter((line) => !line.startsWith('0::'))
        .map((line) => {
          const [, controllers, path] = /^\d+:([^:]+):(.*)$/.exec(line) ?? [];
          return [controllers, path];
        }),
    );
    expect(info.v1).toEqual(v1);
  });

  it('leaves id undefined for a reader in another cgroup namespace', async () => {
    // The reader moves itself into <base>/reader, then unshares a cgroup namespace rooted there.
    const enter = `echo $$ > ${join(base, 'reader', 'cgroup.procs')} && exec unshare --cgroup "$@"`;
    const prefix = ['sh', '-c', enter, 'sh'];
    const sibling = await runReader(prefix, 'readCgroup', [target.pid]);
    expect(sibling.error).toBeUndefined();
    expect(sibling.value).toMatchObject({ path: '/../target', layout: expectedLayout });
    expect(sibling.value).not.toHaveProperty('id');
    // Its own cgroup is '/' in its namespace, but the host mount's root lies outside it.
    const own = await runReader(prefix, 'readCgroup', ['self']);
    expect(own.value).toMatchObject({ path: '/' });
    expect(own.value).not.toHaveProperty('id');
  });
});
