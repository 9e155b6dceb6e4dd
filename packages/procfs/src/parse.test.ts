import { ValidationError } from '@bulwark/errors';
import { describe, expect, it } from 'vitest';
import {
  parseCgroupFile,
  parseLsmLabel,
  parseMountRoot,
  parseNamespaceLink,
  parseProcStat,
  parseProcStatus,
  pathUnderMountRoot,
} from './parse.js';

const kernelTail = '0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0';

describe('parseProcStat', () => {
  it('splits comm at the last parenthesis, so spaces and ")" in comm do not shift fields', () => {
    const text = `4242 (a) b (c)) S 4200 4242 4242 0 -1 4194560 2011 0 0 0 12 5 0 0 20 0 1 0 987654 19087360 2520 ${kernelTail}\n`;
    expect(parseProcStat(text, 'stat')).toEqual({ pid: 4242, comm: 'a) b (c)', state: 'S', ppid: 4200, startTime: 987654n });
  });

  it('keeps a comm that is only ")" or empty', () => {
    expect(parseProcStat('9 ()) R 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0 0', 'stat').comm).toBe(')');
    expect(parseProcStat('9 () R 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0 0', 'stat').comm).toBe('');
  });

  it('reads start times beyond 2^53 exactly', () => {
    const text = '7 (x) S 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 18446744073709551615 0 0';
    expect(parseProcStat(text, 'stat').startTime).toBe(18446744073709551615n);
  });

  it('rejects truncated or malformed lines with a ValidationError naming the field', () => {
    expect(() => parseProcStat('42 (sleep) S 1 2 3', '/proc/42/stat')).toThrow(ValidationError);
    expect(() => parseProcStat('42 (sleep) S 1 2 3', '/proc/42/stat')).toThrow(
      '/proc/42/stat: starttime (field 22): expected a decimal number, got ""',
    );
    expect(() => parseProcStat('garbage', 'stat')).toThrow('stat: expected "pid (comm) state ..."');
    expect(() => parseProcStat('x (a) S 1', 'stat')).toThrow('pid (field 1)');
  });
});

const status = (extra: Record<string, string> = {}, drop: string[] = []): string => {
  const fields: Record<string, string> = {
    Name: 'sleep',
    PPid: '17',
    Uid: '1000\t1001\t1002\t1003',
    Gid: '2000\t2001\t2002\t2003',
    CapInh: '0000000000000000',
    CapPrm: '00000000a80425fb',
    CapEff: '00000000a80425fb',
    CapBnd: '000001ffffffffff',
    CapAmb: '0000000000000400',
    NoNewPrivs: '1',
    Seccomp: '2',
    ...extra,
  };
  return Object.entries(fields)
    .filter(([key]) => !drop.includes(key))
    .map(([key, value]) => `${key}:\t${value}\n`)
    .join('');
};

describe('parseProcStatus', () => {
  it('reads ids, capability masks, no_new_privs and seccomp', () => {
    expect(parseProcStatus(status(), 'status')).toEqual({
      ppid: 17,
      uids: { real: 1000, effective: 1001, saved: 1002, filesystem: 1003 },
      gids: { real: 2000, effective: 2001, saved: 2002, filesystem: 2003 },
      capabilities: { inheritable: 0n, permitted: 0xa80425fbn, effective: 0xa80425fbn, bounding: 0x1ffffffffffn, ambient: 0x400n },
      noNewPrivs: true,
      seccomp: 'filter',
    });
    expect(parseProcStatus(status({ Seccomp: '1' }), 'status').seccomp).toBe('strict');
    expect(parseProcStatus(status({ Seccomp: '0', NoNewPrivs: '0' }), 'status')).toMatchObject({ seccomp: 'disabled', noNewPrivs: false });
  });

  it('defaults the fields older kernels do not print', () => {
    const parsed = parseProcStatus(status({}, ['CapAmb', 'NoNewPrivs', 'Seccomp']), 'status');
    expect(parsed.capabilities.ambient).toBe(0n);
    expect(parsed.noNewPrivs).toBe(false);
    expect(parsed.seccomp).toBe('disabled');
  });

  it('names the file, line and field of a bad value', () => {
    expect(() => parseProcStatus(status({ Uid: '0\t0\t0' }), '/proc/5/status')).toThrow(
      '/proc/5/status: line 3 Uid: expected four decimal ids, got "0\t0\t0"',
    );
    expect(() => parseProcStatus(status({}, ['Gid']), '/proc/5/status')).toThrow('/proc/5/status: Gid: missing');
    expect(() => parseProcStatus(status({ CapEff: 'zz' }), 's')).toThrow('CapEff: expected a hexadecimal mask');
    expect(() => parseProcStatus(status({ Seccomp: '3' }), 's')).toThrow('Seccomp: expected 0, 1 or 2, got "3"');
    expect(() => parseProcStatus(status({ NoNewPrivs: 'yes' }), 's')).toThrow('NoNewPrivs: expected 0 or 1');
  });
});

