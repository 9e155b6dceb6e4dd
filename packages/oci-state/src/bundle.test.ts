import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { replaceHooksMember, updateSpecFileHooks, writeBundleHooks } from './bundle.js';
import type { Hook } from './config.js';
import { parseJsonText } from './json-lines.js';

const fixture = (name: string) => readFileSync(new URL(`__fixtures__/${name}`, import.meta.url), 'utf8');
const bulwark: Hook = { path: '/usr/libexec/bulwark/hook', args: ['bulwark-hook', 'create-runtime'] };

let bundle: string;
let configPath: string;

beforeEach(async () => {
  bundle = await mkdtemp(join(tmpdir(), 'bulwark-bundle-'));
  configPath = join(bundle, 'config.json');
});

afterEach(async () => {
  await rm(bundle, { recursive: true, force: true });
});

describe('writeBundleHooks', () => {
  it('adds hooks to a runc bundle and keeps everything else byte for byte', async () => {
    const original = fixture('runc.config.json');
    await writeFile(configPath, original);
    const config = await writeBundleHooks(bundle, [{ stage: 'createRuntime', hook: bulwark }]);
    expect(config.hooks?.createRuntime).toEqual([{ path: '/tmp/podtest/dump.sh', args: ['dump.sh'] }, bulwark]);

    const written = await readFile(configPath, 'utf8');
    const { root } = parseJsonText(original, 'original');
    const hooksMember = root.kind === 'object' ? root.members.find((member) => member.key === 'hooks') : undefined;
    expect(hooksMember).toBeDefined();
    const before = original.slice(0, hooksMember!.value.start);
    const after = original.slice(hooksMember!.value.end);
    expect(written.startsWith(before)).toBe(true);
    expect(written.endsWith(after)).toBe(true);
    expect(await readdir(bundle)).toEqual(['config.json']);
  });

  it('follows the document indentation (tabs here)', async () => {
    await writeFile(configPath, fixture('runc.config.json'));
    await writeBundleHooks(bundle, [{ stage: 'createRuntime', hook: bulwark }]);
    expect(await readFile(configPath, 'utf8')).toContain('\t"hooks": {\n\t\t"createRuntime": [\n\t\t\t{\n');
  });

  it('is idempotent and restores the original bytes on removal', async () => {
    const original = fixture('podman-run.config.json');
    await writeFile(configPath, original);
    await writeBundleHooks(bundle, [{ stage: 'poststop', hook: bulwark }]);
    const once = await readFile(configPath, 'utf8');
    await writeBundleHooks(bundle, [{ stage: 'poststop', hook: bulwark }]);
    expect(await readFile(configPath, 'utf8')).toBe(once);
    expect(once).not.toContain('\n');

    await updateSpecFileHooks(configPath, { remove: bulwark.path });
    expect(await readFile(configPath, 'utf8')).toBe(original);
  });

  it('inserts and removes a hooks member in a config without one, restoring the bytes', async () => {
    const original = '{\n    "ociVersion": "1.0.0",\n    "root": {\n        "path": "rootfs"\n    }\n}\n';
    await writeFile(configPath, original);
    await writeBundleHooks(bundle, [{ stage: 'createRuntime', hook: bulwark }]);
    expect(await readFile(configPath, 'utf8')).toBe(
      '{\n    "ociVersion": "1.0.0",\n    "root": {\n        "path": "rootfs"\n    },\n    "hooks": {\n        "createRuntime": [\n            {\n                "path": "/usr/libexec/bulwark/hook",\n                "args": [\n                    "bulwark-hook",\n                    "create-runtime"\n                ]\n            }\n        ]\n    }\n}\n',
    );
    await updateSpecFileHooks(configPath, { remove: bulwark.path });
    expect(await readFile(configPath, 'utf8')).toBe(original);
  });

  it('keeps numbers beyond 2^53 and unknown fields exactly as written', async () => {
    const original =
      '{"ociVersion":"1.0.0","process":{"cwd":"/","rlimits":[{"type":"RLIMIT_NOFILE","soft":18446744073709551615,"hard":18446744073709551615}]},' +
      '"linux":{"resources":{"memory":{"limit":9223372036854775807}}},"x-vendor":{"float":1.50,"exp":1E3}}';
    await writeFile(configPath, original);
    await writeBundleHooks(bundle, [{ stage: 'poststop', hook: bulwark }]);
    const written = await readFile(configPath, 'utf8');
    expect(written).toBe(`${original.slice(0, -1)},"hooks":{"poststop":[${JSON.stringify(bulwark)}]}}`);
  });

  it('replaces the hooks with replacePath (update)', async () => {
    await writeFile(configPath, fixture('runc.config.json'));
    await writeBundleHooks(bundle, [{ stage: 'createRuntime', hook: { path: bulwark.path, args: ['old'] } }]);
    const config = await writeBundleHooks(bundle, [{ stage: 'createRuntime', hook: bulwark }], { replacePath: bulwark.path });
    expect(config.hooks?.createRuntime?.map((hook) => hook.args)).toEqual([['dump.sh'], bulwark.args]);
  });

  it('keeps the file mode', async () => {
    await writeFile(configPath, fixture('runc.config.json'));
    await chmod(configPath, 0o600);
    await writeBundleHooks(bundle, [{ stage: 'createRuntime', hook: bulwark }]);
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);
  });

  it('refuses to rewrite an invalid config and leaves it alone', async () => {
    const invalid = '{"ociVersion": "1.0.0", "process": {"args": "sh"}}';
    await writeFile(configPath, invalid);
    await expect(writeBundleHooks(bundle, [{ stage: 'poststop', hook: bulwark }])).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
      source: configPath,
    });
    expect(await readFile(configPath, 'utf8')).toBe(invalid);
  });

  it('refuses a relative hook path and leaves the file alone', async () => {
    const original = fixture('runc.config.json');
    await writeFile(configPath, original);
    await expect(writeBundleHooks(bundle, [{ stage: 'poststop', hook: { path: 'relative' } }])).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
    expect(await readFile(configPath, 'utf8')).toBe(original);
  });

  it('throws a SystemError for a bundle without config.json', async () => {
    await expect(writeBundleHooks(bundle, [])).rejects.toMatchObject({ code: 'ERR_SYSTEM', errno: 'ENOENT', operation: 'read spec file' });
  });
});

