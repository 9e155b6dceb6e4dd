/**
 * Runs a script against this package's sources in a fresh Node process,
 * optionally through a prefix such as setpriv: for what one test process
 * cannot show (what importing loads, what an unprivileged caller gets).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execute = promisify(execFile);

export const packageDirectory = fileURLToPath(new URL('../..', import.meta.url));
export const indexUrl = new URL('../index.ts', import.meta.url).href;

import { asNobodyPrefix } from '../../../../test-support/as-nobody.ts';
import { sourceNodeArguments } from '../../../../test-support/source-node.ts';

export { sourceNodeArguments };

/** Outcome of a child script: what it printed as JSON on stdout. */
export async function runChild<T>(script: string, prefix: readonly string[] = []): Promise<T> {
  const command = [...prefix, process.execPath, ...sourceNodeArguments, '--input-type=module', '--eval', script];
  const [file, ...args] = command;
  const { stdout } = await execute(file!, args, { cwd: packageDirectory, encoding: 'utf8' });
  return JSON.parse(stdout) as T;
}

/** A prefix that runs a command as nobody, with no groups and no capabilities, from any checkout path (test-support/as-nobody.ts). */
export const asNobody = asNobodyPrefix(['--inh-caps=-all', '--bounding-set=-all']);

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
