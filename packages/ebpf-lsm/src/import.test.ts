import { describe, expect, it } from 'vitest';
import { indexUrl, runChild } from './__fixtures__/child.js';

describe('importing the package', () => {
  it('loads neither koffi nor libbpf', async () => {
    const script = `
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const loaded = () => {
  let maps = '';
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    // not Linux: the require cache still shows koffi
  }
  const cache = Object.keys(createRequire(import.meta.url).cache);
  return {
    koffi: maps.includes('koffi') || cache.some((path) => path.includes('koffi')),
    libbpf: maps.includes('libbpf'),
  };
};
const ebpf = await import(${JSON.stringify(indexUrl)});
const afterImport = loaded();
let firstUse;
try {
  ebpf.openObject('/nonexistent/object.bpf.o');
} catch (error) {
  firstUse = error.code;
}
process.stdout.write(JSON.stringify({ exports: Object.keys(ebpf).length, afterImport, firstUse, afterUse: loaded() }));
`;
    const result = await runChild<{ exports: number; afterImport: object; firstUse: string; afterUse: object }>(script);
    expect(result.exports).toBeGreaterThan(5);
    expect(result.afterImport).toEqual({ koffi: false, libbpf: false });
    // The first use loads both and fails on the missing file; without libbpf1
    // (or off Linux) it fails as not supported instead.
    if (result.firstUse === 'ERR_SYSTEM') expect(result.afterUse).toEqual({ koffi: true, libbpf: true });
    else expect(result).toMatchObject({ firstUse: 'ERR_NOT_SUPPORTED', afterUse: { libbpf: false } });
  });
});
