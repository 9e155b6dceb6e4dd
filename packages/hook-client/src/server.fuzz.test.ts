import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FrameDecoder, createHookServer, encodeFrame, sendRequest, type HookServer } from './index.js';

/**
 * Hostile input: well over 10,000 random, mutated, truncated and oversized
 * frames. The server must stay up, answer a valid request afterwards, close
 * every connection, and keep its memory bounded.
 */

const FRAMES = 12_000;
const PER_CONNECTION = 100;
const MAX_FRAME = 16 * 1024;

/** A small deterministic generator (mulberry32) so a failure can be replayed. */
function createRandom(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
  const integer = (limit: number) => Math.floor(next() * limit);
  return { next, integer, pick: <T>(items: readonly T[]): T => items[integer(items.length)]! };
}

const validRequests = [
  { v: 1, id: 'p', type: 'ping' },
  {
    v: 1,
    id: 'c',
    type: 'container.create',
    container: {
      id: 'abc',
      stage: 'createRuntime',
      status: 'creating',
      bundle: '/b',
      pid: 7,
      names: { runtime: 'podman', name: 'web' },
      namespaces: { mnt: { device: 4, inode: 4026531840 } },
      annotations: { a: 'b' },
    },
  },
  { v: 1, id: 's', type: 'container.stop', container: { id: 'abc', stage: 'poststop', status: 'stopped', bundle: '/b', names: { runtime: 'x' } } },
];

const hostileValues: unknown[] = [
  null,
  true,
  -1,
  1e308,
  '',
  'x'.repeat(5000),
  [],
  {},
  { __proto__: { admin: true } },
  { constructor: { prototype: { polluted: 1 } } },
  Number.MAX_SAFE_INTEGER + 2,
  { deep: {} },
];

function mutateValue(random: ReturnType<typeof createRandom>, value: unknown, depth = 0): unknown {
  if (depth > 6) return random.pick(hostileValues);
  if (Array.isArray(value)) return value.map((item) => mutateValue(random, item, depth + 1));
  if (typeof value === 'object' && value !== null) {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const roll = random.next();
      if (roll < 0.1) continue;
      if (roll < 0.25) copy[key] = random.pick(hostileValues);
      else if (roll < 0.3) copy[`${key}${random.integer(9)}`] = item;
      else copy[key] = mutateValue(random, item, depth + 1);
    }
    if (random.next() < 0.1) copy['__proto__'] = { polluted: true };
    return copy;
  }
  if (random.next() < 0.2) return random.pick(hostileValues);
  return value;
}

function deeplyNested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

function withHeader(body: Buffer, announced = body.length): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(announced);
  return Buffer.concat([header, body]);
}

/** `replies`: how many reply frames the case must produce. */
type Case = { bytes: Buffer; closesConnection: boolean; replies: 0 | 1 };

function generateCase(random: ReturnType<typeof createRandom>): Case {
  const kind = random.integer(10);
  switch (kind) {
    case 0: {
      const body = Buffer.alloc(random.integer(512));
      for (let index = 0; index < body.length; index++) body[index] = random.integer(256);
      return { bytes: withHeader(body), closesConnection: false, replies: 1 };
    }
    case 1:
    case 2:
    case 3: {
      const text = JSON.stringify(mutateValue(random, random.pick(validRequests)));
      return { bytes: withHeader(Buffer.from(text)), closesConnection: false, replies: 1 };
    }
    case 4: {
      const text = Buffer.from(JSON.stringify(random.pick(validRequests)));
      const position = random.integer(text.length);
      text[position] = random.integer(256);
      return { bytes: withHeader(text), closesConnection: false, replies: 1 };
    }
    case 5: {
      const text = JSON.stringify(random.pick(validRequests));
      return { bytes: withHeader(Buffer.from(text.slice(0, random.integer(text.length)))), closesConnection: false, replies: 1 };
    }
    case 6:
      return { bytes: withHeader(Buffer.from(deeplyNested(1 + random.integer(5000)))), closesConnection: false, replies: 1 };
    case 7: {
      // Oversized: announced over the limit; the server answers and closes.
      return { bytes: withHeader(Buffer.from('{}'), MAX_FRAME + 1 + random.integer(0x7fffffff)), closesConnection: true, replies: 1 };
    }
    case 8: {
      // Truncated stream: the header promises more than ever arrives.
      const body = Buffer.from(JSON.stringify(random.pick(validRequests)));
      return { bytes: withHeader(body.subarray(0, random.integer(body.length)), body.length), closesConnection: true, replies: 0 };
    }
    default:
      return { bytes: encodeFrame(random.pick(validRequests), MAX_FRAME), closesConnection: false, replies: 1 };
  }
}

