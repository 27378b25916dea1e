/**
 * Options a constructor cannot honour throw where they are given, naming the option, instead of
 * failing later as a hot reconnect loop, a shard that never starts or an identify window of zero.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Emulator } from '../src/emulator/index.js';
import {
  FileSessionStore,
  LocalIdentifyQueue,
  Shard,
  ShardManager,
  type ShardOptions,
  WorkerShardManager,
} from '../src/index.js';

const TOKEN = 'MTMwMzMyNzk1ODYzMDUzMTA3OQ.GaBcDe.options-test-token-abcdefghij';

test('Shard: numbers, events, intents and an empty token are checked when it is made', () => {
  const bad: [Partial<ShardOptions>, RegExp][] = [
    [{ backoff: { min: Number.NaN } }, /backoff\.min/],
    [{ backoff: { max: -1 } }, /backoff\.max/],
    [{ timeouts: { ready: -1 } }, /timeouts\.ready/],
    [{ timeouts: { hello: Number.NaN } }, /timeouts\.hello/],
    [{ maxMessageSize: -1 }, /maxMessageSize/],
    [{ maxMessageSize: Number.NaN }, /maxMessageSize/],
    [{ events: 'MESSAGE_CREATE' as unknown as string[] }, /events must be a list/],
    [{ intents: undefined as unknown as string }, /intents must be/],
    [{ intents: ['GUILDS', 1] as unknown as string[] }, /intents must be/],
    [{ token: 'Bot ' }, /token is required/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => new Shard({ token: TOKEN, intents: 'GUILDS', ...options }),
      message,
      JSON.stringify(options),
    );
  }
  assert.doesNotThrow(() => new Shard({ token: TOKEN, intents: 'GUILDS', backoff: { min: 0, max: 0 } }));
});

test('LocalIdentifyQueue: window, reserve and concurrency', () => {
  for (const [options, message] of [
    [{ window: Number.NaN }, /window/],
    [{ window: '5000' }, /window/],
    [{ reserve: -1 }, /reserve/],
    [{ reserve: Number.NaN }, /reserve/],
    [{ maxConcurrency: 0 }, /maxConcurrency/],
  ] as const) {
    assert.throws(() => new LocalIdentifyQueue(options as never), message, JSON.stringify(options));
  }
});

test('managers: shard ids, worker counts', () => {
  const base = { token: TOKEN, intents: 'GUILDS' as const, shardCount: 3 };
  for (const shardIds of [[-1, 1], [0, 0], [3], [0.5], []]) {
    assert.throws(() => new ShardManager({ ...base, shardIds }), /shardIds/, JSON.stringify(shardIds));
    assert.throws(() => new WorkerShardManager({ ...base, shardIds }), /shardIds/, JSON.stringify(shardIds));
  }
  for (const workers of [0, 1.5, Number.NaN, -2]) {
    assert.throws(() => new WorkerShardManager({ ...base, workers }), /workers/, String(workers));
  }
});

test('FileSessionStore needs a path', () => {
  for (const path of ['', undefined, 42]) {
    assert.throws(() => new FileSessionStore(path as string), /needs a file path/, String(path));
  }
});

test('Emulator: rates, intervals, counts and the token', async () => {
  for (const [options, message] of [
    [{ rate: Number.POSITIVE_INFINITY }, /rate/],
    [{ rate: -1 }, /rate/],
    [{ maxConcurrency: 0 }, /maxConcurrency/],
    [{ maxConcurrency: Number.NaN }, /maxConcurrency/],
    [{ shards: 0 }, /shards/],
    [{ heartbeatInterval: 0 }, /heartbeatInterval/],
    [{ identifyInterval: Number.NaN }, /identifyInterval/],
    [{ token: '' }, /token/],
    [{ sessionStartLimit: { total: -1 } }, /sessionStartLimit\.total/],
    [{ sendLimit: { limit: 0, windowMs: 60_000 } }, /sendLimit\.limit/],
  ] as const) {
    await assert.rejects(Emulator.start({ ...options, controlPort: null }), message, JSON.stringify(options));
  }
});
