import { describe, expect, it } from 'vitest';
import { AlertBuffer } from './buffer.js';
import { createAlert, type AlertContext } from './create.js';
import type { Alert } from './schema.js';
import { BOOT_TIME_NS, enforcerEvent, host, hostPolicies, web, webPolicies } from './__fixtures__/events.js';

const api: AlertContext['workload'] = { ...web, id: 'a1b2c3d4e5f6', name: 'api' };
const contexts: Record<string, AlertContext> = {
  web: { workload: web, compiled: webPolicies, hostName: 'node-1', bootTimeNs: BOOT_TIME_NS },
  api: { workload: api, hostName: 'node-1', bootTimeNs: BOOT_TIME_NS },
  host: { workload: host, compiled: hostPolicies, hostName: 'node-1', bootTimeNs: BOOT_TIME_NS },
};

/** A posture block on `path` in `where`'s scope (policyName DefaultPosture), or a rule's block with `ruleId`. */
const alert = (where: keyof typeof contexts, path: string, ruleId = 0): Alert =>
  createAlert(enforcerEvent({ verdict: ruleId === 0 ? 'posture-block' : 'block', operation: 'read', ruleId, resource: path }), contexts[where]!);

const paths = (page: { alerts: readonly { alert: Alert }[] }) => page.alerts.map((entry) => entry.alert.resource);

describe('AlertBuffer', () => {
  it('numbers alerts from 1 and reads what came after a cursor, with the cursor to pass back', () => {
    const buffer = new AlertBuffer({ capacity: 8 });
    expect(buffer.sequence).toBe(0);
    expect(buffer.since(0)).toEqual({ alerts: [], cursor: 0, missed: 0 });
    expect(['/a', '/b', '/c'].map((path) => buffer.push(alert('web', path)))).toEqual([1, 2, 3]);
    const all = buffer.since(0);
    expect(all.alerts.map((entry) => entry.sequence)).toEqual([1, 2, 3]);
    expect(all).toMatchObject({ cursor: 3, missed: 0 });
    expect(buffer.since(2).alerts.map((entry) => entry.sequence)).toEqual([3]);
    expect(buffer.since(3)).toEqual({ alerts: [], cursor: 3, missed: 0 });
    buffer.push(alert('web', '/d'));
    expect(paths(buffer.since(all.cursor))).toEqual(['/d']);
  });

  it('keeps the newest `capacity` alerts and says how many a slow reader missed', () => {
    const buffer = new AlertBuffer({ capacity: 3 });
    for (const path of ['/1', '/2', '/3', '/4', '/5']) buffer.push(alert('web', path));
    expect(buffer.since(0)).toMatchObject({ cursor: 5, missed: 2 });
    expect(paths(buffer.since(0))).toEqual(['/3', '/4', '/5']);
    expect(buffer.since(1)).toMatchObject({ missed: 1 });
    expect(buffer.since(2)).toMatchObject({ missed: 0 });
    expect(paths(buffer.since(2))).toEqual(['/3', '/4', '/5']);
  });

  it('filters by container id and name prefix and by policy name; the cursor moves past what did not match', () => {
    const buffer = new AlertBuffer();
    buffer.push(alert('web', '/w1', 1));
    buffer.push(alert('api', '/a1'));
    buffer.push(alert('host', '/h1'));
    buffer.push(alert('web', '/w2'));
    expect(paths(buffer.since(0, { containerId: '3f2a' }))).toEqual(['/w1', '/w2']);
    expect(paths(buffer.since(0, { containerId: 'a1b2' }))).toEqual(['/a1']);
    expect(paths(buffer.since(0, { containerName: 'ap' }))).toEqual(['/a1']);
    // The host has no container: a container filter, even an empty prefix, never matches it.
    expect(paths(buffer.since(0, { containerName: '' }))).toEqual(['/w1', '/a1', '/w2']);
    expect(paths(buffer.since(0, { policyName: 'DefaultPosture' }))).toEqual(['/a1', '/h1', '/w2']);
    expect(paths(buffer.since(0, { policyName: 'harden-web' }))).toEqual(['/w1']);
    expect(paths(buffer.since(0, { containerName: 'web', policyName: 'DefaultPosture' }))).toEqual(['/w2']);
    expect(buffer.since(0, { containerName: 'nothing' })).toEqual({ alerts: [], cursor: 4, missed: 0 });
  });

  it('pages with a limit; a cursor from another agent life reads from the start; bad arguments are refused', () => {
    const buffer = new AlertBuffer({ capacity: 10 });
    for (const path of ['/1', '/2', '/3', '/4', '/5']) buffer.push(alert('web', path));
    const first = buffer.since(0, {}, 2);
    expect(first).toMatchObject({ cursor: 2 });
    expect(paths(first)).toEqual(['/1', '/2']);
    expect(paths(buffer.since(first.cursor, {}, 2))).toEqual(['/3', '/4']);
    expect(paths(buffer.since(99))).toEqual(['/1', '/2', '/3', '/4', '/5']);
    expect(() => new AlertBuffer({ capacity: 0 })).toThrow('alert buffer: capacity: expected a positive integer, got 0');
    expect(() => buffer.since(-1)).toThrow('read alerts: cursor: expected a non-negative integer, got -1');
    expect(() => buffer.since(0, {}, 0)).toThrow('read alerts: limit: expected at least 1, got 0');
  });
});
