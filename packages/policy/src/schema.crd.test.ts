/**
 * The zod schemas of schema.ts held against KubeArmor's four CRDs
 * (../shared/corpus/kubearmor-crds): every enum, pattern, limit, type and
 * required field the CRD declares is enforced, and the zod schemas know no
 * field or constraint the CRD lacks.
 *
 * How: each CRD's openAPIV3Schema is walked, property by property at every
 * level. A minimal valid document is built from the CRD itself (each
 * required field filled with a value the CRD admits); each probe places one
 * value at one field of it and asks `policyDocumentSchemas[kind]()` whether
 * it accepts. What the CRD would say is computed from the CRD: enum members
 * and a non-member; strings from a fixed list of candidates (plus variants
 * of the words a pattern lists) tried against the CRD pattern with
 * JavaScript's RegExp (OpenAPI patterns are ECMA-262); maxLength (counted
 * in code points, as the API server does), maxItems, minimum and maximum
 * (and format int32) at and one beyond each bound; each required field
 * omitted; a wrong type for every field. Then the zod side is walked (object
 * `.shape`, array element, record value, through optional, default and
 * prefault wrappers): every property and every check zod has must be one the
 * CRD declares. The walk fails on a CRD keyword it does not understand, so a
 * new kind of constraint cannot pass unnoticed.
 *
 * Expected differences, and only these:
 * - Unknown fields are refused by zod (strict objects), on purpose: kubectl's
 *   strict field validation (its default) refuses them too, where the CRD
 *   alone would have the API server prune them. Each object is probed with
 *   an unknown field and must refuse it, for that reason.
 * - The relaxations CRD_RELAXATIONS lists (action in any case; capability
 *   and protocol in any case and as comma-separated lists). For those fields
 *   the CRD's own values (enum members, the names a pattern lists) must all
 *   be accepted, every value zod accepts beyond the CRD must be explained by
 *   the entry's words ('any case', 'comma-separated list'), and every entry
 *   must be in use. The capability and protocol patterns have no leading ^,
 *   so the CRD also admits `xchown` or `bogus,net_raw`; zod refuses those,
 *   which the entries say in `refuses`.
 * - metadata, apiVersion and kind are not compared field by field: the CRD
 *   declares them as a bare object and strings, and the API server checks
 *   them by its own rules (ObjectMeta, the resource's group, version and
 *   kind). Checks beyond the schema (path byte limits of the enforcer, a
 *   selector expression's key and operator) live in semantic.ts and are not
 *   part of this comparison.
 * - KubeArmorNetworkPolicy: its spec is not enforced, so only that the kind
 *   is known and a document of it is kept as written.
 *
 * Shown to fail on drift (each change made by hand, run, and reverted):
 * - 'lease' removed from CAPABILITY_NAMES: the relaxations test failed for
 *   all three kinds with
 *     spec.capabilities.matchCapabilities.*.capability: the CRD's own value
 *     "lease" is refused (spec.capabilities.matchCapabilities.0.capability:
 *     expected a capability name such as net_raw or CAP_NET_RAW (or a
 *     comma-separated list))
 *   and a second line for the candidate "lease" (the CRD accepts it, zod
 *   refuses it, which CRD_RELAXATIONS does not explain); the exported
 *   CRD_CAPABILITY_PATTERN test failed too (its source lost '|lease').
 * - the host spec's nodeSelector made optional: two host tests failed,
 *     spec.nodeSelector: omitting nodeSelector: the CRD refuses it, zod
 *     accepts it
 *     spec.nodeSelector: zod makes it optional, the CRD requires it
 * - matchDNSQueries given `domain: z.string().min(1)` and an `extra` field:
 *     spec.network.matchDNSQueries.*.domain: zod checks min_length 1, which
 *     the CRD does not declare
 *     spec.network.matchDNSQueries.*.extra: zod knows it, the CRD does not
 *     declare it
 *     spec.network.matchDNSQueries.*.domain: any string: the CRD accepts
 *     "", zod refuses it
 *   in each kind.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type * as z from 'zod';
import { corpusPath } from './__fixtures__/corpus.js';
import { parsePolicies } from './parse.js';
import {
  API_VERSION,
  CRD_CAPABILITY_PATTERN,
  CRD_PROTOCOL_PATTERN,
  CRD_RELAXATIONS,
  DIRECTORY_PATTERN,
  EXECNAME_PATTERN,
  PATH_PATTERN,
  POLICY_KINDS,
  policyDocumentSchemas,
  SYSCALL_PATH_PATTERN,
  type PolicyKind,
  type SchemaKind,
} from './schema.js';

// ---------------------------------------------------------------- the CRDs

/** The part of OpenAPI v3 (as Kubernetes' structural schemas use it) the four CRDs use. */
interface CrdSchema {
  readonly type?: string;
  readonly description?: string;
  readonly properties?: Readonly<Record<string, CrdSchema>>;
  readonly additionalProperties?: CrdSchema;
  readonly items?: CrdSchema;
  readonly required?: readonly string[];
  readonly enum?: readonly unknown[];
  readonly pattern?: string;
  readonly format?: string;
  readonly maxLength?: number;
  readonly minLength?: number;
  readonly maximum?: number;
  readonly minimum?: number;
  readonly maxItems?: number;
  readonly minItems?: number;
}

