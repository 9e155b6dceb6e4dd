/**
 * Kernel-tier helpers shared by the enforcer's tests: container scopes as
 * fresh cgroups, a probe script run in one with new mount and pid
 * namespaces, rule sets as inner maps, and the decision counters.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { codecs, createMap, type BpfMap, type LoadedObject } from '../index.js';
import { RULE_KEY_SIZE, RULE_VALUE_SIZE, encodeRules, type Postures, type Rule } from '../rules.js';

const cgroupRoot = '/sys/fs/cgroup';

/** A fresh cgroup under the v2 root; its path is added to `created` so the test can remove it. */
export function makeCgroup(prefix: string, name: string, created: string[]): { path: string; id: bigint } {
  const path = join(cgroupRoot, `${prefix}-${name}-${process.pid}`);
  mkdirSync(path);
  created.push(path);
  return { path, id: statSync(path, { bigint: true }).ino };
}

/**
 * Runs `script` in `cgroup` (or here, without one) with new mount and pid
 * namespaces, as a container's process would; each output line is
 * `label result`, returned as label -> result.
 */
export function probe(script: string, cgroup?: string): Record<string, string> {
  const enter = cgroup === undefined ? '' : `echo $$ > ${cgroup}/cgroup.procs && `;
  const run = spawnSync('sh', ['-c', `${enter}exec unshare --mount --pid --fork sh ${script}`], { encoding: 'utf8', timeout: 60_000 });
  expect(run.status, run.stderr).toBe(0);
  return Object.fromEntries(run.stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]));
}

/** A scope's rule set as a fresh inner map, sized to its entries. */
export function ruleMap(name: string, rules: readonly Rule[], postures?: Postures): BpfMap {
  const entries = encodeRules(rules, postures === undefined ? {} : { postures });
  const map = createMap({ type: 'hash', keySize: RULE_KEY_SIZE, valueSize: RULE_VALUE_SIZE, maxEntries: Math.max(entries.length, 1), name });
  map.updateBatch(entries.map(({ key, value }) => [key, value] as const));
  return map;
}

/** Puts `map` in the scope's slot of `rules`; the outer map holds it afterwards, so this handle is closed. */
export function setRules(object: LoadedObject, scope: number, map: BpfMap): void {
  object.map('rules').updateInnerMap(codecs.u32.encode(scope), map);
  map.close();
}

export function readDecisions(object: LoadedObject, scope: number): { allowed: bigint; denied: bigint; failed: bigint; audited: bigint } {
  const value = object.map('decisions').lookup(codecs.u32.encode(scope));
  if (value === undefined) throw new Error(`no decisions for scope ${scope}`);
  return { allowed: value.readBigUInt64LE(0), denied: value.readBigUInt64LE(8), failed: value.readBigUInt64LE(16), audited: value.readBigUInt64LE(24) };
}
