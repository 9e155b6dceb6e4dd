import { containerIdentities } from './identities.js';
import { hostname } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeError, toSystemError } from '@bulwark/errors';
import { createHookServer, HARD_MAX_FRAME_BYTES, MAX_APPLY_BYTES, RequestRefusedError, type ContainerReport, type HookServer, type PeerCredentials, type Request, type RequestContext, type ServerEvent } from '@bulwark/hook-client';
import type { Policy } from '@bulwark/policy';
import { isProcessAlive } from '@bulwark/procfs';
import type { AgentConfig } from './config.js';
import { PodmanNames, discoverContainers } from './discover.js';
import type { Alert } from '@bulwark/alerts';
import type { SinkStats } from '@bulwark/alerts/sinks';
import { AlertPipeline } from './alerts.js';
import { Enforcement } from './enforcement.js';
import type { KernelEnforcer } from './kernel.js';
import type { Logger } from './log.js';
import { Metrics, parseListenAddress, serveMetrics, type MetricsServer } from './metrics.js';
import { AppliedPolicyStore, appliedDirectoryFor, policyKey } from './applied-policies.js';
import { readPeerCredentials } from './peer-credentials.js';
import { describePolicy, findConflicts, listPolicies, planApply, planDelete, policyFromRecord, type AppliedPolicy } from './policy-control.js';
import { loadPolicySet, watchPolicyDirectory, type PolicyWatcher } from './policy-store.js';
import { ContainerRegistry, type ContainerRecord } from './registry.js';
import { lockStateFile, type StateLock } from './state-lock.js';

export const AGENT_VERSION = '0.1.0';

export interface RunningAgent {
  readonly registry: ContainerRegistry;
  readonly alerts: AlertPipeline | undefined;
  readonly enforcement: Enforcement;
  /** Reloads the policy directory (SIGHUP): applied whole, or refused whole with the old set kept. */
  reloadPolicies(): Promise<boolean>;
  readonly hookServer: HookServer;
  readonly controlServer: HookServer;
  /** The metrics endpoint, when the configuration asks for one (metrics.listen). */
  readonly metrics: MetricsServer | undefined;
  /** Stops serving, writes the registry, and resolves when all is closed. */
  stop(): Promise<void>;
}

async function recordIsAlive(record: ContainerRecord): Promise<boolean> {
  const { pid, process } = record.container;
  if (pid === undefined || process?.startTime === undefined) return false;
  return isProcessAlive(pid, BigInt(process.startTime));
}

function serverLogger(log: Logger, socket: string) {
  return (event: ServerEvent) => {
    switch (event.event) {
      case 'listening':
        log.info('listening', { socket: event.socketPath, replacedStaleSocket: event.replacedStaleSocket });
        break;
      case 'handler-error':
        log.error('request failed', { socket, type: event.type, error: describeError(event.error) });
        break;
      case 'bad-frame':
        log.warn('bad frame', { socket, reason: event.reason });
        break;
      case 'rejected-connection':
        log.warn('connection rejected', { socket, reason: event.reason });
        break;
      case 'connection-error':
        log.warn('connection error', { socket, error: describeError(event.error) });
        break;
      case 'idle-timeout':
        break;
    }
  };
}

/**
 * Starts the agent: the registry back from disk (records whose process is
 * gone dropped), both sockets listening, then a scan for containers started
 * while it was down.
 */
export interface StartOptions {
  /** The agent log's own counts (lines written, lines lost), for the control socket's ping. */
  readonly logStats?: () => SinkStats;
}