describe('updateSpecFileHooks', () => {
  it('updates a containerd base spec file of any name', async () => {
    const specPath = join(bundle, 'base-spec.json');
    await writeFile(specPath, fixture('runc.config.json'));
    const config = await updateSpecFileHooks(specPath, [
      { stage: 'createRuntime', hook: bulwark },
      { stage: 'poststop', hook: bulwark },
    ]);
    expect(config.hooks?.createRuntime?.map((hook) => hook.path)).toEqual(['/tmp/podtest/dump.sh', bulwark.path]);
    expect(config.hooks?.poststop).toEqual([bulwark]);
    const removed = await updateSpecFileHooks(specPath, { remove: bulwark.path });
    expect(removed.hooks).toEqual({ createRuntime: [{ path: '/tmp/podtest/dump.sh', args: ['dump.sh'] }] });
    expect(await readFile(specPath, 'utf8')).toBe(fixture('runc.config.json'));
  });

  it('does not touch the file when nothing changes', async () => {
    const specPath = join(bundle, 'base-spec.json');
    await writeFile(specPath, fixture('runc.config.json'));
    const before = (await stat(specPath)).mtimeMs;
    await new Promise((resolve) => setTimeout(resolve, 20));
    await updateSpecFileHooks(specPath, { remove: '/not/installed' });
    expect((await stat(specPath)).mtimeMs).toBe(before);
  });
});

describe('replaceHooksMember', () => {
  const edit = (text: string, hooks: Parameters<typeof replaceHooksMember>[2]) =>
    replaceHooksMember(text, parseJsonText(text, 'test').root, hooks);

  it('removes the first, a middle and the only member', () => {
    expect(edit('{"hooks": {}, "a": 1}', undefined)).toBe('{"a": 1}');
    expect(edit('{"a": 1, "hooks": {}, "b": 2}', undefined)).toBe('{"a": 1, "b": 2}');
    expect(edit('{ "hooks": {} }', undefined)).toBe('{}');
  });

  it('adds to an empty object', () => {
    expect(edit('{}', { poststop: [{ path: '/h' }] })).toBe('{\n  "hooks": {\n    "poststop": [\n      {\n        "path": "/h"\n      }\n    ]\n  }\n}');
  });

  it('replaces the last of repeated hooks members, the one JSON.parse reads', () => {
    expect(edit('{"hooks":{"a":1},"hooks":{"b":2}}', { poststop: [] })).toBe('{"hooks":{"a":1},"hooks":{"poststop":[]}}');
  });
});
