import { describe, expect, it } from 'vitest';
import type { RuntimeConfig } from './config.js';
import { parseHookFile, type HookConditions, type HookDefinition } from './hooks-file.js';
import { hasBindMounts, matchHook, selectHooks } from './hooks-select.js';

function definition(when: HookConditions, stages: string[] = ['createRuntime'], path = '/usr/libexec/bulwark/hook'): HookDefinition {
  return parseHookFile(JSON.stringify({ version: '1.0.0', hook: { path }, when, stages }), `${path}.json`);
}

function legacy(fields: Record<string, unknown>, path = '/usr/libexec/legacy/hook'): HookDefinition {
  return parseHookFile(JSON.stringify({ hook: path, stages: ['prestart'], ...fields }), 'legacy.json');
}

function config(fields: Partial<RuntimeConfig> = {}): RuntimeConfig {
  return {
    ociVersion: '1.0.2',
    process: { cwd: '/', args: ['/usr/sbin/nginx', '-g', 'daemon off;'] },
    root: { path: 'rootfs' },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    ...fields,
  };
}

const bindMount = { destination: '/data', type: 'none', source: '/srv/data', options: ['rbind', 'ro'] };

describe('matchHook: single conditions', () => {
  it('always: true matches every container', () => {
    expect(matchHook(definition({ always: true }), { config: config() })).toBe(true);
  });

  it('always: false never matches', () => {
    expect(matchHook(definition({ always: false }), { config: config() })).toBe(false);
  });

  it('commands match process.args[0] as an unanchored substring', () => {
    expect(matchHook(definition({ commands: ['nginx'] }), { config: config() })).toBe(true);
    expect(matchHook(definition({ commands: ['sbin/ng'] }), { config: config() })).toBe(true);
  });

  it('commands honour anchors', () => {
    expect(matchHook(definition({ commands: ['^nginx$'] }), { config: config() })).toBe(false);
    expect(matchHook(definition({ commands: ['/nginx$'] }), { config: config() })).toBe(true);
  });

  it('commands match when any pattern does', () => {
    expect(matchHook(definition({ commands: ['.*/init$', '.*/nginx$'] }), { config: config() })).toBe(true);
  });

  it('commands only look at args[0], not later arguments', () => {
    expect(matchHook(definition({ commands: ['daemon'] }), { config: config() })).toBe(false);
  });

  it('commands do not match a config without process or args', () => {
    expect(matchHook(definition({ commands: ['.*'] }), { config: config({ process: { cwd: '/' } }) })).toBe(false);
    expect(matchHook(definition({ commands: ['.*'] }), { config: { ociVersion: '1.0.2' } })).toBe(false);
  });

  it('hasBindMounts: true matches a bind mount by type', () => {
    const withBind = config({ mounts: [{ destination: '/data', type: 'bind', source: '/srv/data' }] });
    expect(matchHook(definition({ hasBindMounts: true }), { config: withBind })).toBe(true);
  });

  it('hasBindMounts: true matches a bind mount by rbind option', () => {
    expect(matchHook(definition({ hasBindMounts: true }), { config: config({ mounts: [bindMount] }) })).toBe(true);
  });

  it('hasBindMounts: true does not match without bind mounts', () => {
    expect(matchHook(definition({ hasBindMounts: true }), { config: config() })).toBe(false);
  });

  it('hasBindMounts: false never matches, even without bind mounts', () => {
    expect(matchHook(definition({ hasBindMounts: false }), { config: config() })).toBe(false);
  });

  it('the caller can say what counts as a bind mount', () => {
    const withBind = config({ mounts: [bindMount] });
    expect(matchHook(definition({ hasBindMounts: true }), { config: withBind, hasBindMounts: false })).toBe(false);
    expect(matchHook(definition({ hasBindMounts: true }), { config: config(), hasBindMounts: true })).toBe(true);
  });

  it('annotations match when one annotation matches both key and value', () => {
    const context = { config: config({ annotations: { 'com.example.department': 'fluid-dynamics' } }) };
    expect(matchHook(definition({ annotations: { '^com\\.example\\.department$': 'fluid' } }), context)).toBe(true);
  });

  it('annotations need key and value to match on the same annotation', () => {
    const context = { config: config({ annotations: { 'com.example.department': 'sales', 'com.example.team': 'fluid' } }) };
    expect(matchHook(definition({ annotations: { department: 'fluid' } }), context)).toBe(false);
  });

  it('every annotation pair must match in a 1.0.0 file', () => {
    const context = { config: config({ annotations: { a: '1', b: '2' } }) };
    expect(matchHook(definition({ annotations: { '^a$': '1', '^b$': '2' } }), context)).toBe(true);
    expect(matchHook(definition({ annotations: { '^a$': '1', '^b$': '3' } }), context)).toBe(false);
  });

  it('annotations given in the context replace the config annotations', () => {
    const context = { config: config({ annotations: { team: 'blue' } }), annotations: { team: 'red' } };
    expect(matchHook(definition({ annotations: { team: 'red' } }), context)).toBe(true);
    expect(matchHook(definition({ annotations: { team: 'blue' } }), context)).toBe(false);
  });

  it('annotations do not match a container without annotations', () => {
    expect(matchHook(definition({ annotations: { '.*': '.*' } }), { config: config() })).toBe(false);
  });

  it('an empty value pattern matches any value of a matching key', () => {
    expect(matchHook(definition({ annotations: { '^k$': '' } }), { config: config({ annotations: { k: '' } }) })).toBe(true);
  });
});

