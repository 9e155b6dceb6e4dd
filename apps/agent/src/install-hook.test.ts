import { chmod, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { shebangFor } from './install-hook.js';

it('names a Node binary whose path has a space through env -S, and the hook then runs', async () => {
  expect(shebangFor('/usr/local/bin/node')).toBe('#!/usr/local/bin/node');
  const work = await mkdtemp(join(tmpdir(), 'bulwark shebang '));
  try {
    const node = join(work, 'my node');
    await symlink(process.execPath, node);
    const script = join(work, 'hook');
    await writeFile(script, `${shebangFor(node)}\nprocess.stdout.write(process.argv.slice(2).join(','));\n`);
    await chmod(script, 0o755);
    const run = spawnSync(script, ['a', 'b c'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('a,b c');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
