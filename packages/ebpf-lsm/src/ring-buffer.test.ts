import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { EBADF, EPERM, FakeBinding, counterObject, ringObject } from './__fixtures__/fake-binding.js';
import { codecs, type Codec } from './codec.js';
import type { LoadedObject } from './object.js';
import { openObject } from './object.js';
import { openRingBuffer } from './ring-buffer.js';
import { caught } from './__fixtures__/caught.js';

const ringPath = '/objects/test-ringbuf.bpf.o';

function load(): { binding: FakeBinding; loaded: LoadedObject; eventsFd: number } {
  const binding = new FakeBinding().addObject(ringPath, ringObject).addObject('/objects/counter.bpf.o', counterObject);
  const loaded = openObject(ringPath, { binding }).load();
  return { binding, loaded, eventsFd: loaded.map('events').fd };
}

function record(sequence: number, pid = 7): Buffer {
  const bytes = Buffer.alloc(16);
  bytes.writeBigUInt64LE(BigInt(sequence));
  bytes.writeUInt32LE(pid, 8);
  return bytes;
}

const eventCodec: Codec<{ sequence: bigint; pid: number }> = {
  name: 'event',
  size: 16,
  encode: () => {
    throw new Error('not used');
  },
  decode: (bytes) => {
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    return { sequence: view.readBigUInt64LE(0), pid: view.readUInt32LE(8) };
  },
};

