import { describe, expect, it } from 'vitest';
import { NotSupportedError } from '@bulwark/errors';
import { caught } from './__fixtures__/caught.js';
import {
  BPF_FS_MAGIC,
  SECURITYFS_MAGIC,
  SYSFS_MAGIC,
  probeBpfLsm,
  probeBpffs,
  probeBtf,
  probeEnforcement,
  probeLibbpf,
  toNotSupportedError,
  type ProbeFileAccess,
  type SystemProbe,
} from './probes.js';

const TMPFS_MAGIC = 0x01021994;

interface FakeSystem {
  /** File contents by path. */
  readonly files?: Record<string, string>;
  /** File sizes by path (for stat). */
  readonly sizes?: Record<string, number>;
  /** The file system type of each path that exists (directories included). */
  readonly types?: Record<string, number>;
  /** Paths whose every access fails with this errno. */
  readonly errors?: Record<string, string>;
  readonly release?: string;
}

function errnoError(code: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${path}`), { code, path });
}

/** A table of the probes' calls over a described system, counting the calls. */
function fakeFiles(system: FakeSystem): ProbeFileAccess & { calls: string[] } {
  const calls: string[] = [];
  const fail = (path: string) => {
    const code = system.errors?.[path];
    if (code !== undefined) throw errnoError(code, path);
  };
  const lookUp = <T>(table: Record<string, T> | undefined, path: string): T => {
    fail(path);
    const value = table?.[path];
    if (value === undefined) throw errnoError('ENOENT', path);
    return value;
  };
  return {
    calls,
    readFile: (path) => (calls.push(`read ${path}`), lookUp(system.files, path)),
    fileSize: (path) => (calls.push(`stat ${path}`), lookUp(system.sizes, path)),
    fileSystemType: (path) => (calls.push(`statfs ${path}`), lookUp(system.types, path)),
    kernelRelease: () => system.release ?? '6.1.0-57-amd64',
  };
}

const securityfs = { '/sys/kernel/security': SECURITYFS_MAGIC };

describe('probeBpfLsm', () => {
  it('is supported when the lsm list has bpf', () => {
    const files = fakeFiles({ files: { '/sys/kernel/security/lsm': 'lockdown,capability,landlock,yama,apparmor,bpf\n' } });
    expect(probeBpfLsm({ files })).toEqual({ name: 'bpf lsm', status: 'supported', detail: 'active lsms: lockdown,capability,landlock,yama,apparmor,bpf' });
  });

  it('says how to boot with bpf when the kernel has CONFIG_BPF_LSM or its config is unknown', () => {
    const lsm = { '/sys/kernel/security/lsm': 'lockdown,capability,landlock' };
    const unknownConfig = fakeFiles({ files: lsm });
    expect(probeBpfLsm({ files: unknownConfig })).toEqual({
      name: 'bpf lsm',
      status: 'unsupported',
      reason: 'config',
      detail: 'bpf lsm not active: /sys/kernel/security/lsm lacks bpf (lockdown,capability,landlock); boot with lsm=lockdown,capability,landlock,bpf',
    });
    expect(unknownConfig.calls).toEqual(['read /sys/kernel/security/lsm', 'read /boot/config-6.1.0-57-amd64']);
    const built = fakeFiles({ files: { ...lsm, '/boot/config-6.1.0-57-amd64': 'CONFIG_SECURITY=y\nCONFIG_BPF_LSM=y\n' } });
    expect(probeBpfLsm({ files: built })).toMatchObject({ status: 'unsupported', reason: 'config', detail: expect.stringMatching(/; boot with lsm=lockdown,capability,landlock,bpf$/) });
  });

  it('blames the kernel when its config says CONFIG_BPF_LSM is not set', () => {
    const files = fakeFiles({
      release: '6.8.0-1-generic',
      files: { '/sys/kernel/security/lsm': 'capability,apparmor', '/boot/config-6.8.0-1-generic': '# CONFIG_BPF_LSM is not set\n' },
    });
    expect(probeBpfLsm({ files })).toEqual({
      name: 'bpf lsm',
      status: 'unsupported',
      reason: 'kernel',
      detail: 'bpf lsm not active: /sys/kernel/security/lsm lacks bpf (capability,apparmor); the kernel is built without CONFIG_BPF_LSM (/boot/config-6.8.0-1-generic)',
    });
  });

  it('is inconclusive without securityfs, and unsupported when securityfs has no lsm file', () => {
    expect(probeBpfLsm({ files: fakeFiles({ types: { '/sys/kernel/security': SYSFS_MAGIC } }) })).toEqual({
      name: 'bpf lsm',
      status: 'inconclusive',
      detail: 'securityfs not mounted at /sys/kernel/security (mount -t securityfs securityfs /sys/kernel/security)',
    });
    expect(probeBpfLsm({ files: fakeFiles({ types: securityfs }) })).toMatchObject({ status: 'unsupported', reason: 'kernel', detail: expect.stringContaining('CONFIG_SECURITY') });
    expect(probeBpfLsm({ files: fakeFiles({ errors: { '/sys/kernel/security/lsm': 'EIO' } }) })).toMatchObject({ status: 'inconclusive', detail: expect.stringMatching(/^\/sys\/kernel\/security\/lsm: EIO/) });
  });

  it('throws a permission error, never unsupported', () => {
    const error = caught(() => probeBpfLsm({ files: fakeFiles({ errors: { '/sys/kernel/security/lsm': 'EACCES' } }) }));
    expect(error).toMatchObject({ code: 'ERR_SYSTEM', errno: 'EACCES', isPermission: true, message: 'probe bpf lsm: permission denied (/sys/kernel/security/lsm)' });
    const onConfig = caught(() => probeBpfLsm({ files: fakeFiles({ files: { '/sys/kernel/security/lsm': 'capability' }, errors: { '/boot/config-6.1.0-57-amd64': 'EPERM' } }) }));
    expect(onConfig).toMatchObject({ errno: 'EPERM', path: '/boot/config-6.1.0-57-amd64' });
  });

  it('caches conclusive answers per file table, not inconclusive ones', () => {
    const supported = fakeFiles({ files: { '/sys/kernel/security/lsm': 'bpf' } });
    probeBpfLsm({ files: supported });
    probeBpfLsm({ files: supported });
    expect(supported.calls).toEqual(['read /sys/kernel/security/lsm']);
    const inconclusive = fakeFiles({ errors: { '/sys/kernel/security/lsm': 'EIO' } });
    probeBpfLsm({ files: inconclusive });
    probeBpfLsm({ files: inconclusive });
    expect(inconclusive.calls).toEqual(['read /sys/kernel/security/lsm', 'read /sys/kernel/security/lsm']);
  });
});

describe('probeBtf', () => {
  it('is supported with vmlinux BTF, unsupported (kernel) without it on sysfs, inconclusive without sysfs', () => {
    expect(probeBtf({ files: fakeFiles({ sizes: { '/sys/kernel/btf/vmlinux': 5_242_880 } }) })).toEqual({ name: 'btf', status: 'supported', detail: '/sys/kernel/btf/vmlinux (5242880 bytes)' });
    expect(probeBtf({ files: fakeFiles({ types: { '/sys': SYSFS_MAGIC } }) })).toEqual({
      name: 'btf',
      status: 'unsupported',
      reason: 'kernel',
      detail: '/sys/kernel/btf/vmlinux missing: the kernel is built without BTF (CONFIG_DEBUG_INFO_BTF)',
    });
    expect(probeBtf({ files: fakeFiles({ types: { '/sys': TMPFS_MAGIC } }) })).toMatchObject({ status: 'inconclusive', detail: 'sysfs not mounted at /sys (mount -t sysfs sysfs /sys)' });
    expect(caught(() => probeBtf({ files: fakeFiles({ errors: { '/sys/kernel/btf/vmlinux': 'EACCES' } }) }))).toMatchObject({ isPermission: true, message: 'probe btf: permission denied (/sys/kernel/btf/vmlinux)' });
  });
});

describe('probeBpffs', () => {
  it('is supported when the directory, or its nearest existing parent, is on bpffs', () => {
    const files = fakeFiles({ types: { '/sys/fs/bpf': BPF_FS_MAGIC, '/sys/fs': SYSFS_MAGIC } });
    expect(probeBpffs('/sys/fs/bpf', { files })).toEqual({ name: 'bpffs', status: 'supported', detail: '/sys/fs/bpf is on a bpf file system' });
    expect(probeBpffs('/sys/fs/bpf/bulwark/', { files })).toEqual({
      name: 'bpffs',
      status: 'supported',
      detail: '/sys/fs/bpf/bulwark (not made yet; its parent /sys/fs/bpf) is on a bpf file system',
    });
  });

  it('names the file system it found instead and the mount that is missing', () => {
    const files = fakeFiles({ types: { '/sys/fs/bpf': SYSFS_MAGIC, '/srv': 0x12345678 } });
    expect(probeBpffs('/sys/fs/bpf/bulwark', { files })).toEqual({
      name: 'bpffs',
      status: 'unsupported',
      reason: 'config',
      detail: 'no bpf file system at /sys/fs/bpf/bulwark (not made yet; its parent /sys/fs/bpf): it is on sysfs (mount -t bpf bpf /sys/fs/bpf)',
    });
    expect(probeBpffs('/srv', { files })).toMatchObject({ detail: 'no bpf file system at /srv: it is on file system type 0x12345678 (mount -t bpf bpf /srv)' });
  });

  it('is not cached (a mount may come), throws permission errors and refuses a relative path', () => {
    const files = fakeFiles({ types: { '/sys/fs/bpf': BPF_FS_MAGIC } });
    probeBpffs(undefined, { files });
    probeBpffs(undefined, { files });
    expect(files.calls).toEqual(['statfs /sys/fs/bpf', 'statfs /sys/fs/bpf']);
    expect(caught(() => probeBpffs('/x', { files: fakeFiles({ errors: { '/x': 'EACCES' } }) }))).toMatchObject({ message: 'probe bpffs: permission denied (/x)' });
    expect(probeBpffs('/x', { files: fakeFiles({ errors: { '/x': 'ELOOP' } }) })).toMatchObject({ status: 'inconclusive', detail: expect.stringMatching(/^\/x: ELOOP/) });
    expect(caught(() => probeBpffs('sys/fs/bpf', { files }))).toMatchObject({ code: 'ERR_VALIDATION', message: 'probe bpffs: directory: expected an absolute path, got sys/fs/bpf' });
  });
});

describe('probeLibbpf', () => {
  it('reports the version, a NotSupportedError as unsupported with its reason, anything else as inconclusive', () => {
    expect(probeLibbpf({ load: () => ({ version: { major: 1, minor: 1 } }) })).toEqual({ name: 'libbpf', status: 'supported', detail: 'libbpf 1.1' });
    const missing = () => {
      throw new NotSupportedError('libbpf', 'config', 'libbpf.so.1 not found (apt-get install libbpf1)');
    };
    expect(probeLibbpf({ load: missing })).toEqual({ name: 'libbpf', status: 'unsupported', reason: 'config', detail: 'libbpf.so.1 not found (apt-get install libbpf1)' });
    const broken = () => {
      throw new Error('koffi: something odd');
    };
    expect(probeLibbpf({ load: broken })).toEqual({ name: 'libbpf', status: 'inconclusive', detail: 'koffi: something odd' });
  });
});

describe('probeEnforcement', () => {
  const ready: FakeSystem = {
    files: { '/sys/kernel/security/lsm': 'lockdown,capability,bpf' },
    sizes: { '/sys/kernel/btf/vmlinux': 1000 },
    types: { '/sys/fs/bpf': BPF_FS_MAGIC },
  };
  const libbpf = () => ({ version: { major: 1, minor: 4 } });

  it('is supported when every probe is, and lists them in order', () => {
    const report = probeEnforcement({ files: fakeFiles(ready), load: libbpf, pinDirectory: '/sys/fs/bpf/bulwark' });
    expect(report.status).toBe('supported');
    expect(report.probes.map((probe) => [probe.name, probe.status])).toEqual([
      ['bpf lsm', 'supported'],
      ['btf', 'supported'],
      ['bpffs', 'supported'],
      ['libbpf', 'supported'],
    ]);
  });

  it('is unsupported when any probe is, before inconclusive, and turns a refusal into a NotSupportedError', () => {
    const noLsm = probeEnforcement({ files: fakeFiles({ ...ready, files: { '/sys/kernel/security/lsm': 'capability' }, errors: { '/sys/fs/bpf': 'EIO' } }), load: libbpf });
    expect(noLsm.status).toBe('unsupported');
    expect(noLsm.probes.map((probe) => probe.status)).toEqual(['unsupported', 'supported', 'inconclusive', 'supported']);
    const refusal = noLsm.probes[0] as Extract<SystemProbe, { status: 'unsupported' }>;
    expect(toNotSupportedError(refusal)).toMatchObject({
      code: 'ERR_NOT_SUPPORTED',
      feature: 'bpf lsm',
      reason: 'config',
      message: 'bpf lsm not supported: bpf lsm not active: /sys/kernel/security/lsm lacks bpf (capability); boot with lsm=capability,bpf',
    });
    const unsure = probeEnforcement({ files: fakeFiles({ ...ready, errors: { '/sys/fs/bpf': 'EIO' } }), load: libbpf });
    expect(unsure.status).toBe('inconclusive');
  });
});