describe('parseCgroupFile', () => {
  it('reads a v2-only file', () => {
    expect(parseCgroupFile('0::/system.slice/docker-1.scope\n', 'cgroup')).toEqual({
      v2Path: '/system.slice/docker-1.scope',
      v1: {},
      layout: 'v2',
    });
  });

  it('reads a hybrid file, keeping each v1 controller list as the kernel prints it', () => {
    const text = '9:cpu,cpuacct:/x\n1:name=systemd:/init.scope\n4:memory:/process_api/aa1d\n0::/\n';
    expect(parseCgroupFile(text, 'cgroup')).toEqual({
      v2Path: '/',
      v1: { 'cpu,cpuacct': '/x', 'name=systemd': '/init.scope', memory: '/process_api/aa1d' },
      layout: 'hybrid',
    });
  });

  it('reads a v1-only file (cgroup2 never mounted)', () => {
    expect(parseCgroupFile('2:memory:/a\n1:name=systemd:/\n', 'cgroup')).toEqual({
      v2Path: undefined,
      v1: { memory: '/a', 'name=systemd': '/' },
      layout: 'v1',
    });
  });

  it('keeps colons and spaces inside paths, and paths outside the cgroup namespace', () => {
    expect(parseCgroupFile('0::/a:b/c d\n', 'cgroup').v2Path).toBe('/a:b/c d');
    expect(parseCgroupFile('0::/../../sibling\n', 'cgroup').v2Path).toBe('/../../sibling');
  });

  it('rejects malformed lines and empty files', () => {
    expect(() => parseCgroupFile('0::/\nnonsense\n', '/proc/1/cgroup')).toThrow(
      '/proc/1/cgroup: line 2: expected "hierarchy:controllers:path", got "nonsense"',
    );
    expect(() => parseCgroupFile('x:memory:/\n', 'c')).toThrow('line 1 hierarchy: expected a decimal id');
    expect(() => parseCgroupFile('3::/\n', 'c')).toThrow('expected a controller list for hierarchy 3');
    expect(() => parseCgroupFile('0:memory:/\n', 'c')).toThrow('expected none for hierarchy 0');
    expect(() => parseCgroupFile('0::relative\n', 'c')).toThrow('expected a path starting with /');
    expect(() => parseCgroupFile('', 'c')).toThrow('c: expected at least one cgroup line');
  });
});

describe('parseLsmLabel', () => {
  it('strips trailing NULs and newlines', () => {
    expect(parseLsmLabel('system_u:system_r:container_t:s0:c1,c2\0')).toBe('system_u:system_r:container_t:s0:c1,c2');
    expect(parseLsmLabel('docker-default (enforce)\n')).toBe('docker-default (enforce)');
    expect(parseLsmLabel('unconfined\n\0')).toBe('unconfined');
  });

  it('gives undefined for an empty label', () => {
    expect(parseLsmLabel('')).toBeUndefined();
    expect(parseLsmLabel('\0\n')).toBeUndefined();
  });
});

describe('parseNamespaceLink', () => {
  it('reads the inode of a link of the expected type only', () => {
    expect(parseNamespaceLink('mnt:[4026531840]', 'mnt')).toBe(4026531840);
    expect(parseNamespaceLink('pid:[4026531836]', 'mnt')).toBeUndefined();
    expect(parseNamespaceLink('/usr/bin/env', 'mnt')).toBeUndefined();
  });
});

describe('parseMountRoot', () => {
  const mountinfo = [
    '25 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
    '31 25 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755',
    '41 31 0:38 /.. /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw',
    '42 31 0:39 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory',
    '90 25 0:38 /kubepods /var/lib/my\\040cgroups rw,relatime - cgroup2 cgroup2 rw',
  ].join('\n');

  it('finds the root of a cgroup2 mount, unescaping paths', () => {
    expect(parseMountRoot(mountinfo, '/sys/fs/cgroup/unified', 'cgroup2')).toBe('/..');
    expect(parseMountRoot(mountinfo, '/var/lib/my cgroups', 'cgroup2')).toBe('/kubepods');
  });

  it('ignores other filesystem types and unknown mount points', () => {
    expect(parseMountRoot(mountinfo, '/sys/fs/cgroup/memory', 'cgroup2')).toBeUndefined();
    expect(parseMountRoot(mountinfo, '/sys/fs/cgroup', 'cgroup2')).toBeUndefined();
  });

  it('takes the topmost of stacked mounts', () => {
    const stacked = `${mountinfo}\n50 41 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw`;
    expect(parseMountRoot(stacked, '/sys/fs/cgroup/unified', 'cgroup2')).toBe('/');
  });
});

describe('pathUnderMountRoot', () => {
  it('maps a cgroup path to a path under the mount', () => {
    expect(pathUnderMountRoot('/a/b', '/')).toBe('/a/b');
    expect(pathUnderMountRoot('/kubepods/pod1', '/kubepods')).toBe('/pod1');
    expect(pathUnderMountRoot('/kubepods', '/kubepods/')).toBe('/');
  });

  it('refuses paths the mount does not show', () => {
    expect(pathUnderMountRoot('/../sibling', '/')).toBeUndefined();
    expect(pathUnderMountRoot('/', '/..')).toBeUndefined();
    expect(pathUnderMountRoot('/kubepodsx', '/kubepods')).toBeUndefined();
  });
});
