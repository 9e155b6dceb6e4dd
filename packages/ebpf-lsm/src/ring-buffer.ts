/**
 * A consumer of a BPF ring buffer map (BPF_MAP_TYPE_RINGBUF): an async
 * iterator of its records over libbpf's ring_buffer__new / __consume /
 * __free.
 *
 * Polling never blocks the event loop: the iterator calls
 * ring_buffer__consume, which reads the ring's positions from shared memory
 * and returns at once, without a system call when the ring is empty. While
 * records keep coming it calls again on the next turn of the event loop
 * (setImmediate); once the ring is empty it waits 1 ms, then twice as long
 * each time up to `maxPollInterval`, so an idle ring costs a few calls a
 * second and a record that arrives in an idle ring waits at most that long.
 *
 * Backpressure: records go into a bounded queue (`highWaterMark`). When it
 * is full, the sample callback stops the consume call and polling pauses
 * until the consumer has taken half of the queue. Meanwhile records stay in
 * the kernel's ring; once that is full, bpf_ringbuf_reserve fails in the
 * program and new records are lost there. Only the program can count those
 * (see `dropCounter`); `received` counts what reached this process.
 */
import { ValidationError, addContext } from '@bulwark/errors';
import { type LibbpfBinding, LibbpfCallError, type RingBufferPointer } from './binding.js';
import { callLibbpf, callQuiet } from './call.js';
import type { Codec } from './codec.js';
import { StateError, toBulwarkError } from './errors.js';
import { BpfMap, mapBinding } from './map.js';

/** A counter the BPF program keeps of the records it could not reserve because the ring was full. */
export interface DropCounter {
  /** A map whose value under `key` is a u64 (or, per-CPU, one u64 per CPU, summed). */
  readonly map: BpfMap;
  /** Default: index 0 as a u32 (host byte order), for an array map. */
  readonly key?: Uint8Array;
}

export interface RingBufferOptions {
  /** Records queued in this process before polling pauses; default 1024. It also bounds the records one poll hands over. */
  highWaterMark?: number;
  /** The longest wait, in ms, between two polls of an idle ring, so the longest a record waits there; default 10. */
  maxPollInterval?: number;
  /** Where the program counts records lost to a full ring, read by `dropped`. */
  dropCounter?: DropCounter;
}

export interface RingBufferCodecOptions<T> extends RingBufferOptions {
  /** Decodes each record; a record whose size differs from the codec's fails the iteration with a ValidationError. */
  codec: Codec<T>;
}

const defaultHighWaterMark = 1024;
const defaultMaxPollInterval = 10;

/**
 * Opens a consumer of the ring buffer map `map`. Nothing is read until the
 * iteration starts; then records are yielded in the order the kernel
 * committed them, as Buffers (copies, sharing 16 KiB slabs: copy one you
 * keep for long) or decoded with `codec`. Breaking out of the loop or
 * calling close() frees the consumer and ends the iteration; records still
 * queued are discarded. Throws ValidationError when `map` is not a ringbuf
 * map, LibbpfError when libbpf cannot map it.
 */
