/**
 * Compiles the package's BPF programs, src/bpf/NAME.bpf.c, into
 * dist/bpf/NAME.bpf.o, which ship in the package so that its users need no
 * compiler. The host tests compile the same way into a temporary directory
 * (src/__fixtures__/bpf.ts), so they always test the current sources.
 *
 * Needs clang (with the BPF target), llvm-strip, libbpf's headers
 * (libbpf-dev) and the kernel's UAPI headers (linux-libc-dev).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageDirectory = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Compiles one program. The output does not depend on where the checkout
 * is: clang runs in the source's directory with the compilation directory
 * recorded as `.` (BTF line info then names `./NAME.bpf.c`), and DWARF is
 * stripped (BTF stays).
 */
export function compileBpf(source: string, output: string): void {
  const target = resolve(output);
  mkdirSync(dirname(target), { recursive: true });
  const multiarch = execFileSync('clang', ['-print-multiarch'], { encoding: 'utf8' }).trim();
  const includes = multiarch === '' ? [] : ['-I', `/usr/include/${multiarch}`];
  const flags = ['-O2', '-g', '-fdebug-compilation-dir=.', '-Wall', '-Werror', '-target', 'bpf', ...includes];
  execFileSync('clang', [...flags, '-c', basename(source), '-o', target], {
    cwd: dirname(resolve(source)),
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  execFileSync('llvm-strip', ['-g', target], { stdio: ['ignore', 'inherit', 'inherit'] });
}

/** Compiles every NAME.bpf.c in `sourceDirectory` into `outputDirectory`/NAME.bpf.o; returns the outputs. */
export function compileAll(sourceDirectory: string, outputDirectory: string): string[] {
  const outputs: string[] = [];
  for (const file of readdirSync(sourceDirectory).filter((name) => name.endsWith('.bpf.c')).sort()) {
    const output = join(outputDirectory, `${basename(file, '.c')}.o`);
    compileBpf(join(sourceDirectory, file), output);
    outputs.push(output);
  }
  return outputs;
}

if (import.meta.main) {
  for (const output of compileAll(join(packageDirectory, 'src', 'bpf'), join(packageDirectory, 'dist', 'bpf'))) {
    process.stdout.write(`build-bpf: ${output.slice(packageDirectory.length + 1)}\n`);
  }
}
