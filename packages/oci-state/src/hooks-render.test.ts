import { describe, expect, it } from 'vitest';
import { parseHookFile } from './hooks-file.js';
import { renderHookFile } from './hooks-render.js';

describe('renderHookFile', () => {
  it('renders a 1.0.0 file that always matches by default', () => {
    expect(renderHookFile({ path: '/usr/libexec/bulwark/hook', stages: ['createRuntime', 'poststop'] })).toBe(
      '{\n  "version": "1.0.0",\n  "hook": {\n    "path": "/usr/libexec/bulwark/hook"\n  },\n  "when": {\n    "always": true\n  },\n  "stages": [\n    "createRuntime",\n    "poststop"\n  ]\n}\n',
    );
  });

  it('round-trips through parseHookFile with args, env, timeout and conditions', () => {
    const text = renderHookFile({
      path: '/usr/libexec/bulwark/hook',
      args: ['bulwark-hook', 'create'],
      env: ['BULWARK_SOCKET=/run/bulwark/agent.sock'],
      timeout: 5,
      stages: ['createRuntime'],
      when: { annotations: { '^bulwark\\.io/profile$': '.+' } },
    });
    expect(parseHookFile(text, 'bulwark.json')).toEqual({
      version: '1.0.0',
      hook: {
        path: '/usr/libexec/bulwark/hook',
        args: ['bulwark-hook', 'create'],
        env: ['BULWARK_SOCKET=/run/bulwark/agent.sock'],
        timeout: 5,
      },
      when: { annotations: { '^bulwark\\.io/profile$': '.+' } },
      stages: ['createRuntime'],
      matchMode: 'all',
      source: 'bulwark.json',
    });
  });

  it('refuses what would not load', () => {
    expect(() => renderHookFile({ path: 'hook', stages: ['poststop'] })).toThrow('hook.path: hook path must be an absolute path');
    expect(() => renderHookFile({ path: '/h', stages: [] })).toThrow('at least one stage is required');
    expect(() => renderHookFile({ path: '/h', stages: ['poststop'], when: {} })).toThrow('when: at least one condition is required');
    expect(() => renderHookFile({ path: '/h', stages: ['poststop'], when: { commands: ['(?=x)'] } })).toThrow(/lookahead/u);
    expect(() => renderHookFile({ path: '/h', stages: ['poststop'], timeout: 0 })).toThrow(/hook\.timeout/u);
  });
});