export function openRingBuffer(map: BpfMap, options?: RingBufferOptions): RingBuffer;
export function openRingBuffer<T>(map: BpfMap, options: RingBufferCodecOptions<T>): RingBuffer<T>;
export function openRingBuffer<T>(map: BpfMap, options: RingBufferOptions & { codec?: Codec<T> } = {}): RingBuffer<T | Buffer> {
  const name = map instanceof BpfMap ? map.name : '';
  const operation = `open ring buffer ${name}`.trimEnd();
  function issue(path: string, message: string): never {
    throw addContext(operation, new ValidationError('options', [{ path, message }]));
  }
  if (!(map instanceof BpfMap)) issue('map', 'expected a BpfMap');
  if (map.info.type !== 'ringbuf') issue('map', `expected a ringbuf map, map ${name} is ${map.info.type}`);
  const highWaterMark = options.highWaterMark ?? defaultHighWaterMark;
  if (!Number.isSafeInteger(highWaterMark) || highWaterMark < 1) issue('highWaterMark', `expected a positive integer, got ${String(highWaterMark)}`);
  const maxPollInterval = options.maxPollInterval ?? defaultMaxPollInterval;
  if (typeof maxPollInterval !== 'number' || !(maxPollInterval >= 1 && maxPollInterval <= 60_000)) {
    issue('maxPollInterval', `expected milliseconds from 1 to 60000, got ${String(maxPollInterval)}`);
  }
  const codec = options.codec;
  if (codec !== undefined && (typeof codec.decode !== 'function' || !Number.isSafeInteger(codec.size))) {
    issue('codec', 'expected a codec with a size and decode()');
  }
  let dropCounter: { map: BpfMap; key: Uint8Array } | undefined;
  if (options.dropCounter !== undefined) {
    const counter = options.dropCounter;
    if (!(counter.map instanceof BpfMap)) issue('dropCounter.map', 'expected a BpfMap');
    if (counter.map.info.valueSize !== 8) issue('dropCounter.map', `expected u64 values, map ${counter.map.name} has ${counter.map.info.valueSize}-byte values`);
    const key = counter.key ?? new Uint8Array(new Uint32Array([0]).buffer);
    if (key.length !== counter.map.info.keySize) {
      issue('dropCounter.key', `expected ${counter.map.info.keySize} bytes for map ${counter.map.name}, got ${key.length}`);
    }
    dropCounter = { map: counter.map, key };
  }
  const decode =
    codec === undefined
      ? (sample: Buffer): T | Buffer => sample
      : (sample: Buffer): T | Buffer => {
          if (sample.length !== codec.size) {
            const message = `codec ${codec.name} is ${codec.size} bytes, the record is ${sample.length}`;
            throw addContext(`read ring buffer ${name}`, new ValidationError('record', [{ path: '', message }]));
          }
          return codec.decode(sample);
        };
  return new RingBuffer<T | Buffer>(map, { highWaterMark, maxPollInterval, decode, dropCounter });
}

interface RingBufferSettings<T> {
  readonly highWaterMark: number;
  readonly maxPollInterval: number;
  readonly decode: (sample: Buffer) => T;
  readonly dropCounter: { readonly map: BpfMap; readonly key: Uint8Array } | undefined;
}

interface Waiter<T> {
  readonly resolve: (result: IteratorResult<T, undefined>) => void;
  readonly reject: (error: unknown) => void;
}

const done: IteratorReturnResult<undefined> = { done: true, value: undefined };

export class RingBuffer<T = Buffer> implements AsyncIterable<T, undefined>, Disposable {
  /** The ring buffer map's name. */
  readonly name: string;
  readonly #binding: LibbpfBinding;
  readonly #pointer: RingBufferPointer;
  readonly #settings: RingBufferSettings<T>;
  readonly #resumeAt: number;
  #queue: Buffer[] = [];
  #head = 0;
  readonly #waiters: Waiter<T>[] = [];
  #scheduled: { readonly immediate: NodeJS.Immediate } | { readonly timeout: NodeJS.Timeout } | undefined;
  #interval = 0;
  #started = false;
  #paused = false;
  #closed = false;
  #failure: { error: unknown } | undefined;
  #received = 0;
  #delivered = 0;

  /** @internal Use openRingBuffer(). */
  constructor(map: BpfMap, settings: RingBufferSettings<T>) {
    this.name = map.name;
    this.#binding = mapBinding(map);
    this.#settings = settings;
    this.#resumeAt = Math.floor(settings.highWaterMark / 2);
    const fd = map.fd;
    this.#pointer = callLibbpf(this.#binding, `open ring buffer ${this.name}`, () => this.#binding.openRingBuffer(fd, this.#onSample));
  }

  /** Records copied out of the kernel's ring so far (what the sample callback saw). */
  get received(): number {
    return this.#received;
  }

  /** Records the iteration has yielded. */
  get delivered(): number {
    return this.#delivered;
  }

