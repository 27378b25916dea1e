/**
 * Commands under pressure: a flood of commands never trips the gateway's send limit (the emulator
 * closes with 4008 on the first message over it), heartbeats keep their reserved room meanwhile,
 * and commands sent across a reconnect are all delivered.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PresenceUpdateStatus } from 'discord-api-types/v10';
import { shardFor, startEmulator, until } from './harness.js';

const presence = (i: number) => ({
  since: null,
  activities: [{ name: `flood ${i}`, type: 0 }],
  status: PresenceUpdateStatus.Online,
  afk: false,
});

test('a flood of commands stays under the send limit, with heartbeats going through meanwhile', async () => {
  // The real limit is 120 per 60 s; the same rule on a 600 ms window keeps the test short.
  const sendLimit = { limit: 30, windowMs: 600 };
  const emu = await startEmulator({ heartbeatInterval: 100, sendLimit });
  const shard = shardFor(emu, { sendLimit });
  await shard.connect();
  const before = emu.counters;
  const started = Date.now();
  await Promise.all(Array.from({ length: 90 }, (_, i) => shard.send({ op: 3, d: presence(i) })));
  const elapsed = Date.now() - started;
  const after = emu.counters;
  assert.equal(after.rateLimited, before.rateLimited, 'the emulator closed the connection with 4008');
  assert.equal(
    after.resumes + after.identifies,
    before.resumes + before.identifies,
    'the connection was lost',
  );
  assert.ok(after.heartbeats - before.heartbeats >= Math.floor(elapsed / 100) - 2, 'heartbeats were starved');
  // 90 commands at most ~30 per 600 ms window, minus heartbeat room: several windows, not one burst.
  assert.ok(elapsed >= 2 * sendLimit.windowMs, `90 commands went out in ${elapsed} ms`);
  assert.ok(shard.rateLimit.available <= sendLimit.limit);
  await shard.close();
  await emu.close();
});

test('commands sent while the shard is reconnecting are delivered after the resume, in order', async () => {
  const emu = await startEmulator();
  const shard = shardFor(emu);
  await shard.connect();
  const guild = emu.world.guildIds()[0]!;
  const id = shard.session!.sessionId;
  const closed = new Promise((resolve) => shard.once('close', resolve));
  emu.fault(id, { type: 'drop' });
  // Once the shard has seen the drop: a command written into a socket that is already dead is lost
  // in TCP, with Discord as with anyone, and no gateway acknowledgement exists to detect it.
  await closed;
  const nonces = Array.from({ length: 5 }, (_, i) => `n${i}`);
  const seen: string[] = [];
  shard.on('dispatch', (e) => {
    if (e.t === 'GUILD_MEMBERS_CHUNK' && e.d.nonce) seen.push(e.d.nonce);
  });
  await Promise.all(
    nonces.map((nonce) => shard.requestGuildMembers({ guild_id: guild, user_ids: ['123123'], nonce })),
  );
  await until(() => seen.length === nonces.length, 'every answer');
  assert.deepEqual(seen, nonces);
  assert.equal(shard.session!.sessionId, id, 'the session was resumed, not replaced');
  await shard.close();
  await emu.close();
});
