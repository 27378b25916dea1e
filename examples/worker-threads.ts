/**
 * Shards on worker threads: the sockets, decompression and event filtering of each shard run off the
 * main thread, and the main thread gets the wanted dispatches, parsed once and tagged with their shard.
 *
 *   npx tsx examples/worker-threads.ts                    # offline: 4 shards on 2 workers, for 2 s
 *   DISCORD_TOKEN=... npx tsx examples/worker-threads.ts  # a real bot, until Ctrl-C
 */
import { Emulator } from '../src/emulator/index.js';
import { DEFAULT_API, fetchGatewayBot, WorkerShardManager } from '../src/index.js';

const emu = process.env.DISCORD_TOKEN
  ? null
  : await Emulator.start({ guilds: 40, shards: 4, maxConcurrency: 4, rate: 400, heartbeatInterval: 1000 });
const token = process.env.DISCORD_TOKEN ?? emu!.token;
const info = await fetchGatewayBot(token, { api: emu?.apiUrl ?? DEFAULT_API });

const manager = new WorkerShardManager({
  token,
  intents: 'GUILDS,GUILD_MESSAGES',
  gatewayUrl: info.url,
  shardCount: info.shards,
  maxConcurrency: info.session_start_limit.max_concurrency,
  workers: 2,
  events: ['MESSAGE_CREATE', 'TYPING_START'], // the rest is dropped in the workers, unparsed
});
const perShard = new Map<number, number>();
manager.on('dispatch', (event) => perShard.set(event.shardId, (perShard.get(event.shardId) ?? 0) + 1));
await manager.start();
console.log(`${info.shards} shards running on 2 worker threads`);

await (emu
  ? new Promise((resolve) => setTimeout(resolve, 2000))
  : new Promise((resolve) => process.once('SIGINT', resolve)));
await manager.close();
for (const [shardId, count] of [...perShard].sort((a, b) => a[0] - b[0])) {
  console.log(`shard ${shardId}: ${count} events`);
}
await emu?.close();
