import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { LineCounter, parseDocument } from 'yaml';
import { ValidationError, toSystemError, validationErrorFromZod } from '@bulwark/errors';
import { DEFAULT_CONTROL_SOCKET, DEFAULT_HOOK_SOCKET } from '@bulwark/hook-client';
import { DEFAULT_DISCOVER_OPTIONS } from './discover.js';
import { isLoopbackHost, parseListenAddress } from './metrics.js';

const absolutePath = z.string().min(1).refine((value) => value.startsWith('/'), 'must be an absolute path');

const posture = z.enum(['allow', 'audit', 'block']);

export const agentConfigSchema = z.strictObject({
  /**
   * required: enforce, and refuse to start without BPF LSM; audit: compile
   * and report what would be enforced, nothing in the kernel; off: register
   * containers only.
   */
  enforcement: z.enum(['required', 'audit', 'off']).default('off'),
  /** Policies (KubeArmorPolicy and friends, *.yaml): loaded at start, watched, reloaded on SIGHUP. */
  policyDirectory: absolutePath.default('/etc/bulwark/policies'),
  /** Where the enforcer is pinned (on bpffs), so that it stays in force while the agent is down. */
  bpffsDirectory: absolutePath.default('/sys/fs/bpf/bulwark'),
  /** Alerts as JSON lines: a file (created 0600), and/or standard output. */
  alerts: z
    .strictObject({
      file: z.string().refine((value) => value === '' || value.startsWith('/'), 'must be an absolute path, or empty for none').default('/var/log/bulwark/alerts.jsonl'),
      stdout: z.boolean().default(false),
    })
    .prefault({}),
  // KubeArmor's keys (kubearmor.yaml), with the same meaning.
  defaultFilePosture: posture.default('block'),
  defaultNetworkPosture: posture.default('block'),
  defaultCapabilitiesPosture: posture.default('block'),
  // Bulwark's own: where a container's file or process rules block, chroot, mounts and open_by_handle_at are blocked too (allow: a workload that mounts).
  evasionPosture: z.enum(['block', 'allow']).default('block'),
  // Host policies (KubeArmorHostPolicy) on this host's own processes: KubeArmor's keys, and its defaults (audit).
  enableKubeArmorHostPolicy: z.boolean().default(true),
  hostDefaultFilePosture: posture.default('audit'),
  hostDefaultNetworkPosture: posture.default('audit'),
  hostDefaultCapabilitiesPosture: posture.default('audit'),
  /** The labels a host policy's nodeSelector matches, besides kubernetes.io/hostname (this host's name). */
  hostLabels: z.record(z.string().min(1), z.string()).default({}),
  alertThrottling: z.boolean().default(true),
  maxAlertPerSec: z.number().int().min(1).max(100_000).default(10),
  throttleSec: z.number().int().min(1).max(3600).default(30),
  hookSocket: absolutePath.default(DEFAULT_HOOK_SOCKET),
  controlSocket: absolutePath.default(DEFAULT_CONTROL_SOCKET),
  // The registry lists running containers, which do not outlive a reboot: it
  // belongs on /run (a tmpfs), where the fsync before each reply is cheap.
  stateFile: absolutePath.default('/run/bulwark/containers.json'),
  logFormat: z.enum(['json', 'text']).default('json'),
  /** Lines below this level are not logged; changed by SIGHUP. */
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /** The agent's log as a file (reopened on SIGHUP, for logrotate), or '' for standard output. */
  logFile: z.string().refine((value) => value === '' || value.startsWith('/'), 'must be an absolute path, or empty for standard output').default(''),
  scan: z
    .strictObject({
      enabled: z.boolean().default(true),
      runcRoots: z.array(absolutePath).default([...DEFAULT_DISCOVER_OPTIONS.runcRoots]),
      crunRoots: z.array(absolutePath).default([...DEFAULT_DISCOVER_OPTIONS.crunRoots]),
      podmanContainersFile: absolutePath.default(DEFAULT_DISCOVER_OPTIONS.podmanContainersFile!),
      /** How often records whose process is gone are swept out, in seconds; 0 turns it off. */
      sweepSeconds: z.number().int().min(0).max(86_400).default(30),
    })
    .prefault({}),
  limits: z
    .strictObject({
      maxConnections: z.number().int().min(1).max(10_000).default(256),
      idleTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
      maxFrameBytes: z.number().int().min(1024).max(1024 * 1024).default(64 * 1024),
    })
    .prefault({}),
  /** Prometheus metrics over HTTP (metrics.ts): off unless `listen` is set; loopback only unless `allowRemote`. */
  metrics: z
    .strictObject({
      listen: z.string().refine((value) => parseListenAddress(value) !== undefined, 'expected host:port, such as 127.0.0.1:9464 or [::1]:9464'),
      allowRemote: z.boolean().default(false),
    })
    .refine((metrics) => metrics.allowRemote || isLoopbackHost(parseListenAddress(metrics.listen)?.host ?? 'localhost'), {
      path: ['listen'],
      message: 'not a loopback address: metrics would be served beyond this host (set metrics.allowRemote: true to allow that)',
    })
    .optional(),
});
export type AgentConfig = z.infer<typeof agentConfigSchema> & {
  /** kubearmor.yaml keys the file had that Bulwark accepts and ignores (IGNORED_KUBEARMOR_KEYS), to report at start. */
  readonly ignoredKeys?: readonly string[];
};

