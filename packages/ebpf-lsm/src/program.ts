/** A loaded program of a LoadedObject, and the ways to attach it. */
import { NotSupportedError, ValidationError, addContext } from '@bulwark/errors';
import { type ProgramPointer } from './binding.js';
import { callLibbpf } from './call.js';
import { LibbpfError } from './errors.js';
import { Link } from './link.js';
import type { ObjectState } from './state.js';

const tracepointPart = /^[A-Za-z0-9_]+$/;

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
