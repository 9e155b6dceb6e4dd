/**
 * `bulwark policy apply|delete|list`: the running agent's policies over the
 * control socket (root only). `apply` validates on this side first, so a
 * bad file is reported at its line and column and nothing is sent.
 */
import { stat, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BulwarkError, describeError, toSystemError, ValidationError } from '@bulwark/errors';
import { AgentConnection, DEFAULT_CONTROL_SOCKET, HARD_MAX_FRAME_BYTES, MAX_APPLY_BYTES, type RequestBody } from '@bulwark/hook-client';
import { describeCommandError, resolveControlSocket } from './command-error.js';
import { formatPolicyTable, planApply, type ApplyFile, type PolicyRow } from './policy-control.js';

export interface PolicyControlIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Standard input, for `apply -` (default: process.stdin, at most the size cap plus one byte). */
  readonly readStdin?: (maxBytes: number) => Promise<string>;
  /** The caller's effective uid (default process.geteuid()). */
  readonly euid?: number;
}

const socketOption = `  --control-socket PATH   the agent's control socket (default ${DEFAULT_CONTROL_SOCKET})
  --config FILE           read the control socket from the agent's configuration`;

export const POLICY_CONTROL_HELP: Readonly<Record<'apply' | 'delete' | 'list', string>> = {
  apply: `Usage: bulwark policy apply FILE... | - [options]

Validates the policies in FILE (or standard input, '-') and applies them to
the running agent, which keeps them in its state (they survive a restart)
and puts the whole set in force. A policy with the kind, namespace and name
of one applied before replaces it ("configured"); one that a file in the
policy directory defines is refused. Nothing is sent if any file has a
problem (file:line:column). At most ${MAX_APPLY_BYTES / 1024} KiB of YAML in all. Root only.

Options:
${socketOption}
  --json                  print the changes as JSON
  -h, --help              show this help
  --version               print the version
`,
  delete: `Usage: bulwark policy delete NAME [--namespace NS] [--kind KIND] [options]

Removes a policy applied with 'bulwark policy apply' from the running agent
(and its state). A policy from the policy directory is removed by removing
it from its file. Root only.

Options:
  --namespace NS          the policy's namespace (KubeArmorPolicy)
  --kind KIND             KubeArmorPolicy, KubeArmorClusterPolicy, KubeArmorHostPolicy...
${socketOption}
  --json                  print the result as JSON
  -h, --help              show this help
  --version               print the version
`,
  list: `Usage: bulwark policy list [options]

Lists the policies the running agent has in force: kind, namespace, name,
action, origin (file:line:column in the policy directory, or "applied"),
how many registered containers each selects, and its rule count. Root only.

Options:
${socketOption}
  --json                  print JSON instead of a table
  -h, --help              show this help
  --version               print the version
`,
};

async function readProcessStdin(maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    total += chunk.length;
    if (total > maxBytes) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads the files (or stdin) to apply; over the size cap in all is a ValidationError, before anything is read past it. */
export async function readApplyFiles(paths: readonly string[], readStdin: (maxBytes: number) => Promise<string>): Promise<ApplyFile[]> {
  const files: ApplyFile[] = [];
  let total = 0;
  const over = (source: string, bytes: number) =>
    new ValidationError(source, [{ path: '', message: `expected at most ${MAX_APPLY_BYTES} bytes of policies in all, got ${bytes} or more`, line: 1, column: 1 }]);
  for (const path of paths) {
    if (path === '-') {
      if (files.some((file) => file.source === '-')) throw new ValidationError('policy apply', [{ path: '', message: "standard input ('-') given twice" }]);
      const text = await readStdin(MAX_APPLY_BYTES - total);
      total += Buffer.byteLength(text, 'utf8');
      if (total > MAX_APPLY_BYTES) throw over('-', total);
      files.push({ source: '-', text });
      continue;
    }
    let text: string;
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new BulwarkError('ERR_VALIDATION', `read ${path}: not a regular file`);
      if (total + info.size > MAX_APPLY_BYTES) throw over(path, total + info.size);
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (error instanceof BulwarkError) throw error;
      throw toSystemError('read policy', error, path);
    }
    total += Buffer.byteLength(text, 'utf8');
    if (total > MAX_APPLY_BYTES) throw over(path, total);
    files.push({ source: resolve(path), text });
  }
  return files;
}

