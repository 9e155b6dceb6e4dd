/**
 * An in-memory LibbpfBinding for unit tests: objects described by specs,
 * maps that behave like the kernel's hash and array maps (and maps of maps,
 * batch operations and ring buffers), links and pins, and failures injected
 * per method with the errno and log libbpf would give.
 * It throws a plain Error when handed a freed or unknown pointer, so a test
 * notices if the typed API ever lets one through.
 */
import {
  type CreateMapSettings,
  type KernelMapInfo,
  type KernelProgramInfo,
  type LibbpfBinding,
  LibbpfCallError,
  type LinkPointer,
  type LogSink,
  type LookupBatchResult,
  type MapDefinition,
  type MapPointer,
  type ObjectPointer,
  type OpenObjectSettings,
  type ProgramPointer,
  type RingBufferPointer,
  type SampleHandler,
  type TestRunOutcome,
  logLevels,
} from '../binding.js';
import type { LogEntry } from '../errors.js';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export const EPERM = 1;
export const ENOENT = 2;
export const E2BIG = 7;
export const EBADF = 9;
export const EACCES = 13;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ENOTSUPP = 524;
export const LIBBPF_ERRNO__FORMAT = 4001;
export const LIBBPF_ERRNO__PROGTYPE = 4010;

export const BPF_MAP_TYPE_HASH = 1;
export const BPF_MAP_TYPE_ARRAY = 2;
export const BPF_MAP_TYPE_PERCPU_HASH = 5;
export const BPF_MAP_TYPE_PERCPU_ARRAY = 6;
export const BPF_MAP_TYPE_LRU_HASH = 9;
export const BPF_MAP_TYPE_ARRAY_OF_MAPS = 12;
export const BPF_MAP_TYPE_HASH_OF_MAPS = 13;
export const BPF_MAP_TYPE_QUEUE = 22;
export const BPF_MAP_TYPE_RINGBUF = 27;

const arrayTypes = new Set([BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY]);
const mapInMapTypes = new Set([BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS]);
/** Map types with BPF_MAP_*_BATCH in the fake kernel; the others answer ENOTSUPP. */
const batchTypes = new Set([BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_HASH]);

export interface FakeProgramSpec {
  readonly name: string;
  readonly section: string;
  /** What the program does when test-run: may change the context in place; returns retval (as a u32). Without it, test runs fail with ENOTSUPP, as for a type the kernel cannot test-run. */
  readonly run?: (context: Buffer) => number;
  /** `enum bpf_prog_type` in programInfo (default 5, BPF_PROG_TYPE_TRACEPOINT). */
  readonly type?: number;
}

export interface FakeMapSpec extends MapDefinition {
  readonly name: string;
  /** A map of maps declared with `__array(values, ...)`: libbpf makes its template from this. */
  readonly innerMap?: MapDefinition;
  /** An array map's value in every slot when created (what a `.rodata` holds at load); zeros otherwise. */
  readonly initialValue?: Uint8Array;
}

export interface FakeObjectSpec {
  readonly name: string;
  readonly programs: readonly FakeProgramSpec[];
  readonly maps: readonly FakeMapSpec[];
}

/** The object most tests use: like src/bpf/test-tracepoint.bpf.c. */
export const counterObject: FakeObjectSpec = {
  name: 'test_tracepoint',
  programs: [{ name: 'count_getppid', section: 'tracepoint/syscalls/sys_enter_getppid' }],
  maps: [
    { name: 'settings', type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 4 },
    { name: 'counts', type: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 3 },
    { name: 'per_cpu', type: BPF_MAP_TYPE_PERCPU_HASH, keySize: 4, valueSize: 12, maxEntries: 8 },
  ],
};

/** Like src/bpf/test-ringbuf.bpf.c. */
export const ringObject: FakeObjectSpec = {
  name: 'test_ringbuf',
  programs: [{ name: 'emit_getppid', section: 'tracepoint/syscalls/sys_enter_getppid' }],
  maps: [
    { name: 'events', type: BPF_MAP_TYPE_RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 },
    { name: 'settings', type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 2 },
    { name: 'stats', type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 2 },
  ],
};

/** Like src/__fixtures__/bpf/map-in-map.bpf.c: `policies` has a template from its declaration, `routes` needs one set. */
export const mapInMapObject: FakeObjectSpec = {
  name: 'map_in_map',
  programs: [{ name: 'read_policy', section: 'tracepoint/syscalls/sys_enter_getppid' }],
  maps: [
    {
      name: 'policies',
      type: BPF_MAP_TYPE_HASH_OF_MAPS,
      keySize: 4,
      valueSize: 4,
      maxEntries: 8,
      innerMap: { type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 },
    },
    { name: 'routes', type: BPF_MAP_TYPE_HASH_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 8 },
    { name: 'seen', type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 2 },
  ],
};

