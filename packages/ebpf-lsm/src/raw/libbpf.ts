/**
 * The koffi declarations of libbpf.so.1 (and the few libc functions they
 * need), named exactly as in libbpf's C headers so that the C documentation
 * applies: bpf/libbpf.h, bpf/bpf.h. Nothing here interprets a result; the
 * typed API (object.ts, map.ts, link.ts, ring-buffer.ts) goes through
 * `LibbpfBinding` (binding.ts), which is built on these.
 *
 * Conventions of libbpf 1.x that callers rely on: a function returning a
 * pointer returns NULL (null here) and sets errno on failure; a function
 * returning int returns a negative errno. Pointers are BigInts (koffi 3).
 *
 * Nothing is loaded at import: `loadLibbpf()` loads koffi, libbpf.so.1 and
 * libc on first call and caches them.
 */
import { createRequire } from 'node:module';
import { NotSupportedError } from '@bulwark/errors';
import type * as Koffi from 'koffi';

/** A C pointer as koffi 3 passes it: a BigInt address, or null for NULL. */
export type Pointer = bigint;

/** enum libbpf_print_level */
export const LIBBPF_WARN = 0;
export const LIBBPF_INFO = 1;
export const LIBBPF_DEBUG = 2;

/** enum libbpf_errno: errors libbpf returns beyond the kernel's errno values. */
export const LIBBPF_ERRNO__START = 4000;
export const LIBBPF_ERRNO__END = 4014;

/** Flags of bpf_map_update_elem. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

/**
 * struct bpf_object_open_opts as of libbpf 1.1 (`sz` tells newer versions
 * which fields this caller knows).
 */
export interface bpf_object_open_opts {
  sz: number;
  object_name: string | null;
  relaxed_maps: boolean;
  pin_root_path: string | null;
  kconfig: string | null;
  btf_custom_path: string | null;
  kernel_log_buf: Pointer | null;
  kernel_log_size: number;
  kernel_log_level: number;
}

/** struct bpf_map_create_opts as of libbpf 1.1 */
export interface bpf_map_create_opts {
  sz: number;
  btf_fd: number;
  btf_key_type_id: number;
  btf_value_type_id: number;
  btf_vmlinux_value_type_id: number;
  inner_map_fd: number;
  map_flags: number;
  map_extra: number | bigint;
  numa_node: number;
  map_ifindex: number;
}

/**
 * struct bpf_test_run_opts as of libbpf 1.1. The buffers are C pointers
 * (malloc'd by the caller); `*_size_out` and `retval`, `duration` are
 * written back by bpf_prog_test_run_opts.
 */
export interface bpf_test_run_opts {
  sz: number;
  data_in: Pointer | null;
  data_out: Pointer | null;
  data_size_in: number;
  data_size_out: number;
  ctx_in: Pointer | null;
  ctx_out: Pointer | null;
  ctx_size_in: number;
  ctx_size_out: number;
  retval: number;
  repeat: number;
  duration: number;
  flags: number;
  cpu: number;
  batch_size: number;
}

/** struct bpf_map_batch_opts */
export interface bpf_map_batch_opts {
  sz: number;
  elem_flags: number | bigint;
  flags: number | bigint;
}

/**
 * libbpf_print_fn_t: `int (*)(enum libbpf_print_level level, const char *format, va_list ap)`.
 * `format` and `ap` arrive as raw pointers, to be handed to vasprintf unchanged.
 * (On x86-64 va_list is an array type and decays to a pointer; on arm64 it is
 * a struct larger than 16 bytes, which the ABI also passes by reference.)
 */
export type libbpf_print_fn_t = (level: number, format: Pointer, ap: Pointer) => number;

/** ring_buffer_sample_fn: `int (*)(void *ctx, void *data, size_t size)`. */
export type ring_buffer_sample_fn = (context: Pointer | null, data: Pointer, size: number) => number;

/** The functions of libbpf.so.1 this package declares. */
export interface Libbpf {
  libbpf_major_version(): number;
  libbpf_minor_version(): number;
  libbpf_version_string(): string;
  /** Returns the previous print function. */
  libbpf_set_print(fn: Pointer | null): Pointer | null;
  libbpf_get_error(pointer: Pointer | null): number;
  libbpf_num_possible_cpus(): number;

