import { describe, expect, it } from 'vitest';
import { expandSlice, resolveCgroupsPath } from './cgroups-path.js';

const id = '9a8b7c6d5e4f';

describe('resolveCgroupsPath: cgroupfs', () => {
  it('keeps an absolute path', () => {
    expect(resolveCgroupsPath('/libpod_parent/libpod-abc', id)).toBe('/libpod_parent/libpod-abc');
  });

  it('roots a relative path', () => {
    expect(resolveCgroupsPath('kubepods/besteffort/pod1/abc', id)).toBe('/kubepods/besteffort/pod1/abc');
  });

  it('collapses repeated and trailing slashes', () => {
    expect(resolveCgroupsPath('//a///b/', id)).toBe('/a/b');
    expect(resolveCgroupsPath('/', id)).toBe('/');
  });

  it('defaults to /<container id>, as runc does with the cgroupfs driver', () => {
    expect(resolveCgroupsPath(undefined, id)).toBe(`/${id}`);
    expect(resolveCgroupsPath('', id)).toBe(`/${id}`);
  });

  it('treats colons with slashes as a path', () => {
    expect(resolveCgroupsPath('/a:b:c/d', id)).toBe('/a:b:c/d');
  });

  it('rejects . and .. components', () => {
    expect(() => resolveCgroupsPath('/a/../../etc', id)).toThrow("cgroupsPath: resolve cgroups path: '..' components are not allowed");
    expect(() => resolveCgroupsPath('a/./b', id)).toThrow(/'\.' components/u);
  });

  it('rejects NUL characters', () => {
    expect(() => resolveCgroupsPath('/a\0b', id)).toThrow(/NUL/u);
  });

  it('rejects an unusable container id for the default', () => {
    expect(() => resolveCgroupsPath(undefined, '')).toThrow(/invalid container id/u);
    expect(() => resolveCgroupsPath(undefined, '../x')).toThrow(/invalid container id/u);
  });

  it('reads a slice-like value as a path when told the driver is cgroupfs', () => {
    expect(resolveCgroupsPath('system.slice:docker:abc', id, { driver: 'cgroupfs' })).toBe('/system.slice:docker:abc');
  });
});

describe('resolveCgroupsPath: systemd', () => {
  it('places a scope under a top-level slice', () => {
    expect(resolveCgroupsPath('system.slice:docker:abc', id)).toBe('/system.slice/docker-abc.scope');
  });

  it('expands a nested slice by its dashes', () => {
    expect(resolveCgroupsPath('machine-abc.slice:libpod:123', id)).toBe('/machine.slice/machine-abc.slice/libpod-123.scope');
  });

  it('resolves a CRI-O Kubernetes pod container', () => {
    const slice = 'kubepods-besteffort-pod6f1d9a53_5c2e_4f7b_9f43_2d3c1b0a9e87.slice';
    expect(resolveCgroupsPath(`${slice}:crio:${id}`, 'ignored')).toBe(
      `/kubepods.slice/kubepods-besteffort.slice/${slice}/crio-${id}.scope`,
    );
  });

  it('puts -.slice and - at the root', () => {
    expect(resolveCgroupsPath('-.slice:runc:abc', id)).toBe('/runc-abc.scope');
    expect(resolveCgroupsPath('-:runc:abc', id)).toBe('/runc-abc.scope');
  });

  it('uses system.slice for an empty slice, as runc does', () => {
    expect(resolveCgroupsPath(':runc:abc', id)).toBe('/system.slice/runc-abc.scope');
    expect(resolveCgroupsPath(':runc:abc', id, { defaultSlice: 'user.slice' })).toBe('/user.slice/runc-abc.scope');
    expect(resolveCgroupsPath(':runc:abc', id, { defaultSlice: '-.slice' })).toBe('/runc-abc.scope');
  });

  it('uses a name ending in .slice as the unit itself', () => {
    expect(resolveCgroupsPath('machine.slice:ignored:tenant.slice', id)).toBe('/machine.slice/tenant.slice');
  });

  it('keeps runc naming with an empty prefix', () => {
    expect(resolveCgroupsPath('system.slice::abc', id)).toBe('/system.slice/-abc.scope');
  });

  it('defaults to :runc:<container id> with the systemd driver', () => {
    expect(resolveCgroupsPath(undefined, id, { driver: 'systemd' })).toBe(`/system.slice/runc-${id}.scope`);
  });

  it('rejects malformed slices', () => {
    for (const slice of ['system', 'a--b.slice', '-a.slice', '.slice', 'a-.slice']) {
      expect(() => resolveCgroupsPath(`${slice}:p:n`, id), slice).toThrow(/invalid slice name/u);
    }
  });

  it('rejects a missing name or a wrong shape', () => {
    expect(() => resolveCgroupsPath('system.slice:p:', id)).toThrow(/missing unit name/u);
    expect(() => resolveCgroupsPath('a:b', id, { driver: 'systemd' })).toThrow(/expected slice:prefix:name/u);
    expect(() => resolveCgroupsPath('system.slice:p:..', id)).toThrow(/invalid unit name/u);
  });

  it('rejects slashes in the parts', () => {
    expect(() => resolveCgroupsPath('a.slice/b.slice:p:n', id, { driver: 'systemd' })).toThrow(/expected slice:prefix:name|invalid slice/u);
    expect(() => resolveCgroupsPath('system.slice:p/q:n', id, { driver: 'systemd' })).toThrow(/must not contain '\/'/u);
  });
});

describe('expandSlice', () => {
  it('expands as systemd does', () => {
    expect(expandSlice('system.slice')).toBe('/system.slice');
    expect(expandSlice('test-a-b.slice')).toBe('/test.slice/test-a.slice/test-a-b.slice');
    expect(expandSlice('-.slice')).toBe('/');
  });
});
