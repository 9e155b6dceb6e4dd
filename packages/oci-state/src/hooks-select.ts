/**
 * Choosing which hooks.d definitions apply to a container, as podman and
 * CRI-O do before they start the runtime.
 */

import type { Hook, OciStage, RuntimeConfig } from './config.js';
import type { HookDefinition } from './hooks-file.js';
import { copyHook } from './inject.js';
import { compileRe2, type Re2Pattern } from '@bulwark/re2';

/** The stages selectHooks fills: the OCI stages with the deprecated `prestart` folded into `createRuntime`. */
export type HookStage = Exclude<OciStage, 'prestart'>;

export const hookStages: readonly HookStage[] = ['createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

export interface SelectionContext {
  config: RuntimeConfig;
  /** The annotations to match; `config.annotations` when absent. */
  annotations?: Record<string, string>;
  /**
   * Whether the container has bind mounts, when the caller knows better than
   * `config.mounts` can tell: podman counts only the mounts its user asked
   * for, not the /etc/hosts and /etc/resolv.conf it adds itself. Default:
   * hasBindMounts(config).
   */
  hasBindMounts?: boolean;
}

export interface SelectedHooks {
  stages: Record<HookStage, Hook[]>;
  /** Stages that are not OCI stages (a consumer's own), by name, in the same order rules. */
  extensionStages: Record<string, Hook[]>;
}

/**
 * The hooks that apply to a container, per stage, in the definitions' order
 * (loadHooksDirectories returns them sorted by file name).
 *
 * A definition declaring `prestart` lands in `createRuntime`: both run in the
 * runtime namespace after the container's namespaces exist and before
 * pivot_root, and `prestart` is deprecated. A definition adds its hook to a
 * stage at most once, even if it lists both.
 */
export function selectHooks(hooks: readonly HookDefinition[], context: SelectionContext): SelectedHooks {
  const stages: Record<HookStage, Hook[]> = {
    createRuntime: [],
    createContainer: [],
    startContainer: [],
    poststart: [],
    poststop: [],
  };
  const extensionStages = Object.create(null) as Record<string, Hook[]>;
  const patterns = new Map<string, Re2Pattern>();

  for (const definition of hooks) {
    if (!matchWithPatterns(definition, context, patterns)) continue;
    const added = new Set<string>();
    for (const declared of definition.stages) {
      const stage = declared === 'prestart' ? 'createRuntime' : declared;
      if (added.has(stage)) continue;
      added.add(stage);
      const list = isHookStage(stage) ? stages[stage] : (extensionStages[stage] ??= []);
      list.push(copyHook(definition.hook));
    }
  }
  return { stages, extensionStages };
}

/**
 * Whether a definition's conditions hold for a container: all of them for
 * 1.0.0 files, any of them for files converted from 0.1.0.
 */
export function matchHook(definition: HookDefinition, context: SelectionContext): boolean {
  return matchWithPatterns(definition, context, new Map());
}

/** matchHook with a cache of compiled patterns shared across definitions. */
function matchWithPatterns(definition: HookDefinition, context: SelectionContext, patterns: Map<string, Re2Pattern>): boolean {
  const { when } = definition;
  const annotations = context.annotations ?? context.config.annotations ?? {};
  const results: boolean[] = [];

  if (when.always !== undefined) results.push(when.always);
  if (when.hasBindMounts !== undefined) results.push(when.hasBindMounts && (context.hasBindMounts ?? hasBindMounts(context.config)));
  for (const [keyPattern, valuePattern] of Object.entries(when.annotations ?? {})) {
    const key = compileCached(keyPattern, patterns);
    const value = compileCached(valuePattern, patterns);
    results.push(Object.entries(annotations).some(([name, content]) => key.test(name) && value.test(content)));
  }
  if (when.commands !== undefined && when.commands.length > 0) {
    // No process, or one without args, has no command to match: the condition
    // is false. containers/common returns an error for a process without args
    // instead, which fails the selection of every hook for the container.
    const command = context.config.process?.args?.[0];
    results.push(command !== undefined && when.commands.some((pattern) => compileCached(pattern, patterns).test(command)));
  }

  if (results.length === 0) return false;
  return definition.matchMode === 'all' ? results.every(Boolean) : results.some(Boolean);
}

/** Whether a config bind-mounts anything: a mount of type `bind`, or with a `bind` or `rbind` option. */
export function hasBindMounts(config: RuntimeConfig): boolean {
  return (config.mounts ?? []).some(
    (mount) => mount.type === 'bind' || (mount.options ?? []).some((option) => option === 'bind' || option === 'rbind'),
  );
}

function isHookStage(stage: string): stage is HookStage {
  return (hookStages as readonly string[]).includes(stage);
}

function compileCached(pattern: string, patterns: Map<string, Re2Pattern>): Re2Pattern {
  let compiled = patterns.get(pattern);
  if (compiled === undefined) {
    compiled = compileRe2(pattern);
    patterns.set(pattern, compiled);
  }
  return compiled;
}
