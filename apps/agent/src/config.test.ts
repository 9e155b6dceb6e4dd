import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { BulwarkError, ValidationError } from '@bulwark/errors';
import { loadAgentConfig, parseAgentConfig, type AgentConfig } from './config.js';

const fixture = (name: string) => new URL(`./__fixtures__/${name}`, import.meta.url);

const enforcementDefaults = {
  enforcement: 'off',
  policyDirectory: '/etc/bulwark/policies',
  bpffsDirectory: '/sys/fs/bpf/bulwark',
  alerts: { file: '/var/log/bulwark/alerts.jsonl', stdout: false },
  defaultFilePosture: 'block',
  defaultNetworkPosture: 'block',
  defaultCapabilitiesPosture: 'block',
  evasionPosture: 'block',
  enableKubeArmorHostPolicy: true,
  hostDefaultFilePosture: 'audit',
  hostDefaultNetworkPosture: 'audit',
  hostDefaultCapabilitiesPosture: 'audit',
  hostLabels: {},
  alertThrottling: true,
  maxAlertPerSec: 10,
  throttleSec: 30,
  logLevel: 'info',
  logFile: '',
} as const;

const defaults: AgentConfig = {
  ...enforcementDefaults,
  hookSocket: '/run/bulwark/hook.sock',
  controlSocket: '/run/bulwark/control.sock',
  stateFile: '/run/bulwark/containers.json',
  logFormat: 'json',
  scan: {
    enabled: true,
    runcRoots: ['/run/runc'],
    crunRoots: ['/run/crun'],
    podmanContainersFile: '/var/lib/containers/storage/overlay-containers/containers.json',
    sweepSeconds: 30,
  },
  limits: { maxConnections: 256, idleTimeoutMs: 5000, maxFrameBytes: 65_536 },
};

/** The ValidationError parseAgentConfig throws for `text`; fails the test when it does not throw one. */
function rejectionOf(text: string): ValidationError {
  try {
    parseAgentConfig(text, 'agent.yaml');
  } catch (error) {
    expect(BulwarkError.is(error, 'ERR_VALIDATION')).toBe(true);
    return error as ValidationError;
  }
  throw new Error(`expected a ValidationError for:\n${text}`);
}