async function caughtAsync(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

describe('openRingBuffer', () => {
  it('yields every record in order as copies, and counts them', async () => {
    const { binding, loaded, eventsFd } = load();
    const ring = openRingBuffer(loaded.map('events'));
    expect(binding.calls).not.toContain('consumeRingBuffer events');
    for (let sequence = 0; sequence < 5; sequence++) binding.produce(eventsFd, record(sequence));
    const seen: number[] = [];
    for await (const sample of ring) {
      seen.push(Number(sample.readBigUInt64LE(0)));
      if (seen.length === 3) binding.produce(eventsFd, record(5));
      if (seen.length === 6) break;
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    expect({ received: ring.received, delivered: ring.delivered, closed: ring.closed }).toEqual({ received: 6, delivered: 6, closed: true });
    expect(binding.liveRingBuffers).toBe(0);
  });

  it('waits for records that come later, and close() ends a waiting loop', async () => {
    const { binding, loaded, eventsFd } = load();
    const ring = openRingBuffer(loaded.map('events'), { maxPollInterval: 2 });
    const seen: bigint[] = [];
    const loop = (async () => {
      for await (const sample of ring) seen.push(sample.readBigUInt64LE(0));
      return 'ended';
    })();
    await sleep(15);
    binding.produce(eventsFd, record(1));
    await sleep(15);
    expect(seen).toEqual([1n]);
    ring.close();
    await expect(loop).resolves.toBe('ended');
    expect(binding.liveRingBuffers).toBe(0);
    // Closed: produced records stay unread, iteration is over.
    binding.produce(eventsFd, record(2));
    await expect(ring[Symbol.asyncIterator]().next()).resolves.toEqual({ done: true, value: undefined });
    ring.close();
  });

  it('decodes with a codec and fails the iteration on a record of another size', async () => {
    const { binding, loaded, eventsFd } = load();
    using ring = openRingBuffer(loaded.map('events'), { codec: eventCodec });
    binding.produce(eventsFd, record(9, 42));
    binding.produce(eventsFd, Buffer.alloc(12));
    const iterator = ring[Symbol.asyncIterator]();
    await expect(iterator.next()).resolves.toEqual({ done: false, value: { sequence: 9n, pid: 42 } });
    const error = await caughtAsync(iterator.next());
    expect(error).toMatchObject({ code: 'ERR_VALIDATION', message: 'read ring buffer events: record: codec event is 16 bytes, the record is 12' });
    expect(ring.closed).toBe(true);
    expect(binding.liveRingBuffers).toBe(0);
  });

  it('stops reading while the queue is full: records stay in the ring, which then drops', async () => {
    const { binding, loaded, eventsFd } = load();
    // 16-byte records take 24 bytes of the fake's 4096-byte ring: 170 fit.
    const stats = loaded.map('stats').typed(codecs.u32, codecs.u64);
    using ring = openRingBuffer(loaded.map('events'), { highWaterMark: 8, dropCounter: { map: loaded.map('stats'), key: codecs.u32.encode(1) } });
    const iterator = ring[Symbol.asyncIterator]();
    binding.produce(eventsFd, record(0));
    await expect(iterator.next()).resolves.toMatchObject({ done: false });
    let produced = 1;
    let dropped = 0;
    for (; produced < 300; produced++) if (!binding.produce(eventsFd, record(produced))) dropped++;
    await sleep(20);
    // The first poll after the burst filled the queue and paused.
    expect({ queued: ring.queued, paused: ring.paused, received: ring.received }).toEqual({ queued: 8, paused: true, received: 9 });
    expect(dropped).toBe(binding.ringDropped(eventsFd));
    expect(dropped).toBeGreaterThan(100);
    // What a program would do: count the failed reservations where the ring buffer can read them.
    stats.update(1, BigInt(dropped));
    expect(ring.dropped).toBe(dropped);

    const sequences: number[] = [0];
    for (;;) {
      const result = await iterator.next();
      if (result.done) break;
      sequences.push(Number(result.value.readBigUInt64LE(0)));
      expect(ring.queued).toBeLessThanOrEqual(8);
      if (sequences.length === produced - dropped) break;
    }
    expect(sequences).toEqual([...Array(produced - dropped).keys()]);
    expect(ring.received + dropped).toBe(produced);
  });

  it('hands a failed poll to the waiting consumer and closes', async () => {
    const { binding, loaded } = load();
    const ring = openRingBuffer(loaded.map('events'));
    binding.failNext('consumeRingBuffer', EBADF);
    const error = await caughtAsync(ring[Symbol.asyncIterator]().next());
    expect(error).toMatchObject({ name: 'LibbpfError', errno: 'EBADF', message: 'read ring buffer events: bad file descriptor', functionName: 'ring_buffer__consume' });
    expect(ring.closed).toBe(true);
    expect(binding.liveRingBuffers).toBe(0);
  });

  it('passes an open failure on with the log', () => {
    const { binding, loaded } = load();
    binding.failNext('openRingBuffer', EPERM, [{ level: 'warn', message: 'libbpf: ringbuf: failed to mmap consumer page for map fd=3: Operation not permitted' }]);
    expect(caught(() => openRingBuffer(loaded.map('events')))).toMatchObject({
      name: 'LibbpfError',
      isPermission: true,
      message: 'open ring buffer events: operation not permitted; libbpf: ringbuf: failed to mmap consumer page for map fd=3: Operation not permitted',
    });
    expect(binding.liveRingBuffers).toBe(0);
  });

  it('checks the map and the options before libbpf sees them', () => {
    const { binding, loaded } = load();
    expect(caught(() => openRingBuffer(loaded.map('stats')))).toMatchObject({
      code: 'ERR_VALIDATION',
      message: 'open ring buffer stats: options: map: expected a ringbuf map, map stats is array',
    });
    expect(caught(() => openRingBuffer(loaded.map('events'), { highWaterMark: 0 }))).toMatchObject({
      message: 'open ring buffer events: options: highWaterMark: expected a positive integer, got 0',
    });
    expect(caught(() => openRingBuffer(loaded.map('events'), { maxPollInterval: 0.5 }))).toMatchObject({
      message: 'open ring buffer events: options: maxPollInterval: expected milliseconds from 1 to 60000, got 0.5',
    });
    expect(caught(() => openRingBuffer(loaded.map('events'), { dropCounter: { map: loaded.map('stats'), key: Buffer.alloc(8) } }))).toMatchObject({
      message: 'open ring buffer events: options: dropCounter.key: expected 4 bytes for map stats, got 8',
    });
    expect(binding.calls.filter((call) => call.startsWith('openRingBuffer'))).toEqual([]);
    loaded.close();
    expect(caught(() => openRingBuffer(loaded.map('events')))).toMatchObject({ code: 'ERR_STATE' });
  });

  it('gives the epoll fd while open', () => {
    const { loaded } = load();
    const ring = openRingBuffer(loaded.map('events'));
    expect(ring.epollFd).toBeGreaterThan(2);
    ring.close();
    expect(caught(() => ring.epollFd)).toMatchObject({ code: 'ERR_STATE', message: 'get epoll fd of ring buffer events: ring buffer events is closed' });
  });
});
