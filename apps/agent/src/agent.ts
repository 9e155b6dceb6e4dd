import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeError, toSystemError } from '@bulwark/errors';
import { createHookServer, type ContainerReport, type HookServer, type Request, type ServerEvent } from '@bulwark/hook-client';
import { isProcessAlive } from '@bulwark/procfs';
import type { AgentConfig } from './config.js';
import { PodmanNames, discoverContainers } from './discover.js';
import type { Logger } from './log.js';
import { ContainerRegistry, type ContainerRecord } from './registry.js';

export const AGENT_VERSION = '0.1.0';

export interface RunningAgent {
  readonly registry: ContainerRegistry;
  readonly hookServer: HookServer;
  readonly controlServer: HookServer;
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
export async function startAgent(config: AgentConfig, log: Logger): Promise<RunningAgent> {
  try {
    await mkdir(dirname(config.stateFile), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw toSystemError('create state directory', error, dirname(config.stateFile));
  }
  const registry = new ContainerRegistry({ statePath: config.stateFile });
  const loaded = await registry.load();
  if (loaded.problem !== undefined) log.warn('registry not restored', { problem: loaded.problem });
  const dropped = await registry.prune(recordIsAlive);
  log.info('registry restored', { file: config.stateFile, loaded: loaded.loaded, dropped: dropped.length });

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
        await registry.persist();
        log.info(removed ? 'container removed' : 'container stop for unknown container', { id: request.container.id });
        return { removed };
      }
      case 'containers.list':
        return registry.list();
    }
  };

  const hookServer = createHookServer({
    socketPath: config.hookSocket,
    handler: handleHook,
    allowedTypes: ['ping', 'container.create', 'container.stop'],
    maxConnections: config.limits.maxConnections,
    idleTimeoutMs: config.limits.idleTimeoutMs,
    maxFrameBytes: config.limits.maxFrameBytes,
    onEvent: serverLogger(log, 'hook'),
  });
  const controlServer = createHookServer({
    socketPath: config.controlSocket,
    handler: (request) =>
      request.type === 'containers.list' ? registry.list() : { version: AGENT_VERSION, containers: registry.size },
    allowedTypes: ['ping', 'containers.list'],
    maxConnections: 16,
    idleTimeoutMs: config.limits.idleTimeoutMs,
    onEvent: serverLogger(log, 'control'),
  });
  await hookServer.listen();
  try {
    await controlServer.listen();
  } catch (error) {
    await hookServer.close();
    throw error;
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
    hookServer,
    controlServer,
    async stop() {
      if (sweep !== undefined) clearInterval(sweep);
      await Promise.all([hookServer.close(), controlServer.close()]);
      await registry.persist();
      log.info('agent stopped', { containers: registry.size });
    },
  };
}