/** Keywords the walk checks (description is documentation). Anything else in a walked schema fails the walk. */
const KEYWORDS = new Set([
  'type', 'description', 'properties', 'additionalProperties', 'items', 'required', 'enum', 'pattern', 'format',
  'maxLength', 'minLength', 'maximum', 'minimum', 'maxItems', 'minItems',
]);
const FORMATS: Readonly<Record<string, { readonly type: string; readonly minimum: number; readonly maximum: number }>> = {
  int32: { type: 'integer', minimum: -(2 ** 31), maximum: 2 ** 31 - 1 },
};

interface CustomResourceDefinition {
  readonly kind: string;
  readonly spec: {
    readonly group: string;
    readonly names: { readonly kind: string };
    readonly versions: readonly { readonly name: string; readonly schema: { readonly openAPIV3Schema: CrdSchema } }[];
  };
}

function readCrd(kind: PolicyKind): CustomResourceDefinition {
  return parseYaml(readFileSync(corpusPath('kubearmor-crds', `${kind}.yaml`), 'utf8')) as CustomResourceDefinition;
}

const rootOf = (crd: CustomResourceDefinition): CrdSchema => crd.spec.versions[0]!.schema.openAPIV3Schema;

/** Top-level properties not compared field by field (see the header). */
const NOT_COMPARED: Readonly<Record<string, string>> = {
  apiVersion: 'pinned to API_VERSION, checked against the CRD group and version',
  kind: 'pinned to the kind, checked against the CRD names',
  metadata: 'ObjectMeta, checked by the API server by its own rules',
};

// ---------------------------------------------------------------- paths and documents

/** A field: property names, `*` for an array's items, MAP_KEY for a map's values. */
type Path = readonly string[];
const ITEM = '*';
const MAP_KEY = 'crd-check';
const UNKNOWN_FIELD = 'crdCheckUnknownField';
const OMIT = Symbol('omit');
const show = (path: Path): string => (path.length === 0 ? '(document)' : path.join('.'));

function childOf(node: CrdSchema, segment: string): CrdSchema | undefined {
  if (segment === ITEM) return node.items;
  return node.properties?.[segment] ?? node.additionalProperties;
}

/** Code points, as the API server counts maxLength (JSON Schema's length). */
const lengthOf = (value: string): number => Array.from(value).length;

function crdAdmitsString(node: CrdSchema, value: string, flags = 'u'): boolean {
  if (node.enum !== undefined && !node.enum.includes(value)) return false;
  if (node.pattern !== undefined && !new RegExp(node.pattern, flags).test(value)) return false;
  if (node.maxLength !== undefined && lengthOf(value) > node.maxLength) return false;
  if (node.minLength !== undefined && lengthOf(value) < node.minLength) return false;
  return true;
}

/** Strings tried against every string field; a pattern's or enum's words add their variants. The first the CRD admits is a field's value in the minimal document. */
const CANDIDATES = [
  'a', 'x', '', ' ', 'sh', 'bash', '1', '10', '10M', '10KB', '10Q', 'M', '-', '.', '..', './a', '../a', '\\a', 'a,b',
  '/', '//', '///', '/a', '//a', '/a/', '/a//', '//a/', '/a/b', '/a/b/', '/bin/sh', '/usr/bin/', '/etc/*', '/a b', ' /a', '/a ',
  '/\n', '/a\n', '/\n/', '/a\nb/', '\n/a', 'a/', 'a/b', 'a/b/', 'a/b/c', '/é', '/😀', '/a😀', 'é', '😀',
];

function wordsOf(node: CrdSchema): string[] {
  const words: string[] = [];
  for (const match of (node.pattern ?? '').matchAll(/\(([\w]+(?:\|[\w]+)+)\)/gu)) words.push(...match[1]!.split('|'));
  for (const member of node.enum ?? []) if (typeof member === 'string') words.push(member);
  return words;
}

const capitalise = (word: string): string => word.charAt(0).toUpperCase() + word.slice(1).toLowerCase();

