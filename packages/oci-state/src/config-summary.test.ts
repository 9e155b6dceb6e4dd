import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig, readConfig, type RuntimeConfig } from './config.js';
import { parseConfigSummary, readConfigSummary, type ConfigSummary } from './config-summary.js';

const fixture = (name: string) => readFileSync(new URL(`__fixtures__/${name}`, import.meta.url), 'utf8');
const corpus = new URL('../../../../shared/corpus/runtime-spec/test/config/', import.meta.url);
const listCorpus = (verdict: 'good' | 'bad') =>
  readdirSync(new URL(`${verdict}/`, corpus))
    .filter((name) => name.endsWith('.json'))
    .sort();
const readCorpus = (relative: string) => readFileSync(new URL(relative, corpus), 'utf8');
const specExample = readCorpus('good/spec-example.json');

interface Issue {
  path: string;
  line?: number;
  message: string;
}

/** The issues a parser reports, or [] when it accepts the text. */
function issuesOf(parse: (text: string, source: string) => unknown, text: string): Issue[] {
  try {
    parse(text, 'config.json');
    return [];
  } catch (error) {
    expect(error).toMatchObject({ code: 'ERR_VALIDATION', source: 'config.json' });
    return [...(error as { issues: Issue[] }).issues];
  }
}

/** Issue paths within the fields parseConfigSummary checks (everything but process.cwd, which it lets be absent). */
const summaryPaths = [
  /^$/u,
  /^ociVersion$/u,
  /^annotations(\..*)?$/u,
  /^mounts(\.\d+(\.(destination|source|type)|\.options(\.\d+)?)?)?$/u,
  /^root(\.(path|readonly))?$/u,
  /^process(\.(args|env)(\.\d+)?)?$/u,
  /^process\.(cwd|apparmorProfile|selinuxLabel|noNewPrivileges)$/u,
  /^process\.user(\.(uid|gid))?$/u,
  /^process\.capabilities(\.(bounding|effective|inheritable|permitted|ambient)(\.\d+)?)?$/u,
  /^linux(\.namespaces(\.\d+(\.(type|path))?)?|\.cgroupsPath)?$/u,
];
const checkedBySummary = (issue: Issue) =>
  summaryPaths.some((pattern) => pattern.test(issue.path)) &&
  !(issue.path === 'process.cwd' && issue.message.startsWith('missing required property'));

/**
 * The contract with parseConfig: on the summary's fields the two report the
 * same issues (path, line, message, in order); elsewhere the summary reports
 * none. So whatever parseConfig accepts, parseConfigSummary accepts.
 */
function expectSummaryAgrees(text: string): Issue[] {
  const full = issuesOf(parseConfig, text);
  const summary = issuesOf(parseConfigSummary, text);
  expect(summary).toEqual(full.filter(checkedBySummary));
  if (full.length === 0) {
    expect(parseConfigSummary(text)).toEqual(parseConfig(text));
  }
  return summary;
}

// Mutations reach deep into untyped documents; `any` keeps each one a one-liner.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

function mutate(change: (document: Json) => void): string {
  const document = JSON.parse(specExample) as Json;
  change(document);
  return JSON.stringify(document, null, 2);
}

