import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestPrograms, compileTestPrograms, ensureTracefs, startGetppidCaller } from './__fixtures__/bpf.js';
import { createLibbpfBinding } from './binding.js';
import { type Codec, codecs } from './codec.js';
import type { Link } from './link.js';
import { type LoadedObject, openObject } from './object.js';
import { loadLibbpf } from './raw/libbpf.js';
import { type RingBuffer, openRingBuffer } from './ring-buffer.js';

let programs: TestPrograms;
let tracefs: Disposable;

beforeAll(() => {
  programs = compileTestPrograms();
  tracefs = ensureTracefs();
});

afterAll(() => {
  tracefs[Symbol.dispose]();
  programs[Symbol.dispose]();
});

/** struct event of test-ringbuf.bpf.c. */
interface Event {
  readonly sequence: number;
  readonly pid: number;
  readonly index: number;
}

const eventCodec: Codec<Event> = {
  name: 'event',
  size: 16,
  encode: () => {
    throw new Error('not used');
  },
  decode: (bytes) => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { sequence: Number(view.getBigUint64(0, true)), pid: view.getUint32(8, true), index: view.getUint32(12, true) };
  },
};

/** A record is 16 bytes plus the kernel's 8-byte header; the ring holds 16 MiB of them. */
const ringCapacity = Math.floor((16 * 1024 * 1024) / 24);

interface Emitter extends Disposable {
  readonly loaded: LoadedObject;
  readonly link: Link;
  /** Serve only `pid`, `burst` records per getppid call. */
  configure(pid: number, burst: number): void;
  submitted(): number;
  dropped(): number;
}

function loadEmitter(): Emitter {
  const loaded = openObject(programs.ringbuf).load();
  const settings = loaded.map('settings').typed(codecs.u32, codecs.u64);
  const stats = loaded.map('stats').typed(codecs.u32, codecs.u64);
  const link = loaded.program('emit_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
  return {
    loaded,
    link,
    configure(pid, burst) {
      settings.update(0, BigInt(pid));
      settings.update(1, BigInt(burst));
    },
    submitted: () => Number(stats.lookup(0)),
    dropped: () => Number(stats.lookup(1)),
    [Symbol.dispose]() {
      link.destroy();
      loaded.close();
    },
  };
}

function openEvents(emitter: Emitter, highWaterMark?: number): RingBuffer<Event> {
  return openRingBuffer(emitter.loaded.map('events'), {
    codec: eventCodec,
    dropCounter: { map: emitter.loaded.map('stats'), key: codecs.u32.encode(1) },
    ...(highWaterMark === undefined ? {} : { highWaterMark }),
  });
}

/** Takes `count` records off the iterator. */
async function take(iterator: AsyncIterator<Event, undefined>, count: number): Promise<Event[]> {
  const events: Event[] = [];
  while (events.length < count) {
    const result = await iterator.next();
    if (result.done === true) break;
    events.push(result.value);
  }
  return events;
}

/** What the ring buffer holds in this process: libbpf's mappings of ring pages and epoll fds. */
function resources(): { mappings: number; epollFds: number; callbacks: number } {
  const mappings = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((line) => line.includes('anon_inode:bpf-map')).length;
  const epollFds = readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[eventpoll]';
    } catch {
      return false;
    }
  }).length;
  return { mappings, epollFds, callbacks: loadLibbpf().ffi.registered_callbacks() };
}