function candidatesFor(node: CrdSchema): string[] {
  const words = wordsOf(node);
  // Every word alone; the variants for a few of them (a syscall list has 335 words).
  const sampled = new Set([0, 1, Math.floor(words.length / 2), words.length - 1]);
  const variants = words.flatMap((word, index) => {
    if (!sampled.has(index)) return [word];
    const other = words[(index + 1) % words.length]!;
    return [
      word, word.toLowerCase(), word.toUpperCase(), capitalise(word), `x${word}`, `${word}x`, ` ${word}`, `${word} `, `${word}\n`, `\n${word}`,
      `cap_${word}`, `CAP_${word.toUpperCase()}`, `cap_cap_${word}`, `${word},${other}`, `${word}, ${other}`, `${word} ,${other}`,
      `${word},${other.toUpperCase()}`, `${word},`, `,${word}`, `${word},,${other}`, `x,${word}`, `${word},x`, `${word};${other}`,
    ];
  });
  return [...new Set([...CANDIDATES, ...variants])];
}

/** A value the CRD admits at this node, with every required field filled. */
function validValue(node: CrdSchema, path: Path): unknown {
  switch (node.type) {
    case 'object': {
      const value: Record<string, unknown> = {};
      for (const name of node.required ?? []) value[name] = validValue(node.properties?.[name] ?? {}, [...path, name]);
      return value;
    }
    case 'array':
      return [];
    case 'boolean':
      return true;
    case 'integer':
      return node.minimum ?? (node.maximum !== undefined ? Math.min(node.maximum, 1) : 1);
    case 'string': {
      const found = candidatesFor(node).find((candidate) => crdAdmitsString(node, candidate));
      if (found === undefined) throw new Error(`${show(path)}: no candidate string matches the CRD (${node.pattern ?? 'no pattern'}): add one`);
      return found;
    }
    default:
      throw new Error(`${show(path)}: no value for type ${String(node.type)}`);
  }
}

/** The minimal document, with `leaf` placed at `path` (or the last property of `path` left out, for OMIT). */
function place(node: CrdSchema, path: Path, at: Path, leaf: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return leaf;
  const child = head === UNKNOWN_FIELD ? {} : childOf(node, head);
  if (child === undefined) throw new Error(`${show([...at, head])}: not in the CRD`);
  if (head === ITEM) return [place(child, rest, [...at, head], leaf)];
  const object = validValue(node, at) as Record<string, unknown>;
  if (rest.length === 0 && leaf === OMIT) return Object.fromEntries(Object.entries(object).filter(([name]) => name !== head));
  return { ...object, [head]: place(child, rest, [...at, head], leaf) };
}

// ---------------------------------------------------------------- the zod side

interface ZodDefinition {
  readonly type: string;
  readonly innerType?: z.core.$ZodType;
  readonly in?: z.core.$ZodType;
  readonly shape?: Readonly<Record<string, z.core.$ZodType>>;
  readonly catchall?: z.core.$ZodType;
  readonly element?: z.core.$ZodType;
  readonly valueType?: z.core.$ZodType;
  readonly entries?: Readonly<Record<string, string | number>>;
  readonly format?: string;
  readonly checks?: readonly z.core.$ZodCheck[];
}
interface ZodCheckDefinition {
  readonly check: string;
  readonly value?: unknown;
  readonly inclusive?: boolean;
  readonly maximum?: number;
  readonly minimum?: number;
  readonly format?: string;
}
const definitionOf = (schema: z.core.$ZodType): ZodDefinition => schema._zod.def;
const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly']);

/** The schema inside optional, default and prefault wrappers, and whether the field may be left out. */
function unwrap(schema: z.core.$ZodType): { schema: z.core.$ZodType; optional: boolean } {
  // optin is 'optional' for optional, 'defaulted' for default and prefault: either way the field may be left out.
  const optional = schema._zod.optin !== undefined;
  let inner = schema;
  for (;;) {
    const definition = definitionOf(inner);
    if (WRAPPERS.has(definition.type) && definition.innerType !== undefined) inner = definition.innerType;
    else if (definition.type === 'pipe' && definition.in !== undefined) inner = definition.in;
    else return { schema: inner, optional };
  }
}

function zodChild(schema: z.core.$ZodType, segment: string): z.core.$ZodType | undefined {
  const definition = definitionOf(unwrap(schema).schema);
  if (segment === ITEM) return definition.type === 'array' ? definition.element : undefined;
  if (definition.type === 'record') return definition.valueType;
  return definition.type === 'object' ? definition.shape?.[segment] : undefined;
}

function zodAt(schema: z.core.$ZodType, path: Path): z.core.$ZodType | undefined {
  let at: z.core.$ZodType | undefined = schema;
  for (const segment of path) {
    if (at === undefined) return undefined;
    at = zodChild(at, segment);
  }
  return at;
}

// ---------------------------------------------------------------- the comparison

const CATEGORIES = ['fields', 'required', 'enums', 'patterns', 'limits', 'types', 'unknown fields', 'relaxations', 'constraints', 'keywords'] as const;
type Category = (typeof CATEGORIES)[number];

