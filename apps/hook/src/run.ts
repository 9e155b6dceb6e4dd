import { readFileSync } from 'node:fs';
import { BulwarkError, describeError, toSystemError } from '@bulwark/errors';
import {
  AgentConnection,
  AgentTimeoutError,
  buildContainerReport,
  decideVerdict,
  defaultHookConfig,
  isAllowListed,
  parseHookConfig,
  type ContainerReport,
  type HookConfig,
  type HookStage,
  type HookVerdict,
  type RequestBody,
} from '@bulwark/hook-client';
import { identifyContainer, parseState, readConfigSummary, readPodmanContainerName, type ContainerState } from '@bulwark/oci-state';
import { readProcess } from '@bulwark/procfs';
import { HELP, HOOK_VERSION, parseHookArguments, stageFromStatus, type HookArguments } from './args.js';
import { createHookLog, type HookLog } from './log.js';

export interface HookIo {
  readonly argv: readonly string[];
  /** Reads the runtime's state from stdin, within a size and a time bound. */
  readonly readStdin: (maxBytes: number, timeoutMs: number) => Promise<string>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** How the launcher found its V8 code cache (logged): accepted, rejected, absent, off, unsafe. */
  readonly codeCache?: string;
}

export const MAX_STATE_BYTES = 1024 * 1024;

/** What the hook did; `exitCode` 0 lets the container go on. */
export interface HookResult {
  readonly exitCode: 0 | 1 | 2;
  /** The run went the whole registration path (state, bundle, /proc, agent): its code is the code worth caching. */
  readonly complete: boolean;
}

type Step = 'arguments' | 'config' | 'stdin' | 'state' | 'bundle' | 'process' | 'agent';

class StepError extends Error {
  readonly step: Step;
  constructor(step: Step, error: unknown) {
    super(describeError(error), { cause: error });
    this.step = step;
  }
}

/** Milliseconds each step took, for the log line: where a slow container start went. */
type StepTimes = Partial<Record<Step, number>>;
let stepTimes: StepTimes = {};

async function step<T>(name: Step, work: () => Promise<T> | T): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } catch (error) {
    throw new StepError(name, error);
  } finally {
    stepTimes[name] = Math.round(((stepTimes[name] ?? 0) + performance.now() - started) * 100) / 100;
  }
}

/**
 * One hook invocation. Every failure ends in a verdict (fail-open,
 * fail-closed, refused) that is logged; only a refusal or fail-closed
 * prints a line, and the process never shows a stack trace.
 */
export async function runHook(io: HookIo): Promise<HookResult> {
  const started = performance.now();
  stepTimes = {};
  let args: HookArguments;
  try {
    args = parseHookArguments(io.argv);
  } catch (error) {
    io.stderr(`bulwark-hook: ${describeError(error)}\n`);
    return { exitCode: 2, complete: false };
  }
  if (args.help) {
    io.stdout(HELP);
    return { exitCode: 0, complete: false };
  }
  if (args.version === true) {
    io.stdout(`${HOOK_VERSION}\n`);
    return { exitCode: 0, complete: false };
  }

  // A configuration file that cannot be read or is invalid falls back to the
  // defaults (fail-open, so that a typo does not stop every container on the
  // node) and the log says why. The command line always wins: a mode given
  // there is the runtime entry's own, whatever the file holds.
  let config: HookConfig = defaultHookConfig();
  let configError: unknown;
  if (args.config !== undefined) {
    try {
      config = parseHookConfig(readConfigText(args.config), args.config);
    } catch (error) {
      configError = error;
    }
  }
  config = {
    ...config,
    ...(args.failMode !== undefined ? { failMode: args.failMode } : {}),
    ...(args.socket !== undefined ? { socket: args.socket } : {}),
    ...(args.log !== undefined ? { log: args.log } : {}),
  };
  const log = createHookLog(config.log);
  if (configError !== undefined) {
    const fallback = args.failMode === undefined ? 'using the defaults (fail-open)' : `using the defaults, fail-${args.failMode} from --fail-mode`;
    log.write({ level: 'error', event: 'bad-config', file: args.config, message: `read hook config: ${describeError(configError)}; ${fallback}` });
  }

  // Connect while stdin, the bundle and /proc are read: the connection is
  // ready when the report is, and an absent agent is known at once.
  const agent = connectEarly(config);
  let state: ContainerState | undefined;
  let stage: HookStage | undefined = args.stage;
  let allowListed: () => boolean = () => false;
  let failure: StepError | undefined;
  try {
    const text = await step('stdin', async () => {
      const read = await io.readStdin(MAX_STATE_BYTES, config.stdinTimeoutMs);
      if (read.trim() === '') throw new Error("read stdin: no state (empty input); the runtime passes the container's state there (bulwark-hook --help)");
      return read;
    });
    state = await step('state', () => parseState(text, 'stdin'));
    stage ??= stageFromStatus(state.status);
    if (stage === undefined) {
      throw new StepError('state', new Error(`cannot tell the hook stage from status '${state.status}'; pass --stage`));
    }
    if (stage === 'poststop') {
      // The process is gone and the bundle may be too: the id is all the agent needs.
      const report: ContainerReport = { id: state.id, stage, status: state.status, bundle: state.bundle, names: { runtime: 'unknown' } };
      await step('agent', () => agent.request({ type: 'container.stop', container: report }));
    } else {
      // Fail-open with the agent already known unreachable: nothing read
      // below could change the verdict, so do not read it.
      if (config.failMode === 'open' && agent.failedEarly() !== undefined) throw new StepError('agent', agent.failedEarly());
      const current = state;
      // The bundle and /proc are independent: read them together.
      const [bundleConfig, snapshot] = await Promise.all([
        step('bundle', () => readConfigSummary(current.bundle, { synchronous: true })),
        current.pid === undefined ? undefined : step('process', () => readProcess(current.pid!, { synchronous: true })),
      ]);
      const annotations = { ...bundleConfig.annotations, ...current.annotations };
      const identified = identifyContainer(annotations);
      // No manager wrote its annotations (plain runc or crun): the runtime that started this hook names it.
      const names = identified.runtime === 'unknown' ? { ...identified, runtime: ociRuntimeOfParent() ?? 'unknown' } : identified;
      allowListed = () => {
        // Podman writes no name into config.json: an allow-list that names containers reads it where podman keeps it (only on failure, off the common path).
        if (names.runtime === 'podman' && names.name === undefined && config.allow.names.length > 0) {
          const name = readPodmanContainerName(current.id, config.podmanContainersFile);
          if (name !== undefined) return isAllowListed(config, { ...names, name });
        }
        return isAllowListed(config, names);
      };
      const report = buildContainerReport({ state: current, stage, config: bundleConfig, names, annotations, snapshot });
      await step('agent', () => agent.request({ type: 'container.create', container: report }));
    }
  } catch (error) {
    failure = error instanceof StepError ? error : new StepError('agent', error);
  } finally {
    agent.close();
  }

  const verdict: HookVerdict =
    stage === 'poststop' ? { start: true, why: failure === undefined ? 'registered' : 'not-applicable' } : decideVerdict(config, failure !== undefined && allowListed(), failure?.cause);
  writeOutcome(log, {
    verdict,
    failure,
    state,
    stage,
    failMode: config.failMode,
    durationMs: Math.round((performance.now() - started) * 100) / 100,
    steps: stepTimes,
    // Time from the process's start to this module's run: Node's start-up and the bundle's load.
    startupMs: Math.round(started * 100) / 100,
    codeCache: io.codeCache,
  });
  if (!verdict.start) {
    io.stderr(`bulwark-hook: container ${state?.id ?? '(unknown)'} stopped (${verdict.why}): ${verdict.reason}\n`);
    return { exitCode: 1, complete: false };
  }
  return { exitCode: 0, complete: failure === undefined && stage !== 'poststop' };
}