describe('matchHook: a process without args', () => {
  // containers/common's When.Match returns "process.args must have at least
  // one entry" here, and the error fails the selection of every hook for the
  // container. There is no command to match, so a commands condition is false.
  const withoutArgs = [config({ process: { cwd: '/' } }), config({ process: { cwd: '/', args: [] } })];

  it('makes a commands condition false, not an error, whether args is absent or empty', () => {
    for (const context of withoutArgs.map((each) => ({ config: each }))) {
      expect(matchHook(definition({ commands: ['.*'] }), context)).toBe(false);
      expect(matchHook(definition({ commands: [''] }), context)).toBe(false);
    }
  });

  it('leaves the other definitions selected', () => {
    const hooks = [definition({ commands: ['.*'] }, ['createRuntime'], '/hooks/by-command'), definition({ always: true }, ['createRuntime'], '/hooks/always')];
    for (const each of withoutArgs) {
      expect(selectHooks(hooks, { config: each }).stages.createRuntime.map((hook) => hook.path)).toEqual(['/hooks/always']);
    }
  });

  it('lets a converted 0.1.0 file match by another condition, and fails a 1.0.0 file that also needs the command', () => {
    const context = { config: config({ process: { cwd: '/' }, mounts: [bindMount] }) };
    expect(matchHook(legacy({ cmds: ['.*'], hasbindmounts: true }), context)).toBe(true);
    expect(matchHook(definition({ always: true, commands: ['.*'] }), context)).toBe(false);
    // Without any process too (containers/common skips the condition then, and this file would match).
    expect(matchHook(definition({ always: true, commands: ['.*'] }), { config: { ociVersion: '1.0.2' } })).toBe(false);
  });
});

describe('matchHook: RE2 semantics', () => {
  const context = { config: config({ annotations: { 'io.kubernetes.pod.namespace': 'Kube-System\nextra' } }) };

  it('(?i) makes a pattern case-insensitive', () => {
    expect(matchHook(definition({ annotations: { namespace: '(?i)^kube-system' } }), context)).toBe(true);
    expect(matchHook(definition({ annotations: { namespace: '^kube-system' } }), context)).toBe(false);
  });

  it('$ is the end of the text, not of a line, without (?m)', () => {
    expect(matchHook(definition({ annotations: { namespace: 'System$' } }), context)).toBe(false);
    expect(matchHook(definition({ annotations: { namespace: '(?m)System$' } }), context)).toBe(true);
  });

  it('. does not match a newline without (?s)', () => {
    expect(matchHook(definition({ annotations: { namespace: 'System.extra' } }), context)).toBe(false);
    expect(matchHook(definition({ annotations: { namespace: '(?s)System.extra' } }), context)).toBe(true);
  });

  it('. matches a carriage return, as in RE2 (unlike a plain JavaScript dot)', () => {
    const carriage = { config: config({ annotations: { note: 'a\rb' } }) };
    expect(matchHook(definition({ annotations: { note: '^a.b$' } }), carriage)).toBe(true);
  });

  it('\\s is ASCII-only, as in RE2', () => {
    const space = { config: config({ annotations: { note: 'a\u00a0b' } }) };
    expect(matchHook(definition({ annotations: { note: 'a\\sb' } }), space)).toBe(false);
    expect(matchHook(definition({ annotations: { note: 'a\\Sb' } }), space)).toBe(true);
  });

  it('a named group (?P<name>...) works', () => {
    expect(matchHook(definition({ commands: ['(?P<server>nginx|httpd)$'] }), { config: config() })).toBe(true);
  });
});

