import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFixtures } from './__fixtures__/fixtures.js';
import { type LiveProcess, asNobody, runReader, sh, startProcess, startTimeByShell } from './__fixtures__/live.js';

describe('an unprivileged reader (setpriv as nobody)', () => {
  let rootOwned: LiveProcess;

  beforeAll(async () => {
    rootOwned = await startProcess('sleep', ['300']);
  });

  afterAll(async () => {
    await rootOwned.kill();
  });

  it('runs as nobody without capabilities', async () => {
    const result = await runReader(asNobody, 'readProcessIdentity', ['self']);
    expect(result.error).toBeUndefined();
    expect(result.value).toMatchObject({ uids: { real: 65534, effective: 65534 }, capabilities: { effective: '0' } });
    // Its own process is fully readable, exe and namespaces included.
    const own = await runReader(asNobody, 'readProcess', ['self']);
    expect(own.error).toBeUndefined();
    expect(own.value).toHaveProperty('identity.exe');
    expect(own.value).toHaveProperty('namespaces.mnt');
  });

  it("reads another user's identity with exe undefined, as readlink fails for it", async () => {
    const pid = rootOwned.pid;
    expect(sh(`setpriv --reuid=65534 --regid=65534 --clear-groups readlink /proc/${pid}/exe || echo denied`)).toBe('denied');
    const result = await runReader(asNobody, 'readProcessIdentity', [pid]);
    expect(result.error).toBeUndefined();
    expect(result.value).toMatchObject({ pid, comm: 'sleep', startTime: String(startTimeByShell(pid)), uids: { real: 0 } });
    expect(result.value).not.toHaveProperty('exe');
    // stat, status and cgroup are world-readable.
    const cgroup = await runReader(asNobody, 'readCgroup', [pid]);
    expect(cgroup.error).toBeUndefined();
  });

  it("gets a permission SystemError, not ProcessGoneError, for another user's namespaces", async () => {
    const pid = rootOwned.pid;
    expect(sh(`setpriv --reuid=65534 --regid=65534 --clear-groups stat -L /proc/${pid}/ns/mnt 2>&1 || true`)).toMatch(/Permission denied/);
    for (const call of ['readNamespaces', 'readProcess']) {
      const { error } = await runReader(asNobody, call, [pid]);
      expect(error, call).toMatchObject({ name: 'SystemError', code: 'ERR_SYSTEM', errno: 'EACCES', isPermission: true });
      expect(error?.message, call).toMatch(new RegExp(`^read namespaces of pid ${pid}: permission denied \\(/proc/${pid}/ns/[a-z]+\\)$`));
    }
  });

  it('gets a permission SystemError for an unreadable file in a fixture tree', async () => {
    await using copy = await copyFixtures();
    const status = join(copy.procRoot, '4242', 'status');
    await chmod(status, 0o000);
    const { error } = await runReader(asNobody, 'readProcessIdentity', [4242, { procRoot: copy.procRoot }]);
    expect(error).toMatchObject({ name: 'SystemError', errno: 'EACCES', isPermission: true, path: status });
    expect(error?.message).toBe(`read identity of pid 4242: permission denied (${status})`);
  });
});
