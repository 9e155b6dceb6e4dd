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

describe('importing @bulwark/ebpf-lsm/rules', () => {
  it('loads no native module, and the same check sees the main entry load koffi', async () => {
    // Every native addon Node loads goes through process.dlopen; the child
    // records each one, and also looks for koffi where the first test does.
    // The subpath is imported by its name, through the package's exports
    // (the `@bulwark/source` condition: src/rules-entry.ts). Checked the other way
    // too: with `import 'koffi';` added to rules-entry.ts, this test failed
    // on `afterRules` `{ native: 1, koffi: true }`.
    const script = `
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const opened = [];
const dlopen = process.dlopen;
process.dlopen = function (module, filename, ...rest) {
  opened.push(filename);
  return dlopen.call(this, module, filename, ...rest);
};
const loaded = () => {
  let maps = '';
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    // not Linux: the require cache and dlopen still show koffi
  }
  const cache = Object.keys(createRequire(import.meta.url).cache);
  return {
    native: opened.filter((path) => path.endsWith('.node')).length,
    koffi: opened.some((path) => path.includes('koffi')) || maps.includes('koffi') || cache.some((path) => path.includes('koffi')),
    libbpf: maps.includes('libbpf'),
  };
};
const rules = await import('@bulwark/ebpf-lsm/rules');
// Using it loads nothing either.
const entries = rules.encodeRules([{ path: '/etc/shadow' }, { path: '/etc/ssh/*_key', operations: ['read'] }, { kind: 'socket', type: 3 }]);
const event = rules.decodeEnforcerEvent(new Uint8Array(rules.EVENT_SIZE));
const afterRules = loaded();
// The control: the main entry's binding, on first use, loads koffi (and libbpf.so.1 where it is installed).
const main = await import('@bulwark/ebpf-lsm');
let firstUse = 'none';
try {
  main.createLibbpfBinding();
} catch (error) {
  firstUse = error.code;
}
process.stdout.write(JSON.stringify({ exports: Object.keys(rules).sort(), entries: entries.length, verdict: event.verdict, afterRules, firstUse, afterMain: loaded() }));
`;
    const result = await runChild<{ exports: string[]; entries: number; verdict: string; afterRules: object; firstUse: string; afterMain: { native: number; koffi: boolean } }>(script);
    expect(result.exports).toEqual(expect.arrayContaining(['encodeRules', 'pathKey', 'validateGlob', 'globMatch', 'decodeEnforcerEvent', 'LAYOUT_VERSION', 'OPERATION_BITS']));
    expect(result.exports).not.toContain('createLibbpfBinding');
    expect(result).toMatchObject({ verdict: 'allow', afterRules: { native: 0, koffi: false, libbpf: false } });
    expect(result.entries).toBeGreaterThan(3);
    // The check can fail: the binding's first use is seen loading koffi's native module (off Linux it stops before koffi, as not supported).
    if (process.platform === 'linux') expect(result.afterMain).toMatchObject({ native: 1, koffi: true });
    else expect(result.firstUse).toBe('ERR_NOT_SUPPORTED');
  });
});
