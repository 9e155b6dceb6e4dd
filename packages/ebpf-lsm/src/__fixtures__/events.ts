/**
 * Kernel-tier helper for the enforcer's events: a drain that collects what
 * the ring holds once it has been quiet for a moment, decoded with the
 * package's own decodeEnforcerEvent.
 */
import { decodeEnforcerEvent, type EnforcerEvent } from '../records.js';
import type { RingBuffer } from '../ring-buffer.js';

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
        events.push(decodeEnforcerEvent(next.value));
      }
    },
  };
}
