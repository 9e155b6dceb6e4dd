/**
 * @bulwark/ebpf-lsm benchmarks, on the built package and the running kernel:
 *   1. FFI call overhead: a trivial libbpf getter (bpf_map__fd, one pointer
 *      argument, and libbpf_num_possible_cpus, none) through the binding,
 *      against an empty JavaScript function, in ns per call;
 *   2. map updates and lookups per second, one element per call against the
 *      batch calls (BPF_MAP_UPDATE_BATCH / BPF_MAP_LOOKUP_BATCH), on a fresh
 *      hash map each round;
 *   3. ring buffer records consumed per second in JavaScript, through the
 *      async iterator: test-ringbuf.bpf.o emits a burst of records per
 *      getppid(2), this process fills the ring and then drains it (raw
 *      Buffers, then decoded with a codec); the latency of one record into
 *      an idle ring; and a live run where a child process produces while
 *      this one consumes.
 * Every figure is the median of the rounds; the machine is shared, so run it
 * more than once.
 *
 * Usage: node bench/ebpf.ts [--rounds N] [--calls N] [--entries N] [--records N]   (build first; root)
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type Codec, type MapPointer, codecs, createLibbpfBinding, createMap, openObject, openRingBuffer } from '@bulwark/ebpf-lsm';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    calls: { type: 'string', default: '1000000' },
    entries: { type: 'string', default: '100000' },
    records: { type: 'string', default: '600000' },
  },
});
const rounds = Number(values.rounds);
const calls = Number(values.calls);
const entryCount = Number(values.entries);
const burst = 10_000;
const latencySamples = 50;
const recordCount = Math.ceil(Number(values.records) / burst) * burst;

const median = (numbers: readonly number[]): number => {
  const sorted = [...numbers].sort((left, right) => left - right);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
};
const perSecond = (count: number, nanoseconds: number): number => (count * 1e9) / nanoseconds;
const format = (value: number): string => Math.round(value).toLocaleString('en-US');
const now = (): bigint => process.hrtime.bigint();
const since = (start: bigint): number => Number(now() - start);

function objectPath(): string {
  const path = fileURLToPath(import.meta.resolve('@bulwark/ebpf-lsm/bpf/test-ringbuf.bpf.o'));
  if (!existsSync(path)) throw new Error(`${path} is missing: run 'npm run build' first`);
  return path;
}

/** Mounts tracefs unless libbpf can already read tracepoint ids; the result unmounts what it mounted. */
function ensureTracefs(): Disposable {
  const root = existsSync('/sys/kernel/debug/tracing') ? '/sys/kernel/debug/tracing' : '/sys/kernel/tracing';
  if (existsSync(join(root, 'events'))) return { [Symbol.dispose]: () => undefined };
  execFileSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing']);
  return { [Symbol.dispose]: () => execFileSync('umount', ['/sys/kernel/tracing']) };
}

function benchFfi(lines: string[], path: string): void {
  const binding = createLibbpfBinding();
  const object = binding.openObjectFile(path, {});
  try {
    binding.loadObject(object);
    const map = binding.findMap(object, 'stats')!;
    // Takes the same argument and returns a number, which the loop sums, so that it is not optimised away.
    const empty = (pointer: MapPointer): number => (pointer === 0n ? 1 : 0);
    const measure = (call: () => number): number[] => {
      const times: number[] = [];
      for (let round = 0; round <= rounds; round++) {
        let sum = 0;
        const start = now();
        for (let index = 0; index < calls; index++) sum += call();
        const elapsed = since(start) / calls;
        if (sum < 0) throw new Error('unreachable');
        if (round > 0) times.push(elapsed);
      }
      return times;
    };
    const getter = median(measure(() => binding.mapFd(map)));
    const noArguments = median(measure(() => binding.possibleCpus()));
    const javascript = median(measure(() => empty(map)));
    lines.push(
      `ffi: bpf_map__fd through the binding ${getter.toFixed(1)} ns/call, libbpf_num_possible_cpus ${noArguments.toFixed(1)} ns/call, empty js function ${javascript.toFixed(1)} ns/call (${format(calls)} calls, median of ${rounds})`,
    );
  } finally {
    binding.closeObject(object);
  }
}

