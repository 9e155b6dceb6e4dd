/**
 * One enforcer event -> one alert. Pure and deterministic: the same event
 * and context give the same alert, field for field, and nothing is read
 * from the system (the clock comes in through the context).
 */
import { ValidationError } from '@bulwark/errors';
import type { ThrottleLimits } from '@bulwark/ebpf-lsm';
import { decodeEventResource, type EnforcerEvent, type Verdict } from '@bulwark/ebpf-lsm/rules';
import type { CompiledPolicySet, RuleOrigin, Workload } from '@bulwark/policy';
import { describeCapability, describeSocket, operationName, OPERATION_NAMES } from './names.js';
import { DEFAULT_POSTURE, type Alert, type AlertAction, type AlertResult, type BulwarkFields } from './schema.js';

/** What the event does not say about its process, where the caller knows it (from /proc, say). */
export interface ProcessDetails {
  /** The process id in the process's own pid namespace (for the host: the host pid, which the event gives already). */
  readonly pid?: number;
  /** Its parent's id in that namespace. */
  readonly ppid?: number;
  /** Its parent's id in the host's pid namespace. */
  readonly hostPPid?: number;
  /** Its parent's executable. */
  readonly parentProcessName?: string;
}

export interface AlertContext {
  /** Whose scope the event is from: a container or the host (`@bulwark/policy`'s Workload). */
  readonly workload: Workload;
  /**
   * The policy set the scope enforces: `rules[ruleId - 1]` is the rule an
   * event names. Without it, an event with a rule id says the rule is unknown.
   */
  readonly compiled?: CompiledPolicySet;
  readonly hostName: string;
  readonly clusterName?: string;
  /**
   * The event's clock to the wall clock. The enforcer stamps events with
   * bpf_ktime_get_ns(), CLOCK_MONOTONIC, which does not count time
   * suspended. A bigint is the Unix time in nanoseconds at which
   * CLOCK_MONOTONIC read zero (measureBootTimeNs() in `@bulwark/alerts/sinks`
   * measures it; measure again after a resume). A function maps the event's
   * `timeNs` to Unix nanoseconds itself.
   */
  readonly bootTimeNs: bigint | ((timeNs: bigint) => bigint);
  /** The enforcer's throttle (Enforcer.setThrottle), for throttling records' MaxAlertsPerSec and DroppingAlertsInterval. */
  readonly throttle?: ThrottleLimits;
  readonly process?: ProcessDetails;
}

interface Decision {
  readonly action: AlertAction;
  readonly result: AlertResult;
}

const DECISIONS: Readonly<Record<Exclude<Verdict, 'dropped'>, Decision>> = {
  allow: { action: 'Allow', result: 'Passed' },
  audit: { action: 'Audit', result: 'Passed' },
  block: { action: 'Block', result: 'Permission denied' },
  'posture-audit': { action: 'Audit', result: 'Passed' },
  'posture-block': { action: 'Block', result: 'Permission denied' },
  'fail-closed': { action: 'Block', result: 'Permission denied' },
  protected: { action: 'Block', result: 'Permission denied' },
};

/**
 * The alert for one event of the enforcer's ring buffer
 * (decodeEnforcerEvent's record). Every verdict makes one: a `dropped`
 * record becomes a throttling record (type SystemEvent, operation
 * AlertThreshold). Throws a ValidationError only for what it cannot make
 * an alert of: an empty host name, a clock that puts the event before 1970,
 * an operation that is not one of the enforcer's (another layout's event).
 */
export function createAlert(event: EnforcerEvent, context: AlertContext): Alert {
  if (context.hostName === '') throw new ValidationError('create alert', [{ path: 'hostName', message: 'expected a host name' }]);
  const { timestamp, updatedTime } = wallClock(event.timeNs, context.bootTimeNs);
  const workload = context.workload;
  const container = workload.kind === 'container';
  const identity = {
    timestamp,
    updatedTime,
    clusterName: context.clusterName,
    hostName: context.hostName,
    namespaceName: container ? workload.namespace : undefined,
    podName: container ? workload.pod : undefined,
    labels: container ? formatLabels(workload.labels) : undefined,
    containerID: container ? workload.id : undefined,
    containerName: container ? workload.name : undefined,
    containerImage: container ? workload.image : undefined,
  };
  const base: Pick<BulwarkFields, 'verdict' | 'ruleId' | 'scope' | 'cgroupId' | 'eventTimeNs'> = {
    verdict: event.verdict,
    ruleId: event.ruleId,
    scope: event.scope,
    cgroupId: event.cgroupId.toString(),
    eventTimeNs: event.timeNs.toString(),
  };

  if (event.verdict === 'dropped') {
    return omitEmpty({
      ...identity,
      message: `the throttle dropped ${event.dropped} alert${event.dropped === 1 ? '' : 's'}`,
      type: 'SystemEvent',
      operation: 'AlertThreshold',
      enforcer: 'BPFLSM',
      MaxAlertsPerSec: context.throttle?.eventsPerSecond,
      DroppingAlertsInterval: context.throttle === undefined ? undefined : context.throttle.suppressMs / 1000,
      bulwark: omitEmpty({ ...base, dropped: event.dropped }),
    });
  }

  const operation = operationName(event.operation);
  if (operation === undefined) {
    throw new ValidationError('create alert', [{ path: 'operation', message: `expected one OPERATION_BITS bit, got 0x${event.operation.toString(16)}` }]);
  }
  const names = OPERATION_NAMES[operation];
  const resource = describeResource(event);
  const exec = operation === 'exec';
  const details = context.process ?? {};
  const { policy, origin } = describePolicy(event, context);
  const decision = DECISIONS[event.verdict];
  return omitEmpty({
    ...identity,
    hostPPid: details.hostPPid,
    hostPid: event.tgid,
    ppid: details.ppid,
    pid: details.pid ?? (container ? undefined : event.tgid),
    uid: event.uid,
    // As KubeArmor's BPF-LSM enforcer: an exec's process is the program it runs, its parent the one that ran it.
    parentProcessName: exec ? event.source : details.parentProcessName,
    processName: exec ? resource : event.source,
    policyName: policy.name,
    severity: origin?.severity === undefined ? undefined : String(origin.severity),
    tags: origin === undefined || origin.tags.length === 0 ? undefined : origin.tags.join(','),
    atags: origin === undefined || origin.tags.length === 0 ? undefined : [...origin.tags],
    message: policy.message,
    type: container ? 'MatchedPolicy' : 'MatchedHostPolicy',
    source: event.source,
    operation: names.operation,
    resource,
    // KubeArmor adds the socket or capability to the event's name.
    data: resource !== undefined && (names.operation === 'Network' || names.operation === 'Capabilities') ? `lsm=${names.event} ${resource}` : `lsm=${names.event}`,
    enforcer: 'BPFLSM',
    action: decision.action,
    result: decision.result,
    bulwark: omitEmpty({
      ...base,
      operation,
      comm: event.comm,
      hostTid: event.pid,
      policyKind: origin?.kind,
      policyNamespace: origin?.namespace,
      policyFile: origin?.source,
      policyLine: origin?.line,
      policyColumn: origin?.column,
      field: origin?.field,
      ruleResource: origin?.resource,
    }),
  });
}

