import { createStreamSink } from '@bulwark/alerts/sinks';
import { describeErrno } from '@bulwark/errors';
import { runCli } from './cli.js';

// A failed write to standard output or error (a full disk, `| head` gone)
// must not take a command down with an unhandled 'error' event: the sinks
// listen for it and keep the errno.
const stdout = createStreamSink(process.stdout);
const stderr = createStreamSink(process.stderr);
const argv = process.argv.slice(2);
let code = await runCli(argv, {
  stdout: (text) => void stdout.writeText(text),
  stderr: (text) => void stderr.writeText(text),
});
// A write's error is emitted after the write returns: let it arrive.
await new Promise((resolve) => setImmediate(resolve));
const lost = stdout.stats.lastError;
// A reader that went away (EPIPE) took what it wanted; any other failure lost output, and says so.
if (lost !== undefined && lost !== 'EPIPE') {
  stderr.writeText(`bulwark${argv[0] === undefined ? '' : ` ${argv[0]}`}: write standard output: ${describeErrno(lost)}\n`);
  code = 1;
}
process.exitCode = code;