type Relaxation = (typeof CRD_RELAXATIONS)[number];
const relaxationOf = (path: Path): Relaxation | undefined =>
  CRD_RELAXATIONS.find((entry) => {
    const dotted = path.join('.');
    return dotted === entry.field || dotted.endsWith(`.${entry.field}`);
  });

interface Comparison {
  /** What disagrees with the CRD, by category: one line each. */
  readonly findings: Record<Category, string[]>;
  /** How many probes each category made (a walk that checks nothing must not pass). */
  readonly probes: Record<Category, number>;
  /** Relaxation entries (field, and 'accepts' or 'refuses') a disagreement was explained by. */
  readonly used: Set<string>;
}

function compareWithCrd(kind: SchemaKind, root: CrdSchema): Comparison {
  const schema = policyDocumentSchemas[kind]() as unknown as z.ZodType;
  const findings = Object.fromEntries(CATEGORIES.map((category) => [category, [] as string[]])) as Record<Category, string[]>;
  const probes = Object.fromEntries(CATEGORIES.map((category) => [category, 0])) as Record<Category, number>;
  const used = new Set<string>();
  const find = (category: Category, path: Path, text: string) => findings[category].push(`${show(path)}: ${text}`);

  const documentWith = (path: Path, leaf: unknown): unknown => ({
    apiVersion: API_VERSION,
    kind,
    metadata: { name: 'crd-check' },
    ...(place(root, path, [], leaf) as Record<string, unknown>),
  });
  const parse = (document: unknown) => {
    const result = schema.safeParse(document);
    if (result.success) return { accepted: true, reason: '', issues: [] as z.core.$ZodIssue[] };
    const issue = result.error.issues[0]!;
    const where = issue.path.map(String).join('.');
    const keys = issue.code === 'unrecognized_keys' ? ` ${issue.keys.join(', ')}` : '';
    return { accepted: false, reason: `${where === '' ? '' : `${where}: `}${issue.message}${keys}`, issues: result.error.issues };
  };
  const verdict = (accepted: boolean) => (accepted ? 'accepts' : 'refuses');
  /** One probe: `value` at `path`, which the CRD admits or not. */
  const probe = (category: Category, path: Path, what: string, value: unknown, crd: boolean): boolean => {
    probes[category]++;
    const result = parse(documentWith(path, value));
    if (result.accepted !== crd) {
      const shown = value === OMIT ? '' : ` ${JSON.stringify(value)}`;
      find(category, path, `${what}: the CRD ${verdict(crd)}${shown === '' ? ' it' : shown}, zod ${verdict(result.accepted)} it${result.accepted ? '' : ` (${result.reason})`}`);
    }
    return result.accepted;
  };

  function walk(node: CrdSchema, path: Path): void {
    for (const keyword of Object.keys(node)) {
      probes.keywords++;
      if (!KEYWORDS.has(keyword)) find('keywords', path, `the CRD uses ${keyword}, which this test does not check: teach it`);
    }
    if (node.format !== undefined && FORMATS[node.format]?.type !== node.type) find('keywords', path, `the CRD uses format ${node.format} on ${String(node.type)}, which this test does not check`);
    const isRoot = path.length === 0;
    switch (node.type) {
      case 'object':
        walkObject(node, path, isRoot);
        return;
      case 'array':
        probe('types', path, 'an empty list', [], true);
        for (const wrong of ['x', {}, 1]) probe('types', path, 'a non-list', wrong, false);
        walkLimits(path, 'items', node.minItems, node.maxItems, (count) => Array.from({ length: count }, () => validValue(node.items ?? {}, [...path, ITEM])));
        if (node.items === undefined) find('keywords', path, 'an array without items');
        else walk(node.items, [...path, ITEM]);
        return;
      case 'string':
        walkString(node, path);
        return;
      case 'integer':
        walkInteger(node, path);
        return;
      case 'boolean':
        for (const value of [true, false]) probe('types', path, 'a boolean', value, true);
        for (const wrong of ['true', 1]) probe('types', path, 'a non-boolean', wrong, false);
        return;
      default:
        find('keywords', path, `type ${String(node.type)}, which this test does not check`);
    }
  }

  function walkObject(node: CrdSchema, path: Path, isRoot: boolean): void {
    const properties = node.properties ?? {};
    const zodObject = zodAt(schema, path);
    for (const name of node.required ?? []) if (!(name in properties)) find('keywords', path, `requires ${name}, which it does not declare`);
    // The minimal object (only required fields) is accepted: zod requires nothing more.
    probe('required', path, 'only the required fields', validValue(node, path), true);
    for (const name of node.required ?? []) probe('required', [...path, name], `omitting ${name}`, OMIT, false);
    for (const name of Object.keys(properties)) {
      if ((node.required ?? []).includes(name) || (isRoot && name in NOT_COMPARED)) continue;
      probe('required', [...path, name], `omitting ${name} (optional in the CRD)`, OMIT, true);
    }
    if (!isRoot) for (const wrong of ['x', [], 1]) probe('types', path, 'a non-object', wrong, false);
    if (node.additionalProperties === undefined) {
      // Unknown fields: refused on purpose (strict field validation), and for that reason.
      probes['unknown fields']++;
      const result = parse(documentWith([...path, UNKNOWN_FIELD], 'x'));
      const why = result.issues.find((issue) => issue.code === 'unrecognized_keys' && issue.keys.includes(UNKNOWN_FIELD));
      if (result.accepted || why === undefined || result.issues.length !== 1) {
        find('unknown fields', path, `an unknown field: expected zod to refuse it as unknown (strict field validation), got ${result.accepted ? 'accepted' : result.reason}`);
      }
    } else {
      probe('types', path, 'an empty map', {}, true);
      walk(node.additionalProperties, [...path, MAP_KEY]);
    }
    for (const [name, child] of Object.entries(properties)) {
      if (isRoot && name in NOT_COMPARED) continue;
      probes.fields++;
      if (zodObject === undefined || zodChild(zodObject, name) === undefined) {
        find('fields', [...path, name], `the CRD declares it (${String(child.type)}), zod does not know it`);
        continue;
      }
      walk(child, [...path, name]);
    }
  }

  function walkLimits(path: Path, unit: string, minimum: number | undefined, maximum: number | undefined, make: (size: number) => unknown): void {
    if (minimum !== undefined) {
      probe('limits', path, `${minimum} ${unit} (the CRD's minimum)`, make(minimum), true);
      if (minimum > 0) probe('limits', path, `${minimum - 1} ${unit} (below the CRD's minimum)`, make(minimum - 1), false);
    }
    if (maximum !== undefined) {
      probe('limits', path, `${maximum} ${unit} (the CRD's maximum)`, make(maximum), true);
      probe('limits', path, `${maximum + 1} ${unit} (above the CRD's maximum)`, make(maximum + 1), false);
    }
  }

  function walkString(node: CrdSchema, path: Path): void {
    for (const wrong of [1, true, ['x'], { x: 'x' }]) probe('types', path, 'a non-string', wrong, false);
    const relaxation = node.enum !== undefined || node.pattern !== undefined ? relaxationOf(path) : undefined;
    if (relaxation !== undefined) {
      walkRelaxed(node, path, relaxation);
    } else {
      const category: Category = node.enum !== undefined ? 'enums' : node.pattern !== undefined ? 'patterns' : 'types';
      const candidates = candidatesFor(node);
      for (const member of node.enum ?? []) probe('enums', path, 'an enum member', member, true);
      let admitted = 0;
      for (const candidate of candidates) {
        const crd = crdAdmitsString(node, candidate);
        if (crd) admitted++;
        probe(category, path, node.pattern !== undefined ? `pattern ${node.pattern}` : node.enum !== undefined ? 'enum' : 'any string', candidate, crd);
      }
      if (category !== 'types' && (admitted === 0 || admitted === candidates.length)) find(category, path, `the candidates do not exercise it (${admitted} of ${candidates.length} admitted): add some`);
    }
    // maxLength and minLength at and beyond the bound, with a value the pattern admits, in ASCII and in astral code points.
    if (node.maxLength !== undefined || node.minLength !== undefined) {
      const seed = validValue(node, path) as string;
      for (const fill of ['a', '😀']) {
        const make = (size: number): string => stretch(node, seed, size, fill, path);
        walkLimits(path, `code points of ${JSON.stringify(fill)}`, node.minLength, node.maxLength, make);
      }
    }
  }

  /** `seed` grown or cut to `size` code points with `fill`, still admitted by the pattern. */
  function stretch(node: CrdSchema, seed: string, size: number, fill: string, path: Path): string {
    const points = Array.from(seed);
    const tries = [
      (extra: string) => points[0]! + extra + points.slice(1).join(''),
      (extra: string) => seed + extra,
      (extra: string) => extra + seed,
    ];
    for (const attempt of tries) {
      const value = attempt(fill.repeat(Math.max(0, size - points.length)));
      if (lengthOf(value) === size && (node.pattern === undefined || new RegExp(node.pattern, 'u').test(value))) return value;
    }
    throw new Error(`${show(path)}: cannot build ${size} code points matching ${node.pattern ?? 'no pattern'}`);
  }

  function walkRelaxed(node: CrdSchema, path: Path, relaxation: Relaxation): void {
    const words = wordsOf(node);
    if (words.length === 0) find('relaxations', path, `relaxed by CRD_RELAXATIONS (${relaxation.field}), but the CRD lists no values to check`);
    // The CRD's own values, all accepted.
    for (const word of words) {
      probes.relaxations++;
      const result = parse(documentWith(path, word));
      if (!result.accepted) find('relaxations', path, `the CRD's own value ${JSON.stringify(word)} is refused (${result.reason})`);
    }
    const anyCase = relaxation.accepts.includes('any case');
    const lists = relaxation.accepts.includes('comma-separated list');
    const admitsAnyCase = (value: string) =>
      node.enum !== undefined ? node.enum.some((member) => typeof member === 'string' && member.toLowerCase() === value.toLowerCase()) : crdAdmitsString(node, value, 'iu');
    const admitsRelaxed = (value: string) => (anyCase ? admitsAnyCase(value) : crdAdmitsString(node, value));
    for (const candidate of candidatesFor(node)) {
      probes.relaxations++;
      const crd = crdAdmitsString(node, candidate);
      const result = parse(documentWith(path, candidate));
      if (result.accepted === crd) continue;
      if (result.accepted && anyCase && admitsAnyCase(candidate)) {
        used.add(`${relaxation.field} accepts`);
        continue;
      }
      if (result.accepted && lists && candidate.includes(',') && candidate.split(',').every((item) => admitsRelaxed(item.trim()))) {
        used.add(`${relaxation.field} accepts`);
        continue;
      }
      // Refused although the CRD admits it: only where the CRD's pattern admits it for want of a leading ^.
      if (!result.accepted && relaxation.refuses !== undefined && node.pattern !== undefined && !new RegExp(`^(?:${node.pattern})`, 'u').test(candidate)) {
        used.add(`${relaxation.field} refuses`);
        continue;
      }
      find('relaxations', path, `${JSON.stringify(candidate)}: the CRD ${verdict(crd)} it, zod ${verdict(result.accepted)} it${result.accepted ? '' : ` (${result.reason})`}, which CRD_RELAXATIONS (${relaxation.field}: ${relaxation.accepts}) does not explain`);
    }
  }

  function walkInteger(node: CrdSchema, path: Path): void {
    for (const wrong of ['1', 1.5, true]) probe('types', path, 'a non-integer', wrong, false);
    const format = node.format === undefined ? undefined : FORMATS[node.format];
    const minimum = node.minimum ?? format?.minimum;
    const maximum = node.maximum ?? format?.maximum;
    const source = node.format === undefined ? 'the CRD' : `the CRD, ${node.format}`;
    if (minimum !== undefined) {
      probe('limits', path, `the minimum (${source})`, minimum, true);
      probe('limits', path, `below the minimum (${source})`, minimum - 1, false);
    }
    if (maximum !== undefined) {
      probe('limits', path, `the maximum (${source})`, maximum, true);
      probe('limits', path, `above the maximum (${source})`, maximum + 1, false);
    }
    if (minimum === undefined) probe('limits', path, 'a large negative integer (no minimum)', -Number.MAX_SAFE_INTEGER, true);
    if (maximum === undefined) probe('limits', path, 'a large integer (no maximum)', Number.MAX_SAFE_INTEGER, true);
  }

  walk(root, []);
  compareZodWithCrd(schema, root, [], find, probes);
  return { findings, probes, used };
}

