/**
 * What the enforcer writes, decoded: its event records and its decision
 * counters (struct event and struct decision_counts in src/bpf/layout.h).
 * Pure, so that a tool that formats alerts needs no native code.
 */
import { ValidationError } from '@bulwark/errors';
import {
  DECISION_COUNTS_SIZE,
  EVENT_SIZE,
  OPERATION_BITS,
  PRESETS,
  RESOURCE_CAPABILITY,
  RESOURCE_PRESET,
  RESOURCE_SOCKET,
  VERDICTS,
  decisionCountsCodec,
  eventRecordCodec,
  type Verdict,
} from './layout.js';
import { capabilityResource, presetResource, socketResource } from './rules.js';

export interface DecisionCounts {
  readonly allowed: bigint;
  readonly denied: bigint;
  /** Undecidable (a path that could not be resolved), so denied. */
  readonly failed: bigint;
  readonly audited: bigint;
  /** Of `allowed`, the opens and execs the decision cache allowed without resolving the path. */
  readonly cached: bigint;
  /** Events not emitted because the ring buffer was full (the reader fell behind). */
  readonly lost: bigint;
}

/** Decodes one `decisions` value. Throws ValidationError for a value of the wrong size. */
export function decodeDecisionCounts(value: Uint8Array): DecisionCounts {
  if (value.length !== DECISION_COUNTS_SIZE) {
    throw new ValidationError('decode decision counts', [{ path: '', message: `expected ${DECISION_COUNTS_SIZE} bytes, got ${value.length}` }]);
  }
  return decisionCountsCodec.decode(value);
}

/** One record of the `events` ring buffer (struct event in layout.h). */
export interface EnforcerEvent {
  readonly timeNs: bigint;
  readonly cgroupId: bigint;
  readonly scope: number;
  readonly pid: number;
  readonly tgid: number;
  readonly uid: number;
  /** One OPERATION_BITS bit (0 for a `dropped` record). */
  readonly operation: number;
  readonly ruleId: number;
  readonly verdict: Verdict;
  /** For a `dropped` record: how many events the throttle held back. */
  readonly dropped: number;
  readonly comm: string;
  /**
   * The path ('' when it could not be resolved: `fail-closed`); for a socket
   * or capability, the first 12 bytes of its rule key in hex (decodeEventResource
   * reads them).
   */
  readonly resource: string;
  /** The executable of the process. */
  readonly source: string;
}

/** A NUL-terminated string field as text. */
function text(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.buffer, bytes.byteOffset, end === -1 ? bytes.length : end).toString('utf8');
}

/** Decodes one event record. Throws ValidationError for a record of the wrong size. */
export function decodeEnforcerEvent(record: Uint8Array): EnforcerEvent {
  if (record.length !== EVENT_SIZE) {
    throw new ValidationError('decode enforcer event', [{ path: '', message: `expected ${EVENT_SIZE} bytes, got ${record.length}` }]);
  }
  const raw = eventRecordCodec.decode(record);
  const resource = raw.resource;
  return {
    timeNs: raw.timeNs,
    cgroupId: raw.cgroupId,
    scope: raw.scope,
    pid: raw.pid,
    tgid: raw.tgid,
    uid: raw.uid,
    operation: raw.operation,
    ruleId: raw.ruleId,
    verdict: VERDICTS[raw.verdict] ?? 'allow',
    dropped: raw.dropped,
    comm: text(raw.comm),
    // A path starts with '/' (or is empty); a socket or capability key starts with its resource byte.
    resource: resource[0] === 0x2f || resource[0] === 0 ? text(resource) : Buffer.from(resource.subarray(0, 12)).toString('hex'),
    source: text(raw.source),
  };
}

