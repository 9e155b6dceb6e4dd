/**
 * @bulwark/alerts: an enforcer event, as the ring buffer gives it, made
 * into an alert with KubeArmor's field names and printed as a JSON line;
 * then read back from the ring of recent alerts by container name.
 * Run: node examples/alert-from-event.ts
 */
import { AlertBuffer, createAlert } from '@bulwark/alerts';
import { createStreamSink, measureBootTimeNs } from '@bulwark/alerts/sinks';
import { OPERATION_BITS, RULE_PATH_SIZE, VERDICTS, decodeEnforcerEvent, eventRecordCodec } from '@bulwark/ebpf-lsm/rules';
import { compilePolicies, parsePolicies, type Workload } from '@bulwark/policy';

const { policies } = parsePolicies(
  `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: protect-shadow, namespace: shop}
spec:
  severity: 7
  tags: [MITRE]
  selector: {matchLabels: {app: nginx}}
  file: {matchPaths: [{path: /etc/shadow}]}
  action: Block
`,
  'protect-shadow.yaml',
);
const workload: Workload = { kind: 'container', id: '3f2a9c1e7b6d', name: 'web', namespace: 'shop', labels: { app: 'nginx' } };
const compiled = compilePolicies(policies, workload);

// What the kernel writes when `cat /etc/shadow` is blocked by rule 1 (struct event).
const text = (value: string, size: number) => Uint8Array.from({ length: size }, (_, index) => Buffer.from(value)[index] ?? 0);
const event = decodeEnforcerEvent(
  eventRecordCodec.encode({
    timeNs: process.hrtime.bigint(),
    cgroupId: 8123n,
    scope: 0,
    pid: 4242,
    tgid: 4242,
    uid: 0,
    operation: OPERATION_BITS.read,
    ruleId: compiled.rules[0]!.rule.id,
    verdict: VERDICTS.indexOf('block'),
    dropped: 0,
    comm: text('cat', 16),
    resource: text('/etc/shadow', RULE_PATH_SIZE),
    source: text('/usr/bin/cat', RULE_PATH_SIZE),
  }),
);

const alert = createAlert(event, { workload, compiled, hostName: 'node-1', bootTimeNs: measureBootTimeNs() });
createStreamSink().write(alert);
const recent = new AlertBuffer();
recent.push(alert);
const page = recent.since(0, { containerName: 'we' });
console.log(`following web: ${page.alerts.length} alert, next cursor ${page.cursor}: ${alert.policyName} ${alert.action} ${alert.resource}`);
