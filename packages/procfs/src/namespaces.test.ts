import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BulwarkError, ValidationError } from '@bulwark/errors';
import { describe, expect, it } from 'vitest';
import { copyFixtures, procRoot } from './__fixtures__/fixtures.js';
import { ProcessGoneError } from './errors.js';
import { readNamespaces } from './namespaces.js';

describe('readNamespaces (fixture tree)', () => {
  it('reads every namespace type from the link text, with device 0', async () => {
    expect(await readNamespaces(4242, { procRoot })).toEqual({
      mnt: { device: 0, inode: 4026532301 },
      pid: { device: 0, inode: 4026532304 },
      net: { device: 0, inode: 4026532306 },
      user: { device: 0, inode: 4026531837 },
      uts: { device: 0, inode: 4026532302 },
      ipc: { device: 0, inode: 4026532303 },
      cgroup: { device: 0, inode: 4026532305 },
      time: { device: 0, inode: 4026531834 },
    });
  });

  it('leaves out a type the kernel lacks', async () => {
    const namespaces = await readNamespaces(1, { procRoot });
    expect(Object.keys(namespaces).sort()).toEqual(['cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts']);
    expect(namespaces.time).toBeUndefined();
  });

  it('tells shared namespaces from private ones', async () => {
    const container = await readNamespaces(4242, { procRoot });
    const host = await readNamespaces(2, { procRoot });
    expect(container.user).toEqual(host.user);
    expect(container.mnt).not.toEqual(host.mnt);
  });

  it('reports a zombie as gone: its namespaces are already released', async () => {
    const error = await readNamespaces(77, { procRoot }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProcessGoneError);
    expect(error).toMatchObject({ code: 'ERR_PROCESS_GONE', pid: 77, message: 'read namespaces of pid 77: process is gone' });
  });

  it('reports a missing pid directory as gone, not as a system error', async () => {
    const error = await readNamespaces(999_999, { procRoot }).catch((caught: unknown) => caught);
    expect(BulwarkError.is(error, 'ERR_PROCESS_GONE')).toBe(true);
    expect(error).toMatchObject({ pid: 999_999, reason: 'exited' });
  });

  it('rejects a namespace link that is not `type:[inode]`', async () => {
    await using copy = await copyFixtures();
    const link = join(copy.procRoot, '4242', 'ns', 'net');
    await rm(link);
    await symlink('pid:[4026532304]', link);
    const error = await readNamespaces(4242, { procRoot: copy.procRoot }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(
      `read namespaces of pid 4242: ${link}: expected a link like net:[4026531840], got "pid:[4026532304]"`,
    );
  });
});
