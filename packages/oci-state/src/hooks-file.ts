/**
 * One hooks.d file, as oci-hooks(5) describes them (the format CRI-O and
 * podman read from /usr/share/containers/oci/hooks.d and
 * /etc/containers/oci/hooks.d). Both schema versions are read and
 * normalised to the 1.0.0 shape:
 *
 * - 1.0.0: `{ version, hook: {path, args, env, timeout}, when, stages }`;
 *   every condition in `when` must match (`matchMode: 'all'`).
 * - 0.1.0 (or no `version`): `{ hook: path, arguments, stages|stage,
 *   cmds|cmd, annotations|annotation, hasbindmounts }`; any one condition
 *   suffices (`matchMode: 'any'`). `args` becomes `[hook, ...arguments]` and
 *   the annotation patterns become `{ ".*": patterns.join("|") }`, both as
 *   podman converts them.
 *
 * Stricter than podman in three ways, each reported as a ValidationError:
 * a `when` without any condition (podman loads it and never injects it), an
 * empty `stages`, and a pattern longer than @bulwark/re2's
 * maximumPatternLength (4096 characters), which Go would compile. Patterns
 * are RE2's, compiled with @bulwark/re2: what Go's regexp refuses is
 * refused, naming the pattern. The package README's compatibility table
 * lists every difference from containers/common, these included.
 */

import { BulwarkError, ValidationError, type ValidationIssue } from '@bulwark/errors';
import { compileRe2 } from '@bulwark/re2';
import * as z from 'zod/mini';
import { hookSchema, type Hook } from './config.js';
import { findLine, parseJsonText } from './json-lines.js';
import { lazy } from './lazy.js';
import { parseOptions, toValidationError } from './parse-document.js';
import { optional, stringArray } from './schema-primitives.js';

export interface HookConditions {
  /** Matches when true; `false` never matches (as in podman). */
  always?: boolean;
  /** Annotation key pattern -> value pattern; each pair matches when some annotation matches both. */
  annotations?: Record<string, string>;
  /** Patterns for `process.args[0]`; the condition matches when any pattern does. */
  commands?: string[];
  /** Matches when true and the container has bind mounts; `false` never matches (as in podman). */
  hasBindMounts?: boolean;
}

/** A hooks.d entry in the 1.0.0 shape, whichever version its file used. */
export interface HookDefinition {
  version: '1.0.0';
  hook: Hook;
  when: HookConditions;
  /** OCI stages (`prestart`, `createRuntime`, ...) or extension stages of the consumer. */
  stages: string[];
  /** `all` for 1.0.0 files (every condition must match), `any` for files converted from 0.1.0. */
  matchMode: 'all' | 'any';
  /** Where the definition came from: the file path, or the source given to parseHookFile. */
  source: string;
}

type PatternContext = z.core.$RefinementCtx;

/** Why compileRe2 refuses a pattern (its PatternError's detail), or undefined when the pattern compiles. */
function findPatternProblem(pattern: string): string | undefined {
  try {
    compileRe2(pattern);
    return undefined;
  } catch (error) {
    if (!BulwarkError.is(error, 'ERR_VALIDATION')) throw error;
    const { detail } = error as { detail?: unknown };
    return typeof detail === 'string' ? detail : error.message;
  }
}

/** Adds an issue for each pattern that RE2 refuses. */
function checkPattern(pattern: string, context: PatternContext, path: PropertyKey[]): void {
  const problem = findPatternProblem(pattern);
  if (problem !== undefined) {
    context.addIssue({ code: 'custom', path, input: pattern, message: `invalid pattern ${JSON.stringify(pattern)}: ${problem}` });
  }
}

const patternList = () =>
  stringArray().check(
    z.superRefine((patterns, context) => {
      patterns.forEach((pattern, index) => {
        checkPattern(pattern, context, [index]);
      });
    }),
  );

const stageList = () =>
  z
    .array(z.string().check(z.minLength(1, { error: 'expected a non-empty stage name' })))
    .check(z.minLength(1, { error: 'at least one stage is required' }));

const conditionsSchema = /* @__PURE__ */ lazy('hook conditions', () =>
  z
    .looseObject({
      always: optional(z.boolean()),
      annotations: optional(
        z.record(z.string(), z.string()).check(
          z.superRefine((annotations, context) => {
            for (const [key, value] of Object.entries(annotations)) {
              checkPattern(key, context, [key]);
              checkPattern(value, context, [key]);
            }
          }),
        ),
      ),
      commands: optional(patternList()),
      hasBindMounts: optional(z.boolean()),
    })
    .check(
      z.superRefine((when, context) => {
        if (countConditions(when) === 0) {
          context.addIssue({
            code: 'custom',
            input: when,
            message: 'at least one condition is required (always, annotations, commands or hasBindMounts)',
          });
        }
      }),
    ),
);

const currentSchema = /* @__PURE__ */ lazy('hook file 1.0.0', () =>
  z.looseObject({
    version: z.literal('1.0.0'),
    hook: hookSchema(),
    when: conditionsSchema(),
    stages: stageList(),
  }),
);