  bpf_object__open_file(path: string, opts: bpf_object_open_opts | null): Pointer | null;
  bpf_object__open_mem(obj_buf: Pointer, obj_buf_sz: number, opts: bpf_object_open_opts | null): Pointer | null;
  bpf_object__load(obj: Pointer): number;
  bpf_object__close(obj: Pointer): void;
  bpf_object__name(obj: Pointer): string | null;
  bpf_object__find_program_by_name(obj: Pointer, name: string): Pointer | null;
  bpf_object__find_map_by_name(obj: Pointer, name: string): Pointer | null;
  bpf_object__next_program(obj: Pointer, prog: Pointer | null): Pointer | null;
  bpf_object__next_map(obj: Pointer, map: Pointer | null): Pointer | null;

  bpf_program__name(prog: Pointer): string | null;
  bpf_program__section_name(prog: Pointer): string | null;
  bpf_program__fd(prog: Pointer): number;
  bpf_program__attach(prog: Pointer): Pointer | null;
  bpf_program__attach_tracepoint(prog: Pointer, tp_category: string, tp_name: string): Pointer | null;
  /** Runs the program behind `prog_fd` in the kernel (BPF_PROG_TEST_RUN). `opts` is in/out: koffi writes the struct back into the object. Returns 0 or a negative errno. */
  bpf_prog_test_run_opts(prog_fd: number, opts: bpf_test_run_opts): number;

  bpf_link__destroy(link: Pointer): number;
  bpf_link__pin(link: Pointer, path: string): number;
  bpf_link__unpin(link: Pointer): number;
  bpf_link__open(path: string): Pointer | null;
  bpf_link__fd(link: Pointer): number;
  bpf_link__pin_path(link: Pointer): string | null;

  bpf_map__fd(map: Pointer): number;
  bpf_map__name(map: Pointer): string | null;
  bpf_map__type(map: Pointer): number;
  bpf_map__key_size(map: Pointer): number;
  bpf_map__value_size(map: Pointer): number;
  bpf_map__max_entries(map: Pointer): number;
  bpf_map__set_inner_map_fd(map: Pointer, fd: number): number;
  bpf_map__pin(map: Pointer, path: string): number;
  bpf_map__unpin(map: Pointer, path: string | null): number;
  /** Pins the object behind `fd` at `path`; returns 0 or a negative errno. */
  bpf_obj_pin(fd: number, pathname: string): number;
  /** Returns a new fd for the object pinned at `path`, or a negative errno. */
  bpf_obj_get(pathname: string): number;

  /** Returns the new map's fd, or a negative errno. */
  bpf_map_create(
    map_type: number,
    map_name: string | null,
    key_size: number,
    value_size: number,
    max_entries: number,
    opts: bpf_map_create_opts | null,
  ): number;
  /** Returns a new fd for the map with this id, or a negative errno. */
  bpf_map_get_fd_by_id(id: number): number;
  /** Fills `info` (a struct bpf_map_info or bpf_prog_info, by the fd's kind); `info_len` is in/out: a one-element array. */
  bpf_obj_get_info_by_fd(bpf_fd: number, info: Uint8Array, info_len: Uint32Array): number;

  bpf_map_update_elem(fd: number, key: Uint8Array | null, value: Uint8Array, flags: number | bigint): number;
  bpf_map_lookup_elem(fd: number, key: Uint8Array | null, value: Uint8Array): number;
  bpf_map_delete_elem(fd: number, key: Uint8Array | null): number;
  bpf_map_get_next_key(fd: number, key: Uint8Array | null, next_key: Uint8Array): number;
  /** `count` is in/out: a one-element array. */
  bpf_map_lookup_batch(
    fd: number,
    in_batch: Uint8Array | null,
    out_batch: Uint8Array,
    keys: Uint8Array,
    values: Uint8Array,
    count: Uint32Array,
    opts: bpf_map_batch_opts | null,
  ): number;
  bpf_map_update_batch(
    fd: number,
    keys: Uint8Array,
    values: Uint8Array,
    count: Uint32Array,
    opts: bpf_map_batch_opts | null,
  ): number;

  ring_buffer__new(map_fd: number, sample_cb: Pointer, ctx: Pointer | null, opts: null): Pointer | null;
  ring_buffer__poll(rb: Pointer, timeout_ms: number): number;
  ring_buffer__consume(rb: Pointer): number;
  ring_buffer__free(rb: Pointer): void;
  ring_buffer__epoll_fd(rb: Pointer): number;
}

