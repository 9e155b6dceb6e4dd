/**
 * How a command's failure reads, shared by every command (the CLI's own,
 * `policy apply|delete|list`, `doctor`'s agent check), so that the same
 * failure gets the same words and the same fix wherever it happens: the
 * agent's control socket missing or refused says how to start the agent or
 * name its socket; a socket, or anything else, closed to a user other than
 * root says to run as root.
 */
import { BulwarkError, describeError, errnoOf } from '@bulwark/errors';
import { loadAgentConfig } from './config.js';

/** The hint for an agent that is not there: every command that talks to it has both flags. */
export const AGENT_DOWN_HINT = "is the agent running? (start it with 'bulwark agent', or name its socket with --control-socket or --config)";

/** The hint for a socket closed to this user: the agent's sockets are root's (0600 in a 0700 directory). */
export const SOCKET_PERMISSION_HINT = "run as root (or as the socket's owner)";

function isPermission(errno: unknown): boolean {
  return errno === 'EACCES' || errno === 'EPERM';
}

/**
 * What to do when the agent's socket cannot be reached: for a permission
 * failure by a user other than root, run as root; for root refused
 * (a security module's decision), nothing this can say; otherwise start
 * the agent or name its socket.
 */
export function agentUnreachableHint(error: unknown, euid: number | undefined = process.geteuid?.()): string | undefined {
  const errno = BulwarkError.is(error, 'ERR_AGENT_UNREACHABLE') ? (error as { errno?: unknown }).errno : errnoOf(error);
  if (isPermission(errno)) return euid === 0 ? undefined : SOCKET_PERMISSION_HINT;
  return AGENT_DOWN_HINT;
}

/**
 * A command's failure in one line: `bulwark COMMAND: detail`, the command
 * named once (an error that already starts with it is not prefixed again),
 * then what to do, where there is something to say: the agent unreachable
 * (agentUnreachableHint), or a permission failure by someone other than
 * root (run as root).
 */
export function describeCommandError(command: string, error: unknown, euid: number | undefined = process.geteuid?.()): string {
  const detail = describeError(error);
  const named = detail === command || detail.startsWith(`${command}: `) || detail.startsWith(`${command} `) ? `bulwark ${detail}` : `bulwark ${command}: ${detail}`;
  if (BulwarkError.is(error, 'ERR_AGENT_UNREACHABLE')) {
    const hint = agentUnreachableHint(error, euid);
    return hint === undefined ? named : `${named}; ${hint}`;
  }
  return isPermission(errnoOf(error)) && euid !== 0 ? `${named}; run as root` : named;
}

/** The agent's control socket for a command: --control-socket, else the one the agent's configuration (--config) names, else the default. */
export async function resolveControlSocket(values: { readonly 'control-socket'?: unknown; readonly config?: unknown }): Promise<string> {
  const given = values['control-socket'];
  if (typeof given === 'string') return given;
  return (await loadAgentConfig(typeof values.config === 'string' ? values.config : undefined)).controlSocket;
}
