/**
 * The runtime-spec's own test documents (test/{config,state,features}/{good,bad}),
 * and a cross-check against the official JSON schemas: for every fixture and
 * for mutated documents, our verdict must equal the JSON-schema verdict,
 * except where a disagreement is listed here with its reason.
 */

import { readdirSync, readFileSync } from 'node:fs';
import AjvModule from 'ajv-draft-04';
import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { parseFeatures } from './features.js';
import { parseState } from './state.js';

const corpus = new URL('../../../../shared/corpus/runtime-spec/', import.meta.url);

function readCorpus(relative: string): string {
  return readFileSync(new URL(relative, corpus), 'utf8');
}

function listFixtures(kind: Kind, verdict: 'good' | 'bad'): string[] {
  return readdirSync(new URL(`test/${kind}/${verdict}/`, corpus))
    .filter((name) => name.endsWith('.json'))
    .sort();
}

type Kind = 'config' | 'state' | 'features';
const kinds = ['config', 'state', 'features'] as const;

const parsers: Record<Kind, (text: string) => unknown> = {
  config: (text) => parseConfig(text, 'fixture'),
  state: (text) => parseState(text, 'fixture'),
  features: (text) => parseFeatures(text, 'fixture'),
};

function ourVerdict(kind: Kind, text: string): boolean {
  try {
    parsers[kind](text);
    return true;
  } catch (error) {
    expect(error).toMatchObject({ code: 'ERR_VALIDATION' });
    return false;
  }
}

const Ajv = AjvModule.default;
const ajv = new Ajv({ strict: false, allErrors: true });
for (const name of readdirSync(corpus).filter((entry) => entry.endsWith('.json'))) {
  ajv.addSchema(JSON.parse(readCorpus(name)) as object, name);
}
const schemaValidators = {
  config: ajv.getSchema('config-schema.json'),
  state: ajv.getSchema('state-schema.json'),
  features: ajv.getSchema('features-schema.json'),
};

function schemaVerdict(kind: Kind, text: string): boolean {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return false;
  }
  const validate = schemaValidators[kind];
  if (validate === undefined) throw new Error(`no schema for ${kind}`);
  return validate(document) === true;
}

describe('runtime-spec test fixtures', () => {
  for (const kind of kinds) {
    for (const name of listFixtures(kind, 'good')) {
      it(`accepts ${kind}/good/${name}`, () => {
        expect(() => parsers[kind](readCorpus(`test/${kind}/good/${name}`))).not.toThrow();
      });
    }
    for (const name of listFixtures(kind, 'bad')) {
      it(`rejects ${kind}/bad/${name} with a reason`, () => {
        let caught: unknown;
        try {
          parsers[kind](readCorpus(`test/${kind}/bad/${name}`));
        } catch (error) {
          caught = error;
        }
        expect(caught).toMatchObject({ code: 'ERR_VALIDATION' });
        const issues = (caught as { issues: { message: string; line?: number }[] }).issues;
        expect(issues.length).toBeGreaterThan(0);
        expect(issues[0]?.message).not.toBe('');
        expect(issues[0]?.line).toBeTypeOf('number');
      });
    }
  }

  it('names the line and column of malformed json', () => {
    expect(() => parseConfig(readCorpus('test/config/bad/invalid-json.json'), 'invalid-json.json')).toThrow(
      "invalid-json.json: line 1: malformed json: expected a string key or '}', found ']' at line 1 column 2",
    );
  });

  it('points at the offending lines of the bad fixtures', () => {
    const expectations: Record<string, { path: string; line: number }> = {
      'linux-hugepage.json': { path: 'linux.resources.hugepageLimits.0.pageSize', line: 11 },
      'linux-netdevice.json': { path: 'linux.netDevices.eth0.name', line: 9 },
      'linux-rdma.json': { path: 'linux.resources.rdma.mlx5_1.hcaHandles', line: 10 },
      'freebsd-vnet-disable.json': { path: 'freebsd.jail.vnet', line: 8 },
    };
    for (const [name, expected] of Object.entries(expectations)) {
      try {
        parseConfig(readCorpus(`test/config/bad/${name}`), name);
        expect.unreachable(`${name} was accepted`);
      } catch (error) {
        expect((error as { issues: unknown[] }).issues).toContainEqual(expect.objectContaining(expected));
      }
    }
  });
});

