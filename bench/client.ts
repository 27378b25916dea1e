/**
 * The client side of every benchmark, run in its own process (spawned by bench/spawn.ts) so the
 * client under test has a core to itself while the emulator uses the other. It takes one JSON
 * argument saying what to do, talks to the parent in JSON lines (stdout out, stdin in), and measures
 * with its own clock and its own `process.cpuUsage()`, so the emulator's work is never counted.
 *
 * Roles:
 *   throughput  connect one client, then time the window of sequence numbers the parent names;
 *               the floor client also keeps the raw frames of the warm-up and replays them through
 *               a fresh inflater and JSON.parse with no socket (the in-process raw limit), skipping
 *               the unwanted ones by their first bytes as it did on the socket
 *   memory      start N idle shards, GC, report RSS and heap per shard above a baseline
 *   startup     start N shards with max_concurrency c and report when all were READY
 *   resume      connect, report each RESUMED, and at the end every sequence number received
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';
import type { GatewayIntentBits } from 'discord-api-types/v10';
import { readEnvelopeHead } from '../dist/client/decode.js';
import { LocalIdentifyQueue } from '../dist/client/identify-queue.js';
import { createInflater } from '../dist/client/inflate.js';
import { ShardManager } from '../dist/client/manager.js';
import {
  type BenchClient,
  type ClientKind,
  type Compress,
  createClient,
  djsCompression,
  djsRest,
  FloorClient,
} from './clients.js';

export interface ChildConfig {
  role: 'throughput' | 'memory' | 'startup' | 'resume';
  client: ClientKind;
  gatewayUrl: string;
  apiUrl: string;
  token: string;
  intents: number;
  compress: Compress;
  wanted?: readonly string[] | null;
  shards?: number;
  /** Memory: shard counts to measure at, in one process, each step adding shards. */
  steps?: number[];
  maxConcurrency?: number;
  /** Throughput: write a V8 CPU profile of the timed window to this file. */
  profile?: string;
}

const config = JSON.parse(process.argv[2]!) as ChildConfig;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const send = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);
const receive = async <T>(): Promise<T> => JSON.parse((await lines.next()).value as string) as T;
const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
/**
 * Whole-machine CPU time from /proc/stat (busy and total jiffies over all cores): lets the parent
 * tell how much of the machine other processes took during a window.
 */
