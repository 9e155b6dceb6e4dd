/**
 * KubeArmor's table-driven enforcement scenarios as a conformance runner for
 * the kernel tier: any directory in the corpus format
 * (../shared/corpus/kubearmor-scenarios: one folder per scenario with a
 * policy YAML and cmdN files), run against the built agent and hook with
 * real runc containers, and judged as KubeArmor's own scenario script
 * (tests/k8s_env/test-scenarios-github.sh) judges them.
 *
 * What it brings up:
 * - the workload's root file system (buildScenarioRootfs): Ubuntu's
 *   pre-merged-/usr layout (/bin and /usr/bin are separate directories, so
 *   /bin/cat is /bin/cat when the kernel resolves it) with the host's bash,
 *   dash, coreutils cat/ls/uname, curl and wget and their libraries (from
 *   ldd), busybox for su, ping and the small tools, a compiled stand-in for
 *   arping (scenario-tools.c), user1, and the files the corpus README lists;
 * - one network namespace with loopback only (startScenarioNetwork), shared
 *   by every container: the public addresses the commands name are put on
 *   lo, names resolve through a DNS server on 127.0.0.1:53 to 127.0.0.1,
 *   and an HTTP server answers on port 80 (scenario-network-server.ts);
 * - the agent (`enforcement: required`) watching a policy directory that
 *   holds exactly the current scenario's policy, with the configured default
 *   posture for file, network and capabilities.
 * Each command then runs as `bash -c "<cmd>"`, the container's first
 * process, in a fresh container named after the source's container
 * (`ubuntu-1-deployment` -> `ubuntu-1`), labelled as the multiubuntu
 * workload is, in pod namespace `github`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, chmod, chown, copyFile, link, mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { createHash } from 'node:crypto';
import { delimiter, dirname, join } from 'node:path';
import { transformSync } from 'esbuild';
import { agentBundle, repositoryRoot, runChecked, runCommand, startAgentProcess, type AgentHandle, type AgentPaths } from './containers.ts';
import { readAlerts } from './enforce.ts';
import { runContainer, WorkloadBundles } from './workload.ts';

// ---- The scenarios ------------------------------------------------------------------

export type ScenarioKind = 'container' | 'native' | 'host';
export type DefaultPosture = 'block' | 'audit' | 'allow';

export interface ScenarioCommand {
  /** The file's name: `cmd1`. */
  readonly name: string;
  /** `ubuntu-1-deployment`. */
  readonly source: string;
  /** The container it runs in: the source without `-deployment`. */
  readonly container: string;
  /** What runs as `bash -c "<cmd>"`. */
  readonly cmd: string;
  readonly result: 'passed' | 'failed' | 'default';
  readonly operation: string;
  readonly condition: string;
  readonly action: string;
}

export interface Scenario {
  /** The folder's name: `github_test_01`. */
  readonly name: string;
  readonly policyFile: string;
  readonly policyText: string;
  /** The policy's metadata.name: what its alerts name. */
  readonly policyName: string;
  /** From the file name's prefix, as KubeArmor's script reads it: ksp- container, nsp- native AppArmor, hsp- host. */
  readonly kind: ScenarioKind;
  readonly commands: readonly ScenarioCommand[];
}

/** A cmdN file: `key: value` lines (the `---` between the command and its alert is only a separator). */
export function parseCommandFile(text: string, name: string): ScenarioCommand {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(source|cmd|result|operation|condition|action):[ \t]*(.*)$/u.exec(line);
    if (match !== null && !fields.has(match[1]!)) fields.set(match[1]!, match[2]!.trim());
  }
  const field = (key: string) => {
    const value = fields.get(key);
    if (value === undefined || value === '') throw new Error(`scenario command ${name}: no '${key}:' line`);
    return value;
  };
  const result = field('result');
  if (result !== 'passed' && result !== 'failed' && result !== 'default') throw new Error(`scenario command ${name}: result '${result}' is not passed, failed or default`);
  const source = field('source');
  return { name, source, container: source.replace(/-deployment$/u, ''), cmd: field('cmd'), result, operation: field('operation'), condition: field('condition'), action: field('action') };
}

