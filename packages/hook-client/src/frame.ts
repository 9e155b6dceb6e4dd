import { BulwarkError } from '@bulwark/errors';
import { FRAME_HEADER_BYTES, HARD_MAX_FRAME_BYTES } from './protocol.js';

/** A frame whose announced or actual size is over the limit; the stream cannot be resynchronised after it. */
export class FrameTooLargeError extends BulwarkError {
  readonly size: number;
  readonly limit: number;

  constructor(size: number, limit: number) {
    super('ERR_PROTOCOL', `frame of ${size} bytes is over the limit of ${limit}`);
    this.size = size;
    this.limit = limit;
  }
}

/** A frame body that is not the JSON the protocol expects. */
export class ProtocolError extends BulwarkError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_PROTOCOL', message, options);
  }
}

export function checkFrameLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 16 || limit > HARD_MAX_FRAME_BYTES) {
    throw new RangeError(`max frame bytes must be an integer from 16 to ${HARD_MAX_FRAME_BYTES}, got ${limit}`);
  }
  return limit;
}

/** Serialises a value as one frame: a 4-byte big-endian length, then the UTF-8 JSON. */
export function encodeFrame(value: unknown, maxFrameBytes: number): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  if (body.length > maxFrameBytes) throw new FrameTooLargeError(body.length, maxFrameBytes);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Splits a byte stream into frame bodies. It never holds more than one frame
 * plus one read chunk: an announced length over the limit fails at once,
 * before the body is read.
 */
export class FrameDecoder {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failure: FrameTooLargeError | undefined;

  constructor(maxFrameBytes: number) {
    this.#limit = checkFrameLimit(maxFrameBytes);
  }

  /** Bytes received and not yet returned as frames. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Set once a frame over the limit is announced. The frames before it are
   * still returned; the stream cannot be read past it.
   */
  get failure(): FrameTooLargeError | undefined {
    return this.#failure;
  }

  /**
   * Adds bytes and returns every complete frame body they finish. A frame
   * over the limit sets `failure` and ends decoding; a push after that throws it.
   */
  push(chunk: Buffer): Buffer[] {
    if (this.#failure !== undefined) throw this.#failure;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.#buffered < FRAME_HEADER_BYTES) break;
      const header = this.#peek(FRAME_HEADER_BYTES);
      const size = header.readUInt32BE(0);
      if (size > this.#limit) {
        this.#failure = new FrameTooLargeError(size, this.#limit);
        this.#chunks = [];
        this.#buffered = 0;
        break;
      }
      if (this.#buffered < FRAME_HEADER_BYTES + size) break;
      const whole = this.#take(FRAME_HEADER_BYTES + size);
      frames.push(whole.subarray(FRAME_HEADER_BYTES));
    }
    return frames;
  }

  #peek(length: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= length) return first;
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #take(length: number): Buffer {
    // #peek leaves the first chunk at least `length` long; the later chunks stay as they are.
    const first = this.#peek(length);
    const taken = first.subarray(0, length);
    const rest = first.subarray(length);
    if (rest.length > 0) this.#chunks[0] = rest;
    else this.#chunks.shift();
    this.#buffered -= length;
    return taken;
  }
}

/**
 * Parses a frame body as a JSON object. Keys named `__proto__` are refused so
 * that no later copy of the value can change an object's prototype.
 */
export function parseFrameBody(body: Buffer): unknown {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'), (key, item: unknown) => {
      if (key === '__proto__') throw new ProtocolError('frame has a __proto__ key');
      return item;
    });
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError(`frame is not valid json: ${(error as Error).message}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError('frame is not a json object');
  }
  return value;
}