/** What a failing call prints before it fails, then its errno. */
export interface FakeFailure {
  readonly errno: number;
  readonly log?: readonly LogEntry[];
}

type Method = keyof LibbpfBinding;

const functionNames: Partial<Record<Method, string>> = {
  openObjectFile: 'bpf_object__open_file',
  openObjectMemory: 'bpf_object__open_mem',
  loadObject: 'bpf_object__load',
  programFd: 'bpf_program__fd',
  attachProgram: 'bpf_program__attach',
  attachTracepoint: 'bpf_program__attach_tracepoint',
  testRun: 'bpf_prog_test_run_opts',
  programInfo: 'bpf_obj_get_info_by_fd',
  destroyLink: 'bpf_link__destroy',
  pinLink: 'bpf_link__pin',
  unpinLink: 'bpf_link__unpin',
  openPinnedLink: 'bpf_link__open',
  linkFd: 'bpf_link__fd',
  mapFd: 'bpf_map__fd',
  pinMap: 'bpf_map__pin',
  unpinMap: 'bpf_map__unpin',
  pinFd: 'bpf_obj_pin',
  openPinned: 'bpf_obj_get',
  removePin: 'unlink',
  setInnerMapFd: 'bpf_map__set_inner_map_fd',
  createMap: 'bpf_map_create',
  mapFdById: 'bpf_map_get_fd_by_id',
  mapInfo: 'bpf_obj_get_info_by_fd',
  closeFd: 'close',
  lookupElement: 'bpf_map_lookup_elem',
  updateElement: 'bpf_map_update_elem',
  deleteElement: 'bpf_map_delete_elem',
  nextKey: 'bpf_map_get_next_key',
  lookupBatch: 'bpf_map_lookup_batch',
  updateBatch: 'bpf_map_update_batch',
  openRingBuffer: 'ring_buffer__new',
  consumeRingBuffer: 'ring_buffer__consume',
  ringBufferEpollFd: 'ring_buffer__epoll_fd',
};

interface FakeObject {
  readonly spec: FakeObjectSpec;
  readonly name: string;
  loaded: boolean;
  closed: boolean;
  readonly programs: ProgramPointer[];
  readonly maps: MapPointer[];
}

interface FakeMap {
  readonly spec: FakeMapSpec;
  /** The object it belongs to; undefined for a map made by createMap. */
  readonly object: ObjectPointer | undefined;
  readonly id: number;
  /** The object's fd for the map, or the fd createMap returned. */
  readonly fd: number;
  readonly entries: Map<string, Buffer>;
  /** What a map of maps' inner maps must match. */
  template: MapDefinition | undefined;
  /** A ring buffer map's records and the bytes they take (each record's size plus an 8-byte header, rounded up to 8). */
  readonly ring: { samples: Buffer[]; used: number; dropped: number };
}

interface FakeRing {
  readonly map: FakeMap;
  readonly onSample: SampleHandler;
  readonly epollFd: number;
  freed: boolean;
}

interface FakeLink {
  readonly description: string;
  readonly fd: number;
  pinPath: string | undefined;
  destroyed: boolean;
}

export class FakeBinding implements LibbpfBinding {
  readonly version = { major: 1, minor: 1 };
  /** Every method called, in order, with its first argument where it names something. */
  readonly calls: string[] = [];
  tracefsMounted = true;
  cpus = 4;
  /** False plays a kernel before 5.6, whose bpf(2) has no batch commands (EINVAL). */
  batchCommands = true;
  /** Where pins may go, like a BPF file system mount. */
  bpffsRoot = '/sys/fs/bpf';
  /**
   * Also make each pin an empty file (and removing it, remove the file), so
   * that code listing a pin directory with node:fs sees the pins: set
   * bpffsRoot to a temporary directory first. Parent directories are made
   * as libbpf makes them (bpf_map__pin, bpf_link__pin; not bpf_obj_pin).
   */
  pinFiles = false;
  /** Paths with a link pinned at them (they outlive FakeLink handles, as pins do). */
  readonly pins = new Map<string, string>();
  /** Paths with a map pinned at them: they keep the map alive, as pins do. */
  readonly mapPins = new Map<string, FakeMap>();
  /** What each object map's bpf_map__pin pinned it at (libbpf's map->pin_path). */
  readonly #mapPinPaths = new Map<MapPointer, string>();

