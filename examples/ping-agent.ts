/**
 * Asks a running agent whether it is there, through the control socket, and
 * says how an absent or silent agent is told apart.
 *
 *   node examples/ping-agent.ts [SOCKET]     (default /run/bulwark/control.sock)
 */
import { BulwarkError } from '@bulwark/errors';
import { DEFAULT_CONTROL_SOCKET, sendRequest } from '@bulwark/hook-client';

const socket = process.argv[2] ?? DEFAULT_CONTROL_SOCKET;
try {
  const started = performance.now();
  const result = await sendRequest(socket, { type: 'ping' }, { connectTimeoutMs: 250, totalTimeoutMs: 1000 });
  process.stdout.write(`agent answered in ${(performance.now() - started).toFixed(2)} ms: ${JSON.stringify(result)}\n`);
} catch (error) {
  const kind = BulwarkError.is(error) ? error.code : 'unexpected';
  process.stdout.write(`${kind}: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
