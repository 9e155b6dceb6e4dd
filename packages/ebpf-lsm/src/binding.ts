/**
 * The injectable interface between the typed API and libbpf. The typed API
 * (object.ts, program.ts, link.ts, map.ts, ring-buffer.ts) calls nothing else, so a fake
 * (src/__fixtures__/fake-binding.ts) can drive every error path in unit
 * tests; `createLibbpfBinding()` is the real one, over the koffi
 * declarations in raw/libbpf.ts.
 *
 * A failed call throws `LibbpfCallError` with the C function's name and its
 * (positive) errno; the typed API turns it into a Bulwark error, with the log
 * libbpf printed meanwhile, in one place (errors.ts).
 */
import { existsSync, unlinkSync } from 'node:fs';
import {
  LIBBPF_DEBUG,
  LIBBPF_INFO,
  LIBBPF_WARN,
  type LoadedLibbpf,
  type Pointer,
  type bpf_map_batch_opts,
  type bpf_map_create_opts,
  type bpf_object_open_opts,
  type bpf_test_run_opts,
  loadLibbpf,
} from './raw/libbpf.js';

declare const pointerKind: unique symbol;
/** Opaque libbpf handles; the brand keeps one kind from being passed as another. */
export type ObjectPointer = bigint & { readonly [pointerKind]: 'bpf_object' };
export type ProgramPointer = bigint & { readonly [pointerKind]: 'bpf_program' };
export type MapPointer = bigint & { readonly [pointerKind]: 'bpf_map' };
export type LinkPointer = bigint & { readonly [pointerKind]: 'bpf_link' };
export type RingBufferPointer = bigint & { readonly [pointerKind]: 'ring_buffer' };

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
  /** For a batch update: how many elements the kernel wrote before it failed. */
  readonly processed: number | undefined;

  constructor(functionName: string, errno: number, processed?: number) {
    super(`${functionName}: errno ${errno}`);
    this.name = 'LibbpfCallError';
    this.functionName = functionName;
    this.errno = errno;
    this.processed = processed;
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

/** A map as the kernel describes the map behind an fd (struct bpf_map_info). */
export interface KernelMapInfo extends MapDefinition {
  /** The kernel's id of the map, unique while it exists. */
  readonly id: number;
  /** The name the map was created with, at most 15 bytes. */
  readonly name: string;
  /** `map_flags` (BPF_F_NO_PREALLOC, ...). */
  readonly flags: number;
}

/** A program as the kernel describes the program behind an fd (struct bpf_prog_info). */
export interface KernelProgramInfo {
  /** `enum bpf_prog_type` */
  readonly type: number;
  /** The kernel's id of the program, unique while it exists. */
  readonly id: number;
  /** The name the program was loaded with, at most 15 bytes. */
  readonly name: string;
  /** Instructions after the verifier's rewrites (`xlated_prog_len` / 8). */
  readonly translatedInstructions: number;
  /** Instructions the verifier processed to accept it (`verified_insns`, Linux 5.16; 0 before). */
  readonly verifiedInstructions: number;
  /**
   * Nanoseconds spent running it (`run_time_ns`) and the runs counted
   * (`run_cnt`), while the kernel keeps statistics (sysctl
   * kernel.bpf_stats_enabled=1, or a BPF_ENABLE_STATS fd held open); 0
   * otherwise.
   */
  readonly runTimeNs: number;
  readonly runCount: number;
}

/** What one BPF_PROG_TEST_RUN gave back. */
export interface TestRunOutcome {
  /** The program's return value (`retval`, a u32). */
  readonly returnValue: number;
  /** The run's duration in nanoseconds, as the kernel measured it (0 for types it does not time). */
  readonly duration: number;
}

export interface CreateMapSettings {
  /** A map-in-map's template: the fd of a map like those it will hold. */
  readonly innerMapFd?: number;
  /** `map_flags`. */
  readonly flags?: number;
}

export interface LookupBatchResult {
  /** How many keys and values were written. */
  readonly count: number;
  /** True when the walk reached the end of the map (ENOENT). */
  readonly done: boolean;
}

/**
 * Receives one ring buffer sample, already copied out of the ring (so it
 * stays valid). Returns false to end the current consume call after this
 * sample. It is called from inside libbpf, so it should not throw; if it
 * does, the binding stops the call and rethrows from consumeRingBuffer.
 */
export type SampleHandler = (sample: Buffer) => boolean;

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
  /**
   * Runs the program behind `fd` once (bpf_prog_test_run_opts) with
   * `context` as its context (`ctx_in`; none when empty). `context` is in
   * and out: afterwards it holds what the kernel left in `ctx_in`, which is
   * where BPF_PROG_TYPE_SYSCALL programs write their context back.
   */
  testRun(fd: number, context: Uint8Array): TestRunOutcome;
  /** What the kernel knows about the program behind `fd`. */
  programInfo(fd: number): KernelProgramInfo;

  destroyLink(link: LinkPointer): void;
  pinLink(link: LinkPointer, path: string): void;
  unpinLink(link: LinkPointer): void;
  openPinnedLink(path: string): LinkPointer;
  linkFd(link: LinkPointer): number;
  linkPinPath(link: LinkPointer): string | undefined;

  mapName(map: MapPointer): string;
  mapDefinition(map: MapPointer): MapDefinition;
  mapFd(map: MapPointer): number;
  /** Before load: the template a map-in-map's inner maps must match. libbpf keeps the fd (not a copy) until load. */
  setInnerMapFd(map: MapPointer, fd: number): void;

  /** Pins an object's map at `path` (bpf_map__pin, which creates missing parent directories). */
  pinMap(map: MapPointer, path: string): void;
  /** Removes the pin of an object's map (bpf_map__unpin at the path it was pinned at). */
  unpinMap(map: MapPointer): void;
  /** Pins the map (or other BPF object) behind `fd` at `path` (bpf_obj_pin); the parent directory must exist. */
  pinFd(fd: number, path: string): void;
  /** A new fd for the BPF object pinned at `path` (bpf_obj_get), which the caller closes. */
  openPinned(path: string): number;
  /** Removes a pin by its path (unlink). */
  removePin(path: string): void;

  /** Creates a map outside any object (bpf_map_create); returns its fd, which the caller closes. */
  createMap(type: number, name: string, keySize: number, valueSize: number, maxEntries: number, settings: CreateMapSettings): number;
  /** A new fd for the map with this id (bpf_map_get_fd_by_id); ENOENT when it no longer exists. */
  mapFdById(id: number): number;
  /** What the kernel knows about the map behind `fd`. */
  mapInfo(fd: number): KernelMapInfo;
  /** Closes a file descriptor this binding returned. */
  closeFd(fd: number): void;
  /** Fills `value`; false when the key is absent (ENOENT). */
  lookupElement(fd: number, key: Uint8Array, value: Uint8Array): boolean;
  updateElement(fd: number, key: Uint8Array, value: Uint8Array, flags: number): void;
  /** False when the key is absent (ENOENT). */
  deleteElement(fd: number, key: Uint8Array): boolean;
  /** Writes the key after `key` (the first key when undefined) into `next`; false at the end. */
  nextKey(fd: number, key: Uint8Array | undefined, next: Uint8Array): boolean;
  /**
   * Reads up to `count` entries from where `inBatch` points (the start when
   * undefined) into `keys` and `values`, and where to go on into `outBatch`.
   * ENOSPC (a hash bucket holds more than `count`) throws.
   */
  lookupBatch(
    fd: number,
    inBatch: Uint8Array | undefined,
    outBatch: Uint8Array,
    keys: Uint8Array,
    values: Uint8Array,
    count: number,
  ): LookupBatchResult;
  /**
   * Writes `count` entries (BPF_ANY; the kernel takes no other mode in a
   * batch). A failure throws LibbpfCallError with `processed`, the entries
   * written before it.
   */
  updateBatch(fd: number, keys: Uint8Array, values: Uint8Array, count: number): void;

  /** A consumer of a BPF_MAP_TYPE_RINGBUF map (ring_buffer__new): nothing is read until consumeRingBuffer. */
  openRingBuffer(mapFd: number, onSample: SampleHandler): RingBufferPointer;
  /**
   * Hands every sample available now to the ring's handler, without
   * waiting, until the ring is empty or the handler returns false; returns
   * how many it handed over.
   */
  consumeRingBuffer(ring: RingBufferPointer): number;
  /** The epoll fd that becomes readable when the ring has data. */
  ringBufferEpollFd(ring: RingBufferPointer): number;
  /** Frees the ring buffer and releases its sample callback. */
  freeRingBuffer(ring: RingBufferPointer): void;

  /** The number of possible CPUs, which sizes per-CPU map values. */
  possibleCpus(): number;
  /** Whether the tracefs that libbpf reads tracepoint ids from is mounted. */
  isTracefsMounted(): boolean;
}

