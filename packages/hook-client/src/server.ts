import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BulwarkError, ValidationError, errnoOf, toSystemError } from '@bulwark/errors';
import { FrameDecoder, checkFrameLimit, encodeFrame, parseFrameBody } from './frame.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  describeIssues,
  requestSchema,
  socketPathProblem,
  type Reply,
  type ReplyErrorCode,
  type Request,
  type RequestType,
} from './protocol.js';

/** Thrown by a handler to refuse a request with a reason the client sees. */
export class RequestRefusedError extends BulwarkError {
  constructor(reason: string) {
    super('ERR_AGENT_REFUSED', reason);
  }
}

/** Who is at the other end of a unix socket (SO_PEERCRED), as the kernel recorded it at connect. */
export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

export interface RequestContext {
  /** A number for the connection, for logs. */
  readonly connectionId: number;
  /** The peer's credentials, when the server was given `readPeerCredentials` and they could be read. */
  readonly peer?: PeerCredentials;
}

export type RequestHandler = (request: Request, context: RequestContext) => unknown;

export type ServerEvent =
  | { readonly event: 'listening'; readonly socketPath: string; readonly replacedStaleSocket: boolean }
  | { readonly event: 'rejected-connection'; readonly reason: 'too-many-connections' }
  | { readonly event: 'bad-frame'; readonly connectionId: number; readonly reason: string }
  | { readonly event: 'handler-error'; readonly connectionId: number; readonly type: RequestType; readonly error: unknown }
  | { readonly event: 'connection-error'; readonly connectionId: number; readonly error: unknown }
  | { readonly event: 'idle-timeout'; readonly connectionId: number };

export interface HookServerOptions {
  readonly socketPath: string;
  readonly handler: RequestHandler;
  /** Request types this socket accepts; others are answered `bad-request`. Default: all. */
  readonly allowedTypes?: readonly RequestType[];
  /** Largest frame body accepted. Default 64 KiB, at most 1 MiB. */
  readonly maxFrameBytes?: number;
  /** A connection with no request in progress and no bytes for this long is closed. Default 5,000 ms. */
  readonly idleTimeoutMs?: number;
  /** Connections over this many are closed at once. Default 64. */
  readonly maxConnections?: number;
  /** Mode of the socket file. Default 0o600. */
  readonly socketMode?: number;
  /** Owner the socket's directory must have. Default: this process's effective uid. */
  readonly directoryOwner?: number;
  readonly onEvent?: (event: ServerEvent) => void;
  /**
   * Reads a connection's peer credentials once, when it is accepted (the
   * agent's SO_PEERCRED over koffi). Undefined, or a throw: handlers see no `peer`.
   */
  readonly readPeerCredentials?: (socket: Socket) => PeerCredentials | undefined;
}

export interface ServerStats {
  readonly connections: number;
  readonly acceptedConnections: number;
  readonly rejectedConnections: number;
  readonly requests: number;
  readonly badFrames: number;
  readonly handlerErrors: number;
}

/**
 * The agent side of the protocol. The reply to a request is written only
 * after its handler has settled; a handler that throws answers `internal`
 * (or `refused` for RequestRefusedError) and the server carries on.
 */
export class HookServer {
  readonly socketPath: string;
  readonly #options: HookServerOptions;
  readonly #maxFrameBytes: number;
  readonly #allowed: ReadonlySet<RequestType> | undefined;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #nextConnectionId = 1;
  #stats = { acceptedConnections: 0, rejectedConnections: 0, requests: 0, badFrames: 0, handlerErrors: 0 };

  constructor(options: HookServerOptions) {
    this.#options = options;
    this.socketPath = options.socketPath;
    this.#maxFrameBytes = checkFrameLimit(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    this.#allowed = options.allowedTypes === undefined ? undefined : new Set(options.allowedTypes);
  }

