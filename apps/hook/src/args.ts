import { ValidationError } from '@bulwark/errors';
import { HOOK_STAGES, type HookStage } from '@bulwark/hook-client';

/** The hook's version, as in apps/hook/package.json (a unit test holds the two together). */
export const HOOK_VERSION = '0.1.0';

export const HELP = `bulwark-hook ${HOOK_VERSION}: the OCI runtime hook of Bulwark

Usage: bulwark-hook [options] < state.json

The container runtime runs this hook with the container's state on stdin.
It reads the bundle's config.json and /proc for the container's process,
tells the Bulwark agent, and exits once the agent has answered, so the agent
knows the container before its first instruction runs.

Options:
  --config FILE      hook configuration written by 'bulwark install-hook'
                     (default: none, built-in defaults)
  --stage STAGE      the hook stage: ${HOOK_STAGES.join(', ')}
                     (default: from the state's status)
  --socket PATH      agent socket (overrides the configuration)
  --fail-mode MODE   open or closed (overrides the configuration)
  --log FILE         JSON-lines log file, '' for none (overrides the configuration)
  -h, --help         show this help
  --version          print the version

Exit status: 0 the container may go on; 1 it must not (fail-closed or
refused; one line on stderr says why); 2 usage error.

Where the reason goes: every run writes one JSON line to the log file
(--log; 'bulwark install-hook' sets /var/log/bulwark/hook.log), with the
step that failed and why, also when the container starts (fail-open). The
line on stderr is shown by runc and crun; podman and CRI-O put it in the
start error ("error executing hook ...") or their own log.
`;

export interface HookArguments {
  readonly help: boolean;
  readonly version?: boolean;
  readonly config?: string;
  readonly stage?: HookStage;
  readonly socket?: string;
  readonly failMode?: 'open' | 'closed';
  readonly log?: string;
}

/**
 * Parses the hook's arguments by hand: this runs once per container start,
 * and a general parser costs start-up time for nothing. The runtime passes
 * argv[0] as the first `args` entry; Node strips it with process.argv.
 */
export function parseHookArguments(argv: readonly string[]): HookArguments {
  const result: { -readonly [K in keyof HookArguments]: HookArguments[K] } = { help: false };
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    if (argument === '-h' || argument === '--help') {
      result.help = true;
      continue;
    }
    if (argument === '--version') {
      result.version = true;
      continue;
    }
    const equals = argument.indexOf('=');
    const flag = equals > 0 ? argument.slice(0, equals) : argument;
    const takeValue = (): string => {
      if (equals > 0) return argument.slice(equals + 1);
      const value = argv[++index];
      if (value === undefined) throw usage(`${flag} needs a value`);
      return value;
    };
    switch (flag) {
      case '--config':
        result.config = takeValue();
        break;
      case '--stage': {
        const value = takeValue();
        if (!(HOOK_STAGES as readonly string[]).includes(value)) {
          throw usage(`--stage must be one of ${HOOK_STAGES.join(', ')}, got '${value}'`);
        }
        result.stage = value as HookStage;
        break;
      }
      case '--socket':
        result.socket = takeValue();
        break;
      case '--fail-mode': {
        const value = takeValue();
        if (value !== 'open' && value !== 'closed') throw usage(`--fail-mode must be open or closed, got '${value}'`);
        result.failMode = value;
        break;
      }
      case '--log':
        result.log = takeValue();
        break;
      default:
        throw usage(`unknown argument '${argument}'`);
    }
  }
  return result;
}

function usage(message: string): ValidationError {
  return new ValidationError('arguments', [{ path: '', message }]);
}

/** The stage a state's status implies when no --stage is given. */
export function stageFromStatus(status: string): HookStage | undefined {
  switch (status) {
    case 'creating':
      return 'createRuntime';
    case 'created':
      return 'startContainer';
    case 'running':
      return 'poststart';
    case 'stopped':
      return 'poststop';
    default:
      return undefined;
  }
}
