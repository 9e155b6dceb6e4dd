/**
 * src/bpf/layout.h is the one source of the layout the enforcer shares with
 * user space; src/layout.ts mirrors it. This test parses the header (no
 * compiler, no kernel: __fixtures__/c-header.ts) and fails when the two
 * disagree: a constant on one side only or with another value, a struct
 * field moved, resized, retyped or renamed, a struct on one side only. It
 * also fails when a C file restates what the header holds.
 *
 * Checked by breaking one side at a time, running this file, and reverting:
 * - `#define MAX_GLOBS 32` -> 31 in layout.h only: "define the same
 *   constants" failed, its diff `- "MAX_GLOBS": 32` (layout.ts) against
 *   `+ "MAX_GLOBS": 31` (layout.h);
 * - `signal: 1 << 14` -> `1 << 15` in layout.ts's OPERATION_BITS only: the
 *   same test failed on `"OP_SIGNAL": 32768` against 16384;
 * - `__u32 dropped` -> `__u64 dropped` in layout.h's struct event only:
 *   "lay out the same structs" failed: `dropped` u64 at offset 48 (C pads
 *   after `verdict` at 40) against u32 at 44, then comm at 56 not 48,
 *   resource 72 not 64, source 324 not 316, size 576 not 568;
 * - `#define RESOURCE_GLOB 3` added back to enforcer.bpf.c: "are the one
 *   source" failed with `"enforcer.bpf.c restates RESOURCE_GLOB"`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type CField, parseHeader, stripComments, evaluate } from './__fixtures__/c-header.js';
import type { StructCodec } from './codec.js';
import * as layout from './layout.js';
import { capabilityKey, globKey, presetKey, settingsKey, socketKey } from './rules.js';

const source = (name: string) => readFileSync(new URL(`bpf/${name}`, import.meta.url), 'utf8');
const header = parseHeader(source('layout.h'));

const prefixlen = (key: Buffer) => layout.ruleKeyCodec.decode(key).prefixlen;
/** `{ read: 1 }` as `{ OP_READ: 1 }`; `posture-block` as `POSTURE_BLOCK`. */
const prefixed = (prefix: string, values: Readonly<Record<string, number>>) =>
  Object.fromEntries(Object.entries(values).map(([name, value]) => [prefix + name.toUpperCase().replaceAll('-', '_'), value]));

/** Each of layout.h's defines, as TypeScript has it. */
const typescriptDefines: Record<string, number> = {
  LAYOUT_VERSION: layout.LAYOUT_VERSION,
  MAX_SCOPES: layout.MAX_SCOPES,
  MAX_SETS: layout.MAX_SETS,
  MAX_IDENTITIES: layout.MAX_IDENTITIES,
  RULE_KEY_SIZE: layout.RULE_KEY_SIZE,
  RULE_PATH_SIZE: layout.RULE_PATH_SIZE,
  MATCH_DIRECTORY: layout.MATCH_DIRECTORY,
  // The keys that are not paths cover exactly their resource's bytes, as rules.ts encodes them.
  PREFIX_SETTINGS: prefixlen(settingsKey()),
  PREFIX_GLOB: prefixlen(globKey(layout.SOURCE_ANY, 0)),
  PREFIX_CAPABILITY: prefixlen(capabilityKey(layout.SOURCE_ANY, 0)),
  PREFIX_SOCKET: prefixlen(socketKey(layout.SOURCE_ANY, 0, 0, 0)),
  PREFIX_PRESET: prefixlen(presetKey(layout.SOURCE_ANY, 'filelessExec')),
  SOURCE_ANY: layout.SOURCE_ANY,
  SOURCE_SETTINGS: layout.SOURCE_SETTINGS,
  SOURCE_DEFINITION: layout.SOURCE_DEFINITION,
  RESOURCE_SOCKET: layout.RESOURCE_SOCKET,
  RESOURCE_CAPABILITY: layout.RESOURCE_CAPABILITY,
  RESOURCE_GLOB: layout.RESOURCE_GLOB,
  RESOURCE_PRESET: layout.RESOURCE_PRESET,
  PRESET_FILELESS_EXEC: layout.PRESETS.filelessExec,
  PRESET_ANONYMOUS_MAP_EXEC: layout.PRESETS.anonymousMapExec,
  MAX_GLOBS: layout.MAX_GLOBS,
  ANY_16: layout.ANY_16,
  ...prefixed('OP_', layout.OPERATION_BITS),
  ...prefixed('ACTION_', layout.ACTION_INDEX),
  ACTIONS: Object.keys(layout.ACTION_INDEX).length,
  ...prefixed('VERDICT_', Object.fromEntries(layout.VERDICTS.map((verdict, index) => [verdict, index]))),
  CONFIG_NO_CACHE: layout.CONFIG_NO_CACHE,
  GENERATION_HAS_SOURCES: layout.GENERATION_HAS_SOURCES,
  GLOB_PATTERN_SIZE: layout.GLOB_PATTERN_SIZE,
  GLOB_PATH_SIZE: layout.GLOB_PATH_SIZE,
  GLOB_MAX_STEPS: layout.GLOB_MAX_STEPS,
};

