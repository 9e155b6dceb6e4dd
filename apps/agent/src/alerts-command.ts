/**
 * `bulwark alerts [--follow] [--container X] [--policy Y] [--json]`: the
 * running agent's recent alerts over the control socket, and with --follow
 * the new ones as they come (read by cursor, so none is shown twice and a
 * gap is said).
 */
import { parseArgs } from 'node:util';
import { describeError, ValidationError } from '@bulwark/errors';
import type { Alert, AlertPage } from '@bulwark/alerts';
import { AgentConnection, DEFAULT_CONTROL_SOCKET } from '@bulwark/hook-client';
import { resolveControlSocket } from './command-error.js';

export interface AlertsIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Resolves when --follow should stop (SIGINT); default never. */
  readonly stopped?: Promise<void>;
}

export const ALERTS_HELP = `Usage: bulwark alerts [options]

Prints the running agent's recent alerts (it keeps the last 4,096), one per
line, oldest first; with --follow, goes on printing new ones until stopped.

Options:
  --follow                keep printing alerts as they come
  --container ID|NAME     only this container's (a prefix of its id, or of its name)
  --policy NAME           only alerts of this policy (DefaultPosture: posture decisions)
  --json                  the alerts as JSON lines (the documented schema) instead of text
  --control-socket PATH   the agent's control socket (default ${DEFAULT_CONTROL_SOCKET})
  --config FILE           read the control socket from the agent's configuration
  --interval-ms N         how often --follow asks (default 250)
  -h, --help              show this help
  --version               print the version
`;

export function formatAlert(alert: Alert): string {
  const who = alert.containerName ?? alert.containerID ?? alert.hostName;
  const record = alert as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === 'string' || typeof value === 'number' ? String(value) : '-');
  return [alert.updatedTime, who, alert.policyName, alert.operation, record.resource, alert.action, alert.result, record.processName ?? record.source].map(text).join('  ');
}

export async function runAlertsCommand(args: readonly string[], io: AlertsIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        follow: { type: 'boolean' },
        container: { type: 'string' },
        policy: { type: 'string' },
        json: { type: 'boolean' },
        'control-socket': { type: 'string' },
        config: { type: 'string' },
        'interval-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new ValidationError('alerts', [{ path: '', message: describeError(error).replace(/\. To specify.*$/su, '') }]);
  }
  if (values.help === true) {
    io.stdout(ALERTS_HELP);
    return 0;
  }
  const interval = Number(values['interval-ms'] ?? 250);
  if (!Number.isInteger(interval) || interval < 10 || interval > 60_000) {
    throw new ValidationError('alerts', [{ path: '--interval-ms', message: 'expected an integer from 10 to 60000' }]);
  }
  const container = values.container;
  const connection = await AgentConnection.connect(await resolveControlSocket(values));
  let stopped = false;
  void io.stopped?.then(() => (stopped = true));
  try {
    let cursor = 0;
    for (;;) {
      const page = (await connection.request(
        {
          type: 'alerts.read',
          cursor,
          limit: 1000,
          ...(values.policy === undefined ? {} : { policyName: values.policy }),
        },
        { replyTimeoutMs: 5000 },
      )) as AlertPage;
      if (page.missed > 0) io.stderr(`bulwark alerts: ${page.missed} alerts were overwritten before they could be read\n`);
      for (const { alert } of page.alerts) {
        // A container is named by a prefix of its id or of its name.
        if (container !== undefined && !(alert.containerID?.startsWith(container) === true || alert.containerName?.startsWith(container) === true)) continue;
        io.stdout(values.json === true ? `${JSON.stringify(alert)}\n` : `${formatAlert(alert)}\n`);
      }
      cursor = page.cursor;
      if (values.follow !== true || stopped) return 0;
      if (page.alerts.length < 1000) await new Promise((resolve) => setTimeout(resolve, interval));
      if (stopped) return 0;
    }
  } finally {
    connection.close();
  }
}