function benchMaps(lines: string[]): void {
  const keys = Array.from({ length: entryCount }, (_, index) => codecs.u32.encode(index));
  const values = Array.from({ length: entryCount }, (_, index) => codecs.u64.encode(BigInt(index) * 3n));
  const entries = keys.map((key, index) => [key, values[index]!] as const);
  const results = { single: [] as number[], batch: [] as number[], lookupSingle: [] as number[], lookupBatch: [] as number[] };
  for (let round = 0; round <= rounds; round++) {
    using single = createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: entryCount, name: 'bench_single' });
    let start = now();
    for (let index = 0; index < entryCount; index++) single.update(keys[index]!, values[index]!);
    const singleTime = since(start);
    start = now();
    for (let index = 0; index < entryCount; index++) single.lookup(keys[index]!);
    const lookupSingleTime = since(start);

    using batched = createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: entryCount, name: 'bench_batch' });
    start = now();
    batched.updateBatch(entries);
    const batchTime = since(start);
    start = now();
    const read = batched.lookupBatch();
    const lookupBatchTime = since(start);
    if (read.length !== entryCount) throw new Error(`lookupBatch read ${read.length} of ${entryCount} entries`);
    if (round === 0) continue;
    results.single.push(perSecond(entryCount, singleTime));
    results.batch.push(perSecond(entryCount, batchTime));
    results.lookupSingle.push(perSecond(entryCount, lookupSingleTime));
    results.lookupBatch.push(perSecond(entryCount, lookupBatchTime));
  }
  const single = median(results.single);
  const batch = median(results.batch);
  lines.push(`map update, one element per call (BpfMap.update): ${format(single)} entries/s (${format(entryCount)} entries, fresh hash map, median of ${rounds})`);
  lines.push(`map update, batched (BpfMap.updateBatch): ${format(batch)} entries/s, ${(batch / single).toFixed(1)}x single`);
  const lookupSingle = median(results.lookupSingle);
  const lookupBatch = median(results.lookupBatch);
  lines.push(`map lookup, one element per call (BpfMap.lookup): ${format(lookupSingle)} entries/s`);
  lines.push(`map lookup, batched (BpfMap.lookupBatch, all entries): ${format(lookupBatch)} entries/s, ${(lookupBatch / lookupSingle).toFixed(1)}x single`);
}

interface Event {
  readonly sequence: bigint;
  readonly pid: number;
}

const eventCodec: Codec<Event> = {
  name: 'event',
  size: 16,
  encode: () => {
    throw new Error('not used');
  },
  decode: (bytes) => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { sequence: view.getBigUint64(0, true), pid: view.getUint32(8, true) };
  },
};

