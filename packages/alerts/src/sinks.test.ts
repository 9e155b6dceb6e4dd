import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BulwarkError, type SystemError } from '@bulwark/errors';
import { sourceNodeArguments } from '../../../test-support/source-node.js';
import { createAlert } from './create.js';
import { alertSchema, type Alert } from './schema.js';
import { AlertLog, createStreamSink, measureBootTimeNs, type AlertLogFs } from './sinks.js';
import { BOOT_TIME_NS, enforcerEvent, web, webPolicies } from './__fixtures__/events.js';

const alert = (path: string): Alert =>
  createAlert(enforcerEvent({ verdict: 'posture-block', operation: 'read', resource: path }), { workload: web, compiled: webPolicies, hostName: 'node-1', bootTimeNs: BOOT_TIME_NS });

/** The file's alerts, each checked against the schema. */
const readAlerts = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => alertSchema.parse(JSON.parse(line)));

const errno = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });

let directory: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'bulwark-alerts-'));
});
afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

describe('AlertLog', () => {
  it('appends one JSON line per alert to a file it creates without group or other access', () => {
    const path = join(directory, 'alerts.jsonl');
    using log = AlertLog.open(path);
    expect(log.write(alert('/a'))).toBe(true);
    expect(log.write(alert('/b'))).toBe(true);
    expect(statSync(path).mode & 0o777 & ~0o600).toBe(0);
    expect(readAlerts(path).map((entry) => entry.resource)).toEqual(['/a', '/b']);
    expect(log.stats).toEqual({ written: 2, failed: 0 });
  });

  it('appends to an existing file and leaves its mode alone', () => {
    const path = join(directory, 'alerts.jsonl');
    writeFileSync(path, `${JSON.stringify(alert('/old'))}\n`);
    chmodSync(path, 0o640);
    using log = AlertLog.open(path);
    log.write(alert('/new'));
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(readAlerts(path).map((entry) => entry.resource)).toEqual(['/old', '/new']);
  });

  it('reopen() after rotation: old alerts stay in the moved file, new ones go to a new file at the path', () => {
    const path = join(directory, 'alerts.jsonl');
    using log = AlertLog.open(path);
    log.write(alert('/before'));
    renameSync(path, `${path}.1`);
    log.write(alert('/still-old'));
    expect(log.reopen()).toBe(true);
    log.write(alert('/after'));
    expect(readAlerts(`${path}.1`).map((entry) => entry.resource)).toEqual(['/before', '/still-old']);
    expect(readAlerts(path).map((entry) => entry.resource)).toEqual(['/after']);
    expect(statSync(path).mode & 0o777 & ~0o600).toBe(0);
  });

  it('a full disk (/dev/full): writes fail with ENOSPC, counted, never thrown', () => {
    using log = AlertLog.open('/dev/full');
    expect(log.write(alert('/a'))).toBe(false);
    expect(log.write(alert('/b'))).toBe(false);
    expect(log.stats).toEqual({ written: 0, failed: 2, lastError: 'ENOSPC' });
  });

  it('a write cut short: counted, and the next alert starts on a line of its own', () => {
    const written: string[] = [];
    let failNext: 'partial' | 'none' | 'whole' = 'none';
    const fs: AlertLogFs = {
      openSync: () => 3,
      writeSync: (_fd, buffer, offset, length) => {
        if (failNext === 'whole') throw errno('EIO');
        const chunk = Buffer.from(buffer.subarray(offset, offset + (failNext === 'partial' ? Math.min(length, 10) : length))).toString('utf8');
        written.push(chunk);
        if (failNext === 'partial') {
          failNext = 'whole';
          return chunk.length;
        }
        return chunk.length;
      },
      closeSync: () => {},
    };
    using log = AlertLog.open('/var/log/bulwark/alerts.jsonl', { fs });
    failNext = 'partial';
    expect(log.write(alert('/torn'))).toBe(false);
    failNext = 'none';
    expect(log.write(alert('/whole'))).toBe(true);
    expect(log.stats).toEqual({ written: 1, failed: 1, lastError: 'EIO' });
    const lines = written.join('').split('\n');
    expect(lines[0]).toHaveLength(10);
    expect(alertSchema.parse(JSON.parse(lines[1]!)).resource).toBe('/whole');
  });

  it('reopen() that cannot open keeps writing to the old file; after close() writes and reopen fail, quietly', () => {
    const opened: number[] = [];
    let nextFd = 10;
    let refuse = false;
    const fs: AlertLogFs = {
      openSync: () => {
        if (refuse) throw errno('EACCES');
        opened.push(nextFd);
        return nextFd++;
      },
      writeSync: (fd, _buffer, _offset, length) => {
        opened.push(-fd);
        return length;
      },
      closeSync: () => {},
    };
    const log = AlertLog.open('/log', { fs });
    refuse = true;
    expect(log.reopen()).toBe(false);
    expect(log.write(alert('/a'))).toBe(true);
    expect(opened).toEqual([10, -10]);
    expect(log.stats).toEqual({ written: 1, failed: 0, lastError: 'EACCES' });
    log.close();
    log.close();
    expect(log.write(alert('/b'))).toBe(false);
    expect(log.reopen()).toBe(false);
    expect(log.stats).toEqual({ written: 1, failed: 1, lastError: 'closed' });
  });

  it('open() refuses a symbolic link and a missing directory with a SystemError', () => {
    const target = join(directory, 'elsewhere');
    writeFileSync(target, '');
    symlinkSync(target, join(directory, 'link.jsonl'));
    const refused = (path: string) => {
      try {
        AlertLog.open(path);
      } catch (error) {
        expect(BulwarkError.is(error, 'ERR_SYSTEM')).toBe(true);
        return { errno: (error as SystemError).errno, message: (error as Error).message };
      }
      throw new Error(`${path} opened`);
    };
    expect(refused(join(directory, 'link.jsonl'))).toEqual({ errno: 'ELOOP', message: `open alert log: too many symbolic links (${directory}/link.jsonl)` });
    expect(refused(join(directory, 'missing', 'a.jsonl')).errno).toBe('ENOENT');
    expect(readFileSync(target, 'utf8')).toBe('');
  });
});

