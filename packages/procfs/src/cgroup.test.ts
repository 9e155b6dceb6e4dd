import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupHybridRoot, cgroupV1Root, cgroupV2Root, copyFixtures, procRoot } from './__fixtures__/fixtures.js';
import { cgroupV1Path, findUnifiedMount, readCgroup } from './cgroup.js';
import { ProcessGoneError } from './errors.js';

const inode = async (path: string): Promise<bigint> => (await stat(path, { bigint: true })).ino;

describe('readCgroup (fixture trees)', () => {
  it('reads a v2-only process and finds its id under cgroupRoot', async () => {
    const directory = join(cgroupV2Root, 'system.slice', 'docker-4242.scope');
    expect(await readCgroup(4242, { procRoot, cgroupRoot: cgroupV2Root })).toEqual({
      path: '/system.slice/docker-4242.scope',
      id: await inode(directory),
      directory,
      v1: {},
      layout: 'v2',
    });
  });

  it('reads a hybrid process and finds its id under cgroupRoot/unified', async () => {
    const info = await readCgroup(1, { procRoot, cgroupRoot: cgroupHybridRoot });
    expect(info.layout).toBe('hybrid');
    expect(info.path).toBe('/init.scope');
    expect(info.directory).toBe(join(cgroupHybridRoot, 'unified', 'init.scope'));
    expect(info.id).toBe(await inode(join(cgroupHybridRoot, 'unified', 'init.scope')));
    expect(info.v1).toEqual({
      pids: '/init.scope',
      devices: '/init.scope',
      memory: '/init.scope',
      'cpu,cpuacct': '/init.scope',
      'net_cls,net_prio': '/',
      blkio: '/init.scope',
      freezer: '/',
      perf_event: '/',
      hugetlb: '/',
      cpuset: '/',
      rdma: '/',
      'name=systemd': '/init.scope',
    });
    expect(cgroupV1Path(info, 'cpuacct')).toBe('/init.scope');
    expect(cgroupV1Path(info, 'name=systemd')).toBe('/init.scope');
    expect(cgroupV1Path(info, 'misc')).toBeUndefined();
  });

  it('reads a v1-only process: no v2 path and no id', async () => {
    const info = await readCgroup(2, { procRoot, cgroupRoot: cgroupV1Root });
    expect(info).toEqual({ path: '', v1: { memory: '/', 'cpu,cpuacct': '/', devices: '/', 'name=systemd': '/' }, layout: 'v1' });
    expect('id' in info).toBe(false);
  });

  it('leaves id undefined when the cgroup directory is not visible', async () => {
    // 300's v2 cgroup /system.slice/containerd.service has no directory in the fixture tree.
    const info = await readCgroup(300, { procRoot, cgroupRoot: cgroupHybridRoot });
    expect(info.path).toBe('/system.slice/containerd.service');
    expect(info.id).toBeUndefined();
    expect(info.directory).toBeUndefined();
    // No unified mount at all.
    expect((await readCgroup(4242, { procRoot, cgroupRoot: cgroupV1Root })).id).toBeUndefined();
  });

  it('does not resolve a path outside the reader cgroup namespace against the mount', async () => {
    await using copy = await copyFixtures();
    // From another cgroup namespace the kernel prints paths such as /../init.scope;
    // joined naively to cgroupRoot/unified that would name cgroupRoot/init.scope.
    await writeFile(join(copy.procRoot, '1', 'cgroup'), '1:name=systemd:/\n0::/../unified/init.scope\n');
    const info = await readCgroup(1, { procRoot: copy.procRoot, cgroupRoot: copy.cgroupHybridRoot });
    expect(info.path).toBe('/../unified/init.scope');
    expect(info.id).toBeUndefined();
  });

  it('leaves id undefined when the unified mount is rooted outside the reader cgroup namespace', async () => {
    await using copy = await copyFixtures();
    const unified = join(copy.cgroupHybridRoot, 'unified');
    await mkdir(join(copy.procRoot, 'self'));
    const mountinfo = join(copy.procRoot, 'self', 'mountinfo');
    // The reader sits in a nested cgroup namespace: the host mount's root shows as /..
    await writeFile(mountinfo, `41 31 0:38 /.. ${unified} rw,relatime - cgroup2 cgroup2 rw\n`);
    const nested = await readCgroup(1, { procRoot: copy.procRoot, cgroupRoot: copy.cgroupHybridRoot });
    expect(nested.path).toBe('/init.scope');
    expect(nested.id).toBeUndefined();
    // The same mount seen from the namespace it shows: the id is found.
    await writeFile(mountinfo, `41 31 0:38 / ${unified} rw,relatime - cgroup2 cgroup2 rw\n`);
    const visible = await readCgroup(1, { procRoot: copy.procRoot, cgroupRoot: copy.cgroupHybridRoot });
    expect(visible.id).toBe(await inode(join(unified, 'init.scope')));
  });

  it('reports a missing process as gone', async () => {
    await expect(readCgroup(31337, { procRoot, cgroupRoot: cgroupV2Root })).rejects.toBeInstanceOf(ProcessGoneError);
  });

  it('finds the unified mount of each layout', async () => {
    expect(await findUnifiedMount(cgroupV2Root)).toBe(cgroupV2Root);
    expect(await findUnifiedMount(cgroupHybridRoot)).toBe(join(cgroupHybridRoot, 'unified'));
    expect(await findUnifiedMount(cgroupV1Root)).toBeUndefined();
  });
});
