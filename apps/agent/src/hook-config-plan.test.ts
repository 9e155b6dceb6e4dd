import { describe, expect, it } from 'vitest';
import { defaultHookConfig, parseHookConfig } from '@bulwark/hook-client';
import { formatValue, planHookConfig } from './hook-config-plan.js';

const closed = parseHookConfig(
  JSON.stringify({ version: 1, failMode: 'closed', socket: '/run/a.sock', allow: { namespaces: ['kube-system'], names: ['bulwark-agent'] }, stdinTimeoutMs: 700 }),
);

describe('planHookConfig', () => {
  it('a fresh configuration: the defaults, with the values given', () => {
    const plan = planHookConfig(undefined, { failMode: 'closed', allowNames: ['agent'] });
    expect(plan.config).toEqual({ ...defaultHookConfig(), failMode: 'closed', allow: { namespaces: [], names: ['agent'] } });
    expect(plan.changes).toEqual([]);
    expect(plan.weakenings).toEqual([]);
  });

  it('an existing one keeps every value not given, a hand-set one (stdinTimeoutMs) included', () => {
    const plan = planHookConfig(closed, {});
    expect(plan.config).toEqual(closed);
    expect(plan.changes).toEqual([]);
    expect(plan.weakenings).toEqual([]);
  });

  it('lists each changed key and each weakening', () => {
    const plan = planHookConfig(closed, { failMode: 'open', allowNames: [], log: '', timeoutMs: 4000 });
    expect(plan.changes).toEqual([
      { key: 'failMode', from: 'closed', to: 'open' },
      { key: 'allow.names', from: ['bulwark-agent'], to: [] },
      { key: 'log', from: '/var/log/bulwark/hook.log', to: '' },
      { key: 'timeoutMs', from: 5000, to: 4000 },
    ]);
    expect(plan.weakenings).toEqual([
      '--fail-mode open turns fail-closed into fail-open (containers would start when the agent cannot be asked)',
      '--allow-name drops bulwark-agent from the allow-list (it would no longer always start)',
      "--log '' turns the hook's log off (its verdicts would go unrecorded)",
    ]);
  });

  it('tightening is no weakening: fail-open to fail-closed', () => {
    const open = parseHookConfig('{"version": 1}');
    expect(planHookConfig(open, { failMode: 'closed' }).weakenings).toEqual([]);
  });

  it('formats values as the install output shows them', () => {
    expect([formatValue(''), formatValue('closed'), formatValue([]), formatValue(['a', 'b']), formatValue(5000)]).toEqual(["''", 'closed', '[]', '[a, b]', '5000']);
  });
});
