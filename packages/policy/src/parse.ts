/**
 * Policy documents from YAML text: every document of a multi-document
 * stream is parsed, checked against its kind's schema (schema.ts) and then
 * against what the enforcer can take (semantic.ts). Each problem is an
 * issue with the line and column of the value (or key) it is about, and a
 * bad document never hides a good one, nor another bad one's issues.
 */
import { ValidationError, type ValidationIssue } from '@bulwark/errors';
import { isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Node } from 'yaml';
import type * as z from 'zod';
import { checkSemantics } from './semantic.js';
import { POLICY_KINDS, policyDocumentSchemas, type PolicyKind, type PolicySpec } from './schema.js';

export interface Position {
  readonly line: number;
  readonly column: number;
}

/** One policy, checked, with where it came from. Plain data. */
export interface Policy {
  readonly kind: PolicyKind;
  readonly name: string;
  /** metadata.namespace; KubeArmorPolicy only (the others are cluster-scoped); absent: the policy selects in every namespace. */
  readonly namespace: string | undefined;
  /** The file (or other source name) and the document's index in it, from 0. */
  readonly source: string;
  readonly document: number;
  /** Where the document starts. */
  readonly position: Position;
  /** The checked spec (KubeArmorNetworkPolicy: kept as written, not enforced). */
  readonly spec: PolicySpec;
  /** Position of every value, by its dotted path in the document (`spec.file.matchPaths.0.path`). */
  readonly positions: ReadonlyMap<string, Position>;
  /** Position of every mapping key, by the dotted path of its member. */
  readonly keys: ReadonlyMap<string, Position>;
}

export interface ParseResult {
  readonly policies: Policy[];
  /** One ValidationError per bad document (or one for the whole text when it is not YAML at all). */
  readonly errors: ValidationError[];
}

export interface ParseOptions {
  /** Refuse text longer than this many bytes (default 1 MiB: YAML parses at about 1 µs a byte, so this bounds a file's cost). */
  readonly maxBytes?: number;
  /** Refuse a stream of more documents (default 10,000). */
  readonly maxDocuments?: number;
  /** Aliases a document may expand (default 100): a YAML bomb is refused. */
  readonly maxAliases?: number;
}

export const DEFAULT_MAX_BYTES = 1024 * 1024;
const DEFAULT_MAX_DOCUMENTS = 10_000;
const DEFAULT_MAX_ALIASES = 100;

/**
 * Parses every policy document in `text` (`source` names it in errors,
 * a file path usually). Never throws for bad input: problems come back in
 * `errors`, each a ValidationError whose issues have `line` and `column`.
 */
export function parsePolicies(text: string, source: string, options: ParseOptions = {}): ParseResult {
  const errors: ValidationError[] = [];
  const policies: Policy[] = [];
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    errors.push(new ValidationError(source, [{ path: '', message: `expected at most ${maxBytes} bytes of YAML, got ${bytes}`, line: 1, column: 1 }]));
    return { policies, errors };
  }
  const at = positionFinder(text);
  let documents;
  try {
    documents = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: false, strict: true, stringKeys: true });
  } catch (error) {
    errors.push(new ValidationError(source, [{ path: '', message: `not YAML: ${messageOf(error)}`, line: 1, column: 1 }]));
    return { policies, errors };
  }
  if ('empty' in documents) {
    // A stream without documents (only comments, or nothing): its errors, if any, are the stream's.
    for (const error of documents.errors) errors.push(new ValidationError(source, [{ path: '', message: tidyYamlMessage(error.message), ...at(error.pos[0]) }]));
    return { policies, errors };
  }
  const maxDocuments = options.maxDocuments ?? DEFAULT_MAX_DOCUMENTS;
  if (documents.length > maxDocuments) {
    errors.push(new ValidationError(source, [{ path: '', message: `expected at most ${maxDocuments} documents, got ${documents.length}`, line: 1, column: 1 }]));
    return { policies, errors };
  }
  documents.forEach((document, index) => {
    const name = documents.length > 1 ? `${source} (document ${index + 1})` : source;
    const start = at(document.range[0]);
    if (document.errors.length > 0) {
      errors.push(new ValidationError(name, collapseRepeats(document.errors.map((error) => ({ path: '', message: tidyYamlMessage(error.message), ...at(error.pos[0]) })))));
      return;
    }
    if (document.contents === null || (isScalar(document.contents) && document.contents.value === null)) return; // an empty document
    const positions = new Map<string, Position>();
    const keyPositions = new Map<string, Position>();
    collectPositions(document.contents, [], positions, keyPositions, at);
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: options.maxAliases ?? DEFAULT_MAX_ALIASES });
    } catch (error) {
      errors.push(new ValidationError(name, [{ path: '', message: `refused: ${messageOf(error)}`, ...start }]));
      return;
    }
    const result = checkDocument(value, name, positions, keyPositions, start);
    if (result instanceof ValidationError) errors.push(result);
    else policies.push({ ...result, source, document: index, position: start, positions, keys: keyPositions });
  });
  return { policies, errors };
}

