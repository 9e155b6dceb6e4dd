/** A loaded program of a LoadedObject, and the ways to attach it. */
import { NotSupportedError, ValidationError, addContext } from '@bulwark/errors';
import { type KernelProgramInfo, type ProgramPointer } from './binding.js';
import { callLibbpf } from './call.js';
import { LibbpfError } from './errors.js';
import { Link } from './link.js';
import type { ObjectState } from './state.js';

const tracepointPart = /^[A-Za-z0-9_]+$/;

/** What the kernel knows about a loaded program: the binding's KernelProgramInfo, as it is. */
export type ProgramInfo = KernelProgramInfo;

/** What one test run gave back. */
export interface ProgramTestRun {
  /** The program's return value as a signed 32-bit integer (a program that returns -1 gives -1). */
  readonly returnValue: number;
  /** The context after the run: a copy of the one passed in, with what the program wrote into it (syscall programs). */
  readonly context: Buffer;
  /** Nanoseconds, as the kernel measured the run (0 for types it does not time). */
  readonly duration: number;
}

/** The largest context BPF_PROG_TEST_RUN takes (the kernel refuses more with EINVAL). */
const maxTestRunContext = 0xffff;

export class Program {
  readonly #state: ObjectState;
  readonly #pointer: ProgramPointer;
  /** The program's C function name. */
  readonly name: string;
  /** The ELF section it came from, e.g. `tracepoint/syscalls/sys_enter_getppid` or `lsm/file_open`. */
  readonly section: string;

  /** @internal Use LoadedObject.program(). */
  constructor(state: ObjectState, pointer: ProgramPointer) {
    this.#state = state;
    this.#pointer = pointer;
    this.name = state.binding.programName(pointer);
    this.section = state.binding.programSection(pointer);
  }

  /** The program's file descriptor; valid while its object is open. */
  get fd(): number {
    const state = this.#state;
    state.assertPhase(`get fd of program ${this.name}`, 'loaded');
    return callLibbpf(state.binding, `get fd of program ${this.name}`, () => state.binding.programFd(this.#pointer));
  }

  /** What the kernel knows about the program, read from it on each access. */
  get info(): ProgramInfo {
    const state = this.#state;
    const operation = `get info of program ${this.name}`;
    state.assertPhase(operation, 'loaded');
    const fd = callLibbpf(state.binding, operation, () => state.binding.programFd(this.#pointer));
    return callLibbpf(state.binding, operation, () => state.binding.programInfo(fd));
  }

  /**
   * Runs the program once in the kernel, without attaching it
   * (BPF_PROG_TEST_RUN), with `context` as its context (none by default),
   * and returns its return value and the context as the kernel left it.
   * Only types the kernel can run this way with a context alone work:
   * `syscall` programs (which may write their context back) and
   * `raw_tracepoint` ones, for example; the others fail with EINVAL or
   * ENOTSUPP. The input is not changed.
   */
  testRun(context: Uint8Array = new Uint8Array(0)): ProgramTestRun {
    const state = this.#state;
    const operation = `test run program ${this.name}`;
    if (!(context instanceof Uint8Array) || context.length > maxTestRunContext) {
      const got = context instanceof Uint8Array ? `${context.length} bytes` : typeof context;
      throw addContext(operation, new ValidationError('context', [{ path: '', message: `expected at most ${maxTestRunContext} bytes, got ${got}` }]));
    }
    state.assertPhase(operation, 'loaded');
    const copy = Buffer.from(context);
    const fd = callLibbpf(state.binding, operation, () => state.binding.programFd(this.#pointer));
    const outcome = callLibbpf(state.binding, operation, () => state.binding.testRun(fd, copy), { log: state.log });
    return { returnValue: outcome.returnValue | 0, context: copy, duration: outcome.duration };
  }

  /**
   * Attaches the program where its section name says (`tracepoint/a/b`,
   * `lsm/file_open`, ...). The link holds the attachment until destroyed.
   */
  attach(): Link {
    const state = this.#state;
    const operation = `attach program ${this.name}`;
    state.assertPhase(operation, 'loaded');
    const pointer = callLibbpf(state.binding, operation, () => state.binding.attachProgram(this.#pointer), { log: state.log });
    return new Link(state.binding, pointer, `program ${this.name} (${this.section})`);
  }

  /**
   * Attaches the program to the tracepoint `category/name`, e.g.
   * `syscalls`, `sys_enter_openat`. Throws NotSupportedError when tracefs is
   * not mounted, LibbpfError ENOENT when the tracepoint does not exist.
   */
  attachTracepoint(category: string, name: string): Link {
    const state = this.#state;
    const operation = `attach tracepoint ${category}/${name}`;
    for (const [label, part] of [
      ['category', category],
      ['name', name],
    ] as const) {
      if (typeof part !== 'string' || !tracepointPart.test(part)) {
        throw addContext(operation, new ValidationError(`tracepoint ${label}`, [{ path: '', message: 'expected letters, digits and underscores' }]));
      }
    }
    state.assertPhase(operation, 'loaded');
    try {
      const pointer = callLibbpf(state.binding, operation, () => state.binding.attachTracepoint(this.#pointer, category, name), {
        log: state.log,
      });
      return new Link(state.binding, pointer, `tracepoint ${category}/${name}`);
    } catch (error) {
      if (error instanceof LibbpfError && error.errno === 'ENOENT' && !state.binding.isTracefsMounted()) {
        const missing = 'tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing)';
        throw addContext(operation, Object.assign(new NotSupportedError('tracepoints', 'config', missing), { cause: error }));
      }
      throw error;
    }
  }
}
