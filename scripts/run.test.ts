import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The README's entry point: an unknown task is named with what there is, before any set-up runs.
const run = fileURLToPath(new URL('../run', import.meta.url));

describe('./run', () => {
  it('refuses an unknown task with one line naming it and the tasks there are, exit 2, without setting up', () => {
    const result = spawnSync('bash', [run, 'bogus'], { encoding: 'utf8', timeout: 10_000 });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^run: no task 'bogus': use demo, test, or an npm script \(.*\btypecheck\b.*\)$/u);
    // Not an npm script by a prefix or a pattern.
    expect(spawnSync('bash', [run, 'type'], { encoding: 'utf8', timeout: 10_000 }).status).toBe(2);
    expect(spawnSync('bash', [run, '.*'], { encoding: 'utf8', timeout: 10_000 }).status).toBe(2);
  });

  it('prints its usage for no task and for --help', () => {
    for (const args of [[], ['--help']]) {
      const result = spawnSync('bash', [run, ...args], { encoding: 'utf8', timeout: 10_000 });
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/^Entry point for newcomers and CI:\n {2}\.\/run demo /u);
    }
  });
});
