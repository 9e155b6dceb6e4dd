import * as z from 'zod/mini';
import { BulwarkError, ValidationError, describeError, validationErrorFromZod } from '@bulwark/errors';

/**
 * The hook's own configuration: where the agent is, how long to wait, and
 * what to do when it cannot be asked. `bulwark install-hook` writes it as
 * JSON (JSON, not YAML, so the hook parses it without a YAML parser on its
 * start-up path) and validates it there; the hook reads it at every call.
 */

export const DEFAULT_HOOK_SOCKET = '/run/bulwark/hook.sock';
export const DEFAULT_CONTROL_SOCKET = '/run/bulwark/control.sock';
export const DEFAULT_HOOK_LOG = '/var/log/bulwark/hook.log';
export const DEFAULT_HOOK_CONFIG = '/etc/bulwark/hook.json';

function buildHookConfigSchema() {
  const absolutePath = z.string().check(
    z.minLength(1),
    z.maxLength(4096),
    z.refine((value) => value.startsWith('/'), 'must be an absolute path'),
  );
  const name = z.string().check(z.minLength(1), z.maxLength(253));
  return z.strictObject({
    version: z.literal(1),
    socket: z._default(absolutePath, DEFAULT_HOOK_SOCKET),
    /** `open`: a container starts when the agent cannot be asked. `closed`: it fails to start. */
    failMode: z._default(z.enum(['open', 'closed']), 'open'),
    /** Containers that always start, whatever the agent says or whether it answers. */
    allow: z._default(
      z.strictObject({
        namespaces: z._default(z.array(name).check(z.maxLength(1024)), []),
        names: z._default(z.array(name).check(z.maxLength(1024)), []),
      }),
      { namespaces: [], names: [] },
    ),
    /** JSON-lines log file; the empty string turns logging off. */
    log: z._default(z.union([absolutePath, z.literal('')]), DEFAULT_HOOK_LOG),
    connectTimeoutMs: z._default(z.int().check(z.minimum(1), z.maximum(10_000)), 250),
    /** One deadline over connect and reply. */
    timeoutMs: z._default(z.int().check(z.minimum(1), z.maximum(60_000)), 5000),
    /** Longest wait for the runtime's state on stdin. */
    stdinTimeoutMs: z._default(z.int().check(z.minimum(1), z.maximum(60_000)), 1000),
    /**
     * Where podman keeps its containers' names (containers/storage's
     * containers.json; default the rootful one): read only when an
     * allow-list entry names containers, since podman writes no name into
     * config.json.
     */
    podmanContainersFile: z.optional(absolutePath),
  });
}

let hookConfigSchemaValue: ReturnType<typeof buildHookConfigSchema> | undefined;
/** The hook configuration's schema, built on first use. */
export function hookConfigSchema(): ReturnType<typeof buildHookConfigSchema> {
  return (hookConfigSchemaValue ??= buildHookConfigSchema());
}
export type HookConfig = z.infer<ReturnType<typeof buildHookConfigSchema>>;
export type HookConfigInput = z.input<ReturnType<typeof buildHookConfigSchema>>;

/** The configuration used when there is no file: fail open, default socket. */
export function defaultHookConfig(): HookConfig {
  return hookConfigSchema().parse({ version: 1 });
}

/** Parses and validates hook configuration text. Throws ValidationError. */
export function parseHookConfig(text: string, source = 'hook config'): HookConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(source, [{ path: '', message: `not valid json: ${(error as Error).message}` }]);
  }
  const parsed = hookConfigSchema().safeParse(value);
  if (!parsed.success) throw validationErrorFromZod(source, parsed.error);
  if (parsed.data.timeoutMs < parsed.data.connectTimeoutMs) {
    throw new ValidationError(source, [{ path: 'timeoutMs', message: 'must not be shorter than connectTimeoutMs' }]);
  }
  return parsed.data;
}

/** Renders a configuration as the JSON file the hook reads, validated first. */
export function renderHookConfig(input: HookConfigInput): string {
  const text = `${JSON.stringify(input, null, 2)}\n`;
  return `${JSON.stringify(parseHookConfig(text, 'hook config'), null, 2)}\n`;
}

export interface ContainerLabels {
  readonly name?: string | undefined;
  readonly podName?: string | undefined;
  readonly podNamespace?: string | undefined;
}

/** True when the configuration says this container always starts. */
export function isAllowListed(config: HookConfig, container: ContainerLabels): boolean {
  const { namespaces, names } = config.allow;
  if (container.podNamespace !== undefined && namespaces.includes(container.podNamespace)) return true;
  if (container.name !== undefined && names.includes(container.name)) return true;
  return container.podName !== undefined && names.includes(container.podName);
}

export type HookVerdict =
  | { readonly start: true; readonly why: 'registered' | 'fail-open' | 'allow-listed' | 'not-applicable' }
  | { readonly start: false; readonly why: 'fail-closed' | 'refused'; readonly reason: string };

/**
 * What the hook does with an error. An agent that answers "refused" has made
 * a decision: the container does not start unless it is allow-listed. Any
 * other failure (agent down, slow, bad input) follows the fail mode.
 */
export function decideVerdict(config: HookConfig, allowListed: boolean, error: unknown): HookVerdict {
  if (error === undefined) return { start: true, why: 'registered' };
  if (allowListed) return { start: true, why: 'allow-listed' };
  const reason = describeError(error);
  const refused =
    BulwarkError.is(error, 'ERR_AGENT_REFUSED') && (error as { replyCode?: unknown }).replyCode === 'refused';
  if (refused) return { start: false, why: 'refused', reason };
  if (config.failMode === 'open') return { start: true, why: 'fail-open' };
  return { start: false, why: 'fail-closed', reason };
}
