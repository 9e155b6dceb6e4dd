/**
 * An in-memory LibbpfBinding for unit tests: objects described by specs,
 * maps that behave like the kernel's hash and array maps, links and pins,
 * and failures injected per method with the errno and log libbpf would give.
 * It throws a plain Error when handed a freed or unknown pointer, so a test
 * notices if the typed API ever lets one through.
 */
import {
  type LibbpfBinding,
  LibbpfCallError,
  type LinkPointer,
  type LogSink,
  type MapDefinition,
  type MapPointer,
  type ObjectPointer,
  type OpenObjectSettings,
  type ProgramPointer,
  logLevels,
} from '../binding.js';
import type { LogEntry } from '../errors.js';

export const EPERM = 1;
export const ENOENT = 2;
export const E2BIG = 7;
export const EACCES = 13;
export const EEXIST = 17;
export const EINVAL = 22;
export const LIBBPF_ERRNO__FORMAT = 4001;
export const LIBBPF_ERRNO__PROGTYPE = 4010;

export const BPF_MAP_TYPE_HASH = 1;
export const BPF_MAP_TYPE_ARRAY = 2;
export const BPF_MAP_TYPE_PERCPU_HASH = 5;

export interface FakeProgramSpec {
  readonly name: string;
  readonly section: string;
}

export interface FakeMapSpec extends MapDefinition {
  readonly name: string;
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
  destroyLink: 'bpf_link__destroy',
  pinLink: 'bpf_link__pin',
  unpinLink: 'bpf_link__unpin',
  openPinnedLink: 'bpf_link__open',
  linkFd: 'bpf_link__fd',
  mapFd: 'bpf_map__fd',
  lookupElement: 'bpf_map_lookup_elem',
  updateElement: 'bpf_map_update_elem',
  deleteElement: 'bpf_map_delete_elem',
  nextKey: 'bpf_map_get_next_key',
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
  readonly object: ObjectPointer;
  readonly fd: number;
  readonly entries: Map<string, Buffer>;
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
  /** Where pins may go, like a BPF file system mount. */
  bpffsRoot = '/sys/fs/bpf';
  /** Paths with a link pinned at them (they outlive FakeLink handles, as pins do). */
  readonly pins = new Map<string, string>();

  #sink: LogSink | undefined;
  #nextPointer = 0x1000n;
  #nextFd = 10;
  readonly #files = new Map<string, FakeObjectSpec>();
  readonly #failures = new Map<Method, FakeFailure>();
  readonly #objects = new Map<bigint, FakeObject>();
  readonly #programs = new Map<bigint, { spec: FakeProgramSpec; object: ObjectPointer; fd: number }>();
  readonly #maps = new Map<bigint, FakeMap>();
  readonly #links = new Map<bigint, FakeLink>();

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

  /** The entries of a map, hex key to value, for assertions. */
  mapEntries(fd: number): Map<string, Buffer> {
    return this.#mapByFd(fd).entries;
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
    this.pins.set(path, fake.description);
    fake.pinPath = path;
  }

  unpinLink(link: LinkPointer): void {
    const fake = this.#liveLink(link);
    this.#enter('unpinLink', fake.pinPath);
    if (fake.pinPath === undefined) throw new LibbpfCallError('bpf_link__unpin', EINVAL);
    this.pins.delete(fake.pinPath);
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
    if (!this.#object(fake.object).loaded) throw new LibbpfCallError('bpf_map__fd', EINVAL);
    return fake.fd;
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
    const present = fake.entries.has(hex(key));
    if (fake.spec.type === BPF_MAP_TYPE_ARRAY && !present) throw new LibbpfCallError('bpf_map_update_elem', E2BIG);
    if (flags === 1 && present) throw new LibbpfCallError('bpf_map_update_elem', EEXIST);
    if (flags === 2 && !present) throw new LibbpfCallError('bpf_map_update_elem', ENOENT);
    if (!present && fake.entries.size >= fake.spec.maxEntries) throw new LibbpfCallError('bpf_map_update_elem', E2BIG);
    fake.entries.set(hex(key), Buffer.from(value));
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
      const entries = new Map<string, Buffer>();
      if (map.type === BPF_MAP_TYPE_ARRAY) {
        for (let index = 0; index < map.maxEntries; index++) {
          const key = Buffer.alloc(map.keySize);
          key.writeUInt32LE(index);
          entries.set(hex(key), Buffer.alloc(map.valueSize));
        }
      }
      this.#maps.set(pointer, { spec: map, object, fd: this.#nextFd++, entries });
      fake.maps.push(pointer);
    }
    this.#objects.set(object, fake);
    return object;
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

  #map(pointer: MapPointer): FakeMap {
    const fake = this.#maps.get(pointer);
    if (fake === undefined) throw new Error(`fake: unknown bpf_map ${pointer}`);
    this.#object(fake.object);
    return fake;
  }

  #mapByFd(fd: number): FakeMap {
    for (const fake of this.#maps.values()) {
      if (fake.fd === fd) {
        if (this.#objects.get(fake.object)?.closed === true) throw new Error(`fake: map fd ${fd} used after its object was closed`);
        return fake;
      }
    }
    throw new Error(`fake: unknown map fd ${fd}`);
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
