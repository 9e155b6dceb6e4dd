import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BulwarkError, type ValidationError } from '@bulwark/errors';
import type { Alert } from '@bulwark/alerts';
import { OPERATION_BITS, type EnforcerEvent } from '@bulwark/ebpf-lsm/rules';
import { AgentConnection, type ContainerReport } from '@bulwark/hook-client';
import { compilePolicies, type Workload } from '@bulwark/policy';
import { startAgent, type RunningAgent } from './agent.js';
import { AlertPipeline } from './alerts.js';
import { parseAgentConfig } from './config.js';
import type { Enforcement } from './enforcement.js';
import { createLogger } from './log.js';
import { METRICS_CONTENT_TYPE, METRIC_FAMILIES, Metrics, isLoopbackHost, parseListenAddress, serveMetrics, type MetricsServer } from './metrics.js';

const quiet = createLogger('json', () => undefined);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function alert(fields: Partial<Alert>): Alert {
  return {
    timestamp: 1,
    updatedTime: '2024-01-16T11:42:58.662928Z',
    hostName: 'node-1',
    type: 'MatchedPolicy',
    operation: 'File',
    enforcer: 'BPFLSM',
    bulwark: { verdict: 'block', ruleId: 1, scope: 0, cgroupId: '1', eventTimeNs: '1' },
    ...fields,
  };
}

/** Metrics with every source there, and something counted in each family. */
function fedMetrics(): Metrics {
  const metrics = new Metrics();
  metrics.setSources({
    version: '0.1.0',
    containers: () => 3,
    scopes: () => 2,
    rules: () => [
      { containerId: 'b2', containerName: 'db', rules: 4 },
      { containerId: 'a1', containerName: 'web "front"', rules: 7 },
    ],
    ringBuffer: () => ({ received: 12, dropped: 1 }),
    decisions: () => [
      { containerId: 'b2', containerName: 'db', counts: { allowed: 40n, denied: 0n, failed: 0n, audited: 3n, cached: 30n, lost: 0n } },
      { containerId: 'a1', containerName: 'web "front"', counts: { allowed: 9n, denied: 2n, failed: 1n, audited: 0n, cached: 0n, lost: 5n } },
    ],
  });
  metrics.observeHookRequest('container.create', 'ok', 0.003);
  metrics.observeHookRequest('container.create', 'refused', 0.2);
  metrics.observeHookRequest('container.stop', 'ok', 0.0004);
  metrics.observeAlert(alert({ containerName: 'web "front"', policyName: 'harden-web', action: 'Block' }));
  metrics.observeAlert(alert({ containerName: 'web "front"', policyName: 'harden-web', action: 'Block' }));
  metrics.observeAlert(alert({ containerName: 'db', policyName: 'DefaultPosture', action: 'Audit' }));
  metrics.observeAlert(alert({ containerName: 'web "front"', type: 'SystemEvent', operation: 'AlertThreshold', bulwark: { verdict: 'dropped', ruleId: 0, scope: 0, cgroupId: '1', eventTimeNs: '1', dropped: 5 } }));
  metrics.observeAlert(alert({ containerName: 'web "front"', type: 'SystemEvent', operation: 'AlertThreshold', bulwark: { verdict: 'dropped', ruleId: 0, scope: 0, cgroupId: '1', eventTimeNs: '1', dropped: 2 } }));
  return metrics;
}

