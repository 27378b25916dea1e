/**
 * Idle memory per shard (issue item 3): N shards of one bot in one client process, all READY and
 * idle (the heartbeat interval is Discord's 41.25 s, so nothing happens while measuring), after
 * forced garbage collection. Reported per shard: RSS and V8 heap used above a baseline taken in the
 * same process after one shard was started and closed, so what loading the library and opening its
 * first connection cost once (modules loaded lazily, code compiled) is not counted, at
 * 200 shards and then at 1000 (800 more added to the same process), and the growth per shard from 200
 * to 1000, which cancels whatever slack the baseline carried.
 *
 * Identify limits are lifted on both sides (emulator window 0; dusk's queue with window 0,
 * @discordjs/ws with a throttler that never waits), because this measures what a shard costs to
 * keep, not how long it takes to start.
 */
import { Emulator } from '../dist/emulator/index.js';
import type { ClientKind, Compress } from './clients.js';
import { emulatorTarget, spawnClient } from './spawn.js';

export interface MemoryResult {
  client: ClientKind;
  compress: Compress;
  shards: number;
  /** (RSS with `shards` shards − baseline) / shards. */
  rssPerShard: number;
  heapPerShard: number;
  /** Growth per shard since the previous step (null for the first): free of baseline noise. */
  marginalRssPerShard: number | null;
  marginalHeapPerShard: number | null;
}

export async function measureMemory(
  client: ClientKind,
  compress: Compress,
  steps: number[],
): Promise<MemoryResult[]> {
  const total = steps.at(-1)!;
  const emu = await Emulator.start({
    guilds: 1,
    seed: 1,
    controlPort: null,
    maxConcurrency: 16,
    identifyInterval: 0,
    heartbeatInterval: 41_250,
    shards: total,
    sessionStartLimit: { total: 100_000 },
  });
  const child = spawnClient(
    {
      role: 'memory',
      client,
      ...emulatorTarget(emu),
      compress,
      steps,
      maxConcurrency: 16,
    },
    {
      // A 1 MB young generation for every client: V8 otherwise keeps however much semi-space the
      // start-up burst grew (up to 16 MB), which is noise of several KB per shard, not the library's.
      nodeFlags: ['--expose-gc', '--max-semi-space-size=1'],
      // glibc's malloc returning freed memory at once, in one arena: RSS then follows what is live
      // instead of what the allocator kept from earlier work, which moved a 200-shard reading by up
      // to 2 MB either way (below the baseline, at times).
      env: { MALLOC_TRIM_THRESHOLD_: '0', MALLOC_ARENA_MAX: '1' },
    },
  );
  try {
    const out: MemoryResult[] = [];
    let prev: { shards: number; rss: number; heap: number } | null = null;
    for (let i = 0; i < steps.length; i++) {
      const step = await child.next<{ shards: number; rss: number; heap: number }>();
      out.push({
        client,
        compress,
        shards: step.shards,
        rssPerShard: step.rss / step.shards,
        heapPerShard: step.heap / step.shards,
        marginalRssPerShard: prev ? (step.rss - prev.rss) / (step.shards - prev.shards) : null,
        marginalHeapPerShard: prev ? (step.heap - prev.heap) / (step.shards - prev.shards) : null,
      });
      prev = step;
    }
    await child.next();
    return out;
  } finally {
    await child.exit();
    await emu.close();
  }
}