/** The libc functions the binding needs beside libbpf. */
export interface Libc {
  /** `strp` is an out parameter: a one-element array that receives the allocated string. */
  vasprintf(strp: [Pointer | null], format: Pointer, ap: Pointer): number;
  malloc(size: number): Pointer | null;
  free(pointer: Pointer | null): void;
  /** Either side may be a pointer or a Uint8Array, which koffi passes by address (it must not move meanwhile: a synchronous call). */
  memcpy(destination: Pointer | Uint8Array, source: Pointer | Uint8Array, size: number): Pointer;
  close(fd: number): number;
}

/** What koffi itself provides around the calls: errno, callbacks, strings. */
export interface Ffi {
  /** errno as the last foreign call left it; read it right after the call. */
  errno(): number;
  /** Registers a print function that stays callable until unregistered. */
  register_libbpf_print_fn(fn: libbpf_print_fn_t): Pointer;
  register_ring_buffer_sample_fn(fn: ring_buffer_sample_fn): Pointer;
  unregister(callback: Pointer): void;
  /** How many callbacks are registered and not yet unregistered (koffi.stats().callbacks). */
  registered_callbacks(): number;
  /** Reads a NUL-terminated string at `pointer`. */
  decode_string(pointer: Pointer): string;
  /** A copy of `size` bytes at `pointer`. */
  decode_bytes(pointer: Pointer, size: number): Buffer;
  sizeof_bpf_object_open_opts: number;
  sizeof_bpf_map_batch_opts: number;
  sizeof_bpf_map_create_opts: number;
  sizeof_bpf_test_run_opts: number;
}

export interface LoadedLibbpf {
  readonly libbpf: Libbpf;
  readonly libc: Libc;
  readonly ffi: Ffi;
}

export interface LoadLibbpfOptions {
  /** The shared object to load; default 'libbpf.so.1' (found through the dynamic loader). */
  libraryPath?: string;
}

/** libbpf before 1.0 has other error conventions (and another soname). */
export const minimumMajorVersion = 1;

let cached: LoadedLibbpf | undefined;

/**
 * Loads koffi, libbpf and libc and declares their functions, once. Throws
 * NotSupportedError when the platform is not Linux, koffi has no native
 * module here, libbpf.so.1 cannot be loaded, or libbpf is older than 1.0.
 */
export function loadLibbpf(options: LoadLibbpfOptions = {}): LoadedLibbpf {
  if (options.libraryPath === undefined && cached !== undefined) return cached;
  if (process.platform !== 'linux') {
    throw new NotSupportedError('libbpf', 'platform', 'libbpf requires linux');
  }
  const koffi = requireKoffi();
  const libraryPath = options.libraryPath ?? 'libbpf.so.1';
  let library: Koffi.LibraryHandle;
  let libcLibrary: Koffi.LibraryHandle;
  try {
    library = koffi.load(libraryPath);
  } catch (error) {
    throw withCause(new NotSupportedError('libbpf', 'config', `${libraryPath} not found (apt-get install libbpf1)`), error);
  }
  try {
    // The process's own symbol scope, which holds whichever C library Node.js runs on.
    libcLibrary = koffi.load(null);
  } catch (error) {
    throw withCause(new NotSupportedError('libbpf', 'platform', 'the c library could not be opened'), error);
  }
  const loaded = declare(koffi, library, libcLibrary);
  const major = loaded.libbpf.libbpf_major_version();
  const minor = loaded.libbpf.libbpf_minor_version();
  if (major < minimumMajorVersion) {
    throw new NotSupportedError('libbpf', 'config', `libbpf ${major}.${minor} is older than ${minimumMajorVersion}.0 (install libbpf1)`);
  }
  if (options.libraryPath === undefined) cached = loaded;
  return loaded;
}

function requireKoffi(): typeof Koffi {
  try {
    return createRequire(import.meta.url)('koffi') as typeof Koffi;
  } catch (error) {
    throw withCause(
      new NotSupportedError('libbpf', 'platform', `koffi has no native module for ${process.platform}-${process.arch}`),
      error,
    );
  }
}

function withCause<E extends Error>(error: E, cause: unknown): E {
  Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true });
  return error;
}

let typesDeclared = false;

