/**
 * The recent alerts, in memory, for `bulwark alerts --follow`: a bounded
 * ring that numbers each alert it takes, and a cursor read that says what a
 * slow reader missed. Pure: no I/O, no clock.
 */
import { ValidationError } from '@bulwark/errors';
import type { Alert } from './schema.js';

/** Which alerts a reader wants; every field given must match. */
export interface AlertFilter {
  /** A prefix of the container's id (`3f2a` matches `3f2a9c...`); host alerts have none, so never match. */
  readonly containerId?: string;
  /** A prefix of the container's name. */
  readonly containerName?: string;
  /** The policy's name, whole (`DefaultPosture` for posture decisions). */
  readonly policyName?: string;
}

export interface SequencedAlert {
  /** 1 for the first alert the buffer took, then one more for each. */
  readonly sequence: number;
  readonly alert: Alert;
}

export interface AlertPage {
  /** The alerts after the cursor that match, oldest first, at most `limit`. */
  readonly alerts: readonly SequencedAlert[];
  /** The cursor for the next call: the last sequence this read looked at (matching or not). */
  readonly cursor: number;
  /** Alerts after the cursor the ring had already overwritten, matching or not. */
  readonly missed: number;
}

export interface AlertBufferOptions {
  /** How many alerts the ring keeps (default 1024). */
  readonly capacity?: number;
}

export class AlertBuffer {
  readonly capacity: number;
  readonly #ring: (SequencedAlert | undefined)[];
  #last = 0;

  constructor(options: AlertBufferOptions = {}) {
    const capacity = options.capacity ?? 1024;
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new ValidationError('alert buffer', [{ path: 'capacity', message: `expected a positive integer, got ${String(capacity)}` }]);
    }
    this.capacity = capacity;
    this.#ring = new Array<SequencedAlert | undefined>(capacity).fill(undefined);
  }

  /** The sequence of the newest alert (0 before the first): a cursor that reads only what comes next. */
  get sequence(): number {
    return this.#last;
  }

  /** Keeps `alert`, overwriting the oldest when full; returns its sequence. */
  push(alert: Alert): number {
    this.#last += 1;
    this.#ring[this.#last % this.capacity] = { sequence: this.#last, alert };
    return this.#last;
  }

  /**
   * The alerts after `cursor` (0 for all the ring holds) that match
   * `filter`, oldest first, at most `limit` (default: all). A cursor from
   * the future (another agent's, before a restart) reads as 0.
   */
  since(cursor: number, filter: AlertFilter = {}, limit = Number.POSITIVE_INFINITY): AlertPage {
    if (!Number.isSafeInteger(cursor) || cursor < 0) {
      throw new ValidationError('read alerts', [{ path: 'cursor', message: `expected a non-negative integer, got ${String(cursor)}` }]);
    }
    if (!(limit >= 1)) throw new ValidationError('read alerts', [{ path: 'limit', message: `expected at least 1, got ${String(limit)}` }]);
    const after = cursor > this.#last ? 0 : cursor;
    const oldest = Math.max(1, this.#last - this.capacity + 1);
    const missed = Math.max(0, oldest - after - 1);
    const alerts: SequencedAlert[] = [];
    let sequence = Math.max(after + 1, oldest);
    for (; sequence <= this.#last && alerts.length < limit; sequence++) {
      const entry = this.#ring[sequence % this.capacity]!;
      if (matches(entry.alert, filter)) alerts.push(entry);
    }
    return { alerts, cursor: sequence - 1, missed };
  }
}

function matches(alert: Alert, filter: AlertFilter): boolean {
  const prefixed = (value: string | undefined, prefix: string | undefined) => prefix === undefined || (value !== undefined && value.startsWith(prefix));
  return prefixed(alert.containerID, filter.containerId) && prefixed(alert.containerName, filter.containerName) && (filter.policyName === undefined || alert.policyName === filter.policyName);
}
