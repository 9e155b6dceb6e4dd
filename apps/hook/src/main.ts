import { read } from 'node:fs';
import { describeError } from '@bulwark/errors';
import { runHook } from './run.js';

/**
 * Reads all of stdin, failing past `maxBytes` or after `timeoutMs`. It reads
 * fd 0 with fs rather than process.stdin: the stream object for a pipe loads
 * node:net and tty machinery the hook has no other use for at that point.
 */
function readStdin(maxBytes: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error === undefined) resolve(Buffer.concat(chunks).toString('utf8'));
      else reject(error);
    };
    const timer = setTimeout(() => finish(new Error(`read stdin: no end of input within ${timeoutMs} ms`)), timeoutMs);
    const buffer = Buffer.allocUnsafe(64 * 1024);
    const next = (): void =>
      read(0, buffer, 0, buffer.length, null, (error, count) => {
        if (done) return;
        if (error !== null) {
          // A non-blocking stdin has nothing yet: wait a little and try again.
          if (error.code === 'EAGAIN') setTimeout(next, 2);
          else finish(new Error(`read stdin: ${error.message}`));
          return;
        }
        if (count === 0) return finish();
        size += count;
        if (size > maxBytes) return finish(new Error(`read stdin: state is over ${maxBytes} bytes`));
        chunks.push(Buffer.from(buffer.subarray(0, count)));
        next();
      });
    next();
  });
}

try {
  const result = await runHook({
    argv: process.argv.slice(2),
    readStdin,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
  process.exitCode = result.exitCode;
} catch (error) {
  // runHook decides every expected failure itself; this is the last guard.
  process.stderr.write(`bulwark-hook: ${describeError(error)}\n`);
  process.exitCode = 0;
}
// Do not wait for stray handles (a timed-out stdin, a slow socket): the verdict is final.
process.exit();
