import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The `bulwark` command scripts/setup.sh writes into .tools/bin (issue 11
 * item 13): the checkout's CLI on the Node given, from any checkout path.
 * A stand-in bundle prints what it was run with, so the test needs no build.
 */
const script = fileURLToPath(new URL('write-bulwark-command.sh', import.meta.url));
let work: string;

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "bulwark command's test "));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

describe('the bulwark command', () => {
  it('runs the checkout\'s CLI on the Node it names, passing every argument as given, from a path with spaces and quotes', () => {
    const checkout = join(work, "a checkout's root");
    mkdirSync(join(checkout, 'apps/agent/dist'), { recursive: true });
    writeFileSync(join(checkout, 'apps/agent/dist/bulwark.js'), 'console.log(JSON.stringify({ node: process.versions.node, argv: process.argv.slice(2) }));\n');
    const written = spawnSync('bash', [script, join(work, 'bin'), process.execPath, checkout], { encoding: 'utf8' });
    expect(written.status, written.stderr).toBe(0);
    expect(statSync(join(work, 'bin', 'bulwark')).mode & 0o777).toBe(0o755);
    const run = spawnSync(join(work, 'bin', 'bulwark'), ['policy', 'explain', 'a b', "it's", '$HOME'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ node: process.versions.node, argv: ['policy', 'explain', 'a b', "it's", '$HOME'] });
  });

  it('says in one line that the checkout is not built, and exits 1', () => {
    const checkout = join(work, 'unbuilt');
    mkdirSync(checkout);
    expect(spawnSync('bash', [script, join(work, 'bin'), process.execPath, checkout]).status).toBe(0);
    const run = spawnSync(join(work, 'bin', 'bulwark'), ['--version'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`bulwark: not built yet: run ./run build in ${checkout}\n`);
  });
});
