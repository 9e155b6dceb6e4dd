/**
 * Runs the vitest tiers given on the command line and ends with one plain
 * line, `tests: N passed, N failed, N skipped`. A skipped or pending test
 * fails the run: a host test that cannot run where it must is a failure, not
 * a skip.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const tiers = process.argv.slice(2);
if (tiers.length === 0) {
  process.stderr.write('usage: node scripts/run-tests.ts TIER [TIER ...] (unit, host)\n');
  process.exit(2);
}
const report = join(tmpdir(), `bulwark-vitest-${process.pid}.json`);
const vitest = spawnSync(
  process.execPath,
  [
    'node_modules/vitest/vitest.mjs',
    'run',
    ...tiers.flatMap((tier) => ['--project', tier]),
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
  ],
  { stdio: 'inherit' },
);

interface JsonReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
}

let summary: JsonReport | undefined;
try {
  summary = JSON.parse(readFileSync(report, 'utf8')) as JsonReport;
} catch {
  summary = undefined;
} finally {
  rmSync(report, { force: true });
}
if (summary === undefined) {
  process.stdout.write('tests: 0 passed, 1 failed (vitest wrote no report)\n');
  process.exit(vitest.status === 0 ? 1 : (vitest.status ?? 1));
}
const skipped = summary.numPendingTests + summary.numTodoTests;
process.stdout.write(`tests: ${summary.numPassedTests} passed, ${summary.numFailedTests} failed, ${skipped} skipped\n`);
if (skipped > 0) process.stderr.write(`run-tests: ${skipped} tests were skipped; every test must run here\n`);
const failed = vitest.status !== 0 || summary.numFailedTests > 0 || skipped > 0 || summary.numTotalTests === 0;
process.exit(failed ? 1 : 0);