/** `name{labels}` -> value, from exposition text. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    found.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return found;
}

const typeLines = (text: string) => text.split('\n').filter((line) => line.startsWith('# TYPE ')).map((line) => line.split(' ')[2]);

describe('Metrics', () => {
  it('renders every family in the text format, with the counts fed to it', () => {
    const text = fedMetrics().render();
    expect(typeLines(text)).toEqual(METRIC_FAMILIES.map((family) => family.name));
    const values = samples(text);
    expect(values.get('bulwark_agent_info{version="0.1.0"}')).toBe(1);
    expect(values.get('bulwark_registry_containers')).toBe(3);
    expect(values.get('bulwark_enforcement_scopes')).toBe(2);
    expect(values.get('bulwark_container_rules{container_id="a1",container_name="web \\"front\\""}')).toBe(7);
    expect(values.get('bulwark_hook_requests_total{type="container.create",outcome="refused"}')).toBe(1);
    expect(values.get('bulwark_alerts_total{container_name="web \\"front\\"",policy_name="harden-web",action="Block"}')).toBe(2);
    expect(values.get('bulwark_alerts_total{container_name="db",policy_name="DefaultPosture",action="Audit"}')).toBe(1);
    expect(values.get('bulwark_alerts_throttled_total{container_name="web \\"front\\""}')).toBe(7);
    expect(values.get('bulwark_ring_buffer_received_total')).toBe(12);
    expect(values.get('bulwark_decisions_total{container_id="a1",container_name="web \\"front\\"",decision="denied"}')).toBe(2);
    expect(values.get('bulwark_decisions_total{container_id="a1",container_name="web \\"front\\"",decision="failed"}')).toBe(1);
    expect(values.get('bulwark_decisions_total{container_id="b2",container_name="db",decision="allowed"}')).toBe(40);
    expect(values.get('bulwark_decisions_total{container_id="b2",container_name="db",decision="audited"}')).toBe(3);
    expect(values.get('bulwark_ring_buffer_dropped_total')).toBe(1);
    // The histogram: cumulative buckets, +Inf equal to the count, the sum in seconds.
    expect(values.get('bulwark_hook_request_duration_seconds_bucket{type="container.create",le="0.0025"}')).toBe(0);
    expect(values.get('bulwark_hook_request_duration_seconds_bucket{type="container.create",le="0.005"}')).toBe(1);
    expect(values.get('bulwark_hook_request_duration_seconds_bucket{type="container.create",le="0.25"}')).toBe(2);
    expect(values.get('bulwark_hook_request_duration_seconds_bucket{type="container.create",le="+Inf"}')).toBe(2);
    expect(values.get('bulwark_hook_request_duration_seconds_count{type="container.create"}')).toBe(2);
    expect(values.get('bulwark_hook_request_duration_seconds_sum{type="container.create"}')).toBeCloseTo(0.203, 6);
    expect(values.get('bulwark_hook_request_duration_seconds_bucket{type="container.stop",le="0.0005"}')).toBe(1);
    // Same counts, same bytes.
    expect(fedMetrics().render()).toBe(text);
  });

  it('leaves out what the agent does not have: no sources yet, no kernel counters, no ring buffer, a ring without a drop counter', () => {
    const metrics = new Metrics();
    expect(metrics.render().trim()).toBe(
      METRIC_FAMILIES.filter((family) => family.type !== 'gauge' && !family.name.startsWith('bulwark_ring_buffer') && family.name !== 'bulwark_decisions_total')
        .flatMap((family) => [`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`])
        .join('\n'),
    );
    metrics.setSources({ version: '0.1.0', containers: () => 0, scopes: () => 0, rules: () => [], ringBuffer: () => ({ received: 4, dropped: undefined }) });
    const text = metrics.render();
    expect(text).toContain('bulwark_ring_buffer_received_total 4\n');
    expect(text).not.toContain('bulwark_ring_buffer_dropped_total');
  });

  it('times a hook handler and counts its outcome: ok, refused (the agent said no), error', async () => {
    const metrics = new Metrics();
    const handler = metrics.timeHook(async (request: { type: string; answer: string }) => {
      await Promise.resolve();
      if (request.answer === 'refused') throw new BulwarkError('ERR_AGENT_REFUSED', 'no');
      if (request.answer === 'error') throw new Error('broken');
      return 'fine';
    });
    await expect(handler({ type: 'container.create', answer: 'ok' })).resolves.toBe('fine');
    await expect(handler({ type: 'container.create', answer: 'refused' })).rejects.toThrow('no');
    await expect(handler({ type: 'container.create', answer: 'error' })).rejects.toThrow('broken');
    const values = samples(metrics.render());
    for (const outcome of ['ok', 'refused', 'error']) expect(values.get(`bulwark_hook_requests_total{type="container.create",outcome="${outcome}"}`), outcome).toBe(1);
    expect(values.get('bulwark_hook_request_duration_seconds_count{type="container.create"}')).toBe(3);
  });

  it('counts the alerts the pipeline makes from enforcer events, throttle records by what they dropped', () => {
    const metrics = new Metrics();
    const workload: Workload = { kind: 'container', id: 'c1', name: 'web', labels: {} };
    const state = { index: 3, cgroupId: 9n, containerId: 'c1', workload, compiled: compilePolicies([], workload), entries: 0 };
    const enforcement = { scope: (index: number) => (index === 3 ? state : undefined) } as unknown as Enforcement;
    const pipeline = new AlertPipeline({ enforcement, log: quiet, onAlert: (made) => metrics.observeAlert(made) });
    const event = (fields: Partial<EnforcerEvent>): EnforcerEvent => ({
      timeNs: 1_000_000n,
      cgroupId: 9n,
      scope: 3,
      pid: 10,
      tgid: 10,
      uid: 0,
      operation: OPERATION_BITS.read,
      ruleId: 0,
      verdict: 'posture-block',
      dropped: 0,
      comm: 'cat',
      resource: '/etc/shadow',
      source: '/bin/cat',
      ...fields,
    });
    const made = pipeline.handle(event({}));
    pipeline.handle(event({ verdict: 'dropped', operation: 0, dropped: 9 }));
    const values = samples(metrics.render());
    expect(values.get(`bulwark_alerts_total{container_name="web",policy_name="${made!.policyName}",action="${made!.action}"}`)).toBe(1);
    expect(values.get('bulwark_alerts_throttled_total{container_name="web"}')).toBe(9);
  });
});

describe('the metrics configuration', () => {
  function refusal(text: string): ValidationError {
    try {
      parseAgentConfig(text, 'agent.yaml');
    } catch (error) {
      expect(BulwarkError.is(error, 'ERR_VALIDATION')).toBe(true);
      return error as ValidationError;
    }
    throw new Error(`expected a refusal for:\n${text}`);
  }

  it('is off unless listen is set', () => {
    expect(parseAgentConfig('enforcement: audit\n', 'agent.yaml').metrics).toBeUndefined();
    expect(parseAgentConfig('metrics:\n  listen: 127.0.0.1:9464\n', 'agent.yaml').metrics).toEqual({ listen: '127.0.0.1:9464', allowRemote: false });
  });

  it('refuses an address beyond loopback unless allowRemote, at the line of listen', () => {
    const error = refusal('enforcement: audit\nmetrics:\n  listen: 0.0.0.0:9464\n');
    expect(error.message).toBe(
      'agent.yaml: line 3 metrics.listen: not a loopback address: metrics would be served beyond this host (set metrics.allowRemote: true to allow that)',
    );
    expect(refusal('metrics:\n  listen: "[2001:db8::1]:9464"\n').message).toMatch(/not a loopback address/);
    expect(parseAgentConfig('metrics:\n  listen: 0.0.0.0:9464\n  allowRemote: true\n', 'agent.yaml').metrics).toEqual({ listen: '0.0.0.0:9464', allowRemote: true });
    expect(refusal('metrics:\n  listen: localhost\n').message).toMatch(/line 2 metrics\.listen: expected host:port/);
    expect(refusal('metrics:\n  listen: 127.0.0.1:70000\n').message).toMatch(/expected host:port/);
    expect(refusal('metrics:\n  allowRemote: true\n').message).toMatch(/metrics\.listen/);
  });

  it('knows loopback when it sees it', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', 'localhost', '::ffff:127.0.0.1']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '10.0.0.1', '::', '2001:db8::1', 'example.org', '128.0.0.1']) expect(isLoopbackHost(host), host).toBe(false);
    expect(parseListenAddress('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(parseListenAddress('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(parseListenAddress('::1:9464')).toBeUndefined();
  });
});

async function serve(metrics: Metrics): Promise<MetricsServer> {
  const server = await serveMetrics(metrics, { host: '127.0.0.1', port: 0 }, quiet);
  cleanups.push(() => server.close());
  return server;
}

describe('the metrics endpoint', () => {
  it('serves GET /metrics on loopback in format 0.0.4, and only that', async () => {
    const server = await serve(fedMetrics());
    const response = await fetch(server.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(METRICS_CONTENT_TYPE);
    expect(typeLines(await response.text())).toEqual(METRIC_FAMILIES.map((family) => family.name));
    expect((await fetch(`http://127.0.0.1:${server.address.port}/`)).status).toBe(404);
    expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
  });

  it('is served by the agent when configured: hook requests counted and timed, the registry read at each scrape', async () => {
    const work = await mkdtemp(join(tmpdir(), 'bulwark-metrics-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    const config = parseAgentConfig(
      [
        `hookSocket: ${join(work, 'run', 'hook.sock')}`,
        `controlSocket: ${join(work, 'run', 'control.sock')}`,
        `stateFile: ${join(work, 'run', 'containers.json')}`,
        'scan:\n  enabled: false\n  sweepSeconds: 0',
        'metrics:\n  listen: 127.0.0.1:0',
      ].join('\n'),
      'agent.yaml',
    );
    const agent: RunningAgent = await startAgent(config, quiet);
    cleanups.push(() => agent.stop());
    expect(agent.metrics?.address.host).toBe('127.0.0.1');
    const report: ContainerReport = { id: 'metrics-test-1', stage: 'createRuntime', status: 'creating', bundle: join(work, 'bundle'), names: { runtime: 'runc' } };
    const connection = await AgentConnection.connect(config.hookSocket);
    try {
      await connection.request({ type: 'ping' });
      await connection.request({ type: 'container.create', container: report });
    } finally {
      connection.close();
    }
    const values = samples(await (await fetch(agent.metrics!.url)).text());
    expect(values.get('bulwark_registry_containers')).toBe(1);
    expect(values.get('bulwark_enforcement_scopes')).toBe(0);
    expect(values.get('bulwark_hook_requests_total{type="ping",outcome="ok"}')).toBe(1);
    expect(values.get('bulwark_hook_requests_total{type="container.create",outcome="ok"}')).toBe(1);
    expect(values.get('bulwark_hook_request_duration_seconds_count{type="container.create"}')).toBe(1);
    expect(values.get('bulwark_agent_info{version="0.1.0"}')).toBe(1);
    await agent.stop();
    cleanups.pop();
    await expect(fetch(agent.metrics!.url)).rejects.toThrow();
  });

  it('stops the agent from starting when its address is taken, in one line', async () => {
    const taken = await serve(new Metrics());
    const work = await mkdtemp(join(tmpdir(), 'bulwark-metrics-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    const config = parseAgentConfig(
      `hookSocket: ${join(work, 'hook.sock')}\ncontrolSocket: ${join(work, 'control.sock')}\nstateFile: ${join(work, 'containers.json')}\nscan:\n  enabled: false\nmetrics:\n  listen: 127.0.0.1:${taken.address.port}\n`,
      'agent.yaml',
    );
    await expect(startAgent(config, quiet)).rejects.toThrow(`listen for metrics on 127.0.0.1:${taken.address.port}: address in use`);
    // Nothing is left listening on the sockets.
    await expect(AgentConnection.connect(config.hookSocket)).rejects.toThrow();
  });
});

describe('docs/service-mode.md', () => {
  it('lists exactly the series render() emits', async () => {
    const doc = await readFile(new URL('../../../docs/service-mode.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Metrics'));
    const documented = [...section.matchAll(/^\| `(bulwark_[a-z_]+)`/gmu)].map((match) => match[1]);
    expect(documented).toEqual(typeLines(fedMetrics().render()));
  });
});