/**
 * kubearmor.yaml keys that mean nothing here (or nothing yet): accepted so
 * that a KubeArmor configuration works as it is, and reported once at start.
 */
export const IGNORED_KUBEARMOR_KEYS: Readonly<Record<string, string>> = {
  k8s: 'Bulwark reads containers from OCI hooks, not from Kubernetes',
  useOCIHooks: 'Bulwark always uses OCI hooks',
  hookPath: 'the hook is installed by bulwark install-hook',
  enableKubeArmorStateAgent: 'no state agent',
  enableKubeArmorPolicy: 'policies are always read from policyDirectory',
  visibility: 'Bulwark reports decisions (alerts), not every event',
  hostVisibility: 'Bulwark reports decisions (alerts), not every event',
  logPath: 'use alerts.file',
  lsm: 'Bulwark enforces with BPF LSM only',
  bpfFsPath: 'use bpffsDirectory',
  cluster: 'no cluster name',
  gRPC: 'no gRPC server',
};
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/** Parses YAML configuration text; errors carry the line of the field at fault. */
export function parseAgentConfig(text: string, source: string): AgentConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  if (document.errors.length > 0) {
    throw new ValidationError(
      source,
      document.errors.map((error) => ({
        path: '',
        message: error.message.split('\n')[0] ?? error.message,
        line: lineCounter.linePos(error.pos[0]).line,
      })),
    );
  }
  let value: unknown = document.toJS() ?? {};
  const ignored: string[] = [];
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const kept: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(value)) {
      if (Object.hasOwn(IGNORED_KUBEARMOR_KEYS, key)) ignored.push(key);
      else kept[key] = member;
    }
    value = kept;
  }
  const parsed = agentConfigSchema.safeParse(value);
  if (!parsed.success) {
    // An unknown key is reported at the key itself, not at the object that holds it (validationErrorFromZod).
    throw validationErrorFromZod(source, parsed.error, (path) => {
      // The deepest node that exists tells the line; an absent key points at its parent.
      for (let length = path.length; length > 0; length--) {
        const node = document.getIn(path.slice(0, length), true) as { range?: [number, number, number] } | undefined;
        const pair = length > 0 ? findKeyNode(document, path.slice(0, length)) : undefined;
        const offset = pair ?? node?.range?.[0];
        if (offset !== undefined) return lineCounter.linePos(offset).line;
      }
      return undefined;
    });
  }
  return ignored.length === 0 ? parsed.data : { ...parsed.data, ignoredKeys: ignored };
}

function findKeyNode(document: ReturnType<typeof parseDocument>, path: readonly PropertyKey[]): number | undefined {
  const parent: unknown = path.length === 1 ? document.contents : document.getIn(path.slice(0, -1), true);
  const items = (parent as { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | null)?.items;
  const key = path[path.length - 1];
  const pair = items?.find((item) => item.key?.value === key);
  return pair?.key?.range?.[0];
}

export async function loadAgentConfig(path: string | undefined): Promise<AgentConfig> {
  if (path === undefined) return agentConfigSchema.parse({});
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw toSystemError('read agent config', error, path);
  }
  return parseAgentConfig(text, path);
}
