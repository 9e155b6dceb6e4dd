/**
 * KubeArmor's 14 enforcement scenarios (../shared/corpus/kubearmor-scenarios):
 * each scenario's policy is compiled for the container the commands run in
 * (ubuntu-1 of the multiubuntu workload), and each command's operation on
 * the resource its alert names is decided from the compiled set. What is
 * expected comes from the cmdN files themselves (result and action, judged
 * as KubeArmor's scenario script judges them); this file says only what
 * operation each command performs, as the kernel sees it. The kernel proof
 * of the same scenarios belongs to the agent's end-to-end tier.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { corpusPath } from './__fixtures__/corpus.js';
import { compilePolicies, type PostureSetting } from './compile.js';
import type { Query } from './decide.js';
import { explain } from './explain.js';
import { parsePolicies } from './parse.js';
import { AF_INET, AF_PACKET, IPPROTO_ICMP, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM } from './resources.js';
import { selectPolicies, type Workload } from './select.js';

const ETH_P_ALL_NETWORK_ORDER = 0x0300; // htons(ETH_P_ALL), what arping passes socket(AF_PACKET, SOCK_RAW, ...)
const CAP_NET_RAW = 13;

const ubuntu = (index: number): Workload => ({
  kind: 'container',
  name: `ubuntu-${index}`,
  namespace: 'github',
  pod: `ubuntu-${index}-deployment`,
  labels: { group: index <= 3 ? 'group-1' : 'group-2', container: `ubuntu-${index}` },
});

const read = (path: string, source: string, owner = false): Query => ({ operation: 'read', path, source, owner });
const write = (path: string, source: string, owner = false): Query => ({ operation: 'write', path, source, owner });
const exec = (path: string, source: string): Query => ({ operation: 'exec', path, source });
const tcp = (source: string): Query => ({ operation: 'socket', family: AF_INET, type: SOCK_STREAM, protocol: 0, source });
const dns = (source: string): Query => ({ operation: 'socket', family: AF_INET, type: SOCK_DGRAM, protocol: 0, source });
const arping: Query = { operation: 'socket', family: AF_PACKET, type: SOCK_RAW, protocol: ETH_P_ALL_NETWORK_ORDER, source: '/usr/sbin/arping' };

/**
 * What each command does to the resource its alert is about. `su - user1`
 * runs the command as user1, who owns everything in /home/user1; `echo >>`
 * is bash's own open for writing.
 */
const OPERATIONS: Record<string, Record<string, readonly Query[]>> = {
  github_test_01: { cmd1: [exec('/usr/bin/uname', '/bin/dash')], cmd2: [exec('/bin/ls', '/bin/dash')] },
  github_test_02: { cmd1: [read('/credentials/password', '/bin/cat')], cmd2: [read('/credentials/keys/priv.key', '/bin/cat')] },
  github_test_03: { cmd1: [read('/etc/shadow', '/bin/cat')], cmd2: [read('/etc/gshadow', '/bin/cat')], cmd3: [read('/etc/hostname', '/bin/cat')] },
  github_test_04: { cmd1: [read('/secret.txt', '/bin/cat')], cmd2: [read('/etc/hostname', '/bin/cat')] },
  github_test_05: { cmd1: [read('/secret.txt', '/bin/cat')], cmd2: [read('/etc/hosts', '/bin/cat')] },
  github_test_06: {
    cmd1: [read('/home/user1/secret_data1.txt', '/bin/cat', true)],
    cmd2: [write('/home/user1/secret_data1.txt', '/bin/bash', true)],
    cmd3: [read('/home/user1/secret_data1.txt', '/bin/cat')],
    cmd4: [write('/home/user1/secret_data1.txt', '/bin/bash')],
  },
  github_test_07: {
    cmd1: [read('/home/user1/dir1/key1.txt', '/bin/cat')],
    cmd2: [read('/home/user1/dir1/key1.txt', '/bin/cat', true)],
    cmd3: [write('/home/user1/dir1/key1.txt', '/bin/bash')],
    cmd4: [write('/home/user1/dir1/key1.txt', '/bin/bash', true)],
  },
  github_test_08: {
    cmd1: [read('/home/user1/secret_data1.txt', '/bin/cat', true)],
    cmd2: [write('/home/user1/secret_data1.txt', '/bin/bash', true)],
    cmd3: [read('/home/user1/otherfile.txt', '/bin/cat', true)],
    cmd4: [write('/home/user1/otherfile.txt', '/bin/bash', true)],
    cmd5: [read('/home/user1/secret_data1.txt', '/bin/cat')],
    cmd6: [write('/home/user1/secret_data1.txt', '/bin/bash')],
  },
  // ping opens an ICMP datagram socket where ping_group_range lets it, a raw one otherwise: both are icmp.
  github_test_09: {
    cmd1: [
      { operation: 'socket', family: AF_INET, type: SOCK_DGRAM, protocol: IPPROTO_ICMP, source: '/usr/bin/ping' },
      { operation: 'socket', family: AF_INET, type: SOCK_RAW, protocol: IPPROTO_ICMP, source: '/usr/bin/ping' },
    ],
  },
  github_test_10: { cmd1: [tcp('/usr/bin/curl')], cmd2: [arping, { operation: 'capability', capability: CAP_NET_RAW, source: '/usr/sbin/arping' }] },
  github_test_11: { cmd1: [read('/etc/shells', '/bin/cat')], cmd2: [read('/etc/hostname', '/bin/cat')] },
  github_test_12: { cmd1: [tcp('/usr/bin/curl')], cmd2: [dns('/usr/bin/curl')], cmd3: [tcp('/usr/bin/wget')] },
  github_test_13: { cmd1: [arping] },
  github_test_14: { cmd1: [arping], cmd2: [tcp('/usr/bin/curl')] },
};