/** The ways a scoped process may try to harm a protected one (the enforcer's protection hooks). */
export type ProtectionPath = 'signal' | 'ptrace' | 'rlimit' | 'scheduler' | 'nice' | 'ioprio' | 'memory' | 'proc' | 'cgroup';
const PROTECTION_PATHS: Readonly<Record<string, ProtectionPath>> = { sig: 'signal', ptr: 'ptrace', lim: 'rlimit', sch: 'scheduler', nic: 'nice', iop: 'ioprio', mem: 'memory', prc: 'proc', cgr: 'cgroup' };

/** What an event's resource names, read from its operation and resource (decodeEventResource). */
export type EventResource =
  /** A file or an executable; `path` is '' when the kernel could not resolve it (`fail-closed`). */
  | { readonly kind: 'path'; readonly path: string }
  /** socket(2)'s arguments as the hook saw them (type without SOCK_NONBLOCK and SOCK_CLOEXEC). */
  | { readonly kind: 'socket'; readonly family: number; readonly type: number; readonly protocol: number }
  /** A CAP_* number (linux/capability.h). */
  | { readonly kind: 'capability'; readonly capability: number }
  /**
   * A protected process harmed from a scope, and how: `signal` (kill and
   * friends), `ptrace` (attach, process_vm_*, /proc/<pid>/mem), `rlimit`,
   * `scheduler`, `nice`, `ioprio`, `memory` (migrate_pages, move_pages);
   * `undefined` for an older enforcer's event. Not which process or signal.
   */
  | { readonly kind: 'signal'; readonly via?: ProtectionPath }
  /** An exec a preset decided that has no path: `anonymousMapExec` (PRESETS). */
  | { readonly kind: 'preset'; readonly preset: keyof typeof PRESETS }
  /** A `dropped` record: no resource. */
  | { readonly kind: 'none' }
  /** A resource this version does not know how to read, as the event has it. */
  | { readonly kind: 'unknown'; readonly resource: string };

/**
 * Reads an event's resource by its operation: a socket's family, type and
 * protocol and a capability's number from the key bytes, a path as it is.
 * Never throws: what does not decode is `unknown`.
 */
export function decodeEventResource(event: Pick<EnforcerEvent, 'operation' | 'resource'>): EventResource {
  const key = (expected: number, size: number): Uint8Array | undefined => {
    if (!/^(?:[0-9a-f]{2})+$/.test(event.resource)) return undefined;
    const bytes = Buffer.from(event.resource, 'hex');
    return bytes.length >= size && bytes[0] === expected ? bytes.subarray(0, size) : undefined;
  };
  switch (event.operation) {
    case 0:
      return { kind: 'none' };
    case OPERATION_BITS.socket: {
      const bytes = key(RESOURCE_SOCKET, socketResource.size);
      if (bytes === undefined) break;
      const { family, type, protocol } = socketResource.decode(bytes);
      return { kind: 'socket', family, type, protocol };
    }
    case OPERATION_BITS.capability: {
      const bytes = key(RESOURCE_CAPABILITY, capabilityResource.size);
      if (bytes === undefined) break;
      return { kind: 'capability', capability: capabilityResource.decode(bytes).capability };
    }
    case OPERATION_BITS.signal: {
      const tag = /^(?:[0-9a-f]{2})+$/.test(event.resource) ? Buffer.from(event.resource, 'hex').subarray(0, 3).toString('latin1') : event.resource.slice(0, 3);
      const via = PROTECTION_PATHS[tag];
      return via === undefined ? { kind: 'signal' } : { kind: 'signal', via };
    }
    default: {
      if (event.resource === '' || event.resource.startsWith('/')) return { kind: 'path', path: event.resource };
      const bytes = event.operation === OPERATION_BITS.exec ? key(RESOURCE_PRESET, presetResource.size) : undefined;
      const preset = bytes === undefined ? undefined : Object.entries(PRESETS).find(([, index]) => index === presetResource.decode(bytes).preset)?.[0];
      if (preset !== undefined) return { kind: 'preset', preset: preset as keyof typeof PRESETS };
    }
  }
  return { kind: 'unknown', resource: event.resource };
}
