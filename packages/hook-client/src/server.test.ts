import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { spawn, spawnSync } from 'node:child_process';
import { BulwarkError } from '@bulwark/errors';
import {
  AgentConnection,
  AgentRefusedError,
  AgentTimeoutError,
  AgentUnreachableError,
  FrameDecoder,
  RequestRefusedError,
  createHookServer,
  encodeFrame,
  parseFrameBody,
  sendRequest,
  type ContainerReport,
  type HookServer,
  type RequestHandler,
} from './index.js';

let directory: string;
let socketPath: string;
const servers: HookServer[] = [];

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bulwark-hook-client-'));
  socketPath = join(directory, 'run', 'hook.sock');
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await rm(directory, { recursive: true, force: true });
});

async function startServer(handler: RequestHandler, extra: Partial<Parameters<typeof createHookServer>[0]> = {}) {
  const server = createHookServer({ socketPath, handler, ...extra });
  servers.push(server);
  await server.listen();
  return server;
}

const report: ContainerReport = {
  id: 'c1',
  stage: 'createRuntime',
  status: 'creating',
  bundle: '/run/bundles/c1',
  pid: 4242,
  names: { runtime: 'unknown' },
};

/** Leaves a socket file nobody listens on, the way a SIGKILLed agent does. */
function leaveStaleSocket(path: string): void {
  const script = `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`;
  const result = spawnSync(process.execPath, ['-e', script]);
  expect(result.signal).toBe('SIGKILL');
}

/** Sends raw bytes on a fresh connection and collects every reply frame until the server closes or `count` arrive. */
async function exchangeRaw(bytes: Buffer, count: number): Promise<unknown[]> {
  const socket = createConnection({ path: socketPath });
  await once(socket, 'connect');
  const decoder = new FrameDecoder(1024 * 1024);
  const replies: unknown[] = [];
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      for (const body of decoder.push(chunk)) replies.push(parseFrameBody(body));
      if (replies.length >= count) resolve();
    });
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
  socket.write(bytes);
  await done;
  socket.destroy();
  return replies;
}

