import { createConnection, type Socket } from 'node:net';
import { BulwarkError, ValidationError, errnoOf, describeErrno } from '@bulwark/errors';
import { FrameDecoder, ProtocolError, checkFrameLimit, encodeFrame, parseFrameBody } from './frame.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  describeIssues,
  replySchema,
  socketPathProblem,
  type ReplyErrorCode,
  type RequestBody,
} from './protocol.js';

/** The agent's socket could not be reached at all (no socket, nobody listening, no permission). Immediate. */
export class AgentUnreachableError extends BulwarkError {
  readonly errno: string | undefined;

  constructor(socketPath: string, errno: string | undefined, options?: ErrorOptions) {
    super('ERR_AGENT_UNREACHABLE', `agent unreachable at ${socketPath}: ${errno === undefined ? 'connection failed' : describeErrno(errno)}`, options);
    this.errno = errno;
  }
}

/** The agent did not connect or reply in time. */
export class AgentTimeoutError extends BulwarkError {
  readonly phase: 'connect' | 'reply';
  readonly timeoutMs: number;

  constructor(phase: 'connect' | 'reply', timeoutMs: number) {
    super('ERR_AGENT_TIMEOUT', `agent timed out: no ${phase === 'connect' ? 'connection' : 'reply'} within ${timeoutMs} ms`);
    this.phase = phase;
    this.timeoutMs = timeoutMs;
  }
}

/** The agent answered with an error. */
/** How each error reply reads: a refusal is the agent's decision, an internal error its own failure. */
const AGENT_REPLY_WORDS: Record<ReplyErrorCode, string> = {
  refused: 'agent refused',
  internal: 'agent failed',
  busy: 'agent busy',
  'bad-request': 'agent rejected the request',
  'unsupported-version': 'agent speaks another protocol version',
  'frame-too-large': 'agent rejected the request as too large',
};

export class AgentRefusedError extends BulwarkError {
  readonly reason: string;
  readonly replyCode: ReplyErrorCode;

  constructor(replyCode: ReplyErrorCode, reason: string) {
    // Only `refused` is the agent's decision; the others say what went wrong, and where.
    super('ERR_AGENT_REFUSED', `${AGENT_REPLY_WORDS[replyCode]}: ${reason}`);
    this.reason = reason;
    this.replyCode = replyCode;
  }
}

export interface ClientOptions {
  /** Time allowed to connect. Default 250 ms. */
  readonly connectTimeoutMs?: number;
  /** Time allowed for each reply once the request is sent. Default 2,000 ms. */
  readonly replyTimeoutMs?: number;
  /** One deadline over connect and reply together. Default 2,500 ms. */
  readonly totalTimeoutMs?: number;
  readonly maxFrameBytes?: number;
}

const defaults = { connectTimeoutMs: 250, replyTimeoutMs: 2000, totalTimeoutMs: 2500 };

const unreachableErrnos = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTSOCK', 'ENOTDIR', 'ECONNRESET', 'EPIPE']);

/** One connection to the agent; requests on it are answered in order. */
export class AgentConnection {
  readonly #socket: Socket;
  readonly #maxFrameBytes: number;
  readonly #decoder: FrameDecoder;
  #waiting: { resolve: (body: Buffer) => void; reject: (error: unknown) => void } | undefined;
  #failure: Error | undefined;
  #nextId = 1;