interface Command {
  name: string;
  result: 'passed' | 'failed' | 'default';
  action: 'Block' | 'Audit' | 'Allow' | 'default';
  operation: string;
  condition: string;
}

function readCommand(file: string): Command {
  const fields: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^(\w+):\s*(.*)$/u.exec(line);
    if (match !== null) fields[match[1]!] = match[2]!.trim();
  }
  return { name: file, result: fields.result as Command['result'], action: fields.action as Command['action'], operation: fields.operation!, condition: fields.condition! };
}

/** The verdicts KubeArmor's script accepts for a command, with the posture a `default` line is judged by. */
function expectedVerdicts(command: Command, posture: PostureSetting): string[] {
  if (command.action === 'default' || (command.action === 'Allow' && command.result === 'failed')) return [posture === 'audit' ? 'posture-audit' : 'posture-block'];
  if (command.action === 'Block') return command.result === 'failed' ? ['block'] : ['allow', 'audit'];
  if (command.action === 'Audit') return ['audit'];
  return ['allow'];
}

const scenariosRoot = corpusPath('kubearmor-scenarios');
const scenarios = readdirSync(scenariosRoot).sort();

describe('KubeArmor scenarios', () => {
  it('has the 14 scenarios this file describes', () => {
    expect(scenarios).toEqual(Object.keys(OPERATIONS));
  });

  for (const scenario of scenarios) {
    const folder = join(scenariosRoot, scenario);
    const files = readdirSync(folder).sort();
    const policyFile = files.find((name) => name.endsWith('.yaml'))!;
    const commands = files.filter((name) => /^cmd\d+$/u.test(name));
    const native = policyFile.startsWith('nsp-');

    describe(`${scenario} (${policyFile})`, () => {
      const parsed = parsePolicies(readFileSync(join(folder, policyFile), 'utf8'), policyFile);
      it('parses and selects ubuntu-1 only', () => {
        expect(parsed.errors.map((error) => error.message)).toEqual([]);
        expect(parsed.policies).toHaveLength(1);
        expect(selectPolicies(parsed.policies, ubuntu(1))).toHaveLength(1);
        for (const other of [2, 3, 4, 5]) expect(selectPolicies(parsed.policies, ubuntu(other))).toHaveLength(0);
      });

      if (native) {
        it('reports the native AppArmor profile as not enforced, and enforces nothing', () => {
          const compiled = compilePolicies(parsed.policies, ubuntu(1));
          expect(compiled.rules).toHaveLength(0);
          expect(compiled.notEnforced.map((item) => item.field)).toEqual(['apparmor']);
          expect(explain(compiled).notEnforced[0]!.why).toMatch(/AppArmor/u);
        });
        return;
      }

      for (const posture of ['block', 'audit'] as const) {
        const compiled = compilePolicies(parsed.policies, ubuntu(1), { postures: { file: posture, network: posture, capabilities: posture } });
        for (const name of commands) {
          const command = readCommand(join(folder, name));
          const queries = OPERATIONS[scenario]![name]!;
          it(`${name} with ${posture} posture: ${command.operation} ${command.condition} -> ${expectedVerdicts(command, posture).join(' or ')}`, () => {
            expect(queries.length).toBeGreaterThan(0);
            const explained = explain(compiled, queries);
            for (const decision of explained.decisions) {
              expect(expectedVerdicts(command, posture), decision.text).toContain(decision.decision.verdict);
              // A decision by a rule names the scenario's policy.
              if (decision.decision.by === 'rule') expect(decision.decision.rule.origin.policy).toBe(parsed.policies[0]!.name);
            }
          });
        }
      }
    });
  }
});
