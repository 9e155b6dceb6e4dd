import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';

const here = dirname(fileURLToPath(import.meta.url));

// One self-contained file, so the agent runs from a checkout or an install
// without resolving workspace packages at run time. koffi stays outside (a
// native addon, loaded on first use of the enforcer); the enforcer's BPF
// object is copied next to the bundle, where the bundled enforcerObjectPath()
// looks for it (./bpf/ beside the code).
export default defineConfig({
  entry: { bulwark: 'src/main.ts' },
  format: ['esm'],
  target: 'node24',
  platform: 'node',
  noExternal: [/^(?!koffi$).*/],
  external: ['koffi'],
  esbuildOptions(options) {
    options.conditions = ['source'];
  },
  treeshake: true,
  clean: true,
  // Bundled CommonJS dependencies (yaml) call require() for built-ins.
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __bulwarkCreateRequire } from 'node:module';\nconst require = __bulwarkCreateRequire(import.meta.url);" },
  onSuccess: () => {
    const object = join(dirname(createRequire(import.meta.url).resolve('@bulwark/ebpf-lsm/package.json')), 'dist', 'bpf', 'enforcer.bpf.o');
    mkdirSync(join(here, 'dist', 'bpf'), { recursive: true });
    copyFileSync(object, join(here, 'dist', 'bpf', 'enforcer.bpf.o'));
    return Promise.resolve();
  },
});