/** What a protected-process event says was tried. */
const PROTECTION_MESSAGES: Readonly<Record<string, string>> = {
  signal: 'signal',
  ptrace: 'ptrace or memory access',
  rlimit: 'resource limit change',
  scheduler: 'scheduling change',
  nice: 'nice change',
  ioprio: 'I/O priority change',
  memory: 'memory migration',
};

/** The resource as a person reads it: the path, `domain=AF_INET type=SOCK_STREAM protocol=0`, `CAP_NET_RAW`. */
function describeResource(event: EnforcerEvent): string | undefined {
  const resource = decodeEventResource(event);
  switch (resource.kind) {
    case 'path':
      return resource.path;
    case 'socket':
      return describeSocket(resource.family, resource.type, resource.protocol);
    case 'capability':
      return describeCapability(resource.capability);
    case 'unknown':
      return resource.resource;
    case 'signal':
      return resource.via;
    case 'preset':
      // No file name to give: a mapping of anonymous memory, or of a memfd seen through a mapping.
      return resource.preset === 'anonymousMapExec' ? 'anonymous executable mapping' : 'a file with no name (fileless exec)';
    case 'none':
      return undefined;
  }
}

/** The policy an event names, and a message where the policy has none to give. */
function describePolicy(event: EnforcerEvent, context: AlertContext): { policy: { name?: string | undefined; message?: string | undefined }; origin?: RuleOrigin } {
  switch (event.verdict) {
    case 'posture-block':
    case 'posture-audit':
      return { policy: { name: DEFAULT_POSTURE } };
    case 'fail-closed':
      return { policy: { message: `path could not be resolved: ${operationName(event.operation) ?? 'operation'} denied (fail-closed)` } };
    case 'protected':
      return { policy: { message: `${PROTECTION_MESSAGES[(decodeEventResource(event) as { via?: string }).via ?? 'signal'] ?? 'signal'} of a protected process (the agent) denied` } };
    default: {
      if (event.ruleId === 0) return { policy: {} };
      const rule = context.compiled?.rules[event.ruleId - 1];
      // A set swapped while the event was in flight can lack the rule, or have another there.
      if (rule === undefined || rule.rule.id !== event.ruleId) {
        return {
          policy: {
            message:
              context.compiled === undefined
                ? `rule ${event.ruleId}: no policy set given`
                : `rule ${event.ruleId}: not in the policy set given (the set changed since the event?)`,
          },
        };
      }
      return { policy: { name: rule.origin.policy, message: rule.origin.message }, origin: rule.origin };
    }
  }
}

/** KubeArmor's labels: `k=v` joined by commas (sorted by key here, so that the text is the same every time). */
function formatLabels(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]!}`)
    .join(',');
}

const NS_PER_SECOND = 1_000_000_000n;

/** Unix seconds and KubeArmor's updatedTime (`2006-01-02T15:04:05.000000Z`, microseconds) of an event's CLOCK_MONOTONIC time. */
function wallClock(timeNs: bigint, bootTimeNs: AlertContext['bootTimeNs']): { timestamp: number; updatedTime: string } {
  const unixNs = typeof bootTimeNs === 'bigint' ? bootTimeNs + timeNs : bootTimeNs(timeNs);
  if (typeof unixNs !== 'bigint' || unixNs < 0n) {
    throw new ValidationError('create alert', [{ path: 'bootTimeNs', message: `expected a Unix time in nanoseconds from 1970 on, got ${String(unixNs)}` }]);
  }
  const seconds = unixNs / NS_PER_SECOND;
  const microseconds = (unixNs % NS_PER_SECOND) / 1000n;
  const date = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return { timestamp: Number(seconds), updatedTime: `${date}.${microseconds.toString().padStart(6, '0')}Z` };
}

/** `T` with its keys that may be undefined made optional instead. */
type OmitEmpty<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & { [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined> };

/** Drops the keys whose value is undefined or '' (KubeArmor's omitempty), keeping the order of the rest. */
function omitEmpty<const T extends object>(value: T): OmitEmpty<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined && field !== '')) as OmitEmpty<T>;
}
