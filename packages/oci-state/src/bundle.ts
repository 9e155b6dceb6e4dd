/**
 * Changing the hooks of a config.json on disk: a runc bundle's, or a spec
 * file a runtime manager starts from (containerd's `base_runtime_spec`).
 *
 * Only the top-level `hooks` member is rewritten; every other byte of the
 * file stays as it was, so unknown fields, key order, formatting and numbers
 * beyond 2^53 (which a parse and re-serialise would round) all survive.
 */

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { toSystemError } from '@bulwark/errors';
import { parseConfig, type Hooks, type RuntimeConfig } from './config.js';
import { injectHooks, type HookEntry, type InjectOptions } from './inject.js';
import { findMember, parseJsonText, type JsonMember, type JsonNode } from './json-lines.js';
import { writeFileAtomic } from './write.js';

/** What to change in a spec file: entries to add, or a hook path to remove. */
export type SpecFileChange = readonly HookEntry[] | { remove: string };

/**
 * Adds hooks to `${bundle}/config.json` (see injectHooks) and writes it back
 * atomically, keeping its file mode. Returns the new config. Throws
 * SystemError for file access, ValidationError when the file is not a valid
 * config (it is then left alone).
 */
export async function writeBundleHooks(
  bundle: string,
  entries: readonly HookEntry[],
  options: InjectOptions = {},
): Promise<RuntimeConfig> {
  return updateSpecFileHooks(join(bundle, 'config.json'), entries, options);
}

/**
 * Adds hooks to, or removes a hook path from, an OCI spec file, and writes it
 * back atomically. Returns the new config.
 */
export async function updateSpecFileHooks(
  specPath: string,
  change: SpecFileChange,
  options: InjectOptions = {},
): Promise<RuntimeConfig> {
  let text: string;
  let mode: number;
  try {
    text = await readFile(specPath, 'utf8');
    mode = (await stat(specPath)).mode & 0o7777;
  } catch (error) {
    throw toSystemError('read spec file', error, specPath);
  }
  // Validates the whole document first: an invalid file is never rewritten.
  parseConfig(text, specPath);
  const { value, root } = parseJsonText(text, specPath);
  // The raw parse keeps each hook's keys in their original order.
  const current = value as RuntimeConfig;
  const updated = Array.isArray(change)
    ? injectHooks(current, change as readonly HookEntry[], options)
    : injectHooks(current, [], { replacePath: (change as { remove: string }).remove });

  const next = replaceHooksMember(text, root, updated.hooks);
  if (next !== text) {
    const result = parseConfig(next, specPath);
    await writeFileAtomic(specPath, next, mode);
    return result;
  }
  return parseConfig(text, specPath);
}

/**
 * Rewrites the top-level `hooks` member of a JSON object text, keeping all
 * other bytes; `undefined` removes the member. Indentation follows the
 * document's own.
 */
export function replaceHooksMember(text: string, root: JsonNode, hooks: Hooks | undefined): string {
  if (root.kind !== 'object') throw new Error('replace hooks: the document is not a json object');
  const member = findMember(root, 'hooks');
  const style = detectStyle(text, root);

  if (hooks === undefined) {
    if (member === undefined) return text;
    return removeMember(text, root.members, member);
  }

  const rendered = renderValue(hooks, style);
  if (member !== undefined) {
    return text.slice(0, member.value.start) + rendered + text.slice(member.value.end);
  }
  const last = root.members.at(-1);
  const separator = style.indent === undefined ? '' : `\n${style.indent}`;
  const space = style.indent === undefined ? '' : ' ';
  if (last === undefined) {
    const closing = style.indent === undefined ? '' : '\n';
    return `${text.slice(0, root.start + 1)}${separator}"hooks":${space}${rendered}${closing}${text.slice(root.end - 1)}`;
  }
  return `${text.slice(0, last.value.end)},${separator}"hooks":${space}${rendered}${text.slice(last.value.end)}`;
}

interface Style {
  /** The indentation of top-level members, or undefined for a single-line document. */
  indent: string | undefined;
  /** One level of indentation. */
  unit: string;
}

function detectStyle(text: string, root: JsonNode): Style {
  const first = root.kind === 'object' ? root.members[0] : undefined;
  if (first === undefined) return { indent: '  ', unit: '  ' };
  const lineStart = text.lastIndexOf('\n', first.keyStart - 1) + 1;
  const indent = text.slice(lineStart, first.keyStart);
  if (lineStart <= root.start || !/^[ \t]*$/u.test(indent)) return { indent: undefined, unit: '' };
  return { indent, unit: indent === '' ? '  ' : indent };
}

function renderValue(value: unknown, style: Style): string {
  if (style.indent === undefined) return JSON.stringify(value);
  return JSON.stringify(value, null, style.unit).replaceAll('\n', `\n${style.indent}`);
}

function removeMember(text: string, members: readonly JsonMember[], member: JsonMember): string {
  const index = members.indexOf(member);
  const previous = members[index - 1];
  if (previous !== undefined) {
    return text.slice(0, previous.value.end) + text.slice(member.value.end);
  }
  const next = members[index + 1];
  if (next !== undefined) {
    return text.slice(0, member.keyStart) + text.slice(next.keyStart);
  }
  // The only member: keep the braces, drop what was between them.
  const open = text.lastIndexOf('{', member.keyStart);
  const close = text.indexOf('}', member.value.end);
  return text.slice(0, open + 1) + text.slice(close);
}