/**
 * The OCI runtime that ran this hook, from its parent's command name: runc
 * and crun run hooks as their children (runc's in-container stages from
 * `runc:[2:INIT]`). Undefined for anything else.
 */
function ociRuntimeOfParent(): string | undefined {
  try {
    const comm = readFileSync(`/proc/${process.ppid}/comm`, 'utf8');
    return /^(runc|crun|youki|runsc)\b/.exec(comm)?.[1];
  } catch {
    return undefined;
  }
}

/** The configuration file's text; a read error names the file. */
function readConfigText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw toSystemError('read', error, path);
  }
}

/**
 * A connection started at once, with one deadline (`timeoutMs`) over connect
 * and reply. Its failure is kept, not thrown, until the report is ready.
 */
function connectEarly(config: HookConfig) {
  const deadline = performance.now() + config.timeoutMs;
  let connection: AgentConnection | undefined;
  let failure: unknown;
  const connecting = AgentConnection.connect(config.socket, {
    connectTimeoutMs: Math.min(config.connectTimeoutMs, config.timeoutMs),
  }).then(
    (opened) => {
      connection = opened;
      return opened;
    },
    (error: unknown) => {
      failure = error;
      return undefined;
    },
  );
  return {
    failedEarly: (): unknown => failure,
    async request(body: RequestBody): Promise<unknown> {
      const opened = await connecting;
      if (opened === undefined) throw failure;
      const remaining = Math.max(1, Math.floor(deadline - performance.now()));
      try {
        return await opened.request(body, { replyTimeoutMs: remaining });
      } catch (error) {
        // The wait was cut by the one deadline: say so in its terms.
        if (BulwarkError.is(error, 'ERR_AGENT_TIMEOUT')) throw new AgentTimeoutError('reply', config.timeoutMs);
        throw error;
      }
    },
    close(): void {
      connection?.close();
      void connecting.then((opened) => opened?.close());
    },
  };
}

function writeOutcome(
  log: HookLog,
  outcome: {
    verdict: HookVerdict;
    failure: StepError | undefined;
    state: ContainerState | undefined;
    stage: HookStage | undefined;
    failMode: string;
    durationMs: number;
    steps: StepTimes;
    startupMs: number;
    codeCache: string | undefined;
  },
): void {
  const { verdict, failure, state } = outcome;
  log.write({
    level: failure === undefined ? 'info' : verdict.start ? 'warn' : 'error',
    event: 'hook',
    id: state?.id,
    stage: outcome.stage,
    start: verdict.start,
    why: verdict.why,
    failMode: outcome.failMode,
    ...(failure === undefined ? {} : { step: failure.step, error: failure.message }),
    durationMs: outcome.durationMs,
    startupMs: outcome.startupMs,
    steps: outcome.steps,
    ...(outcome.codeCache === undefined ? {} : { codeCache: outcome.codeCache }),
  });
}
