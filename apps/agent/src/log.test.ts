import { describe, expect, test } from 'vitest';
import { createLogger, type LogLevel } from './log.js';

function capture(format: 'json' | 'text') {
  const lines: string[] = [];
  return { lines, log: createLogger(format, (line) => lines.push(line)) };
}

const levels: LogLevel[] = ['debug', 'info', 'warn', 'error'];
const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('json format', () => {
  test('each call writes one newline-terminated JSON object with time, level, message and fields', () => {
    const { lines, log } = capture('json');
    const before = Date.now();
    log.info('container registered', { id: 'abc', pid: 42, hook: true, ids: ['a', 'b'] });
    const after = Date.now();
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    expect(lines[0]!.indexOf('\n')).toBe(lines[0]!.length - 1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toEqual({ time: expect.stringMatching(isoTime), level: 'info', message: 'container registered', id: 'abc', pid: 42, hook: true, ids: ['a', 'b'] });
    const time = Date.parse(entry.time as string);
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(after);
  });

  test('every level is written under its own name', () => {
    const { lines, log } = capture('json');
    for (const level of levels) log[level](`a ${level} event`);
    expect(lines.map((line) => (JSON.parse(line) as { level: string; message: string }).level)).toEqual(levels);
    expect(lines.map((line) => (JSON.parse(line) as { message: string }).message)).toEqual(levels.map((level) => `a ${level} event`));
  });

  test('bigint fields, also nested, are written as decimal strings', () => {
    const { lines, log } = capture('json');
    log.info('capabilities', { effective: 2_199_006_478_335n, cgroup: { id: 18_446_744_073_709_551_615n } });
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry.effective).toBe('2199006478335');
    expect(entry.cgroup).toEqual({ id: '18446744073709551615' });
  });

  test('a message with quotes and newlines stays on one line', () => {
    const { lines, log } = capture('json');
    log.warn('bad "frame"\nsecond line', { reason: 'a\nb' });
    expect(lines[0]!.split('\n')).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toMatchObject({ message: 'bad "frame"\nsecond line', reason: 'a\nb' });
  });

  test('undefined fields are left out', () => {
    const { lines, log } = capture('json');
    log.info('scan', { name: undefined, pid: 1 });
    expect(Object.keys(JSON.parse(lines[0]!) as object)).toEqual(['time', 'level', 'message', 'pid']);
  });
});

describe('text format', () => {
  test('writes time, the padded upper-case level, the message and key=value fields', () => {
    const { lines, log } = capture('text');
    log.info('container registered', { id: 'abc', pid: 42, hook: true });
    expect(lines).toHaveLength(1);
    const match = /^(\S+) (INFO ) container registered id=abc pid=42 hook=true\n$/.exec(lines[0]!);
    expect(match).not.toBeNull();
    expect(match![1]).toMatch(isoTime);
  });

  test('every level is upper case and padded to five characters', () => {
    const { lines, log } = capture('text');
    for (const level of levels) log[level]('event');
    expect(lines.map((line) => line.slice(line.indexOf(' ') + 1))).toEqual(['DEBUG event\n', 'INFO  event\n', 'WARN  event\n', 'ERROR event\n']);
  });

  test('no fields means nothing after the message', () => {
    const { lines, log } = capture('text');
    log.warn('plain');
    log.warn('empty', {});
    expect(lines.map((line) => line.slice(line.indexOf(' ') + 1))).toEqual(['WARN  plain\n', 'WARN  empty\n']);
  });

  test('strings are written bare, other values as JSON, undefined ones left out', () => {
    const { lines, log } = capture('text');
    log.info('swept', { ids: ['a', 'b'], name: undefined, file: '/var/lib/x.json', nothing: null, detail: { ok: false } });
    expect(lines[0]!.slice(lines[0]!.indexOf(' ') + 1)).toBe('INFO  swept ids=["a","b"] file=/var/lib/x.json nothing=null detail={"ok":false}\n');
  });

  test('bigint fields are written in decimal instead of throwing; nested ones as in the json format', () => {
    const { lines, log } = capture('text');
    log.info('process', { startTime: 159_247n, cgroup: { id: 5n } });
    expect(lines[0]!.slice(lines[0]!.indexOf(' ') + 1)).toBe('INFO  process startTime=159247 cgroup={"id":"5"}\n');
  });
});

test('the default writer is process.stdout', () => {
  const written: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string) => {
    written.push(chunk);
    return true;
  };
  try {
    createLogger('json').error('to stdout', { code: 7 });
  } finally {
    process.stdout.write = original;
  }
  expect(written).toHaveLength(1);
  expect(JSON.parse(written[0]!)).toMatchObject({ level: 'error', message: 'to stdout', code: 7 });
});
