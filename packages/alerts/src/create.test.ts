import { describe, expect, it } from 'vitest';
import { createAlert, type AlertContext } from './create.js';
import { alertSchema, type Alert } from './schema.js';
import {
  BOOT_TIME_NS,
  capabilityResource,
  enforcerEvent,
  host,
  hostPolicies,
  presetResource,
  ruleId,
  socketResource,
  web,
  webPolicies,
  type EventFields,
} from './__fixtures__/events.js';

const container: AlertContext = { workload: web, compiled: webPolicies, hostName: 'node-1', bootTimeNs: BOOT_TIME_NS };
const onHost: AlertContext = { workload: host, compiled: hostPolicies, hostName: 'node-1', bootTimeNs: BOOT_TIME_NS };

/** What every alert from the web container's scope starts with, for the fixture's event time. */
const webIdentity = {
  timestamp: 1705405378,
  updatedTime: '2024-01-16T11:42:58.662928Z',
  hostName: 'node-1',
  namespaceName: 'shop',
  podName: 'web-7d9f8-abcde',
  labels: 'app=web,tier=frontend',
  containerID: web.id,
  containerName: 'web',
  containerImage: 'docker.io/library/nginx:1.27',
};

/** The alert for an event made of `fields`, checked against the schema first. */
function alertFor(fields: EventFields, context: AlertContext = container): Alert {
  const alert = createAlert(enforcerEvent(fields), context);
  const checked = alertSchema.safeParse(alert);
  expect(checked.error?.issues ?? []).toEqual([]);
  // What goes out as JSON comes back the same: no bigint, no undefined.
  expect(JSON.parse(JSON.stringify(alert))).toEqual(alert);
  return alert;
}

