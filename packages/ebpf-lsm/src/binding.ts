/**
 * The injectable interface between the typed API and libbpf. The typed API
 * (object.ts, program.ts, link.ts, map.ts) calls nothing else, so a fake
 * (src/__fixtures__/fake-binding.ts) can drive every error path in unit
 * tests; `createLibbpfBinding()` is the real one, over the koffi
 * declarations in raw/libbpf.ts.
 *
 * A failed call throws `LibbpfCallError` with the C function's name and its
 * (positive) errno; the typed API turns it into a Bulwark error, with the log
 * libbpf printed meanwhile, in one place (errors.ts).
 */
import { existsSync } from 'node:fs';
import {
  LIBBPF_DEBUG,
  LIBBPF_INFO,
  LIBBPF_WARN,
  type LoadedLibbpf,
  type Pointer,
  type bpf_object_open_opts,
  loadLibbpf,
} from './raw/libbpf.js';

declare const pointerKind: unique symbol;
/** Opaque libbpf handles; the brand keeps one kind from being passed as another. */
export type ObjectPointer = bigint & { readonly [pointerKind]: 'bpf_object' };
export type ProgramPointer = bigint & { readonly [pointerKind]: 'bpf_program' };
export type MapPointer = bigint & { readonly [pointerKind]: 'bpf_map' };
export type LinkPointer = bigint & { readonly [pointerKind]: 'bpf_link' };

/** libbpf's print levels, most important first. */
export type LogLevel = 'warn' | 'info' | 'debug';

export const logLevels: readonly LogLevel[] = ['warn', 'info', 'debug'];

/** Receives what libbpf prints, one message per call, without the trailing newline. */
export interface LogSink {
  /** The most detailed level to format and deliver; lower-priority messages are dropped unformatted. */
  readonly level: LogLevel;
  write(level: LogLevel, message: string): void;
}

/** A libbpf function failed: `errno` is positive (1 for EPERM), as libbpf reported it. */
export class LibbpfCallError extends Error {
  readonly functionName: string;
  readonly errno: number;

  constructor(functionName: string, errno: number) {
    super(`${functionName}: errno ${errno}`);
    this.name = 'LibbpfCallError';
    this.functionName = functionName;
    this.errno = errno;
  }
}

export interface OpenObjectSettings {
  /** Overrides the object's name (by default the file name without `.o`, or an address for memory). */
  readonly objectName?: string;
}

/** A map as its definition in the object describes it. */
export interface MapDefinition {
  /** `enum bpf_map_type` */
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
}

export interface LibbpfVersion {
  readonly major: number;
  readonly minor: number;
}

export interface LibbpfBinding {
  readonly version: LibbpfVersion;
  /** Where libbpf's messages go from now on (undefined drops them); returns the previous sink. */
  setLogSink(sink: LogSink | undefined): LogSink | undefined;

  openObjectFile(path: string, settings: OpenObjectSettings): ObjectPointer;
  /** libbpf keeps reading the bytes after opening; the binding keeps its own copy until closeObject. */
  openObjectMemory(bytes: Uint8Array, settings: OpenObjectSettings): ObjectPointer;
  loadObject(object: ObjectPointer): void;
  closeObject(object: ObjectPointer): void;
  objectName(object: ObjectPointer): string;
  programs(object: ObjectPointer): ProgramPointer[];
  maps(object: ObjectPointer): MapPointer[];
  findProgram(object: ObjectPointer, name: string): ProgramPointer | undefined;
  findMap(object: ObjectPointer, name: string): MapPointer | undefined;

  programName(program: ProgramPointer): string;
  programSection(program: ProgramPointer): string;
  programFd(program: ProgramPointer): number;
  /** Attaches as the program's section says (bpf_program__attach). */
  attachProgram(program: ProgramPointer): LinkPointer;
  attachTracepoint(program: ProgramPointer, category: string, name: string): LinkPointer;

  destroyLink(link: LinkPointer): void;
  pinLink(link: LinkPointer, path: string): void;
  unpinLink(link: LinkPointer): void;
  openPinnedLink(path: string): LinkPointer;
  linkFd(link: LinkPointer): number;
  linkPinPath(link: LinkPointer): string | undefined;