/** The reverse: every zod property and check is one the CRD declares. */
function compareZodWithCrd(
  schema: z.core.$ZodType,
  node: CrdSchema,
  path: Path,
  find: (category: Category, path: Path, text: string) => void,
  probes: Record<Category, number>,
): void {
  const { schema: inner } = unwrap(schema);
  const definition = definitionOf(inner);
  const checks = (definition.checks ?? []).map((check) => check._zod.def as unknown as ZodCheckDefinition);
  const extra = (text: string) => find('constraints', path, `zod ${text}, which the CRD does not declare`);
  const expectType = (type: string) => {
    if (node.type !== type) find('types', path, `zod has ${definition.type}, the CRD ${String(node.type)}`);
  };
  probes.constraints++;
  switch (definition.type) {
    case 'object': {
      expectType('object');
      if (checks.length > 0) extra(`refines the object (${checks.map((check) => check.check).join(', ')})`);
      if (definition.catchall !== undefined && definitionOf(definition.catchall).type !== 'never') extra('keeps unknown fields');
      for (const [name, child] of Object.entries(definition.shape ?? {})) {
        if (path.length === 0 && name in NOT_COMPARED) {
          if (node.properties?.[name] === undefined) find('fields', [name], 'zod knows it, the CRD does not declare it');
          continue;
        }
        probes.fields++;
        const crdChild = node.properties?.[name];
        if (crdChild === undefined) {
          find('fields', [...path, name], 'zod knows it, the CRD does not declare it');
          continue;
        }
        const required = (node.required ?? []).includes(name);
        if (unwrap(child).optional === required) find('constraints', [...path, name], required ? 'zod makes it optional, the CRD requires it' : 'zod requires it, the CRD does not');
        compareZodWithCrd(child, crdChild, [...path, name], find, probes);
      }
      return;
    }
    case 'record':
      expectType('object');
      if (node.additionalProperties === undefined) extra('takes any key (a map)');
      else if (definition.valueType !== undefined) compareZodWithCrd(definition.valueType, node.additionalProperties, [...path, MAP_KEY], find, probes);
      return;
    case 'array':
      expectType('array');
      for (const check of checks) {
        if (check.check === 'max_length' && check.maximum === node.maxItems) continue;
        if (check.check === 'min_length' && check.minimum === node.minItems) continue;
        extra(`limits the list (${check.check} ${String(check.maximum ?? check.minimum)})`);
      }
      if (definition.element !== undefined && node.items !== undefined) compareZodWithCrd(definition.element, node.items, [...path, ITEM], find, probes);
      return;
    case 'string': {
      expectType('string');
      // A refinement (custom check) stands for a CRD constraint no native check covers: an enum, a pattern, a length counted in code points.
      const declared = [node.enum, node.pattern, node.maxLength, node.minLength].filter((constraint) => constraint !== undefined).length;
      let covered = 0;
      let custom = 0;
      for (const check of checks) {
        if (check.check === 'max_length' && check.maximum === node.maxLength) covered++;
        else if (check.check === 'min_length' && check.minimum === node.minLength) covered++;
        else if (check.check === 'string_format' && check.format === 'regex' && node.pattern !== undefined) covered++;
        else if (check.check === 'custom') custom++;
        else extra(`checks ${check.check} ${String(check.format ?? check.maximum ?? check.minimum ?? '')}`);
      }
      if (covered + custom > declared) extra(`has ${covered + custom} checks for ${declared} constraints`);
      return;
    }
    case 'enum': {
      expectType('string');
      const members = Object.values(definition.entries ?? {});
      const crd = node.enum ?? [];
      if (members.length !== crd.length || members.some((member) => !crd.includes(member))) extra(`has the enum ${members.join(', ')} (the CRD: ${crd.join(', ') || 'none'})`);
      return;
    }
    case 'number': {
      expectType('integer');
      const format = definition.format === 'safeint' ? undefined : definition.format;
      if (format !== node.format) extra(`has the number format ${String(definition.format)} (the CRD: ${node.format ?? 'none'})`);
      for (const check of checks) {
        if (check.check === 'greater_than' && check.inclusive === true && check.value === node.minimum) continue;
        if (check.check === 'less_than' && check.inclusive === true && check.value === node.maximum) continue;
        extra(`checks ${check.check} ${String(check.value)}`);
      }
      return;
    }
    case 'boolean':
      expectType('boolean');
      return;
    default:
      extra(`has ${definition.type} (not compared: the test knows objects, records, arrays, strings, enums, integers and booleans)`);
  }
}

