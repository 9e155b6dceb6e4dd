/**
 * Kernel-tier helpers shared by the enforcer's tests: container scopes as
 * fresh cgroups, a probe script run in one with new mount and pid
 * namespaces, a shell that keeps opening a file in one, rule sets as inner
 * maps, and the decision counters.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { codecs, createRuleMap, decodeDecisionCounts, markRulesChanged, type BpfMap, type DecisionCounts, type LoadedObject } from '../index.js';
import { encodeRules, type Postures, type Rule } from '../rules.js';

const cgroupRoot = '/sys/fs/cgroup';

/** A fresh cgroup under the v2 root; its path is added to `created` so the test can remove it. */
export function makeCgroup(prefix: string, name: string, created: string[]): { path: string; id: bigint } {
  const path = join(cgroupRoot, `${prefix}-${name}-${process.pid}`);
  mkdirSync(path);
  created.push(path);
  return { path, id: statSync(path, { bigint: true }).ino };
}

/** Probe output, one `label result` per line, as label -> result. */
function parseLabels(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]));
}

/**
 * Runs `script` in `cgroup` (or here, without one) with new mount and pid
 * namespaces, as a container's process would (`pidNamespace: false` keeps
 * the host's pid namespace, so that host pids can be named); each output
 * line is `label result`, returned as label -> result.
 */
export function probe(script: string, cgroup?: string, options: { pidNamespace?: boolean } = {}): Record<string, string> {
  const enter = cgroup === undefined ? '' : `echo $$ > ${cgroup}/cgroup.procs && `;
  const command = options.pidNamespace === false ? `exec sh ${script}` : `exec unshare --mount --pid --fork sh ${script}`;
  const run = spawnSync('sh', ['-c', `${enter}${command}`], { encoding: 'utf8', timeout: 60_000 });
  expect(run.status, run.stderr).toBe(0);
  return parseLabels(run.stdout);
}

/** One open to try: `label` is printed with the result, `path` is opened while in `cgroup`. */
export interface OpenCheck {
  readonly label: string;
  readonly cgroup: string;
  readonly path: string;
}

/**
 * A lighter probe for many scopes: one shell forks a subshell per check,
 * which moves itself into the check's cgroup and opens the path for
 * reading. (The shell itself never enters a scope: a process belongs to
 * the first scope it is seen in, wherever it moves next.) Returns label ->
 * `ok` or the shell's error (`... Operation not permitted`). No new
 * namespaces, no process per scope beyond the subshell.
 */
export function checkOpens(checks: readonly OpenCheck[]): Record<string, string> {
  const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;
  const lines = checks.map(
    ({ label, cgroup, path }) =>
      `if err=$( { read -r pid rest < /proc/self/stat && echo "$pid" > ${quote(join(cgroup, 'cgroup.procs'))} && true < ${quote(path)}; } 2>&1 ); then echo ${quote(label)} ok; else echo ${quote(label)} "$err"; fi`,
  );
  const run = spawnSync('sh', ['-c', lines.join('\n')], { encoding: 'utf8', timeout: 120_000 });
  expect(run.status, run.stderr).toBe(0);
  return parseLabels(run.stdout);
}

/** A shell in a scope that keeps trying one open (startOpenLoop). */
export interface OpenLoop {
  /** Resolves once the shell is in its cgroup and about to try the first open. */
  readonly ready: Promise<void>;
  /** Opens tried so far. */
  readonly tries: number;
  /** Of those, the ones that succeeded. */
  readonly opened: number;
  /** Resolves once `count` more opens have been tried than now. */
  moreTries(count: number): Promise<void>;
  /** Kills the shell (and a subshell it is in) and resolves with the final counts once it is gone. */
  stop(): Promise<{ tries: number; opened: number }>;
}

/**
 * Starts a shell that moves itself into `cgroup` and then runs `open` (a
 * shell command that opens a file and fails when the open is denied, such
 * as `(: 1<> /f) 2>/dev/null`) in a tight loop, printing `try` before each
 * attempt and `open` after each success, which are counted as they come.
 */
export function startOpenLoop(cgroup: string, open: string): OpenLoop {
  const script = `echo $$ > ${cgroup}/cgroup.procs; echo ready; while :; do echo try; if ${open}; then echo open; fi; done`;
  const shell = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const counts = { tries: 0, opened: 0 };
  let partial = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const waiting: { tries: number; resolve: () => void }[] = [];
  shell.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'try') counts.tries++;
      else if (line === 'open') counts.opened++;
      else if (line === 'ready') onReady();
    }
    for (const waiter of waiting.filter((entry) => counts.tries >= entry.tries)) {
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
  });
  const exited = new Promise((resolve) => shell.once('exit', resolve));
  return {
    ready,
    get tries() {
      return counts.tries;
    },
    get opened() {
      return counts.opened;
    },
    moreTries(count: number): Promise<void> {
      return new Promise((resolve) => waiting.push({ tries: counts.tries + count, resolve }));
    },
    async stop() {
      spawnSync('pkill', ['-KILL', '-P', String(shell.pid)]);
      shell.kill('SIGKILL');
      await exited;
      return { ...counts };
    },
  };
}

/** A scope's rule set as a fresh inner map, sized to its entries. */
export function ruleMap(name: string, rules: readonly Rule[], postures?: Postures): BpfMap {
  return createRuleMap(encodeRules(rules, postures === undefined ? {} : { postures }), name);
}

/**
 * Puts `map` in the scope's slot of `rules` and marks the scope's rules
 * changed (the decision cache); the outer map holds the map afterwards, so
 * this handle is closed.
 */
export function setRules(object: LoadedObject, scope: number, map: BpfMap): void {
  object.map('rules').updateInnerMap(codecs.u32.encode(scope), map);
  map.close();
  markRulesChanged(object.map('generations'), scope);
}

/**
 * Puts many scopes' rule sets in `rules` in one BPF_MAP_UPDATE_BATCH call,
 * then closes the handles. The kernel waits for an RCU grace period after
 * updating a map of maps (maybe_wait_bpf_programs): 6.1, the guest's
 * kernel, waits after every element, in a batch too (about 25 ms each under
 * TCG, so 4,096 scopes take about 100 s either way); newer kernels wait
 * once per batch (this host's 6.18: 4,096 inner maps in 25 ms, against 38 s
 * one updateInnerMap() at a time). A batch update of a map of maps takes
 * inner map fds as values, in host byte order, as updateInnerMap() writes
 * them.
 */
export function setRulesBatch(object: LoadedObject, sets: readonly (readonly [scope: number, map: BpfMap])[]): void {
  try {
    object.map('rules').updateBatch(sets.map(([scope, map]) => [codecs.u32.encode(scope), codecs.u32.encode(map.fd)] as const));
  } finally {
    for (const [, map] of sets) map.close();
  }
  for (const [scope] of sets) markRulesChanged(object.map('generations'), scope);
}

export type Decisions = DecisionCounts;
const decodeDecisions = decodeDecisionCounts;

export function readDecisions(object: LoadedObject, scope: number): Decisions {
  const value = object.map('decisions').lookup(codecs.u32.encode(scope));
  if (value === undefined) throw new Error(`no decisions for scope ${scope}`);
  return decodeDecisions(value);
}

/** Every scope's counters in one batch read, indexed by scope. */
export function readAllDecisions(object: LoadedObject): Decisions[] {
  const all: Decisions[] = [];
  for (const [key, value] of object.map('decisions').lookupBatch()) all[codecs.u32.decode(key)] = decodeDecisions(value);
  return all;
}