/** Each mutation of spec-example.json, and whether parseConfigSummary accepts the result. */
const mutations: [name: string, summaryAccepts: boolean, change: (document: Json) => void][] = [
  ['process.args as a number', false, (d) => (d.process.args = 7)],
  ['process.args with a number', false, (d) => (d.process.args = ['sh', 1])],
  ['process.env as a string', false, (d) => (d.process.env = 'TERM=xterm')],
  ['numeric process.cwd', false, (d) => (d.process.cwd = 5)],
  ['negative uid', false, (d) => (d.process.user.uid = -1)],
  ['uid beyond uint32', false, (d) => (d.process.user.uid = 4294967296)],
  ['fractional gid', false, (d) => (d.process.user.gid = 1.5)],
  ['string gid', false, (d) => (d.process.user.gid = '0')],
  ['process.user as an array', false, (d) => (d.process.user = [])],
  ['capabilities.bounding as a string', false, (d) => (d.process.capabilities.bounding = 'CAP_KILL')],
  ['capabilities.ambient with a number', false, (d) => (d.process.capabilities.ambient = [1])],
  ['numeric apparmorProfile', false, (d) => (d.process.apparmorProfile = 1)],
  ['boolean selinuxLabel', false, (d) => (d.process.selinuxLabel = false)],
  ['noNewPrivileges as a string', false, (d) => (d.process.noNewPrivileges = 'yes')],
  ['process as a string', false, (d) => (d.process = 'sh')],
  ['missing ociVersion', false, (d) => delete d.ociVersion],
  ['numeric ociVersion', false, (d) => (d.ociVersion = 1)],
  ['root without path', false, (d) => delete d.root.path],
  ['numeric root.path', false, (d) => (d.root.path = 5)],
  ['root.readonly as a string', false, (d) => (d.root.readonly = 'true')],
  ['root as null', false, (d) => (d.root = null)],
  ['mounts as an object', false, (d) => (d.mounts = {})],
  ['mount without destination', false, (d) => delete d.mounts[0].destination],
  ['numeric mount source', false, (d) => (d.mounts[0].source = 1)],
  ['numeric mount type', false, (d) => (d.mounts[0].type = 1)],
  ['mount options as a string', false, (d) => (d.mounts[1].options = 'ro')],
  ['numeric annotation value', false, (d) => (d.annotations = { 'com.example.key': 1 })],
  ['unknown namespace type', false, (d) => (d.linux.namespaces[0].type = 'bogus')],
  ['namespace without type', false, (d) => (d.linux.namespaces[0] = { path: '/proc/1/ns/net' })],
  ['numeric namespace path', false, (d) => (d.linux.namespaces[0].path = 1)],
  ['numeric cgroupsPath', false, (d) => (d.linux.cgroupsPath = 7)],
  ['linux as an array', false, (d) => (d.linux = [])],
  ['several bad fields at once', false, (d) => {
    d.process.args = 'sh';
    d.process.rlimits[0].type = 'rlimit_core';
    d.process.user.uid = -1;
    d.linux.seccomp.defaultAction = 'SCMP_ACT_NOPE';
    d.linux.cgroupsPath = 7;
  }],
  // Outside the summary's fields: parseConfig rejects these, parseConfigSummary does not look.
  ['missing process.cwd', true, (d) => delete d.process.cwd],
  ['lower-case rlimit type', true, (d) => (d.process.rlimits[0].type = 'rlimit_core')],
  ['negative umask', true, (d) => (d.process.user.umask = -1)],
  ['additionalGids with a string', true, (d) => (d.process.user.additionalGids = ['5'])],
  ['terminal as a number', true, (d) => (d.process.terminal = 1)],
  ['hook timeout 0', true, (d) => (d.hooks.poststart[0].timeout = 0)],
  ['relative hook path', true, (d) => (d.hooks.poststop[0].path = 'sbin/cleanup.sh')],
  ['bad mount uidMappings', true, (d) => (d.mounts[0].uidMappings = [{ containerID: 0 }])],
  ['numeric hostname', true, (d) => (d.hostname = 5)],
  ['unknown seccomp action', true, (d) => (d.linux.seccomp.defaultAction = 'SCMP_ACT_NOPE')],
  ['memory limit as a string', true, (d) => (d.linux.resources.memory.limit = 'lots')],
  ['negative uid mapping size', true, (d) => (d.linux.uidMappings[0].size = -1)],
  ['windows without layerFolders', true, (d) => (d.windows = {})],
  ['vm without kernel', true, (d) => (d.vm = {})],
  ['solaris anet as an object', true, (d) => (d.solaris = { anet: {} })],
  ['freebsd enforceStatfs beyond uint8', true, (d) => (d.freebsd = { jail: { enforceStatfs: 256 } })],
  // Valid for both.
  ['no process at all', true, (d) => delete d.process],
  ['empty process.user', true, (d) => (d.process.user = {})],
  ['RLIM_INFINITY rlimit', true, (d) => (d.process.rlimits[0].hard = Number('18446744073709551615'))],
  ['unknown fields', true, (d) => {
    d['org.example.bulwark'] = { nested: [1, 'two'] };
    d.process.bulwarkProfile = 'strict';
    d.linux.namespaces[0].flags = 3;
  }],
];

