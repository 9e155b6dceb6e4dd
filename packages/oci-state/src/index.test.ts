import { describe, expect, it } from 'vitest';
import * as ociState from './index.js';

describe('package entry', () => {
  it('exports the public API', () => {
    for (const name of [
      'parseState',
      'parseConfig',
      'readConfig',
      'parseConfigSummary',
      'readConfigSummary',
      'parseHookFile',
      'loadHooksDirectories',
      'selectHooks',
      'identifyContainer',
      'resolveCgroupsPath',
      'renderHookFile',
      'writeFileAtomic',
      'writeFileAtomicSync',
      'injectHooks',
      'removeHooks',
      'writeBundleHooks',
      'updateSpecFileHooks',
    ]) {
      expect(typeof (ociState as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});
