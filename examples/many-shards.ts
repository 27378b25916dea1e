/**
 * Many shards with the manager: the recommended shard count from GET /gateway/bot, identified bucket
 * by bucket under max_concurrency, one merged stream of events, and the status of every shard.
 *
 *   npx tsx examples/many-shards.ts                    # offline: 8 shards on the emulator, for 2 s
 *   DISCORD_TOKEN=... npx tsx examples/many-shards.ts  # a real bot, until Ctrl-C
 */
import { Emulator } from '../src/emulator/index.js';
import { DEFAULT_API, LocalIdentifyQueue, ShardManager } from '../src/index.js';

const emu = process.env.DISCORD_TOKEN
  ? null
  : await Emulator.start({
      guilds: 80,
      shards: 8,
      maxConcurrency: 4,
      // Discord allows one IDENTIFY per bucket per 5 s; a shorter window keeps the offline run quick.
      identifyInterval: 500,
      rate: 400,
      heartbeatInterval: 1000, // Discord's is about 41 s: there would be no latency to show yet
    });
const token = process.env.DISCORD_TOKEN ?? emu!.token;

const manager = await ShardManager.createRecommended({
  token,
  intents: 'GUILDS,GUILD_MESSAGES',
  compress: 'zstd-stream',
  rest: { api: emu?.apiUrl ?? DEFAULT_API },
  // Against Discord, leave this out: the manager builds a 5 s queue from GET /gateway/bot. Here the
  // queue waits twice the emulator's window, as IDENTIFYs can reach a busy server closer together
  // than they left the queue.
  ...(emu ? { identifyQueue: new LocalIdentifyQueue({ maxConcurrency: 4, window: 1000 }) } : {}),
});
console.log(`${manager.shardCount} shards, max_concurrency ${manager.maxConcurrency}`);

const started = Date.now();
let ready = 0;
manager.on('state', (id, state) => {
  if (state.status === 'active')
    console.log(`shard ${id} ready (${++ready}/${manager.shardCount}) after ${Date.now() - started} ms`);
});
manager.on('fatal', (id, error) => console.error(`shard ${id}: ${error.message}`));
await manager.start();

// Commands: to every shard, or to the one shard that receives a given guild's events.
await manager.broadcast({ op: 3, d: { since: null, activities: [], status: 'online', afk: false } });
const someGuild = emu?.world.guildIds()[0];
if (someGuild) console.log(`guild ${someGuild} lives on shard ${manager.shardForGuild(someGuild)?.shardId}`);

const stop = emu
  ? new Promise((resolve) => setTimeout(resolve, 2000))
  : new Promise((resolve) => process.once('SIGINT', resolve));
const perShard = new Map<number, number>();
void stop.then(() => manager.close());
for await (const event of manager) perShard.set(event.shardId, (perShard.get(event.shardId) ?? 0) + 1);

for (const { shardId, state, latency } of manager.status()) {
  const ms = Number.isNaN(latency.average) ? '–' : `${Math.round(latency.average)} ms`;
  console.log(`shard ${shardId}: ${state.status}, ${perShard.get(shardId) ?? 0} events, latency ${ms}`);
}
await emu?.close();
