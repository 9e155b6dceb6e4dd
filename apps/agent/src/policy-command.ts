/**
 * `bulwark policy validate|explain`: the policy package's checks and
 * explanations on the command line. Nothing here needs the agent except
 * `explain --container ID`, which asks it for the container.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { describeError, describeIssue, ValidationError } from '@bulwark/errors';
import { AgentConnection, DEFAULT_CONTROL_SOCKET } from '@bulwark/hook-client';
import {
  compilePolicies,
  compileSelected,
  explain,
  formatExplanation,
  hostWorkload,
  loadPolicies,
  parseLabelList,
  parseQuery,
  workloadFromReport,
  type PostureSetting,
  type Workload,
} from '@bulwark/policy';
import { resolveControlSocket } from './command-error.js';
import { runPolicyControlCommand, type PolicyControlIo } from './policy-control-command.js';
import type { ContainerRecord } from './registry.js';

export interface PolicyIo extends PolicyControlIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export const POLICY_HELP = `Usage: bulwark policy <validate|explain|apply|delete|list> ... [options]

  validate PATH...   check policy files and directories (*.yaml, *.yml);
                     one line per problem, file:line:column: field: message,
                     and one per field that is parsed but not enforced;
                     exit 0 when every policy is valid, 1 otherwise
  explain PATH...    what the policies that select a workload do to it:
                     the rules in force, which policy each comes from,
                     the postures, and what is not enforced
  apply FILE... | -  validate, then apply to the running agent (kept in its
                     state; re-applying a policy replaces it); root only
  delete NAME        remove an applied policy (--namespace NS, --kind KIND)
  list               the running agent's policies in force: origin,
                     containers selected, rules

Run 'bulwark policy apply|delete|list --help' for their options.

Options (explain; the workload):
  --labels K=V,...        the container's labels
  --name NAME             the container's name (kubearmor.io/container.name)
  --namespace NS          the container's pod namespace
  --container ID          a container the running agent knows (its labels,
                          names and namespace)
  --control-socket PATH   the agent's control socket (default ${DEFAULT_CONTROL_SOCKET})
  --config FILE           read the control socket from the agent's configuration
  --host                  the host, for host policies (labels from --labels,
                          kubernetes.io/hostname from --hostname)
  --hostname NAME         default: this machine's name
  --file-posture P        allow, audit or block (default block); process follows it
  --network-posture P     allow, audit or block (default block)
  --capabilities-posture P
                          allow, audit or block (default block)
  --check "OPERATION RESOURCE [from EXE] [as owner]"
                          decide one operation (repeatable), e.g.
                          "read /etc/shadow from /bin/cat", "exec /bin/ls",
                          "socket tcp from /usr/bin/curl", "capability net_raw"
Options (both):
  --json                  print JSON instead of text
  -h, --help              show this help
  --version               print the version
`;

export async function runPolicyCommand(args: readonly string[], io: PolicyIo): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === undefined || subcommand === '-h' || subcommand === '--help' || subcommand === 'help') {
    io.stdout(POLICY_HELP);
    return subcommand === undefined ? 2 : 0;
  }
  if (subcommand === 'apply' || subcommand === 'delete' || subcommand === 'list') return runPolicyControlCommand(subcommand, rest, io);
  if (subcommand !== 'validate' && subcommand !== 'explain') {
    io.stderr(`bulwark policy: unknown subcommand '${subcommand}' (expected validate, explain, apply, delete or list)\n`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: [...rest],
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        labels: { type: 'string', multiple: true },
        name: { type: 'string' },
        namespace: { type: 'string' },
        container: { type: 'string' },
        'control-socket': { type: 'string' },
        config: { type: 'string' },
        host: { type: 'boolean' },
        hostname: { type: 'string' },
        'file-posture': { type: 'string' },
        'network-posture': { type: 'string' },
        'capabilities-posture': { type: 'string' },
        check: { type: 'string', multiple: true },
      },
    });
  } catch (error) {
    throw new ValidationError(`policy ${subcommand}`, [{ path: '', message: describeError(error).replace(/\. To specify.*$/su, '') }]);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.stdout(POLICY_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new ValidationError(`policy ${subcommand}`, [{ path: '', message: 'expected at least one policy file or directory' }]);
  const loaded = await loadPolicies(positionals);
  const problems = loaded.errors.flatMap((error) => error.issues.map((issue) => ({ source: error.source, ...issue })));

  if (subcommand === 'validate') {
    const notEnforced = loaded.policies.flatMap((policy) => compileSelected([policy], policy.kind === 'KubeArmorHostPolicy' ? hostWorkload('host') : { kind: 'container', labels: {} }).notEnforced);
    if (values.json === true) {
      io.stdout(`${JSON.stringify({ valid: problems.length === 0, files: loaded.files, policies: loaded.policies.length, errors: problems, notEnforced }, null, 2)}\n`);
    } else {
      for (const problem of problems) io.stdout(`${describeIssue(problem.source, problem)}\n`);
      for (const item of notEnforced) io.stdout(`${item.source}:${item.line}:${item.column}: ${item.field === '' ? '' : `spec.${item.field}: `}not enforced: ${item.why}\n`);
      const summary = `${loaded.policies.length} ${loaded.policies.length === 1 ? 'policy' : 'policies'} in ${loaded.files.length} ${loaded.files.length === 1 ? 'file' : 'files'}`;
      io.stdout(problems.length === 0 ? `${summary}: valid\n` : `${summary} valid; ${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}\n`);
    }
    return problems.length === 0 ? 0 : 1;
  }

  if (problems.length > 0) {
    for (const problem of problems) io.stderr(`${describeIssue(problem.source, problem)}\n`);
    io.stderr(`bulwark policy explain: ${problems.length} ${problems.length === 1 ? 'problem' : 'problems'} in the policies; fix them first (bulwark policy validate)\n`);
    return 1;
  }
  const postures = {
    file: posture(values['file-posture'], '--file-posture'),
    network: posture(values['network-posture'], '--network-posture'),
    capabilities: posture(values['capabilities-posture'], '--capabilities-posture'),
  };
  const workload = await workloadFromOptions(values);
  const queries = (values.check ?? []).map((text) => parseQuery(text));
  const compiled = compilePolicies(loaded.policies, workload, {
    postures: Object.fromEntries(Object.entries(postures).filter(([, value]) => value !== undefined)),
  });
  const explanation = explain(compiled, queries);
  io.stdout(values.json === true ? `${JSON.stringify(explanation, null, 2)}\n` : formatExplanation(explanation));
  return 0;
}

function posture(value: string | undefined, flag: string): PostureSetting | undefined {
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  if (lower === 'allow' || lower === 'audit' || lower === 'block') return lower;
  throw new ValidationError('policy explain', [{ path: flag, message: `expected allow, audit or block, got ${JSON.stringify(value)}` }]);
}

async function workloadFromOptions(values: {
  labels?: string[] | undefined;
  name?: string | undefined;
  namespace?: string | undefined;
  container?: string | undefined;
  'control-socket'?: string | undefined;
  config?: string | undefined;
  host?: boolean | undefined;
  hostname?: string | undefined;
}): Promise<Workload> {
  let labels: Record<string, string> = {};
  try {
    for (const list of values.labels ?? []) labels = { ...labels, ...parseLabelList(list) };
  } catch (error) {
    throw new ValidationError('policy explain', [{ path: '--labels', message: describeError(error) }]);
  }
  const chosen = [values.host === true, values.container !== undefined, values.labels !== undefined || values.name !== undefined || values.namespace !== undefined].filter(Boolean).length;
  if (chosen > 1) throw new ValidationError('policy explain', [{ path: '', message: 'expected one workload: --host, --container ID, or --labels/--name/--namespace' }]);
  if (values.host === true) return hostWorkload(values.hostname ?? hostname(), labels);
  if (values.container !== undefined) {
    const id = values.container;
    const connection = await AgentConnection.connect(await resolveControlSocket(values));
    let records: ContainerRecord[];
    try {
      records = (await connection.request({ type: 'containers.list' }, { replyTimeoutMs: 5000 })) as ContainerRecord[];
    } finally {
      connection.close();
    }
    const matches = records.filter((record) => record.container.id === id || record.container.id.startsWith(id) || record.container.names.name === id);
    if (matches.length !== 1) {
      throw new ValidationError('policy explain', [{ path: '--container', message: matches.length === 0 ? `the agent knows no container ${JSON.stringify(id)}` : `${JSON.stringify(id)} names ${matches.length} containers; give more of the id` }]);
    }
    return workloadFromReport(matches[0]!.container);
  }
  return {
    kind: 'container',
    ...(values.name === undefined ? {} : { name: values.name }),
    ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
    labels,
  };
}