  get stats(): ServerStats {
    return { connections: this.#sockets.size, ...this.#stats };
  }

  /**
   * Prepares the socket directory (0700, owned by the expected user), replaces
   * a stale socket file, refuses to take over a live one, and listens.
   */
  async listen(): Promise<void> {
    if (this.#server !== undefined) throw new BulwarkError('ERR_STATE', `listen ${this.socketPath}: already listening`);
    const tooLong = socketPathProblem(this.socketPath);
    if (tooLong !== undefined) throw new ValidationError(`listen ${this.socketPath}`, [{ path: '', message: tooLong }]);
    await prepareSocketDirectory(dirname(this.socketPath), this.#options.directoryOwner ?? process.geteuid?.() ?? 0);
    const replacedStaleSocket = await removeStaleSocket(this.socketPath);
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(toSystemError(`listen ${this.socketPath}`, error)));
      server.listen(this.socketPath, () => resolve());
    });
    server.on('error', (error) => this.#emit({ event: 'connection-error', connectionId: 0, error }));
    // The 0700 directory keeps others out during the moment before chmod.
    await chmod(this.socketPath, this.#options.socketMode ?? 0o600);
    this.#server = server;
    this.#emit({ event: 'listening', socketPath: this.socketPath, replacedStaleSocket });
  }

  /** Stops accepting, closes every connection, and removes the socket file. */
  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #emit(event: ServerEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A logging failure must not take the server down.
    }
  }