describe('agreement with the official JSON schemas on the fixtures', () => {
  for (const kind of kinds) {
    for (const verdict of ['good', 'bad'] as const) {
      for (const name of listFixtures(kind, verdict)) {
        it(`${kind}/${verdict}/${name}`, () => {
          const text = readCorpus(`test/${kind}/${verdict}/${name}`);
          expect(schemaVerdict(kind, text)).toBe(verdict === 'good');
          expect(ourVerdict(kind, text)).toBe(schemaVerdict(kind, text));
        });
      }
    }
  }
});

// Mutations reach deep into untyped documents; `any` keeps each one a one-liner.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

interface Mutation {
  name: string;
  kind: Kind;
  /** The fixture to start from, under test/. */
  base: string;
  mutate: (document: Json) => void;
  /** Our verdict. */
  valid: boolean;
  /** Set when the JSON schema's verdict differs from ours on purpose: why. */
  disagreement?: string;
}

const specExample = 'config/good/spec-example.json';
const featuresExample = 'features/good/runc.json';
const stateExample = 'state/good/spec-example.json';

const configMutation = (name: string, valid: boolean, mutate: (document: Json) => void, disagreement?: string): Mutation => ({
  name,
  kind: 'config',
  base: specExample,
  mutate,
  valid,
  ...(disagreement === undefined ? {} : { disagreement }),
});

const stateMutation = (name: string, valid: boolean, mutate: (document: Json) => void, disagreement?: string): Mutation => ({
  name,
  kind: 'state',
  base: stateExample,
  mutate,
  valid,
  ...(disagreement === undefined ? {} : { disagreement }),
});

const featuresMutation = (name: string, valid: boolean, mutate: (document: Json) => void): Mutation => ({
  name,
  kind: 'features',
  base: featuresExample,
  mutate,
  valid,
});

