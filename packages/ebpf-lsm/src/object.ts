/**
 * A BPF object file in its two phases: `OpenObject` (parsed, not yet in the
 * kernel; the place for configuration before load) and `LoadedObject`
 * (programs verified and maps created), from which programs are attached and
 * maps read.
 */
import { ValidationError, addContext } from '@bulwark/errors';
import { type LibbpfBinding, type OpenObjectSettings, createLibbpfBinding } from './binding.js';
import { type LogOptions, callLibbpf } from './call.js';
import { BpfMap, mapOfObject } from './map.js';
import { Program } from './program.js';
import { StateError } from './errors.js';
import { ObjectState } from './state.js';

export interface OpenObjectOptions extends LogOptions {
  /** The object's name in libbpf's messages and in the kernel's map names; default the file name without `.o`. */
  name?: string;
  /** The libbpf binding to use; default the real libbpf.so.1 (see createLibbpfBinding). */
  binding?: LibbpfBinding;
}

/**
 * Opens a BPF object (an ELF file built with `clang -target bpf`) from a
 * path or from its bytes. Nothing reaches the kernel yet; call `load()`.
 * Throws NotSupportedError where libbpf is unavailable, LibbpfError when the
 * file is missing or is not a BPF object.
 */
export function openObject(source: string | Uint8Array, options: OpenObjectOptions = {}): OpenObject {
  const fromPath = typeof source === 'string';
  if (!fromPath && !(source instanceof Uint8Array)) {
    throw addContext('open object', new ValidationError('source', [{ path: '', message: 'expected a path or the bytes of an object file' }]));
  }
  if (fromPath && source === '') {
    throw addContext('open object', new ValidationError('source', [{ path: '', message: 'expected a path, got an empty string' }]));
  }
  if (options.name === '') {
    throw addContext('open object', new ValidationError('name', [{ path: '', message: 'expected a non-empty name' }]));
  }
  const binding = options.binding ?? createLibbpfBinding();
  const settings: OpenObjectSettings = options.name === undefined ? {} : { objectName: options.name };
  const log = logOptions(options);
  const pointer = fromPath
    ? callLibbpf(binding, 'open object', () => binding.openObjectFile(source, settings), { path: source, log })
    : callLibbpf(binding, 'open object from memory', () => binding.openObjectMemory(source, settings), { log });
  const state = new ObjectState(binding, pointer, binding.objectName(pointer), log);
  if (!fromPath) state.bytes = source;
  return new OpenObject(state);
}

function logOptions(options: LogOptions): LogOptions | undefined {
  if (options.onLog === undefined) return undefined;
  return options.logLevel === undefined ? { onLog: options.onLog } : { onLog: options.onLog, logLevel: options.logLevel };
}

/** An object opened but not loaded. Load it with `load()`, or close it. */
export class OpenObject implements Disposable {
  readonly #state: ObjectState;

  /** @internal Use openObject(). */
  constructor(state: ObjectState) {
    this.#state = state;
  }

  get name(): string {
    return this.#state.name;
  }

  /** The names of the object's programs (C function names), in file order. */
  programNames(): string[] {
    const state = this.#state;
    state.assertPhase('list programs', 'open');
    return state.binding.programs(state.pointer).map((program) => state.binding.programName(program));
  }

  /** The names of the object's maps, including libbpf's internal ones (`.rodata`, `.bss`), in file order. */
  mapNames(): string[] {
    const state = this.#state;
    state.assertPhase('list maps', 'open');
    return state.binding.maps(state.pointer).map((map) => state.binding.mapName(map));
  }

  /**
   * Makes `template` the inner-map template of the map of maps `mapName`:
   * the map its inner maps must match. Needed when the object declares the
   * outer map without `__array(values, ...)`, from which libbpf would make
   * one itself. libbpf keeps `template`'s fd until load(), so it must stay
   * open until then (load() checks); close it after.
   */
  setInnerMapTemplate(mapName: string, template: BpfMap): void {
    const state = this.#state;
    const operation = `set inner map template of map ${mapName}`;
    state.assertPhase(operation, 'open');
    if (!(template instanceof BpfMap)) {
      throw addContext(operation, new ValidationError('template', [{ path: '', message: 'expected a BpfMap' }]));
    }
    const pointer = state.binding.findMap(state.pointer, mapName);
    if (pointer === undefined) {
      throw new ValidationError(`object ${state.name}`, [{ path: 'maps', message: `no map named '${mapName}' (has ${listOrNone(this.mapNames())})` }]);
    }
    const fd = template.fd;
    callLibbpf(state.binding, operation, () => state.binding.setInnerMapFd(pointer, fd), { log: state.log });
    state.innerMapTemplates.push({ mapName, template });
  }

