/**
 * The hook configuration an install writes, planned as data before anything
 * is touched: the existing configuration (hook.json) with the values given
 * on the command line over it. A value not given keeps the existing one;
 * the defaults apply only to a fresh configuration. The plan lists what
 * changes, key by key, and what would weaken the hook, which the installer
 * refuses unless told to (`--force`).
 */
import { parseHookConfig, renderHookConfig, type HookConfig, type HookConfigInput } from '@bulwark/hook-client';

/** The hook configuration's values as given on the command line; undefined: not given. */
export interface HookConfigFlags {
  readonly socket?: string | undefined;
  readonly failMode?: string | undefined;
  readonly log?: string | undefined;
  readonly timeoutMs?: number | undefined;
  readonly allowNamespaces?: readonly string[] | undefined;
  readonly allowNames?: readonly string[] | undefined;
}

/** One key whose value an install changes. */
export interface KeyChange {
  /** The key in hook.json, dotted: `failMode`, `allow.names`. */
  readonly key: string;
  readonly from: unknown;
  readonly to: unknown;
}

export interface HookConfigPlan {
  /** The file to write. */
  readonly text: string;
  readonly config: HookConfig;
  /** What differs from the existing configuration; empty for a fresh one or an unchanged one. */
  readonly changes: readonly KeyChange[];
  /** Each way the new configuration is weaker than the existing one, naming the flag; empty when it is not. */
  readonly weakenings: readonly string[];
}

/** The keys of hook.json, in the order the file has them. */
const KEYS = ['socket', 'failMode', 'allow.namespaces', 'allow.names', 'log', 'connectTimeoutMs', 'timeoutMs', 'stdinTimeoutMs'] as const;

function valueAt(config: HookConfig, key: string): unknown {
  return key.split('.').reduce<unknown>((value, part) => (value as Record<string, unknown> | undefined)?.[part], config);
}

/** A value as the install output shows it: `closed`, `''`, `[kube-system, bulwark-agent]`. */
export function formatValue(value: unknown): string {
  if (value === '') return "''";
  if (Array.isArray(value)) return `[${value.map(String).join(', ')}]`;
  return String(value);
}

function listed(names: readonly string[]): string {
  return names.join(', ');
}

/** How `next` is weaker than `existing`, each named by the flag that would do it. */
export function findWeakenings(existing: HookConfig, next: HookConfig): string[] {
  const found: string[] = [];
  if (existing.failMode === 'closed' && next.failMode === 'open') {
    found.push('--fail-mode open turns fail-closed into fail-open (containers would start when the agent cannot be asked)');
  }
  for (const [member, flag] of [
    ['namespaces', '--allow-namespace'],
    ['names', '--allow-name'],
  ] as const) {
    const before = existing.allow[member];
    const after = next.allow[member];
    const added = after.filter((name) => !before.includes(name));
    const dropped = before.filter((name) => !after.includes(name));
    if (added.length > 0) found.push(`${flag} adds ${listed(added)} to the allow-list (${added.length === 1 ? 'it would start' : 'they would start'} whatever the agent says)`);
    if (dropped.length > 0) found.push(`${flag} drops ${listed(dropped)} from the allow-list (${dropped.length === 1 ? 'it would' : 'they would'} no longer always start)`);
  }
  if (existing.log !== '' && next.log === '') found.push("--log '' turns the hook's log off (its verdicts would go unrecorded)");
  return found;
}

/**
 * Plans the configuration to write. `existing` is the configuration in the
 * file now (undefined when there is none). Throws the ValidationError of
 * renderHookConfig (source `hook config`) for a value the schema refuses.
 */
export function planHookConfig(existing: HookConfig | undefined, flags: HookConfigFlags): HookConfigPlan {
  const base: HookConfigInput = existing ?? { version: 1 };
  const input: HookConfigInput = {
    ...base,
    ...(flags.socket === undefined ? {} : { socket: flags.socket }),
    ...(flags.failMode === undefined ? {} : { failMode: flags.failMode as 'open' }),
    ...(flags.log === undefined ? {} : { log: flags.log }),
    ...(flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }),
    allow: {
      namespaces: [...(flags.allowNamespaces ?? base.allow?.namespaces ?? [])],
      names: [...(flags.allowNames ?? base.allow?.names ?? [])],
    },
  };
  const text = renderHookConfig(input);
  const config = parseHookConfig(text);
  if (existing === undefined) return { text, config, changes: [], weakenings: [] };
  const changes = KEYS.flatMap((key) => {
    const from = valueAt(existing, key);
    const to = valueAt(config, key);
    return JSON.stringify(from) === JSON.stringify(to) ? [] : [{ key, from, to }];
  });
  return { text, config, changes, weakenings: findWeakenings(existing, config) };
}
