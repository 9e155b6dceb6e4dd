/**
 * Enforcer events as the ring buffer's reader gets them: records encoded
 * with the layout's own codec (struct event) and decoded by
 * decodeEnforcerEvent, with resources as the program writes them (a path,
 * or a socket or capability rule key's bytes).
 */
import { readFileSync } from 'node:fs';
import {
  OPERATION_BITS,
  RULE_PATH_SIZE,
  SOURCE_ANY,
  VERDICTS,
  capabilityKey,
  presetKey,
  decodeEnforcerEvent,
  eventRecordCodec,
  ruleKeyCodec,
  socketKey,
  type EnforcerEvent,
  type Operation,
  type Verdict,
} from '@bulwark/ebpf-lsm/rules';
import { compilePolicies, hostWorkload, parsePolicies, type Workload } from '@bulwark/policy';

export const policyFile = new URL('policies.yaml', import.meta.url);
const parsed = parsePolicies(readFileSync(policyFile, 'utf8'), 'policies.yaml');
if (parsed.errors.length > 0) throw parsed.errors[0]!;

export const web: Workload = {
  kind: 'container',
  id: '3f2a9c1e7b6d5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a09',
  name: 'web',
  namespace: 'shop',
  pod: 'web-7d9f8-abcde',
  image: 'docker.io/library/nginx:1.27',
  labels: { app: 'web', tier: 'frontend' },
};
export const host = hostWorkload('node-1');
export const webPolicies = compilePolicies(parsed.policies, web);
export const hostPolicies = compilePolicies(parsed.policies, host);

/** The id of the rule compiled from `field` of `policy` (its id is what the kernel reports). */
export function ruleId(compiled: typeof webPolicies, policy: string, field: string): number {
  const rule = compiled.rules.find(({ origin }) => origin.policy === policy && origin.field === field);
  if (rule === undefined) throw new Error(`no rule ${policy} ${field}`);
  return rule.rule.id;
}

const text = (value: string, size: number) => Uint8Array.from({ length: size }, (_, index) => Buffer.from(value, 'utf8')[index] ?? 0);
const keyBytes = (key: Buffer) => ruleKeyCodec.decode(key).path;

export const socketResource = (family: number, type: number, protocol: number) => keyBytes(socketKey(SOURCE_ANY, family, type, protocol));
export const capabilityResource = (capability: number) => keyBytes(capabilityKey(SOURCE_ANY, capability));
export const presetResource = (preset: 'filelessExec' | 'anonymousMapExec') => keyBytes(presetKey(SOURCE_ANY, preset));

export interface EventFields {
  readonly verdict: Verdict;
  /** The enforcer's operation; none for a `dropped` record. */
  readonly operation?: Operation;
  readonly ruleId?: number;
  /** A path, or a key's bytes (socketResource, capabilityResource). */
  readonly resource?: string | Uint8Array;
  readonly source?: string;
  readonly comm?: string;
  readonly dropped?: number;
  readonly timeNs?: bigint;
  readonly scope?: number;
}

/** One event through the real codecs: encoded as the kernel lays it out, decoded as the agent reads it. */
export function enforcerEvent(fields: EventFields): EnforcerEvent {
  const resource = fields.resource ?? '';
  return decodeEnforcerEvent(
    eventRecordCodec.encode({
      timeNs: fields.timeNs ?? 12_345_678_901_234n,
      cgroupId: 8123n,
      scope: fields.scope ?? 7,
      pid: 4243,
      tgid: 4242,
      uid: 1000,
      operation: fields.operation === undefined ? 0 : OPERATION_BITS[fields.operation],
      ruleId: fields.ruleId ?? 0,
      verdict: VERDICTS.indexOf(fields.verdict),
      dropped: fields.dropped ?? 0,
      comm: text(fields.comm ?? 'cat', 16),
      resource: typeof resource === 'string' ? text(resource, RULE_PATH_SIZE) : Uint8Array.from({ length: RULE_PATH_SIZE }, (_, index) => resource[index] ?? 0),
      source: text(fields.source ?? '/usr/bin/cat', RULE_PATH_SIZE),
    }),
  );
}

/** 2024-01-16T11:42:58Z minus the event's default time: the Unix ns at which CLOCK_MONOTONIC read zero. */
export const BOOT_TIME_NS = 1_705_405_378_662_928_123n - 12_345_678_901_234n;