async function benchRingBuffer(lines: string[], path: string): Promise<void> {
  using loaded = openObject(path).load();
  const settings = loaded.map('settings').typed(codecs.u32, codecs.u64);
  const stats = loaded.map('stats').typed(codecs.u32, codecs.u64);
  using link = loaded.program('emit_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
  if (link.destroyed) throw new Error('link destroyed');
  const submitted = (): number => Number(stats.lookup(0));
  const dropped = (): number => Number(stats.lookup(1));

  // Fill, then drain: this process is the producer (process.ppid is one getppid each).
  settings.update(0, BigInt(process.pid));
  settings.update(1, BigInt(burst));
  for (const variant of ['raw Buffer records', 'decoded with a codec'] as const) {
    using ring =
      variant === 'raw Buffer records'
        ? openRingBuffer(loaded.map('events'))
        : openRingBuffer(loaded.map('events'), { codec: eventCodec });
    const iterator = ring[Symbol.asyncIterator]();
    const rates: number[] = [];
    const production: number[] = [];
    for (let round = 0; round <= rounds; round++) {
      const before = submitted();
      const droppedBefore = dropped();
      const produceStart = now();
      // One getppid(2) per read of process.ppid.
      let parent = 0;
      for (let index = 0; index < recordCount / burst; index++) parent += process.ppid;
      if (parent === 0) throw new Error('no parent');
      const produceTime = since(produceStart);
      const produced = submitted() - before;
      if (produced !== recordCount || dropped() !== droppedBefore) throw new Error(`produced ${produced} of ${recordCount}, dropped ${dropped() - droppedBefore}`);
      const start = now();
      let last: unknown;
      for (let count = 0; count < recordCount; count++) {
        const result = await iterator.next();
        if (result.done === true) throw new Error('ring buffer ended');
        last = result.value;
      }
      const elapsed = since(start);
      if (last === undefined || ring.queued !== 0) throw new Error('records left over');
      if (round === 0) continue;
      rates.push(perSecond(recordCount, elapsed));
      production.push(perSecond(recordCount, produceTime));
    }
    lines.push(
      `ring buffer, fill then drain, ${variant}: ${format(median(rates))} records/s consumed (${format(recordCount)} records of 16 bytes per round, bursts of ${format(burst)}; the kernel produced ${format(median(production))}/s; median of ${rounds})`,
    );
  }

  // Latency of a record arriving in an idle ring: the poll interval has grown to its maximum.
  settings.update(1, 1n);
  {
    using ring = openRingBuffer(loaded.map('events'));
    const iterator = ring[Symbol.asyncIterator]();
    const latencies: number[] = [];
    for (let sample = 0; sample < latencySamples; sample++) {
      const pending = iterator.next();
      await sleep(20 + Math.random() * 20);
      const start = now();
      if (process.ppid === 0) throw new Error('no parent');
      await pending;
      latencies.push(since(start) / 1e6);
    }
    const sorted = [...latencies].sort((left, right) => left - right);
    lines.push(
      `ring buffer latency, one record into an idle ring (default maxPollInterval 10 ms): p50 ${median(latencies).toFixed(2)} ms, p90 ${sorted[Math.floor(sorted.length * 0.9)]!.toFixed(2)} ms, max ${sorted.at(-1)!.toFixed(2)} ms (${latencySamples} samples)`,
    );
  }

  // Live: a child produces while this process consumes.
  const liveBurst = 1000;
  const liveCalls = recordCount / liveBurst;
  const child = spawn(process.execPath, ['--eval', `process.stdin.once('data', () => { for (let i = 0; i < ${liveCalls}; i++) process.ppid; process.exit(0); }); process.stdout.write('ready');`], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await once(child.stdout, 'data');
  settings.update(0, BigInt(child.pid!));
  settings.update(1, BigInt(liveBurst));
  using ring = openRingBuffer(loaded.map('events'));
  const iterator = ring[Symbol.asyncIterator]();
  const before = submitted();
  const droppedBefore = dropped();
  const exited = once(child, 'exit').then(() => null);
  // Waiting for the first record starts the polling.
  let pending = iterator.next();
  child.stdin.write('go\n');
  await pending;
  const start = now();
  let count = 1;
  pending = iterator.next();
  for (;;) {
    const winner = await Promise.race([pending, exited]);
    if (winner === null) {
      // The producer is done: take what it submitted, then stop.
      const total = submitted() - before;
      while (count < total) {
        await pending;
        count++;
        pending = iterator.next();
      }
      break;
    }
    if (winner.done === true) break;
    count++;
    pending = iterator.next();
  }
  const elapsed = since(start);
  lines.push(
    `ring buffer, live (a child produces ${format(recordCount)} records in bursts of ${format(liveBurst)} while this process consumes): ${format(perSecond(count, elapsed))} records/s, ${format(count)} received, ${format(dropped() - droppedBefore)} dropped in the kernel`,
  );
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/ebpf.ts loads BPF programs: run it as root');
  const path = objectPath();
  const tracefs = ensureTracefs();
  try {
    const lines: string[] = [`node ${process.version}, ${rounds} rounds after one warm-up`];
    benchFfi(lines, path);
    benchMaps(lines);
    await benchRingBuffer(lines, path);
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    tracefs[Symbol.dispose]();
  }
}

await main();
