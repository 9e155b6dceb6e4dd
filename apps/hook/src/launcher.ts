/**
 * The start of bulwark-hook: it compiles the hook program (main.ts, bundled
 * and embedded in the same file as a string) with a V8 code cache, runs it,
 * and exits with its code.
 *
 * Node's own compile cache (NODE_COMPILE_CACHE) stores a module's code as
 * compiled before it runs, so every function the hook calls is still
 * compiled lazily at every container start. This cache is taken after a
 * run, so it holds those functions too; it saves about a tenth of the hook's
 * wall time here (BENCHMARKS.md). It lives in the NODE_COMPILE_CACHE
 * directory that `bulwark install-hook` gives the hook, one file per program
 * build, Node version and architecture, and V8 checks it again before use
 * (a rejected cache is compiled as if absent and then replaced).
 *
 * A code cache is code: the hook runs as root, so the cache is used and
 * written only when the directory and the file are owned by the hook's user
 * and writable by no one else, and the file is not a symbolic link.
 *
 * Only node:fs, node:path and node:vm are used here, so nothing this file
 * does can fail for want of a module.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import * as vm from 'node:vm';

/** The bundled program's source (a CommonJS module body), embedded at build. */
declare const BULWARK_HOOK_PROGRAM: string;
/** A digest of that source, embedded at build: it names the cache file. */
declare const BULWARK_HOOK_PROGRAM_ID: string;

interface ProgramExports {
  start(options: { codeCache: string }): Promise<{ exitCode: number; complete: boolean }>;
}

type CacheState = 'off' | 'unsafe' | 'absent' | 'rejected' | 'accepted';

/** First byte of the cache file: what kind of run produced it. */
const PARTIAL = 0;
const COMPLETE = 1;

function isPrivate(stats: fs.Stats): boolean {
  const euid = process.geteuid?.() ?? -1;
  return stats.uid === euid && (stats.mode & 0o022) === 0;
}

/** The cache directory, if there is one and it is safe to trust. */
function cacheDirectory(): { directory?: string; state: CacheState } {
  const directory = process.env.NODE_COMPILE_CACHE;
  if (directory === undefined || directory === '') return { state: 'off' };
  try {
    const stats = fs.statSync(directory);
    return stats.isDirectory() && isPrivate(stats) ? { directory, state: 'absent' } : { state: 'unsafe' };
  } catch {
    // Node creates the directory on first use; the next run finds it.
    return { state: 'off' };
  }
}

function readCache(file: string): { data?: Buffer; unsafe: boolean } {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (error) {
    return { unsafe: (error as NodeJS.ErrnoException).code === 'ELOOP' };
  }
  try {
    const stats = fs.fstatSync(fd);
    if (!stats.isFile() || !isPrivate(stats)) return { unsafe: true };
    return { data: fs.readFileSync(fd), unsafe: false };
  } catch {
    return { unsafe: false };
  } finally {
    fs.closeSync(fd);
  }
}

function writeCache(file: string, kind: number, data: Buffer): void {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    const fd = fs.openSync(temporary, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, Uint8Array.of(kind));
      fs.writeSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, file);
  } catch {
    // A cache that cannot be written costs speed, never a verdict.
    try {
      fs.unlinkSync(temporary);
    } catch {
      // Nothing was left behind.
    }
  }
}

async function launch(): Promise<number> {
  const found = cacheDirectory();
  let state = found.state;
  const file = found.directory === undefined ? undefined : join(found.directory, `bulwark-hook-${BULWARK_HOOK_PROGRAM_ID}-${process.version}-${process.arch}.v8cache`);
  let cached: Buffer | undefined;
  if (file !== undefined) {
    const read = readCache(file);
    if (read.unsafe) state = 'unsafe';
    else cached = read.data;
  }
  const kind = cached !== undefined && cached.length > 1 ? cached[0] : undefined;
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${BULWARK_HOOK_PROGRAM}\n})`, {
    filename: __filename,
    ...(kind === undefined ? {} : { cachedData: cached!.subarray(1) }),
  });
  if (kind !== undefined) state = script.cachedDataRejected === true ? 'rejected' : 'accepted';

  const module = { exports: {} as ProgramExports };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(module.exports, module.exports, require, module, __filename, __dirname);
  const result = await module.exports.start({ codeCache: state });

  // Write the cache when there was none to use, or when this run went the
  // whole way and the cache came from a shorter one (a fail-open run, say).
  if (file !== undefined && state !== 'unsafe' && (state !== 'accepted' || (result.complete && kind !== COMPLETE))) {
    writeCache(file, result.complete ? COMPLETE : PARTIAL, script.createCachedData());
  }
  return result.exitCode;
}

launch().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // The program decides every failure itself; reaching here means the
    // launcher broke, and a broken hook must not stop the node's containers.
    process.stderr.write(`bulwark-hook: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(0);
  },
);