// ---------------------------------------------------------------- the tests

const ENFORCED: readonly SchemaKind[] = ['KubeArmorPolicy', 'KubeArmorHostPolicy', 'KubeArmorClusterPolicy'];
const comparisons = new Map(ENFORCED.map((kind) => [kind, compareWithCrd(kind, rootOf(readCrd(kind)))]));

const TESTS: readonly { readonly category: Category; readonly title: string }[] = [
  { category: 'fields', title: 'knows exactly the properties the CRD declares, at every level' },
  { category: 'required', title: 'requires exactly what the CRD requires' },
  { category: 'enums', title: 'accepts every enum member and refuses a non-member' },
  { category: 'patterns', title: 'accepts what each CRD pattern matches and refuses what it does not' },
  { category: 'limits', title: 'enforces maxLength, maxItems, minimum, maximum and int32 at and beyond each bound' },
  { category: 'types', title: 'refuses a wrong type for every field' },
  { category: 'unknown fields', title: 'refuses an unknown field in every object, as unknown (strict field validation, on purpose)' },
  { category: 'relaxations', title: 'differs from the CRD only where CRD_RELAXATIONS says, and accepts all the CRD values there' },
  { category: 'constraints', title: 'has no property, requirement or check the CRD lacks' },
  { category: 'keywords', title: 'meets only CRD keywords this test understands' },
];