describe('ring buffers on the real kernel', () => {
  it('delivers exactly one record per event, in order, with the right pid', async () => {
    using emitter = loadEmitter();
    await using caller = await startGetppidCaller();
    emitter.configure(caller.pid, 1);
    using ring = openEvents(emitter);
    const iterator = ring[Symbol.asyncIterator]();
    await caller.call(1000);
    const events = await take(iterator, 1000);
    expect(events).toEqual(Array.from({ length: 1000 }, (_, sequence) => ({ sequence, pid: caller.pid, index: 0 })));
    // Nothing more comes.
    await sleep(30);
    expect({ received: ring.received, queued: ring.queued, submitted: emitter.submitted(), dropped: ring.dropped }).toEqual({
      received: 1000,
      queued: 0,
      submitted: 1000,
      dropped: 0,
    });
  });

  it('delivers bursts of records per event, and records that arrive while it waits', async () => {
    using emitter = loadEmitter();
    await using caller = await startGetppidCaller();
    emitter.configure(caller.pid, 100);
    using ring = openEvents(emitter);
    const iterator = ring[Symbol.asyncIterator]();
    // The consumer waits first; the records come later.
    const pending = take(iterator, 5000);
    await sleep(20);
    await caller.call(50);
    const events = await pending;
    expect(events).toHaveLength(5000);
    events.forEach((event, sequence) => expect(event).toEqual({ sequence, pid: caller.pid, index: sequence % 100 }));
    expect(ring.received).toBe(5000);
  });

  it('ends a waiting loop on close() and frees the ring, its epoll fd and its callback', async () => {
    using emitter = loadEmitter();
    await using caller = await startGetppidCaller();
    emitter.configure(caller.pid, 1);
    const before = resources();
    const ring = openEvents(emitter);
    expect(resources()).toEqual({ mappings: before.mappings + 2, epollFds: before.epollFds + 1, callbacks: before.callbacks + 1 });
    expect(ring.epollFd).toBeGreaterThan(2);
    const seen: Event[] = [];
    const loop = (async () => {
      for await (const event of ring) seen.push(event);
      return 'ended';
    })();
    await caller.call(3);
    while (seen.length < 3) await sleep(1);
    ring.close();
    await expect(loop).resolves.toBe('ended');
    expect(seen.map((event) => event.sequence)).toEqual([0, 1, 2]);
    expect(resources()).toEqual(before);
  });

  it('ends the loop at a break, with records still queued, and frees everything', async () => {
    using emitter = loadEmitter();
    await using caller = await startGetppidCaller();
    emitter.configure(caller.pid, 1000);
    const before = resources();
    const ring = openEvents(emitter, 256);
    await caller.call(5);
    let count = 0;
    for await (const event of ring) {
      expect(event.sequence).toBe(count);
      if (++count === 10) break;
    }
    expect({ closed: ring.closed, queued: ring.queued, delivered: ring.delivered }).toEqual({ closed: true, queued: 0, delivered: 10 });
    expect(resources()).toEqual(before);
  });

  it('stops reading while a slow consumer lags: the full ring drops, and the program counts it', async () => {
    using emitter = loadEmitter();
    await using caller = await startGetppidCaller();
    const burst = 100_000;
    const calls = 10;
    emitter.configure(caller.pid, burst);
    using ring = openEvents(emitter, 64);
    const iterator = ring[Symbol.asyncIterator]();
    // The slow consumer takes one record, then nothing while the bursts come.
    const first = take(iterator, 1);
    await caller.call(calls);
    expect(await first).toEqual([{ sequence: 0, pid: caller.pid, index: 0 }]);
    await sleep(30);
    expect({ paused: ring.paused, queued: ring.queued }).toEqual({ paused: true, queued: 64 });
    const produced = burst * calls;
    const submitted = emitter.submitted();
    const dropped = emitter.dropped();
    // The ring (and the 64 + 1 records already out of it) took what fit; the rest was dropped in the kernel.
    expect(submitted).toBeLessThanOrEqual(ringCapacity + 65);
    expect(submitted).toBeGreaterThan(ringCapacity - 1000);
    expect(dropped).toBe(produced - submitted);
    expect(ring.dropped).toBe(dropped);

    // Catching up: every submitted record arrives, once, in order.
    const rest = await take(iterator, submitted - 1);
    expect(rest).toHaveLength(submitted - 1);
    let inOrder = true;
    rest.forEach((event, position) => {
      if (event.sequence !== position + 1 || event.pid !== caller.pid) inOrder = false;
    });
    expect(inOrder).toBe(true);
    expect(ring.received).toBe(submitted);
    expect(ring.received + ring.dropped!).toBe(produced);
  });
});

describe('the real binding around the sample callback', () => {
  it('never lets a throwing handler unwind into libbpf: the call stops and rethrows', async () => {
    using emitter = loadEmitter();
    await using caller = await startGetppidCaller();
    emitter.configure(caller.pid, 1);
    const binding = createLibbpfBinding();
    const seen: number[] = [];
    const ring = binding.openRingBuffer(emitter.loaded.map('events').fd, (sample) => {
      const sequence = Number(sample.readBigUInt64LE(0));
      if (sequence === 2) throw new Error('handler failed');
      seen.push(sequence);
      return true;
    });
    try {
      await caller.call(5);
      expect(() => binding.consumeRingBuffer(ring)).toThrow('handler failed');
      // The record the handler threw on was consumed; the rest are still there.
      expect(binding.consumeRingBuffer(ring)).toBe(2);
      expect(seen).toEqual([0, 1, 3, 4]);
      expect(binding.consumeRingBuffer(ring)).toBe(0);
    } finally {
      binding.freeRingBuffer(ring);
    }
  });
});
