import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameTooLargeError, ProtocolError, encodeFrame, parseFrameBody } from './frame.js';

describe('frames', () => {
  it('round-trips values split at every byte boundary', () => {
    const values = [{ a: 1 }, { b: 'x'.repeat(300) }, { c: [1, 2, 3], d: 'é✓' }];
    const stream = Buffer.concat(values.map((value) => encodeFrame(value, 1024)));
    for (let step = 1; step <= 7; step++) {
      const decoder = new FrameDecoder(1024);
      const bodies: Buffer[] = [];
      for (let offset = 0; offset < stream.length; offset += step) {
        bodies.push(...decoder.push(stream.subarray(offset, offset + step)));
      }
      expect(bodies.map((body) => parseFrameBody(body))).toEqual(values);
      expect(decoder.buffered).toBe(0);
    }
  });

  it('returns several frames from one chunk and keeps a partial tail', () => {
    const first = encodeFrame({ n: 1 }, 64);
    const second = encodeFrame({ n: 2 }, 64);
    const decoder = new FrameDecoder(64);
    const bodies = decoder.push(Buffer.concat([first, second, second.subarray(0, 3)]));
    expect(bodies.map((body) => parseFrameBody(body))).toEqual([{ n: 1 }, { n: 2 }]);
    expect(decoder.buffered).toBe(3);
    expect(decoder.push(second.subarray(3)).map((body) => parseFrameBody(body))).toEqual([{ n: 2 }]);
  });

  it('fails on an announced length over the limit before reading the body', () => {
    const decoder = new FrameDecoder(100);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(101);
    const before = encodeFrame({ ok: 1 }, 100);
    expect(decoder.push(Buffer.concat([before, header])).map((body) => parseFrameBody(body))).toEqual([{ ok: 1 }]);
    expect(decoder.failure).toBeInstanceOf(FrameTooLargeError);
    expect(decoder.buffered).toBe(0);
    expect(() => decoder.push(before)).toThrow(FrameTooLargeError);
    header.writeUInt32BE(0xffffffff);
    const huge = new FrameDecoder(100);
    expect(huge.push(header)).toEqual([]);
    expect(huge.failure?.message).toBe('frame of 4294967295 bytes is over the limit of 100');
  });

  it('accepts a frame of exactly the limit and refuses to encode one over it', () => {
    const value = { s: 'y'.repeat(100 - 8) };
    expect(JSON.stringify(value).length).toBe(100);
    expect(new FrameDecoder(100).push(encodeFrame(value, 100))).toHaveLength(1);
    expect(() => encodeFrame({ s: 'y'.repeat(100) }, 100)).toThrow(FrameTooLargeError);
  });

  it('refuses bodies that are not json objects, or that carry __proto__', () => {
    expect(() => parseFrameBody(Buffer.from('{"a":'))).toThrow(ProtocolError);
    expect(() => parseFrameBody(Buffer.from('[1,2]'))).toThrow('frame is not a json object');
    expect(() => parseFrameBody(Buffer.from('null'))).toThrow('frame is not a json object');
    expect(() => parseFrameBody(Buffer.from('{"a":{"__proto__":{"polluted":true}}}'))).toThrow('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('rejects limits outside 16 bytes to 1 MiB', () => {
    expect(() => new FrameDecoder(8)).toThrow(RangeError);
    expect(() => new FrameDecoder(2 * 1024 * 1024)).toThrow(RangeError);
  });
});
