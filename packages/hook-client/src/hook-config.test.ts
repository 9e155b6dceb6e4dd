import { describe, expect, it } from 'vitest';
import { ValidationError } from '@bulwark/errors';
import { AgentRefusedError, AgentUnreachableError } from './client.js';
import { decideVerdict, defaultHookConfig, isAllowListed, parseHookConfig, renderHookConfig } from './hook-config.js';

describe('hook configuration', () => {
  it('fills defaults: fail open, default socket and log', () => {
    expect(defaultHookConfig()).toEqual({
      version: 1,
      socket: '/run/bulwark/hook.sock',
      failMode: 'open',
      allow: { namespaces: [], names: [] },
      log: '/var/log/bulwark/hook.log',
      connectTimeoutMs: 250,
      timeoutMs: 5000,
      stdinTimeoutMs: 1000,
    });
  });

  it('rejects bad files with the field that is wrong', () => {
    expect(() => parseHookConfig('{"version":1,"failMode":"sometimes"}', 'hook.json')).toThrow(ValidationError);
    expect(() => parseHookConfig('{"version":1,"failMode":"sometimes"}', 'hook.json')).toThrow(/^hook\.json: failMode: /);
    expect(() => parseHookConfig('{"version":1,"socket":"relative.sock"}')).toThrow(/socket: must be an absolute path/);
    expect(() => parseHookConfig('{"version":1,"allow":{"names":["x"],"extra":1}}')).toThrow(/allow/);
    expect(() => parseHookConfig('{"version":2}')).toThrow(/version/);
    expect(() => parseHookConfig('{"version":1,"timeoutMs":100,"connectTimeoutMs":200}')).toThrow(/timeoutMs: must not be shorter/);
    expect(() => parseHookConfig('{"version":1,')).toThrow(/not valid json/);
  });

  it('renders only what it can read back', () => {
    const text = renderHookConfig({ version: 1, failMode: 'closed', allow: { namespaces: ['kube-system'] } });
    expect(parseHookConfig(text)).toMatchObject({ failMode: 'closed', allow: { namespaces: ['kube-system'], names: [] } });
    expect(() => renderHookConfig({ version: 1, timeoutMs: -5 })).toThrow(ValidationError);
  });

  it('allow-lists by pod namespace, container name or pod name', () => {
    const config = parseHookConfig('{"version":1,"allow":{"namespaces":["kube-system"],"names":["bulwark-agent"]}}');
    expect(isAllowListed(config, { podNamespace: 'kube-system' })).toBe(true);
    expect(isAllowListed(config, { name: 'bulwark-agent' })).toBe(true);
    expect(isAllowListed(config, { podName: 'bulwark-agent' })).toBe(true);
    expect(isAllowListed(config, { name: 'web', podNamespace: 'default' })).toBe(false);
    expect(isAllowListed(config, {})).toBe(false);
  });

  it('decides by fail mode, allow-list and refusal', () => {
    const open = defaultHookConfig();
    const closed = { ...open, failMode: 'closed' as const };
    const down = new AgentUnreachableError('/run/bulwark/hook.sock', 'ENOENT');
    const refused = new AgentRefusedError('refused', 'no policy for image');
    const internal = new AgentRefusedError('internal', 'disk full');
    expect(decideVerdict(open, false, undefined)).toEqual({ start: true, why: 'registered' });
    expect(decideVerdict(open, false, down)).toEqual({ start: true, why: 'fail-open' });
    expect(decideVerdict(closed, false, down)).toEqual({
      start: false,
      why: 'fail-closed',
      reason: 'agent unreachable at /run/bulwark/hook.sock: no such file or directory',
    });
    expect(decideVerdict(closed, true, down)).toEqual({ start: true, why: 'allow-listed' });
    expect(decideVerdict(open, false, refused)).toMatchObject({ start: false, why: 'refused' });
    expect(decideVerdict(open, true, refused)).toEqual({ start: true, why: 'allow-listed' });
    expect(decideVerdict(open, false, internal)).toEqual({ start: true, why: 'fail-open' });
    expect(decideVerdict(closed, false, internal)).toMatchObject({ start: false, why: 'fail-closed', reason: 'agent failed: disk full' });
  });
});