function declareTypes(koffi: typeof Koffi): void {
  if (typesDeclared) return;
  typesDeclared = true;
  for (const name of ['bpf_object', 'bpf_program', 'bpf_map', 'bpf_link', 'ring_buffer']) koffi.opaque(name);
  koffi.struct('bpf_object_open_opts', {
    sz: 'size_t',
    object_name: 'const char *',
    relaxed_maps: 'bool',
    pin_root_path: 'const char *',
    // `__u32 :32`, the stub of the removed attach_prog_fd.
    attach_prog_fd_stub: 'uint32_t',
    kconfig: 'const char *',
    btf_custom_path: 'const char *',
    kernel_log_buf: 'void *',
    kernel_log_size: 'size_t',
    kernel_log_level: 'uint32_t',
  });
  koffi.struct('bpf_map_batch_opts', { sz: 'size_t', elem_flags: 'uint64_t', flags: 'uint64_t' });
  koffi.struct('bpf_map_create_opts', {
    sz: 'size_t',
    btf_fd: 'uint32_t',
    btf_key_type_id: 'uint32_t',
    btf_value_type_id: 'uint32_t',
    btf_vmlinux_value_type_id: 'uint32_t',
    inner_map_fd: 'uint32_t',
    map_flags: 'uint32_t',
    map_extra: 'uint64_t',
    numa_node: 'uint32_t',
    map_ifindex: 'uint32_t',
  });
  koffi.struct('bpf_test_run_opts', {
    sz: 'size_t',
    data_in: 'void *',
    data_out: 'void *',
    data_size_in: 'uint32_t',
    data_size_out: 'uint32_t',
    ctx_in: 'void *',
    ctx_out: 'void *',
    ctx_size_in: 'uint32_t',
    ctx_size_out: 'uint32_t',
    retval: 'uint32_t',
    repeat: 'int',
    duration: 'uint32_t',
    flags: 'uint32_t',
    cpu: 'uint32_t',
    batch_size: 'uint32_t',
  });
  koffi.proto('int libbpf_print_fn_t(int level, void *format, void *ap)');
  koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');
}

