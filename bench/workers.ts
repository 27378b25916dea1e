/**
 * Events per second through `WorkerShardManager` with 1 and 2 worker threads. The emulator runs in
 * this process; the manager runs in a child process (bench/workers-client.ts) with 4 shards, every
 * event wanted and delivered to a main-thread listener. On a 2-core machine the emulator, the
 * main thread and the workers share two cores, so this measures the whole pipeline under that
 * contention, not the workers alone.
 */
import { Emulator } from '../dist/emulator/index.js';
import { spawnScript } from './spawn.js';

export interface WorkersResult {
  workers: number;
  events: number;
  perSecond: number;
}

export async function measureWorkers(workers: number, perShard = 100_000): Promise<WorkersResult> {
  const shards = 4;
  const emu = await Emulator.start({
    guilds: 8,
    seed: 2,
    maxConcurrency: shards,
    identifyInterval: 0,
    controlPort: null,
  });
  const child = spawnScript(
    'workers-client.ts',
    [emu.gatewayUrl, emu.token, String(shards), String(workers), String(shards * perShard)],
    `workers client (${workers})`,
  );
  try {
    await child.next(); // {"ready":true}
    const sessions = emu.sessions().map((s) => s.id);
    // Small realistic dispatches; every shard bursts at once.
    await Promise.all(sessions.map((id) => emu.burst(id, perShard, { MESSAGE_CREATE: 3, TYPING_START: 1 })));
    const result = await child.next<{ received: number; ms: number }>();
    return { workers, events: result.received, perSecond: Math.round(result.received / (result.ms / 1000)) };
  } finally {
    await child.exit(0);
    await emu.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const workers of [1, 2]) {
    const r = await measureWorkers(workers, Number(process.argv[2] ?? 100_000));
    console.log(`${r.workers} worker(s): ${r.events} events, ${r.perSecond.toLocaleString('en')} events/s`);
  }
}
