/**
 * The shard's normal life against the emulator: READY, guilds, live events through both consumption
 * styles, filtering, compression, commands queued until identified, and the payload size limit.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PresenceUpdateStatus } from 'discord-api-types/v10';
import { takeText } from '../../src/client/shard.js';
import { ManualClock } from '../../src/clock.js';
import { SLOW_READER_MS } from '../../src/emulator/connection.js';
import type { Emulator } from '../../src/emulator/index.js';
import { type Dispatch, PayloadTooLargeError, ShardClosedError, shardForGuild } from '../../src/index.js';
import { assertExactlyOnce, collect, shardFor, startEmulator, until } from './harness.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator();
});
after(() => emu.close());

test('identifies, receives READY and one GUILD_CREATE per guild of its shard, then live events', async () => {
  const shards = [0, 1].map((id) => shardFor(emu, { shardId: id, shardCount: 2 }));
  const events = shards.map(collect);
  await Promise.all(shards.map((s) => s.connect()));
  for (const [i, shard] of shards.entries()) {
    assert.equal(shard.state.status, 'active');
    const session = shard.session!;
    assert.equal(session.shardId, i);
    assert.notEqual(new URL(session.resumeUrl).pathname, new URL(emu.gatewayUrl).pathname || '/');
    const expected = emu.world.guildIds().filter((g) => shardForGuild(g, 2) === i);
    await until(() => events[i]!.filter((e) => e.t === 'GUILD_CREATE').length === expected.length, 'guilds');
    const got = events[i]!.filter((e) => e.t === 'GUILD_CREATE').map((e) => (e.d as { id: string }).id);
    assert.deepEqual(got.sort(), [...expected].sort());
    assert.equal(events[i]![0]!.t, 'READY');
    assert.equal(events[i]![0]!.s, 1);
  }
  const guild = emu.world.guildIds()[0]!;
  emu.dispatch('GUILD_UPDATE', { id: guild, name: 'renamed' }, { guildId: guild });
  const target = shardForGuild(guild, 2);
  await until(() => events[target]!.some((e) => e.t === 'GUILD_UPDATE'), 'GUILD_UPDATE');
  assert.ok(!events[1 - target]!.some((e) => e.t === 'GUILD_UPDATE'), 'event routed to the wrong shard');
  for (const [i, shard] of shards.entries()) {
    assertExactlyOnce(emu, events[i]!, [shard.session!.sessionId]);
    await shard.close();
  }
});

test('for await delivers every event in order and ends after close()', async () => {
  const shard = shardFor(emu);
  await shard.connect();
  const sessionId = shard.session!.sessionId;
  await emu.burst(sessionId, 500);
  const seen: Dispatch[] = [];
  for await (const event of shard) {
    seen.push(event);
    if (seen.length === emu.session(sessionId)!.log().length) void shard.close();
  }
  assertExactlyOnce(emu, seen, [sessionId]);
  assert.equal(shard.state.status, 'closed');
});

test('leaving a for await loop early closes the shard and ends its session', async () => {
  const shard = shardFor(emu);
  await shard.connect();
  const sessionId = shard.session!.sessionId;
  await emu.burst(sessionId, 50);
  let seen = 0;
  for await (const _ of shard) {
    if (++seen === 10) break;
  }
  assert.equal(shard.state.status, 'closed');
  await until(() => emu.session(sessionId)!.ended === 'client-close', 'the session to end');
});

test('unwanted dispatches are not delivered but still advance the sequence', async () => {
  const shard = shardFor(emu, { events: ['MESSAGE_CREATE'] });
  const events = collect(shard);
  await shard.connect();
  const sessionId = shard.session!.sessionId;
  await emu.burst(sessionId, 300);
  const log = emu.session(sessionId)!.log();
  const last = log[log.length - 1]!.seq;
  await until(() => shard.session!.sequence === last, 'sequence to reach the last event');
  const expected = log.filter((e) => e.t === 'MESSAGE_CREATE').map((e) => e.seq);
  assert.ok(expected.length > 0, 'the mix produced no MESSAGE_CREATE');
  assert.deepEqual(
    events.map((e) => e.s),
    expected,
  );
  assert.ok(events.every((e) => e.t === 'MESSAGE_CREATE' && typeof e.d === 'object'));
  await shard.close();
});

test('zlib payloads split over many messages, some ending in a piece of the flush marker: every wanted dispatch arrives', async () => {
  const split = await startEmulator({ zlibSplit: 10 });
  const shard = shardFor(split, { events: ['MESSAGE_CREATE'], compress: 'zlib-stream' });
  const events = collect(shard);
  try {
    await shard.connect();
    const sessionId = shard.session!.sessionId;
    await split.burst(sessionId, 500);
    const log = split.session(sessionId)!.log();
    await until(() => shard.session!.sequence === log.at(-1)!.seq, 'sequence to reach the last event');
    const expected = log.filter((e) => e.t === 'MESSAGE_CREATE').map((e) => e.seq);
    assert.ok(expected.length > 0, 'the mix produced no MESSAGE_CREATE');
    assert.deepEqual(
      events.map((e) => e.s),
      expected,
    );
  } finally {
    await shard.close();
    await split.close();
  }
});

for (const events of [['MESSAGE_CREATE'], null]) {
  test(`an owner taking text (${events ? 'filtered' : 'everything'}) gets each wanted dispatch as text and nothing is parsed`, async () => {
    const shard = shardFor(emu, { events, compress: 'zlib-stream' });
    const texts: { text: string; s: number | null; t: string }[] = [];
    shard[takeText]((text, s, t) => texts.push({ text, s, t }));
    let dispatched = 0;
    shard.on('dispatch', () => dispatched++);
    await shard.connect();
    const sessionId = shard.session!.sessionId;
    const parse = JSON.parse;
    let parses = 0;
    // Only dispatches count: the emulator in this process parses the client's own frames.
    JSON.parse = (...args: Parameters<typeof parse>) => {
      if (args[0].startsWith('{"t":"')) parses++;
      return parse(...args);
    };
    try {
      await emu.burst(sessionId, 300);
      const log = emu.session(sessionId)!.log();
      await until(() => shard.session!.sequence === log.at(-1)!.seq, 'the last sequence');
    } finally {
      JSON.parse = parse;
    }
    assert.equal(parses, 0, 'the shard parsed payloads it only hands over');
    assert.equal(dispatched, 0, 'dispatch events were emitted as well');
    const log = emu.session(sessionId)!.log();
    const wanted = log.filter((e) => e.t !== 'READY' && (!events || events.includes(e.t)));
    assert.ok(wanted.length > 0 && wanted.length < log.length, 'the burst has nothing to test');
    const burst = texts.filter((x) => x.t !== 'READY');
    assert.deepEqual(
      burst.map((x) => [x.s, x.t]),
      wanted.map((e) => [e.seq, e.t]),
    );
    for (const x of burst) {
      const payload = JSON.parse(x.text) as { op: number; s: number; t: string };
      assert.deepEqual([payload.op, payload.s, payload.t], [0, x.s, x.t]);
    }
    await shard.close();
  });
}

for (const compress of ['zlib-stream', 'zstd-stream'] as const) {
  test(`${compress}: READY, guilds and a burst arrive intact`, async () => {
    const shard = shardFor(emu, { compress });
    const events = collect(shard);
    await shard.connect();
    const sessionId = shard.session!.sessionId;
    await emu.burst(sessionId, 2000);
    await until(() => events.length === emu.session(sessionId)!.log().length, 'all events');
    assertExactlyOnce(emu, events, [sessionId]);
    await shard.close();
  });
}

test('commands sent before READY wait for it and are sent in order afterwards', async () => {
  const shard = shardFor(emu);
  const events = collect(shard);
  const guild = emu.world.guildIds()[0]!;
  const sent = [
    shard.updatePresence({ since: null, activities: [], status: PresenceUpdateStatus.Idle, afk: false }),
    shard.requestGuildMembers({ guild_id: guild, query: '', limit: 0, nonce: 'n1' }),
  ];
  await shard.connect();
  await Promise.all(sent);
  await until(() => events.some((e) => e.t === 'GUILD_MEMBERS_CHUNK'), 'member chunk');
  const chunk = events.find((e) => e.t === 'GUILD_MEMBERS_CHUNK')!.d as { nonce?: string; guild_id: string };
  assert.equal(chunk.nonce, 'n1');
  assert.equal(chunk.guild_id, guild);
  await shard.close();
});

test('a payload over 4096 bytes is refused before sending, with a clear error', async () => {
  const shard = shardFor(emu);
  await shard.connect();
  await assert.rejects(
    shard.send({
      op: 3,
      d: { since: null, activities: [{ name: 'x'.repeat(5000), type: 0 }], status: 'online', afk: false },
    }),
    (error: Error) => error instanceof PayloadTooLargeError && /4096/.test(error.message),
  );
  // The connection is unaffected.
  assert.equal(shard.state.status, 'active');
  await shard.close();
});

test('a slow for-await consumer pauses the socket instead of growing the buffer, and loses nothing', async () => {
  const shard = shardFor(emu, { bufferSize: 50 });
  await shard.connect();
  const sessionId = shard.session!.sessionId;
  const iterator = shard[Symbol.asyncIterator]();
  await emu.burst(sessionId, 3000);
  await until(() => shard.buffer.paused, 'socket to pause');
  // Pausing stops socket reads; frames already read in the same chunk still arrive, never more.
  assert.ok(shard.buffer.size <= 50 + 1000, `buffer grew to ${shard.buffer.size}`);
  const seen: Dispatch[] = [];
  const total = () => emu.session(sessionId)!.log().length;
  while (seen.length < total()) {
    const { value } = await iterator.next();
    seen.push(value as Dispatch);
  }
  assertExactlyOnce(emu, seen, [sessionId]);
  assert.equal(shard.buffer.paused, false);
  await shard.close();
});

test('pause() before the session exists holds from READY on; a paused shard that loses its socket reconnects once, takes the replay, and pauses again', async () => {
  // Listeners, not an iterator: no buffer fills up, so only the application's pause() can pause.
  const shard = shardFor(emu, { timeouts: { hello: 500, ready: 500 } });
  const seen = collect(shard);
  shard.pause();
  await shard.connect();
  assert.equal(shard.buffer.paused, true);
  const sessionId = shard.session!.sessionId;
  await emu.burst(sessionId, 3000);
  await new Promise((r) => setTimeout(r, 300));
  // Pausing stops socket reads; frames already read with READY may still arrive, the burst may not.
  const early = seen.length;
  assert.ok(early < 100, `${early} events arrived while paused`);
  // The new socket reads Hello, RESUME's replay and RESUMED (a socket paused before them would miss
  // its deadline and reconnect over and over, or leave an awaited connect() waiting), then pauses.
  let resumed = 0;
  shard.on('resumed', () => resumed++);
  const { connections } = emu.counters;
  emu.fault(sessionId, { type: 'drop' });
  await until(() => resumed === 1, 'RESUMED');
  const total = emu.session(sessionId)!.log().length;
  await until(() => seen.length === total, 'the replay');
  await emu.burst(sessionId, 1000);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(emu.counters.connections - connections, 1, 'the paused shard reconnected more than once');
  assert.equal(shard.buffer.paused, true, 'the pause was not applied again after the resume');
  assert.ok(seen.length < total + 100, `${seen.length - total} new events delivered although paused`);
  shard.resume();
  await until(() => seen.length === emu.session(sessionId)!.log().length, 'the rest after resume()');
  assertExactlyOnce(emu, seen, [sessionId]);
  await shard.close();
});

test('a paused shard the gateway drops for not draining resumes, and after resume() every event arrives once', async () => {
  const clock = new ManualClock();
  // The gateway's heartbeat deadline is on its manual clock; keep it beyond the advance below.
  const gateway = await startEmulator({ clock, heartbeatInterval: 300, heartbeatTimeoutFactor: 1000 });
  const shard = shardFor(gateway);
  const seen = collect(shard);
  let resumed = 0;
  shard.on('resumed', () => resumed++);
  await shard.connect();
  const sessionId = shard.session!.sessionId;
  shard.pause();
  const big = 'x'.repeat(512 << 10);
  for (let i = 0; i < 48; i++) gateway.dispatch('BIG', { big, i }, { session: sessionId });
  await new Promise((r) => setTimeout(r, 100));
  clock.advance(SLOW_READER_MS);
  assert.equal(gateway.counters.slowReaders, 1);
  await until(() => resumed === 1, 'RESUMED');
  shard.resume();
  await until(() => seen.length === gateway.session(sessionId)!.log().length, 'every event');
  assertExactlyOnce(gateway, seen, [sessionId]);
  await shard.close();
  await gateway.close();
});

test('a state listener that throws on close leaves nothing waiting', async () => {
  const shard = shardFor(emu);
  await shard.connect();
  const iterator = shard[Symbol.asyncIterator]();
  while (shard.buffer.size > 0) await iterator.next();
  const waiting = iterator.next();
  shard.on('state', (state) => {
    if (state.status === 'closed') throw new Error('listener bug');
  });
  await assert.rejects(shard.close(), /listener bug/);
  assert.deepEqual(await waiting, { value: undefined, done: true });
  await assert.rejects(shard.send({ op: 3, d: null }), ShardClosedError);
  await assert.rejects(shard.connect(), ShardClosedError);
});

test('an event taken by a once() listener is not buffered for the iterator as well', async () => {
  const shard = shardFor(emu);
  let first: Dispatch | null = null;
  shard.once('dispatch', (event) => {
    first = event;
  });
  await shard.connect();
  const next = (await shard[Symbol.asyncIterator]().next()).value as Dispatch;
  assert.equal(first!.t, 'READY');
  assert.equal(next.s, first!.s! + 1, `the iterator started at ${next.t} ${next.s}`);
  await shard.close();
});

test('a later close(), or leaving a for-await loop, never undoes a resumable close', async () => {
  const shard = shardFor(emu);
  await shard.connect();
  const sessionId = shard.session!.sessionId;
  const closing = shard.close({ resumable: true });
  await shard[Symbol.asyncIterator]().return!();
  const saved = await closing;
  assert.equal(saved?.sessionId, sessionId);
  assert.deepEqual(await shard.close(), saved, 'a close after the first gets its result');
  assert.equal(emu.session(sessionId)!.ended, null, 'the session was ended');
});

test('connect() while close() is under way rejects instead of hanging', async () => {
  const shard = shardFor(emu);
  const closing = shard.close();
  await assert.rejects(shard.connect(), ShardClosedError);
  await closing;
});

test('heartbeats go on while the application does not read at all, and no zombie is declared', async () => {
  const shard = shardFor(emu, { bufferSize: 10 });
  await shard.connect();
  const sessionId = shard.session!.sessionId;
  const iterator = shard[Symbol.asyncIterator]();
  await emu.burst(sessionId, 500);
  await until(() => shard.buffer.paused, 'socket to pause');
  const beats = emu.counters.heartbeats;
  // Nobody reads for 2.5 heartbeat intervals (the harness uses 1000 ms).
  await new Promise((r) => setTimeout(r, 2500));
  assert.ok(emu.counters.heartbeats - beats >= 2, 'heartbeats stopped while the socket was paused');
  assert.equal(shard.state.status, 'active');
  assert.equal(emu.session(sessionId)!.connected, true, 'the connection was given up as a zombie');
  const seen: Dispatch[] = [];
  while (seen.length < emu.session(sessionId)!.log().length)
    seen.push((await iterator.next()).value as Dispatch);
  assertExactlyOnce(emu, seen, [sessionId]);
  await shard.close();
});
