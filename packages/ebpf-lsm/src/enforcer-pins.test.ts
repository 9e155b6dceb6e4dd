import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { caught } from './__fixtures__/caught.js';
import { listEnforcerPins, removeEnforcerPins } from './enforcer-pins.js';
import { BPF_FS_MAGIC } from './probes.js';

/**
 * The pin listing and removal over a temporary directory that a fake
 * statfs calls a bpf file system (the files are plain files: unlinking a
 * pin is an unlink). enforcer-pins.host.test.ts does it on a real bpffs,
 * with a real program that stops running once its link's pin is gone.
 */

const TMPFS_MAGIC = 0x01021994;
let work: string;
let bpffs: string;
let directory: string;
/** bpffs under `bpffs`, tmpfs elsewhere. */
const files = { fileSystemType: (path: string) => (path === bpffs || path.startsWith(`${bpffs}/`) ? BPF_FS_MAGIC : TMPFS_MAGIC) };

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-pins-'));
  bpffs = join(work, 'bpffs');
  directory = join(bpffs, 'bulwark');
  mkdirSync(directory, { recursive: true });
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function touch(...names: string[]): void {
  for (const name of names) writeFileSync(join(directory, name), '');
}

describe('listEnforcerPins', () => {
  it('lists map-* and link-* files of any layout, map-rodata first, then the maps in layout order, then the links; anything else apart', () => {
    touch('link-enforce_task_kill', 'map-events', 'map-rodata', 'link-enforce_file_open', 'map-scopes', 'map-set_rules_v5', 'notes.txt', 'map-');
    mkdirSync(join(directory, 'map-subdirectory'));
    expect(listEnforcerPins(directory, { files })).toEqual({
      directory,
      exists: true,
      pins: ['map-rodata', 'map-scopes', 'map-events', 'map-set_rules_v5', 'link-enforce_file_open', 'link-enforce_task_kill'],
      others: ['map-', 'map-subdirectory', 'notes.txt'],
    });
  });

  it('a directory that is not there holds nothing', () => {
    expect(listEnforcerPins(join(bpffs, 'none'), { files })).toEqual({ directory: join(bpffs, 'none'), exists: false, pins: [], others: [] });
  });

  it('refuses a directory off bpffs, the root of a bpffs, a symbolic link and a relative path, in one line each', () => {
    const plain = join(work, 'plain');
    mkdirSync(plain);
    writeFileSync(join(plain, 'map-scopes'), '');
    expect(caught(() => listEnforcerPins(plain, { files }))).toMatchObject({ code: 'ERR_STATE', message: `list enforcer pins: ${plain} is not on a bpf file system: its files are not pins` });
    expect(caught(() => listEnforcerPins(bpffs, { files }))).toMatchObject({
      code: 'ERR_STATE',
      message: `list enforcer pins: ${bpffs} is the root of a bpf file system, not a directory of the enforcer's own: other programs' pins may be there`,
    });
    symlinkSync(directory, join(bpffs, 'link'));
    expect(caught(() => listEnforcerPins(join(bpffs, 'link'), { files }))).toMatchObject({ code: 'ERR_STATE', message: expect.stringContaining('is not a directory (a symbolic link, not followed)') as unknown });
    expect(caught(() => listEnforcerPins('sys/fs/bpf/bulwark', { files }))).toMatchObject({ code: 'ERR_VALIDATION' });
  });
});

describe('removeEnforcerPins', () => {
  it('removes the pins, then the directory once it is empty', () => {
    touch('map-scopes', 'map-rodata', 'link-enforce_file_open');
    expect(removeEnforcerPins(directory, { files })).toEqual([
      { action: 'removed', path: join(directory, 'map-rodata') },
      { action: 'removed', path: join(directory, 'map-scopes') },
      { action: 'removed', path: join(directory, 'link-enforce_file_open') },
      { action: 'removed', path: directory },
    ]);
    expect(readdirSync(bpffs)).toEqual([]);
  });

  it('leaves anything else, and the directory with it, naming what is left', () => {
    touch('map-rodata', 'notes.txt');
    writeFileSync(join(bpffs, 'map-other-tool'), '');
    expect(removeEnforcerPins(directory, { files })).toEqual([
      { action: 'removed', path: join(directory, 'map-rodata') },
      { action: 'kept', path: directory, detail: 'not empty: notes.txt' },
    ]);
    expect(readdirSync(directory)).toEqual(['notes.txt']);
    expect(readdirSync(bpffs).sort()).toEqual(['bulwark', 'map-other-tool']);
  });

  it('says absent for a directory that is not there, and removes nothing where it refuses', () => {
    expect(removeEnforcerPins(join(bpffs, 'none'), { files })).toEqual([{ action: 'absent', path: join(bpffs, 'none') }]);
    touch('map-rodata');
    const offBpffs = { fileSystemType: () => TMPFS_MAGIC };
    expect(caught(() => removeEnforcerPins(directory, { files: offBpffs }))).toMatchObject({ code: 'ERR_STATE' });
    expect(readdirSync(directory)).toEqual(['map-rodata']);
  });
});