/** The codec a C field should have: `__u32` u32, `__u32 x[3]` u32[3], `char x[16]` bytes(16). */
const CODEC_NAMES: Readonly<Record<string, string>> = { __u8: 'u8', __s8: 'i8', __u16: 'u16', __s16: 'i16', __u32: 'u32', __s32: 'i32', __u64: 'u64', __s64: 'i64' };
function expectedCodec(field: CField): string {
  if (field.type === 'char') return `bytes(${field.length ?? 1})`;
  const name = CODEC_NAMES[field.type]!;
  return field.length === undefined ? name : `${name}[${field.length}]`;
}
const camelCase = (name: string) => name.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());

/** Every struct codec layout.ts exports, by its name (`struct event`). */
const structCodecs = (Object.values(layout) as unknown[]).filter(
  (value): value is StructCodec<Record<string, unknown>> => typeof value === 'object' && value !== null && 'fields' in value && 'size' in value,
);

describe('src/bpf/layout.h and src/layout.ts', () => {
  it('define the same constants', () => {
    const c = Object.fromEntries([...header.defines].map(([name, value]) => [name, Number(value)]));
    expect(c, 'received: layout.h; expected: layout.ts').toEqual(typescriptDefines);
  });

  it('lay out the same structs, field by field', () => {
    const c = Object.fromEntries(
      [...header.structs.values()].map((struct) => [
        `struct ${struct.name}`,
        { size: struct.size, fields: struct.fields.map((field) => ({ name: camelCase(field.name), offset: field.offset, codec: expectedCodec(field) })) },
      ]),
    );
    const typescript = Object.fromEntries(
      structCodecs.map((codec) => [
        codec.name,
        { size: codec.size, fields: Object.entries(codec.fields).map(([name, field]) => ({ name, offset: field.offset, codec: field.codec.name })) },
      ]),
    );
    expect(c, 'received: layout.h; expected: layout.ts').toEqual(typescript);
    // The sizes user space checks maps and records against are the structs'.
    expect([layout.RULE_KEY_SIZE, layout.RULE_VALUE_SIZE, layout.DECISION_COUNTS_SIZE, layout.EVENT_SIZE]).toEqual(
      ['rule_key', 'rule_value', 'decision_counts', 'event'].map((name) => header.structs.get(name)?.size),
    );
  });

  it('are the one source: the C files include layout.h and restate none of it', () => {
    const files = ['enforcer.bpf.c', 'glob.h', 'test-glob.bpf.c'];
    const restated: string[] = [];
    for (const file of files) {
      const text = stripComments(source(file));
      for (const name of header.defines.keys()) if (new RegExp(`#define\\s+${name}\\b`).test(text)) restated.push(`${file} restates ${name}`);
      for (const name of header.structs.keys()) if (new RegExp(`struct\\s+${name}\\s*\\{`).test(text)) restated.push(`${file} restates struct ${name}`);
    }
    expect(restated).toEqual([]);
    for (const file of ['enforcer.bpf.c', 'glob.h']) expect(stripComments(source(file)), file).toContain('#include "layout.h"');
    // The object's own version, which loadEnforcer compares with LAYOUT_VERSION, is the header's.
    expect(stripComments(source('enforcer.bpf.c'))).toMatch(/const volatile __u32 layout_version = LAYOUT_VERSION;/);
  });
});

describe('the header reader', () => {
  it('evaluates C integer expressions with C precedence', () => {
    const defines = new Map([['A', 3n]]);
    expect(evaluate('(32 + 8 * 2)', defines)).toBe(48n);
    expect(evaluate('1 << A | 1', defines)).toBe(9n);
    expect(evaluate('0xffffffffu', defines)).toBe(0xffffffffn);
    expect(evaluate('0170000', defines)).toBe(0o170000n);
    expect(evaluate('~0 & 0xff', defines)).toBe(0xffn);
    expect(() => evaluate('B + 1', defines)).toThrow('B is not defined above');
    expect(() => evaluate('(1', defines)).toThrow('unexpected end');
  });

  it('pads fields and sizes as C does', () => {
    const { structs } = parseHeader('struct s {\n\t__u8 a;\n\t__u64 b; /* at 8 */\n\tchar c[3];\n};\n');
    expect(structs.get('s')).toEqual({
      name: 's',
      size: 24,
      fields: [
        { name: 'a', type: '__u8', offset: 0, size: 1 },
        { name: 'b', type: '__u64', offset: 8, size: 8 },
        { name: 'c', type: 'char', length: 3, offset: 16, size: 3 },
      ],
    });
  });

  it('refuses what it cannot read, naming the line', () => {
    expect(() => parseHeader('#define A 1\nstatic int x;\n')).toThrow('layout.h:2: cannot read "static int x;"');
    expect(() => parseHeader('struct s {\n\tstruct t inner;\n};\n')).toThrow('layout.h:2: cannot read the field "struct t inner;"');
    expect(() => parseHeader('struct s {\n\tfloat f;\n};\n')).toThrow('layout.h:2');
    expect(() => parseHeader('struct s {\n\t__u32 a;\n')).toThrow('struct s is not closed');
  });
});
