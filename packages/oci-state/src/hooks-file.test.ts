import { describe, expect, it } from 'vitest';
import { parseHookFile } from './hooks-file.js';

function current(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify(
    {
      version: '1.0.0',
      hook: { path: '/usr/libexec/bulwark/hook', args: ['hook', 'create'] },
      when: { always: true },
      stages: ['createRuntime'],
      ...overrides,
    },
    null,
    2,
  );
}

function errorOf(action: () => unknown): { message: string; issues: { path: string; message: string; line?: number }[] } {
  try {
    action();
  } catch (error) {
    expect(error).toMatchObject({ code: 'ERR_VALIDATION' });
    return error as { message: string; issues: { path: string; message: string; line?: number }[] };
  }
  throw new Error('expected a ValidationError');
}

describe('parseHookFile: 1.0.0', () => {
  it('reads the oci-hooks(5) systemd example', () => {
    const definition = parseHookFile(
      `{
  "version": "1.0.0",
  "hook": {
    "path": "/usr/libexec/oci/hooks.d/oci-systemd-hook"
  },
  "when": {
    "commands": [".*/init$" , ".*/systemd$"]
  },
  "stages": ["prestart", "poststop"]
}
`,
      '/etc/containers/oci/hooks.d/oci-systemd-hook.json',
    );
    expect(definition).toEqual({
      version: '1.0.0',
      hook: { path: '/usr/libexec/oci/hooks.d/oci-systemd-hook' },
      when: { commands: ['.*/init$', '.*/systemd$'] },
      stages: ['prestart', 'poststop'],
      matchMode: 'all',
      source: '/etc/containers/oci/hooks.d/oci-systemd-hook.json',
    });
  });

  it('reads the nvidia example with env and annotation patterns', () => {
    const definition = parseHookFile(
      JSON.stringify({
        version: '1.0.0',
        hook: {
          path: '/usr/sbin/nvidia-container-runtime-hook',
          args: ['nvidia-container-runtime-hook', 'prestart'],
          env: ['NVIDIA_REQUIRE_CUDA=cuda>=9.1'],
          timeout: 10,
        },
        when: { annotations: { '^com\\.example\\.department$': '.*fluid-dynamics$' } },
        stages: ['prestart'],
      }),
      'nvidia.json',
    );
    expect(definition.hook).toEqual({
      path: '/usr/sbin/nvidia-container-runtime-hook',
      args: ['nvidia-container-runtime-hook', 'prestart'],
      env: ['NVIDIA_REQUIRE_CUDA=cuda>=9.1'],
      timeout: 10,
    });
    expect(definition.when).toEqual({ annotations: { '^com\\.example\\.department$': '.*fluid-dynamics$' } });
  });

  it('keeps unknown fields of the hook entry', () => {
    const definition = parseHookFile(current({ hook: { path: '/bin/hook', 'x-vendor': { level: 3 } } }), 'x.json');
    expect(definition.hook).toEqual({ path: '/bin/hook', 'x-vendor': { level: 3 } });
  });

  it('rejects a when without any condition, with the required message', () => {
    const error = errorOf(() => parseHookFile(current({ when: {} }), 'empty-when.json'));
    expect(error.issues).toEqual([
      expect.objectContaining({ path: 'when', message: expect.stringContaining('at least one condition is required') }),
    ]);
    expect(error.message).toMatch(/^empty-when\.json: line \d+ when: at least one condition is required/u);
  });

  it('counts empty commands and annotations as no condition', () => {
    expect(() => parseHookFile(current({ when: { commands: [], annotations: {} } }), 'x.json')).toThrow(
      /when: at least one condition is required/u,
    );
  });

  it('accepts always: false and hasBindMounts: false (they never match, as in podman)', () => {
    expect(parseHookFile(current({ when: { always: false } }), 'x.json').when).toEqual({ always: false });
    expect(parseHookFile(current({ when: { hasBindMounts: false } }), 'x.json').when).toEqual({ hasBindMounts: false });
  });

  it('rejects a relative hook path', () => {
    const error = errorOf(() => parseHookFile(current({ hook: { path: 'bin/hook' } }), 'relative.json'));
    expect(error.issues[0]).toMatchObject({ path: 'hook.path', message: 'hook path must be an absolute path', line: 4 });
  });

  it('rejects a hook without path', () => {
    expect(errorOf(() => parseHookFile(current({ hook: { args: ['x'] } }), 'x.json')).issues[0]?.path).toBe('hook.path');
  });

  it('rejects a timeout of 0', () => {
    expect(errorOf(() => parseHookFile(current({ hook: { path: '/bin/x', timeout: 0 } }), 'x.json')).issues[0]?.path).toBe(
      'hook.timeout',
    );
  });

  it('rejects missing and empty stages', () => {
    expect(errorOf(() => parseHookFile(current({ stages: undefined }), 'x.json')).issues[0]).toMatchObject({
      path: 'stages',
      message: 'missing required property (expected array)',
    });
    expect(errorOf(() => parseHookFile(current({ stages: [] }), 'x.json')).issues[0]).toMatchObject({
      path: 'stages',
      message: 'at least one stage is required',
    });
  });

  it('rejects an empty stage name and a non-string stage', () => {
    expect(errorOf(() => parseHookFile(current({ stages: ['poststop', ''] }), 'x.json')).issues[0]).toMatchObject({
      path: 'stages.1',
      message: 'expected a non-empty stage name',
    });
    expect(errorOf(() => parseHookFile(current({ stages: [3] }), 'x.json')).issues[0]?.path).toBe('stages.0');
  });

  it('accepts extension stage names', () => {
    expect(parseHookFile(current({ stages: ['poststop', 'precreate'] }), 'x.json').stages).toEqual(['poststop', 'precreate']);
  });

  it('rejects an unknown version', () => {
    const error = errorOf(() => parseHookFile(current({ version: '2.0.0' }), 'future.json'));
    expect(error.message).toBe('future.json: line 2 version: unrecognized hook version "2.0.0" (expected "1.0.0" or "0.1.0")');
  });

  it('rejects a document that is not an object', () => {
    expect(() => parseHookFile('["/bin/hook"]', 'array.json')).toThrow('array.json: line 1: expected a json object');
  });

  it('reports malformed json with its line and column', () => {
    const text = '{\n  "version": "1.0.0",\n  "hook": { "path": "/bin/x", },\n}';
    const error = errorOf(() => parseHookFile(text, 'broken.json'));
    expect(error.issues).toEqual([
      { path: '', line: 3, message: `malformed json: expected a string key, found '}' at line 3 column 31` },
    ]);
  });

  it('reports a truncated file', () => {
    expect(errorOf(() => parseHookFile('{"version": "1.0.0", "hook": {', 't.json')).message).toBe(
      't.json: line 1: malformed json: expected a string key or \'}\', found end of input at line 1 column 31',
    );
  });

  it('names file, field, line and pattern for a backreference', () => {
    const text = current({ when: { commands: ['^/bin/(sh)\\1$'] } });
    const error = errorOf(() => parseHookFile(text, '/etc/containers/oci/hooks.d/10-bad.json'));
    expect(error.issues[0]).toMatchObject({ path: 'when.commands.0', line: 12 });
    expect(error.message).toContain('/etc/containers/oci/hooks.d/10-bad.json: line 12 when.commands.0: invalid pattern');
    expect(error.message).toContain('"^/bin/(sh)\\\\1$"');
    expect(error.message).toContain('invalid escape sequence: `\\1` at offset 10 (backreferences are not supported by RE2)');
  });

  it('rejects lookahead in an annotation value pattern', () => {
    const error = errorOf(() => parseHookFile(current({ when: { annotations: { '^team$': '^(?!dev)' } } }), 'x.json'));
    expect(error.issues[0]?.path).toBe('when.annotations.^team$');
    expect(error.issues[0]?.message).toBe('invalid pattern "^(?!dev)": invalid or unsupported Perl syntax: `(?!` at offset 1 (lookahead is not supported by RE2)');
  });

  it('rejects lookbehind in an annotation key pattern', () => {
    const error = errorOf(() => parseHookFile(current({ when: { annotations: { '(?<=io\\.)x': '.*' } } }), 'x.json'));
    expect(error.issues[0]?.message).toContain('(lookbehind is not supported by RE2)');
  });

  it('rejects a named backreference and a possessive quantifier', () => {
    expect(() => parseHookFile(current({ when: { commands: ['(?P<a>x)\\k<a>'] } }), 'x.json')).toThrow(/named backreferences/u);
    expect(() => parseHookFile(current({ when: { commands: ['a++'] } }), 'x.json')).toThrow(/possessive quantifiers/u);
  });

  it('rejects a pattern that does not compile, naming it', () => {
    expect(() => parseHookFile(current({ when: { commands: ['(unclosed'] } }), 'x.json')).toThrow(
      'invalid pattern "(unclosed": missing closing )',
    );
  });

  it('refuses a pattern longer than @bulwark/re2 accepts', () => {
    const error = errorOf(() => parseHookFile(current({ when: { commands: ['a'.repeat(5000)] } }), 'x.json'));
    expect(error.issues[0]?.message).toMatch(/: pattern too long: 5000 characters, at most 4096$/u);
  });

  it('accepts RE2-only syntax', () => {
    const definition = parseHookFile(
      current({ when: { commands: ['(?P<tool>runc|crun)$', '\\Afoo\\z', '[[:alpha:]]+'] } }),
      'x.json',
    );
    expect(definition.when.commands).toHaveLength(3);
  });
});