/**
 * Offsets to lines and columns, from the text's own line starts ('\n' ends
 * a line). Not yaml's LineCounter: its parser misses the newlines inside
 * tokens it skips while recovering from an error, and every position after
 * one is then a line early, its column past the end of that line.
 */
function positionFinder(text: string): (offset: number) => Position {
  const starts = [0];
  for (let offset = text.indexOf('\n'); offset !== -1; offset = text.indexOf('\n', offset + 1)) starts.push(offset + 1);
  return (offset) => {
    const clamped = Math.min(Math.max(offset, 0), text.length);
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (starts[middle]! <= clamped) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: clamped - starts[low]! + 1 };
  };
}

function checkDocument(
  value: unknown,
  source: string,
  positions: Map<string, Position>,
  keyPositions: Map<string, Position>,
  start: Position,
): ValidationError | Pick<Policy, 'kind' | 'name' | 'namespace' | 'spec'> {
  const locate = (path: readonly PropertyKey[], key?: string): Position => {
    const dotted = path.map(String).join('.');
    if (key !== undefined) {
      const found = keyPositions.get(dotted === '' ? key : `${dotted}.${key}`);
      if (found !== undefined) return found;
    }
    for (let length = path.length; length >= 0; length--) {
      const found = positions.get(path.slice(0, length).map(String).join('.'));
      if (found !== undefined) return found;
    }
    return start;
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return new ValidationError(source, [{ path: '', message: 'expected a mapping (a policy document with apiVersion, kind, metadata and spec)', ...start }]);
  }
  const kind = (value as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !(POLICY_KINDS as readonly string[]).includes(kind)) {
    const message = kind === undefined ? `missing required field kind (expected ${POLICY_KINDS.join(', ')})` : `expected one of ${POLICY_KINDS.join(', ')}, got ${JSON.stringify(kind)}`;
    return new ValidationError(source, [{ path: 'kind', message, ...locate(['kind']) }]);
  }
  const schema = policyDocumentSchemas[kind as PolicyKind]() as z.ZodType;
  const prototypeKeys: string[][] = [];
  const parsed = schema.safeParse(dropNulls(value, [], prototypeKeys));
  // No field and no Kubernetes label is named __proto__; the schema never sees one (see dropNulls).
  const refused: ValidationIssue[] = prototypeKeys.map((path) => ({
    path: path.join('.'),
    message: 'unknown field (no policy field or label is named __proto__)',
    ...locate(path.slice(0, -1), '__proto__'),
  }));
  if (!parsed.success) return new ValidationError(source, [...refused, ...issuesFromZod(parsed.error, locate)], { cause: parsed.error });
  if (refused.length > 0) return new ValidationError(source, refused);
  const document = parsed.data as { kind: PolicyKind; metadata: { name: string; namespace?: string }; spec: PolicySpec };
  const semantic = checkSemantics(document.kind, document.spec);
  if (semantic.length > 0) {
    return new ValidationError(
      source,
      semantic.map((issue) => ({ path: `spec.${issue.path.join('.')}`, message: issue.message, ...locate(['spec', ...issue.path]) })),
    );
  }
  return {
    kind: document.kind,
    name: document.metadata.name,
    namespace: document.kind === 'KubeArmorPolicy' ? document.metadata.namespace : undefined,
    spec: document.spec,
  };
}

/** zod's issues as ours: one per unknown key, messages in house style, each placed. */
function issuesFromZod(error: z.ZodError, locate: (path: readonly PropertyKey[], key?: string) => Position): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const suggestion = suggestField(key);
        issues.push({
          path: path === '' ? key : `${path}.${key}`,
          message: `unknown field${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`,
          ...locate(issue.path, key),
        });
      }
      continue;
    }
    issues.push({ path, message: tidyZodMessage(issue), ...locate(issue.path) });
  }
  return issues;
}

function tidyZodMessage(issue: z.core.$ZodIssue): string {
  // Messages set in schema.ts are kept; zod's own ("Invalid input: ...") are put in house style.
  if (!issue.message.startsWith('Invalid input')) return issue.message;
  const detail = issue.message.replace(/^Invalid input: /u, '');
  const missing = /^expected (.+), received undefined$/u.exec(detail);
  if (missing !== null) return `missing required field (expected ${missing[1] ?? 'a value'})`;
  if (issue.code === 'invalid_value' && issue.values.length === 1) return `expected ${JSON.stringify(issue.values[0])}`;
  return detail.charAt(0).toLowerCase() + detail.slice(1);
}