async function sendBatch(socketPath: string, cases: Case[]): Promise<number> {
  const socket = createConnection({ path: socketPath });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const decoder = new FrameDecoder(MAX_FRAME);
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += decoder.push(chunk).length));
  for (const item of cases) {
    if (!socket.writable) break;
    socket.write(item.bytes);
  }
  socket.end();
  await once(socket, 'close');
  return received;
}

function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('hook server under hostile input', () => {
  let directory: string;
  let server: HookServer;
  let socketPath: string;
  let handled = 0;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'bulwark-fuzz-'));
    socketPath = join(directory, 'hook.sock');
    server = createHookServer({
      socketPath,
      maxFrameBytes: MAX_FRAME,
      idleTimeoutMs: 300,
      handler: (request) => {
        handled++;
        return request.type;
      },
    });
    await server.listen();
  });
  afterAll(async () => {
    await server.close();
    await rm(directory, { recursive: true, force: true });
  });

  it(`survives ${FRAMES} random, mutated, truncated and oversized frames`, { timeout: 120_000 }, async () => {
    const random = createRandom(0xb01d);
    collectGarbage();
    const before = process.memoryUsage();
    let sent = 0;
    let received = 0;
    let expected = 0;
    const memorySamples: number[] = [];
    while (sent < FRAMES) {
      // Cases that close the connection go last in their batch so every frame before them is read.
      const batch: Case[] = [];
      while (batch.length < PER_CONNECTION && sent < FRAMES) {
        const item = generateCase(random);
        batch.push(item);
        sent++;
        if (item.closesConnection) break;
      }
      // Four connections at a time, as concurrent hooks would.
      const group = [batch];
      while (group.length < 4 && sent < FRAMES) {
        const next: Case[] = [];
        while (next.length < PER_CONNECTION && sent < FRAMES) {
          const item = generateCase(random);
          next.push(item);
          sent++;
          if (item.closesConnection) break;
        }
        group.push(next);
      }
      const counts = await Promise.all(group.map((cases) => sendBatch(socketPath, cases)));
      received += counts.reduce((total, count) => total + count, 0);
      expected += group.flat().reduce((total, item) => total + item.replies, 0);
      if (memorySamples.length < 1000) memorySamples.push(process.memoryUsage().heapUsed);
    }
    expect(sent).toBeGreaterThanOrEqual(10_000);
    // Nothing lost: every complete frame got exactly one reply, valid or not.
    expect(received).toBe(expected);
    expect(server.stats.badFrames).toBeGreaterThan(5000);
    expect(handled).toBeGreaterThan(1000);
    expect(handled).toBe(server.stats.requests);

    // Still up, still answering, with no connection left behind.
    expect(await sendRequest(socketPath, { type: 'ping' })).toBe('ping');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(server.stats.connections).toBe(0);

    collectGarbage();
    const after = process.memoryUsage();
    const heapGrowth = after.heapUsed - before.heapUsed;
    expect(heapGrowth).toBeLessThan(16 * 1024 * 1024);
    expect(Math.max(...memorySamples)).toBeLessThan(before.heapUsed + 256 * 1024 * 1024);
  });
});