const machineCpu = (): { busy: number; total: number } | null => {
  try {
    const f = readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
};
/** Wall-clock milliseconds comparable across processes. */
const wallNow = () => performance.timeOrigin + performance.now();

const options = (onEvent: (s: number, t: string) => void) => ({
  gatewayUrl: config.gatewayUrl,
  apiUrl: config.apiUrl,
  token: config.token,
  intents: config.intents,
  compress: config.compress,
  wanted: config.wanted ?? null,
  onEvent,
});

async function throughput(): Promise<void> {
  let from = Number.POSITIVE_INFINITY;
  let to = Number.POSITIVE_INFINITY;
  let start = 0;
  let cpu0 = 0;
  let machine0: ReturnType<typeof machineCpu> = null;
  let seen = 0;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const capture = { on: true, frames: [] as Buffer[] };
  let result: Record<string, unknown> = {};
  // The same sampling profiler as `node --cpu-prof`, but started and stopped with the timed window,
  // so process startup, the warm-up and the raw-limit loop do not blur the picture.
  const profiler = config.profile ? new Session() : null;
  if (profiler) {
    profiler.connect();
    profiler.post('Profiler.enable');
    profiler.post('Profiler.setSamplingInterval', { interval: 250 });
  }
  const onEvent = (s: number) => {
    if (s < from) return;
    if (seen++ === 0) {
      profiler?.post('Profiler.start');
      start = performance.now();
      cpu0 = cpuMicros();
      machine0 = machineCpu();
      capture.on = false;
    }
    if (s === to) {
      const machine1 = machineCpu();
      result = {
        ms: performance.now() - start,
        cpuMicros: cpuMicros() - cpu0,
        seen,
        // Cores busy on the whole machine during the window (all processes, this one included).
        machineBusyCores:
          machine0 && machine1
            ? ((machine1.busy - machine0.busy) / (machine1.total - machine0.total)) * os.cpus().length
            : null,
      };
      if (profiler) {
        profiler.post('Profiler.stop', (error, { profile }) => {
          if (!error) writeFileSync(config.profile!, JSON.stringify(profile));
          finished();
        });
      } else {
        finished();
      }
    }
  };
  const client: BenchClient =
    config.client === 'floor'
      ? new FloorClient({ ...options(onEvent), capture })
      : createClient(config.client, options(onEvent));
  const session = await client.connect();
  send({ type: 'ready', session });
  ({ from, to } = await receive<{ from: number; to: number }>());
  await done;
  await client.close();
  if (config.client === 'floor')
    result.raw = rawLimit(capture.frames, config.compress, config.wanted ?? null);
  send({ type: 'done', ...result });
}

/**
 * Decompress and parse the captured frames again and again in a tight loop: what one core can do
 * with no socket, no event loop turn and no library in between. Given wanted events, the others are
 * recognised from their first bytes and not parsed, as the floor client does.
 */
function rawLimit(
  frames: readonly Buffer[],
  compress: Compress,
  wanted: readonly string[] | null,
): Record<string, number> {
  const wants = wanted ? new Set(wanted) : null;
  let events = 0;
  let cpu = 0;
  let ms = 0;
  let passes = 0;
  while (ms < 1500 || passes < 2) {
    // The stream context spans the connection, so each pass starts a new one from the first frame.
    const inflater = compress ? createInflater(compress, 128 << 20) : null;
    const c0 = cpuMicros();
    const t0 = performance.now();
    for (const frame of frames) {
      const out = inflater ? inflater.push(frame) : frame;
      if (out === null) continue;
      if (wants) {
        const head = readEnvelopeHead(out);
        if (head?.op === 0 && head.t !== null && !wants.has(head.t)) {
          events++;
          continue;
        }
      }
      const p = JSON.parse(out.toString()) as { op: number };
      if (p.op === 0) events++;
    }
    ms += performance.now() - t0;
    cpu += cpuMicros() - c0;
    passes++;
  }
  return { events, ms, cpuMicros: cpu };
}

/** What every dusk manager of this process connects with. */
const duskOptions = () => ({
  token: config.token,
  intents: config.intents,
  gatewayUrl: config.gatewayUrl,
  compress: config.compress,
});

/** What every @discordjs/ws manager of this process connects with. */
const djsOptions = () => ({
  token: config.token,
  intents: config.intents as GatewayIntentBits,
  rest: djsRest(config.apiUrl, config.token),
  compression: djsCompression(config.compress),
});

const gc = () => {
  for (let i = 0; i < 4; i++) (globalThis as { gc?: () => void }).gc!();
};

/**
 * Memory once the process has settled: after a burst of work V8 keeps a larger heap committed for a
 * few seconds (its memory reducer shrinks it later) and the allocator returns pages at its own pace,
 * which moved RSS by several KB per shard between two readings a second apart. Collects garbage and
 * reads every 500 ms until RSS moves less than 256 KB between readings (at most 10 s): an idle bot's
 * steady state, read the same way for every client and for the baseline.
 */
async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  let last: NodeJS.MemoryUsage | null = null;
  for (let waited = 0; ; waited += 500) {
    gc();
    const now = process.memoryUsage();
    if (last && (Math.abs(now.rss - last.rss) < 256 * 1024 || waited >= 10_000)) return now;
    last = now;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function memory(): Promise<void> {
  // Shards are added in steps (e.g. 200, then 800 more) in this one process: the growth between two
  // steps is free of the baseline's slack (allocator pages freed after loading code), which at 200
  // shards alone is several KB per shard of noise.
  const steps = config.steps!;
  const total = steps.at(-1)!;
  const c = config.maxConcurrency!;
  // One shard started and closed before the baseline: what the first connection costs once (code
  // compiled for the connection path, the allocator's arenas) is the library's, not each shard's.
  await (await startShards([0]))();
  const base = await settledMemory();
  const stops: (() => Promise<void>)[] = [];
  let previous = 0;
  for (const upTo of steps) {
    const ids = Array.from({ length: upTo - previous }, (_, i) => previous + i);
    previous = upTo;
    stops.push(await startShards(ids));
    // Let GUILD_CREATEs and first heartbeats pass, then measure what stays.
    await new Promise((r) => setTimeout(r, 1000));
    const now = await settledMemory();
    send({ type: 'step', shards: upTo, rss: now.rss - base.rss, heap: now.heapUsed - base.heapUsed });
  }
  send({ type: 'done' });
  for (const stop of stops) await stop();

  /** Starts shards `ids` of the client under test, all READY; resolves with what stops them. */
  async function startShards(ids: number[]): Promise<() => Promise<void>> {
    if (config.client === 'dusk') {
      const manager = new ShardManager({
        ...duskOptions(),
        shardCount: total,
        shardIds: ids,
        identifyQueue: new LocalIdentifyQueue({ maxConcurrency: c, window: 0 }),
      });
      // An application listens; without a listener dusk would buffer events for an iterator instead.
      manager.on('dispatch', () => {});
      await manager.start();
      return async () => {
        await manager.close();
      };
    }
    const manager = new WebSocketManager({
      ...djsOptions(),
      shardCount: total,
      shardIds: ids,
      buildIdentifyThrottler: () => ({ waitForIdentify: async () => {} }),
    });
    manager.on(WebSocketShardEvents.Dispatch, () => {});
    let ready = 0;
    let allReady!: () => void;
    const all = new Promise<void>((r) => (allReady = r));
    manager.on(WebSocketShardEvents.Ready, () => {
      if (++ready === ids.length) allReady();
    });
    await manager.connect();
    await all;
    return async () => {
      await manager.destroy();
    };
  }
}

async function startup(): Promise<void> {
  const n = config.shards!;
  const c = config.maxConcurrency!;
  const t0 = performance.now();
  const readyAt: number[] = [];
  if (config.client === 'dusk') {
    const manager = new ShardManager({ ...duskOptions(), shardCount: n, maxConcurrency: c });
    manager.on('dispatch', () => {});
    for (const shard of manager.shards.values())
      shard.on('ready', () => readyAt.push(performance.now() - t0));
    await manager.start();
    send({ type: 'done', ms: performance.now() - t0, readyAt });
    await manager.close();
  } else if (config.client === 'djs') {
    const manager = new WebSocketManager({
      ...djsOptions(),
      shardCount: n,
    });
    manager.on(WebSocketShardEvents.Dispatch, () => {});
    let allReady!: () => void;
    const all = new Promise<void>((r) => (allReady = r));
    manager.on(WebSocketShardEvents.Ready, () => {
      readyAt.push(performance.now() - t0);
      if (readyAt.length === n) allReady();
    });
    await manager.connect();
    await all;
    send({ type: 'done', ms: performance.now() - t0, readyAt });
    await manager.destroy();
  } else {
    // The connection time of the protocol limit: one bucket-wide wave of bare clients, no waiting.
    const clients = Array.from(
      { length: c },
      (_, i) => new FloorClient({ ...options(() => {}), shard: [i, n] }),
    );
    await Promise.all(clients.map((cl) => cl.connect()));
    send({ type: 'done', ms: performance.now() - t0 });
    await Promise.all(clients.map((cl) => cl.close()));
  }
}

async function resume(): Promise<void> {
  const seqs: number[] = [];
  let to = Number.POSITIVE_INFINITY;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const client = createClient(config.client, {
    ...options((s) => {
      seqs.push(s);
      if (s >= to) finished();
    }),
    onResumed: () => send({ type: 'resumed', at: wallNow() }),
  });
  const session = await client.connect();
  send({ type: 'ready', session });
  ({ to } = await receive<{ to: number }>());
  if (seqs.includes(to)) finished();
  await done;
  send({ type: 'done', seqs });
  await client.close();
}

await { throughput, memory, startup, resume }[config.role]();
process.exit(0);