async function ask(socket: string, body: RequestBody): Promise<unknown> {
  const connection = await AgentConnection.connect(socket, { maxFrameBytes: HARD_MAX_FRAME_BYTES, connectTimeoutMs: 1000 });
  try {
    return await connection.request(body, { replyTimeoutMs: 30_000 });
  } finally {
    connection.close();
  }
}

/** Runs `policy apply|delete|list ARGS`; prints one line per problem on stderr and returns the exit code. */
export async function runPolicyControlCommand(subcommand: 'apply' | 'delete' | 'list', args: readonly string[], io: PolicyControlIo): Promise<number> {
  const euid = io.euid ?? process.geteuid?.();
  const fail = (error: unknown) => {
    if (!BulwarkError.is(error, 'ERR_AGENT_REFUSED')) {
      // As every other command says it: the agent unreachable, or a permission failure, with what to do.
      io.stderr(`${describeCommandError(`policy ${subcommand}`, error, euid)}\n`);
      return;
    }
    // The agent's reason starts with the operation ("policy apply: ..."), which the prefix already says; it may span lines (one per problem).
    for (const line of (error as unknown as { reason: string }).reason.replace(`policy ${subcommand}: `, '').split('\n')) io.stderr(`bulwark policy ${subcommand}: ${line}\n`);
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        'control-socket': { type: 'string' },
        config: { type: 'string' },
        ...(subcommand === 'delete' ? { namespace: { type: 'string' as const }, kind: { type: 'string' as const } } : {}),
      },
    });
  } catch (error) {
    io.stderr(`bulwark policy ${subcommand}: ${describeError(error).replace(/\. To specify.*$/su, '')}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.stdout(POLICY_CONTROL_HELP[subcommand]);
    return 0;
  }
  const json = values.json === true;
  // Resolved when the request is made: a usage error or a bad policy file is said first.
  const socket = () => resolveControlSocket(values);
  try {
    if (subcommand === 'list') {
      if (positionals.length > 0) {
        io.stderr(`bulwark policy list: unexpected argument '${positionals[0]}'\n`);
        return 2;
      }
      const result = (await ask(await socket(), { type: 'policy.list' })) as { enforcement: string; policies: PolicyRow[] };
      io.stdout(json ? `${JSON.stringify(result, null, 2)}\n` : formatPolicyTable(result.policies));
      return 0;
    }
    if (subcommand === 'delete') {
      if (positionals.length !== 1) {
        io.stderr(`bulwark policy delete: expected one policy name\n\n${POLICY_CONTROL_HELP.delete}`);
        return 2;
      }
      const namespace = values.namespace as string | undefined;
      const kind = values.kind as string | undefined;
      const result = (await ask(await socket(), { type: 'policy.delete', name: positionals[0]!, ...(namespace === undefined ? {} : { namespace }), ...(kind === undefined ? {} : { kind }) })) as {
        kind: string;
        namespace: string | null;
        name: string;
      };
      io.stdout(json ? `${JSON.stringify(result, null, 2)}\n` : `${result.kind} ${result.namespace === null ? '' : `${result.namespace}/`}${result.name} deleted\n`);
      return 0;
    }
    if (positionals.length === 0) {
      io.stderr(`bulwark policy apply: expected at least one policy file, or '-' for standard input\n\n${POLICY_CONTROL_HELP.apply}`);
      return 2;
    }
    const files = await readApplyFiles(positionals, io.readStdin ?? readProcessStdin);
    const plan = planApply(files, [], new Map());
    if (!plan.ok) {
      for (const problem of plan.problems) io.stderr(`${problem}\n`);
      io.stderr(`bulwark policy apply: ${plan.problems.length} ${plan.problems.length === 1 ? 'problem' : 'problems'}; nothing applied\n`);
      return 1;
    }
    const result = (await ask(await socket(), { type: 'policy.apply', files })) as {
      changes: { kind: string; namespace: string | null; name: string; action: string }[];
      failed: number;
    };
    if (json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    else for (const change of result.changes) io.stdout(`${change.kind} ${change.namespace === null ? '' : `${change.namespace}/`}${change.name} ${change.action}\n`);
    if (result.failed > 0) io.stderr(`bulwark policy apply: ${result.failed} containers kept their previous rules (see the agent's log)\n`);
    return result.failed > 0 ? 1 : 0;
  } catch (error) {
    fail(error);
    return 1;
  }
}