const legacySchema = /* @__PURE__ */ lazy('hook file 0.1.0', () =>
  z
    .looseObject({
      version: optional(z.literal('0.1.0')),
      hook: z.string().check(z.refine((path) => path.startsWith('/'), { error: 'hook must be an absolute path' })),
      arguments: optional(stringArray()),
      stages: optional(stageList()),
      stage: optional(stageList()),
      cmds: optional(patternList()),
      cmd: optional(patternList()),
      annotations: optional(patternList()),
      annotation: optional(patternList()),
      hasbindmounts: optional(z.boolean()),
    })
    .check(
      z.superRefine((file, context) => {
        for (const [plural, singular] of [
          ['stages', 'stage'],
          ['cmds', 'cmd'],
          ['annotations', 'annotation'],
        ] as const) {
          if (file[plural] !== undefined && file[singular] !== undefined) {
            context.addIssue({ code: 'custom', input: file, path: [singular], message: `cannot set both '${singular}' and '${plural}'` });
          }
        }
        if (file.stages === undefined && file.stage === undefined) {
          context.addIssue({ code: 'custom', input: file, path: ['stages'], message: 'missing required property: stages' });
        }
        const commands = file.cmds ?? file.cmd ?? [];
        const annotations = file.annotations ?? file.annotation ?? [];
        if (commands.length === 0 && annotations.length === 0 && file.hasbindmounts === undefined) {
          context.addIssue({
            code: 'custom',
            input: file,
            message: 'at least one condition is required (cmds, annotations or hasbindmounts)',
          });
        }
      }),
    ),
);

/** The number of conditions a `when` sets: each annotation pair counts, empty lists do not. */
export function countConditions(when: HookConditions): number {
  return (
    (when.always === undefined ? 0 : 1) +
    (when.hasBindMounts === undefined ? 0 : 1) +
    Object.keys(when.annotations ?? {}).length +
    ((when.commands?.length ?? 0) > 0 ? 1 : 0)
  );
}

/**
 * Parses one hooks.d file (1.0.0 or 0.1.0) into its 1.0.0 shape. Throws
 * ValidationError naming the file, the field, its line and, for patterns,
 * the pattern.
 */
export function parseHookFile(text: string, source = 'hook.json'): HookDefinition {
  const { value, root } = parseJsonText(text, source);
  const lineOf = (path: readonly PropertyKey[]) => findLine(root, path);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError(source, [{ path: '', message: 'expected a json object', line: root.line }]);
  }
  const version = (value as { version?: unknown }).version;

  if (version === '1.0.0') {
    const result = currentSchema().safeParse(value, parseOptions());
    if (!result.success) throw toValidationError(source, result.error, root);
    const { hook, when, stages } = result.data;
    return { version: '1.0.0', hook, when: pickConditions(when), stages, matchMode: 'all', source };
  }

  if (version === undefined || version === '0.1.0') {
    const result = legacySchema().safeParse(value, parseOptions());
    if (!result.success) throw toValidationError(source, result.error, root);
    return convertLegacy(result.data, source, lineOf);
  }

  const issue: ValidationIssue = {
    path: 'version',
    message: `unrecognized hook version ${JSON.stringify(version)} (expected "1.0.0" or "0.1.0")`,
    line: lineOf(['version']),
  };
  throw new ValidationError(source, [issue]);
}

function pickConditions(when: z.output<ReturnType<typeof conditionsSchema>>): HookConditions {
  const conditions: HookConditions = {};
  if (when.always !== undefined) conditions.always = when.always;
  if (when.annotations !== undefined) conditions.annotations = when.annotations;
  if (when.commands !== undefined) conditions.commands = when.commands;
  if (when.hasBindMounts !== undefined) conditions.hasBindMounts = when.hasBindMounts;
  return conditions;
}

function convertLegacy(
  file: z.output<ReturnType<typeof legacySchema>>,
  source: string,
  lineOf: (path: readonly PropertyKey[]) => number,
): HookDefinition {
  const hook: Hook = { path: file.hook };
  if (file.arguments !== undefined) hook.args = [file.hook, ...file.arguments];
  const when: HookConditions = {};
  const commands = file.cmds ?? file.cmd;
  const annotations = file.annotations ?? file.annotation;
  if (commands !== undefined && commands.length > 0) when.commands = commands;
  if (annotations !== undefined && annotations.length > 0) {
    const joined = annotations.join('|');
    // Each pattern compiled alone; joined, an inline flag such as (?i) now reaches the later ones, as in podman.
    const problem = findPatternProblem(joined);
    if (problem !== undefined) {
      const field = file.annotations === undefined ? 'annotation' : 'annotations';
      throw new ValidationError(source, [
        { path: field, message: `invalid joined pattern ${JSON.stringify(joined)}: ${problem}`, line: lineOf([field]) },
      ]);
    }
    when.annotations = { '.*': joined };
  }
  if (file.hasbindmounts !== undefined) when.hasBindMounts = file.hasbindmounts;
  const stages = file.stages ?? file.stage ?? [];
  return { version: '1.0.0', hook, when, stages, matchMode: 'any', source };
}