describe.each(ENFORCED)('%s against its CRD', (kind) => {
  const comparison = comparisons.get(kind)!;

  it('is the CRD of that kind, in security.kubearmor.com/v1', () => {
    const crd = readCrd(kind);
    expect(crd.kind).toBe('CustomResourceDefinition');
    expect(crd.spec.names.kind).toBe(kind);
    expect(crd.spec.versions.map((version) => `${crd.spec.group}/${version.name}`)).toEqual([API_VERSION]);
    expect(Object.keys(rootOf(crd).properties ?? {}).sort()).toEqual(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
    const schema = policyDocumentSchemas[kind]();
    expect(schema.safeParse({ apiVersion: 'security.kubearmor.com/v2', kind, metadata: { name: 'a' } }).success).toBe(false);
    expect(schema.safeParse({ apiVersion: API_VERSION, kind: 'KubeArmorOther', metadata: { name: 'a' } }).success).toBe(false);
  });

  it.each(TESTS)('$title', ({ category }) => {
    expect(comparison.findings[category]).toEqual([]);
    expect(comparison.probes[category]).toBeGreaterThan(0);
  });
});

describe('CRD_RELAXATIONS', () => {
  it('lists only relaxations in use: each entry explains a difference in at least one kind', () => {
    const used = new Set(ENFORCED.flatMap((kind) => [...comparisons.get(kind)!.used]));
    const listed = CRD_RELAXATIONS.flatMap((entry) => [`${entry.field} accepts`, ...(entry.refuses === undefined ? [] : [`${entry.field} refuses`])]);
    expect(listed.filter((entry) => !used.has(entry))).toEqual([]);
    expect(CRD_RELAXATIONS.map((entry) => entry.field)).toEqual(['action', 'capability', 'protocol']);
  });
});

describe("the exported copies of the CRD's patterns", () => {
  const spec = rootOf(readCrd('KubeArmorPolicy')).properties!.spec!;
  const at = (...path: string[]): CrdSchema => path.reduce<CrdSchema>((node, segment) => childOf(node, segment)!, spec);

  it('are the CRD text where the CRD text is used', () => {
    expect(CRD_CAPABILITY_PATTERN.source).toBe(at('capabilities', 'matchCapabilities', ITEM, 'capability').pattern);
    expect(CRD_PROTOCOL_PATTERN.source).toBe(at('network', 'matchProtocols', ITEM, 'protocol').pattern);
  });

  it.each([
    ['PATH_PATTERN', PATH_PATTERN, ['file', 'matchPaths', ITEM, 'path']],
    ['DIRECTORY_PATTERN', DIRECTORY_PATTERN, ['file', 'matchDirectories', ITEM, 'dir']],
    ['SYSCALL_PATH_PATTERN', SYSCALL_PATH_PATTERN, ['syscalls', 'matchPaths', ITEM, 'path']],
    ['EXECNAME_PATTERN', EXECNAME_PATTERN, ['process', 'matchPaths', ITEM, 'execname']],
  ] as const)('%s matches what the CRD pattern matches', (_name, pattern, path) => {
    const node = at(...path);
    const disagreements = candidatesFor(node).filter((candidate) => pattern.test(candidate) !== new RegExp(node.pattern!, 'u').test(candidate));
    expect(disagreements).toEqual([]);
  });
});

describe('KubeArmorNetworkPolicy', () => {
  // Its spec is not enforced (host network rules are out of scope): the kind is known and a document is kept as written, nothing more.
  const crd = readCrd('KubeArmorNetworkPolicy');
  const root = rootOf(crd);

  /** Every property the CRD declares, filled with a value it admits. */
  function fullValue(node: CrdSchema, path: Path): unknown {
    if (node.type === 'object' && node.properties !== undefined) {
      return Object.fromEntries(Object.entries(node.properties).map(([name, child]) => [name, fullValue(child, [...path, name])]));
    }
    if (node.type === 'object' && node.additionalProperties !== undefined) return { [MAP_KEY]: fullValue(node.additionalProperties, [...path, MAP_KEY]) };
    if (node.type === 'array' && node.items !== undefined) return [fullValue(node.items, [...path, ITEM])];
    return validValue(node, path);
  }

  it('is a known kind, in security.kubearmor.com/v1', () => {
    expect(POLICY_KINDS).toContain(crd.spec.names.kind);
    expect(crd.spec.versions.map((version) => `${crd.spec.group}/${version.name}`)).toEqual([API_VERSION]);
  });

  it('is kept as written, whatever its spec holds', () => {
    // Every field the CRD declares but selector: its CEL rules refuse selector and nodeSelector together.
    const spec = fullValue(root.properties!.spec!, ['spec']) as Record<string, unknown>;
    delete spec.selector;
    const document = { apiVersion: API_VERSION, kind: 'KubeArmorNetworkPolicy', metadata: { name: 'network' }, spec };
    const parsed = policyDocumentSchemas.KubeArmorNetworkPolicy().safeParse(document);
    expect(parsed.success).toBe(true);
    expect(parsed.data?.spec).toEqual(spec);
    const { policies, errors } = parsePolicies(JSON.stringify(document), 'network.yaml');
    expect(errors).toEqual([]);
    expect(policies.map((policy) => [policy.kind, policy.spec])).toEqual([['KubeArmorNetworkPolicy', spec]]);
  });
});