describe('parseAgentConfig', () => {
  test.each([
    ['an empty document', ''],
    ['only a comment', '# nothing set\n'],
    ['an explicit empty map', '{}\n'],
    ['a document marker and nothing else', '---\n'],
  ])('%s gives every default', (_label, text) => {
    expect(parseAgentConfig(text, 'agent.yaml')).toEqual(defaults);
  });

  test('every field can be set', async () => {
    const text = await readFile(fixture('agent-config.yaml'), 'utf8');
    expect(parseAgentConfig(text, 'agent-config.yaml')).toEqual({
      ...enforcementDefaults,
      hookSocket: '/run/test/hook.sock',
      controlSocket: '/run/test/control.sock',
      stateFile: '/var/lib/test/containers.json',
      logFormat: 'text',
      scan: {
        enabled: false,
        runcRoots: ['/run/test/runc', '/run/test/runc-alt'],
        crunRoots: ['/run/test/crun'],
        podmanContainersFile: '/var/lib/test/containers-podman.json',
        sweepSeconds: 0,
      },
      limits: { maxConnections: 12, idleTimeoutMs: 250, maxFrameBytes: 2048 },
    } satisfies AgentConfig);
  });

  test('a partial nested section keeps the defaults of the fields it leaves out', () => {
    const config = parseAgentConfig('scan:\n  sweepSeconds: 5\nlimits:\n  maxConnections: 3\n', 'agent.yaml');
    expect(config.scan).toEqual({ ...defaults.scan, sweepSeconds: 5 });
    expect(config.limits).toEqual({ ...defaults.limits, maxConnections: 3 });
    expect(config.hookSocket).toBe(defaults.hookSocket);
  });

  test("seed 002's kubearmor.yaml works as it is: its postures and throttle read, the keys that mean nothing here reported", () => {
    const text = `k8s: false
useOCIHooks: true
hookPath: /run/output.json
enableKubeArmorStateAgent: true
enableKubeArmorPolicy: true
visibility: process,network
defaultFilePosture: audit
defaultNetworkPosture: audit
defaultCapabilitiesPosture: audit
alertThrottling: true
maxAlertPerSec: 10
throttleSec: 30
`;
    const config = parseAgentConfig(text, 'kubearmor.yaml');
    expect(config).toMatchObject({ defaultFilePosture: 'audit', defaultNetworkPosture: 'audit', defaultCapabilitiesPosture: 'audit', alertThrottling: true, maxAlertPerSec: 10, throttleSec: 30 });
    expect(config.ignoredKeys).toEqual(['k8s', 'useOCIHooks', 'hookPath', 'enableKubeArmorStateAgent', 'enableKubeArmorPolicy', 'visibility']);
    expect(rejectionOf('defaultFilePosture: deny\n').issues[0]).toMatchObject({ path: 'defaultFilePosture', line: 1 });
  });

  test("KubeArmor's host keys are read, with its defaults (audit), and the host's labels", () => {
    const config = parseAgentConfig('enableKubeArmorHostPolicy: false\nhostDefaultFilePosture: block\nhostLabels:\n  role: db\n', 'agent.yaml');
    expect(config).toMatchObject({ enableKubeArmorHostPolicy: false, hostDefaultFilePosture: 'block', hostDefaultNetworkPosture: 'audit', hostLabels: { role: 'db' } });
    expect(config.ignoredKeys).toBeUndefined();
    expect(rejectionOf('hostLabels:\n  role: 3\n').issues[0]).toMatchObject({ path: 'hostLabels.role', line: 2 });
  });

  test('an empty root list is allowed and turns that runtime off', () => {
    expect(parseAgentConfig('scan:\n  runcRoots: []\n', 'agent.yaml').scan.runcRoots).toEqual([]);
  });

  test('an unknown top-level key is refused at its own line', () => {
    const error = rejectionOf('logFormat: json\n# the typo is next\nhookSockt: /run/bulwark/hook.sock\n');
    expect(error.message).toContain('line 3');
    expect(error.message).toContain('hookSockt');
    expect(error.message.startsWith('agent.yaml: ')).toBe(true);
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ line: 3 });
  });

  test('an unknown nested key is refused at its own line, not its section', () => {
    const error = rejectionOf('scan:\n  enabled: true\n  sweepSecond: 5\n');
    expect(error.issues).toEqual([expect.objectContaining({ line: 3, path: 'scan.sweepSecond' })]);
    expect(error.message).toContain('line 3');
  });

  test('two unknown keys give two issues, each with its line', () => {
    const error = rejectionOf('hookSockt: /a\nlimits:\n  maxConn: 3\ncontrolSockt: /b\n');
    expect(error.issues.map((issue) => [issue.path, issue.line]).sort()).toEqual([
      ['controlSockt', 4],
      ['hookSockt', 1],
      ['limits.maxConn', 3],
    ]);
  });

  test('a wrong type in a nested field names the field and its line', () => {
    const error = rejectionOf('logFormat: text\nscan:\n  enabled: true\n  sweepSeconds: "x"\n');
    expect(error.issues).toEqual([expect.objectContaining({ path: 'scan.sweepSeconds', line: 4 })]);
    expect(error.message).toMatch(/line 4 scan\.sweepSeconds: .*number/);
  });

  test('a wrong type in a list item points at the item', () => {
    const error = rejectionOf('scan:\n  runcRoots:\n    - /run/runc\n    - 42\n');
    expect(error.issues).toEqual([expect.objectContaining({ path: 'scan.runcRoots.1', line: 4 })]);
  });

  test.each([
    ['hookSocket: run/hook.sock\n', 'hookSocket', 1],
    ['stateFile: /var/lib/x.json\ncontrolSocket: control.sock\n', 'controlSocket', 2],
    ['scan:\n  crunRoots: [/run/crun, relative/crun]\n', 'scan.crunRoots.1', 2],
    ['scan:\n  podmanContainersFile: ./containers.json\n', 'scan.podmanContainersFile', 2],
  ])('a relative path is refused: %j', (text, path, line) => {
    const error = rejectionOf(text);
    expect(error.issues).toEqual([{ path, line, message: 'must be an absolute path' }]);
    expect(error.message).toContain('must be an absolute path');
  });

  test.each([
    ['limits:\n  maxConnections: 0\n', 'limits.maxConnections', 2],
    ['limits:\n  maxFrameBytes: 2097152\n', 'limits.maxFrameBytes', 2],
    ['limits:\n  idleTimeoutMs: 1.5\n', 'limits.idleTimeoutMs', 2],
    ['scan:\n  sweepSeconds: -1\n', 'scan.sweepSeconds', 2],
    ['logFormat: yaml\n', 'logFormat', 1],
    ['scan:\n  enabled: "yes"\n', 'scan.enabled', 2],
  ])('an out-of-range or wrong value is refused: %j', (text, path, line) => {
    expect(rejectionOf(text).issues).toEqual([expect.objectContaining({ path, line })]);
  });

  test('a YAML syntax error is a ValidationError with the line of the fault', () => {
    const error = rejectionOf('logFormat: json\nscan:\n  runcRoots: [/run/runc\nlimits: {}\n');
    expect(error.issues.length).toBeGreaterThan(0);
    expect(error.issues[0]!.line).toBeGreaterThanOrEqual(3);
    expect(error.message).toMatch(/^agent\.yaml: line \d+: /);
  });

  test('a duplicated key is a syntax error at the second occurrence', () => {
    const error = rejectionOf('logFormat: json\nhookSocket: /a\nlogFormat: text\n');
    expect(error.issues[0]!.line).toBe(3);
  });

  test('a document that is not a map is refused', () => {
    expect(rejectionOf('- /run/bulwark/hook.sock\n').issues.length).toBeGreaterThan(0);
    expect(rejectionOf('just text\n').issues.length).toBeGreaterThan(0);
  });
});

describe('loadAgentConfig', () => {
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'bulwark-config-'));
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  test('no path gives the defaults', async () => {
    expect(await loadAgentConfig(undefined)).toEqual(defaults);
  });

  test('reads and parses a file, naming the file in errors', async () => {
    const path = join(directory, 'agent.yaml');
    await writeFile(path, 'logFormat: text\n');
    expect((await loadAgentConfig(path)).logFormat).toBe('text');

    await writeFile(path, 'logFormat: text\nstateFile: relative.json\n');
    await expect(loadAgentConfig(path)).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
      source: path,
      message: `${path}: line 2 stateFile: must be an absolute path`,
    });
  });

  test('a missing file is a SystemError with errno ENOENT and the path', async () => {
    const path = join(directory, 'absent.yaml');
    await expect(loadAgentConfig(path)).rejects.toMatchObject({
      code: 'ERR_SYSTEM',
      errno: 'ENOENT',
      path,
      message: `read agent config: no such file or directory (${path})`,
    });
  });

  test('a directory is a SystemError too, not a parse error', async () => {
    await expect(loadAgentConfig(directory)).rejects.toMatchObject({ code: 'ERR_SYSTEM', errno: 'EISDIR' });
  });
});
