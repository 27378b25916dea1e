/**
 * Fidelity: @discordjs/ws, a gateway client written by others against the real Discord, runs
 * unmodified against the emulator. If the emulator bent the protocol, this is where it would show.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REST } from '@discordjs/rest';
import { CompressionMethod, WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';
import type { GatewayDispatchPayload, GatewayIntentBits } from 'discord-api-types/v10';
import { shardForGuild } from '../../src/protocol/snowflake.js';
import { startEmulator, TOKEN } from './raw-client.js';

const until = async (check: () => boolean, what: string, timeoutMs = 20_000) => {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

// ZlibNative: @discordjs/ws inflating the stream with node:zlib, so no native addon is needed to run it.
for (const compression of [null, CompressionMethod.ZlibNative] as const) {
  test(`@discordjs/ws with ${compression === null ? 'no compression' : 'zlib-stream'}: 4 shards, max_concurrency 2, guilds, live events, a drop resumed with no lost event`, async () => {
    const emu = await startEmulator({
      guilds: 16,
      maxConcurrency: 2,
      shards: 4,
      rate: 200,
      heartbeatInterval: 41_250,
    });
    const base = emu.apiUrl.replace(/\/v10$/, '');
    const manager = new WebSocketManager({
      token: TOKEN,
      intents: 53608447 as GatewayIntentBits,
      rest: new REST({ api: base, version: '10' }).setToken(TOKEN),
      compression,
    });
    const received = new Map<number, GatewayDispatchPayload[]>();
    const sessions = new Map<number, string>();
    let resumed = 0;
    manager.on(WebSocketShardEvents.Dispatch, (payload, shardId) => {
      if (!received.has(shardId)) received.set(shardId, []);
      received.get(shardId)!.push(payload);
    });
    manager.on(WebSocketShardEvents.Ready, (payload, shardId) => sessions.set(shardId, payload.session_id));
    manager.on(WebSocketShardEvents.Resumed, () => resumed++);
    const started = Date.now();
    await manager.connect();
    await until(() => sessions.size === 4, 'READY on 4 shards');
    // Buckets {0,2} and {1,3}: the second shard of each bucket waits one identify window.
    assert.ok(Date.now() - started >= 4900, 'the second pair waited for the identify window');
    assert.equal(emu.counters.identifyRateLimited, 0, '@discordjs/ws never tripped the bucket limit');

    for (const [shardId, id] of sessions) {
      const expected = emu.world.guildIds().filter((g) => shardForGuild(g, 4) === shardId);
      await until(
        () => (received.get(shardId) ?? []).filter((p) => p.t === 'GUILD_CREATE').length === expected.length,
        'guilds',
      );
      assert.equal(emu.session(id)!.shardCount, 4);
    }
    await until(
      () => [...received.values()].every((list) => list.some((p) => p.t === 'MESSAGE_CREATE')),
      'live events',
    );

    const victimShard = 1;
    const victim = sessions.get(victimShard)!;
    const resumes = emu.counters.resumes;
    emu.fault(victim, { type: 'drop' });
    for (let i = 0; i < 25; i++)
      emu.dispatch('TYPING_START', { channel_id: '1', user_id: '2', timestamp: i }, { session: victim });
    await until(() => resumed === 1, 'the resume');
    assert.equal(emu.counters.resumes, resumes + 1);
    assert.equal(emu.counters.resumesOffResumeUrl, 0, 'it resumed on resume_gateway_url');
    await emu.burst(victim, 200);

    const log = emu.session(victim)!.log();
    const seqs = () => (received.get(victimShard) ?? []).map((p) => p.s);
    await until(() => seqs().length >= log.length, 'every event of the dropped shard');
    // Live traffic continues: compare what the log held at this point with the same prefix received.
    assert.deepEqual(
      seqs().slice(0, log.length),
      log.map((e) => e.seq),
      'every event exactly once, in order',
    );
    await manager.destroy();
    await emu.close();
  });
}