  mapName(map: MapPointer): string;
  mapDefinition(map: MapPointer): MapDefinition;
  mapFd(map: MapPointer): number;
  /** Fills `value`; false when the key is absent (ENOENT). */
  lookupElement(fd: number, key: Uint8Array, value: Uint8Array): boolean;
  updateElement(fd: number, key: Uint8Array, value: Uint8Array, flags: number): void;
  /** False when the key is absent (ENOENT). */
  deleteElement(fd: number, key: Uint8Array): boolean;
  /** Writes the key after `key` (the first key when undefined) into `next`; false at the end. */
  nextKey(fd: number, key: Uint8Array | undefined, next: Uint8Array): boolean;

  /** The number of possible CPUs, which sizes per-CPU map values. */
  possibleCpus(): number;
  /** Whether the tracefs that libbpf reads tracepoint ids from is mounted. */
  isTracefsMounted(): boolean;
}

export const ENOENT = 2;

let realBinding: LibbpfBinding | undefined;

/**
 * The binding over the real libbpf.so.1, created once per process: it owns
 * libbpf's process-wide print function. Throws NotSupportedError where
 * libbpf cannot be loaded (see loadLibbpf).
 */
export function createLibbpfBinding(): LibbpfBinding {
  realBinding ??= createRealBinding(loadLibbpf());
  return realBinding;
}

