/**
 * Encodes a scope's path rules into the entries of its inner rule map, as
 * src/bpf/enforcer.bpf.c reads them. Pure and deterministic: the same rules
 * give the same entries, in the same order, wherever it runs.
 */
import { ValidationError, type ValidationIssue } from '@bulwark/errors';
import { codecs } from './codec.js';

/** The version of the map layout below; `layout_version` in enforcer.bpf.c's .rodata must equal it. */
export const LAYOUT_VERSION = 2;
/** Bytes in an inner map's key: the path, padded with zeros. */
export const RULE_KEY_SIZE = 256;
/** The longest rule path in bytes (UTF-8), so that every key ends in a zero. */
export const RULE_PATH_MAX = RULE_KEY_SIZE - 1;
/** Bytes in an inner map's value: u32 flags (a match kind and operations), in host byte order. */
export const RULE_VALUE_SIZE = 4;
/** Match kind: the key is a path that is denied itself. */
export const RULE_EXACT = 1;
/** Match kind: the key is a directory ending in '/', everything under which is denied. */
export const RULE_SUBTREE = 2;
/** Operation: opening the path is denied (lsm/file_open). */
export const RULE_OPEN = 4;
/** Operation: executing the path is denied (lsm/bprm_check_security). */
export const RULE_EXEC = 8;
/** Scope indexes the outer map holds (0 to MAX_SCOPES - 1). */
export const MAX_SCOPES = 4096;

/** An operation a rule denies. */
export type RuleOperation = 'open' | 'exec';

const operationFlags: Readonly<Record<RuleOperation, number>> = { open: RULE_OPEN, exec: RULE_EXEC };

/**
 * One rule: an absolute, normalised path. A path ending in '/' names a
 * directory: the directory itself and everything under it, recursively.
 * `operations` are what it denies (default `['open']`), at least one.
 */
export interface PathRule {
  readonly path: string;
  readonly operations?: readonly RuleOperation[];
}

export interface RuleEntry {
  readonly key: Buffer;
  readonly value: Buffer;
}

/**
 * Encodes rules into inner-map entries, sorted by key bytes. A rule `dir/`
 * gives two keys, `dir/` (subtree) and `dir` (the directory itself);
 * flags of rules with the same key are merged (operations add up). Throws a ValidationError
 * naming every bad rule.
 */
export function encodeRules(rules: readonly PathRule[]): RuleEntry[] {
  const issues: ValidationIssue[] = [];
  const flags = new Map<string, number>();
  const add = (path: string, flag: number) => flags.set(path, (flags.get(path) ?? 0) | flag);
  rules.forEach((rule, index) => {
    const problem = checkPath(rule.path);
    if (problem !== undefined) {
      issues.push({ path: `rules[${index}].path`, message: problem });
    }
    const operations = operationsFlag(rule.operations);
    if (typeof operations === 'string') issues.push({ path: `rules[${index}].operations`, message: operations });
    if (problem !== undefined || typeof operations === 'string') return;
    if (!rule.path.endsWith('/')) {
      add(rule.path, RULE_EXACT | operations);
      return;
    }
    add(rule.path, RULE_SUBTREE | operations);
    if (rule.path !== '/') add(rule.path.slice(0, -1), RULE_EXACT | operations);
  });
  if (issues.length > 0) throw new ValidationError('encode rules', issues);
  return [...flags]
    .map(([path, flag]) => ({ key: encodeRuleKey(path), value: encodeFlags(flag) }))
    .sort((a, b) => Buffer.compare(a.key, b.key));
}

/** The inner-map key of a path: its UTF-8 bytes padded with zeros to RULE_KEY_SIZE. */
export function encodeRuleKey(path: string): Buffer {
  const key = Buffer.alloc(RULE_KEY_SIZE);
  const length = key.write(path, 'utf8');
  if (Buffer.byteLength(path, 'utf8') !== length || length > RULE_PATH_MAX) {
    throw new ValidationError('encode rule key', [{ path: '', message: `expected at most ${RULE_PATH_MAX} bytes, got ${Buffer.byteLength(path, 'utf8')}` }]);
  }
  return key;
}

function encodeFlags(flag: number): Buffer {
  return Buffer.from(codecs.u32.encode(flag)); // host byte order, as the program reads it
}

/** The operation bits of a rule's operations, or what is wrong with them. */
function operationsFlag(operations: readonly RuleOperation[] | undefined): number | string {
  if (operations === undefined) return RULE_OPEN;
  if (!Array.isArray(operations) || operations.length === 0) return "expected a non-empty list of 'open' and 'exec'";
  let flag = 0;
  for (const operation of operations as readonly unknown[]) {
    if (operation !== 'open' && operation !== 'exec') return `expected 'open' or 'exec', got ${JSON.stringify(operation)}`;
    flag |= operationFlags[operation];
  }
  return flag;
}

/** What is wrong with a rule path, or undefined. */
function checkPath(path: string): string | undefined {
  if (typeof path !== 'string' || !path.startsWith('/')) return 'expected an absolute path (starting with /)';
  if (path.includes('\0')) return 'expected no NUL byte';
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > RULE_PATH_MAX) return `expected at most ${RULE_PATH_MAX} bytes, got ${bytes}`;
  const components = path.slice(1, path.endsWith('/') ? -1 : undefined).split('/');
  if (path !== '/' && components.some((component) => component === '' || component === '.' || component === '..')) {
    return "expected a normalised path (no empty, '.' or '..' component)";
  }
  return undefined;
}