  #sink: LogSink | undefined;
  #nextPointer = 0x1000n;
  #nextFd = 10;
  #nextId = 100;
  readonly #files = new Map<string, FakeObjectSpec>();
  readonly #failures = new Map<Method, FakeFailure>();
  readonly #objects = new Map<bigint, FakeObject>();
  readonly #programs = new Map<bigint, { spec: FakeProgramSpec; object: ObjectPointer; fd: number }>();
  readonly #maps = new Map<bigint, FakeMap>();
  readonly #links = new Map<bigint, FakeLink>();
  /** Every open map fd (an object's, createMap's, mapFdById's) and the map behind it. */
  readonly #mapFds = new Map<number, FakeMap>();
  readonly #rings = new Map<bigint, FakeRing>();

  /** Makes `path` (or, for openObjectMemory, bytes reading as `path`) open as `spec`. */
  addObject(path: string, spec: FakeObjectSpec = counterObject): this {
    this.#files.set(path, spec);
    return this;
  }

  /** The next call of `method` prints `log` and fails with `errno`. */
  failNext(method: Method, errno: number, log: readonly LogEntry[] = []): this {
    this.#failures.set(method, { errno, log });
    return this;
  }

  /** Objects opened and not yet closed. */
  get openObjects(): number {
    return [...this.#objects.values()].filter((object) => !object.closed).length;
  }

  /** Link handles not yet destroyed. */
  get liveLinks(): number {
    return [...this.#links.values()].filter((link) => !link.destroyed).length;
  }

  /** Ring buffers opened and not yet freed. */
  get liveRingBuffers(): number {
    return [...this.#rings.values()].filter((ring) => !ring.freed).length;
  }

  /** Map fds open outside objects (createMap, mapFdById). */
  get openMapFds(): number {
    return [...this.#mapFds.entries()].filter(([fd, map]) => map.object === undefined || map.fd !== fd).length;
  }

  /** The entries of a map, hex key to value, for assertions. */
  mapEntries(fd: number): Map<string, Buffer> {
    return this.#mapByFd(fd).entries;
  }

  /**
   * What a BPF program's bpf_ringbuf_output would do: appends `sample` to
   * the ring buffer map behind `fd`, or counts it dropped when the ring is
   * full; returns whether it fit.
   */
  produce(fd: number, sample: Uint8Array): boolean {
    const fake = this.#mapByFd(fd);
    if (fake.spec.type !== BPF_MAP_TYPE_RINGBUF) throw new Error(`fake: map ${fake.spec.name} is not a ring buffer`);
    const size = (sample.length + 8 + 7) & ~7;
    if (fake.ring.used + size > fake.spec.maxEntries) {
      fake.ring.dropped++;
      return false;
    }
    fake.ring.used += size;
    fake.ring.samples.push(Buffer.from(sample));
    return true;
  }

  /** Records a ring buffer map lost because it was full. */
  ringDropped(fd: number): number {
    return this.#mapByFd(fd).ring.dropped;
  }

  setLogSink(sink: LogSink | undefined): LogSink | undefined {
    const previous = this.#sink;
    this.#sink = sink;
    return previous;
  }

  /** Prints like libbpf: only what the sink's level lets through. */
  print(level: LogEntry['level'], message: string): void {
    const sink = this.#sink;
    if (sink !== undefined && logLevels.indexOf(level) <= logLevels.indexOf(sink.level)) sink.write(level, message);
  }

  openObjectFile(path: string, settings: OpenObjectSettings): ObjectPointer {
    this.#enter('openObjectFile', path);
    this.print('debug', `libbpf: loading object from ${path}`);
    const spec = this.#files.get(path);
    if (spec === undefined) {
      this.print('warn', `libbpf: elf: failed to open ${path}: No such file or directory`);
      throw new LibbpfCallError('bpf_object__open_file', ENOENT);
    }
    return this.#open(spec, settings);
  }

  openObjectMemory(bytes: Uint8Array, settings: OpenObjectSettings): ObjectPointer {
    this.#enter('openObjectMemory');
    const spec = this.#files.get(Buffer.from(bytes).toString());
    if (spec === undefined) {
      this.print('warn', 'libbpf: elf: not a proper ELF object');
      throw new LibbpfCallError('bpf_object__open_mem', LIBBPF_ERRNO__FORMAT);
    }
    return this.#open(spec, settings);
  }

  loadObject(object: ObjectPointer): void {
    const fake = this.#object(object);
    this.#enter('loadObject', fake.name);
    if (fake.loaded) throw new Error('fake: bpf_object__load called twice');
    for (const pointer of fake.maps) {
      const map = this.#maps.get(pointer)!;
      if (mapInMapTypes.has(map.spec.type) && map.template === undefined) {
        // What libbpf 1.1 prints when the kernel refuses a map of maps without a template.
        this.print('warn', `libbpf: map '${map.spec.name}': failed to create: Invalid argument(-22)`);
        this.print('warn', `libbpf: failed to load object '${fake.name}'`);
        throw new LibbpfCallError('bpf_object__load', EINVAL);
      }
    }
    fake.loaded = true;
  }

  closeObject(object: ObjectPointer): void {
    const fake = this.#object(object);
    this.#enter('closeObject', fake.name);
    fake.closed = true;
  }

  objectName(object: ObjectPointer): string {
    return this.#object(object).name;
  }

  programs(object: ObjectPointer): ProgramPointer[] {
    return [...this.#object(object).programs];
  }

  maps(object: ObjectPointer): MapPointer[] {
    return [...this.#object(object).maps];
  }

  findProgram(object: ObjectPointer, name: string): ProgramPointer | undefined {
    return this.#object(object).programs.find((program) => this.#programs.get(program)?.spec.name === name);
  }

  findMap(object: ObjectPointer, name: string): MapPointer | undefined {
    return this.#object(object).maps.find((map) => this.#maps.get(map)?.spec.name === name);
  }

  programName(program: ProgramPointer): string {
    return this.#program(program).spec.name;
  }

  programSection(program: ProgramPointer): string {
    return this.#program(program).spec.section;
  }

  programFd(program: ProgramPointer): number {
    const fake = this.#program(program);
    this.#enter('programFd', fake.spec.name);
    return fake.fd;
  }

  testRun(fd: number, context: Uint8Array): TestRunOutcome {
    const fake = this.#programByFd(fd);
    this.#enter('testRun', fake.spec.name);
    if (fake.spec.run === undefined) throw new LibbpfCallError('bpf_prog_test_run_opts', ENOTSUPP);
    const copy = Buffer.from(context);
    const returnValue = fake.spec.run(copy) >>> 0;
    context.set(copy);
    return { returnValue, duration: 0 };
  }

  programInfo(fd: number): KernelProgramInfo {
    const fake = this.#programByFd(fd);
    this.#enter('programInfo', fake.spec.name);
    return { type: fake.spec.type ?? 5, id: fake.fd + 1000, name: fake.spec.name.slice(0, 15), translatedInstructions: 8, verifiedInstructions: 10, runTimeNs: 0, runCount: 0 };
  }

  attachProgram(program: ProgramPointer): LinkPointer {
    const fake = this.#program(program);
    this.#enter('attachProgram', fake.spec.name);
    return this.#link(fake.spec.section);
  }

  attachTracepoint(program: ProgramPointer, category: string, name: string): LinkPointer {
    const fake = this.#program(program);
    this.#enter('attachTracepoint', `${category}/${name}`);
    if (!this.tracefsMounted) {
      this.print('warn', `libbpf: failed to determine tracepoint '${category}/${name}' perf event ID: -2`);
      throw new LibbpfCallError('bpf_program__attach_tracepoint', ENOENT);
    }
    return this.#link(`${fake.spec.name} at ${category}/${name}`);
  }

  destroyLink(link: LinkPointer): void {
    const fake = this.#liveLink(link);
    this.#enter('destroyLink', fake.description);
    fake.destroyed = true;
  }

  pinLink(link: LinkPointer, path: string): void {
    const fake = this.#liveLink(link);
    this.#enter('pinLink', path);
    if (!path.startsWith(`${this.bpffsRoot}/`)) {
      this.print('warn', `libbpf: specified path ${path} is not on BPF FS`);
      throw new LibbpfCallError('bpf_link__pin', EINVAL);
    }
    if (this.pins.has(path)) throw new LibbpfCallError('bpf_link__pin', EEXIST);
    this.#pinFile(path, true);
    this.pins.set(path, fake.description);
    fake.pinPath = path;
  }

  unpinLink(link: LinkPointer): void {
    const fake = this.#liveLink(link);
    this.#enter('unpinLink', fake.pinPath);
    if (fake.pinPath === undefined) throw new LibbpfCallError('bpf_link__unpin', EINVAL);
    this.pins.delete(fake.pinPath);
    this.#unpinFile(fake.pinPath);
    fake.pinPath = undefined;
  }

  openPinnedLink(path: string): LinkPointer {
    this.#enter('openPinnedLink', path);
    const description = this.pins.get(path);
    if (description === undefined) throw new LibbpfCallError('bpf_link__open', ENOENT);
    const pointer = this.#link(description);
    this.#links.get(pointer)!.pinPath = path;
    return pointer;
  }

  linkFd(link: LinkPointer): number {
    return this.#liveLink(link).fd;
  }

  linkPinPath(link: LinkPointer): string | undefined {
    return this.#liveLink(link).pinPath;
  }

  mapName(map: MapPointer): string {
    return this.#map(map).spec.name;
  }

  mapDefinition(map: MapPointer): MapDefinition {
    const { type, keySize, valueSize, maxEntries } = this.#map(map).spec;
    return { type, keySize, valueSize, maxEntries };
  }

  mapFd(map: MapPointer): number {
    const fake = this.#map(map);
    this.#enter('mapFd', fake.spec.name);
    if (!this.#object(fake.object!).loaded) throw new LibbpfCallError('bpf_map__fd', EINVAL);
    return fake.fd;
  }

  setInnerMapFd(map: MapPointer, fd: number): void {
    const fake = this.#map(map);
    this.#enter('setInnerMapFd', fake.spec.name);
    if (!mapInMapTypes.has(fake.spec.type)) {
      this.print('warn', 'libbpf: error: unsupported map type');
      throw new LibbpfCallError('bpf_map__set_inner_map_fd', EINVAL);
    }
    if (fake.template !== undefined && fake.spec.innerMap === undefined) {
      this.print('warn', 'libbpf: error: inner_map_fd already specified');
      throw new LibbpfCallError('bpf_map__set_inner_map_fd', EINVAL);
    }
    fake.template = this.#definition(this.#mapByFd(fd));
  }

  pinMap(map: MapPointer, path: string): void {
    const fake = this.#map(map);
    this.#enter('pinMap', path);
    this.#pinAt('bpf_map__pin', fake, path, true);
    this.#mapPinPaths.set(map, path);
  }

  unpinMap(map: MapPointer): void {
    this.#map(map);
    const path = this.#mapPinPaths.get(map);
    this.#enter('unpinMap', path);
    if (path === undefined) throw new LibbpfCallError('bpf_map__unpin', EINVAL);
    if (!this.mapPins.delete(path)) throw new LibbpfCallError('bpf_map__unpin', ENOENT);
    this.#unpinFile(path);
    this.#mapPinPaths.delete(map);
  }

  pinFd(fd: number, path: string): void {
    const fake = this.#mapByFd(fd);
    this.#enter('pinFd', path);
    this.#pinAt('bpf_obj_pin', fake, path, false);
  }

  openPinned(path: string): number {
    this.#enter('openPinned', path);
    const fake = this.mapPins.get(path);
    if (fake === undefined) throw new LibbpfCallError('bpf_obj_get', ENOENT);
    const fd = this.#nextFd++;
    this.#mapFds.set(fd, fake);
    return fd;
  }

  removePin(path: string): void {
    this.#enter('removePin', path);
    if (!this.mapPins.delete(path) && !this.pins.delete(path)) throw new LibbpfCallError('unlink', ENOENT);
    this.#unpinFile(path);
  }

  #pinFile(path: string, makeParents: boolean): void {
    if (!this.pinFiles) return;
    if (makeParents) mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, '', { flag: 'wx' });
  }

  #unpinFile(path: string): void {
    if (this.pinFiles) rmSync(path, { force: true });
  }

  #pinAt(functionName: string, fake: FakeMap, path: string, makeParents: boolean): void {
    if (!path.startsWith(`${this.bpffsRoot}/`)) {
      this.print('warn', `libbpf: specified path ${path} is not on BPF FS`);
      throw new LibbpfCallError(functionName, EINVAL);
    }
    if (this.mapPins.has(path) || this.pins.has(path)) throw new LibbpfCallError(functionName, EEXIST);
    this.#pinFile(path, makeParents);
    this.mapPins.set(path, fake);
  }

  createMap(type: number, name: string, keySize: number, valueSize: number, maxEntries: number, settings: CreateMapSettings): number {
    this.#enter('createMap', name);
    const spec: FakeMapSpec = { name, type, keySize, valueSize, maxEntries };
    let template: MapDefinition | undefined;
    if (mapInMapTypes.has(type)) {
      const inner = settings.innerMapFd === undefined ? undefined : this.#mapFds.get(settings.innerMapFd);
      if (inner === undefined) throw new LibbpfCallError('bpf_map_create', EBADF);
      template = this.#definition(inner);
    }
    const fake = this.#newMap(spec, undefined);
    fake.template = template;
    return fake.fd;
  }

  mapFdById(id: number): number {
    this.#enter('mapFdById', String(id));
    const fake = [...this.#mapFds.values()].find((map) => map.id === id);
    if (fake === undefined) throw new LibbpfCallError('bpf_map_get_fd_by_id', ENOENT);
    const fd = this.#nextFd++;
    this.#mapFds.set(fd, fake);
    return fd;
  }

  mapInfo(fd: number): KernelMapInfo {
    const fake = this.#mapByFd(fd);
    this.#enter('mapInfo', fake.spec.name);
    return { ...this.#definition(fake), id: fake.id, name: fake.spec.name.slice(0, 15), flags: 0 };
  }

  closeFd(fd: number): void {
    this.#enter('closeFd', String(fd));
    if (!this.#mapFds.delete(fd)) throw new LibbpfCallError('close', EBADF);
  }

  lookupElement(fd: number, key: Uint8Array, value: Uint8Array): boolean {
    const fake = this.#mapByFd(fd);
    this.#enter('lookupElement', fake.spec.name);
    const stored = fake.entries.get(hex(key));
    if (stored === undefined) return false;
    value.set(stored);
    return true;
  }

  updateElement(fd: number, key: Uint8Array, value: Uint8Array, flags: number): void {
    const fake = this.#mapByFd(fd);
    this.#enter('updateElement', fake.spec.name);
    const errno = this.#store(fake, key, value, flags);
    if (errno !== 0) throw new LibbpfCallError('bpf_map_update_elem', errno);
  }

  /** Stores one element as the kernel would; returns 0 or the errno. */
  #store(fake: FakeMap, key: Uint8Array, value: Uint8Array, flags: number): number {
    const present = fake.entries.has(hex(key));
    if (fake.spec.type === BPF_MAP_TYPE_ARRAY_OF_MAPS) {
      // Every index exists, empty until set.
      if (Buffer.from(key).readUInt32LE(0) >= fake.spec.maxEntries) return E2BIG;
    } else if (arrayTypes.has(fake.spec.type) && !present) return E2BIG;
    if (flags === 1 && present) return EEXIST;
    if (flags === 2 && !present) return ENOENT;
    if (!present && fake.entries.size >= fake.spec.maxEntries) return E2BIG;
    let stored = Buffer.from(value);
    if (mapInMapTypes.has(fake.spec.type)) {
      // Written as an fd, read back as the inner map's id.
      const inner = this.#mapFds.get(Buffer.from(value).readUInt32LE(0));
      if (inner === undefined) return EBADF;
      const template = fake.template;
      const definition = this.#definition(inner);
      // As the kernel's bpf_map_meta_equal: maximum entries must match for arrays only (array_map_meta_equal).
      if (
        template === undefined ||
        template.type !== definition.type ||
        template.keySize !== definition.keySize ||
        template.valueSize !== definition.valueSize ||
        (arrayTypes.has(template.type) && template.maxEntries !== definition.maxEntries)
      ) {
        return EINVAL;
      }
      stored = Buffer.alloc(4);
      stored.writeUInt32LE(inner.id);
    }
    fake.entries.set(hex(key), stored);
    return 0;
  }

  deleteElement(fd: number, key: Uint8Array): boolean {
    const fake = this.#mapByFd(fd);
    this.#enter('deleteElement', fake.spec.name);
    if (fake.spec.type === BPF_MAP_TYPE_ARRAY) throw new LibbpfCallError('bpf_map_delete_elem', EINVAL);
    return fake.entries.delete(hex(key));
  }

  nextKey(fd: number, key: Uint8Array | undefined, next: Uint8Array): boolean {
    const fake = this.#mapByFd(fd);
    this.#enter('nextKey', fake.spec.name);
    const keys = [...fake.entries.keys()];
    const index = key === undefined ? -1 : keys.indexOf(hex(key));
    // Like a hash map: an unknown key starts the walk over.
    const following = keys[index + 1];
    if (following === undefined) return false;
    next.set(Buffer.from(following, 'hex'));
    return true;
  }

  lookupBatch(
    fd: number,
    inBatch: Uint8Array | undefined,
    outBatch: Uint8Array,
    keys: Uint8Array,
    values: Uint8Array,
    count: number,
  ): LookupBatchResult {
    const fake = this.#mapByFd(fd);
    this.#enter('lookupBatch', fake.spec.name);
    this.#batchAllowed(fake, 'bpf_map_lookup_batch');
    if (count === 0) return { count: 0, done: false };
    // The position token: the index of the next entry, as a u32.
    const start = inBatch === undefined ? 0 : Buffer.from(inBatch).readUInt32LE(0);
    const all = [...fake.entries.entries()];
    const slice = all.slice(start, start + count);
    const valueSize = values.length / count;
    slice.forEach(([key, value], index) => {
      keys.set(Buffer.from(key, 'hex'), index * fake.spec.keySize);
      values.set(value, index * valueSize);
    });
    Buffer.from(outBatch.buffer, outBatch.byteOffset, outBatch.length).writeUInt32LE(start + slice.length);
    return { count: slice.length, done: start + slice.length >= all.length };
  }

  updateBatch(fd: number, keys: Uint8Array, values: Uint8Array, count: number): void {
    const fake = this.#mapByFd(fd);
    this.#enter('updateBatch', fake.spec.name);
    this.#batchAllowed(fake, 'bpf_map_update_batch');
    const valueSize = count === 0 ? 0 : values.length / count;
    for (let index = 0; index < count; index++) {
      const key = keys.subarray(index * fake.spec.keySize, (index + 1) * fake.spec.keySize);
      const errno = this.#store(fake, key, values.subarray(index * valueSize, (index + 1) * valueSize), 0);
      if (errno !== 0) throw new LibbpfCallError('bpf_map_update_batch', errno, index);
    }
  }

  openRingBuffer(mapFd: number, onSample: SampleHandler): RingBufferPointer {
    const fake = this.#mapByFd(mapFd);
    this.#enter('openRingBuffer', fake.spec.name);
    if (fake.spec.type !== BPF_MAP_TYPE_RINGBUF) {
      this.print('warn', `libbpf: ringbuf: map fd=${mapFd} is not BPF_MAP_TYPE_RINGBUF`);
      throw new LibbpfCallError('ring_buffer__new', EINVAL);
    }
    const pointer = this.#pointer() as RingBufferPointer;
    this.#rings.set(pointer, { map: fake, onSample, epollFd: this.#nextFd++, freed: false });
    return pointer;
  }

  consumeRingBuffer(ring: RingBufferPointer): number {
    const fake = this.#ring(ring);
    this.#enter('consumeRingBuffer', fake.map.spec.name);
    let count = 0;
    const data = fake.map.ring;
    for (let sample = data.samples.shift(); sample !== undefined; sample = data.samples.shift()) {
      data.used -= (sample.length + 8 + 7) & ~7;
      count++;
      if (!fake.onSample(sample)) break;
    }
    return count;
  }

  ringBufferEpollFd(ring: RingBufferPointer): number {
    const fake = this.#ring(ring);
    this.#enter('ringBufferEpollFd', fake.map.spec.name);
    return fake.epollFd;
  }

  freeRingBuffer(ring: RingBufferPointer): void {
    const fake = this.#ring(ring);
    this.#enter('freeRingBuffer', fake.map.spec.name);
    fake.freed = true;
  }

  possibleCpus(): number {
    return this.cpus;
  }

  isTracefsMounted(): boolean {
    return this.tracefsMounted;
  }

  /** Records the call, then fails it if a failure was injected. */
  #enter(method: Method, subject?: string): void {
    this.calls.push(subject === undefined ? method : `${method} ${subject}`);
    const failure = this.#failures.get(method);
    if (failure === undefined) return;
    this.#failures.delete(method);
    for (const entry of failure.log ?? []) this.print(entry.level, entry.message);
    throw new LibbpfCallError(functionNames[method] ?? method, failure.errno);
  }

  #pointer(): bigint {
    this.#nextPointer += 0x10n;
    return this.#nextPointer;
  }

  #open(spec: FakeObjectSpec, settings: OpenObjectSettings): ObjectPointer {
    const object = this.#pointer() as ObjectPointer;
    const fake: FakeObject = { spec, name: settings.objectName ?? spec.name, loaded: false, closed: false, programs: [], maps: [] };
    for (const program of spec.programs) {
      const pointer = this.#pointer() as ProgramPointer;
      this.#programs.set(pointer, { spec: program, object, fd: this.#nextFd++ });
      fake.programs.push(pointer);
    }
    for (const map of spec.maps) {
      const pointer = this.#pointer() as MapPointer;
      this.#maps.set(pointer, this.#newMap(map, object));
      fake.maps.push(pointer);
    }
    this.#objects.set(object, fake);
    return object;
  }

  #newMap(spec: FakeMapSpec, object: ObjectPointer | undefined): FakeMap {
    const entries = new Map<string, Buffer>();
    if (spec.type === BPF_MAP_TYPE_ARRAY || spec.type === BPF_MAP_TYPE_PERCPU_ARRAY) {
      const valueSize = spec.type === BPF_MAP_TYPE_ARRAY ? spec.valueSize : Math.ceil(spec.valueSize / 8) * 8 * this.cpus;
      for (let index = 0; index < spec.maxEntries; index++) {
        const key = Buffer.alloc(spec.keySize);
        key.writeUInt32LE(index);
        entries.set(hex(key), spec.initialValue === undefined ? Buffer.alloc(valueSize) : Buffer.from(spec.initialValue));
      }
    }
    const fake: FakeMap = {
      spec,
      object,
      id: this.#nextId++,
      fd: this.#nextFd++,
      entries,
      template: spec.innerMap,
      ring: { samples: [], used: 0, dropped: 0 },
    };
    this.#mapFds.set(fake.fd, fake);
    return fake;
  }

  #definition(fake: FakeMap): MapDefinition {
    const { type, keySize, valueSize, maxEntries } = fake.spec;
    return { type, keySize, valueSize, maxEntries };
  }

