/**
 * The agent's policy directory (`/etc/bulwark/policies`, the systemd mode's
 * embedded policies): loaded at start, and again when a file in it changes
 * or on SIGHUP. A load with any error is refused as a whole, with each
 * problem logged at its file:line:column, and the previous set stays in
 * force: a policy set is never half applied.
 */
import { watch, type FSWatcher } from 'node:fs';
import { describeIssue } from '@bulwark/errors';
import { loadPolicies, type LoadResult, type Policy } from '@bulwark/policy';
import type { Logger } from './log.js';

export const DEFAULT_POLICY_DIRECTORY = '/etc/bulwark/policies';

export interface PolicySetResult {
  /** The new set, when it loaded without a problem. */
  readonly policies?: readonly Policy[];
  readonly problems: readonly string[];
  readonly files: readonly string[];
}

/** Loads the directory; problems as `file:line:column: field: message` lines. A missing directory is an empty set. */
export async function loadPolicySet(directory: string): Promise<PolicySetResult> {
  const loaded: LoadResult = await loadPolicies([directory]);
  const problems = loaded.errors.flatMap((error) => error.issues.map((issue) => describeIssue(error.source, issue)));
  const missing = problems.length === 1 && loaded.files.length === 0 && /no such file or directory/u.test(problems[0]!);
  if (missing) return { policies: [], problems: [], files: [] };
  return problems.length === 0 ? { policies: loaded.policies, problems, files: loaded.files } : { problems, files: loaded.files };
}

export interface PolicyWatcher {
  close(): void;
}

/**
 * Calls `onChange` (debounced, one at a time) after files in `directory`
 * change. Returns undefined when the directory cannot be watched (it is
 * then read at start and on SIGHUP only), after logging why.
 */
export function watchPolicyDirectory(directory: string, onChange: () => Promise<void>, log: Logger, debounceMs = 200): PolicyWatcher | undefined {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  const run = () => {
    if (running !== undefined) {
      again = true;
      return;
    }
    running = onChange()
      .catch(() => undefined)
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          run();
        }
      });
  };
  let watcher: FSWatcher;
  try {
    watcher = watch(directory, { persistent: false }, () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(run, debounceMs);
    });
  } catch (error) {
    log.warn('policy directory not watched: changes apply on SIGHUP', { directory, error: error instanceof Error ? error.message : String(error) });
    return undefined;
  }
  watcher.on('error', (error) => log.warn('policy directory watch failed: changes apply on SIGHUP', { directory, error: error.message }));
  return {
    close() {
      if (timer !== undefined) clearTimeout(timer);
      watcher.close();
    },
  };
}
