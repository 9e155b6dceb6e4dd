/**
 * KubeArmor's 14 enforcement scenarios (../shared/corpus/kubearmor-scenarios,
 * or the directory BULWARK_SCENARIOS names) end to end in the BPF-LSM
 * guest: the built agent with `enforcement: required`, each scenario's
 * policy written into the directory it watches, and every cmdN run as
 * `bash -c "<cmd>"` in a fresh runc container labelled as the scenario's
 * source (test-support/scenarios.ts builds the workload and judges as
 * KubeArmor's scenario script does: the exit status, and the alert with the
 * policy, operation, resource and action that must or must not be there).
 *
 * The default posture is `audit` for files, network and capabilities (or
 * BULWARK_SCENARIO_POSTURE), so `result: default` lines want the command to
 * pass with a DefaultPosture Audit alert. With `block`, a category with an
 * Allow rule is an allow-list for the whole container, the shell's own
 * library loads included, and github_test_05 and _06 cannot pass: see
 * docs/scenarios.md.
 *
 * The native AppArmor scenario (nsp-) is run and reported as not enforced:
 * `bulwark policy validate` says so, and nothing it names is decided.
 * The table of results is printed at the end, and written to
 * BULWARK_SCENARIO_REPORT when that is set.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTemporaryDirectory, removeDirectory, repositoryRoot, requireBuild } from '../../../test-support/containers.js';
import { alertSchema } from '@bulwark/alerts';
import { checkAlertFields, formatScenarioTable, loadScenarios, multiubuntuLabels, ScenarioRunner, type CommandOutcome, type DefaultPosture } from '../../../test-support/scenarios.js';

const POSTURE = (process.env.BULWARK_SCENARIO_POSTURE ?? 'audit') as DefaultPosture;
if (!['audit', 'block', 'allow'].includes(POSTURE)) throw new Error(`BULWARK_SCENARIO_POSTURE: expected audit, block or allow, got ${POSTURE}`);
const directory = process.env.BULWARK_SCENARIOS ?? join(repositoryRoot, '..', 'shared', 'corpus', 'kubearmor-scenarios');
const scenarios = await loadScenarios(directory);
const outcomes: CommandOutcome[] = [];
let alertsChecked = 0;
const fileStarted = performance.now();
let runner: ScenarioRunner;
let work: string;

beforeAll(async () => {
  await requireBuild();
  work = await makeTemporaryDirectory('scenarios');
  runner = new ScenarioRunner({ work, scenarios, posture: POSTURE, bpffsDirectory: `/sys/fs/bpf/bulwark-scenarios-${process.pid}` });
  await runner.start();
  console.log(`scenario runner started (rootfs ${runner.rootfsFrom ?? '?'}): ${JSON.stringify(runner.timings)} ms`);
});

afterAll(async () => {
  if (outcomes.length > 0) {
    const table = formatScenarioTable(outcomes, POSTURE);
    console.log(`\n${table}\n${alertsChecked} alerts validated against alertSchema; the file took ${Math.round((performance.now() - fileStarted) / 1000)} s in all`);
    if (process.env.BULWARK_SCENARIO_REPORT !== undefined) await writeFile(process.env.BULWARK_SCENARIO_REPORT, table);
  }
  await runner?.stop();
  if (work !== undefined) await removeDirectory(work);
});

describe('the KubeArmor scenarios', () => {
  it('are the 13 container-policy scenarios and one native AppArmor one', () => {
    if (process.env.BULWARK_SCENARIOS !== undefined) return;
    expect(scenarios.filter((scenario) => scenario.kind === 'container')).toHaveLength(13);
    expect(scenarios.filter((scenario) => scenario.kind === 'native').map((scenario) => scenario.name)).toEqual(['github_test_11']);
  });

  for (const scenario of scenarios) {
    describe(`${scenario.name} (${scenario.policyFile})`, () => {
      beforeAll(async () => {
        await runner.applyPolicy(scenario);
      });

      if (scenario.kind === 'native') {
        it('is reported as not enforced: a native AppArmor profile', async () => {
          const notEnforced = await runner.notEnforced(scenario);
          expect(notEnforced.map((item) => item.field)).toEqual(['apparmor']);
          expect(notEnforced[0]!.why).toMatch(/AppArmor/u);
        });
      }

      for (const command of scenario.commands) {
        it(`${command.name}: ${command.cmd}`, async () => {
          const outcome = await runner.runCommand(scenario, command);
          outcomes.push(outcome);
          if (scenario.kind === 'native') {
            for (const alert of await runner.alertsOf(outcome.containerId)) expect(alertSchema.safeParse(alert).error?.issues ?? []).toEqual([]);
            // Not enforced means nothing: the container has no scope, and no alert names the policy.
            expect(runner.agent.logLines().some((line) => line.message === 'enforcing' && line.id === outcome.containerId)).toBe(false);
            expect((await runner.alertsOf(outcome.containerId)).filter((alert) => alert.policyName === scenario.policyName)).toEqual([]);
            return;
          }
          expect(outcome.judgement?.problems, `${outcome.judgement?.expected ?? ''}\n${outcome.run?.output ?? ''}`).toEqual([]);
          // Every alert of the container is a documented alert, and the one the command wanted says what the scenario set up.
          const alerts = await runner.alertsOf(outcome.containerId);
          for (const alert of alerts) expect(alertSchema.safeParse(alert).error?.issues ?? [], JSON.stringify(alert)).toEqual([]);
          if (outcome.expectation?.alert !== 'none') {
            expect(checkAlertFields(outcome.judgement!.alert!, { containerId: outcome.containerId, namespace: 'github', labels: multiubuntuLabels(command.container), scenario })).toEqual([]);
          }
          alertsChecked += alerts.length;
        });
      }
    });
  }
});
