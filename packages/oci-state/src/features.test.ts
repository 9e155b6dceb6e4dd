import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFeatures } from './features.js';

describe('parseFeatures', () => {
  it('reads what `runc features` printed on this kind of host (runc 1.1.5)', () => {
    const features = parseFeatures(readFileSync(new URL('__fixtures__/runc.features.json', import.meta.url), 'utf8'));
    expect(features.hooks).toContain('createRuntime');
    expect(features.linux?.namespaces).toContain('cgroup');
    expect(features.linux?.seccomp?.enabled).toBe(true);
  });

  it('requires both version bounds', () => {
    expect(() => parseFeatures('{"ociVersionMin": "1.0.0"}', 'runc features')).toThrow(
      'runc features: line 1 ociVersionMax: missing required property (expected string)',
    );
  });
});