  #batchAllowed(fake: FakeMap, functionName: string): void {
    if (!this.batchCommands) throw new LibbpfCallError(functionName, EINVAL);
    if (!batchTypes.has(fake.spec.type)) throw new LibbpfCallError(functionName, ENOTSUPP);
  }

  #ring(pointer: RingBufferPointer): FakeRing {
    const fake = this.#rings.get(pointer);
    if (fake === undefined) throw new Error(`fake: unknown ring_buffer ${pointer}`);
    if (fake.freed) throw new Error(`fake: ring_buffer of ${fake.map.spec.name} used after free`);
    return fake;
  }

  #object(pointer: ObjectPointer): FakeObject {
    const fake = this.#objects.get(pointer);
    if (fake === undefined) throw new Error(`fake: unknown bpf_object ${pointer}`);
    if (fake.closed) throw new Error(`fake: bpf_object ${fake.name} used after close`);
    return fake;
  }

  #program(pointer: ProgramPointer): { spec: FakeProgramSpec; object: ObjectPointer; fd: number } {
    const fake = this.#programs.get(pointer);
    if (fake === undefined) throw new Error(`fake: unknown bpf_program ${pointer}`);
    this.#object(fake.object);
    return fake;
  }

  #programByFd(fd: number): { spec: FakeProgramSpec; object: ObjectPointer; fd: number } {
    const fake = [...this.#programs.values()].find((program) => program.fd === fd);
    if (fake === undefined) throw new Error(`fake: unknown program fd ${fd}`);
    const object = this.#object(fake.object);
    if (!object.loaded) throw new Error(`fake: program fd ${fd} of an object that is not loaded`);
    return fake;
  }

  #map(pointer: MapPointer): FakeMap {
    const fake = this.#maps.get(pointer);
    if (fake === undefined) throw new Error(`fake: unknown bpf_map ${pointer}`);
    this.#object(fake.object!);
    return fake;
  }

  #mapByFd(fd: number): FakeMap {
    const fake = this.#mapFds.get(fd);
    if (fake === undefined) throw new Error(`fake: unknown map fd ${fd}`);
    if (fake.fd === fd && fake.object !== undefined && this.#objects.get(fake.object)?.closed === true) {
      throw new Error(`fake: map fd ${fd} used after its object was closed`);
    }
    return fake;
  }

  #link(description: string): LinkPointer {
    const pointer = this.#pointer() as LinkPointer;
    this.#links.set(pointer, { description, fd: this.#nextFd++, pinPath: undefined, destroyed: false });
    return pointer;
  }

  #liveLink(pointer: LinkPointer): FakeLink {
    const fake = this.#links.get(pointer);
    if (fake === undefined) throw new Error(`fake: unknown bpf_link ${pointer}`);
    if (fake.destroyed) throw new Error(`fake: bpf_link ${fake.description} used after destroy`);
    return fake;
  }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The log libbpf 1.1 prints when the verifier rejects a program, as captured on a 6.18 kernel. */
export const verifierRejectionLog: readonly LogEntry[] = [
  { level: 'warn', message: "libbpf: prog 'read_unchecked': BPF program load failed: Permission denied" },
  {
    level: 'warn',
    message: [
      "libbpf: prog 'read_unchecked': -- BEGIN PROG LOAD LOG --",
      '0: R1=ctx() R10=fp0',
      '; int read_unchecked(void *context) @ rejected.bpf.c:20',
      '0: (b7) r1 = 0                        ; R1=0',
      '6: (85) call bpf_map_lookup_elem#1    ; R0=map_value_or_null(id=1,map=values,ks=4,vs=8)',
      '; return *value == 42; @ rejected.bpf.c:25',
      '7: (79) r1 = *(u64 *)(r0 +0)',
      "R0 invalid mem access 'map_value_or_null'",
      'processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
      '-- END PROG LOAD LOG --',
    ].join('\n'),
  },
  { level: 'warn', message: "libbpf: prog 'read_unchecked': failed to load: -13" },
  { level: 'warn', message: "libbpf: failed to load object 'rejected'" },
];
