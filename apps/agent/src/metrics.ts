/**
 * The agent's Prometheus metrics: counters and a histogram fed by the agent
 * (hook requests, alerts), gauges read from the agent when scraped
 * (registry, scopes, rules, the ring buffer), rendered in the text
 * exposition format 0.0.4 and served over plain node:http on an address the
 * configuration opts into (`metrics.listen`). Off by default; an address
 * other than loopback is refused unless `metrics.allowRemote` is set.
 *
 * METRIC_FAMILIES is the list of every series; docs/service-mode.md lists
 * the same (a test holds the two together).
 */
import { createServer, type Server } from 'node:http';
import { isIP } from 'node:net';
import { describeError, toSystemError } from '@bulwark/errors';
import type { Alert } from '@bulwark/alerts';
import type { DecisionCounts } from '@bulwark/ebpf-lsm/rules';
import type { Logger } from './log.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const METRICS_PATH = '/metrics';

type Family = { readonly name: string; readonly type: 'counter' | 'gauge' | 'histogram'; readonly help: string; readonly labels: readonly string[] };

/** Every series, in the order render() writes them. */
export const METRIC_FAMILIES = [
  { name: 'bulwark_agent_info', type: 'gauge', help: 'Always 1; the agent version as a label.', labels: ['version'] },
  { name: 'bulwark_registry_containers', type: 'gauge', help: 'Containers in the registry.', labels: [] },
  { name: 'bulwark_enforcement_scopes', type: 'gauge', help: 'Containers in an enforcement scope (with rules in the kernel).', labels: [] },
  { name: 'bulwark_container_rules', type: 'gauge', help: 'Rules in force for each enforced container.', labels: ['container_id', 'container_name'] },
  { name: 'bulwark_hook_requests_total', type: 'counter', help: 'Requests on the hook socket, by type and outcome (ok, refused, error).', labels: ['type', 'outcome'] },
  { name: 'bulwark_hook_request_duration_seconds', type: 'histogram', help: 'Time the agent took to answer a hook request.', labels: ['type'] },
  { name: 'bulwark_decisions_total', type: 'counter', help: 'Decisions the enforcer made for each enforced container, by outcome (allowed, denied, audited, failed), counted in the kernel.', labels: ['container_id', 'container_name', 'decision'] },
  { name: 'bulwark_alerts_total', type: 'counter', help: 'Alerts (decisions reported after the throttle), by container, policy and action.', labels: ['container_name', 'policy_name', 'action'] },
  { name: 'bulwark_alerts_throttled_total', type: 'counter', help: 'Events the enforcer throttle dropped (its AlertThreshold records), by container.', labels: ['container_name'] },
  { name: 'bulwark_ring_buffer_received_total', type: 'counter', help: 'Records the agent read from the enforcer ring buffer.', labels: [] },
  { name: 'bulwark_ring_buffer_dropped_total', type: 'counter', help: 'Records lost because the ring buffer was full (only where the program counts them).', labels: [] },
] as const satisfies readonly Family[];

export type MetricName = (typeof METRIC_FAMILIES)[number]['name'];

/** Upper bounds of the hook latency buckets, in seconds: the hook waits 5 s by default. */
export const HOOK_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

/** The outcomes `bulwark_decisions_total` counts: the kernel's decision_counts fields (`cached` is part of `allowed`). */
const DECISION_OUTCOMES = ['allowed', 'denied', 'audited', 'failed'] as const;

export type HookOutcome = 'ok' | 'refused' | 'error';

/** What the metrics read from the agent at each scrape. */
export interface MetricsSources {
  readonly version: string;
  containers(): number;
  scopes(): number;
  /** Each enforced container and how many rules it has. */
  rules(): Iterable<{ readonly containerId: string; readonly containerName?: string | undefined; readonly rules: number }>;
  /** The kernel's decision counters of each enforced container, when there is a kernel enforcer. */
  decisions?(): Iterable<{ readonly containerId: string; readonly containerName?: string | undefined; readonly counts: DecisionCounts }>;
  /** The enforcer ring buffer, when the agent reads one. `dropped` is undefined where the program keeps no drop counter. */
  ringBuffer(): { readonly received: number; readonly dropped: number | undefined } | undefined;
}

