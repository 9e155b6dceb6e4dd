/**
 * The lifecycle of one bpf_object, shared by the OpenObject and
 * LoadedObject that stand for it and by the programs and maps taken from it:
 * every use checks the phase first, so misuse throws StateError instead of
 * reaching libbpf with a freed pointer.
 */
import type { LibbpfBinding, ObjectPointer } from './binding.js';
import type { LogOptions } from './call.js';
import { StateError } from './errors.js';
import type { BpfMap } from './map.js';

export type ObjectPhase = 'open' | 'loaded' | 'closed';

export class ObjectState {
  readonly binding: LibbpfBinding;
  readonly pointer: ObjectPointer;
  readonly name: string;
  readonly log: LogOptions | undefined;
  phase: ObjectPhase = 'open';
  /** The bytes an object was opened from, kept referenced while libbpf may read them. */
  bytes: Uint8Array | undefined;
  /** Maps given to libbpf as inner-map templates, whose fds it uses at load. */
  readonly innerMapTemplates: { readonly mapName: string; readonly template: BpfMap }[] = [];

  constructor(binding: LibbpfBinding, pointer: ObjectPointer, name: string, log: LogOptions | undefined) {
    this.binding = binding;
    this.pointer = pointer;
    this.name = name;
    this.log = log;
  }

  /** Throws unless the object is in `phase`. */
  assertPhase(operation: string, phase: 'open' | 'loaded'): void {
    if (this.phase === phase) return;
    if (this.phase === 'closed') throw new StateError(operation, `object ${this.name} is closed`);
    if (this.phase === 'loaded') {
      throw new StateError(operation, `object ${this.name} is loaded; use the object that load() returned`);
    }
    throw new StateError(operation, `object ${this.name} is not loaded; call load() first`);
  }

  close(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.bytes = undefined;
    this.innerMapTemplates.length = 0;
    this.binding.closeObject(this.pointer);
  }
}
