import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { describeError } from '@bulwark/errors';
import { runHook } from './run.js';

/**
 * Reads all of stdin, failing past `maxBytes` or after `timeoutMs`.
 *
 * stdin is opened again through /proc/self/fd/0 with O_NONBLOCK, and read
 * with plain synchronous reads, waiting 1 ms between tries when the pipe is
 * empty. That bounds the wait without process.stdin, whose stream machinery
 * costs about 5% of a bare Node start here, and without a blocking read on a
 * thread-pool thread (which would hold the process at exit until the writer
 * closed the pipe). The new open file description is the hook's own: the
 * runtime's end of the pipe keeps its flags. Where the reopen is refused (a
 * socket on stdin), it falls back to the stream.
 */
function readStdin(maxBytes: number, timeoutMs: number): Promise<string> {
  if (isatty(0)) {
    return Promise.reject(new Error("read stdin: standard input is a terminal; the runtime passes the container's state there (bulwark-hook --help)"));
  }
  let fd: number;
  try {
    fd = fs.openSync('/proc/self/fd/0', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return readStdinStream(maxBytes, timeoutMs);
  }
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + timeoutMs;
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error?: Error) => {
      fs.closeSync(fd);
      if (error === undefined) resolve(Buffer.concat(chunks, size).toString('utf8'));
      else reject(error);
    };
    const poll = () => {
      for (;;) {
        const chunk = Buffer.allocUnsafe(Math.min(65536, maxBytes + 1 - size));
        let count: number;
        try {
          count = fs.readSync(fd, chunk, 0, chunk.length, null);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') {
            finish(new Error(`read stdin: ${(error as Error).message}`));
            return;
          }
          if (performance.now() >= deadline) finish(new Error(`read stdin: no end of input within ${timeoutMs} ms`));
          else setTimeout(poll, 1);
          return;
        }
        if (count === 0) {
          finish();
          return;
        }
        size += count;
        if (size > maxBytes) {
          finish(new Error(`read stdin: state is over ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk.subarray(0, count));
      }
    };
    poll();
  });
}

/** The stream fallback of readStdin, for a stdin that cannot be reopened. */
function readStdinStream(maxBytes: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error?: Error) => {
      clearTimeout(timer);
      stdin.removeAllListeners('data');
      stdin.removeAllListeners('end');
      stdin.removeAllListeners('error');
      stdin.pause();
      if (error === undefined) resolve(Buffer.concat(chunks).toString('utf8'));
      else reject(error);
    };
    const timer = setTimeout(() => finish(new Error(`read stdin: no end of input within ${timeoutMs} ms`)), timeoutMs);
    stdin.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) finish(new Error(`read stdin: state is over ${maxBytes} bytes`));
      else chunks.push(chunk);
    });
    stdin.on('end', () => finish());
    stdin.on('error', (error) => finish(error));
  });
}

/** What the launcher needs back: the exit code, and whether the run took the whole registration path. */
export interface ProgramResult {
  readonly exitCode: number;
  readonly complete: boolean;
}

/**
 * One hook run, started by the launcher (launcher.ts), which owns the
 * process: it exits with `exitCode` once this settles. `codeCache` is how
 * the launcher found its V8 code cache, for the log line.
 */
export async function start(options: { codeCache: string }): Promise<ProgramResult> {
  try {
    const result = await runHook({
      argv: process.argv.slice(2),
      readStdin,
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
      codeCache: options.codeCache,
    });
    return result;
  } catch (error) {
    // runHook decides every expected failure itself; this is the last guard.
    process.stderr.write(`bulwark-hook: ${describeError(error)}\n`);
    return { exitCode: 0, complete: false };
  }
}
