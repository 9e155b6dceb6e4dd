import { describe, expect, it } from 'vitest';
import { loadLibbpf } from './libbpf.js';

describe('loadLibbpf', () => {
  it('reports a missing libbpf as not supported, with the package to install', () => {
    let error: unknown;
    try {
      loadLibbpf({ libraryPath: '/nonexistent/libbpf.so.1' });
    } catch (caught) {
      error = caught;
    }
    if (process.platform !== 'linux') {
      expect(error).toMatchObject({ code: 'ERR_NOT_SUPPORTED', reason: 'platform', message: 'libbpf not supported: libbpf requires linux' });
      return;
    }
    expect(error).toMatchObject({
      name: 'NotSupportedError',
      code: 'ERR_NOT_SUPPORTED',
      feature: 'libbpf',
      reason: 'config',
      message: 'libbpf not supported: /nonexistent/libbpf.so.1 not found (apt-get install libbpf1)',
    });
    expect((error as Error).cause).toBeInstanceOf(Error);
  });
});
