import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyFixtures, procRoot } from './__fixtures__/fixtures.js';
import { ProcessGoneError } from './errors.js';
import { readLsmLabel } from './lsm.js';

describe('readLsmLabel (fixture tree)', () => {
  it('reads an SELinux context without its trailing NUL', async () => {
    expect(await readLsmLabel(4242, { procRoot })).toBe('system_u:system_r:container_t:s0:c123,c456');
  });

  it('reads an AppArmor profile and treats unconfined as a label', async () => {
    expect(await readLsmLabel(300, { procRoot })).toBe('docker-default (enforce)');
    expect(await readLsmLabel(1, { procRoot })).toBe('unconfined');
  });

  it('gives undefined when no LSM provides a label', async () => {
    expect(await readLsmLabel(2, { procRoot })).toBeUndefined();
  });

  it('prefers attr/apparmor/current over attr/current', async () => {
    await using copy = await copyFixtures();
    await writeFile(join(copy.procRoot, '300', 'attr', 'current'), 'some-other-lsm-label\n');
    expect(await readLsmLabel(300, { procRoot: copy.procRoot })).toBe('docker-default (enforce)');
  });

  it('reports a missing process as gone, not as unlabelled', async () => {
    await expect(readLsmLabel(31337, { procRoot })).rejects.toBeInstanceOf(ProcessGoneError);
  });
});
