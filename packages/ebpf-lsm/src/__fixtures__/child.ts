/**
 * Runs a script against this package's sources in a fresh Node process,
 * optionally through a prefix such as setpriv: for what one test process
 * cannot show (what importing loads, what an unprivileged caller gets).
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execute = promisify(execFile);

export const packageDirectory = fileURLToPath(new URL('../..', import.meta.url));
export const indexUrl = new URL('../index.ts', import.meta.url).href;

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
  '--conditions=source',
  '--no-experimental-strip-types',
  '--import',
  `data:text/javascript,${encodeURIComponent(typescriptHooks)}`,
] as const;

/** Outcome of a child script: what it printed as JSON on stdout. */
export async function runChild<T>(script: string, prefix: readonly string[] = []): Promise<T> {
  const command = [...prefix, process.execPath, ...sourceNodeArguments, '--input-type=module', '--eval', script];
  const [file, ...args] = command;
  const { stdout } = await execute(file!, args, { cwd: packageDirectory, encoding: 'utf8' });
  return JSON.parse(stdout) as T;
}

/** setpriv arguments that run a command as nobody, with no groups and no capabilities. */
export const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'] as const;

/** The fields of an error a test compares, as a child reports them. */
export interface ReportedError {
  name: string;
  code?: string;
  errno?: string;
  isPermission?: boolean;
  message: string;
}

/** Script text that reports an error thrown by `body` (an async function body) as JSON. */
export function reportErrorScript(body: string): string {
  return `
const ebpf = await import(${JSON.stringify(indexUrl)});
let result = { error: null };
try {
  ${body}
} catch (error) {
  result = { error: { name: error.name, code: error.code, errno: error.errno, isPermission: error.isPermission, message: error.message } };
}
process.stdout.write(JSON.stringify(result));
`;
}
