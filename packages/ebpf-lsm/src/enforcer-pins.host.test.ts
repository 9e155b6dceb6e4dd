import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestPrograms, callGetppid, compileTestPrograms, ensureTracefs, mountBpffs } from './__fixtures__/bpf.js';
import { caught } from './__fixtures__/caught.js';
import { codecs } from './codec.js';
import { listEnforcerPins, removeEnforcerPins } from './enforcer-pins.js';
import { BpfMap, createMap } from './map.js';
import { openObject } from './object.js';

/**
 * removeEnforcerPins on real pins in a private bpffs: maps pinned as the
 * enforcer pins them, and a link whose program keeps running through its
 * pin alone (a tracepoint program: this host cannot attach lsm/ programs,
 * and a pinned link is a pinned link whatever it attaches). Once the pins
 * are gone the program stops running; another program's pin beside the
 * directory stays.
 */

let programs: TestPrograms;
let tracefs: Disposable;

beforeAll(() => {
  programs = compileTestPrograms();
  tracefs = ensureTracefs();
});
afterAll(() => {
  tracefs[Symbol.dispose]();
  programs[Symbol.dispose]();
});

describe('removeEnforcerPins on a real bpffs', () => {
  it('unpins the maps and the link: the program is detached, the directory removed, a pin outside it left', async () => {
    using bpffs = mountBpffs();
    // A new bpffs may hold the kernel's own iterators (maps.debug, progs.debug): they stay too.
    const atRoot = readdirSync(bpffs.path);
    const directory = join(bpffs.path, 'bulwark');
    mkdirSync(directory);
    const loaded = openObject(programs.tracepoint).load();
    try {
      const counts = loaded.map('counts').typed(codecs.u32, codecs.u64);
      const link = loaded.program('count_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
      link.pin(join(directory, 'link-count_getppid'));
      link.destroy();
      for (const name of ['map-scopes', 'map-rodata']) {
        const map = createMap({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1, name: name.slice(4) });
        map.pin(join(directory, name));
        map.close();
      }
      const foreign = createMap({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1, name: 'other_tool' });
      foreign.pin(join(bpffs.path, 'map-other-tool'));
      foreign.close();

      // Held by its pin alone, the program runs.
      const whilePinned = await callGetppid(5);
      expect(counts.lookup(whilePinned)).toBe(5n);
      expect(listEnforcerPins(directory)).toMatchObject({ exists: true, pins: ['map-rodata', 'map-scopes', 'link-count_getppid'], others: [] });

      expect(removeEnforcerPins(directory)).toEqual([
        { action: 'removed', path: join(directory, 'map-rodata') },
        { action: 'removed', path: join(directory, 'map-scopes') },
        { action: 'removed', path: join(directory, 'link-count_getppid') },
        { action: 'removed', path: directory },
      ]);
      const afterRemoval = await callGetppid(5);
      expect(counts.lookup(afterRemoval)).toBeUndefined();
      expect(existsSync(directory)).toBe(false);
      expect(readdirSync(bpffs.path).sort()).toEqual([...atRoot, 'map-other-tool'].sort());
      using other = BpfMap.openPinned(join(bpffs.path, 'map-other-tool'));
      expect(other.name).toBe('other_tool');
      expect(removeEnforcerPins(directory)).toEqual([{ action: 'absent', path: directory }]);
    } finally {
      loaded.close();
    }
  });

  it("refuses the bpffs root itself, where other programs' pins are, and removes nothing", () => {
    using bpffs = mountBpffs();
    const atRoot = readdirSync(bpffs.path);
    const map = createMap({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1, name: 'scopes' });
    map.pin(join(bpffs.path, 'map-scopes'));
    map.close();
    expect(caught(() => removeEnforcerPins(bpffs.path))).toMatchObject({ code: 'ERR_STATE', message: expect.stringContaining('is the root of a bpf file system') as unknown });
    expect(readdirSync(bpffs.path).sort()).toEqual([...atRoot, 'map-scopes'].sort());
  });
});
