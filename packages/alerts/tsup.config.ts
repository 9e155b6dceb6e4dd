import { defineConfig } from 'tsup';

export default defineConfig({
  // The pure entry, and ./sinks: the one with Node I/O.
  entry: { index: 'src/index.ts', sinks: 'src/sinks-entry.ts' },
  format: ['esm'],
  target: 'node24',
  // tsup's declaration step sets baseUrl, which TypeScript 6 deprecates.
  dts: { compilerOptions: { ignoreDeprecations: '6.0' } },
  clean: true,
  sourcemap: true,
});