const escapeLabel = (value: string) => value.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
const escapeHelp = (value: string) => value.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');

function formatLabels(names: readonly string[], values: readonly string[], extra = ''): string {
  const pairs = names.map((name, index) => `${name}="${escapeLabel(values[index] ?? '')}"`);
  if (extra !== '') pairs.push(extra);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

/** Prometheus's float text: integers as they are, +Inf spelled out. */
function formatValue(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return Number.isNaN(value) ? 'NaN' : String(value);
}

/** Samples of one labelled series family, keyed by their label values. */
class LabelledValues<T> {
  readonly #entries = new Map<string, { readonly labels: readonly string[]; value: T }>();
  readonly #create: () => T;
  constructor(create: () => T) {
    this.#create = create;
  }
  get(labels: readonly string[]): T {
    const key = JSON.stringify(labels);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = { labels, value: this.#create() };
      this.#entries.set(key, entry);
    }
    return entry.value;
  }
  /** Sorted by label values, so the same counts render the same bytes. */
  sorted(): { readonly labels: readonly string[]; readonly value: T }[] {
    return [...this.#entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, entry]) => entry);
  }
}

interface HistogramValue {
  readonly buckets: number[];
  sum: number;
  count: number;
}

export class Metrics {
  #sources: MetricsSources | undefined;
  readonly #hookRequests = new LabelledValues(() => ({ count: 0 }));
  readonly #hookDurations = new LabelledValues<HistogramValue>(() => ({ buckets: HOOK_DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 }));
  readonly #alerts = new LabelledValues(() => ({ count: 0 }));
  readonly #throttled = new LabelledValues(() => ({ count: 0 }));

  /** Where the gauges are read from; until set, they are left out. */
  setSources(sources: MetricsSources): void {
    this.#sources = sources;
  }

  observeHookRequest(type: string, outcome: HookOutcome, seconds: number): void {
    this.#hookRequests.get([type, outcome]).count++;
    const histogram = this.#hookDurations.get([type]);
    HOOK_DURATION_BUCKETS.forEach((bound, index) => {
      if (seconds <= bound) histogram.buckets[index]!++;
    });
    histogram.sum += seconds;
    histogram.count++;
  }

  /** Wraps a hook request handler: each request counted by type and outcome, and timed. */
  timeHook<R extends { readonly type: string }, T>(handler: (request: R) => Promise<T> | T): (request: R) => Promise<T> {
    return async (request) => {
      const started = performance.now();
      let outcome: HookOutcome = 'error';
      try {
        const result = await handler(request);
        outcome = 'ok';
        return result;
      } catch (error) {
        if ((error as { code?: unknown } | null)?.code === 'ERR_AGENT_REFUSED') outcome = 'refused';
        throw error;
      } finally {
        this.observeHookRequest(request.type, outcome, (performance.now() - started) / 1000);
      }
    };
  }

  /** One alert of the stream: a decision, or a throttle record saying how many were dropped. */
  observeAlert(alert: Alert): void {
    const container = alert.containerName ?? alert.containerID ?? '';
    if (alert.operation === 'AlertThreshold') {
      this.#throttled.get([container]).count += alert.bulwark.dropped ?? 0;
      return;
    }
    this.#alerts.get([container, alert.policyName ?? '', alert.action ?? '']).count++;
  }

  /** The text exposition format 0.0.4. */
  render(): string {
    const lines: string[] = [];
    const sources = this.#sources;
    for (const family of METRIC_FAMILIES) {
      const samples = this.#samples(family, sources);
      if (samples === undefined) continue;
      lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`, ...samples);
    }
    return `${lines.join('\n')}\n`;
  }

  /** A family's sample lines; undefined when the agent has nothing to say for it (a source it lacks). */
  #samples(family: (typeof METRIC_FAMILIES)[number], sources: MetricsSources | undefined): string[] | undefined {
    const sample = (labels: readonly string[], value: number) => `${family.name}${formatLabels(family.labels, labels)} ${formatValue(value)}`;
    switch (family.name) {
      case 'bulwark_agent_info':
        return sources === undefined ? undefined : [sample([sources.version], 1)];
      case 'bulwark_registry_containers':
        return sources === undefined ? undefined : [sample([], sources.containers())];
      case 'bulwark_enforcement_scopes':
        return sources === undefined ? undefined : [sample([], sources.scopes())];
      case 'bulwark_container_rules': {
        if (sources === undefined) return undefined;
        const rows = [...sources.rules()].sort((a, b) => (a.containerId < b.containerId ? -1 : a.containerId > b.containerId ? 1 : 0));
        return rows.map((row) => sample([row.containerId, row.containerName ?? ''], row.rules));
      }
      case 'bulwark_hook_requests_total':
        return this.#hookRequests.sorted().map(({ labels, value }) => sample(labels, value.count));
      case 'bulwark_hook_request_duration_seconds':
        return this.#hookDurations.sorted().flatMap(({ labels, value }) => [
          ...HOOK_DURATION_BUCKETS.map((bound, index) => `${family.name}_bucket${formatLabels(family.labels, labels, `le="${formatValue(bound)}"`)} ${value.buckets[index]}`),
          `${family.name}_bucket${formatLabels(family.labels, labels, 'le="+Inf"')} ${value.count}`,
          `${family.name}_sum${formatLabels(family.labels, labels)} ${formatValue(value.sum)}`,
          `${family.name}_count${formatLabels(family.labels, labels)} ${value.count}`,
        ]);
      case 'bulwark_decisions_total': {
        if (sources?.decisions === undefined) return undefined;
        const rows = [...sources.decisions()].sort((a, b) => (a.containerId < b.containerId ? -1 : a.containerId > b.containerId ? 1 : 0));
        return rows.flatMap((row) =>
          DECISION_OUTCOMES.map((outcome) => sample([row.containerId, row.containerName ?? '', outcome], Number(row.counts[outcome === 'allowed' ? 'allowed' : outcome]))),
        );
      }
      case 'bulwark_alerts_total':
        return this.#alerts.sorted().map(({ labels, value }) => sample(labels, value.count));
      case 'bulwark_alerts_throttled_total':
        return this.#throttled.sorted().map(({ labels, value }) => sample(labels, value.count));
      case 'bulwark_ring_buffer_received_total': {
        const ring = sources?.ringBuffer();
        return ring === undefined ? undefined : [sample([], ring.received)];
      }
      case 'bulwark_ring_buffer_dropped_total': {
        const dropped = sources?.ringBuffer()?.dropped;
        return dropped === undefined ? undefined : [sample([], dropped)];
      }
    }
  }
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `host:port` or `[v6]:port`; undefined when it is neither. The port may be 0 (any free one). */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/u.exec(text);
  if (match === null) return undefined;
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (port > 65_535) return undefined;
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  if (match[2] !== undefined && isIP(host) === 0 && !/^[a-zA-Z0-9.-]+$/u.test(host)) return undefined;
  return { host, port };
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z), and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const lower = host.toLowerCase();
  if (lower === 'localhost' || lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
  const v4 = lower.startsWith('::ffff:') ? lower.slice('::ffff:'.length) : lower;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

export interface MetricsServer {
  /** The address bound, with the real port when 0 was asked. */
  readonly address: ListenAddress;
  readonly url: string;
  close(): Promise<void>;
}

/** Serves GET /metrics on `address`; resolves once listening. */
export async function serveMetrics(metrics: Metrics, address: ListenAddress, log: Logger): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== METRICS_PATH) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: metrics are at ${METRICS_PATH}\n`);
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    let body: string;
    try {
      body = metrics.render();
    } catch (error) {
      log.error('metrics render failed', { error: describeError(error) });
      response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics render failed\n');
      return;
    }
    response.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
    response.end(request.method === 'HEAD' ? undefined : body);
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.maxConnections = 32;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: unknown) => {
    throw toSystemError(`listen for metrics on ${address.host}:${address.port}`, error);
  });
  server.on('error', (error) => log.error('metrics server error', { error: describeError(error) }));
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : address.port;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  log.info('metrics listening', { address: `${host}:${port}`, path: METRICS_PATH });
  return {
    address: { host: address.host, port },
    url: `http://${host}:${port}${METRICS_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