  /** Records waiting in this process's queue. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** True while the queue is full and the ring is not being read. */
  get paused(): boolean {
    return this.#paused;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Records the program lost to a full ring, read from `dropCounter` now;
   * undefined without one.
   */
  get dropped(): number | undefined {
    const counter = this.#settings.dropCounter;
    if (counter === undefined) return undefined;
    const value = counter.map.lookup(counter.key);
    if (value === undefined) return 0;
    let total = 0n;
    for (let offset = 0; offset + 8 <= value.length; offset += 8) total += littleEndian ? value.readBigUInt64LE(offset) : value.readBigUInt64BE(offset);
    return Number(total);
  }

  /** The epoll fd that is readable when the ring has records, for a caller that waits on it itself (ring_buffer__epoll_fd). */
  get epollFd(): number {
    const operation = `get epoll fd of ring buffer ${this.name}`;
    if (this.#closed) throw new StateError(operation, `ring buffer ${this.name} is closed`);
    return callQuiet(operation, () => this.#binding.ringBufferEpollFd(this.#pointer));
  }

  [Symbol.asyncIterator](): AsyncIterator<T, undefined> & AsyncIterable<T, undefined> {
    const iterator = {
      next: (): Promise<IteratorResult<T, undefined>> => this.#next(),
      return: (): Promise<IteratorResult<T, undefined>> => {
        this.close();
        return Promise.resolve(done);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * Ends the iteration (a pending next() resolves as done), discards the
   * queued records, stops polling, frees libbpf's ring buffer and releases
   * the sample callback. Closing twice does nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#paused = false;
    this.#cancelPoll();
    this.#queue = [];
    this.#head = 0;
    const waiters = this.#waiters.splice(0);
    try {
      callQuiet(`close ring buffer ${this.name}`, () => this.#binding.freeRingBuffer(this.#pointer));
    } finally {
      for (const waiter of waiters) waiter.resolve(done);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Called by libbpf, inside ring_buffer__consume, once per record: queue it; stop the call when the queue is full. */
  readonly #onSample = (sample: Buffer): boolean => {
    this.#received++;
    this.#queue.push(sample);
    return this.#queue.length - this.#head < this.#settings.highWaterMark;
  };

  #next(): Promise<IteratorResult<T, undefined>> {
    if (this.#head < this.#queue.length) {
      try {
        return Promise.resolve({ done: false, value: this.#take() });
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const failure = this.#failure;
    if (failure !== undefined) {
      this.#failure = undefined;
      return Promise.reject(failure.error);
    }
    if (this.#closed) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      if (!this.#started) {
        this.#started = true;
        this.#schedule();
      }
      // A waiting consumer keeps the process alive; an idle poll does not.
      const scheduled = this.#scheduled;
      if (scheduled !== undefined) ('immediate' in scheduled ? scheduled.immediate : scheduled.timeout).ref();
    });
  }

  /** The next queued record, decoded; a decoding failure closes the ring buffer and throws. */
  #take(): T {
    const sample = this.#queue[this.#head]!;
    this.#head++;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 4096 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#paused && this.#queue.length - this.#head <= this.#resumeAt) {
      this.#paused = false;
      this.#interval = 0;
      this.#schedule();
    }
    this.#delivered++;
    try {
      return this.#settings.decode(sample);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  readonly #poll = (): void => {
    this.#scheduled = undefined;
    if (this.#closed) return;
    let count: number;
    try {
      count = this.#binding.consumeRingBuffer(this.#pointer);
    } catch (error) {
      this.#fail(error instanceof LibbpfCallError ? toBulwarkError(`read ring buffer ${this.name}`, error, []) : error);
      return;
    }
    this.#serveWaiters();
    if (this.#closed) return;
    if (this.#queue.length - this.#head >= this.#settings.highWaterMark) {
      this.#paused = true;
      return;
    }
    this.#interval = count > 0 ? 0 : Math.min(Math.max(this.#interval * 2, 1), this.#settings.maxPollInterval);
    this.#schedule();
  };

  #serveWaiters(): void {
    while (this.#waiters.length > 0 && this.#head < this.#queue.length) {
      const waiter = this.#waiters.shift()!;
      let value: T;
      try {
        value = this.#take();
      } catch (error) {
        waiter.reject(error);
        return;
      }
      waiter.resolve({ done: false, value });
    }
  }

  #schedule(): void {
    if (this.#closed || this.#paused || this.#scheduled !== undefined || !this.#started) return;
    const scheduled = this.#interval === 0 ? { immediate: setImmediate(this.#poll) } : { timeout: setTimeout(this.#poll, this.#interval) };
    if (this.#waiters.length === 0) ('immediate' in scheduled ? scheduled.immediate : scheduled.timeout).unref();
    this.#scheduled = scheduled;
  }

  #cancelPoll(): void {
    const scheduled = this.#scheduled;
    this.#scheduled = undefined;
    if (scheduled === undefined) return;
    if ('immediate' in scheduled) clearImmediate(scheduled.immediate);
    else clearTimeout(scheduled.timeout);
  }

  /** A failed poll: the first waiter gets the error (or the next next() call), the ring buffer closes. */
  #fail(error: unknown): void {
    const waiter = this.#waiters.shift();
    if (waiter === undefined) this.#failure = { error };
    this.close();
    waiter?.reject(error);
  }
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
