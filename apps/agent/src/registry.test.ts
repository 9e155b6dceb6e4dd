import { mkdir, mkdtemp, readFile, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { containerReportSchema, type ContainerReport } from '@bulwark/hook-client';
import { ContainerRegistry, type ContainerRecord } from './registry.js';

// The real atomic writer, wrapped only to count how many writes reach the disk.
const writes = vi.hoisted(() => ({ paths: [] as string[], kinds: [] as ('sync' | 'async')[] }));
vi.mock('@bulwark/oci-state', async (importOriginal) => {
  const original = await importOriginal<typeof import('@bulwark/oci-state')>();
  return {
    ...original,
    writeFileAtomic: async (...parameters: Parameters<typeof original.writeFileAtomic>) => {
      writes.paths.push(parameters[0]);
      writes.kinds.push('async');
      await original.writeFileAtomic(...parameters);
    },
    writeFileAtomicSync: (...parameters: Parameters<typeof original.writeFileAtomicSync>) => {
      writes.paths.push(parameters[0]);
      writes.kinds.push('sync');
      original.writeFileAtomicSync(...parameters);
    },
  };
});

interface ReportParts {
  readonly mnt?: number;
  readonly pidNamespace?: number;
  readonly pid?: number;
  readonly startTime?: string;
  readonly cgroupId?: string;
  readonly name?: string;
}

/** A wire-valid report; every identity part can be set or left out. */
function report(id: string, parts: ReportParts = {}): ContainerReport {
  const value: ContainerReport = {
    id,
    stage: 'poststart',
    status: 'running',
    bundle: `/run/bundles/${id}`,
    names: { runtime: 'podman', ...(parts.name === undefined ? {} : { name: parts.name }) },
  };
  if (parts.pid !== undefined) value.pid = parts.pid;
  if (parts.startTime !== undefined) value.process = { startTime: parts.startTime, comm: 'sleep' };
  if (parts.mnt !== undefined || parts.pidNamespace !== undefined) {
    value.namespaces = {
      ...(parts.mnt === undefined ? {} : { mnt: { device: 4, inode: parts.mnt } }),
      ...(parts.pidNamespace === undefined ? {} : { pid: { device: 4, inode: parts.pidNamespace } }),
    };
  }
  if (parts.cgroupId !== undefined) value.cgroup = { path: `/machine.slice/libpod-${id}.scope`, id: parts.cgroupId };
  // Guard the helper itself: a report the wire would refuse proves nothing.
  expect(containerReportSchema().safeParse(value).success).toBe(true);
  return value;
}

/** A clock the test moves by hand. */
function manualClock(start = '2026-11-22T10:00:00.000Z') {
  let current = new Date(start);
  return {
    now: () => current,
    advance(milliseconds: number) {
      current = new Date(current.getTime() + milliseconds);
    },
  };
}

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bulwark-registry-'));
  writes.paths.length = 0;
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function readPersisted(path: string): Promise<{ version: number; containers: ContainerRecord[] }> {
  return JSON.parse(await readFile(path, 'utf8')) as { version: number; containers: ContainerRecord[] };
}

describe('register', () => {
  test('a new id is created with both timestamps set to now', () => {
    const clock = manualClock();
    const registry = new ContainerRegistry({ now: clock.now });
    const result = registry.register(report('a'), 'hook');
    expect(result).toEqual({ created: true, evicted: [] });
    expect(registry.get('a')).toEqual({
      container: report('a'),
      source: 'hook',
      registeredAt: '2026-11-22T10:00:00.000Z',
      updatedAt: '2026-11-22T10:00:00.000Z',
    });
    expect(registry.size).toBe(1);
  });

  test('registering the same id again updates, keeping registeredAt and one record', () => {
    const clock = manualClock();
    const registry = new ContainerRegistry({ now: clock.now });
    registry.register(report('a', { pid: 10 }), 'hook');
    clock.advance(5000);
    const second = registry.register(report('a', { pid: 10 }), 'hook');
    expect(second).toEqual({ created: false, evicted: [] });
    expect(registry.size).toBe(1);
    expect(registry.list()).toHaveLength(1);
    const record = registry.get('a')!;
    expect(record.registeredAt).toBe('2026-11-22T10:00:00.000Z');
    expect(record.updatedAt).toBe('2026-11-22T10:00:05.000Z');
    expect(record.container).toEqual(report('a', { pid: 10 }));
  });

  test('a later report wins field by field and keeps what it does not know', () => {
    const registry = new ContainerRegistry();
    registry.register({ ...report('a', { name: 'web', pid: 10 }), config: { args: ['/bin/sleep'], rootfs: '/rootfs' } }, 'scan');
    registry.register({ ...report('a', { pid: 11 }), config: { noNewPrivileges: true } }, 'hook');
    const container = registry.get('a')!.container;
    expect(container.pid).toBe(11);
    expect(container.names).toEqual({ runtime: 'podman', name: 'web' });
    expect(container.config).toEqual({ args: ['/bin/sleep'], rootfs: '/rootfs', noNewPrivileges: true });
  });

  test('a record once seen by the hook stays a hook record; a scan record becomes one when the hook reports', () => {
    const registry = new ContainerRegistry();
    registry.register(report('hooked'), 'hook');
    registry.register(report('hooked'), 'scan');
    expect(registry.get('hooked')!.source).toBe('hook');

    registry.register(report('scanned'), 'scan');
    expect(registry.get('scanned')!.source).toBe('scan');
    registry.register(report('scanned'), 'hook');
    expect(registry.get('scanned')!.source).toBe('hook');
  });
});

describe('unregister', () => {
  test('removes a known id once; the second call returns false', () => {
    const registry = new ContainerRegistry();
    registry.register(report('a'), 'hook');
    registry.register(report('b'), 'hook');
    expect(registry.unregister('a')).toBe(true);
    expect(registry.get('a')).toBeUndefined();
    expect(registry.unregister('a')).toBe(false);
    expect(registry.unregister('never-seen')).toBe(false);
    expect(registry.list().map((record) => record.container.id)).toEqual(['b']);
  });
});

describe('namespace inode reuse', () => {
  const old = { mnt: 4026532001, pidNamespace: 4026532002, pid: 500, startTime: '1000', cgroupId: '7001' };

  test('a new container with the same namespace pair but another start time evicts the old record', () => {
    const registry = new ContainerRegistry();
    registry.register(report('old', old), 'hook');
    const result = registry.register(report('new', { ...old, startTime: '2000' }), 'hook');
    expect(result).toEqual({ created: true, evicted: ['old'] });
    expect(registry.get('old')).toBeUndefined();
    expect(registry.list().map((record) => record.container.id)).toEqual(['new']);
  });

  test('the same namespace pair with another cgroup id evicts the old record', () => {
    const registry = new ContainerRegistry();
    registry.register(report('old', old), 'hook');
    const result = registry.register(report('new', { ...old, cgroupId: '7002' }), 'hook');
    expect(result.evicted).toEqual(['old']);
    expect(registry.size).toBe(1);
  });

  test('the same start time under another pid is another process and evicts', () => {
    const registry = new ContainerRegistry();
    registry.register(report('old', old), 'hook');
    expect(registry.register(report('new', { ...old, pid: 501 }), 'hook').evicted).toEqual(['old']);
  });

  test('only records sharing both namespaces are evicted, and every such record is', () => {
    const registry = new ContainerRegistry();
    registry.register(report('old-1', old), 'hook');
    // The same process under a second id: it does not evict old-1 (see below), so both hold the pair.
    expect(registry.register(report('old-2', old), 'scan').evicted).toEqual([]);
    registry.register(report('same-mnt-only', { ...old, pidNamespace: 4026532999 }), 'hook');
    registry.register(report('same-pid-only', { ...old, mnt: 4026532998 }), 'hook');
    const result = registry.register(report('new', { ...old, startTime: '3000', pid: 700 }), 'hook');
    expect([...result.evicted].sort()).toEqual(['old-1', 'old-2']);
    expect(registry.list().map((record) => record.container.id).sort()).toEqual(['new', 'same-mnt-only', 'same-pid-only']);
  });

  test('the same pair, pid, start time and cgroup id under another id evicts nothing: both records are kept', () => {
    const registry = new ContainerRegistry();
    registry.register(report('first-id', old), 'hook');
    const result = registry.register(report('second-id', old), 'scan');
    expect(result).toEqual({ created: true, evicted: [] });
    expect(registry.list().map((record) => record.container.id).sort()).toEqual(['first-id', 'second-id']);
  });

  test('an identity part only one side knows does not count as a difference', () => {
    const registry = new ContainerRegistry();
    registry.register(report('old', { mnt: old.mnt, pidNamespace: old.pidNamespace }), 'hook');
    expect(registry.register(report('new', old), 'hook').evicted).toEqual([]);
    expect(registry.size).toBe(2);
  });

  test('a report without namespaces never evicts, whatever else differs', () => {
    const registry = new ContainerRegistry();
    registry.register(report('old', old), 'hook');
    const withoutNamespaces = report('new', { pid: 900, startTime: '9999', cgroupId: '1' });
    expect(registry.register(withoutNamespaces, 'hook').evicted).toEqual([]);
    const withOnlyMnt = report('new-2', { mnt: old.mnt, pid: 901, startTime: '9998' });
    expect(registry.register(withOnlyMnt, 'hook').evicted).toEqual([]);
    expect(registry.size).toBe(3);
  });

  test('a record without namespaces is never evicted', () => {
    const registry = new ContainerRegistry();
    registry.register(report('no-namespaces', { pid: old.pid, startTime: '1', cgroupId: '1' }), 'hook');
    expect(registry.register(report('new', old), 'hook').evicted).toEqual([]);
    expect(registry.get('no-namespaces')).toBeDefined();
  });

  test('re-registering the same id with a new incarnation updates it instead of evicting it', () => {
    const registry = new ContainerRegistry();
    registry.register(report('a', old), 'hook');
    const result = registry.register(report('a', { ...old, startTime: '2000' }), 'hook');
    expect(result).toEqual({ created: false, evicted: [] });
    expect(registry.get('a')!.container.process?.startTime).toBe('2000');
  });
});

describe('list', () => {
  test('is ordered by registeredAt, then id, and an update does not move a record', () => {
    const clock = manualClock();
    const registry = new ContainerRegistry({ now: clock.now });
    registry.register(report('c'), 'hook');
    registry.register(report('b'), 'hook');
    clock.advance(1000);
    registry.register(report('a'), 'hook');
    clock.advance(1000);
    registry.register(report('b'), 'scan');
    expect(registry.list().map((record) => record.container.id)).toEqual(['b', 'c', 'a']);
    // Same answer twice: the order does not depend on insertion history.
    expect(registry.list()).toEqual(registry.list());
  });
});

describe('prune', () => {
  test('keeps what the predicate keeps and returns the ids it dropped', async () => {
    const registry = new ContainerRegistry();
    for (const id of ['a', 'b', 'c', 'd']) registry.register(report(id, { pid: id.charCodeAt(0) }), 'hook');
    const asked: string[] = [];
    const dropped = await registry.prune(async (record) => {
      asked.push(record.container.id);
      await Promise.resolve();
      return record.container.id === 'a' || record.container.id === 'c';
    });
    expect(asked.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(dropped.sort()).toEqual(['b', 'd']);
    expect(registry.list().map((record) => record.container.id)).toEqual(['a', 'c']);
  });

  test('dropping nothing returns an empty list and changes nothing', async () => {
    const registry = new ContainerRegistry();
    registry.register(report('a'), 'hook');
    expect(await registry.prune(() => Promise.resolve(true))).toEqual([]);
    expect(registry.size).toBe(1);
  });

  test('a prune with drops is persisted; one without is not written', async () => {
    const statePath = join(directory, 'containers.json');
    const registry = new ContainerRegistry({ statePath });
    registry.register(report('a'), 'hook');
    registry.register(report('b'), 'hook');
    await registry.persist();
    expect(writes.paths).toHaveLength(1);

    await registry.prune(() => Promise.resolve(true));
    await registry.persist();
    expect(writes.paths).toHaveLength(1);

    await registry.prune((record) => Promise.resolve(record.container.id === 'a'));
    await registry.persist();
    expect(writes.paths).toHaveLength(2);
    expect((await readPersisted(statePath)).containers.map((record) => record.container.id)).toEqual(['a']);
  });
});

describe('persist and load', () => {
  test('on tmpfs the registry is written synchronously, elsewhere off the event loop', async () => {
    const memory = await mkdtemp('/dev/shm/bulwark-registry-');
    try {
      for (const [where, expected] of [
        [memory, 'sync'],
        [directory, (await statfs(directory)).type === 0x01021994 ? 'sync' : 'async'],
      ] as const) {
        writes.kinds.length = 0;
        const statePath = join(where, 'containers.json');
        const registry = new ContainerRegistry({ statePath });
        registry.register(report('a'), 'hook');
        await registry.persist();
        registry.register(report('b'), 'hook');
        await registry.persist();
        expect(writes.kinds, where).toEqual([expected, expected]);
        expect((await readPersisted(statePath)).containers.map((record) => record.container.id)).toEqual(['a', 'b']);
        expect((await stat(statePath)).mode & 0o777).toBe(0o600);
        expect(await readdir(where)).toEqual(['containers.json']);
      }
    } finally {
      await rm(memory, { recursive: true, force: true });
    }
  });

  test('without a state path persist writes nothing and load loads nothing', async () => {
    const registry = new ContainerRegistry();
    registry.register(report('a'), 'hook');
    await registry.persist();
    expect(writes.paths).toEqual([]);
    expect(await registry.load()).toEqual({ loaded: 0 });
    expect(registry.size).toBe(1);
  });

  test('a persisted registry loads back identically into a new registry', async () => {
    const statePath = join(directory, 'containers.json');
    const clock = manualClock();
    const registry = new ContainerRegistry({ statePath, now: clock.now });
    registry.register(report('b', { mnt: 1, pidNamespace: 2, pid: 30, startTime: '400', cgroupId: '50', name: 'web' }), 'hook');
    clock.advance(10);
    registry.register({ ...report('a'), annotations: { 'io.container.manager': 'libpod' }, config: { args: ['/bin/sh', '-c', 'sleep 1'] } }, 'scan');
    clock.advance(10);
    registry.register(report('b', { mnt: 1, pidNamespace: 2, pid: 30, startTime: '400', cgroupId: '50' }), 'hook');
    await registry.persist();

    const file = await readPersisted(statePath);
    expect(file.version).toBe(1);
    expect(file.containers).toEqual(registry.list());

    const restored = new ContainerRegistry({ statePath });
    expect(await restored.load()).toEqual({ loaded: 2 });
    expect(restored.list()).toEqual(registry.list());
    expect(restored.get('b')!.registeredAt).toBe('2026-11-22T10:00:00.000Z');
    expect(restored.get('b')!.updatedAt).toBe('2026-11-22T10:00:00.020Z');
  });

  test('the state file is written with mode 0600 and no temporary files are left behind', async () => {
    const statePath = join(directory, 'containers.json');
    const registry = new ContainerRegistry({ statePath });
    registry.register(report('a'), 'hook');
    await registry.persist();
    expect((await stat(statePath)).mode & 0o777).toBe(0o600);
    expect(await readdir(directory)).toEqual(['containers.json']);
  });

  test('persist resolves only after a write that contains the change', async () => {
    const statePath = join(directory, 'containers.json');
    const registry = new ContainerRegistry({ statePath });
    registry.register(report('a'), 'hook');
    const first = registry.persist();
    // 'b' arrives while the write holding only 'a' is under way.
    registry.register(report('b'), 'hook');
    const second = registry.persist();
    await second;
    expect((await readPersisted(statePath)).containers.map((record) => record.container.id)).toEqual(['a', 'b']);
    await first;

    registry.unregister('a');
    await registry.persist();
    expect((await readPersisted(statePath)).containers.map((record) => record.container.id)).toEqual(['b']);
  });

  test('50 concurrent register and persist calls all resolve, share a few writes, and leave all 50 on disk', async () => {
    const statePath = join(directory, 'containers.json');
    const registry = new ContainerRegistry({ statePath });
    const ids = Array.from({ length: 50 }, (_, index) => `container-${String(index).padStart(2, '0')}`);
    const results = await Promise.allSettled(
      ids.map((id) => {
        registry.register(report(id), 'hook');
        return registry.persist();
      }),
    );
    expect(results.every((result) => result.status === 'fulfilled')).toBe(true);
    // One write for the first change, one for the 49 that queued behind it.
    expect(writes.paths.length).toBeGreaterThanOrEqual(1);
    expect(writes.paths.length).toBeLessThanOrEqual(2);
    const stored = (await readPersisted(statePath)).containers.map((record) => record.container.id).sort();
    expect(stored).toEqual(ids);
    expect(await readdir(directory)).toEqual(['containers.json']);
  });

  test('persist after nothing changed does not write again', async () => {
    const statePath = join(directory, 'containers.json');
    const registry = new ContainerRegistry({ statePath });
    registry.register(report('a'), 'hook');
    await registry.persist();
    await registry.persist();
    expect(registry.unregister('missing')).toBe(false);
    await registry.persist();
    expect(writes.paths).toEqual([statePath]);
  });

  test('a freshly loaded registry is not written back until it changes', async () => {
    const statePath = join(directory, 'containers.json');
    const writer = new ContainerRegistry({ statePath });
    writer.register(report('a'), 'hook');
    await writer.persist();
    writes.paths.length = 0;

    const reader = new ContainerRegistry({ statePath });
    await reader.load();
    await reader.persist();
    expect(writes.paths).toEqual([]);
    reader.register(report('b'), 'scan');
    await reader.persist();
    expect(writes.paths).toEqual([statePath]);
  });

  test('a failed write rejects persist, and a later persist retries it', async () => {
    const statePath = join(directory, 'missing-directory', 'containers.json');
    const registry = new ContainerRegistry({ statePath });
    registry.register(report('a'), 'hook');
    await expect(registry.persist()).rejects.toMatchObject({ code: 'ERR_SYSTEM', errno: 'ENOENT' });

    await mkdir(join(directory, 'missing-directory'));
    await registry.persist();
    expect((await readPersisted(statePath)).containers.map((record) => record.container.id)).toEqual(['a']);
  });

  test('load of a missing file is an empty registry without a problem', async () => {
    const registry = new ContainerRegistry({ statePath: join(directory, 'absent.json') });
    expect(await registry.load()).toEqual({ loaded: 0 });
    expect(registry.size).toBe(0);
  });

  test.each([
    ['not json', '{"version": 1, "containers": ['],
    ['an empty file', ''],
    ['another version', JSON.stringify({ version: 2, containers: [] })],
    ['containers not a list', JSON.stringify({ version: 1, containers: {} })],
  ])('load of %s reports a problem, loads nothing, keeps the file as a backup and does not throw', async (_label, text) => {
    const statePath = join(directory, 'containers.json');
    await writeFile(statePath, text);
    const registry = new ContainerRegistry({ statePath });
    const result = await registry.load();
    expect(result.loaded).toBe(0);
    expect(result.problem).toMatch(new RegExp(`^load registry ${statePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .+`));
    expect(result.backup).toBe(`${statePath}.bak`);
    expect(await readFile(`${statePath}.bak`, 'utf8')).toBe(text);
    expect((await stat(`${statePath}.bak`)).mode & 0o777).toBe(0o600);
    expect(registry.size).toBe(0);
  });

  test('bad entries are dropped one by one with a line each, the rest restored, the old file kept as a backup before it is rewritten', async () => {
    const statePath = join(directory, 'containers.json');
    const good: ContainerRecord = { container: report('good'), source: 'hook', registeredAt: 't', updatedAt: 't' };
    const alsoGood: ContainerRecord = { container: report('also-good'), source: 'scan', registeredAt: 'u', updatedAt: 'u' };
    const badReport = { container: { ...report('bad'), pid: -4 }, source: 'hook', registeredAt: 't', updatedAt: 't' };
    const badSource = { container: report('guessed'), source: 'guess', registeredAt: 'x', updatedAt: 'x' };
    const text = JSON.stringify({ version: 1, containers: [good, badReport, alsoGood, badSource, 7] });
    await writeFile(statePath, text);
    const registry = new ContainerRegistry({ statePath });
    const result = await registry.load();
    expect(result).toEqual({
      loaded: 2,
      rejected: [
        `load registry ${statePath}: entry 1 (bad) container: pid: Too small: expected number to be >0`,
        `load registry ${statePath}: entry 3 (guessed): source: Invalid option: expected one of "hook"|"scan"`,
        `load registry ${statePath}: entry 4 container: Invalid input: expected object, received undefined`,
      ],
      backup: `${statePath}.bak`,
    });
    expect(registry.list().map((record) => record.container.id).sort()).toEqual(['also-good', 'good']);
    expect(await readFile(`${statePath}.bak`, 'utf8')).toBe(text);
    // The next write leaves the rejected entries out, and the backup as it was.
    await registry.persist();
    expect((await readPersisted(statePath)).containers.map((record) => record.container.id).sort()).toEqual(['also-good', 'good']);
    expect(await readFile(`${statePath}.bak`, 'utf8')).toBe(text);
  });

  test('not valid json is named in the problem', async () => {
    const statePath = join(directory, 'containers.json');
    await writeFile(statePath, 'garbage');
    expect((await new ContainerRegistry({ statePath }).load()).problem).toContain('not valid json');
  });

  test('load of a path that cannot be read as a file throws a SystemError', async () => {
    const registry = new ContainerRegistry({ statePath: directory });
    await expect(registry.load()).rejects.toMatchObject({ code: 'ERR_SYSTEM', errno: 'EISDIR', path: directory });
  });
});