describe('parseConfigSummary', () => {
  it('reads the checked fields of the configs podman and runc wrote', () => {
    const podman = parseConfigSummary(fixture('podman-run.config.json'));
    expect(podman.process?.args).toEqual(['/bin/true']);
    expect(podman.linux?.cgroupsPath).toMatch(/^\/libpod_parent\/libpod-[0-9a-f]{64}$/u);
    const runc = parseConfigSummary(fixture('runc.config.json'));
    expect(runc.process?.user).toEqual({ uid: 0, gid: 0 });
    expect(runc.process?.capabilities?.bounding).toContain('CAP_KILL');
    expect(runc.root).toEqual({ path: 'rootfs', readonly: true });
  });

  for (const name of ['podman-run.config.json', 'podman-kube.config.json', 'runc.config.json']) {
    it(`returns what parseConfig returns for __fixtures__/${name}`, () => {
      expect(expectSummaryAgrees(fixture(name))).toEqual([]);
    });
  }

  for (const name of listCorpus('good')) {
    it(`accepts config/good/${name}, returning what parseConfig returns`, () => {
      expect(expectSummaryAgrees(readCorpus(`good/${name}`))).toEqual([]);
    });
  }

  for (const name of listCorpus('bad')) {
    it(`agrees with parseConfig on the summary's fields of config/bad/${name}`, () => {
      expectSummaryAgrees(readCorpus(`bad/${name}`));
    });
  }

  for (const [name, summaryAccepts, change] of mutations) {
    it(`agrees with parseConfig on the summary's fields: ${name}`, () => {
      const issues = expectSummaryAgrees(mutate(change));
      expect(issues.length === 0).toBe(summaryAccepts);
    });
  }

  it('names process.args and its line when args is not a list', () => {
    const text = '{\n  "ociVersion": "1.0.0",\n  "process": {\n    "cwd": "/",\n    "args": 7\n  }\n}';
    expect(() => parseConfigSummary(text, '/bundle/config.json')).toThrow(
      '/bundle/config.json: line 5 process.args: expected array, received number',
    );
  });

  it('lists every issue with its line, as parseConfig does', () => {
    const text = '{\n  "ociVersion": "1.0.0",\n  "process": {\n    "args": ["sh", 5],\n    "user": {"uid": -1}\n  }\n}';
    expect(issuesOf(parseConfigSummary, text)).toEqual([
      { path: 'process.args.1', line: 4, message: 'expected string, received number' },
      { path: 'process.user.uid', line: 5, message: 'expected an integer from 0 to 4294967295' },
    ]);
  });

  it('reports malformed json with its line and column', () => {
    expect(() => parseConfigSummary('{"ociVersion": "1.0.0",]', 'config.json')).toThrow(/^config\.json: line 1: malformed json: .* at line 1 column 24$/u);
  });

  it('keeps fields it does not check', () => {
    const summary = parseConfigSummary('{"ociVersion": "1.2.0", "hooks": {"prestart": "not checked"}, "process": {"terminal": 1}}');
    expect(summary.hooks).toEqual({ prestart: 'not checked' });
    expect(summary.process?.terminal).toBe(1);
  });

  it('takes any RuntimeConfig where a ConfigSummary is expected', () => {
    const config: RuntimeConfig = parseConfig(specExample);
    const summary: ConfigSummary = config;
    expect(summary.linux?.namespaces?.[0]?.type).toBe('pid');
  });
});

describe('readConfigSummary', () => {
  let bundle: string;

  beforeEach(async () => {
    bundle = await mkdtemp(join(tmpdir(), 'bulwark-bundle-'));
  });

  afterEach(async () => {
    await rm(bundle, { recursive: true, force: true });
  });

  it('reads config.json from a bundle', async () => {
    await writeFile(join(bundle, 'config.json'), fixture('runc.config.json'));
    expect((await readConfigSummary(bundle)).ociVersion).toBe('1.0.2-dev');
  });

  it('accepts a config with a bad field outside the summary', async () => {
    await writeFile(join(bundle, 'config.json'), '{"ociVersion": "1.0.0", "process": {"args": ["sh"]}}');
    await expect(readConfig(bundle)).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    expect((await readConfigSummary(bundle)).process?.args).toEqual(['sh']);
  });

  it('throws the SystemError readConfig throws when config.json is missing', async () => {
    const expected = {
      code: 'ERR_SYSTEM',
      errno: 'ENOENT',
      operation: 'read config',
      path: join(bundle, 'config.json'),
      message: `read config: no such file or directory (${join(bundle, 'config.json')})`,
    };
    await expect(readConfig(bundle)).rejects.toMatchObject(expected);
    await expect(readConfigSummary(bundle)).rejects.toMatchObject(expected);
  });

  it('throws a SystemError when config.json is a directory', async () => {
    await mkdir(join(bundle, 'config.json'));
    await expect(readConfigSummary(bundle)).rejects.toMatchObject({ code: 'ERR_SYSTEM', errno: 'EISDIR' });
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
      for (const synchronous of [false, true]) {
        await expect(readConfigSummary(bundle, { synchronous })).rejects.toMatchObject({ code: 'ERR_SYSTEM', errno: 'EACCES' });
      }
    } finally {
      if (root) {
        process.seteuid!(0);
        process.setegid!(0);
      }
    }
  });

  it('reads the same with one synchronous call, errors included', async () => {
    await writeFile(join(bundle, 'config.json'), fixture('runc.config.json'));
    expect(await readConfigSummary(bundle, { synchronous: true })).toEqual(await readConfigSummary(bundle));
    await rm(join(bundle, 'config.json'));
    await expect(readConfigSummary(bundle, { synchronous: true })).rejects.toMatchObject({
      code: 'ERR_SYSTEM',
      errno: 'ENOENT',
      message: `read config: no such file or directory (${join(bundle, 'config.json')})`,
    });
  });

  it('throws a ValidationError naming the file and line for a bad checked field', async () => {
    await writeFile(join(bundle, 'config.json'), '{\n  "ociVersion": "1.0.0",\n  "process": {"args": 7}\n}');
    await expect(readConfigSummary(bundle)).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
      source: join(bundle, 'config.json'),
      issues: [{ path: 'process.args', line: 3, message: 'expected array, received number' }],
    });
  });
});
