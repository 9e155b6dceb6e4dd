/**
 * Node options that run a workspace package's TypeScript sources in a child
 * process: what one test process cannot show (what importing loads, what an
 * unprivileged caller gets). Run the child with its cwd in the package (or
 * anywhere in the workspace), so that `--conditions=@bulwark/source` resolves the
 * workspace packages to their sources.
 */
import { createRequire } from 'node:module';

const esbuildPath = createRequire(import.meta.url).resolve('esbuild');

// Plain Node would strip the types of .ts files itself, with amaro (swc built
// to WebAssembly). In the kernel guest (QEMU TCG), V8 now and then finds the
// code of a wasm function freed while the function is still on the stack:
// the child died with SIGSEGV in Liftoff code whose next page was already
// decommitted, or with "Check failed: it->second.Size() > offset" from the
// stack walk of Runtime_WasmTriggerTierUp, before it loaded koffi (about
// one start in thirty). esbuild, a native binary, compiles the sources
// instead, so no WebAssembly runs in the child; --no-experimental-strip-types
// makes a .ts file the hook missed fail rather than reach amaro. The hook
// also maps the sources' `./x.js` specifiers to `./x.ts`.
const typescriptHooks = `
import { readFileSync } from 'node:fs';
import { createRequire, registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';
const { transformSync } = createRequire(${JSON.stringify(esbuildPath)})('esbuild');
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
      try {
        return nextResolve(specifier.slice(0, -'.js'.length) + '.ts', context);
      } catch {
        // not a TypeScript source: resolve as written
      }
    }
    return nextResolve(specifier, context);
  },
  load(url, context, nextLoad) {
    if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
    const path = fileURLToPath(url);
    const { code } = transformSync(readFileSync(path, 'utf8'), { loader: 'ts', format: 'esm', target: 'node24', sourcefile: path, sourcemap: 'inline' });
    return { format: 'module', source: code, shortCircuit: true };
  },
});`;

/** The Node options that run this package's sources; give them to process.execPath before a script (run with cwd packageDirectory). */
export const sourceNodeArguments = [
  '--no-warnings',
  '--conditions=@bulwark/source',
  '--no-experimental-strip-types',
  '--import',
  `data:text/javascript,${encodeURIComponent(typescriptHooks)}`,
] as const;


/**
 * Script text for such a child that records every native addon it loads
 * (all go through process.dlopen) in `opened`, an array of file names; put
 * it before what the child imports.
 */
export const recordNativeLoads = `
const opened = [];
const dlopen = process.dlopen;
process.dlopen = function (module, filename, ...rest) {
  opened.push(filename);
  return dlopen.call(this, module, filename, ...rest);
};
`;