const mutations: Mutation[] = [
  configMutation('missing ociVersion', false, (d) => delete d.ociVersion),
  configMutation('numeric ociVersion', false, (d) => (d.ociVersion = 1)),
  configMutation('process.args as a string', false, (d) => (d.process.args = 'sh')),
  configMutation('process.args with a number', false, (d) => (d.process.args = ['sh', 1])),
  configMutation('negative uid', false, (d) => (d.process.user.uid = -1)),
  configMutation('uid beyond uint32', false, (d) => (d.process.user.uid = 4294967296)),
  configMutation('fractional gid', false, (d) => (d.process.user.gid = 1.5)),
  configMutation('additionalGids with a string', false, (d) => (d.process.user.additionalGids = ['5'])),
  configMutation('missing process.cwd', false, (d) => delete d.process.cwd),
  configMutation('lower-case rlimit type', false, (d) => (d.process.rlimits[0].type = 'rlimit_core')),
  configMutation('negative rlimit', false, (d) => (d.process.rlimits[0].hard = -1)),
  configMutation('rlimit without soft', false, (d) => delete d.process.rlimits[0].soft),
  configMutation('RLIM_INFINITY rlimit (2^64 - 1)', true, (d) => (d.process.rlimits[0].hard = Number('18446744073709551615'))),
  configMutation('rlimit beyond uint64', false, (d) => (d.process.rlimits[0].hard = 2 ** 65)),
  configMutation('capabilities.bounding as a string', false, (d) => (d.process.capabilities.bounding = 'CAP_KILL')),
  configMutation('noNewPrivileges as a string', false, (d) => (d.process.noNewPrivileges = 'yes')),
  configMutation('terminal as a number', false, (d) => (d.process.terminal = 1)),
  configMutation('huge oomScoreAdj (unbounded integer)', true, (d) => (d.process.oomScoreAdj = 1e20)),
  configMutation('ioPriority beyond int32', false, (d) => (d.process.ioPriority = { class: 'IOPRIO_CLASS_RT', priority: 2 ** 31 })),
  configMutation('unknown ioPriority class', false, (d) => (d.process.ioPriority = { class: 'IOPRIO_CLASS_NONE' })),
  configMutation('scheduler without policy', false, (d) => (d.process.scheduler = { nice: 1 })),
  configMutation('bad execCPUAffinity', false, (d) => (d.process.execCPUAffinity = { initial: '0-3;7' })),
  configMutation('no process at all', true, (d) => delete d.process),
  configMutation('numeric root.path', false, (d) => (d.root.path = 5)),
  configMutation('root without path', false, (d) => delete d.root.path),
  configMutation('root.readonly as a string', false, (d) => (d.root.readonly = 'true')),
  configMutation('mount without destination', false, (d) => delete d.mounts[0].destination),
  configMutation('mount options as a string', false, (d) => (d.mounts[1].options = 'ro')),
  configMutation('mounts as an object', false, (d) => (d.mounts = {})),
  configMutation('hook without path', false, (d) => delete d.hooks.prestart[0].path),
  configMutation('hook timeout 0', false, (d) => (d.hooks.poststart[0].timeout = 0)),
  configMutation('fractional hook timeout', false, (d) => (d.hooks.poststart[0].timeout = 2.5)),
  configMutation('hook args as a string', false, (d) => (d.hooks.createRuntime[0].args = 'fix-mounts')),
  configMutation('hooks.prestart as an object', false, (d) => (d.hooks.prestart = {})),
  configMutation(
    'relative hook path',
    false,
    (d) => (d.hooks.poststop[0].path = 'sbin/cleanup.sh'),
    'the schema only asks for a string, but the spec says a hook path MUST be absolute, and a relative one would run whatever the runtime working directory holds',
  ),
  configMutation('numeric annotation value', false, (d) => (d.annotations = { 'com.example.key': 1 })),
  configMutation(
    'numeric annotation value under an empty key',
    false,
    (d) => (d.annotations = { '': 1 }),
    'the schema types annotation values through patternProperties ".{1,}", which no empty key matches; an annotation value is a string whatever its key',
  ),
  configMutation('unknown namespace type', false, (d) => (d.linux.namespaces[0].type = 'bogus')),
  configMutation('namespace without type', false, (d) => (d.linux.namespaces[0] = { path: '/proc/1/ns/net' })),
  configMutation('negative uid mapping size', false, (d) => (d.linux.uidMappings[0].size = -1)),
  configMutation('unknown seccomp action', false, (d) => (d.linux.seccomp.defaultAction = 'SCMP_ACT_NOPE')),
  configMutation('seccomp without defaultAction', false, (d) => delete d.linux.seccomp.defaultAction),
  configMutation('seccomp syscall without names', false, (d) => (d.linux.seccomp.syscalls[0].names = [])),
  configMutation('unknown seccomp architecture', false, (d) => (d.linux.seccomp.architectures = ['SCMP_ARCH_VAX'])),
  configMutation('memory limit as a string', false, (d) => (d.linux.resources.memory.limit = 'lots')),
  configMutation('memory limit at int64 max', true, (d) => (d.linux.resources.memory.limit = Number('9223372036854775807'))),
  configMutation('pids without limit', false, (d) => (d.linux.resources.pids = {})),
  configMutation('unknown device type', false, (d) => (d.linux.devices[0].type = 'x')),
  configMutation('device fileMode beyond 0777', false, (d) => (d.linux.devices[0].fileMode = 512)),
  configMutation('unknown rootfsPropagation', false, (d) => (d.linux.rootfsPropagation = 'rshared')),
  configMutation('numeric cgroupsPath', false, (d) => (d.linux.cgroupsPath = 7)),
  configMutation('numeric sysctl value', false, (d) => (d.linux.sysctl = { 'net.ipv4.ip_forward': 1 })),
  configMutation('negative time offset nanoseconds', false, (d) => (d.linux.timeOffsets.boottime = { nanosecs: -1 })),
  configMutation('unknown top-level field', true, (d) => (d['org.example.bulwark'] = { nested: [1, 'two'] })),
  configMutation('unknown nested fields', true, (d) => {
    d.process.bulwarkProfile = 'strict';
    d.linux.resources.unknownController = { weight: -1 };
  }),
  configMutation('windows without layerFolders', false, (d) => (d.windows = {})),
  configMutation('windows with an empty layerFolders', false, (d) => (d.windows = { layerFolders: [] })),
  configMutation('vm with a kernel', true, (d) => (d.vm = { kernel: { path: '/boot/vmlinuz' } })),
  configMutation('vm without kernel', false, (d) => (d.vm = {})),
  configMutation('unknown vm image format', false, (d) => (d.vm = { kernel: { path: '/k' }, image: { path: '/i', format: 'iso' } })),
  configMutation('solaris anet as an object', false, (d) => (d.solaris = { anet: {} })),
  configMutation('unknown zos namespace', false, (d) => (d.zos = { namespaces: [{ type: 'network' }] })),
  configMutation('freebsd enforceStatfs beyond uint8', false, (d) => (d.freebsd = { jail: { enforceStatfs: 256 } })),

  featuresMutation('missing ociVersionMin', false, (d) => delete d.ociVersionMin),
  featuresMutation('hooks as a string', false, (d) => (d.hooks = 'prestart')),
  featuresMutation('lower-case capability', false, (d) => (d.linux.capabilities = ['cap_kill'])),
  featuresMutation('unknown namespace', false, (d) => (d.linux.namespaces = ['pid', 'vm'])),
  featuresMutation('seccomp.enabled as a string', false, (d) => (d.linux.seccomp.enabled = 'yes')),
  featuresMutation('unknown seccomp flag', false, (d) => (d.linux.seccomp.knownFlags = ['SECCOMP_FILTER_FLAG_NOPE'])),
  featuresMutation('cgroup.v2 as a number', false, (d) => (d.linux.cgroup.v2 = 1)),
  featuresMutation('numeric annotation value', false, (d) => (d.annotations = { 'io.example': 1 })),
  featuresMutation('unknown fields', true, (d) => {
    d.linux.landlock = { enabled: true };
    d.vendor = 'bulwark';
  }),

  stateMutation('missing ociVersion', false, (d) => delete d.ociVersion),
  stateMutation('missing id', false, (d) => delete d.id),
  stateMutation('numeric id', false, (d) => (d.id = 5)),
  stateMutation(
    'empty id',
    false,
    (d) => (d.id = ''),
    'a container id names the container for every later operation; the schema accepts "" but no runtime produces it',
  ),
  stateMutation('unknown status', false, (d) => (d.status = 'sleeping')),
  stateMutation(
    'paused status',
    true,
    (d) => (d.status = 'paused'),
    'runc and crun report "paused" for a frozen container although the spec lists only four statuses',
  ),
  stateMutation('negative pid', false, (d) => (d.pid = -1)),
  stateMutation('fractional pid', false, (d) => (d.pid = 1.5)),
  stateMutation(
    'pid 0 while running',
    false,
    (d) => (d.pid = 0),
    'a running container has a process; pid 0 would make a signal reach the whole process group',
  ),
  stateMutation('pid 0 when stopped', true, (d) => {
    d.status = 'stopped';
    d.pid = 0;
  }),
  stateMutation('no pid when stopped', true, (d) => {
    d.status = 'stopped';
    delete d.pid;
  }),
  stateMutation('missing bundle', false, (d) => delete d.bundle),
  stateMutation(
    'relative bundle',
    false,
    (d) => (d.bundle = 'containers/redis'),
    'the spec says bundle is the absolute path to the bundle directory; a relative one cannot be resolved by a hook',
  ),
  stateMutation('numeric annotation value', false, (d) => (d.annotations = { myKey: 1 })),
  stateMutation('unknown fields (runc state prints rootfs, created, owner)', true, (d) => {
    d.rootfs = '/containers/redis/rootfs';
    d.created = '2026-11-22T21:51:20.414792315Z';
    d.owner = '';
  }),
];

describe('agreement with the official JSON schemas on mutated documents', () => {
  it('has a good number of mutations', () => {
    expect(mutations.length).toBeGreaterThanOrEqual(30);
  });

  for (const mutation of mutations) {
    const title = `${mutation.kind}: ${mutation.name}${mutation.disagreement === undefined ? '' : ' (documented disagreement)'}`;
    it(title, () => {
      const document = JSON.parse(readCorpus(`test/${mutation.base}`)) as Json;
      mutation.mutate(document);
      const text = JSON.stringify(document, null, 2);
      const ours = ourVerdict(mutation.kind, text);
      const schema = schemaVerdict(mutation.kind, text);
      expect(ours).toBe(mutation.valid);
      if (mutation.disagreement === undefined) {
        expect(schema).toBe(ours);
      } else {
        expect(schema).toBe(!ours);
      }
    });
  }
});
