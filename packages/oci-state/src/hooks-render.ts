/**
 * Writing hooks.d files: the 1.0.0 format, checked by the same parser that
 * reads them.
 */

import { type HookConditions, parseHookFile } from './hooks-file.js';

export interface HookFileContent {
  /** Absolute path of the hook program. */
  path: string;
  /** The full argv, argv[0] included. */
  args?: string[];
  env?: string[];
  /** Seconds; a positive integer. */
  timeout?: number;
  stages: string[];
  /** Default: `{ always: true }`. */
  when?: HookConditions;
}

/**
 * Renders a 1.0.0 hooks.d file: pretty JSON with a trailing newline. Throws
 * ValidationError when the result would not load (relative path, no stage,
 * no condition, a pattern RE2 refuses, ...).
 */
export function renderHookFile(content: HookFileContent): string {
  const hook: Record<string, unknown> = { path: content.path };
  if (content.args !== undefined) hook.args = content.args;
  if (content.env !== undefined) hook.env = content.env;
  if (content.timeout !== undefined) hook.timeout = content.timeout;
  const document = {
    version: '1.0.0',
    hook,
    when: content.when ?? { always: true },
    stages: content.stages,
  };
  const text = `${JSON.stringify(document, null, 2)}\n`;
  parseHookFile(text, 'rendered hook file');
  return text;
}
