import { describe, expect, it } from 'vitest';
import type { Hook, RuntimeConfig } from './config.js';
import { injectHooks, isSameHook, removeHooks } from './inject.js';

const bulwark: Hook = { path: '/usr/libexec/bulwark/hook', args: ['bulwark-hook', 'create'] };

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function base(): RuntimeConfig {
  return deepFreeze({
    ociVersion: '1.0.2',
    'org.example.unknown': { keep: [1, 2] },
    process: { cwd: '/', args: ['sh'] },
    hooks: {
      prestart: [{ path: '/usr/bin/fix-mounts', args: ['fix-mounts', 'a'] }],
      poststop: [{ path: '/usr/sbin/cleanup.sh', vendor: 'x' }],
      'x-future-stage': [{ path: '/x' }],
    },
  });
}

describe('injectHooks', () => {
  it('appends hooks to their stages without changing the input', () => {
    const config = base();
    const result = injectHooks(config, [
      { stage: 'createRuntime', hook: bulwark },
      { stage: 'poststop', hook: bulwark },
    ]);
    expect(result.hooks?.createRuntime).toEqual([bulwark]);
    expect(result.hooks?.poststop).toEqual([{ path: '/usr/sbin/cleanup.sh', vendor: 'x' }, bulwark]);
    expect(config.hooks?.createRuntime).toBeUndefined();
  });

  it('keeps unknown fields of the config, the hooks object and the hooks', () => {
    const result = injectHooks(base(), [{ stage: 'createRuntime', hook: bulwark }]);
    expect(result['org.example.unknown']).toEqual({ keep: [1, 2] });
    expect(result.hooks?.['x-future-stage']).toEqual([{ path: '/x' }]);
    expect(result.hooks?.poststop?.[0]?.vendor).toBe('x');
  });

  it('is idempotent: the same path and args in the same stage are added once', () => {
    const once = injectHooks(base(), [{ stage: 'createRuntime', hook: bulwark }]);
    const twice = injectHooks(once, [{ stage: 'createRuntime', hook: { ...bulwark, env: ['DIFFERENT=1'] } }]);
    expect(twice).toEqual(once);
    const duplicated = injectHooks(base(), [
      { stage: 'poststart', hook: bulwark },
      { stage: 'poststart', hook: bulwark },
    ]);
    expect(duplicated.hooks?.poststart).toHaveLength(1);
  });

  it('adds the same hook with other args, or in another stage', () => {
    const result = injectHooks(base(), [
      { stage: 'createRuntime', hook: bulwark },
      { stage: 'createRuntime', hook: { ...bulwark, args: ['bulwark-hook', 'other'] } },
      { stage: 'poststop', hook: bulwark },
    ]);
    expect(result.hooks?.createRuntime).toHaveLength(2);
    expect(result.hooks?.poststop).toHaveLength(2);
  });

  it('replaces every hook with replacePath before adding (update)', () => {
    const old = injectHooks(base(), [
      { stage: 'createRuntime', hook: { path: bulwark.path, args: ['old'] } },
      { stage: 'poststop', hook: { path: bulwark.path, args: ['old'] } },
    ]);
    const updated = injectHooks(old, [{ stage: 'createRuntime', hook: bulwark }], { replacePath: bulwark.path });
    expect(updated.hooks?.createRuntime).toEqual([bulwark]);
    expect(updated.hooks?.poststop).toEqual([{ path: '/usr/sbin/cleanup.sh', vendor: 'x' }]);
  });

  it('replaces every hook `replace` picks, whatever its path, before adding', () => {
    const old = injectHooks(base(), [
      { stage: 'createRuntime', hook: { path: '/old/place/bulwark-hook', args: ['bulwark-hook', 'old'] } },
      { stage: 'poststop', hook: { path: '/old/place/bulwark-hook', args: ['bulwark-hook', 'old'] } },
    ]);
    const isOurs = (hook: Hook) => hook.args?.[0] === 'bulwark-hook';
    const updated = injectHooks(old, [{ stage: 'createRuntime', hook: bulwark }], { replace: isOurs });
    expect(updated.hooks?.createRuntime).toEqual([bulwark]);
    expect(updated.hooks?.poststop).toEqual([{ path: '/usr/sbin/cleanup.sh', vendor: 'x' }]);
    // With nothing to add, the stages it empties are dropped.
    expect(injectHooks({ ociVersion: '1.0.0', hooks: { poststop: [bulwark] } }, [], { replace: isOurs })).toEqual({ ociVersion: '1.0.0' });
  });

  it('creates hooks in a config without any', () => {
    expect(injectHooks({ ociVersion: '1.0.0' }, [{ stage: 'poststop', hook: bulwark }])).toEqual({
      ociVersion: '1.0.0',
      hooks: { poststop: [bulwark] },
    });
  });

  it('does not add an empty hooks object', () => {
    expect(injectHooks({ ociVersion: '1.0.0' }, [])).toEqual({ ociVersion: '1.0.0' });
  });

  it('copies the hooks it adds', () => {
    const hook: Hook = { path: '/h', args: ['h'] };
    const result = injectHooks({ ociVersion: '1.0.0' }, [{ stage: 'poststop', hook }]);
    hook.args?.push('changed');
    expect(result.hooks?.poststop?.[0]?.args).toEqual(['h']);
  });
});

describe('removeHooks', () => {
  it('removes a path from every stage and drops emptied stages', () => {
    const installed = injectHooks(base(), [
      { stage: 'createRuntime', hook: bulwark },
      { stage: 'poststop', hook: bulwark },
    ]);
    const removed = removeHooks(installed, bulwark.path);
    expect(removed).toEqual(base());
  });

  it('drops hooks entirely when nothing is left', () => {
    const installed = injectHooks({ ociVersion: '1.0.0' }, [{ stage: 'poststop', hook: bulwark }]);
    expect(removeHooks(installed, bulwark.path)).toEqual({ ociVersion: '1.0.0' });
  });

  it('changes nothing when the path is absent', () => {
    expect(removeHooks(base(), '/not/there')).toEqual(base());
  });
});

describe('isSameHook', () => {
  it('compares path and args; absent args equal empty args', () => {
    expect(isSameHook({ path: '/a' }, { path: '/a', args: [] })).toBe(true);
    expect(isSameHook({ path: '/a', args: ['x'] }, { path: '/a', args: ['x', 'y'] })).toBe(false);
    expect(isSameHook({ path: '/a' }, { path: '/b' })).toBe(false);
  });
});