function declare(koffi: typeof Koffi, library: Koffi.LibraryHandle, libcLibrary: Koffi.LibraryHandle): LoadedLibbpf {
  declareTypes(koffi);
  const f = (prototype: string): never => library.func(prototype) as never;
  const libbpf: Libbpf = {
    libbpf_major_version: f('uint32_t libbpf_major_version(void)'),
    libbpf_minor_version: f('uint32_t libbpf_minor_version(void)'),
    libbpf_version_string: f('const char *libbpf_version_string(void)'),
    libbpf_set_print: f('libbpf_print_fn_t *libbpf_set_print(libbpf_print_fn_t *fn)'),
    libbpf_get_error: f('long libbpf_get_error(const void *ptr)'),
    libbpf_num_possible_cpus: f('int libbpf_num_possible_cpus(void)'),

    bpf_object__open_file: f('bpf_object *bpf_object__open_file(const char *path, const bpf_object_open_opts *opts)'),
    bpf_object__open_mem: f(
      'bpf_object *bpf_object__open_mem(const void *obj_buf, size_t obj_buf_sz, const bpf_object_open_opts *opts)',
    ),
    bpf_object__load: f('int bpf_object__load(bpf_object *obj)'),
    bpf_object__close: f('void bpf_object__close(bpf_object *obj)'),
    bpf_object__name: f('const char *bpf_object__name(const bpf_object *obj)'),
    bpf_object__find_program_by_name: f('bpf_program *bpf_object__find_program_by_name(const bpf_object *obj, const char *name)'),
    bpf_object__find_map_by_name: f('bpf_map *bpf_object__find_map_by_name(const bpf_object *obj, const char *name)'),
    bpf_object__next_program: f('bpf_program *bpf_object__next_program(const bpf_object *obj, bpf_program *prog)'),
    bpf_object__next_map: f('bpf_map *bpf_object__next_map(const bpf_object *obj, const bpf_map *map)'),

    bpf_program__name: f('const char *bpf_program__name(const bpf_program *prog)'),
    bpf_program__section_name: f('const char *bpf_program__section_name(const bpf_program *prog)'),
    bpf_program__fd: f('int bpf_program__fd(const bpf_program *prog)'),
    bpf_program__attach: f('bpf_link *bpf_program__attach(const bpf_program *prog)'),
    bpf_program__attach_tracepoint: f(
      'bpf_link *bpf_program__attach_tracepoint(const bpf_program *prog, const char *tp_category, const char *tp_name)',
    ),
    bpf_prog_test_run_opts: f('int bpf_prog_test_run_opts(int prog_fd, _Inout_ bpf_test_run_opts *opts)'),

    bpf_link__destroy: f('int bpf_link__destroy(bpf_link *link)'),
    bpf_link__pin: f('int bpf_link__pin(bpf_link *link, const char *path)'),
    bpf_link__unpin: f('int bpf_link__unpin(bpf_link *link)'),
    bpf_link__open: f('bpf_link *bpf_link__open(const char *path)'),
    bpf_link__fd: f('int bpf_link__fd(const bpf_link *link)'),
    bpf_link__pin_path: f('const char *bpf_link__pin_path(const bpf_link *link)'),

    bpf_map__fd: f('int bpf_map__fd(const bpf_map *map)'),
    bpf_map__name: f('const char *bpf_map__name(const bpf_map *map)'),
    // enum bpf_map_type
    bpf_map__type: f('int bpf_map__type(const bpf_map *map)'),
    bpf_map__key_size: f('uint32_t bpf_map__key_size(const bpf_map *map)'),
    bpf_map__value_size: f('uint32_t bpf_map__value_size(const bpf_map *map)'),
    bpf_map__max_entries: f('uint32_t bpf_map__max_entries(const bpf_map *map)'),
    bpf_map__set_inner_map_fd: f('int bpf_map__set_inner_map_fd(bpf_map *map, int fd)'),
    bpf_map__pin: f('int bpf_map__pin(bpf_map *map, const char *path)'),
    bpf_map__unpin: f('int bpf_map__unpin(bpf_map *map, const char *path)'),
    bpf_obj_pin: f('int bpf_obj_pin(int fd, const char *pathname)'),
    bpf_obj_get: f('int bpf_obj_get(const char *pathname)'),

    bpf_map_create: f(
      'int bpf_map_create(int map_type, const char *map_name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const bpf_map_create_opts *opts)',
    ),
    bpf_map_get_fd_by_id: f('int bpf_map_get_fd_by_id(uint32_t id)'),
    bpf_obj_get_info_by_fd: f('int bpf_obj_get_info_by_fd(int bpf_fd, _Out_ void *info, _Inout_ uint32_t *info_len)'),

    bpf_map_update_elem: f('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    bpf_map_lookup_elem: f('int bpf_map_lookup_elem(int fd, const void *key, _Out_ void *value)'),
    bpf_map_delete_elem: f('int bpf_map_delete_elem(int fd, const void *key)'),
    bpf_map_get_next_key: f('int bpf_map_get_next_key(int fd, const void *key, _Out_ void *next_key)'),
    bpf_map_lookup_batch: f(
      'int bpf_map_lookup_batch(int fd, void *in_batch, _Out_ void *out_batch, _Out_ void *keys, _Out_ void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)',
    ),
    bpf_map_update_batch: f(
      'int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)',
    ),

    ring_buffer__new: f(
      'ring_buffer *ring_buffer__new(int map_fd, ring_buffer_sample_fn *sample_cb, void *ctx, const void *opts)',
    ),
    ring_buffer__poll: f('int ring_buffer__poll(ring_buffer *rb, int timeout_ms)'),
    ring_buffer__consume: f('int ring_buffer__consume(ring_buffer *rb)'),
    ring_buffer__free: f('void ring_buffer__free(ring_buffer *rb)'),
    ring_buffer__epoll_fd: f('int ring_buffer__epoll_fd(const ring_buffer *rb)'),
  };
  const c = (prototype: string): never => libcLibrary.func(prototype) as never;
  const libc: Libc = {
    vasprintf: c('int vasprintf(_Out_ void **strp, void *format, void *ap)'),
    malloc: c('void *malloc(size_t size)'),
    free: c('void free(void *pointer)'),
    memcpy: c('void *memcpy(void *destination, const void *source, size_t size)'),
    close: c('int close(int fd)'),
  };
  const ffi: Ffi = {
    errno: () => koffi.errno(),
    register_libbpf_print_fn: (fn) => koffi.register(fn, 'libbpf_print_fn_t *'),
    register_ring_buffer_sample_fn: (fn) => koffi.register(fn, 'ring_buffer_sample_fn *'),
    unregister: (callback) => koffi.unregister(callback),
    registered_callbacks: () => koffi.stats().callbacks,
    decode_string: (pointer) => koffi.decode.string(pointer),
    decode_bytes: (pointer, size) => Buffer.from(koffi.decode(pointer, 'uint8_t', size) as Uint8Array),
    sizeof_bpf_object_open_opts: koffi.sizeof('bpf_object_open_opts'),
    sizeof_bpf_map_batch_opts: koffi.sizeof('bpf_map_batch_opts'),
    sizeof_bpf_map_create_opts: koffi.sizeof('bpf_map_create_opts'),
    sizeof_bpf_test_run_opts: koffi.sizeof('bpf_test_run_opts'),
  };
  return { libbpf, libc, ffi };
}
