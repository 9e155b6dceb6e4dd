/**
 * The enforcer's events as alerts: each decoded event becomes an alert
 * (@bulwark/alerts) with the policy that decided it, from what the scope
 * enforced when it happened; alerts go to the alert file, to stdout if
 * asked, and to a ring that `bulwark alerts` reads over the control socket.
 * A write that fails is counted, never fatal.
 */
import { hostname } from 'node:os';
import { describeError } from '@bulwark/errors';
import { AlertBuffer, createAlert, type Alert } from '@bulwark/alerts';
import { AlertLog, createStreamSink, measureBootTimeNs, type StreamSink } from '@bulwark/alerts/sinks';
import type { EnforcerEvent, RingBuffer } from '@bulwark/ebpf-lsm';
import type { Enforcement } from './enforcement.js';
import type { Logger } from './log.js';

export interface AlertPipelineOptions {
  readonly enforcement: Enforcement;
  /** Where alerts are appended ('' or undefined: no file). */
  readonly file?: string;
  readonly stdout?: boolean;
  readonly throttle?: { readonly eventsPerSecond: number; readonly suppressMs: number };
  readonly log: Logger;
  /** Called with each alert made (the metrics count them). */
  readonly onAlert?: (alert: Alert) => void;
}

export class AlertPipeline {
  readonly buffer = new AlertBuffer({ capacity: 4096 });
  readonly #options: AlertPipelineOptions;
  readonly #hostName = hostname();
  #bootTimeNs = measureBootTimeNs();
  #file: AlertLog | undefined;
  readonly #stdout: StreamSink | undefined;
  #events: RingBuffer<EnforcerEvent> | undefined;
  #running: Promise<void> | undefined;
  #failedAlerts = 0;

  constructor(options: AlertPipelineOptions) {
    this.#options = options;
    if (options.file !== undefined && options.file !== '') this.#file = AlertLog.open(options.file);
    this.#stdout = options.stdout === true ? createStreamSink(process.stdout) : undefined;
  }

  /** Reads the ring buffer until stop(). */
  start(events: RingBuffer<EnforcerEvent>): void {
    this.#events = events;
    this.#running = (async () => {
      try {
        for await (const event of events) this.handle(event);
      } catch (error) {
        this.#options.log.error('alert stream stopped', { error: describeError(error) });
      }
    })();
  }

  /** One event: its alert made and written everywhere it goes. */
  handle(event: EnforcerEvent): Alert | undefined {
    const state = this.#options.enforcement.scope(event.scope);
    let alert: Alert;
    try {
      alert = createAlert(event, {
        workload: state?.workload ?? { kind: 'container', labels: {} },
        ...(state === undefined ? {} : { compiled: state.compiled }),
        hostName: this.#hostName,
        bootTimeNs: this.#bootTimeNs,
        ...(this.#options.throttle === undefined ? {} : { throttle: this.#options.throttle }),
      });
    } catch (error) {
      this.#failedAlerts++;
      this.#options.log.warn('event not turned into an alert', { error: describeError(error), scope: event.scope, ruleId: event.ruleId });
      return undefined;
    }
    this.buffer.push(alert);
    this.#file?.write(alert);
    this.#stdout?.write(alert);
    this.#options.onAlert?.(alert);
    return alert;
  }

  /** SIGHUP: the alert file reopened (after rotation), the clock measured again. */
  reopen(): void {
    this.#bootTimeNs = measureBootTimeNs();
    this.#file?.reopen();
  }

  /** The ring buffer being read: records received, and lost to a full ring where the program counts them. */
  get ring(): { received: number; dropped: number | undefined } | undefined {
    const events = this.#events;
    return events === undefined ? undefined : { received: events.received, dropped: events.dropped };
  }

  get stats() {
    return { alerts: this.buffer.sequence, failed: this.#failedAlerts, file: this.#file?.stats, stdout: this.#stdout?.stats };
  }

  async stop(): Promise<void> {
    this.#events?.close();
    await this.#running;
    this.#file?.close();
  }
}
