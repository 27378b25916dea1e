/**
 * The client side of bench/workers.ts: a WorkerShardManager counting delivered dispatches, reporting
 * the time from the first to the `expected`-th after READY as a JSON line.
 */
import { LocalIdentifyQueue, WorkerShardManager } from '../dist/index.js';

const [url, token, shardsArg, workersArg, expectedArg] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const shards = Number(shardsArg);
const expected = Number(expectedArg);
const manager = new WorkerShardManager({
  token,
  intents: 'GUILDS,GUILD_MESSAGES,MESSAGE_CONTENT,GUILD_MESSAGE_TYPING',
  gatewayUrl: url,
  shardCount: shards,
  workers: Number(workersArg),
  identifyQueue: new LocalIdentifyQueue({ maxConcurrency: shards, window: 0 }),
  events: ['MESSAGE_CREATE', 'TYPING_START'],
});
let count = 0;
let first = 0;
manager.on('dispatch', () => {
  if (count === 0) first = performance.now();
  if (++count === expected) {
    process.stdout.write(`${JSON.stringify({ received: count, ms: performance.now() - first })}\n`);
    void manager.close().then(() => process.exit(0));
  }
});
await manager.start();
process.stdout.write('{"ready":true}\n');
