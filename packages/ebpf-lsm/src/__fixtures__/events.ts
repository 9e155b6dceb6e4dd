/**
 * Kernel-tier helpers for the enforcer's events: the record as
 * src/bpf/enforcer.bpf.c writes it (struct event), and a drain that
 * collects what the ring holds once it has been quiet for a moment.
 */
import { VERDICTS, type Verdict } from '../rules.js';
import type { RingBuffer } from '../ring-buffer.js';

export const EVENT_SIZE = 8 + 8 + 8 * 4 + 16 + 252 + 252;

export interface EnforcerEvent {
  timeNs: bigint;
  cgroupId: bigint;
  scope: number;
  pid: number;
  tgid: number;
  uid: number;
  operation: number;
  ruleId: number;
  verdict: Verdict;
  dropped: number;
  comm: string;
  resource: string;
  /** For a socket or capability, the raw key bytes after the resource type byte, as hex. */
  resourceBytes: Buffer;
  source: string;
}

const text = (buffer: Buffer) => {
  const end = buffer.indexOf(0);
  return buffer.subarray(0, end === -1 ? buffer.length : end).toString('utf8');
};

export function decodeEvent(record: Buffer): EnforcerEvent {
  if (record.length !== EVENT_SIZE) throw new Error(`event: expected ${EVENT_SIZE} bytes, got ${record.length}`);
  const u32 = (offset: number) => record.readUInt32LE(offset);
  const resource = record.subarray(64, 64 + 252);
  return {
    timeNs: record.readBigUInt64LE(0),
    cgroupId: record.readBigUInt64LE(8),
    scope: u32(16),
    pid: u32(20),
    tgid: u32(24),
    uid: u32(28),
    operation: u32(32),
    ruleId: u32(36),
    verdict: VERDICTS[u32(40)] ?? 'allow',
    dropped: u32(44),
    comm: text(record.subarray(48, 64)),
    resource: text(resource),
    resourceBytes: Buffer.from(resource.subarray(0, 12)),
    source: text(record.subarray(64 + 252, 64 + 504)),
  };
}

/** One consumer over a test's whole run: `drain()` returns what arrived since the last call, once the ring is quiet for `quietMs`. */
export function eventCollector(ring: RingBuffer) {
  const iterator = ring[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<Buffer>> | undefined;
  return {
    async drain(quietMs = 400): Promise<EnforcerEvent[]> {
      const events: EnforcerEvent[] = [];
      for (;;) {
        pending ??= iterator.next() as Promise<IteratorResult<Buffer>>;
        let timer: NodeJS.Timeout | undefined;
        const quiet = new Promise<'quiet'>((resolve) => {
          timer = setTimeout(() => resolve('quiet'), quietMs);
        });
        const next = await Promise.race([pending, quiet]);
        clearTimeout(timer);
        if (next === 'quiet') return events;
        pending = undefined;
        if (next.done === true) return events;
        events.push(decodeEvent(next.value));
      }
    },
  };
}