describe('createStreamSink', () => {
  it('writes JSON lines; after the stream errors (EPIPE) it writes nothing and counts what it could not', () => {
    const chunks: string[] = [];
    const stream = Object.assign(new EventEmitter(), { write: (chunk: string) => chunks.push(chunk) > 0 });
    const sink = createStreamSink(stream);
    expect(sink.write(alert('/a'))).toBe(true);
    stream.emit('error', errno('EPIPE'));
    expect(sink.closed).toBe(true);
    expect(sink.write(alert('/b'))).toBe(false);
    expect(chunks.map((chunk) => alertSchema.parse(JSON.parse(chunk)).resource)).toEqual(['/a']);
    expect(sink.stats).toEqual({ written: 1, failed: 1, lastError: 'EPIPE' });
  });

  it('a stream that throws on write closes the sink instead of the caller', () => {
    const sink = createStreamSink({
      write: () => {
        throw errno('EBADF');
      },
      on: () => undefined,
    });
    expect(sink.write(alert('/a'))).toBe(false);
    expect(sink.stats).toEqual({ written: 0, failed: 1, lastError: 'EBADF' });
  });

  it('stdout whose reader goes away: the process keeps running and says EPIPE', async () => {
    // A child writes alerts to its stdout, a pipe; the test reads one chunk, then closes its end.
    const script = `
import { createStreamSink } from '@bulwark/alerts/sinks';
const sink = createStreamSink();
const alert = { timestamp: 1, resource: '/x'.repeat(100) };
while (!sink.closed) {
  for (let i = 0; i < 100; i++) sink.write(alert);
  await new Promise((resolve) => setTimeout(resolve, 1));
}
sink.write(alert);
process.stderr.write(JSON.stringify({ closed: sink.closed, ...sink.stats }));
`;
    const child = spawn(process.execPath, [...sourceNodeArguments, '--input-type=module', '--eval', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, stderr: stderr === '' ? {} : (JSON.parse(stderr) as unknown) }).toMatchObject({ code: 0, stderr: { closed: true, lastError: 'EPIPE' } });
    expect((JSON.parse(stderr) as { written: number; failed: number }).failed).toBeGreaterThan(0);
  });
});

describe('measureBootTimeNs', () => {
  it('is the wall clock minus CLOCK_MONOTONIC (process.hrtime), to within a few milliseconds, and steady', () => {
    const boot = measureBootTimeNs();
    const skew = boot + process.hrtime.bigint() - BigInt(Date.now()) * 1_000_000n;
    expect(Math.abs(Number(skew))).toBeLessThan(5e6);
    expect(Math.abs(Number(measureBootTimeNs() - boot))).toBeLessThan(5e6);
  });
});
