/**
 * Adding and removing hooks in a runtime config, as pure functions: the
 * input is never changed, and everything the functions do not touch
 * (unknown fields included) is carried over as is.
 */

import { ociStages, type Hook, type Hooks, type OciStage, type RuntimeConfig } from './config.js';

export interface HookEntry {
  stage: OciStage;
  hook: Hook;
}

export interface InjectOptions {
  /** Remove every hook with this path, in every stage, before adding (for updates and uninstalls). */
  replacePath?: string;
  /**
   * Remove every hook this returns true for, in every stage, before adding:
   * an installer's own hooks recognised by a marker (their `args[0]`, say),
   * whatever path an earlier install gave them.
   */
  replace?: (hook: Hook) => boolean;
}

/**
 * Returns a config with `entries` appended to their stages. An entry whose
 * stage already holds a hook with the same path and args is skipped, so
 * injecting twice changes nothing. Stages left empty, and a `hooks` left
 * empty, are dropped.
 */
export function injectHooks(config: RuntimeConfig, entries: readonly HookEntry[], options: InjectOptions = {}): RuntimeConfig {
  const { replacePath, replace } = options;
  const replacing = replacePath !== undefined || replace !== undefined;
  const hooks: Hooks = {};
  for (const [key, value] of Object.entries(config.hooks ?? {})) {
    if (!isOciStage(key) || !Array.isArray(value)) {
      hooks[key] = value;
      continue;
    }
    const list = value as Hook[];
    const kept = list.filter((hook) => hook.path !== replacePath && replace?.(hook) !== true);
    if (kept.length > 0 || !replacing) hooks[key] = kept;
  }

  for (const { stage, hook } of entries) {
    const list = hooks[stage] ?? [];
    if (!list.some((present) => isSameHook(present, hook))) list.push(copyHook(hook));
    hooks[stage] = list;
  }

  if (Object.keys(hooks).length > 0) return { ...config, hooks };
  const result = { ...config };
  delete result.hooks;
  return result;
}

/** Returns a config without any hook whose path is `path`. */
export function removeHooks(config: RuntimeConfig, path: string): RuntimeConfig {
  return injectHooks(config, [], { replacePath: path });
}

function isOciStage(key: string): key is OciStage {
  return (ociStages as readonly string[]).includes(key);
}

/** Same program with the same arguments; `args` absent and `[]` are the same. */
export function isSameHook(left: Hook, right: Hook): boolean {
  if (left.path !== right.path) return false;
  const leftArgs = left.args ?? [];
  const rightArgs = right.args ?? [];
  return leftArgs.length === rightArgs.length && leftArgs.every((argument, index) => argument === rightArgs[index]);
}

/** A copy of a hook whose arrays can be changed without touching the original. */
export function copyHook(hook: Hook): Hook {
  const copy: Hook = { ...hook };
  if (hook.args !== undefined) copy.args = [...hook.args];
  if (hook.env !== undefined) copy.env = [...hook.env];
  return copy;
}
