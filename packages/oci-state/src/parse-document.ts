import { validationErrorFromZod, type ValidationError } from '@bulwark/errors';
import type { z } from 'zod';
import { findLine, parseJsonText, type JsonNode } from './json-lines.js';

/**
 * Parses JSON text and validates it with a zod schema; issues carry the line
 * of the offending value. Throws ValidationError.
 */
export function parseDocument<T>(schema: z.ZodType<T>, text: string, source: string): T {
  const { value, root } = parseJsonText(text, source);
  const result = schema.safeParse(value);
  if (!result.success) throw toValidationError(source, result.error, root);
  return result.data;
}

/** A ValidationError from zod issues, with lines from the scanned document and house-style messages. */
export function toValidationError(source: string, error: z.ZodError, root: JsonNode): ValidationError {
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
