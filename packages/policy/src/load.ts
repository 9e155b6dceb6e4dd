/**
 * Policy files and directories from disk: every `.yaml`/`.yml` file of a
 * directory (not below it), in name order; each file's errors its own. The
 * only module here that touches the filesystem.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { toSystemError, ValidationError } from '@bulwark/errors';
import { DEFAULT_MAX_BYTES, parsePolicies, type ParseOptions, type Policy } from './parse.js';

export interface LoadResult {
  readonly policies: Policy[];
  /** Bad files and documents (ValidationError, with positions) and unreadable ones (ValidationError naming the errno). */
  readonly errors: ValidationError[];
  /** The files read, in order. */
  readonly files: string[];
}

const POLICY_EXTENSIONS = new Set(['.yaml', '.yml']);

/** Loads policies from files and directories. Never throws for a bad or unreadable file: it is one of `errors`. */
export async function loadPolicies(paths: readonly string[], options: ParseOptions = {}): Promise<LoadResult> {
  const files: string[] = [];
  const errors: ValidationError[] = [];
  for (const path of paths) {
    try {
      const info = await stat(path);
      if (info.isDirectory()) {
        const names = (await readdir(path)).filter((name) => POLICY_EXTENSIONS.has(extname(name).toLowerCase())).sort();
        for (const name of names) files.push(join(path, name));
      } else files.push(path);
    } catch (error) {
      errors.push(unreadable(path, error));
    }
  }
  const policies: Policy[] = [];
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  for (const file of files) {
    let text: string;
    try {
      const info = await stat(file);
      if (!info.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
      if (info.size > maxBytes) {
        errors.push(new ValidationError(file, [{ path: '', message: `expected at most ${maxBytes} bytes of YAML, got ${info.size}`, line: 1, column: 1 }]));
        continue;
      }
      text = await readFile(file, 'utf8');
    } catch (error) {
      errors.push(unreadable(file, error));
      continue;
    }
    const result = parsePolicies(text, file, options);
    policies.push(...result.policies);
    errors.push(...result.errors);
  }
  errors.push(...findDuplicates(policies));
  return { policies: dropDuplicates(policies), errors, files };
}

function unreadable(path: string, error: unknown): ValidationError {
  const system = toSystemError('read policy', error, path);
  const message = system instanceof Error ? system.message : String(system);
  return new ValidationError(path, [{ path: '', message }]);
}

const identity = (policy: Policy) => `${policy.kind}\u0000${policy.namespace ?? ''}\u0000${policy.name}`;

/**
 * A policy defined twice (same kind, namespace and name) is an error at the
 * second definition; the first is kept, as if the second had never been
 * applied. Policies are taken in load order.
 */
export function findDuplicates(policies: readonly Policy[]): ValidationError[] {
  const first = new Map<string, Policy>();
  const errors: ValidationError[] = [];
  for (const policy of policies) {
    const key = identity(policy);
    const earlier = first.get(key);
    if (earlier === undefined) {
      first.set(key, policy);
      continue;
    }
    errors.push(
      new ValidationError(policy.source, [
        {
          path: 'metadata.name',
          message: `${policy.kind} ${policy.namespace === undefined ? '' : `${policy.namespace}/`}${policy.name} is already defined at ${earlier.source}:${earlier.position.line}:${earlier.position.column}`,
          ...(policy.positions.get('metadata.name') ?? policy.position),
        },
      ]),
    );
  }
  return errors;
}

/** The policies without their later duplicates (see findDuplicates). */
export function dropDuplicates(policies: readonly Policy[]): Policy[] {
  const seen = new Set<string>();
  return policies.filter((policy) => {
    const key = identity(policy);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