export async function startAgent(config: AgentConfig, log: Logger, options: StartOptions = {}): Promise<RunningAgent> {
  try {
    await mkdir(dirname(config.stateFile), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw toSystemError('create state directory', error, dirname(config.stateFile));
  }
  // One agent per state file: a second one would write over the first's registrations.
  const lock = lockStateFile(config.stateFile);
  // What a start that fails part way has opened, closed in reverse: a failed start leaves nothing serving.
  const opened: (() => unknown)[] = [() => lock.release()];
  try {
    return await startLocked(config, log, options, lock, (close) => opened.push(close));
  } catch (error) {
    for (const close of opened.reverse()) {
      try {
        await close();
      } catch (closeError) {
        log.warn('close after a failed start', { error: describeError(closeError) });
      }
    }
    throw error;
  }
}

async function startLocked(config: AgentConfig, log: Logger, options: StartOptions, lock: StateLock, onFailedStart: (close: () => unknown) => void): Promise<RunningAgent> {
  for (const key of config.ignoredKeys ?? []) log.warn('configuration key ignored', { key });
  const metrics = config.metrics === undefined ? undefined : new Metrics();

  // Policies and the kernel first: a container registered below is enforced before the agent answers for it.
  let kernel: KernelEnforcer | undefined;
  const initial = config.enforcement === 'off' ? { policies: [], problems: [], files: [] } : await loadPolicySet(config.policyDirectory);
  for (const problem of initial.problems) log.error('policy refused', { problem });
  if (initial.policies === undefined) {
    throw new Error(`policies in ${config.policyDirectory} do not validate (${initial.problems.length} ${initial.problems.length === 1 ? 'problem' : 'problems'}, logged above; bulwark policy validate ${config.policyDirectory})`);
  }
  if (config.enforcement === 'required') {
    const { openKernel, requireBpfLsm } = await import('./kernel.js');
    requireBpfLsm();
    kernel = await openKernel({
      directory: config.bpffsDirectory,
      throttle: config.alertThrottling ? { eventsPerSecond: config.maxAlertPerSec, suppressMs: config.throttleSec * 1000 } : undefined,
      log,
    });
    const opened = kernel;
    onFailedStart(() => opened.close());
  }
  const enforcement = new Enforcement({
    mode: config.enforcement,
    ...(kernel === undefined ? {} : { kernel }),
    log,
    postures: { file: config.defaultFilePosture, network: config.defaultNetworkPosture, capabilities: config.defaultCapabilitiesPosture },
    evasion: config.evasionPosture,
    // Block rules on a file follow it to its other names: its identity, read in the container's root.
    identities: (report, rules) => containerIdentities(report, rules),
    ...(config.enableKubeArmorHostPolicy
      ? {
          host: {
            name: hostname(),
            labels: config.hostLabels,
            postures: { file: config.hostDefaultFilePosture, network: config.hostDefaultNetworkPosture, capabilities: config.hostDefaultCapabilitiesPosture },
          },
        }
      : {}),
  });
  // Policies applied over the control socket (bulwark policy apply), kept beside the state file; in force after the directory's.
  const appliedStore = new AppliedPolicyStore(appliedDirectoryFor(config.stateFile));
  const applied = new Map<string, AppliedPolicy>();
  let directoryPolicies: readonly Policy[] = initial.policies;
  if (config.enforcement !== 'off') {
    await appliedStore.prepare();
    const stored = await appliedStore.load();
    const problems = [...stored.problems];
    for (const record of stored.records) {
      const policy = policyFromRecord(record);
      if (typeof policy === 'string') problems.push(policy);
      else applied.set(policyKey(policy), { record, policy });
    }
    problems.push(...findConflicts(directoryPolicies, [...applied.values()]));
    for (const problem of problems) log.error('applied policy refused', { problem });
    if (problems.length > 0) {
      throw new Error(`applied policies in ${appliedStore.directory} do not validate (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}, logged above)`);
    }
  }
  const policiesInForce = () => [...directoryPolicies, ...[...applied.values()].map((entry) => entry.policy)];
  enforcement.setPolicies(policiesInForce());
  const adopted = enforcement.adoptKernelScopes();
  let alerts: AlertPipeline | undefined;
  if (kernel !== undefined) {
    if (config.alerts.file !== '') {
      try {
        await mkdir(dirname(config.alerts.file), { recursive: true, mode: 0o700 });
      } catch (error) {
        throw toSystemError('create alert directory', error, dirname(config.alerts.file));
      }
    }
    alerts = new AlertPipeline({
      enforcement,
      file: config.alerts.file,
      stdout: config.alerts.stdout,
      ...(config.alertThrottling ? { throttle: { eventsPerSecond: config.maxAlertPerSec, suppressMs: config.throttleSec * 1000 } } : {}),
      log,
      ...(metrics === undefined ? {} : { onAlert: (alert: Alert) => metrics.observeAlert(alert) }),
    });
    alerts.start(kernel.events());
    const started = alerts;
    onFailedStart(() => started.stop());
  }
  if (config.enforcement !== 'off') {
    log.info('policies loaded', { directory: config.policyDirectory, files: initial.files.length, policies: initial.policies.length, applied: applied.size, enforcement: config.enforcement, adoptedScopes: adopted });
  }

  const registry = new ContainerRegistry({ statePath: config.stateFile });
  const loaded = await registry.load();
  for (const problem of loaded.rejected ?? []) log.warn('registry entry dropped', { problem });
  const dropped = await registry.prune(recordIsAlive);
  if (loaded.problem !== undefined) {
    log.warn('registry not restored', { file: config.stateFile, problem: loaded.problem, backup: loaded.backup });
  } else {
    log.info('registry restored', { file: config.stateFile, loaded: loaded.loaded, rejected: loaded.rejected?.length ?? 0, dropped: dropped.length, ...(loaded.backup === undefined ? {} : { backup: loaded.backup }) });
  }

  const podmanNames = new PodmanNames(config.scan.podmanContainersFile);

  const registerReport = async (report: ContainerReport, source: ContainerRecord['source']) => {
    if (report.names.runtime === 'podman' && report.names.name === undefined) {
      const name = await podmanNames.lookup(report.id);
      if (name !== undefined) report = { ...report, names: { ...report.names, name } };
    }
    const result = registry.register(report, source);
    for (const id of result.evicted) {
      log.warn('evicted container whose namespaces were reused', { id, by: report.id });
    }
    return result;
  };

  const handleHook = async (request: Request) => {
    switch (request.type) {
      case 'ping':
        return { version: AGENT_VERSION };
      case 'container.create': {
        const result = await registerReport(request.container, 'hook');
        try {
          enforcement.containerCreated(request.container);
        } catch (error) {
          // Policies select it and they cannot be put in force: it must not run unprotected.
          registry.unregister(request.container.id);
          await registry.persist();
          log.error('container refused: its policies cannot be enforced', { id: request.container.id, error: describeError(error) });
          throw new RequestRefusedError(`enforcement: ${describeError(error)}`);
        }
        await registry.persist();
        log.info(result.created ? 'container registered' : 'container updated', {
          id: request.container.id,
          stage: request.container.stage,
          name: request.container.names.name,
          pid: request.container.pid,
        });
        return { registered: true, created: result.created, evicted: result.evicted };
      }
      case 'container.stop': {
        const removed = registry.unregister(request.container.id);
        enforcement.containerStopped(request.container.id);
        await registry.persist();
        log.info(removed ? 'container removed' : 'container stop for unknown container', { id: request.container.id });
        return { removed };
      }
      case 'containers.list':
        return registry.list();
      case 'alerts.read':
      case 'policy.apply':
      case 'policy.delete':
      case 'policy.list':
        throw new RequestRefusedError(`${request.type}: ask the control socket`);
    }
  };

  // Policy changes (a directory reload, an apply, a delete) one at a time, each on the set the last one left.
  let policyQueue: Promise<unknown> = Promise.resolve();
  function serialise<T>(change: () => Promise<T>): Promise<T> {
    const next = policyQueue.then(change, change);
    policyQueue = next.catch(() => undefined);
    return next;
  }

  const requireRoot = (operation: string, peer: PeerCredentials | undefined) => {
    if (peer === undefined) throw new RequestRefusedError(`${operation}: the caller's credentials could not be read; refused`);
    if (peer.uid !== 0) throw new RequestRefusedError(`${operation}: root only (the caller is uid ${peer.uid})`);
  };

  const handlePolicyRequest = async (request: Extract<Request, { type: 'policy.apply' | 'policy.delete' | 'policy.list' }>, context: RequestContext) => {
    const operation = request.type.replace('.', ' ');
    requireRoot(operation, context.peer);
    if (request.type === 'policy.list') {
      return { enforcement: config.enforcement, policies: listPolicies(enforcement.policies, applied, registry.list().map((record) => record.container)) };
    }
    if (config.enforcement === 'off') throw new RequestRefusedError(`${operation}: the agent's enforcement is off, so it holds no policies (start it with --enforcement audit or required)`);
    if (request.type === 'policy.apply') {
      const bytes = request.files.reduce((total, file) => total + Buffer.byteLength(file.text, 'utf8'), 0);
      if (bytes > MAX_APPLY_BYTES) throw new RequestRefusedError(`${operation}: ${bytes} bytes of policies is over the limit of ${MAX_APPLY_BYTES}`);
      return serialise(async () => {
        const plan = planApply(request.files, directoryPolicies, applied);
        // Refused: the server logs the reason once (request failed).
        if (!plan.ok) {
          throw new RequestRefusedError(`${operation}: ${plan.problems.join('\n')}`);
        }
        for (const change of plan.changes) await appliedStore.write(change.record);
        for (const change of plan.changes) applied.set(policyKey(change.policy), { record: change.record, policy: change.policy });
        const result = enforcement.setPolicies(policiesInForce());
        for (const change of plan.changes) {
          log.info(`policy ${change.action}`, { policy: describePolicy(change.policy), from: change.record.source, pid: context.peer?.pid, containers: result.containers, failed: result.failed });
        }
        return { changes: plan.changes.map((change) => ({ kind: change.policy.kind, namespace: change.policy.namespace ?? null, name: change.policy.name, action: change.action })), failed: result.failed };
      });
    }
    return serialise(async () => {
      const plan = planDelete(request, directoryPolicies, applied);
      if ('problem' in plan) throw new RequestRefusedError(`${operation}: ${plan.problem}`);
      await appliedStore.remove(plan.policy);
      applied.delete(plan.key);
      const result = enforcement.setPolicies(policiesInForce());
      log.info('policy deleted', { policy: describePolicy(plan.policy), pid: context.peer?.pid, containers: result.containers, failed: result.failed });
      return { kind: plan.policy.kind, namespace: plan.policy.namespace ?? null, name: plan.policy.name, action: 'deleted', failed: result.failed };
    });
  };

  const hookServer = createHookServer({
    socketPath: config.hookSocket,
    handler: metrics === undefined ? handleHook : metrics.timeHook(handleHook),
    allowedTypes: ['ping', 'container.create', 'container.stop'],
    maxConnections: config.limits.maxConnections,
    idleTimeoutMs: config.limits.idleTimeoutMs,
    maxFrameBytes: config.limits.maxFrameBytes,
    onEvent: serverLogger(log, 'hook'),
  });
  const controlServer = createHookServer({
    socketPath: config.controlSocket,
    handler: (request, context) => {
      if (request.type === 'containers.list') return registry.list();
      if (request.type === 'policy.apply' || request.type === 'policy.delete' || request.type === 'policy.list') return handlePolicyRequest(request, context);
      if (request.type === 'alerts.read') {
        if (alerts === undefined) throw new RequestRefusedError('alerts: the agent is not enforcing (enforcement: required), so it has no alerts');
        const filter = {
          ...(request.containerId === undefined ? {} : { containerId: request.containerId }),
          ...(request.containerName === undefined ? {} : { containerName: request.containerName }),
          ...(request.policyName === undefined ? {} : { policyName: request.policyName }),
        };
        return alerts.buffer.since(request.cursor, filter, request.limit ?? 1000);
      }
      const logStats = options.logStats?.();
      return {
        version: AGENT_VERSION,
        // Who to stop: `bulwark uninstall` names it when it refuses.
        pid: process.pid,
        containers: registry.size,
        enforcement: config.enforcement,
        scopes: enforcement.scopeCount,
        // What `bulwark doctor` holds the hook's configuration and the pins against.
        hookSocket: config.hookSocket,
        bpffsDirectory: config.bpffsDirectory,
        ...(logStats === undefined ? {} : { log: { written: logStats.written, failed: logStats.failed, ...(logStats.lastError === undefined ? {} : { lastError: logStats.lastError }) } }),
      };
    },
    allowedTypes: ['ping', 'containers.list', 'alerts.read', 'policy.apply', 'policy.delete', 'policy.list'],
    maxConnections: 16,
    // A policy apply carries up to MAX_APPLY_BYTES of YAML; anything bigger is refused before it is read.
    maxFrameBytes: HARD_MAX_FRAME_BYTES,
    readPeerCredentials: (socket) => readPeerCredentials(socket),
    idleTimeoutMs: config.limits.idleTimeoutMs,
    onEvent: serverLogger(log, 'control'),
  });
  await hookServer.listen();
  onFailedStart(() => hookServer.close());
  onFailedStart(() => controlServer.close());
  let metricsServer: MetricsServer | undefined;
  await controlServer.listen();
  if (metrics !== undefined && config.metrics !== undefined) {
    metrics.setSources({
      version: AGENT_VERSION,
      containers: () => registry.size,
      scopes: () => enforcement.scopeCount,
      rules: () => [...enforcement.scopeStates()].map((state) => ({ containerId: state.containerId, containerName: state.workload.name, rules: state.compiled.rules.length })),
      ringBuffer: () => {
        const ring = alerts?.ring;
        return ring === undefined ? undefined : { received: ring.received, dropped: kernel?.lostEvents() ?? ring.dropped };
      },
      ...(kernel === undefined
        ? {}
        : {
            decisions: () =>
              [...enforcement.scopeStates()].map((state) => ({ containerId: state.containerId, containerName: state.workload.name, counts: kernel.decisions(state.index) })),
          }),
    });
    metricsServer = await serveMetrics(metrics, parseListenAddress(config.metrics.listen)!, log);
    const serving = metricsServer;
    onFailedStart(() => serving.close());
  }

  if (config.scan.enabled) {
    const found = await discoverContainers(config.scan, podmanNames);
    let added = 0;
    for (const report of found.containers) {
      if (registry.get(report.id) === undefined) {
        await registerReport(report, 'scan');
        added++;
        log.info('container found by scan', { id: report.id, name: report.names.name, pid: report.pid });
      }
    }
    for (const problem of found.problems) log.warn('scan problem', { problem });
    log.info('scan finished', { running: found.containers.length, added });
  }
  await registry.persist();
  // Every container the agent knows is enforced under the current policies; kernel scopes nobody owns are dropped.
  if (config.enforcement !== 'off') enforcement.reconcile(registry.list().map((record) => record.container));

  const reloadPolicies = (): Promise<boolean> =>
    serialise(async () => {
      if (config.enforcement === 'off') return true;
      const next = await loadPolicySet(config.policyDirectory);
      const conflicts = next.policies === undefined ? [] : findConflicts(next.policies, [...applied.values()]);
      if (next.policies === undefined || conflicts.length > 0) {
        for (const problem of [...next.problems, ...conflicts]) log.error('policy refused', { problem });
        log.error('policy change refused: the previous policies stay in force', { directory: config.policyDirectory, problems: next.problems.length + conflicts.length });
        return false;
      }
      directoryPolicies = next.policies;
      const result = enforcement.setPolicies(policiesInForce());
      log.info('policies applied', { directory: config.policyDirectory, policies: next.policies.length, applied: applied.size, containers: result.containers, failed: result.failed });
      return result.failed === 0;
    });
  const watcher: PolicyWatcher | undefined =
    config.enforcement === 'off' ? undefined : watchPolicyDirectory(config.policyDirectory, async () => {
          await reloadPolicies();
        }, log);

  let sweeping = false;
  const sweep =
    config.scan.sweepSeconds > 0
      ? setInterval(() => {
          if (sweeping) return;
          sweeping = true;
          void registry
            .prune(recordIsAlive)
            .then(async (gone) => {
              if (gone.length === 0) return;
              log.info('swept containers whose process is gone', { ids: gone });
              for (const id of gone) enforcement.containerStopped(id);
              await registry.persist();
            })
            .catch((error: unknown) => log.error('sweep failed', { error: describeError(error) }))
            .finally(() => (sweeping = false));
        }, config.scan.sweepSeconds * 1000)
      : undefined;
  sweep?.unref();

  log.info('agent ready', { version: AGENT_VERSION, containers: registry.size, pid: process.pid });
  return {
    registry,
    alerts,
    enforcement,
    reloadPolicies,
    hookServer,
    controlServer,
    metrics: metricsServer,
    async stop() {
      if (sweep !== undefined) clearInterval(sweep);
      watcher?.close();
      await Promise.all([hookServer.close(), controlServer.close(), metricsServer?.close()]);
      await registry.persist();
      await alerts?.stop();
      // Sets no scope uses are removed now rather than left for the next agent's reconcile.
      enforcement.collectSets();
      // The pinned enforcer stays attached with every scope and rule: enforcement goes on while no agent runs.
      kernel?.close();
      lock.release();
      log.info('agent stopped', { containers: registry.size });
    },
  };
}