describe('hook server and client', () => {
  it('answers a ping and a container create with the handler result', async () => {
    const seen: string[] = [];
    await startServer((request) => {
      seen.push(request.type);
      return request.type === 'container.create' ? { registered: request.container.id } : undefined;
    });
    expect(await sendRequest(socketPath, { type: 'ping' })).toBeUndefined();
    expect(await sendRequest(socketPath, { type: 'container.create', container: report })).toEqual({ registered: 'c1' });
    expect(seen).toEqual(['ping', 'container.create']);
  });

  it('creates the socket 0600 inside a 0700 directory', async () => {
    await startServer(() => undefined);
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    expect((await stat(join(directory, 'run'))).mode & 0o777).toBe(0o700);
  });

  it('refuses, and leaves unchanged, an existing directory others can enter or write (/tmp, /run)', async () => {
    for (const mode of [0o1777, 0o755, 0o711]) {
      const shared = join(directory, `shared-${mode.toString(8)}`);
      await mkdir(shared);
      await chmod(shared, mode);
      const server = createHookServer({ socketPath: join(shared, 'hook.sock'), handler: () => undefined });
      const error = await server.listen().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(BulwarkError.is(error, 'ERR_STATE')).toBe(true);
      expect((error as Error).message).toBe(
        `prepare socket directory ${shared}: mode ${mode.toString(8).padStart(4, '0')} lets other users in and the directory is not Bulwark's to change; give the socket a directory of its own (such as /run/bulwark/hook.sock)`,
      );
      expect((await stat(shared)).mode & 0o7777).toBe(mode);
    }
  });

  it('makes a directory it creates 0700 whatever the umask, and refuses one owned by another user', async () => {
    const previous = process.umask(0o002);
    try {
      await startServer(() => undefined);
    } finally {
      process.umask(previous);
    }
    expect((await stat(join(directory, 'run'))).mode & 0o777).toBe(0o700);
    const foreign = join(directory, 'foreign');
    await mkdir(foreign, { mode: 0o700 });
    await chown(foreign, 65534, 65534);
    const server = createHookServer({ socketPath: join(foreign, 'hook.sock'), handler: () => undefined, directoryOwner: 0 });
    await expect(server.listen()).rejects.toThrow(/owned by uid 65534, expected 0/);
  });

  it('a socket path over 107 bytes is refused by its length, not as "invalid argument", on both ends', async () => {
    const long = join(directory, 'x'.repeat(120), 'hook.sock');
    const bytes = Buffer.byteLength(long);
    const server = createHookServer({ socketPath: long, handler: () => undefined });
    await expect(server.listen()).rejects.toThrow(`listen ${long}: the path is ${bytes} bytes, and a unix socket path holds at most 107; choose a shorter one`);
    await expect(AgentConnection.connect(long)).rejects.toMatchObject({ code: 'ERR_VALIDATION', message: `connect ${long}: the path is ${bytes} bytes, and a unix socket path holds at most 107; choose a shorter one` });
  });

  it('sends the reply only after the handler has finished', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let finished = false;
    await startServer(async () => {
      await gate;
      finished = true;
      return 'done';
    });
    let replied = false;
    const pending = sendRequest(socketPath, { type: 'container.create', container: report }).then((result) => {
      replied = true;
      expect(finished).toBe(true);
      return result;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(replied).toBe(false);
    release();
    expect(await pending).toBe('done');
  });

  it('turns handler errors into error replies and keeps serving', async () => {
    await startServer((request) => {
      if (request.type === 'container.stop') throw new Error('boom');
      if (request.type === 'container.create') throw new RequestRefusedError('policy store unavailable');
      return 'pong';
    });
    const internal = sendRequest(socketPath, { type: 'container.stop', container: report });
    await expect(internal).rejects.toThrow(AgentRefusedError);
    await expect(internal).rejects.toMatchObject({ replyCode: 'internal', reason: 'boom', message: 'agent failed: boom' });
    await expect(sendRequest(socketPath, { type: 'container.create', container: report })).rejects.toMatchObject({
      code: 'ERR_AGENT_REFUSED',
      replyCode: 'refused',
      message: 'agent refused: policy store unavailable',
    });
    expect(await sendRequest(socketPath, { type: 'ping' })).toBe('pong');
  });

  it('serves several requests in order on one connection', async () => {
    let count = 0;
    await startServer(() => ++count);
    const connection = await AgentConnection.connect(socketPath);
    const results = [];
    for (let index = 0; index < 20; index++) results.push(await connection.request({ type: 'ping' }));
    connection.close();
    expect(results).toEqual(Array.from({ length: 20 }, (_, index) => index + 1));
  });

  it('refuses request types the socket does not serve', async () => {
    await startServer(() => [], { allowedTypes: ['ping', 'container.create', 'container.stop'] });
    await expect(sendRequest(socketPath, { type: 'containers.list' })).rejects.toMatchObject({
      replyCode: 'bad-request',
      reason: 'request type containers.list is not served on this socket',
    });
  });

  it('reports an absent agent as unreachable at once', async () => {
    const started = performance.now();
    const error = await sendRequest(socketPath, { type: 'ping' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AgentUnreachableError);
    expect(error).toMatchObject({ errno: 'ENOENT', code: 'ERR_AGENT_UNREACHABLE' });
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('reports a stale socket file as unreachable (connection refused)', async () => {
    await mkdir(join(directory, 'run'), { mode: 0o700 });
    leaveStaleSocket(socketPath);
    expect((await stat(socketPath)).isSocket()).toBe(true);
    await expect(sendRequest(socketPath, { type: 'ping' })).rejects.toMatchObject({ errno: 'ECONNREFUSED' });
  });

  it('ends within its deadline when the agent accepts but never answers', async () => {
    await mkdir(join(directory, 'run'), { mode: 0o700 });
    const silent: Server = createServer((socket: Socket) => socket.on('data', () => undefined));
    await new Promise<void>((resolve) => silent.listen(socketPath, resolve));
    try {
      const started = performance.now();
      const error = await sendRequest(socketPath, { type: 'ping' }, { replyTimeoutMs: 5000, totalTimeoutMs: 300 }).catch(
        (caught: unknown) => caught,
      );
      const elapsed = performance.now() - started;
      expect(error).toBeInstanceOf(AgentTimeoutError);
      expect(error).toMatchObject({ phase: 'reply', code: 'ERR_AGENT_TIMEOUT' });
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(600);
    } finally {
      silent.close();
    }
  });

  // The hook's process may get no CPU for its whole deadline (fifty hooks
  // starting at once on two cores). An answer that arrived meanwhile counts.
  const busyWait = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // The process is "descheduled": nothing else of it runs.
    }
  };

  it('a connect that finished while the process was starved past its deadline is not a timeout', async () => {
    await startServer(() => ({ pong: true }));
    const pending = AgentConnection.connect(socketPath, { connectTimeoutMs: 30 });
    busyWait(200);
    const connection = await pending;
    expect(await connection.request({ type: 'ping' })).toEqual({ pong: true });
    connection.close();
  });

  it('a reply that arrived while the process was starved past its deadline is taken', async () => {
    await mkdir(join(directory, 'run'), { mode: 0o700 });
    // The agent in another process, so that it answers while this one is busy.
    const agent = spawn(
      process.execPath,
      [
        '-e',
        `const net = require('node:net');
         net.createServer((socket) => socket.on('data', (data) => {
           const request = JSON.parse(data.subarray(4).toString());
           const body = Buffer.from(JSON.stringify({ v: 1, id: request.id, ok: true, result: { pong: true } }));
           const head = Buffer.alloc(4);
           head.writeUInt32BE(body.length);
           socket.write(Buffer.concat([head, body]));
         })).listen(process.argv[1], () => process.stdout.write('ready\\n'));`,
        socketPath,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await once(agent.stdout, 'data');
      const connection = await AgentConnection.connect(socketPath);
      const reply = connection.request({ type: 'ping' }, { replyTimeoutMs: 30 });
      busyWait(300);
      expect(await reply).toEqual({ pong: true });
      connection.close();
    } finally {
      agent.kill();
    }
  });

  it('replaces a stale socket file but never steals a live one', async () => {
    await mkdir(join(directory, 'run'), { mode: 0o700 });
    leaveStaleSocket(socketPath);
    const events: string[] = [];
    const server = await startServer(() => 'alive', {
      onEvent: (event) => events.push(event.event === 'listening' ? `listening:${event.replacedStaleSocket}` : event.event),
    });
    expect(events).toContain('listening:true');
    const rival = createHookServer({ socketPath, handler: () => 'rival' });
    await expect(rival.listen()).rejects.toThrow(/another process is serving this socket/);
    expect(await sendRequest(socketPath, { type: 'ping' })).toBe('alive');
    expect(server.stats.requests).toBe(1);
  });

  it('refuses to replace a path that is not a socket', async () => {
    await mkdir(join(directory, 'run'), { mode: 0o700 });
    await writeFile(socketPath, 'not a socket');
    const server = createHookServer({ socketPath, handler: () => undefined });
    const error = await server.listen().catch((caught: unknown) => caught);
    expect(BulwarkError.is(error, 'ERR_STATE')).toBe(true);
    expect((error as Error).message).toMatch(/is not a socket; refusing to replace it/);
  });

  it('closes connections over the limit and idle ones', async () => {
    const server = await startServer(() => undefined, { maxConnections: 2, idleTimeoutMs: 200 });
    const held = [createConnection({ path: socketPath }), createConnection({ path: socketPath })];
    await Promise.all(held.map((socket) => once(socket, 'connect')));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const extra = createConnection({ path: socketPath });
    extra.on('error', () => undefined);
    await once(extra, 'close');
    expect(server.stats.rejectedConnections).toBe(1);
    await Promise.all(held.map((socket) => once(socket, 'close')));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.stats.connections).toBe(0);
    expect(server.stats.acceptedConnections).toBe(2);
  });

  it('answers malformed, mis-versioned and invalid frames and keeps the connection usable', async () => {
    await startServer(() => 'pong');
    const frames = Buffer.concat([
      (() => {
        const body = Buffer.from('{"v":1,"id":');
        const header = Buffer.alloc(4);
        header.writeUInt32BE(body.length);
        return Buffer.concat([header, body]);
      })(),
      encodeFrame({ v: 2, id: 'a', type: 'ping' }, 1024),
      encodeFrame({ v: 1, id: 'b', type: 'container.create', container: { id: '' } }, 1024),
      encodeFrame({ v: 1, id: 'c', type: 'ping' }, 1024),
    ]);
    const replies = await exchangeRaw(frames, 4);
    expect(replies).toMatchObject([
      { ok: false, id: '', error: { code: 'bad-request' } },
      { ok: false, id: 'a', error: { code: 'unsupported-version' } },
      { ok: false, id: 'b', error: { code: 'bad-request' } },
      { ok: true, id: 'c', result: 'pong' },
    ]);
    expect((replies[2] as { error: { reason: string } }).error.reason).toMatch(/^invalid request: container\./);
  });

  it('answers an oversized frame and closes that connection only', async () => {
    const server = await startServer(() => 'pong', { maxFrameBytes: 1024 });
    const header = Buffer.alloc(4);
    header.writeUInt32BE(10 * 1024 * 1024);
    const replies = await exchangeRaw(header, 1);
    expect(replies).toMatchObject([{ ok: false, error: { code: 'frame-too-large' } }]);
    expect(await sendRequest(socketPath, { type: 'ping' })).toBe('pong');
    expect(server.stats.badFrames).toBe(1);
  });
});
