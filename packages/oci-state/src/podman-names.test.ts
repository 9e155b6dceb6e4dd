import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePodmanNames, readPodmanContainerName } from './podman-names.js';

let directory: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'bulwark-podman-names-'));
});
afterEach(() => rmSync(directory, { recursive: true, force: true }));

describe('podman container names', () => {
  it("reads each container's first name, skipping entries of another shape", () => {
    const text = JSON.stringify([
      { id: 'a1', names: ['web', 'alias'], image: 'x', layer: 'y', metadata: '{}', created: '2026-12-04T00:00:00Z' },
      { id: 'b2', names: [] },
      { id: 3, names: ['number-id'] },
      null,
      'text',
      { id: 'c3', names: [''] },
      { id: 'd4' },
    ]);
    expect([...parsePodmanNames(text)]).toEqual([['a1', 'web']]);
    expect([...parsePodmanNames('{"id": "a1"}')]).toEqual([]);
    expect(() => parsePodmanNames('[{')).toThrow();
  });

  it('finds a name in the file and never throws: missing, truncated, not JSON, or not listed', () => {
    const file = join(directory, 'containers.json');
    writeFileSync(file, JSON.stringify([{ id: 'a1', names: ['web'] }]));
    expect(readPodmanContainerName('a1', file)).toBe('web');
    expect(readPodmanContainerName('zz', file)).toBeUndefined();
    writeFileSync(file, '[{"id": "a1", "names": ["w');
    expect(readPodmanContainerName('a1', file)).toBeUndefined();
    expect(readPodmanContainerName('a1', join(directory, 'absent.json'))).toBeUndefined();
    expect(readPodmanContainerName('a1', directory)).toBeUndefined();
  });
});
