import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';

const here = dirname(fileURLToPath(import.meta.url));
/** engines.node of package.json: >=24. */
const MINIMUM_NODE = 24;

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
    options.conditions = ['@bulwark/source'];
  },
  treeshake: true,
  clean: true,
  // Bundled CommonJS dependencies (yaml) call require() for built-ins.
  // The Node check runs before any of the CLI's code (the bundle imports only built-ins statically): one line, not a failure later on.
  banner: {
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __bulwarkCreateRequire } from 'node:module';",
      'const require = __bulwarkCreateRequire(import.meta.url);',
      `if (Number(process.versions.node.split('.')[0]) < ${MINIMUM_NODE}) {`,
      `  process.stderr.write(\`bulwark: needs Node ${MINIMUM_NODE} or later, not v\${process.versions.node} (\${process.execPath}); run it with Node ${MINIMUM_NODE} (./run sets it up in .tools/node)\\n\`);`,
      '  process.exit(1);',
      '}',
    ].join('\n'),
  },
  onSuccess: () => {
    const object = join(dirname(createRequire(import.meta.url).resolve('@bulwark/ebpf-lsm/package.json')), 'dist', 'bpf', 'enforcer.bpf.o');
    mkdirSync(join(here, 'dist', 'bpf'), { recursive: true });
    copyFileSync(object, join(here, 'dist', 'bpf', 'enforcer.bpf.o'));
    return Promise.resolve();
  },
});