  #accept(socket: Socket): void {
    const maxConnections = this.#options.maxConnections ?? 64;
    if (this.#sockets.size >= maxConnections) {
      this.#stats.rejectedConnections++;
      this.#emit({ event: 'rejected-connection', reason: 'too-many-connections' });
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    this.#stats.acceptedConnections++;
    const connectionId = this.#nextConnectionId++;
    this.#sockets.add(socket);
    let peer: PeerCredentials | undefined;
    try {
      peer = this.#options.readPeerCredentials?.(socket);
    } catch (error) {
      this.#emit({ event: 'connection-error', connectionId, error });
    }
    const context: RequestContext = peer === undefined ? { connectionId } : { connectionId, peer };
    const decoder = new FrameDecoder(this.#maxFrameBytes);
    const queue: Buffer[] = [];
    let busy = false;
    // A client may half-close after its last request: answer what it sent, then end.
    let ended = false;

    const reply = (value: Reply) => {
      if (!socket.destroyed && socket.writable) socket.write(encodeFrame(value, this.#maxFrameBytes));
    };
    const fail = (id: string, code: ReplyErrorCode, reason: string) =>
      reply({ v: PROTOCOL_VERSION, id, ok: false, error: { code, reason: reason.slice(0, 4096) } });

    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      const failure = decoder.failure;
      if (failure !== undefined) fail('', 'frame-too-large', failure.message);
      socket.end();
    };

    const drain = async () => {
      if (busy) return;
      busy = true;
      socket.pause();
      try {
        for (let body = queue.shift(); body !== undefined && !socket.destroyed; body = queue.shift()) {
          await this.#handleFrame(body, context, reply, fail);
        }
      } finally {
        busy = false;
        if (!socket.destroyed) {
          if (ended && queue.length === 0) finish();
          else socket.resume();
        }
      }
    };

    socket.setTimeout(this.#options.idleTimeoutMs ?? 5000);
    socket.on('timeout', () => {
      if (busy) return;
      this.#emit({ event: 'idle-timeout', connectionId });
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      if (decoder.failure !== undefined) return;
      queue.push(...decoder.push(chunk));
      const failure = decoder.failure as Error | undefined;
      if (failure !== undefined) {
        // Answer the frames before the oversized one, then say why and close.
        this.#stats.badFrames++;
        this.#emit({ event: 'bad-frame', connectionId, reason: failure.message });
        ended = true;
        socket.pause();
      }
      void drain();
    });
    socket.on('end', () => {
      ended = true;
      if (!busy && queue.length === 0) finish();
    });
    socket.on('error', (error) => {
      if (errnoOf(error) !== 'ECONNRESET' && errnoOf(error) !== 'EPIPE') {
        this.#emit({ event: 'connection-error', connectionId, error });
      }
    });
    socket.on('close', () => this.#sockets.delete(socket));
  }

  async #handleFrame(
    body: Buffer,
    context: RequestContext,
    reply: (value: Reply) => void,
    fail: (id: string, code: ReplyErrorCode, reason: string) => void,
  ): Promise<void> {
    const connectionId = context.connectionId;
    let value: unknown;
    try {
      value = parseFrameBody(body);
    } catch (error) {
      this.#stats.badFrames++;
      this.#emit({ event: 'bad-frame', connectionId, reason: (error as Error).message });
      fail('', 'bad-request', (error as Error).message);
      return;
    }
    const envelope = value as { v?: unknown; id?: unknown };
    const id = typeof envelope.id === 'string' && envelope.id.length <= 128 ? envelope.id : '';
    if (envelope.v !== PROTOCOL_VERSION) {
      this.#stats.badFrames++;
      fail(id, 'unsupported-version', `protocol version ${JSON.stringify(envelope.v) ?? 'missing'} is not supported; this agent speaks ${PROTOCOL_VERSION}`);
      return;
    }
    const parsed = requestSchema().safeParse(value);
    if (!parsed.success) {
      this.#stats.badFrames++;
      const reason = `invalid request: ${describeIssues(parsed.error)}`;
      this.#emit({ event: 'bad-frame', connectionId, reason });
      fail(id, 'bad-request', reason);
      return;
    }
    const request = parsed.data;
    if (this.#allowed !== undefined && !this.#allowed.has(request.type)) {
      fail(id, 'bad-request', `request type ${request.type} is not served on this socket`);
      return;
    }
    this.#stats.requests++;
    let result: unknown;
    try {
      result = await this.#options.handler(request, context);
    } catch (error) {
      this.#stats.handlerErrors++;
      this.#emit({ event: 'handler-error', connectionId, type: request.type, error });
      const refused = BulwarkError.is(error, 'ERR_AGENT_REFUSED');
      fail(id, refused ? 'refused' : 'internal', error instanceof Error ? error.message : String(error));
      return;
    }
    try {
      reply(result === undefined ? { v: PROTOCOL_VERSION, id, ok: true } : { v: PROTOCOL_VERSION, id, ok: true, result });
    } catch (error) {
      this.#stats.handlerErrors++;
      this.#emit({ event: 'handler-error', connectionId, type: request.type, error });
      fail(id, 'internal', `reply could not be sent: ${(error as Error).message}`);
    }
  }
}

/** Creates the server; call `listen()` to start it. */
export function createHookServer(options: HookServerOptions): HookServer {
  return new HookServer(options);
}

/**
 * Makes sure the socket's directory exists, is a real directory (not a
 * symlink) owned by `owner`, with no group or other access. Only a directory
 * this call created is ever made tighter: an existing one that others can
 * read, write or enter (`/tmp`, `/run`) is refused, never changed, since
 * changing it would break everything else that uses it.
 */
export async function prepareSocketDirectory(directory: string, owner: number): Promise<void> {
  try {
    const created = await mkdir(directory, { recursive: true, mode: 0o700 });
    const info = await lstat(directory);
    if (!info.isDirectory()) {
      throw new BulwarkError('ERR_STATE', `prepare socket directory ${directory}: not a directory`);
    }
    if (info.uid !== owner) {
      throw new BulwarkError('ERR_STATE', `prepare socket directory ${directory}: owned by uid ${info.uid}, expected ${owner}`);
    }
    if ((info.mode & 0o077) === 0) return;
    // mkdir's mode is cut by the umask, never widened: a directory made here is at most 0700 already.
    if (created !== undefined) {
      await chmod(directory, 0o700);
      return;
    }
    const mode = (info.mode & 0o7777).toString(8).padStart(4, '0');
    throw new BulwarkError(
      'ERR_STATE',
      `prepare socket directory ${directory}: mode ${mode} lets other users in and the directory is not Bulwark's to change; give the socket a directory of its own (such as /run/bulwark/hook.sock)`,
    );
  } catch (error) {
    if (BulwarkError.is(error)) throw error;
    throw toSystemError(`prepare socket directory ${directory}`, error);
  }
}

/**
 * Removes a socket file nobody listens on. Returns true when one was removed,
 * false when there was none; throws when a live agent holds it or the path is
 * something other than a socket.
 */
export async function removeStaleSocket(socketPath: string): Promise<boolean> {
  let info;
  try {
    info = await lstat(socketPath);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return false;
    throw toSystemError(`inspect ${socketPath}`, error);
  }
  if (!info.isSocket()) {
    throw new BulwarkError('ERR_STATE', `listen ${socketPath}: the path exists and is not a socket; refusing to replace it`);
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection({ path: socketPath });
    const timer = setTimeout(() => {
      probe.destroy();
      resolve(true);
    }, 500);
    probe.once('connect', () => {
      clearTimeout(timer);
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error) => {
      clearTimeout(timer);
      resolve(errnoOf(error) !== 'ECONNREFUSED' && errnoOf(error) !== 'ENOENT');
    });
  });
  if (live) {
    throw new BulwarkError('ERR_STATE', `listen ${socketPath}: another process is serving this socket`);
  }
  try {
    await unlink(socketPath);
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT') throw toSystemError(`remove stale socket ${socketPath}`, error);
  }
  return true;
}
