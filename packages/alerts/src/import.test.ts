/**
 * Importing @bulwark/alerts and making an alert loads no native code (no
 * koffi: the enforcer's types come from @bulwark/ebpf-lsm/rules), and
 * neither does the sinks entry. Every native addon Node loads goes through
 * process.dlopen, which the child records; @bulwark/policy's import test
 * shows the same check seeing koffi load.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { recordNativeLoads, sourceNodeArguments } from '../../../test-support/source-node.js';

const execute = promisify(execFile);

describe('importing @bulwark/alerts', () => {
  it('loads no .node file, importing or making an alert, nor does @bulwark/alerts/sinks', async () => {
    const script = `${recordNativeLoads}
const { createAlert, alertSchema } = await import('@bulwark/alerts');
await import('@bulwark/alerts/sinks');
const rules = await import('@bulwark/ebpf-lsm/rules');
const bytes = (text, size) => { const out = new Uint8Array(size); out.set(new TextEncoder().encode(text)); return out; };
const event = rules.decodeEnforcerEvent(rules.eventRecordCodec.encode({
  timeNs: 1n, cgroupId: 2n, scope: 0, pid: 3, tgid: 3, uid: 0, operation: rules.OPERATION_BITS.read, ruleId: 0,
  verdict: rules.VERDICTS.indexOf('posture-block'), dropped: 0,
  comm: bytes('cat', 16), resource: bytes('/etc/hostname', rules.RULE_PATH_SIZE), source: bytes('/usr/bin/cat', rules.RULE_PATH_SIZE),
}));
const alert = createAlert(event, { workload: { kind: 'host', name: 'node-1', labels: {} }, hostName: 'node-1', bootTimeNs: 0n });
process.stdout.write(JSON.stringify({ native: opened.filter((path) => path.endsWith('.node')), valid: alertSchema.safeParse(alert).success }));
`;
    const { stdout } = await execute(process.execPath, [...sourceNodeArguments, '--input-type=module', '--eval', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
    });
    expect(JSON.parse(stdout)).toEqual({ native: [], valid: true });
  });
});