  private constructor(socket: Socket, maxFrameBytes: number) {
    this.#socket = socket;
    this.#maxFrameBytes = maxFrameBytes;
    this.#decoder = new FrameDecoder(maxFrameBytes);
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = this.#decoder.push(chunk);
      } catch (error) {
        this.#fail(error);
        return;
      }
      for (const frame of frames) {
        const waiting = this.#waiting;
        this.#waiting = undefined;
        if (waiting === undefined) {
          this.#fail(new ProtocolError('agent sent a reply nobody asked for'));
          return;
        }
        waiting.resolve(frame);
      }
    });
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new ProtocolError('agent closed the connection before replying')));
  }

  /** Connects to the agent's socket, failing with AgentUnreachableError or AgentTimeoutError. */
  static connect(socketPath: string, options: ClientOptions = {}): Promise<AgentConnection> {
    const connectTimeoutMs = options.connectTimeoutMs ?? defaults.connectTimeoutMs;
    const maxFrameBytes = checkFrameLimit(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    const tooLong = socketPathProblem(socketPath);
    if (tooLong !== undefined) return Promise.reject(new ValidationError(`connect ${socketPath}`, [{ path: '', message: tooLong }]));
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path: socketPath });
      const timer = startDeadline(connectTimeoutMs, () => {
        socket.destroy();
        reject(new AgentTimeoutError('connect', connectTimeoutMs));
      });
      const onError = (error: Error) => {
        timer.clear();
        socket.destroy();
        const errno = errnoOf(error);
        reject(
          errno === undefined || unreachableErrnos.has(errno)
            ? new AgentUnreachableError(socketPath, errno, { cause: error })
            : error,
        );
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        timer.clear();
        socket.off('error', onError);
        resolve(new AgentConnection(socket, maxFrameBytes));
      });
    });
  }

  /** Sends one request and returns the agent's result; throws AgentRefusedError for an error reply. */
  async request(body: RequestBody, options: { readonly replyTimeoutMs?: number } = {}): Promise<unknown> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#waiting !== undefined) throw new Error('agent connection: a request is already waiting for its reply');
    const replyTimeoutMs = options.replyTimeoutMs ?? defaults.replyTimeoutMs;
    const id = String(this.#nextId++);
    const frame = encodeFrame({ ...body, v: PROTOCOL_VERSION, id }, this.#maxFrameBytes);
    const replyBody = await new Promise<Buffer>((resolve, reject) => {
      const timer = startDeadline(replyTimeoutMs, () => {
        this.#waiting = undefined;
        const error = new AgentTimeoutError('reply', replyTimeoutMs);
        this.#fail(error);
        reject(error);
      });
      this.#waiting = {
        resolve: (value) => {
          timer.clear();
          resolve(value);
        },
        reject: (error) => {
          timer.clear();
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      };
      this.#socket.write(frame);
    });
    const parsed = replySchema().safeParse(parseFrameBody(replyBody));
    if (!parsed.success) throw new ProtocolError(`malformed reply: ${describeIssues(parsed.error)}`);
    const reply = parsed.data;
    if (reply.id !== id && reply.id !== '') throw new ProtocolError(`reply id ${reply.id} does not match request ${id}`);
    if (!reply.ok) throw new AgentRefusedError(reply.error.code, reply.error.reason);
    return reply.result;
  }

  close(): void {
    this.#failure ??= new ProtocolError('agent connection is closed');
    this.#socket.destroy();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #fail(error: unknown): void {
    this.#failure ??= error instanceof Error ? error : new Error(String(error));
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(this.#failure);
    this.#socket.destroy();
  }
}

/**
 * Connects, sends one request, and returns the result, within one total
 * deadline. Errors: AgentUnreachableError (immediate), AgentTimeoutError,
 * AgentRefusedError, ProtocolError.
 */
export async function sendRequest(socketPath: string, body: RequestBody, options: ClientOptions = {}): Promise<unknown> {
  const totalTimeoutMs = options.totalTimeoutMs ?? defaults.totalTimeoutMs;
  const started = performance.now();
  const remaining = () => Math.max(1, Math.floor(totalTimeoutMs - (performance.now() - started)));
  const connection = await AgentConnection.connect(socketPath, {
    ...options,
    connectTimeoutMs: Math.min(options.connectTimeoutMs ?? defaults.connectTimeoutMs, totalTimeoutMs),
  });
  const replyTimeoutMs = options.replyTimeoutMs ?? defaults.replyTimeoutMs;
  const budget = remaining();
  try {
    return await connection.request(body, { replyTimeoutMs: Math.min(replyTimeoutMs, budget) });
  } catch (error) {
    // When the total deadline cut the wait short, say so in its terms.
    if (error instanceof AgentTimeoutError && budget < replyTimeoutMs) throw new AgentTimeoutError('reply', totalTimeoutMs);
    throw error;
  } finally {
    connection.close();
  }
}

/**
 * A deadline that lets I/O already done have its turn first. libuv runs due
 * timers before it delivers a finished connect or reads a readable socket,
 * so a process that got no CPU for the whole wait (fifty hooks starting at
 * once on two cores) would time out on an answer that had already arrived.
 * When the timer is due, the expiry is checked once more after that turn's
 * I/O (setImmediate runs after the poll phase).
 */
function startDeadline(ms: number, onExpiry: () => void): { clear(): void } {
  let immediate: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => {
    immediate = setImmediate(onExpiry);
  }, ms);
  return {
    clear() {
      clearTimeout(timer);
      if (immediate !== undefined) clearImmediate(immediate);
    },
  };
}
