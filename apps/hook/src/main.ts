import { describeError } from '@bulwark/errors';
import { runHook } from './run.js';

/**
 * Reads all of stdin, failing past `maxBytes` or after `timeoutMs`. It goes
 * through process.stdin, whose pipe reads are non-blocking: a blocking read
 * on a thread-pool thread would hold the process open at exit until the
 * writer closed the pipe.
 */
function readStdin(maxBytes: number, timeoutMs: number): Promise<string> {
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

async function main(): Promise<void> {
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
}

void main();