describe('createAlert', () => {
  it('a blocked read in a container: KubeArmor fields in its order, the rule from the compiled set, Bulwark fields apart', () => {
    const id = ruleId(webPolicies, 'harden-web', 'file.matchPaths.0');
    const alert = alertFor({ verdict: 'block', operation: 'read', ruleId: id, resource: '/etc/shadow' });
    expect(alert).toEqual({
      ...webIdentity,
      hostPid: 4242,
      uid: 1000,
      processName: '/usr/bin/cat',
      policyName: 'harden-web',
      severity: '5',
      tags: 'MITRE,MITRE_T1003_credential_dumping',
      atags: ['MITRE', 'MITRE_T1003_credential_dumping'],
      message: 'credentials read',
      type: 'MatchedPolicy',
      source: '/usr/bin/cat',
      operation: 'File',
      resource: '/etc/shadow',
      data: 'lsm=FILE_OPEN',
      enforcer: 'BPFLSM',
      action: 'Block',
      result: 'Permission denied',
      bulwark: {
        verdict: 'block',
        ruleId: id,
        scope: 7,
        cgroupId: '8123',
        eventTimeNs: '12345678901234',
        operation: 'read',
        comm: 'cat',
        hostTid: 4243,
        policyKind: 'KubeArmorPolicy',
        policyNamespace: 'shop',
        policyFile: 'policies.yaml',
        policyLine: 15,
        policyColumn: 7,
        field: 'file.matchPaths.0',
        ruleResource: '/etc/shadow',
      },
    });
    expect(Object.keys(alert)).toEqual(Object.keys(alertSchema.shape).filter((key) => key in alert));
  });

  it('audit: Audit and Passed, with the rule own severity and message', () => {
    const id = ruleId(webPolicies, 'harden-web', 'file.matchDirectories.0');
    const alert = alertFor({ verdict: 'audit', operation: 'write', ruleId: id, resource: '/var/cache/x/y', source: '/usr/bin/touch', comm: 'touch' });
    expect(alert).toMatchObject({ action: 'Audit', result: 'Passed', policyName: 'harden-web', severity: '2', message: 'cache touched', data: 'lsm=FILE_OPEN' });
    expect(alert.bulwark).toMatchObject({ operation: 'write', field: 'file.matchDirectories.0', ruleResource: '/var/cache/' });
  });

  it('exec: operation Process, the program run is processName and resource, the one that ran it source and parentProcessName', () => {
    const id = ruleId(webPolicies, 'harden-web', 'process.matchPaths.0');
    const alert = alertFor({ verdict: 'block', operation: 'exec', ruleId: id, resource: '/usr/bin/curl', source: '/bin/bash', comm: 'bash' });
    expect(alert).toMatchObject({
      parentProcessName: '/bin/bash',
      processName: '/usr/bin/curl',
      source: '/bin/bash',
      operation: 'Process',
      resource: '/usr/bin/curl',
      data: 'lsm=SECURITY_BPRM_CHECK',
      action: 'Block',
      result: 'Permission denied',
    });
  });

  it('a preset exec with no path: the resource says what was run', () => {
    const id = ruleId(webPolicies, 'harden-web', 'process.matchPaths.0');
    expect(alertFor({ verdict: 'block', operation: 'exec', ruleId: id, resource: presetResource('anonymousMapExec') })).toMatchObject({ operation: 'Process', resource: 'anonymous executable mapping' });
    expect(alertFor({ verdict: 'block', operation: 'exec', ruleId: id, resource: presetResource('filelessExec') }).resource).toBe('a file with no name (fileless exec)');
    expect(alertFor({ verdict: 'block', operation: 'exec', ruleId: id, resource: '/memfd:payload (deleted)' }).resource).toBe('/memfd:payload (deleted)');
  });

  it('sockets and capabilities: the key bytes read as KubeArmor shows them, in resource and data', () => {
    const raw = ruleId(webPolicies, 'harden-web', 'network.matchProtocols.0');
    const socket = alertFor({ verdict: 'block', operation: 'socket', ruleId: raw, resource: socketResource(17, 3, 768), source: '/usr/sbin/arping' });
    expect(socket).toMatchObject({
      operation: 'Network',
      resource: 'domain=AF_PACKET type=SOCK_RAW protocol=768',
      data: 'lsm=SOCKET_CREATE domain=AF_PACKET type=SOCK_RAW protocol=768',
      policyName: 'harden-web',
    });
    expect(alertFor({ verdict: 'block', operation: 'socket', ruleId: raw, resource: socketResource(2, 3, 1) }).resource).toBe('domain=AF_INET type=SOCK_RAW protocol=ICMP');
    expect(alertFor({ verdict: 'audit', operation: 'socket', ruleId: raw, resource: socketResource(10, 1, 6) }).resource).toBe('domain=AF_INET6 type=SOCK_STREAM protocol=TCP');
    expect(alertFor({ verdict: 'audit', operation: 'socket', ruleId: raw, resource: socketResource(2, 2, 0) }).resource).toBe('domain=AF_INET type=SOCK_DGRAM protocol=0');
    // Another family's protocol is its own number space: AF_NETLINK 6 is NETLINK_XFRM, not TCP.
    expect(alertFor({ verdict: 'audit', operation: 'socket', ruleId: raw, resource: socketResource(16, 3, 6) }).resource).toBe('domain=AF_NETLINK type=SOCK_RAW protocol=6');
    expect(alertFor({ verdict: 'posture-block', operation: 'socket', resource: socketResource(99, 12, 0) }).resource).toBe('domain=99 type=12 protocol=0');
    const capability = alertFor({
      verdict: 'block',
      operation: 'capability',
      ruleId: ruleId(webPolicies, 'harden-web', 'capabilities.matchCapabilities.0'),
      resource: capabilityResource(13),
    });
    expect(capability).toMatchObject({ operation: 'Capabilities', resource: 'CAP_NET_RAW', data: 'lsm=CAPABLE CAP_NET_RAW' });
    // Past the CRD's names (it stops at mac_admin), a posture can still decide one.
    expect(alertFor({ verdict: 'posture-block', operation: 'capability', resource: capabilityResource(39) }).resource).toBe('CAP_BPF');
    expect(alertFor({ verdict: 'posture-block', operation: 'capability', resource: capabilityResource(63) }).resource).toBe('CAP_63');
  });

  it('posture decisions: policyName DefaultPosture, no rule fields', () => {
    const blocked = alertFor({ verdict: 'posture-block', operation: 'read', resource: '/etc/hostname' });
    expect(blocked).toMatchObject({ policyName: 'DefaultPosture', action: 'Block', result: 'Permission denied', type: 'MatchedPolicy' });
    expect(blocked).not.toHaveProperty('severity');
    expect(blocked).not.toHaveProperty('message');
    expect(blocked.bulwark).not.toHaveProperty('policyFile');
    const audited = alertFor({ verdict: 'posture-audit', operation: 'unlink', resource: '/srv/a' }, onHost);
    expect(audited).toMatchObject({ policyName: 'DefaultPosture', action: 'Audit', result: 'Passed', type: 'MatchedHostPolicy', data: 'lsm=FILE_UNLINK' });
  });

  it('fail-closed: Block with a message that the path could not be resolved', () => {
    const alert = alertFor({ verdict: 'fail-closed', operation: 'exec', resource: '' });
    expect(alert).toMatchObject({ action: 'Block', result: 'Permission denied', message: 'path could not be resolved: exec denied (fail-closed)', operation: 'Process', source: '/usr/bin/cat' });
    expect(alert).not.toHaveProperty('resource');
    expect(alert).not.toHaveProperty('processName');
    expect(alert).not.toHaveProperty('policyName');
    expect(alert.bulwark).toMatchObject({ verdict: 'fail-closed', ruleId: 0 });
  });

  it('protected: a signal to the agent, blocked', () => {
    const alert = alertFor({ verdict: 'protected', operation: 'signal', resource: 'sig', source: '/usr/bin/kill', comm: 'kill' });
    expect(alert).toMatchObject({ operation: 'Signal', data: 'lsm=TASK_KILL', action: 'Block', result: 'Permission denied', message: 'signal of a protected process (the agent) denied', resource: 'signal' });
    expect(alertFor({ verdict: 'protected', operation: 'signal', resource: 'ptr', source: '/usr/bin/gdb', comm: 'gdb' })).toMatchObject({ resource: 'ptrace', message: 'ptrace or memory access of a protected process (the agent) denied' });
    // An event from an enforcer that does not say how.
    const unknown = alertFor({ verdict: 'protected', operation: 'signal', resource: '', source: '/usr/bin/kill', comm: 'kill' });
    expect(unknown).toMatchObject({ message: 'signal of a protected process (the agent) denied' });
    expect(unknown).not.toHaveProperty('resource');
    expect(alert).not.toHaveProperty('policyName');
  });

  it('allow, which the enforcer does not report today: Allow and Passed', () => {
    expect(alertFor({ verdict: 'allow', operation: 'read', resource: '/etc/hosts' })).toMatchObject({ action: 'Allow', result: 'Passed' });
  });

  it('a dropped record: a throttling record with KubeArmor capitalisation and the count', () => {
    const alert = alertFor({ verdict: 'dropped', dropped: 15 }, { ...container, throttle: { eventsPerSecond: 10, suppressMs: 30_000 } });
    expect(alert).toEqual({
      ...webIdentity,
      message: 'the throttle dropped 15 alerts',
      type: 'SystemEvent',
      operation: 'AlertThreshold',
      enforcer: 'BPFLSM',
      MaxAlertsPerSec: 10,
      DroppingAlertsInterval: 30,
      bulwark: { verdict: 'dropped', ruleId: 0, scope: 7, cgroupId: '8123', eventTimeNs: '12345678901234', dropped: 15 },
    });
    // Without the throttle's settings, the record says only what the event does.
    const bare = alertFor({ verdict: 'dropped', dropped: 1 });
    expect(bare.message).toBe('the throttle dropped 1 alert');
    expect(bare).not.toHaveProperty('MaxAlertsPerSec');
  });

  it('the host: MatchedHostPolicy, the host pid as pid, no container fields', () => {
    const id = ruleId(hostPolicies, 'guard-host', 'file.matchPaths.0');
    const alert = alertFor({ verdict: 'block', operation: 'write', ruleId: id, resource: '/etc/sudoers' }, { ...onHost, clusterName: 'lab' });
    expect(alert).toMatchObject({ clusterName: 'lab', type: 'MatchedHostPolicy', pid: 4242, hostPid: 4242, policyName: 'guard-host' });
    expect(alert.bulwark).toMatchObject({ policyKind: 'KubeArmorHostPolicy', policyLine: 47 });
    expect(alert.bulwark).not.toHaveProperty('policyNamespace');
    for (const key of ['namespaceName', 'podName', 'labels', 'containerID', 'containerName', 'containerImage', 'tags', 'atags', 'severity']) expect(alert).not.toHaveProperty(key);
  });

  it('process details the caller knows: namespace pids, parent', () => {
    const alert = alertFor(
      { verdict: 'posture-block', operation: 'read', resource: '/etc/hostname' },
      { ...container, process: { pid: 7, ppid: 1, hostPPid: 4200, parentProcessName: '/bin/sh' } },
    );
    expect(alert).toMatchObject({ hostPPid: 4200, hostPid: 4242, ppid: 1, pid: 7, parentProcessName: '/bin/sh', processName: '/usr/bin/cat' });
    // In a container, without them, no pid is better than the host's under the container's name.
    expect(alertFor({ verdict: 'posture-block', operation: 'read', resource: '/etc/hostname' })).not.toHaveProperty('pid');
  });

  it('a rule id the set does not have (the set changed since the event), or no set: the alert still comes, saying so', () => {
    const unknown = alertFor({ verdict: 'block', operation: 'read', ruleId: 999, resource: '/x' });
    expect(unknown).toMatchObject({ action: 'Block', message: 'rule 999: not in the policy set given (the set changed since the event?)' });
    expect(unknown).not.toHaveProperty('policyName');
    const withoutSet: AlertContext = { workload: web, hostName: 'node-1', bootTimeNs: BOOT_TIME_NS };
    expect(alertFor({ verdict: 'audit', operation: 'read', ruleId: 1, resource: '/x' }, withoutSet).message).toBe('rule 1: no policy set given');
  });

  it('the clock: a bigint offset or a function, microseconds as KubeArmor writes them; a time before 1970 or no host name is refused', () => {
    const event = { verdict: 'posture-block', operation: 'read', resource: '/x', timeNs: 5_000_000_123_456n } as const;
    expect(alertFor(event, { ...container, bootTimeNs: 0n })).toMatchObject({ timestamp: 5000, updatedTime: '1970-01-01T01:23:20.000123Z' });
    expect(alertFor(event, { ...container, bootTimeNs: (timeNs) => timeNs * 2n })).toMatchObject({ timestamp: 10000, updatedTime: '1970-01-01T02:46:40.000246Z' });
    expect(() => createAlert(enforcerEvent(event), { ...container, bootTimeNs: -10_000_000_000_000n })).toThrow(
      'create alert: bootTimeNs: expected a Unix time in nanoseconds from 1970 on, got -4999999876544',
    );
    expect(() => createAlert(enforcerEvent(event), { ...container, hostName: '' })).toThrow('create alert: hostName: expected a host name');
  });

  it('an operation that is not one of the enforcer bits is refused, not guessed', () => {
    const event = { ...enforcerEvent({ verdict: 'block', resource: '/x' }), operation: 1 << 20 };
    expect(() => createAlert(event, container)).toThrow('create alert: operation: expected one OPERATION_BITS bit, got 0x100000');
  });

  it('is deterministic: the same event and context give the same JSON', () => {
    const fields: EventFields = { verdict: 'block', operation: 'read', ruleId: 1, resource: '/etc/shadow' };
    expect(JSON.stringify(createAlert(enforcerEvent(fields), container))).toBe(JSON.stringify(createAlert(enforcerEvent(fields), { ...container })));
  });
});
