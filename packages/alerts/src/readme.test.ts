/**
 * The README's "Alert fields" table is the documented schema: this test
 * holds it to alertSchema, field by field and in order (nested fields as
 * `bulwark.verdict`), with the same type and the same answer to "always
 * present?", so that neither can change without the other.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type * as z from 'zod';
import { alertSchema } from './schema.js';

interface Row {
  readonly field: string;
  readonly type: string;
  readonly always: boolean;
}

/** The rows of the table under `## Alert fields`. */
function readmeRows(): Row[] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.split(/^## /m).find((part) => part.startsWith('Alert fields\n'));
  if (section === undefined) throw new Error('README.md has no "## Alert fields" section');
  const lines = section.split('\n').filter((line) => line.startsWith('|'));
  expect(lines[0]).toBe('| field | type | when present | meaning |');
  return lines.slice(2).map((line) => {
    const cells = line.split(' | ').map((cell) => cell.replace(/^\| ?| ?\|$/g, ''));
    const field = /^`([^`]+)`$/.exec(cells[0]!)?.[1];
    if (field === undefined) throw new Error(`not a field row: ${line}`);
    return { field, type: cells[1]!, always: cells[2] === 'always' };
  });
}

/** A zod type as the table names it. */
function typeName(schema: z.core.$ZodType): string {
  const def = schema._zod.def as { type: string; element?: z.core.$ZodType };
  // zod's number schemas say `safeint` for z.int(), refinements and all.
  const format = (schema as { format?: string | null }).format;
  switch (def.type) {
    case 'number':
      return format === 'safeint' ? 'integer' : 'number';
    case 'string':
    case 'enum':
    case 'literal':
      return 'string';
    case 'array':
      return `${typeName(def.element!)}[]`;
    default:
      return def.type;
  }
}

/** The schema's fields, nested objects' as `outer.inner`, in declaration order. */
function schemaRows(shape: Record<string, z.core.$ZodType>, prefix = ''): Row[] {
  return Object.entries(shape).flatMap(([key, field]) => {
    const optional = field._zod.def.type === 'optional';
    const inner = optional ? (field._zod.def as unknown as { innerType: z.core.$ZodType }).innerType : field;
    const row = { field: prefix + key, type: typeName(inner), always: !optional };
    const nested = (inner._zod.def as { shape?: Record<string, z.core.$ZodType> }).shape;
    return nested === undefined ? [row] : [row, ...schemaRows(nested, `${prefix}${key}.`)];
  });
}

describe('the README field table', () => {
  it('lists exactly the schema fields, in order, with their types and whether they are always present', () => {
    const documented = readmeRows();
    const schema = schemaRows(alertSchema.shape);
    expect(documented.map((row) => row.field)).toEqual(schema.map((row) => row.field));
    expect(documented).toEqual(schema);
  });
});
