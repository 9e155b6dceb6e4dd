import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * Issue 11 item 15: the kernel tier failed from a clone under /tmp, which
 * the guest covers with a tmpfs of its own. tools/kernel-vm/binds.sh lists
 * what run.sh puts back into the guest (guest-init.sh binds each line); a
 * checkout anywhere the guest covers (/tmp, /run, /dev/shm), with spaces in
 * its path, must be listed, and one elsewhere (under /root, /work) is seen
 * through the host's root as it is. The guest itself is not booted here.
 */

const binds = fileURLToPath(new URL('../tools/kernel-vm/binds.sh', import.meta.url));

function listBinds(directory: string): { status: number | null; lines: string[][]; stderr: string } {
  const result = spawnSync(binds, [directory], { encoding: 'utf8', timeout: 10_000 });
  return { status: result.status, lines: result.stdout.split('\n').filter(Boolean).map((line) => line.split('\t')), stderr: result.stderr };
}

const scratches: string[] = [];
/** A fresh folder under `parent` (one of the tmpfs roots, when this machine has it writable). */
function scratch(parent: string): string {
  const directory = realpathSync(mkdtempSync(join(parent, 'bulwark-binds-')));
  scratches.push(directory);
  return directory;
}
beforeEach(() => {
  scratches.length = 0;
});
afterEach(() => {
  for (const directory of scratches) rmSync(directory, { recursive: true, force: true });
});

describe('tools/kernel-vm/binds.sh', () => {
  it('puts back a checkout under /tmp, with a space in its path, and the ../shared folder beside it', () => {
    const base = join(scratch('/tmp'), 'two words');
    const checkout = join(base, 'main');
    mkdirSync(checkout, { recursive: true });
    expect(listBinds(checkout)).toEqual({ status: 0, lines: [['bind', checkout]], stderr: '' });
    mkdirSync(join(base, 'shared'));
    expect(listBinds(checkout).lines).toEqual([
      ['bind', checkout],
      ['bind', join(base, 'shared')],
    ]);
  });

  it('makes ../shared again when it is a symbolic link, and puts back its target when a tmpfs covers that too', () => {
    const base = scratch('/tmp');
    const checkout = join(base, 'main');
    const elsewhere = join(scratch('/tmp'), 'shared data');
    mkdirSync(checkout);
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(base, 'shared'));
    expect(listBinds(checkout).lines).toEqual([
      ['bind', checkout],
      ['bind', elsewhere],
      ['link', join(base, 'shared'), elsewhere],
    ]);
  });

  it('puts back a checkout under each folder the guest covers: /tmp, /run, /dev/shm', () => {
    for (const root of ['/tmp', '/run', '/dev/shm']) {
      let checkout: string;
      try {
        checkout = scratch(root);
      } catch {
        continue; // not writable on this machine: nothing of the suite can sit there either
      }
      expect(listBinds(checkout).lines, root).toEqual([['bind', checkout]]);
    }
  });

  it('lists nothing for a checkout the guest sees through the host root (under /root, /var/tmp, with a space), but a ../shared target under /tmp', () => {
    expect(listBinds('/root/src/bulwark main').lines).toEqual([]);
    expect(listBinds('/srv/no such checkout/main').lines).toEqual([]);
    const target = scratch('/tmp');
    // /var/tmp is on the root file system, as a checkout under /root or /work is.
    const base = scratch('/var/tmp');
    mkdirSync(join(base, 'main'));
    symlinkSync(target, join(base, 'shared'));
    expect(listBinds(join(base, 'main')).lines).toEqual([['bind', target]]);
  });

  it('refuses a path that the binds file cannot hold (a tab or a newline), and a relative one', () => {
    const tabbed = listBinds('/tmp/a\tb');
    expect(tabbed.status).toBe(1);
    expect(tabbed.stderr).toMatch(/^kernel-vm: .* has a tab or a newline in its path: it cannot be put back in the guest\n$/u);
    expect(listBinds('relative/path').status).toBe(2);
  });
});
