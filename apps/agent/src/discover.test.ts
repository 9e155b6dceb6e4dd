import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { containerReportSchema } from '@bulwark/hook-client';
import { DEFAULT_DISCOVER_OPTIONS, PodmanNames, discoverContainers, listRuntimeEntries, type DiscoverOptions } from './discover.js';

const fixturePath = (name: string) => fileURLToPath(new URL(`./__fixtures__/${name}`, import.meta.url));
const podmanBundle = fixturePath('podman-bundle');

/** This process's start time: field 22 of /proc/self/stat, counted after the parenthesised comm. */
async function ownStartTime(): Promise<bigint> {
  const text = await readFile('/proc/self/stat', 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field 22 is at index 19.
  return BigInt(fields[19]!);
}

/** A pid that named a process a moment ago and names none now (the child has exited and been reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' });
  expect(child.status).toBe(0);
  return child.pid;
}

let directory: string;
let runcRoot: string;
let crunRoot: string;
let options: DiscoverOptions;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bulwark-discover-'));
  runcRoot = join(directory, 'runc');
  crunRoot = join(directory, 'crun');
  await mkdir(runcRoot);
  await mkdir(crunRoot);
  options = { runcRoots: [runcRoot], crunRoots: [crunRoot], podmanContainersFile: fixturePath('podman-containers.json') };
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

interface EntryParts {
  readonly pid: number;
  readonly startTime?: bigint;
  readonly bundle: string;
}

/** Writes `<root>/<id>/state.json` from the runc fixture with this pid, start time and bundle. */
async function writeRuncState(root: string, id: string, parts: EntryParts): Promise<string> {
  const state = JSON.parse(await readFile(fixturePath('runc-state.json'), 'utf8')) as Record<string, unknown> & { config: { labels: string[] } };
  state.id = id;
  state.init_process_pid = parts.pid;
  if (parts.startTime === undefined) delete state.init_process_start;
  else state.init_process_start = Number(parts.startTime);
  state.config.labels = [`bundle=${parts.bundle}`, ...state.config.labels.filter((label) => !label.startsWith('bundle='))];
  const path = join(root, id, 'state.json');
  await mkdir(join(root, id), { recursive: true });
  await writeFile(path, JSON.stringify(state));
  return path;
}

/** Writes `<root>/<id>/status` from the crun fixture with this pid, start time and bundle. */
async function writeCrunStatus(root: string, id: string, parts: EntryParts): Promise<string> {
  const status = JSON.parse(await readFile(fixturePath('crun-status.json'), 'utf8')) as Record<string, unknown>;
  status.pid = parts.pid;
  if (parts.startTime === undefined) delete status['process-start-time'];
  else status['process-start-time'] = Number(parts.startTime);
  status.bundle = parts.bundle;
  const path = join(root, id, 'status');
  await mkdir(join(root, id), { recursive: true });
  await writeFile(path, JSON.stringify(status));
  return path;
}

async function writeRaw(root: string, id: string, file: string, text: string): Promise<string> {
  await mkdir(join(root, id), { recursive: true });
  const path = join(root, id, file);
  await writeFile(path, text);
  return path;
}

test('the defaults look where runc, crun and podman keep their state', () => {
  expect(DEFAULT_DISCOVER_OPTIONS).toEqual({
    runcRoots: ['/run/runc'],
    crunRoots: ['/run/crun'],
    podmanContainersFile: '/var/lib/containers/storage/overlay-containers/containers.json',
  });
});

describe('listRuntimeEntries', () => {
  test('parses runc state.json and crun status files', async () => {
    await writeRuncState(runcRoot, 'runc-one', { pid: 4242, startTime: 987_654n, bundle: '/bundles/runc-one' });
    await writeCrunStatus(crunRoot, 'crun-one', { pid: 4343, startTime: 123_456n, bundle: '/bundles/crun-one' });
    const { entries, problems } = await listRuntimeEntries(options);
    expect(problems).toEqual([]);
    expect(entries).toEqual([
      { runtime: 'runc', id: 'runc-one', pid: 4242, startTime: 987_654n, bundle: '/bundles/runc-one' },
      { runtime: 'crun', id: 'crun-one', pid: 4343, startTime: 123_456n, bundle: '/bundles/crun-one' },
    ]);
  });

  test('the id comes from the directory name and a missing start time stays undefined', async () => {
    await writeRuncState(runcRoot, 'dir-name', { pid: 1, bundle: '/b' });
    await writeCrunStatus(crunRoot, 'crun-no-start', { pid: 2, bundle: '/c' });
    const { entries } = await listRuntimeEntries(options);
    expect(entries).toEqual([
      { runtime: 'runc', id: 'dir-name', pid: 1, startTime: undefined, bundle: '/b' },
      { runtime: 'crun', id: 'crun-no-start', pid: 2, startTime: undefined, bundle: '/c' },
    ]);
  });

  test('reads every root given, in order', async () => {
    const secondRunc = join(directory, 'runc-2');
    await writeRuncState(runcRoot, 'a', { pid: 1, startTime: 1n, bundle: '/a' });
    await writeRuncState(secondRunc, 'b', { pid: 2, startTime: 2n, bundle: '/b' });
    const { entries } = await listRuntimeEntries({ runcRoots: [runcRoot, secondRunc], crunRoots: [] });
    expect(entries.map((entry) => `${entry.runtime}:${entry.id}`)).toEqual(['runc:a', 'runc:b']);
  });

  test('skips entries that are not containers', async () => {
    await writeRuncState(runcRoot, 'real', { pid: 1, startTime: 1n, bundle: '/bundle' });
    // A directory without state.json, a stray file, and a crun-style status under the runc root.
    await mkdir(join(runcRoot, 'empty-directory'));
    await writeFile(join(runcRoot, 'stray-file'), 'not a container');
    await writeRaw(runcRoot, 'crun-shaped', 'status', '{"pid":1,"bundle":"/x"}');
    await writeFile(join(crunRoot, '.lock'), '');
    const { entries, problems } = await listRuntimeEntries(options);
    expect(problems).toEqual([]);
    expect(entries.map((entry) => entry.id)).toEqual(['real']);
  });

  test('reports malformed files with their path and keeps the good ones', async () => {
    await writeRuncState(runcRoot, 'good', { pid: 1, startTime: 1n, bundle: '/bundle' });
    const brokenJson = await writeRaw(runcRoot, 'broken-json', 'state.json', '{"init_process_pid": 12,');
    const noBundle = await writeRaw(runcRoot, 'no-bundle', 'state.json', JSON.stringify({ init_process_pid: 12, config: { labels: ['other=1'] } }));
    const pidText = await writeRaw(crunRoot, 'pid-text', 'status', JSON.stringify({ pid: '12', bundle: '/b' }));
    const noBundleCrun = await writeRaw(crunRoot, 'no-bundle-crun', 'status', JSON.stringify({ pid: 12 }));
    const { entries, problems } = await listRuntimeEntries(options);
    expect(entries.map((entry) => entry.id)).toEqual(['good']);
    expect(problems).toHaveLength(4);
    for (const path of [brokenJson, noBundle, pidText, noBundleCrun]) {
      expect(problems.filter((problem) => problem.startsWith(`read ${path}: `))).toHaveLength(1);
    }
    expect(problems.find((problem) => problem.includes('no-bundle/'))).toContain('lacks init_process_pid or a bundle label');
    expect(problems.find((problem) => problem.includes('pid-text/'))).toContain('lacks pid or bundle');
  });

  test('a root that is a file, or cannot be read, is a problem of its own and the other roots are still read', async () => {
    await writeRuncState(runcRoot, 'good', { pid: 1, startTime: 1n, bundle: '/bundle' });
    const file = join(directory, 'passwd');
    await writeFile(file, 'root:x:0:0::/root:/bin/sh\n');
    const { entries, problems } = await listRuntimeEntries({ runcRoots: [file, runcRoot], crunRoots: [file] });
    expect(entries.map((entry) => entry.id)).toEqual(['good']);
    expect(problems).toEqual([`list runc root ${file}: not a directory`, `list crun root ${file}: not a directory`]);
  });

  test('missing roots give no entries and no problems', async () => {
    const { entries, problems } = await listRuntimeEntries({
      runcRoots: [join(directory, 'no-runc')],
      crunRoots: [join(directory, 'no-crun')],
    });
    expect(entries).toEqual([]);
    expect(problems).toEqual([]);
  });
});

describe('PodmanNames', () => {
  test('finds a container name by id, taking the first name', async () => {
    const names = new PodmanNames(fixturePath('podman-containers.json'));
    expect(await names.lookup('abc')).toBe('web');
    expect(await names.lookup('def')).toBe('db');
    expect(await names.lookup('nameless')).toBeUndefined();
    expect(await names.lookup('unknown')).toBeUndefined();
  });

  test('reads the file again when its modification time changes', async () => {
    const path = join(directory, 'containers.json');
    await copyFile(fixturePath('podman-containers.json'), path);
    const names = new PodmanNames(path);
    expect(await names.lookup('abc')).toBe('web');
    expect(await names.lookup('new')).toBeUndefined();

    const before = await stat(path);
    await writeFile(path, JSON.stringify([{ id: 'abc', names: ['web-renamed'] }, { id: 'new', names: ['fresh'] }]));
    const later = new Date(before.mtimeMs + 10_000);
    await utimes(path, later, later);
    expect(await names.lookup('abc')).toBe('web-renamed');
    expect(await names.lookup('new')).toBe('fresh');
  });

  test('keeps its cached names while the modification time is unchanged', async () => {
    const path = join(directory, 'containers.json');
    await copyFile(fixturePath('podman-containers.json'), path);
    // A whole-second mtime, so that setting it again gives exactly the same mtimeMs.
    const fixed = new Date('2026-11-22T10:00:00Z');
    await utimes(path, fixed, fixed);
    const names = new PodmanNames(path);
    expect(await names.lookup('abc')).toBe('web');
    await writeFile(path, JSON.stringify([{ id: 'abc', names: ['changed'] }]));
    await utimes(path, fixed, fixed);
    expect(await names.lookup('abc')).toBe('web');
  });

  test('a missing file gives no name, and a file created later is read', async () => {
    const path = join(directory, 'containers.json');
    const names = new PodmanNames(path);
    expect(await names.lookup('abc')).toBeUndefined();
    await copyFile(fixturePath('podman-containers.json'), path);
    expect(await names.lookup('abc')).toBe('web');
  });

  test('a corrupt or oddly shaped file gives no name rather than an error', async () => {
    const path = join(directory, 'containers.json');
    await writeFile(path, '[{"id": "abc", "names": ["web"]');
    const names = new PodmanNames(path);
    await expect(names.lookup('abc')).resolves.toBeUndefined();

    await writeFile(path, JSON.stringify({ abc: 'web' }));
    await utimes(path, new Date(1_000_000), new Date(1_000_000));
    await expect(names.lookup('abc')).resolves.toBeUndefined();

    // Items without a string id or a string first name are passed over; the rest still count.
    await writeFile(path, JSON.stringify([{ id: 7, names: ['seven'] }, { id: 'abc', names: [3] }, { id: 'list', names: 'x' }, { id: 'ok', names: ['fine'] }]));
    await utimes(path, new Date(2_000_000), new Date(2_000_000));
    expect(await names.lookup('abc')).toBeUndefined();
    expect(await names.lookup('list')).toBeUndefined();
    expect(await names.lookup('ok')).toBe('fine');
  });

  test('without a path there are no names', async () => {
    expect(await new PodmanNames(undefined).lookup('abc')).toBeUndefined();
  });
});

describe('discoverContainers', () => {
  test('reports a live runc container with its process, namespaces and podman name', async () => {
    const startTime = await ownStartTime();
    await writeRuncState(runcRoot, 'abc', { pid: process.pid, startTime, bundle: podmanBundle });
    const { containers, problems } = await discoverContainers(options, new PodmanNames(options.podmanContainersFile));
    expect(problems).toEqual([]);
    expect(containers).toHaveLength(1);
    const report = containers[0]!;
    expect(containerReportSchema().safeParse(report).success).toBe(true);

    const mnt = await stat('/proc/self/ns/mnt');
    const pidNamespace = await stat('/proc/self/ns/pid');
    expect(report).toMatchObject({
      id: 'abc',
      stage: 'poststart',
      status: 'running',
      bundle: podmanBundle,
      pid: process.pid,
      names: { runtime: 'podman', name: 'web' },
      annotations: {
        'io.container.manager': 'libpod',
        'io.podman.annotations.autoremove': 'FALSE',
        'org.opencontainers.image.stopSignal': '15',
      },
      config: {
        args: ['/bin/sleep', 'infinity'],
        rootfs: '/var/lib/containers/storage/overlay/placeholder/merged',
        cgroupsPath: 'machine.slice:libpod:placeholder',
        noNewPrivileges: true,
      },
      process: { startTime: startTime.toString(), uid: process.geteuid!() },
      namespaces: {
        mnt: { device: mnt.dev, inode: mnt.ino },
        pid: { device: pidNamespace.dev, inode: pidNamespace.ino },
      },
    });
    expect(report.cgroup?.path).toMatch(/^\//);
  });

  test('reports a live crun container, and entries come back sorted by id', async () => {
    const startTime = await ownStartTime();
    await writeCrunStatus(crunRoot, 'zz-crun', { pid: process.pid, startTime, bundle: podmanBundle });
    await writeRuncState(runcRoot, 'def', { pid: process.pid, startTime, bundle: podmanBundle });
    const { containers, problems } = await discoverContainers(options, new PodmanNames(options.podmanContainersFile));
    expect(problems).toEqual([]);
    expect(containers.map((report) => [report.id, report.names.name])).toEqual([
      ['def', 'db'],
      ['zz-crun', undefined],
    ]);
  });

  test('an entry without a start time is still checked against /proc', async () => {
    await writeCrunStatus(crunRoot, 'no-start', { pid: process.pid, bundle: podmanBundle });
    const { containers } = await discoverContainers(options, new PodmanNames(undefined));
    expect(containers.map((report) => report.id)).toEqual(['no-start']);
    expect(containers[0]!.process?.startTime).toBe((await ownStartTime()).toString());
  });

  test('skips dead processes and reused pids without reporting a problem', async () => {
    const startTime = await ownStartTime();
    const gone = deadPid();
    await writeRuncState(runcRoot, 'live', { pid: process.pid, startTime, bundle: podmanBundle });
    await writeRuncState(runcRoot, 'dead-with-start', { pid: gone, startTime, bundle: podmanBundle });
    await writeCrunStatus(crunRoot, 'dead-without-start', { pid: gone, bundle: podmanBundle });
    await writeCrunStatus(crunRoot, 'wrong-start', { pid: process.pid, startTime: startTime + 1n, bundle: podmanBundle });
    const { containers, problems } = await discoverContainers(options, new PodmanNames(undefined));
    expect(problems).toEqual([]);
    expect(containers.map((report) => report.id)).toEqual(['live']);
  });

  test('a bundle without config.json (removed meanwhile) is skipped silently', async () => {
    const startTime = await ownStartTime();
    await writeRuncState(runcRoot, 'bundle-gone', { pid: process.pid, startTime, bundle: join(directory, 'no-bundle') });
    const { containers, problems } = await discoverContainers(options, new PodmanNames(undefined));
    expect(containers).toEqual([]);
    expect(problems).toEqual([]);
  });

  test('an unreadable runtime entry and an invalid bundle config are problems; the rest is still reported', async () => {
    const startTime = await ownStartTime();
    const bundle = join(directory, 'bad-bundle');
    await mkdir(bundle);
    await writeFile(join(bundle, 'config.json'), JSON.stringify({ process: { args: ['/bin/true'] } }));
    const broken = await writeRaw(runcRoot, 'broken', 'state.json', 'not json');
    await writeRuncState(runcRoot, 'bad-config', { pid: process.pid, startTime, bundle });
    await writeRuncState(runcRoot, 'good', { pid: process.pid, startTime, bundle: podmanBundle });
    const { containers, problems } = await discoverContainers(options, new PodmanNames(undefined));
    expect(containers.map((report) => report.id)).toEqual(['good']);
    expect(problems).toHaveLength(2);
    expect(problems.some((problem) => problem.startsWith(`read ${broken}: `))).toBe(true);
    expect(problems.some((problem) => problem.startsWith('inspect runc container bad-config: ') && problem.includes('ociVersion'))).toBe(true);
  });

  test('a container no manager ran is named by its runtime, and gets no podman name even when podman knows the id', async () => {
    const startTime = await ownStartTime();
    const bundle = join(directory, 'plain-bundle');
    await mkdir(bundle);
    await writeFile(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { args: ['/bin/sh'], cwd: '/' } }));
    await writeRuncState(runcRoot, 'abc', { pid: process.pid, startTime, bundle });
    await writeCrunStatus(crunRoot, 'plain-crun', { pid: process.pid, startTime, bundle });
    const { containers } = await discoverContainers(options, new PodmanNames(options.podmanContainersFile));
    expect(containers.map((report) => [report.id, report.names])).toEqual([
      ['abc', { runtime: 'runc' }],
      ['plain-crun', { runtime: 'crun' }],
    ]);
    expect(containers[0]!.annotations).toBeUndefined();
  });

  test('no runtime state at all gives an empty result', async () => {
    expect(await discoverContainers(options, new PodmanNames(undefined))).toEqual({ containers: [], problems: [] });
  });
});
