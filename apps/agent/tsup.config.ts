import { defineConfig } from 'tsup';

// One self-contained file, so the agent runs from a checkout or an install
// without resolving workspace packages at run time.
export default defineConfig({
  entry: { bulwark: 'src/main.ts' },
  format: ['esm'],
  target: 'node24',
  platform: 'node',
  noExternal: [/.*/],
  esbuildOptions(options) {
    options.conditions = ['source'];
  },
  treeshake: true,
  clean: true,
  // Bundled CommonJS dependencies (yaml) call require() for built-ins.
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __bulwarkCreateRequire } from 'node:module';\nconst require = __bulwarkCreateRequire(import.meta.url);" },
});
