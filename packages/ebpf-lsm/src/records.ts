/**
 * What the enforcer writes, decoded: its event records and its decision
 * counters (struct event and struct decision_counts in src/bpf/layout.h).
 * Pure, so that a tool that formats alerts needs no native code.
 */
import { ValidationError } from '@bulwark/errors';
import { DECISION_COUNTS_SIZE, EVENT_SIZE, VERDICTS, decisionCountsCodec, eventRecordCodec, type Verdict } from './layout.js';

export interface DecisionCounts {
  readonly allowed: bigint;
  readonly denied: bigint;
  /** Undecidable (a path that could not be resolved), so denied. */
  readonly failed: bigint;
  readonly audited: bigint;
  /** Of `allowed`, the opens and execs the decision cache allowed without resolving the path. */
  readonly cached: bigint;
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
  /** The path; for a socket or capability, the key's bytes in hex. */
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
