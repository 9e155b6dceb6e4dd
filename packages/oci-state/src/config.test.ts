import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig, readConfig } from './config.js';

const fixture = (name: string) => readFileSync(new URL(`__fixtures__/${name}`, import.meta.url), 'utf8');

describe('parseConfig', () => {
  it('reads the config podman wrote for podman run', () => {
    const config = parseConfig(fixture('podman-run.config.json'));
    expect(config.process?.args).toEqual(['/bin/true']);
    expect(config.linux?.cgroupsPath).toMatch(/^\/libpod_parent\/libpod-[0-9a-f]{64}$/u);
    expect(config.linux?.namespaces?.map((namespace) => namespace.type)).toContain('pid');
    expect(config.hooks?.createRuntime?.[0]?.path).toBe('/tmp/podtest/dump.sh');
  });

  it('reads the config podman wrote for a kube play pod container', () => {
    const config = parseConfig(fixture('podman-kube.config.json'));
    expect(config.annotations?.['io.kubernetes.cri-o.SandboxID']).toMatch(/^[0-9a-f]{64}$/u);
    expect(config.linux?.namespaces?.find((namespace) => namespace.type === 'network')?.path).toMatch(/^\/proc\/\d+\/ns\/net$/u);
  });

  it('reads a runc spec bundle config', () => {
    const config = parseConfig(fixture('runc.config.json'));
    expect(config.process?.user).toEqual({ uid: 0, gid: 0 });
    expect(config.process?.capabilities?.bounding).toContain('CAP_KILL');
    expect(config.root).toEqual({ path: 'rootfs', readonly: true });
  });

  it('keeps unknown fields at every level', () => {
    const config = parseConfig(
      JSON.stringify({
        ociVersion: '1.2.0',
        'org.example': 1,
        process: { cwd: '/', future: true, user: { uid: 0, gid: 0, extra: 'x' } },
        linux: { namespaces: [{ type: 'pid', flags: 3 }], newSection: {} },
      }),
    );
    expect(config['org.example']).toBe(1);
    expect(config.process?.future).toBe(true);
    expect(config.process?.user?.extra).toBe('x');
    expect(config.linux?.namespaces?.[0]?.flags).toBe(3);
    expect(config.linux?.newSection).toEqual({});
  });

  it('accepts RLIM_INFINITY', () => {
    const text = '{"ociVersion":"1.0.0","process":{"cwd":"/","rlimits":[{"type":"RLIMIT_NOFILE","soft":18446744073709551615,"hard":18446744073709551615}]}}';
    expect(parseConfig(text).process?.rlimits?.[0]?.type).toBe('RLIMIT_NOFILE');
  });

  it('lists every issue with its line', () => {
    const text = '{\n  "ociVersion": "1.0.0",\n  "process": {\n    "cwd": "/",\n    "args": ["sh", 5],\n    "user": {"uid": -1}\n  }\n}';
    try {
      parseConfig(text, '/bundle/config.json');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({
        code: 'ERR_VALIDATION',
        source: '/bundle/config.json',
        issues: [
          { path: 'process.args.1', line: 5, message: 'expected string, received number' },
          { path: 'process.user.uid', line: 6, message: 'expected an integer from 0 to 4294967295' },
        ],
      });
    }
  });
});

describe('readConfig', () => {
  let bundle: string;

  beforeEach(async () => {
    bundle = await mkdtemp(join(tmpdir(), 'bulwark-bundle-'));
  });

  afterEach(async () => {
    await rm(bundle, { recursive: true, force: true });
  });

  it('reads config.json from a bundle', async () => {
    await writeFile(join(bundle, 'config.json'), fixture('runc.config.json'));
    expect((await readConfig(bundle)).ociVersion).toBe('1.0.2-dev');
  });

  it('throws a SystemError when config.json is missing', async () => {
    await expect(readConfig(bundle)).rejects.toMatchObject({
      code: 'ERR_SYSTEM',
      errno: 'ENOENT',
      operation: 'read config',
      path: join(bundle, 'config.json'),
      message: `read config: no such file or directory (${join(bundle, 'config.json')})`,
    });
  });

  it('throws a SystemError when config.json is a directory', async () => {
    await mkdir(join(bundle, 'config.json'));
    await expect(readConfig(bundle)).rejects.toMatchObject({ code: 'ERR_SYSTEM', errno: 'EISDIR' });
  });

  it('throws a SystemError with EACCES when config.json cannot be read', async () => {
    await writeFile(join(bundle, 'config.json'), '{}');
    await chmod(join(bundle, 'config.json'), 0o000);
    // Root reads any file whatever its mode: read as nobody so the kernel checks it.
    const root = process.getuid?.() === 0;
    if (root) {
      process.setegid!(65534);
      process.seteuid!(65534);
    }
    try {
      await expect(readConfig(bundle)).rejects.toMatchObject({ code: 'ERR_SYSTEM', errno: 'EACCES' });
    } finally {
      if (root) {
        process.seteuid!(0);
        process.setegid!(0);
      }
    }
  });

  it('throws a ValidationError naming the file for bad content', async () => {
    await writeFile(join(bundle, 'config.json'), '{"process": {}}');
    await expect(readConfig(bundle)).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
      source: join(bundle, 'config.json'),
    });
  });
});