/** Every scenario folder under `directory` (sorted), with its commands in file order. */
export async function loadScenarios(directory: string): Promise<Scenario[]> {
  const scenarios: Scenario[] = [];
  for (const entry of (await readdir(directory, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory()) continue;
    const folder = join(directory, entry.name);
    const files = (await readdir(folder)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    const policies = files.filter((file) => /\.ya?ml$/u.test(file));
    if (policies.length !== 1) throw new Error(`scenario ${entry.name}: expected one policy file, found ${policies.length}`);
    const policyFile = policies[0]!;
    const policyText = await readFile(join(folder, policyFile), 'utf8');
    const name = /^metadata:\s*\n(?:[ \t]+.*\n)*?[ \t]+name:[ \t]*(\S+)/mu.exec(policyText)?.[1];
    if (name === undefined) throw new Error(`scenario ${entry.name}: ${policyFile} has no metadata.name`);
    const commands = await Promise.all(files.filter((file) => /^cmd\d+$/u.test(file)).map(async (file) => parseCommandFile(await readFile(join(folder, file), 'utf8'), file)));
    const kind: ScenarioKind = policyFile.startsWith('nsp-') ? 'native' : policyFile.startsWith('hsp-') ? 'host' : 'container';
    scenarios.push({ name: entry.name, policyFile, policyText, policyName: name, kind, commands });
  }
  return scenarios;
}

// ---- Judging ------------------------------------------------------------------------

/** What must be seen, after KubeArmor's script has translated `default` lines by the posture. */
export interface Expectation {
  readonly result: 'passed' | 'failed';
  readonly policyName: string;
  readonly operation: string;
  readonly condition: string;
  readonly action: string;
  /** blocked: a matching alert whose result is not Passed; passed: one whose result is Passed; none: no matching alert at all. */
  readonly alert: 'blocked' | 'passed' | 'none';
}

/**
 * The expectation for one command, as KubeArmor's script derives it:
 * `result: default` with `action: default` is the posture's (block: the
 * command fails with a DefaultPosture Block alert; audit: it passes with a
 * DefaultPosture Audit alert; allow: it passes, no alert); then Allow
 * passed and Block passed want no alert, Audit passed a Passed one, and
 * every failed command a blocking one.
 */
export function expectationOf(scenario: Scenario, command: ScenarioCommand, posture: DefaultPosture): Expectation {
  let result: 'passed' | 'failed' = command.result === 'failed' ? 'failed' : 'passed';
  let policyName = scenario.policyName;
  let action = command.action;
  if (command.result === 'default') {
    policyName = 'DefaultPosture';
    if (command.action === 'default') {
      result = posture === 'block' ? 'failed' : 'passed';
      action = posture === 'block' ? 'Block' : posture === 'audit' ? 'Audit' : 'Allow';
    } else {
      result = 'failed'; // a native profile's block
    }
  }
  const alert: Expectation['alert'] = result === 'failed' ? 'blocked' : action === 'Audit' ? 'passed' : 'none';
  return { result, policyName, operation: command.operation, condition: command.condition, action, alert };
}

export interface CommandRun {
  /** The container's exit status (runc's), or null when it was killed. */
  readonly status: number | null;
  readonly output: string;
}

export interface Judgement {
  readonly pass: boolean;
  /** One line: the exit status wanted and the alert wanted. */
  readonly expected: string;
  /** One line: what happened. */
  readonly got: string;
  readonly problems: readonly string[];
  /** The alert that satisfied the expectation (or the one that must not be there). */
  readonly alert?: Alert;
}

type Alert = Record<string, unknown>;

const matchesAlert = (expectation: Expectation, alert: Alert) =>
  alert.policyName === expectation.policyName &&
  alert.operation === expectation.operation &&
  typeof alert.resource === 'string' &&
  alert.resource.includes(expectation.condition);

/** What identifies an alert across containers: what was decided, on what, for which executable. */
export const alertKey = (alert: Alert): string => [alert.policyName, alert.operation, alert.resource, alert.source, alert.action, alert.result].map(String).join('|');

/**
 * The alert the expectation wants (or, for `none`, the first that must not
 * be there). `baseline` holds the alertKeys that the container's shell
 * raises by itself (`bash -c true` under the same policy: its library
 * loads, its NSS sockets): an alert that must appear must be one the
 * command caused, so those do not count for it. Without this, `wget`'s
 * SOCK_STREAM condition would be met by bash's own AF_UNIX socket.
 */
export function findExpectedAlert(expectation: Expectation, alerts: readonly Alert[], baseline: ReadonlySet<string> = new Set()): Alert | undefined {
  if (expectation.alert === 'none') return alerts.find((alert) => matchesAlert(expectation, alert));
  return alerts.find(
    (alert) =>
      matchesAlert(expectation, alert) &&
      alert.action === expectation.action &&
      (expectation.alert === 'passed' ? alert.result === 'Passed' : alert.result !== 'Passed') &&
      !baseline.has(alertKey(alert)),
  );
}

const describeAlert = (alert: Alert) => `${String(alert.policyName)} ${String(alert.operation)} ${String(alert.action)} '${String(alert.result)}' ${String(alert.resource)} (from ${String(alert.source)})`;

/** Judges one command's run and the alerts of its container. */
export function judgeCommand(expectation: Expectation, run: CommandRun, alerts: readonly Alert[], baseline: ReadonlySet<string> = new Set()): Judgement {
  const problems: string[] = [];
  const exit = run.status === 0 ? 'passed' : 'failed';
  if (exit !== expectation.result) problems.push(`the command ${exit} (exit ${run.status ?? 'killed'}), expected ${expectation.result}: ${run.output.trim().split('\n').slice(-3).join(' | ')}`);
  const found = findExpectedAlert(expectation, alerts, baseline);
  const wanted = `${expectation.policyName} ${expectation.operation} '${expectation.condition}' ${expectation.action}`;
  if (expectation.alert === 'none' && found !== undefined) problems.push(`an alert that must not be there: ${describeAlert(found)}`);
  if (expectation.alert !== 'none' && found === undefined) {
    const near = alerts.filter((alert) => alert.policyName === expectation.policyName || (typeof alert.resource === 'string' && alert.resource.includes(expectation.condition)));
    const described = near.slice(0, 4).map((alert) => `${describeAlert(alert)}${baseline.has(alertKey(alert)) ? ' [the shell raises it by itself]' : ''}`);
    problems.push(`no ${expectation.alert} alert ${wanted}; alerts near it: ${near.length === 0 ? 'none' : described.join('; ')}`);
  }
  const expected = `${expectation.result}; ${expectation.alert === 'none' ? `no alert ${wanted}` : `${expectation.alert === 'passed' ? 'Passed' : 'blocking'} alert ${wanted}`}`;
  const got = `${exit} (exit ${run.status ?? 'killed'}); ${found === undefined ? 'no such alert' : `alert ${describeAlert(found)}`}`;
  return { pass: problems.length === 0, expected, got, problems, ...(found === undefined ? {} : { alert: found }) };
}

/** A policy's top-level spec scalar (severity, message), as the alert copies it; undefined when the policy has none. */
export function policySpecField(policyText: string, field: 'severity' | 'message'): string | undefined {
  const value = new RegExp(`^  ${field}:[ \\t]*(.+?)[ \\t]*$`, 'mu').exec(policyText)?.[1];
  return value?.replace(/^"(.*)"$/u, '$1');
}

/**
 * What the alert a command wanted must say besides the judged fields, as the
 * runner set the container up: its id, the pod namespace, its labels, the
 * policy's severity and message (for the scenario's own policy), the
 * enforcer; one problem per field that differs.
 */
export function checkAlertFields(alert: Alert, want: { containerId: string; namespace: string; labels: Readonly<Record<string, string>>; scenario?: Scenario }): string[] {
  const problems: string[] = [];
  const expect = (field: string, value: unknown) => {
    if (alert[field] !== value) problems.push(`alert ${field}: expected ${JSON.stringify(value)}, got ${JSON.stringify(alert[field])}`);
  };
  expect('containerID', want.containerId);
  expect('namespaceName', want.namespace);
  expect('enforcer', 'BPFLSM');
  const labels = typeof alert.labels === 'string' ? alert.labels.split(',') : [];
  for (const [key, value] of Object.entries(want.labels)) if (!labels.includes(`${key}=${value}`)) problems.push(`alert labels: expected ${key}=${value} in ${JSON.stringify(alert.labels)}`);
  if (want.scenario !== undefined && alert.policyName === want.scenario.policyName) {
    expect('type', 'MatchedPolicy');
    const severity = policySpecField(want.scenario.policyText, 'severity');
    if (severity !== undefined) expect('severity', severity);
    const message = policySpecField(want.scenario.policyText, 'message');
    if (message !== undefined) expect('message', message);
  }
  return problems;
}

// ---- The workload's root file system -----------------------------------------------------

/** Host programs copied in with their libraries, at their pre-merged-/usr Ubuntu paths. */
const HOST_PROGRAMS: readonly (readonly [name: string, destination: string])[] = [
  ['bash', '/bin/bash'],
  ['dash', '/bin/dash'],
  ['cat', '/bin/cat'],
  ['ls', '/bin/ls'],
  ['uname', '/bin/uname'],
  ['curl', '/usr/bin/curl'],
  ['wget', '/usr/bin/wget'],
];
/** busybox under these names as hard links: the kernel resolves each to its own path (su and ping are busybox's applets). */
const BUSYBOX_NAMES = ['/bin/su', '/bin/ping'];
/** busybox applets as symbolic links (they run as /bin/busybox): the rest of a small userland. */
const BUSYBOX_APPLETS = ['chmod', 'cp', 'date', 'echo', 'env', 'false', 'grep', 'head', 'hostname', 'id', 'kill', 'mkdir', 'mv', 'ps', 'readlink', 'rm', 'sed', 'seq', 'sleep', 'stat', 'tail', 'touch', 'tr', 'true', 'usleep', 'wc', 'whoami'];
const USER1 = { uid: 1000, gid: 1000 };

const FILES: Readonly<Record<string, string>> = {
  '/etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nuser1:x:1000:1000:user1:/home/user1:/bin/bash\n',
  '/etc/group': 'root:x:0:\nshadow:x:42:\nnogroup:x:65534:\nuser1:x:1000:\n',
  '/etc/shadow': 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\nuser1:!:19000:0:99999:7:::\n',
  '/etc/gshadow': 'root:*::\nshadow:*::\nnogroup:*::\nuser1:!::\n',
  '/etc/shells': '/bin/sh\n/bin/dash\n/bin/bash\n',
  '/etc/hostname': 'ubuntu\n',
  '/etc/hosts': '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n',
  '/etc/resolv.conf': 'nameserver 127.0.0.1\noptions attempts:1 timeout:2\n',
  '/etc/nsswitch.conf': 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n',
  '/etc/profile': 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nexport PATH\n',
  '/etc/os-release': 'NAME="Ubuntu"\nID=ubuntu\nPRETTY_NAME="Ubuntu (Bulwark scenario workload)"\n',
  '/root/.bashrc': '# root\n',
  '/root/.profile': '# root\n',
  '/secret.txt': 'secret file\n',
  '/plain.txt': 'plain file\n',
  '/credentials/password': 'password\n',
  '/credentials/token': 'token\n',
  '/credentials/keys/cert.ca': 'certificate\n',
  '/credentials/keys/priv.key': 'private key\n',
  '/home/user1/secret_data1.txt': 'secret data\n',
  '/home/user1/otherfile.txt': 'other file\n',
  '/home/user1/dir1/key1.txt': 'key 1\n',
  '/home/user1/.profile': '# user1\n',
  '/home/user1/.bashrc': '# user1\n',
};
const MODES: Readonly<Record<string, number>> = { '/etc/shadow': 0o640, '/etc/gshadow': 0o640 };

/** `name` found on PATH, as a shell would find it. */
async function findProgram(name: string): Promise<string> {
  for (const directory of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const candidate = join(directory, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(`scenario rootfs: '${name}' is not on PATH (${process.env.PATH ?? ''}); the workload needs it`);
}

/** The shared libraries `program` loads, as the dynamic loader resolves them (`ldd`). */
async function sharedLibraries(program: string): Promise<string[]> {
  const result = await runCommand('ldd', [program]);
  if (result.code !== 0) {
    if (/not a dynamic executable/u.test(result.stdout + result.stderr)) return [];
    throw new Error(`ldd ${program}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  const libraries: string[] = [];
  for (const line of result.stdout.split('\n')) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/u.exec(line);
    if (match !== null) libraries.push(match[1]!);
    else if (/=> not found/u.test(line)) throw new Error(`ldd ${program}: ${line.trim()}`);
  }
  return libraries;
}

async function copyInto(rootfs: string, source: string, destination: string, mode = 0o755): Promise<void> {
  const target = join(rootfs, destination);
  await mkdir(dirname(target), { recursive: true });
  await copyFile(await realpath(source), target);
  await chmod(target, mode);
}

/**
 * Builds the scenario workload's root file system in `directory/rootfs`
 * and returns its path. It needs root (user1 owns /home/user1), a C
 * compiler (cc) for scenario-tools.c, busybox, ldd, and the host programs
 * in HOST_PROGRAMS on PATH.
 */
export async function buildScenarioRootfs(directory: string): Promise<string> {
  const rootfs = join(directory, 'rootfs');
  await rm(rootfs, { recursive: true, force: true });
  for (const path of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/local/bin', 'lib', 'lib64', 'etc', 'root', 'home/user1/dir1', 'proc', 'sys', 'dev', 'run', 'var/tmp', 'credentials/keys']) {
    await mkdir(join(rootfs, path), { recursive: true });
  }
  await mkdir(join(rootfs, 'tmp'));
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await chmod(join(rootfs, 'root'), 0o700);

  const libraries = new Set<string>();
  for (const [name, destination] of HOST_PROGRAMS) {
    const program = await findProgram(name);
    await copyInto(rootfs, program, destination);
    for (const library of await sharedLibraries(program)) libraries.add(library);
  }
  for (const library of libraries) await copyInto(rootfs, library, library);
  await symlink('dash', join(rootfs, 'bin/sh'));

  await copyInto(rootfs, await findProgram('busybox'), '/bin/busybox');
  for (const name of BUSYBOX_NAMES) await link(join(rootfs, 'bin/busybox'), join(rootfs, name));
  for (const applet of BUSYBOX_APPLETS) await symlink('busybox', join(rootfs, 'bin', applet));

  const tools = join(directory, 'scenario-tools');
  await runChecked('cc', ['-static', '-O2', '-o', tools, join(repositoryRoot, 'test-support/scenario-tools.c')], { timeoutMs: 300_000 });
  for (const path of ['/usr/sbin/arping', '/readwrite', '/hello', '/home/user1/readwrite', '/home/user1/hello']) await copyInto(rootfs, tools, path);

  for (const [path, text] of Object.entries(FILES)) {
    await mkdir(dirname(join(rootfs, path)), { recursive: true });
    await writeFile(join(rootfs, path), text, { mode: MODES[path] ?? 0o644 });
  }
  await chown(join(rootfs, 'etc/shadow'), 0, 42);
  await chown(join(rootfs, 'etc/gshadow'), 0, 42);
  // user1 owns everything below its home.
  const own = async (path: string): Promise<void> => {
    await chown(path, USER1.uid, USER1.gid);
    for (const entry of await readdir(path, { withFileTypes: true })) {
      if (entry.isDirectory()) await own(join(path, entry.name));
      else await chown(join(path, entry.name), USER1.uid, USER1.gid);
    }
  };
  await own(join(rootfs, 'home/user1'));
  await chmod(join(rootfs, 'home/user1'), 0o755);
  await chmod(rootfs, 0o755);
  return rootfs;
}

// ---- The cached root file system --------------------------------------------------

/** Where scripts/build-scenario-rootfs.ts keeps the built workload (gitignored; readable from the guest). */
export const scenarioRootfsCache = join(repositoryRoot, '.cache', 'scenario-rootfs');

/**
 * What the built root file system depends on: this file (the file list and
 * the build), scenario-tools.c, and the host programs it copies (by content).
 * The cache entry is `<key>.tar`.
 */
export async function scenarioRootfsKey(): Promise<string> {
  const hash = createHash('sha256');
  hash.update(await readFile(join(repositoryRoot, 'test-support/scenarios.ts')));
  hash.update(await readFile(join(repositoryRoot, 'test-support/scenario-tools.c')));
  for (const name of [...HOST_PROGRAMS.map(([program]) => program), 'busybox']) {
    const program = await realpath(await findProgram(name));
    hash.update(`${name}=${program}\n`);
    hash.update(await readFile(program));
  }
  return hash.digest('hex').slice(0, 16);
}

/** Builds the workload into `<key>.tar` in the cache unless it is there; returns the archive's path and whether it was built. */
export async function buildCachedScenarioRootfs(cache = scenarioRootfsCache): Promise<{ archive: string; built: boolean }> {
  const archive = join(cache, `${await scenarioRootfsKey()}.tar`);
  if (await access(archive).then(() => true, () => false)) return { archive, built: false };
  await mkdir(cache, { recursive: true });
  const staging = await mkdtemp(join(cache, 'build-'));
  try {
    const rootfs = await buildScenarioRootfs(staging);
    await runChecked('tar', ['--numeric-owner', '-cf', join(staging, 'rootfs.tar'), '-C', rootfs, '.']);
    await rename(join(staging, 'rootfs.tar'), archive);
    for (const file of await readdir(cache)) if (file.endsWith('.tar') && join(cache, file) !== archive) await rm(join(cache, file), { force: true });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { archive, built: true };
}

/**
 * The workload's root file system in `directory/rootfs`: unpacked from the
 * cache when scripts/build-scenario-rootfs.ts has built the current one
 * (tools/kernel-vm/test-kernel.sh runs it before booting the guest, whose
 * root is read-only), else built here (slower: a static compile under TCG).
 */
export async function scenarioRootfs(directory: string): Promise<{ rootfs: string; from: 'cache' | 'built' }> {
  const archive = join(scenarioRootfsCache, `${await scenarioRootfsKey()}.tar`);
  if (!(await access(archive).then(() => true, () => false))) return { rootfs: await buildScenarioRootfs(directory), from: 'built' };
  const rootfs = join(directory, 'rootfs');
  await rm(rootfs, { recursive: true, force: true });
  await mkdir(rootfs);
  await runChecked('tar', ['--numeric-owner', '-xpf', archive, '-C', rootfs]);
  await chmod(rootfs, 0o755);
  return { rootfs, from: 'cache' };
}

// ---- The network --------------------------------------------------------------------

export interface ScenarioNetwork {
  /** The namespace every container joins: `/proc/PID/ns/net` of the server. */
  readonly namespacePath: string;
  /** The addresses put on lo besides 127.0.0.1. */
  readonly addresses: readonly string[];
  stop(): Promise<void>;
}

/** The IPv4 addresses that `commands` name, outside 127.0.0.0/8: they are put on lo. */
export function addressesNamed(commands: readonly string[]): string[] {
  const found = new Set<string>();
  for (const command of commands) {
    for (const match of command.matchAll(/\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b/gu)) {
      const octets = match.slice(1, 5).map(Number);
      if (octets.every((octet) => octet <= 255) && octets[0] !== 127) found.add(octets.join('.'));
    }
  }
  return [...found].sort();
}

/**
 * A network namespace with loopback only (`unshare --net`), `addresses` on
 * lo, and the HTTP and DNS servers of scenario-network-server.ts in it.
 * The server is compiled with esbuild and run as plain JavaScript: Node's
 * own type stripping runs WebAssembly, which crashes now and then under
 * QEMU TCG (test-support/source-node.ts).
 */
export async function startScenarioNetwork(work: string, addresses: readonly string[]): Promise<ScenarioNetwork> {
  const source = await readFile(join(repositoryRoot, 'test-support/scenario-network-server.ts'), 'utf8');
  const script = join(work, 'scenario-network-server.mjs');
  await writeFile(script, transformSync(source, { loader: 'ts', format: 'esm' }).code);
  const setup = ['ip link set lo up', ...addresses.map((address) => `ip addr add ${address}/32 dev lo`), `exec "$0" ${JSON.stringify(script)}`].join(' && ');
  const child: ChildProcess = spawn('unshare', ['--net', '--', '/bin/sh', '-c', setup, process.execPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`scenario network: no 'listening' within 60 s: ${output}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('listening\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`scenario network: the server exited (${child.exitCode ?? child.signalCode}): ${output}`));
    });
  });
  return {
    namespacePath: `/proc/${child.pid!}/ns/net`,
    addresses,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** The multiubuntu workload's labels by container: ubuntu-1..3 in group-1, ubuntu-4..5 in group-2. */
export function multiubuntuLabels(container: string): Record<string, string> {
  const index = Number(/^ubuntu-(\d+)$/u.exec(container)?.[1]);
  if (!Number.isInteger(index) || index < 1 || index > 5) throw new Error(`scenario: '${container}' is not one of multiubuntu's ubuntu-1..5`);
  return { container, group: index <= 3 ? 'group-1' : 'group-2' };
}

// ---- The runner -----------------------------------------------------------------------------

export interface CommandOutcome {
  readonly scenario: string;
  readonly policyFile: string;
  readonly command: ScenarioCommand;
  readonly containerId: string;
  /** Undefined for a scenario that is reported, not run (native, host). */
  readonly expectation?: Expectation;
  readonly run?: CommandRun;
  readonly judgement?: Judgement;
  /** Why the scenario is not judged (native AppArmor, host policy). */
  readonly notJudged?: string;
  readonly elapsedMs: number;
}

export interface ScenarioRunnerOptions {
  /** A directory the runner owns (755, on a file system where root can chown). */
  readonly work: string;
  readonly scenarios: readonly Scenario[];
  /** defaultFilePosture, defaultNetworkPosture and defaultCapabilitiesPosture. */
  readonly posture: DefaultPosture;
  readonly bpffsDirectory: string;
  /** The pod namespace of every container (default github). */
  readonly namespace?: string;
  /** Labels by container name (default multiubuntuLabels). */
  readonly labels?: (container: string) => Record<string, string>;
}

/** Waits until `read()` returns the same count twice `quietMs` apart, or `done` says stop, or `limitMs` passes. */
async function settle<T>(read: () => Promise<T[]>, done: (items: T[]) => boolean, quietMs: number, limitMs: number): Promise<T[]> {
  const started = Date.now();
  let items = await read();
  for (;;) {
    if (done(items) || Date.now() - started > limitMs) return items;
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    const next = await read();
    if (next.length === items.length && Date.now() - started > quietMs) return next;
    items = next;
  }
}

export class ScenarioRunner {
  readonly #options: ScenarioRunnerOptions;
  readonly #paths: AgentPaths;
  readonly #policies: string;
  readonly #alertsFile: string;
  #agent: AgentHandle | undefined;
  #network: ScenarioNetwork | undefined;
  #bundles: WorkloadBundles | undefined;
  /** alertKeys of `bash -c true` per scenario and container (see findExpectedAlert). */
  readonly #baselines = new Map<string, Set<string>>();
  /** How long the last step of start() took, by step, for the report. */
  readonly timings: Record<string, number> = {};
  /** Whether start() unpacked the cached workload or built it. */
  rootfsFrom: 'cache' | 'built' | undefined;

  constructor(options: ScenarioRunnerOptions) {
    this.#options = options;
    const run = join(options.work, 'run');
    this.#paths = {
      hookSocket: join(run, 'hook.sock'),
      controlSocket: join(run, 'control.sock'),
      stateFile: join(options.work, 'state', 'containers.json'),
      runcRoot: join(options.work, 'runc-root'),
      crunRoot: join(options.work, 'crun-root'),
    };
    this.#policies = join(options.work, 'policies');
    this.#alertsFile = join(options.work, 'alerts.jsonl');
  }

  get agent(): AgentHandle {
    if (this.#agent === undefined) throw new Error('scenario runner: not started');
    return this.#agent;
  }

  /** Builds the workload, brings up the network, starts the agent with an empty policy directory. */
  async start(): Promise<void> {
    const { work } = this.#options;
    const time = async <T>(step: string, action: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      try {
        return await action();
      } finally {
        this.timings[step] = Math.round(performance.now() - started);
      }
    };
    await mkdir(join(work, 'run'), { recursive: true, mode: 0o700 });
    await mkdir(this.#policies, { recursive: true });
    const { rootfs, from } = await time('rootfs', () => scenarioRootfs(work));
    this.rootfsFrom = from;
    const commands = this.#options.scenarios.flatMap((scenario) => scenario.commands.map((command) => command.cmd));
    this.#network = await time('network', () => startScenarioNetwork(work, addressesNamed(commands)));
    this.#bundles = await time('hook', () => WorkloadBundles.create({ work, rootfs, hookSocket: this.#paths.hookSocket, namespacePath: this.#network!.namespacePath }));
    const posture = this.#options.posture;
    const config = join(work, 'bulwark.yaml');
    await writeFile(
      config,
      [
        `defaultFilePosture: ${posture}`,
        `defaultNetworkPosture: ${posture}`,
        `defaultCapabilitiesPosture: ${posture}`,
        // Every decision is judged from its alert: none may be throttled away (a posture in audit reports every library a shell loads).
        'alertThrottling: true',
        'maxAlertPerSec: 100000',
        'throttleSec: 1',
        '',
      ].join('\n'),
    );
    this.#agent = await time('agent', () =>
      startAgentProcess(this.#paths, ['--config', config, '--enforcement', 'required', '--policy-dir', this.#policies, '--bpffs-dir', this.#options.bpffsDirectory, '--alerts-file', this.#alertsFile, '--log-format', 'json']),
    );
  }

  /** The scenario's policy as the only file in the watched directory, applied: resolves on the agent's 'policies applied'. */
  async applyPolicy(scenario: Scenario): Promise<void> {
    const agent = this.agent;
    const before = agent.logLines().length;
    const staged = join(this.#options.work, 'policy.staged');
    await writeFile(staged, scenario.policyText);
    for (const file of await readdir(this.#policies)) if (file !== 'scenario.yaml') await rm(join(this.#policies, file));
    await rename(staged, join(this.#policies, 'scenario.yaml'));
    const applied = () => agent.logLines().slice(before).find((line) => line.message === 'policies applied' || line.message === 'policy change refused: the previous policies stay in force');
    const line = await agent.waitForLog((candidate) => candidate === applied(), 60_000);
    if (line.message !== 'policies applied') throw new Error(`scenario ${scenario.name}: the agent refused ${scenario.policyFile}: ${JSON.stringify(agent.logLines().slice(before))}`);
  }

  /** What `bulwark policy validate` says the scenario's policy does not enforce (the native AppArmor profile). */
  async notEnforced(scenario: Scenario): Promise<{ field: string; why: string }[]> {
    const file = join(this.#options.work, `${scenario.name}-${scenario.policyFile}`);
    await writeFile(file, scenario.policyText);
    const result = await runCommand(process.execPath, [agentBundle, 'policy', 'validate', '--json', file]);
    const report = JSON.parse(result.stdout) as { valid: boolean; notEnforced: { field: string; why: string }[] };
    if (!report.valid) throw new Error(`scenario ${scenario.name}: ${scenario.policyFile} does not validate: ${result.stdout}`);
    return report.notEnforced;
  }

  /** Every alert of one container so far. */
  async alertsOf(containerId: string): Promise<Record<string, unknown>[]> {
    return (await readAlerts(this.#alertsFile)).filter((alert) => alert.containerID === containerId);
  }

  /** Runs `args` in a fresh container of the command's source (labelled, in the namespace), until the agent has removed it. */
  async #runIn(command: ScenarioCommand, id: string, args: readonly string[]): Promise<CommandRun> {
    const labels = (this.#options.labels ?? multiubuntuLabels)(command.container);
    const bundle = await this.#bundles!.bundle({
      id,
      args,
      hostname: `${command.source}-0`,
      annotations: {
        ...labels,
        'io.kubernetes.pod.namespace': this.#options.namespace ?? 'github',
        'io.kubernetes.pod.name': `${command.source}-0`,
        'io.kubernetes.container.name': `${command.container}-container`,
      },
    });
    const result = await runContainer(this.#paths.runcRoot, bundle, id);
    // The hook's poststop removed the container; its alerts are written once the agent has read the ring buffer.
    await this.agent.waitForLog((line) => (line.message === 'container removed' || line.message === 'container stop for unknown container') && line.id === id, 60_000).catch(() => undefined);
    return { status: result.code, output: result.output };
  }

  /** What the container's shell raises by itself under the scenario's policy: `bash -c true`'s alerts. */
  async baseline(scenario: Scenario, command: ScenarioCommand): Promise<ReadonlySet<string>> {
    const key = `${scenario.name}/${command.container}`;
    let found = this.#baselines.get(key);
    if (found === undefined) {
      const id = `${scenario.name}-baseline-${command.container}`;
      await this.#runIn(command, id, ['bash', '-c', 'true']);
      found = new Set((await settle(() => this.alertsOf(id), () => false, 1000, 5000)).map(alertKey));
      this.#baselines.set(key, found);
    }
    return found;
  }

  /** Runs one command in a fresh container and judges it (a native or host scenario's command is run and reported, not judged). */
  async runCommand(scenario: Scenario, command: ScenarioCommand): Promise<CommandOutcome> {
    const started = performance.now();
    const id = `${scenario.name}-${command.name}`;
    const base = { scenario: scenario.name, policyFile: scenario.policyFile, command, containerId: id };
    if (scenario.kind === 'host') {
      return { ...base, notJudged: 'a host policy (hsp-): host policies are not enforced by Bulwark yet', elapsedMs: 0 };
    }
    const expectation = scenario.kind === 'native' ? undefined : expectationOf(scenario, command, this.#options.posture);
    const baseline = expectation !== undefined && expectation.alert !== 'none' ? await this.baseline(scenario, command) : new Set<string>();
    const run = await this.#runIn(command, id, ['bash', '-c', command.cmd]);
    if (expectation === undefined) {
      const alerts = await settle(() => this.alertsOf(id), () => false, 1000, 5000);
      return { ...base, run, notJudged: `native AppArmor profile, not enforced (${alerts.length} alerts)`, elapsedMs: performance.now() - started };
    }
    const alerts = await settle(
      () => this.alertsOf(id),
      (items) => expectation.alert !== 'none' && findExpectedAlert(expectation, items, baseline) !== undefined,
      1000,
      10_000,
    );
    return { ...base, expectation, run, judgement: judgeCommand(expectation, run, alerts, baseline), elapsedMs: performance.now() - started };
  }

  async stop(): Promise<void> {
    await this.#agent?.stop();
    await this.#network?.stop();
    await runCommand('rm', ['-rf', this.#options.bpffsDirectory]);
  }
}

/** The results as a Markdown table: scenario, cmd, command, expected, got, verdict. */
export function formatScenarioTable(outcomes: readonly CommandOutcome[], posture: DefaultPosture): string {
  const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');
  const lines = [
    `Default posture: ${posture} (file, network, capabilities).`,
    '',
    '| scenario | cmd | command | expected | got | verdict |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const outcome of outcomes) {
    const pass = outcome.judgement === undefined ? 'not enforced' : outcome.judgement.pass ? 'pass' : 'FAIL';
    const expected = outcome.expectation === undefined ? (outcome.notJudged ?? '') : outcome.judgement!.expected;
    const got = outcome.judgement?.got ?? (outcome.run === undefined ? 'not run' : `${outcome.run.status === 0 ? 'passed' : 'failed'} (exit ${outcome.run.status ?? 'killed'}); ${outcome.notJudged ?? ''}`);
    lines.push(`| ${outcome.scenario} | ${outcome.command.name} | \`${cell(outcome.command.cmd)}\` | ${cell(expected)} | ${cell(got)} | ${pass} |`);
  }
  return `${lines.join('\n')}\n`;
}
