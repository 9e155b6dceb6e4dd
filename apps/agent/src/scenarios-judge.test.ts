/**
 * The scenario runner's reading and judging (test-support/scenarios.ts), in
 * the unit tier: the corpus is read as KubeArmor's script reads it, and a
 * judgement fails for each way enforcement can regress (the command's exit
 * status, an alert missing, with the wrong action or result, or one that
 * must not be there). The kernel tier runs the same judge on real runs
 * (scenarios.kernel.test.ts).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repositoryRoot } from '../../../test-support/containers.js';
import { addressesNamed, alertKey, checkAlertFields, policySpecField, expectationOf, judgeCommand, loadScenarios, parseCommandFile, type Scenario } from '../../../test-support/scenarios.js';

const corpus = process.env.BULWARK_CORPUS === undefined ? join(repositoryRoot, '..', 'shared', 'corpus', 'kubearmor-scenarios') : join(process.env.BULWARK_CORPUS, 'kubearmor-scenarios');

const scenario = (policyName: string): Scenario => ({ name: 's', policyFile: `ksp-${policyName}.yaml`, policyText: '', policyName, kind: 'container', commands: [] });
const command = (fields: string) => parseCommandFile(`source: ubuntu-1-deployment\n${fields}`, 'cmd1');
const alert = (fields: Record<string, unknown>) => ({ containerID: 'c', operation: 'File', source: '/bin/cat', ...fields });

describe('reading the corpus', () => {
  it('finds the 14 scenarios, their kinds, policy names and commands', async () => {
    const scenarios = await loadScenarios(corpus);
    expect(scenarios.map((found) => found.name)).toEqual(Array.from({ length: 14 }, (_, index) => `github_test_${String(index + 1).padStart(2, '0')}`));
    expect(scenarios.map((found) => found.commands.length)).toEqual([2, 2, 3, 2, 2, 4, 4, 6, 1, 2, 2, 3, 1, 2]);
    expect(scenarios.filter((found) => found.kind === 'native').map((found) => found.name)).toEqual(['github_test_11']);
    // The name alerts carry is metadata.name, typo and all, not the file's.
    expect(scenarios[3]!.policyName).toBe('ksp-ubutnu-1-file-path-block-from-source');
    expect(scenarios[0]!.commands[1]).toEqual({ name: 'cmd2', source: 'ubuntu-1-deployment', container: 'ubuntu-1', cmd: 'dash -c "ls"', result: 'failed', operation: 'Process', condition: 'ls', action: 'Block' });
  });

  it('refuses a command file without a field or with an unknown result', () => {
    expect(() => parseCommandFile('source: ubuntu-1-deployment\ncmd: ls\nresult: passed\n', 'cmd9')).toThrow("cmd9: no 'operation:' line");
    expect(() => command('cmd: ls\nresult: maybe\noperation: File\ncondition: x\naction: Block')).toThrow("result 'maybe'");
  });

  it('names the public addresses to put on lo, not loopback ones or names', () => {
    expect(addressesNamed(['curl 142.250.193.46', 'wget --tries=1 142.250.193.46', 'ping -c 1 127.0.0.1', 'curl google.com', 'echo 1.2.3.999'])).toEqual(['142.250.193.46']);
  });
});

describe('expectations, as KubeArmor\'s script derives them', () => {
  const policy = scenario('p');
  it('Block, Audit and Allow lines', () => {
    expect(expectationOf(policy, command('cmd: x\nresult: failed\noperation: File\ncondition: /a\naction: Block'), 'block')).toMatchObject({ result: 'failed', policyName: 'p', action: 'Block', alert: 'blocked' });
    expect(expectationOf(policy, command('cmd: x\nresult: passed\noperation: File\ncondition: /a\naction: Block'), 'block')).toMatchObject({ result: 'passed', alert: 'none' });
    expect(expectationOf(policy, command('cmd: x\nresult: passed\noperation: File\ncondition: /a\naction: Audit'), 'block')).toMatchObject({ result: 'passed', action: 'Audit', alert: 'passed' });
    expect(expectationOf(policy, command('cmd: x\nresult: passed\noperation: File\ncondition: /a\naction: Allow'), 'block')).toMatchObject({ result: 'passed', alert: 'none' });
  });

  it('default lines by the posture', () => {
    const line = command('cmd: x\nresult: default\noperation: File\ncondition: /a\naction: default');
    expect(expectationOf(policy, line, 'block')).toMatchObject({ result: 'failed', policyName: 'DefaultPosture', action: 'Block', alert: 'blocked' });
    expect(expectationOf(policy, line, 'audit')).toMatchObject({ result: 'passed', policyName: 'DefaultPosture', action: 'Audit', alert: 'passed' });
    expect(expectationOf(policy, line, 'allow')).toMatchObject({ result: 'passed', policyName: 'DefaultPosture', action: 'Allow', alert: 'none' });
    // A native profile's `default` Block line.
    expect(expectationOf(policy, command('cmd: x\nresult: default\noperation: File\ncondition: /a\naction: Block'), 'audit')).toMatchObject({ result: 'failed', policyName: 'DefaultPosture', alert: 'blocked' });
  });
});

describe('judging a run', () => {
  const policy = scenario('p');
  const blocked = expectationOf(policy, command('cmd: cat /etc/shadow\nresult: failed\noperation: File\ncondition: /etc/shadow\naction: Block'), 'audit');
  const audited = expectationOf(policy, command('cmd: cat /c\nresult: passed\noperation: File\ncondition: /c\naction: Audit'), 'audit');
  const spared = expectationOf(policy, command('cmd: cat /etc/hostname\nresult: passed\noperation: File\ncondition: /etc/hostname\naction: Block'), 'audit');
  const posture = expectationOf(policy, command('cmd: wget 127.0.0.1\nresult: default\noperation: Network\ncondition: SOCK_STREAM\naction: default'), 'audit');
  const refused = { status: 1, output: 'cat: /etc/shadow: Operation not permitted\n' };
  const blockAlert = alert({ policyName: 'p', resource: '/etc/shadow', action: 'Block', result: 'Permission denied' });

  it('passes a refused command with its blocking alert', () => {
    expect(judgeCommand(blocked, refused, [blockAlert])).toMatchObject({ pass: true, problems: [] });
  });

  it('fails when the command ran, the alert is missing, or the alert is another policy\'s, action\'s or result\'s', () => {
    expect(judgeCommand(blocked, { status: 0, output: 'root:*:\n' }, [blockAlert]).problems).toEqual([expect.stringMatching(/^the command passed \(exit 0\), expected failed/u)]);
    expect(judgeCommand(blocked, refused, []).problems).toEqual([expect.stringMatching(/^no blocked alert p File '\/etc\/shadow' Block/u)]);
    expect(judgeCommand(blocked, refused, [{ ...blockAlert, policyName: 'q' }]).pass).toBe(false);
    expect(judgeCommand(blocked, refused, [{ ...blockAlert, action: 'Audit' }]).pass).toBe(false);
    expect(judgeCommand(blocked, refused, [{ ...blockAlert, result: 'Passed' }]).pass).toBe(false);
    expect(judgeCommand(blocked, refused, [{ ...blockAlert, operation: 'Process' }]).pass).toBe(false);
    expect(judgeCommand(blocked, refused, [{ ...blockAlert, resource: '/etc/passwd' }]).pass).toBe(false);
  });

  it('wants an Audit alert with result Passed for Audit lines', () => {
    const audit = alert({ policyName: 'p', resource: '/c', action: 'Audit', result: 'Passed' });
    expect(judgeCommand(audited, { status: 0, output: '' }, [audit]).pass).toBe(true);
    expect(judgeCommand(audited, { status: 0, output: '' }, [{ ...audit, action: 'Block', result: 'Permission denied' }]).pass).toBe(false);
    expect(judgeCommand(audited, { status: 1, output: '' }, [audit]).pass).toBe(false);
  });

  it('fails a passed Block line on any alert of the policy for that resource', () => {
    expect(judgeCommand(spared, { status: 0, output: '' }, []).pass).toBe(true);
    expect(judgeCommand(spared, { status: 0, output: '' }, [alert({ policyName: 'p', resource: '/etc/hostname', action: 'Block', result: 'Permission denied' })]).problems).toEqual([
      expect.stringMatching(/^an alert that must not be there: p File Block/u),
    ]);
    // Another resource, or the posture's alert, is not this policy's.
    expect(judgeCommand(spared, { status: 0, output: '' }, [alert({ policyName: 'DefaultPosture', resource: '/etc/hostname', action: 'Audit', result: 'Passed' })]).pass).toBe(true);
  });

  it('does not count for the command an alert its shell raises by itself', () => {
    const shells = alert({ policyName: 'DefaultPosture', operation: 'Network', resource: 'domain=AF_UNIX type=SOCK_STREAM protocol=0', source: '/bin/bash', action: 'Audit', result: 'Passed' });
    const wgets = alert({ policyName: 'DefaultPosture', operation: 'Network', resource: 'domain=AF_INET type=SOCK_STREAM protocol=0', source: '/usr/bin/wget', action: 'Audit', result: 'Passed' });
    const baseline = new Set([alertKey(shells)]);
    expect(judgeCommand(posture, { status: 0, output: '' }, [shells], baseline).problems).toEqual([expect.stringContaining('[the shell raises it by itself]')]);
    expect(judgeCommand(posture, { status: 0, output: '' }, [shells, wgets], baseline)).toMatchObject({ pass: true, got: expect.stringContaining('domain=AF_INET type=SOCK_STREAM protocol=0 (from /usr/bin/wget)') });
  });
});

describe('the alert fields the runner set up', () => {
  const text = 'apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: p\nspec:\n  severity: 5\n  message: "block it"\n  selector:\n    matchLabels:\n      message: nope\n';
  const policy: Scenario = { ...scenario('p'), policyText: text };
  const good = alert({ containerID: 'c', namespaceName: 'github', enforcer: 'BPFLSM', labels: 'container=ubuntu-1,group=group-1', policyName: 'p', type: 'MatchedPolicy', severity: '5', message: 'block it' });
  const want = { containerId: 'c', namespace: 'github', labels: { container: 'ubuntu-1', group: 'group-1' }, scenario: policy };

  it('reads severity and message from the spec, not from deeper keys', () => {
    expect(policySpecField(text, 'severity')).toBe('5');
    expect(policySpecField(text, 'message')).toBe('block it');
    expect(policySpecField('spec:\n  selector: {}\n', 'message')).toBeUndefined();
  });

  it('passes the alert that says it all, and names each field that differs', () => {
    expect(checkAlertFields(good, want)).toEqual([]);
    expect(checkAlertFields({ ...good, severity: '7', namespaceName: 'default', labels: 'container=ubuntu-2' }, want)).toEqual([
      'alert namespaceName: expected "github", got "default"',
      'alert labels: expected container=ubuntu-1 in "container=ubuntu-2"',
      'alert labels: expected group=group-1 in "container=ubuntu-2"',
      'alert severity: expected "5", got "7"',
    ]);
    // The posture's alert carries no policy severity or message to compare.
    expect(checkAlertFields({ ...good, policyName: 'DefaultPosture', severity: undefined, message: undefined, type: 'MatchedPolicy' }, want)).toEqual([]);
  });
});
