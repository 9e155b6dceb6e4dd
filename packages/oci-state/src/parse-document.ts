import { validationErrorFromZod, type ValidationError } from '@bulwark/errors';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { findLine, parseJsonText, type JsonNode } from './json-lines.js';
import { lazy } from './lazy.js';

/**
 * Parse options for every schema here. zod/mini loads no locale, so without
 * these every issue would read "Invalid input"; zod's English messages (the
 * ones classic zod uses, rewritten by tidyMessage below) are passed per parse,
 * leaving zod's global configuration, shared by every package in the process,
 * alone. Messages set on a schema or check still win over these.
 */
export const parseOptions = /* @__PURE__ */ lazy(
  'parse options',
  (): z.core.ParseContext<z.core.$ZodIssue> => ({ error: en().localeError }),
);

/**
 * Parses JSON text and validates it with a zod schema; issues carry the line
 * of the offending value. Throws ValidationError.
 */
export function parseDocument<T>(schema: z.ZodMiniType<T>, text: string, source: string): T {
  // Positions cost a scan of the whole text, so they are found only for a
  // document that fails: JSON.parse first, the line-tracking scanner on error.
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = parseJsonText(text, source).value;
  }
  const result = schema.safeParse(value, parseOptions());
  if (!result.success) throw toValidationError(source, result.error, parseJsonText(text, source).root);
  return result.data;
}

/** A ValidationError from zod issues, with lines from the scanned document and house-style messages. */
export function toValidationError(source: string, error: z.core.$ZodError, root: JsonNode): ValidationError {
  const issues = error.issues.map((issue) => ({ path: issue.path, message: tidyMessage(issue.message) }));
  return validationErrorFromZod(source, { issues }, (path) => findLine(root, path));
}

/** zod's "Invalid input: expected string, received undefined" reads "missing required property (expected string)". */
function tidyMessage(message: string): string {
  const detail = message.replace(/^Invalid input: /u, '');
  const missing = /^expected (.+), received undefined$/u.exec(detail);
  if (missing !== null) return `missing required property (expected ${missing[1] ?? 'a value'})`;
  return detail.charAt(0).toLowerCase() + detail.slice(1);
}
