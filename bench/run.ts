// Entry for `npm run bench`: runs every benchmark in bench/ in turn.
import { spawnSync } from 'node:child_process';

const benches = ['bench/hook.ts', 'bench/ebpf.ts', 'bench/policy.ts'];
let failed = 0;
for (const bench of benches) {
  process.stdout.write(`\n## ${bench}\n`);
  const result = spawnSync(process.execPath, [bench, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
