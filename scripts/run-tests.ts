/**
 * Runs the test tiers given on the command line (unit, host: vitest here;
 * kernel: vitest inside the BPF-LSM guest, tools/kernel-vm/test-kernel.sh)
 * and ends with one plain line for all of them, `tests: N passed, N failed,
 * N skipped`. A skipped or pending test fails the run: a test that cannot
 * run where it must is a failure, not a skip.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const tiers = process.argv.slice(2);
if (tiers.length === 0 || tiers.some((tier) => !['unit', 'host', 'kernel'].includes(tier))) {
  process.stderr.write('usage: node scripts/run-tests.ts TIER [TIER ...] (unit, host, kernel)\n');
  process.exit(2);
}
const vitestTiers = tiers.filter((tier) => tier !== 'kernel');
interface Counts {
  passed: number;
  failed: number;
  skipped: number;
  /** The tier's own runner failed (it exited non-zero or reported nothing). */
  broken: boolean;
}

interface JsonReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
}

function runVitest(projects: readonly string[]): Counts {
  const report = join(tmpdir(), `bulwark-vitest-${process.pid}.json`);
  const vitest = spawnSync(
    process.execPath,
    [
      'node_modules/vitest/vitest.mjs',
      'run',
      ...projects.flatMap((tier) => ['--project', tier]),
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
    ],
    { stdio: 'inherit' },
  );
  try {
    const summary = JSON.parse(readFileSync(report, 'utf8')) as JsonReport;
    return {
      passed: summary.numPassedTests,
      failed: summary.numFailedTests,
      skipped: summary.numPendingTests + summary.numTodoTests,
      broken: vitest.status !== 0 || summary.numTotalTests === 0,
    };
  } catch {
    process.stderr.write('run-tests: vitest wrote no report\n');
    return { passed: 0, failed: 0, skipped: 0, broken: true };
  } finally {
    rmSync(report, { force: true });
  }
}

/** The kernel tier runs in the guest; its script ends with the same plain line, which is read back here. */
function runKernelTier(): Counts {
  const result = spawnSync('tools/kernel-vm/test-kernel.sh', [], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  process.stdout.write(result.stdout ?? '');
  const lines = (result.stdout ?? '').trim().split('\n');
  const match = /^tests: (\d+) passed, (\d+) failed, (\d+) skipped$/.exec(lines[lines.length - 1] ?? '');
  if (match === null) {
    process.stderr.write('run-tests: the kernel tier printed no summary\n');
    return { passed: 0, failed: 0, skipped: 0, broken: true };
  }
  return { passed: Number(match[1]), failed: Number(match[2]), skipped: Number(match[3]), broken: result.status !== 0 };
}

const results: Counts[] = [];
if (vitestTiers.length > 0) results.push(runVitest(vitestTiers));
if (tiers.includes('kernel')) results.push(runKernelTier());
const total = results.reduce(
  (sum, counts) => ({
    passed: sum.passed + counts.passed,
    failed: sum.failed + counts.failed,
    skipped: sum.skipped + counts.skipped,
    broken: sum.broken || counts.broken,
  }),
  { passed: 0, failed: 0, skipped: 0, broken: false },
);
if (total.skipped > 0) process.stderr.write(`run-tests: ${total.skipped} tests were skipped; every test must run here\n`);
// A failure with no failed test counted (a crashed runner) still counts as one.
const failed = total.failed + (total.broken && total.failed === 0 ? 1 : 0);
process.stdout.write(`tests: ${total.passed} passed, ${failed} failed, ${total.skipped} skipped\n`);
process.exit(failed > 0 || total.skipped > 0 ? 1 : 0);