describe('matchHook: combinations', () => {
  const context = { config: config({ mounts: [bindMount], annotations: { 'bulwark.io/profile': 'strict' } }) };

  it('1.0.0 requires all conditions (AND): all true', () => {
    const hook = definition({ always: true, commands: ['nginx'], hasBindMounts: true, annotations: { profile: 'strict' } });
    expect(hook.matchMode).toBe('all');
    expect(matchHook(hook, context)).toBe(true);
  });

  it('1.0.0 AND: one false condition fails the match', () => {
    expect(matchHook(definition({ commands: ['nginx'], annotations: { profile: 'relaxed' } }), context)).toBe(false);
    expect(matchHook(definition({ always: true, commands: ['postgres'] }), context)).toBe(false);
    expect(matchHook(definition({ always: true, hasBindMounts: true }), { config: config() })).toBe(false);
  });

  it('1.0.0 AND: always: false vetoes everything else', () => {
    expect(matchHook(definition({ always: false, commands: ['nginx'] }), context)).toBe(false);
  });

  it('converted 0.1.0 matches when any condition does (OR)', () => {
    const hook = legacy({ cmds: ['postgres'], hasbindmounts: true });
    expect(hook.matchMode).toBe('any');
    expect(matchHook(hook, context)).toBe(true);
    expect(matchHook(hook, { config: config() })).toBe(false);
  });

  it('converted 0.1.0 OR: a matching command alone suffices', () => {
    expect(matchHook(legacy({ cmds: ['nginx'], annotations: ['^never$'] }), { config: config() })).toBe(true);
  });

  it('converted 0.1.0 OR: hasbindmounts: false does not block other conditions', () => {
    expect(matchHook(legacy({ cmds: ['nginx'], hasbindmounts: false }), { config: config() })).toBe(true);
  });

  it('converted 0.1.0 annotations match any annotation value', () => {
    expect(matchHook(legacy({ annotations: ['^never$', '^strict$'] }), context)).toBe(true);
    expect(matchHook(legacy({ annotations: ['^relaxed$'] }), context)).toBe(false);
  });

  it('the same conditions give different answers in 1.0.0 and 0.1.0', () => {
    const modern = definition({ commands: ['postgres'], hasBindMounts: true });
    const old = legacy({ cmds: ['postgres'], hasbindmounts: true });
    expect(matchHook(modern, context)).toBe(false);
    expect(matchHook(old, context)).toBe(true);
  });
});

describe('selectHooks', () => {
  it('puts prestart hooks into createRuntime', () => {
    const selected = selectHooks([definition({ always: true }, ['prestart'])], { config: config() });
    expect(selected.stages.createRuntime).toEqual([{ path: '/usr/libexec/bulwark/hook' }]);
    expect(Object.keys(selected.stages)).not.toContain('prestart');
  });

  it('adds a hook once to createRuntime when it lists prestart and createRuntime', () => {
    const selected = selectHooks([definition({ always: true }, ['prestart', 'createRuntime'])], { config: config() });
    expect(selected.stages.createRuntime).toHaveLength(1);
  });

  it('fills every OCI stage a definition lists', () => {
    const selected = selectHooks(
      [definition({ always: true }, ['createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'])],
      { config: config() },
    );
    for (const hooks of Object.values(selected.stages)) expect(hooks).toHaveLength(1);
    expect(selected.extensionStages).toEqual({});
  });

  it('keeps extension stages apart', () => {
    const selected = selectHooks([definition({ always: true }, ['poststop', 'precreate', 'network-setup'])], { config: config() });
    expect(selected.stages.poststop).toHaveLength(1);
    expect({ ...selected.extensionStages }).toEqual({
      precreate: [{ path: '/usr/libexec/bulwark/hook' }],
      'network-setup': [{ path: '/usr/libexec/bulwark/hook' }],
    });
  });

  it('handles an extension stage named like an Object.prototype key', () => {
    const selected = selectHooks([definition({ always: true }, ['__proto__', 'constructor'])], { config: config() });
    expect(Object.keys(selected.extensionStages)).toEqual(['__proto__', 'constructor']);
    expect(selected.extensionStages.constructor).toHaveLength(1);
  });

  it('keeps the definitions order and skips those that do not match', () => {
    const hooks = [
      definition({ always: true }, ['poststop'], '/hooks/a'),
      definition({ commands: ['postgres'] }, ['poststop'], '/hooks/b'),
      definition({ commands: ['nginx'] }, ['poststop'], '/hooks/c'),
    ];
    expect(selectHooks(hooks, { config: config() }).stages.poststop.map((hook) => hook.path)).toEqual(['/hooks/a', '/hooks/c']);
  });

  it('returns copies that callers may change', () => {
    const hooks = [parseHookFile(JSON.stringify({ version: '1.0.0', hook: { path: '/h', args: ['h'] }, when: { always: true }, stages: ['poststop'] }), 'h.json')];
    const selected = selectHooks(hooks, { config: config() });
    selected.stages.poststop[0]?.args?.push('changed');
    expect(hooks[0]?.hook.args).toEqual(['h']);
  });

  it('returns empty stages when nothing matches', () => {
    const selected = selectHooks([definition({ always: false })], { config: config() });
    expect(selected.stages).toEqual({ createRuntime: [], createContainer: [], startContainer: [], poststart: [], poststop: [] });
  });
});

describe('hasBindMounts', () => {
  it('recognises type bind and the bind/rbind options', () => {
    expect(hasBindMounts(config({ mounts: [{ destination: '/x', type: 'bind' }] }))).toBe(true);
    expect(hasBindMounts(config({ mounts: [{ destination: '/x', options: ['bind'] }] }))).toBe(true);
    expect(hasBindMounts(config({ mounts: [bindMount] }))).toBe(true);
  });

  it('ignores other mounts and configs without mounts', () => {
    expect(hasBindMounts(config())).toBe(false);
    expect(hasBindMounts({ ociVersion: '1.0.0' })).toBe(false);
    expect(hasBindMounts(config({ mounts: [{ destination: '/x', type: 'tmpfs', options: ['nosuid', 'binder'] }] }))).toBe(false);
  });
});