function createRealBinding(loaded: LoadedLibbpf): LibbpfBinding {
  const { libbpf, libc, ffi } = loaded;
  let sink: LogSink | undefined;
  let sinkLevel = -1;

  const print = ffi.register_libbpf_print_fn((level, format, ap) => {
    if (sink === undefined || level > sinkLevel) return 0;
    try {
      const out: [Pointer | null] = [null];
      const length = libc.vasprintf(out, format, ap);
      const text = out[0];
      if (length < 0 || text === null) return 0;
      let message: string;
      try {
        message = ffi.decode_string(text);
      } finally {
        libc.free(text);
      }
      sink.write(levelName(level), message.endsWith('\n') ? message.slice(0, -1) : message);
    } catch {
      // A failing sink must not unwind through libbpf.
    }
    return 0;
  });
  libbpf.libbpf_set_print(print);

  // Copies of objects opened from memory, freed with their object.
  const memory = new Map<bigint, Pointer>();

  const openOptions = (settings: OpenObjectSettings): bpf_object_open_opts => ({
    sz: ffi.sizeof_bpf_object_open_opts,
    object_name: settings.objectName ?? null,
    relaxed_maps: false,
    pin_root_path: null,
    kconfig: null,
    btf_custom_path: null,
    kernel_log_buf: null,
    kernel_log_size: 0,
    kernel_log_level: 0,
  });

  /** A pointer result: NULL means failure with errno set. */
  function pointer(functionName: string, result: Pointer | null): Pointer {
    if (result === null) throw new LibbpfCallError(functionName, ffi.errno());
    return result;
  }

  /** An int result: negative means -errno. */
  function check(functionName: string, result: number): number {
    if (result < 0) throw new LibbpfCallError(functionName, -result);
    return result;
  }

  function absentOrCheck(functionName: string, result: number): boolean {
    if (result === -ENOENT) return false;
    check(functionName, result);
    return true;
  }

  function text(value: string | null): string {
    return value ?? '';
  }

  return {
    version: { major: libbpf.libbpf_major_version(), minor: libbpf.libbpf_minor_version() },

    setLogSink(next) {
      const previous = sink;
      sink = next;
      sinkLevel = next === undefined ? -1 : levelNumber(next.level);
      return previous;
    },

    openObjectFile(path, settings) {
      return pointer('bpf_object__open_file', libbpf.bpf_object__open_file(path, openOptions(settings))) as ObjectPointer;
    },

    openObjectMemory(bytes, settings) {
      const copy = libc.malloc(Math.max(bytes.length, 1));
      if (copy === null) throw new LibbpfCallError('malloc', ffi.errno());
      libc.memcpy(copy, bytes, bytes.length);
      const object = libbpf.bpf_object__open_mem(copy, bytes.length, openOptions(settings));
      if (object === null) {
        const errno = ffi.errno();
        libc.free(copy);
        throw new LibbpfCallError('bpf_object__open_mem', errno);
      }
      memory.set(object, copy);
      return object as ObjectPointer;
    },

    loadObject(object) {
      check('bpf_object__load', libbpf.bpf_object__load(object));
    },

    closeObject(object) {
      libbpf.bpf_object__close(object);
      const copy = memory.get(object);
      if (copy !== undefined) {
        memory.delete(object);
        libc.free(copy);
      }
    },

    objectName: (object) => text(libbpf.bpf_object__name(object)),

    programs(object) {
      const programs: ProgramPointer[] = [];
      for (let program = libbpf.bpf_object__next_program(object, null); program !== null; ) {
        programs.push(program as ProgramPointer);
        program = libbpf.bpf_object__next_program(object, program);
      }
      return programs;
    },

    maps(object) {
      const maps: MapPointer[] = [];
      for (let map = libbpf.bpf_object__next_map(object, null); map !== null; ) {
        maps.push(map as MapPointer);
        map = libbpf.bpf_object__next_map(object, map);
      }
      return maps;
    },

    findProgram: (object, name) => (libbpf.bpf_object__find_program_by_name(object, name) ?? undefined) as ProgramPointer | undefined,
    findMap: (object, name) => (libbpf.bpf_object__find_map_by_name(object, name) ?? undefined) as MapPointer | undefined,

    programName: (program) => text(libbpf.bpf_program__name(program)),
    programSection: (program) => text(libbpf.bpf_program__section_name(program)),
    programFd: (program) => check('bpf_program__fd', libbpf.bpf_program__fd(program)),
    attachProgram: (program) => pointer('bpf_program__attach', libbpf.bpf_program__attach(program)) as LinkPointer,
    attachTracepoint: (program, category, name) =>
      pointer('bpf_program__attach_tracepoint', libbpf.bpf_program__attach_tracepoint(program, category, name)) as LinkPointer,

    destroyLink(link) {
      check('bpf_link__destroy', libbpf.bpf_link__destroy(link));
    },
    pinLink(link, path) {
      check('bpf_link__pin', libbpf.bpf_link__pin(link, path));
    },
    unpinLink(link) {
      check('bpf_link__unpin', libbpf.bpf_link__unpin(link));
    },
    openPinnedLink: (path) => pointer('bpf_link__open', libbpf.bpf_link__open(path)) as LinkPointer,
    linkFd: (link) => check('bpf_link__fd', libbpf.bpf_link__fd(link)),
    linkPinPath: (link) => libbpf.bpf_link__pin_path(link) ?? undefined,

    mapName: (map) => text(libbpf.bpf_map__name(map)),
    mapDefinition: (map) => ({
      type: libbpf.bpf_map__type(map),
      keySize: libbpf.bpf_map__key_size(map),
      valueSize: libbpf.bpf_map__value_size(map),
      maxEntries: libbpf.bpf_map__max_entries(map),
    }),
    mapFd: (map) => check('bpf_map__fd', libbpf.bpf_map__fd(map)),

    lookupElement: (fd, key, value) => absentOrCheck('bpf_map_lookup_elem', libbpf.bpf_map_lookup_elem(fd, key, value)),
    updateElement(fd, key, value, flags) {
      check('bpf_map_update_elem', libbpf.bpf_map_update_elem(fd, key, value, flags));
    },
    deleteElement: (fd, key) => absentOrCheck('bpf_map_delete_elem', libbpf.bpf_map_delete_elem(fd, key)),
    nextKey: (fd, key, next) => absentOrCheck('bpf_map_get_next_key', libbpf.bpf_map_get_next_key(fd, key ?? null, next)),

    possibleCpus: () => check('libbpf_num_possible_cpus', libbpf.libbpf_num_possible_cpus()),
    isTracefsMounted,
  };
}

function levelNumber(level: LogLevel): number {
  return level === 'warn' ? LIBBPF_WARN : level === 'info' ? LIBBPF_INFO : LIBBPF_DEBUG;
}

function levelName(level: number): LogLevel {
  return level <= LIBBPF_WARN ? 'warn' : level === LIBBPF_INFO ? 'info' : 'debug';
}

/** libbpf 1.x reads tracepoint ids under /sys/kernel/debug/tracing when that exists, else /sys/kernel/tracing. */
function isTracefsMounted(): boolean {
  const root = existsSync('/sys/kernel/debug/tracing') ? '/sys/kernel/debug/tracing' : '/sys/kernel/tracing';
  return existsSync(`${root}/events`);
}