describe('parseHookFile: 0.1.0', () => {
  it('converts the oci-hooks(5) example: cmds, stages', () => {
    const definition = parseHookFile(
      JSON.stringify({
        cmds: ['.*/init$', '.*/systemd$'],
        hook: '/usr/libexec/oci/hooks.d/oci-systemd-hook',
        stages: ['prestart', 'poststop'],
      }),
      'oci-systemd-hook.json',
    );
    expect(definition).toEqual({
      version: '1.0.0',
      hook: { path: '/usr/libexec/oci/hooks.d/oci-systemd-hook' },
      when: { commands: ['.*/init$', '.*/systemd$'] },
      stages: ['prestart', 'poststop'],
      matchMode: 'any',
      source: 'oci-systemd-hook.json',
    });
  });

  it('prepends the hook path to arguments', () => {
    const definition = parseHookFile(
      JSON.stringify({ hook: '/usr/libexec/oci/hooks.d/oci-umount', arguments: ['--debug'], hasbindmounts: true, stages: ['prestart'] }),
      'oci-umount.json',
    );
    expect(definition.hook).toEqual({ path: '/usr/libexec/oci/hooks.d/oci-umount', args: ['/usr/libexec/oci/hooks.d/oci-umount', '--debug'] });
    expect(definition.when).toEqual({ hasBindMounts: true });
  });

  it('joins annotation patterns into one value pattern for any key', () => {
    const definition = parseHookFile(
      JSON.stringify({ hook: '/usr/sbin/nvidia', annotations: ['.*fluid-dynamics.*', '^gpu$'], stages: ['prestart'] }),
      'nvidia.json',
    );
    expect(definition.when).toEqual({ annotations: { '.*': '.*fluid-dynamics.*|^gpu$' } });
  });

  it('accepts an explicit 0.1.0 version and the singular synonyms', () => {
    const definition = parseHookFile(
      JSON.stringify({ version: '0.1.0', hook: '/bin/h', stage: ['poststop'], cmd: ['sh$'], annotation: ['x'] }),
      'synonyms.json',
    );
    expect(definition.stages).toEqual(['poststop']);
    expect(definition.when).toEqual({ commands: ['sh$'], annotations: { '.*': 'x' } });
    expect(definition.matchMode).toBe('any');
  });

  it('rejects both stage and stages', () => {
    expect(() =>
      parseHookFile(JSON.stringify({ hook: '/bin/h', stage: ['poststop'], stages: ['poststop'], cmds: ['x'] }), 'x.json'),
    ).toThrow("cannot set both 'stage' and 'stages'");
  });

  it('rejects both cmd and cmds, and both annotation and annotations', () => {
    expect(() => parseHookFile(JSON.stringify({ hook: '/bin/h', stages: ['poststop'], cmd: ['a'], cmds: ['b'] }), 'x.json')).toThrow(
      "cannot set both 'cmd' and 'cmds'",
    );
    expect(() =>
      parseHookFile(JSON.stringify({ hook: '/bin/h', stages: ['poststop'], annotation: ['a'], annotations: ['b'] }), 'x.json'),
    ).toThrow("cannot set both 'annotation' and 'annotations'");
  });

  it('rejects a missing hook or missing stages', () => {
    expect(() => parseHookFile(JSON.stringify({ stages: ['poststop'], cmds: ['x'] }), 'x.json')).toThrow(/hook: missing required property/u);
    expect(() => parseHookFile(JSON.stringify({ hook: '/bin/h', cmds: ['x'] }), 'x.json')).toThrow(
      'stages: missing required property: stages',
    );
  });

  it('rejects a 0.1.0 file without any condition', () => {
    expect(() => parseHookFile(JSON.stringify({ hook: '/bin/h', stages: ['poststop'] }), 'x.json')).toThrow(
      'at least one condition is required (cmds, annotations or hasbindmounts)',
    );
  });

  it('rejects a relative 0.1.0 hook path', () => {
    expect(() => parseHookFile(JSON.stringify({ hook: 'h', stages: ['poststop'], cmds: ['x'] }), 'x.json')).toThrow(
      'hook: hook must be an absolute path',
    );
  });

  it('validates 0.1.0 patterns one by one', () => {
    expect(() => parseHookFile(JSON.stringify({ hook: '/bin/h', stages: ['poststop'], cmds: ['ok', '(?=x)'] }), 'x.json')).toThrow(
      /cmds\.1: invalid pattern "\(\?=x\)"/u,
    );
  });

  it('rejects annotation patterns that clash once joined', () => {
    expect(() =>
      parseHookFile(JSON.stringify({ hook: '/bin/h', stages: ['poststop'], annotations: ['(?P<n>a)', '(?P<n>b)'] }), 'x.json'),
    ).toThrow(/invalid joined pattern .*duplicate capture group name/u);
  });
});