export const ENOENT = 2;
export const EAGAIN = 11;
export const ENOSPC = 28;

/** struct bpf_map_info up to `name`, the fields read here; the buffer is the whole struct (80 bytes), zeroed. */
const mapInfoSize = 80;
/** struct bpf_prog_info as of Linux 6.1 (232 bytes), zeroed, so that the kernel fills no arrays; verified_insns is at 216. */
const programInfoSize = 232;
/** Samples up to this size are copied into shared slabs, larger ones into buffers of their own. */
const slabSize = 16 * 1024;
/** What the sample callback returns to make ring_buffer__consume stop; libbpf returns it as the result. */
const stopConsuming = -EAGAIN;

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

  interface Ring {
    callback: Pointer;
    /** Samples handed over during the current consume call. */
    count: number;
    /** What the handler threw during the current consume call. */
    failure: { error: unknown } | undefined;
  }
  const rings = new Map<bigint, Ring>();

  // Samples are copied into slices of a shared slab: one memcpy call each,
  // far cheaper than koffi.decode, which builds the array element by element.
  let slab = Buffer.allocUnsafeSlow(slabSize);
  let slabOffset = 0;
  function copySample(data: Pointer, size: number): Buffer {
    if (size > slabSize / 4) {
      const sample = Buffer.allocUnsafeSlow(size);
      libc.memcpy(sample, data, size);
      return sample;
    }
    if (slabOffset + size > slabSize) {
      slab = Buffer.allocUnsafeSlow(slabSize);
      slabOffset = 0;
    }
    const sample = slab.subarray(slabOffset, slabOffset + size);
    // 8-byte aligned, so that a sample's bytes can back typed arrays.
    slabOffset += (size + 7) & ~7;
    if (size > 0) libc.memcpy(sample, data, size);
    return sample;
  }

  const testRunOptions = (context: Pointer | null, size: number): bpf_test_run_opts => ({
    sz: ffi.sizeof_bpf_test_run_opts,
    data_in: null,
    data_out: null,
    data_size_in: 0,
    data_size_out: 0,
    ctx_in: context,
    ctx_out: null,
    ctx_size_in: size,
    ctx_size_out: 0,
    retval: 0,
    repeat: 0,
    duration: 0,
    flags: 0,
    cpu: 0,
    batch_size: 0,
  });

  const batchOptions = (): bpf_map_batch_opts => ({ sz: ffi.sizeof_bpf_map_batch_opts, elem_flags: 0, flags: 0 });

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
    testRun(fd, context) {
      // The kernel reads and writes the context through a C pointer: a copy in memory of our own.
      let copy: Pointer | null = null;
      if (context.length > 0) {
        copy = libc.malloc(context.length);
        if (copy === null) throw new LibbpfCallError('malloc', ffi.errno());
      }
      try {
        if (copy !== null) libc.memcpy(copy, context, context.length);
        const options = testRunOptions(copy, context.length);
        check('bpf_prog_test_run_opts', libbpf.bpf_prog_test_run_opts(fd, options));
        if (copy !== null) libc.memcpy(context, copy, context.length);
        return { returnValue: options.retval, duration: options.duration };
      } finally {
        if (copy !== null) libc.free(copy);
      }
    },
    programInfo(fd) {
      const info = new Uint8Array(programInfoSize);
      const length = new Uint32Array([programInfoSize]);
      check('bpf_obj_get_info_by_fd', libbpf.bpf_obj_get_info_by_fd(fd, info, length));
      const view = new DataView(info.buffer);
      const little = littleEndian;
      const nameBytes = info.subarray(64, 80);
      const end = nameBytes.indexOf(0);
      return {
        type: view.getUint32(0, little),
        id: view.getUint32(4, little),
        name: Buffer.from(end === -1 ? nameBytes : nameBytes.subarray(0, end)).toString('utf8'),
        translatedInstructions: view.getUint32(20, little) / 8,
        // A kernel older than the field leaves it zero (it writes only what it knows, up to length).
        verifiedInstructions: length[0]! >= 220 ? view.getUint32(216, little) : 0,
        runTimeNs: length[0]! >= 200 ? Number(view.getBigUint64(192, little)) : 0,
        runCount: length[0]! >= 208 ? Number(view.getBigUint64(200, little)) : 0,
      };
    },

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
    setInnerMapFd(map, fd) {
      check('bpf_map__set_inner_map_fd', libbpf.bpf_map__set_inner_map_fd(map, fd));
    },

    pinMap(map, path) {
      check('bpf_map__pin', libbpf.bpf_map__pin(map, path));
    },
    unpinMap(map) {
      check('bpf_map__unpin', libbpf.bpf_map__unpin(map, null));
    },
    pinFd(fd, path) {
      check('bpf_obj_pin', libbpf.bpf_obj_pin(fd, path));
    },
    openPinned: (path) => check('bpf_obj_get', libbpf.bpf_obj_get(path)),
    removePin(path) {
      try {
        unlinkSync(path);
      } catch (error) {
        const errno = (error as NodeJS.ErrnoException).errno;
        if (typeof errno !== 'number') throw error;
        throw new LibbpfCallError('unlink', -errno);
      }
    },

    createMap(type, name, keySize, valueSize, maxEntries, settings) {
      const options: bpf_map_create_opts = {
        sz: ffi.sizeof_bpf_map_create_opts,
        btf_fd: 0,
        btf_key_type_id: 0,
        btf_value_type_id: 0,
        btf_vmlinux_value_type_id: 0,
        inner_map_fd: settings.innerMapFd ?? 0,
        map_flags: settings.flags ?? 0,
        map_extra: 0,
        numa_node: 0,
        map_ifindex: 0,
      };
      return check('bpf_map_create', libbpf.bpf_map_create(type, name === '' ? null : name, keySize, valueSize, maxEntries, options));
    },
    mapFdById: (id) => check('bpf_map_get_fd_by_id', libbpf.bpf_map_get_fd_by_id(id)),
    mapInfo(fd) {
      const info = new Uint8Array(mapInfoSize);
      const length = new Uint32Array([mapInfoSize]);
      check('bpf_obj_get_info_by_fd', libbpf.bpf_obj_get_info_by_fd(fd, info, length));
      const view = new DataView(info.buffer);
      const little = littleEndian;
      const nameBytes = info.subarray(24, 40);
      const end = nameBytes.indexOf(0);
      return {
        type: view.getUint32(0, little),
        id: view.getUint32(4, little),
        keySize: view.getUint32(8, little),
        valueSize: view.getUint32(12, little),
        maxEntries: view.getUint32(16, little),
        flags: view.getUint32(20, little),
        name: Buffer.from(end === -1 ? nameBytes : nameBytes.subarray(0, end)).toString('utf8'),
      };
    },
    closeFd(fd) {
      if (libc.close(fd) !== 0) throw new LibbpfCallError('close', ffi.errno());
    },

    lookupElement: (fd, key, value) => absentOrCheck('bpf_map_lookup_elem', libbpf.bpf_map_lookup_elem(fd, key, value)),
    updateElement(fd, key, value, flags) {
      check('bpf_map_update_elem', libbpf.bpf_map_update_elem(fd, key, value, flags));
    },
    deleteElement: (fd, key) => absentOrCheck('bpf_map_delete_elem', libbpf.bpf_map_delete_elem(fd, key)),
    nextKey: (fd, key, next) => absentOrCheck('bpf_map_get_next_key', libbpf.bpf_map_get_next_key(fd, key ?? null, next)),
    lookupBatch(fd, inBatch, outBatch, keys, values, count) {
      const inout = new Uint32Array([count]);
      const result = libbpf.bpf_map_lookup_batch(fd, inBatch ?? null, outBatch, keys, values, inout, batchOptions());
      // The last batch ends with ENOENT and still counts what it read.
      if (result === -ENOENT) return { count: inout[0]!, done: true };
      check('bpf_map_lookup_batch', result);
      return { count: inout[0]!, done: false };
    },
    updateBatch(fd, keys, values, count) {
      const inout = new Uint32Array([count]);
      const result = libbpf.bpf_map_update_batch(fd, keys, values, inout, batchOptions());
      if (result < 0) throw new LibbpfCallError('bpf_map_update_batch', -result, inout[0]);
    },

    openRingBuffer(mapFd, onSample) {
      const ring: Ring = { callback: 0n, count: 0, failure: undefined };
      const callback = ffi.register_ring_buffer_sample_fn((_context, data, size) => {
        // Nothing may unwind into libbpf: a failure stops the call and is rethrown after it.
        try {
          const sample = copySample(data, size);
          ring.count++;
          return onSample(sample) ? 0 : stopConsuming;
        } catch (error) {
          ring.failure = { error };
          return stopConsuming;
        }
      });
      const pointer = libbpf.ring_buffer__new(mapFd, callback, null, null);
      if (pointer === null) {
        const errno = ffi.errno();
        ffi.unregister(callback);
        throw new LibbpfCallError('ring_buffer__new', errno);
      }
      ring.callback = callback;
      rings.set(pointer, ring);
      return pointer as RingBufferPointer;
    },
    consumeRingBuffer(pointer) {
      const ring = rings.get(pointer);
      if (ring === undefined) throw new Error(`consume ring buffer: unknown ring buffer ${pointer}`);
      ring.count = 0;
      ring.failure = undefined;
      const result = libbpf.ring_buffer__consume(pointer);
      const failure = ring.failure as { error: unknown } | undefined;
      if (failure !== undefined) throw failure.error;
      if (result < 0 && result !== stopConsuming) throw new LibbpfCallError('ring_buffer__consume', -result);
      return ring.count;
    },
    ringBufferEpollFd: (pointer) => check('ring_buffer__epoll_fd', libbpf.ring_buffer__epoll_fd(pointer)),
    freeRingBuffer(pointer) {
      const ring = rings.get(pointer);
      if (ring === undefined) throw new Error(`free ring buffer: unknown ring buffer ${pointer}`);
      rings.delete(pointer);
      libbpf.ring_buffer__free(pointer);
      ffi.unregister(ring.callback);
    },

    possibleCpus: () => check('libbpf_num_possible_cpus', libbpf.libbpf_num_possible_cpus()),
    isTracefsMounted,
  };
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

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
