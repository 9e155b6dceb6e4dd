import { join } from 'node:path';
import { defineConfig } from 'tsup';
import { compileAll, packageDirectory } from './scripts/build-bpf.ts';

export default defineConfig({
  // The main entry, and ./rules: the pure part, which must import no native code (src/import.test.ts).
  entry: { index: 'src/index.ts', rules: 'src/rules-entry.ts' },
  format: ['esm'],
  target: 'node24',
  // tsup's declaration step sets baseUrl, which TypeScript 6 deprecates.
  dts: { compilerOptions: { ignoreDeprecations: '6.0' } },
  clean: true,
  sourcemap: true,
  // The BPF programs ship compiled: src/bpf/NAME.bpf.c -> dist/bpf/NAME.bpf.o.
  onSuccess: () => {
    compileAll(join(packageDirectory, 'src', 'bpf'), join(packageDirectory, 'dist', 'bpf'));
    return Promise.resolve();
  },
});