const FIELD_NAMES = [
  'apiVersion', 'kind', 'metadata', 'spec', 'name', 'namespace', 'selector', 'nodeSelector', 'matchLabels', 'matchExpressions', 'key',
  'operator', 'values', 'process', 'file', 'network', 'capabilities', 'syscalls', 'apparmor', 'presets', 'device', 'matchPaths',
  'matchDirectories', 'matchPatterns', 'matchProtocols', 'matchCapabilities', 'matchDNSQueries', 'matchSyscalls', 'matchDevice',
  'path', 'dir', 'pattern', 'execname', 'recursive', 'readOnly', 'ownerOnly', 'fromSource', 'protocol', 'capability', 'domain',
  'syscall', 'allowedArgs', 'severity', 'tags', 'message', 'action', 'pts', 'class', 'subClass', 'level',
];

/** The known field nearest to a misspelt one (edit distance at most 2, or a case difference). */
function suggestField(key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const field of FIELD_NAMES) {
    const distance = field.toLowerCase() === key.toLowerCase() ? 0 : editDistance(field, key, bestDistance);
    if (distance < bestDistance) {
      best = field;
      bestDistance = distance;
    }
  }
  return best === key ? undefined : best;
}

function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** Records where each value (and each mapping key) starts, by dotted path. */
function collectPositions(
  node: Node | null | undefined,
  path: readonly string[],
  positions: Map<string, Position>,
  keyPositions: Map<string, Position>,
  at: (offset: number) => Position,
): void {
  if (node === null || node === undefined) return;
  const dotted = path.join('.');
  if (node.range !== undefined && node.range !== null) positions.set(dotted, at(node.range[0]));
  if (isAlias(node)) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const keyNode = pair.key as Node | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
      if (key === undefined) continue;
      const child = [...path, key];
      if (keyNode?.range) keyPositions.set(child.join('.'), at(keyNode.range[0]));
      if (pair.value === null && keyNode?.range) positions.set(child.join('.'), at(keyNode.range[0]));
      collectPositions(pair.value as Node | null, child, positions, keyPositions, at);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => collectPositions(item as Node | null, [...path, String(index)], positions, keyPositions, at));
  }
}

/**
 * Mapping members whose value is null (`fromSource:` with nothing after it)
 * are taken as absent, as the Kubernetes API server prunes them before it
 * validates; a null list item stays, and is refused.
 *
 * A `__proto__` member is left out and its path put in `prototypeKeys`:
 * assigned to the copy, it would set the copy's prototype, and what it
 * holds would be read as written one level up (`spec: {__proto__: {process:
 * ...}}` compiled as spec.process, `__proto__: {action: Allow}` as the
 * rule's action); zod's records would drop it without a word (a label of a
 * selector lost, the policy selecting more).
 */
function dropNulls(value: unknown, path: readonly string[], prototypeKeys: string[][]): unknown {
  if (Array.isArray(value)) return value.map((item, index) => dropNulls(item, [...path, String(index)], prototypeKeys));
  if (typeof value !== 'object' || value === null) return value;
  const result: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    if (key === '__proto__') prototypeKeys.push([...path, key]);
    else if (member !== null) result[key] = dropNulls(member, [...path, key], prototypeKeys);
  }
  return result;
}

/** A message repeated more than ten times (a deep document's stack overflow, once per level) is one issue, with the count. */
function collapseRepeats(issues: ValidationIssue[]): ValidationIssue[] {
  const counts = new Map<string, number>();
  for (const issue of issues) counts.set(issue.message, (counts.get(issue.message) ?? 0) + 1);
  const kept: ValidationIssue[] = [];
  const folded = new Set<string>();
  for (const issue of issues) {
    const count = counts.get(issue.message)!;
    if (count <= 10) kept.push(issue);
    else if (!folded.has(issue.message)) {
      folded.add(issue.message);
      kept.push({ ...issue, message: `${issue.message} (and ${count - 1} more like it)` });
    }
  }
  return kept;
}

function tidyYamlMessage(message: string): string {
  const first = message.split('\n')[0] ?? message;
  const text = first.replace(/ at line \d+, column \d+:?$/u, '');
  return `yaml: ${text.charAt(0).toLowerCase()}${text.slice(1)}`;
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.charAt(0).toLowerCase() + text.slice(1);
}