  /**
   * Creates the maps and loads the programs into the kernel. The returned
   * LoadedObject owns the object from then on; this OpenObject can no longer
   * be used (closing it does nothing). When loading fails the object is
   * closed and the error carries libbpf's log: a VerifierError when the
   * verifier rejected a program, else a LibbpfError (EPERM without CAP_BPF).
   */
  load(): LoadedObject {
    const state = this.#state;
    const operation = `load object ${state.name}`;
    state.assertPhase(operation, 'open');
    for (const { mapName, template } of state.innerMapTemplates) {
      // libbpf would hand the kernel a closed (or reused) fd number.
      if (template.closed) throw new StateError(operation, `inner map template ${template.name} of map ${mapName} was closed before load`);
    }
    try {
      callLibbpf(state.binding, operation, () => state.binding.loadObject(state.pointer), { log: state.log });
    } catch (error) {
      // libbpf leaves a failed object half-loaded; nothing useful remains.
      state.close();
      throw error;
    }
    state.phase = 'loaded';
    state.innerMapTemplates.length = 0;
    return new LoadedObject(state);
  }

  /** Frees the object. Does nothing once it is closed or loaded (the LoadedObject owns it then). */
  close(): void {
    if (this.#state.phase === 'open') this.#state.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** An object whose programs and maps are in the kernel. Close it to free them. */
export class LoadedObject implements Disposable {
  readonly #state: ObjectState;
  readonly #programs = new Map<string, Program>();
  readonly #maps = new Map<string, BpfMap>();

  /** @internal Use OpenObject.load(). */
  constructor(state: ObjectState) {
    this.#state = state;
  }

  get name(): string {
    return this.#state.name;
  }

  get closed(): boolean {
    return this.#state.phase === 'closed';
  }

  /** The program whose C function is `name`. Throws ValidationError when the object has none. */
  program(name: string): Program {
    const state = this.#state;
    state.assertPhase(`get program ${name}`, 'loaded');
    const known = this.#programs.get(name);
    if (known !== undefined) return known;
    const pointer = state.binding.findProgram(state.pointer, name);
    if (pointer === undefined) {
      throw new ValidationError(`object ${state.name}`, [
        { path: 'programs', message: `no program named '${name}' (has ${listOrNone(this.programs().map((program) => program.name))})` },
      ]);
    }
    const program = new Program(state, pointer);
    this.#programs.set(name, program);
    return program;
  }

  /** The map named `name`. Throws ValidationError when the object has none. */
  map(name: string): BpfMap {
    const state = this.#state;
    state.assertPhase(`get map ${name}`, 'loaded');
    const known = this.#maps.get(name);
    if (known !== undefined) return known;
    const pointer = state.binding.findMap(state.pointer, name);
    if (pointer === undefined) {
      throw new ValidationError(`object ${state.name}`, [
        { path: 'maps', message: `no map named '${name}' (has ${listOrNone(this.maps().map((map) => map.name))})` },
      ]);
    }
    const map = mapOfObject(state, pointer);
    this.#maps.set(name, map);
    return map;
  }

  /** Every program, in file order. */
  programs(): Program[] {
    const state = this.#state;
    state.assertPhase('list programs', 'loaded');
    return state.binding.programs(state.pointer).map((pointer) => this.program(state.binding.programName(pointer)));
  }

  /** Every map, libbpf's internal ones included, in file order. */
  maps(): BpfMap[] {
    const state = this.#state;
    state.assertPhase('list maps', 'loaded');
    return state.binding.maps(state.pointer).map((pointer) => this.map(state.binding.mapName(pointer)));
  }

  /**
   * Unloads the programs and frees the maps (the kernel keeps a map or a
   * program alive while a link or pin still holds it). Links stay valid and
   * must be destroyed on their own. Closing twice does nothing.
   */
  close(): void {
    this.#state.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function listOrNone(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.join(', ');
}
