/**
 * The emulator's connection rules on the wire: Hello, heartbeats, the identify checks in their
 * documented order with their close codes, the identify rate limit, READY and guild routing, and
 * the per-connection send limit.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Emulator } from '../../src/emulator/index.js';
import { shardForGuild } from '../../src/protocol/snowflake.js';
import { RawClient, startEmulator, TOKEN } from './raw-client.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ heartbeatInterval: 45_000, guilds: 12 });
});
after(() => emu.close());

test('Hello comes first with the configured interval, and every heartbeat is ACKed, even before IDENTIFY', async () => {
  const c = await RawClient.open(emu.gatewayUrl);
  assert.deepEqual(c.messages[0]!.op, 10);
  assert.equal(c.messages[0]!.d.heartbeat_interval, 45_000);
  assert.equal(c.messages[0]!.s, null);
  for (let i = 0; i < 3; i++) c.send({ op: 1, d: null });
  await c.next(() => c.messages.filter((m) => m.op === 11).length === 3);
  assert.ok(c.messages.filter((m) => m.op === 11).every((m) => m.s === null && m.t === null));
  c.close();
});

const closes: [string, (c: RawClient) => void, number][] = [
  ['a binary frame', (c) => c.ws.send(Buffer.from('{"op":1,"d":null}')), 4002],
  ['a payload over 4096 bytes', (c) => c.send({ op: 1, d: null, pad: 'x'.repeat(4100) }), 4002],
  ['invalid JSON', (c) => c.send('{"op":1,'), 4002],
  ['a JSON array', (c) => c.send('[1]'), 4002],
  ['an unknown opcode', (c) => c.send({ op: 5, d: null }), 4001],
  ['a server-only opcode', (c) => c.send({ op: 10, d: null }), 4001],
  ['a heartbeat with a bad d', (c) => c.send({ op: 1, d: 'x' }), 4001],
  [
    'a command before IDENTIFY',
    (c) => c.send({ op: 3, d: { status: 'online', activities: [], afk: false, since: null } }),
    4003,
  ],
  ['IDENTIFY without properties', (c) => c.send({ op: 2, d: { token: TOKEN, intents: 1 } }), 4001],
  ['IDENTIFY with large_threshold 300', (c) => c.identify({ large_threshold: 300 }), 4001],
  ['a bad token', (c) => c.identify({ token: 'nope' }), 4004],
  ['missing intents', (c) => c.identify({ intents: undefined }), 4013],
  ['an undocumented intent bit', (c) => c.identify({ intents: 1 << 17 }), 4013],
  ['shard id >= count', (c) => c.identify({ shard: [2, 2] }), 4010],
  ['a malformed shard', (c) => c.identify({ shard: [0] }), 4010],
];
for (const [what, act, code] of closes) {
  test(`${what} closes with ${code}`, async () => {
    const c = await RawClient.open(emu.gatewayUrl);
    act(c);
    assert.equal((await c.closed).code, code);
  });
}

test('checks run in order: a bad token wins over bad intents and a bad shard', async () => {
  const c = await RawClient.open(emu.gatewayUrl);
  c.identify({ token: 'bad', intents: -1, shard: [9, 1] });
  assert.equal((await c.closed).code, 4004);
  const d = await RawClient.open(emu.gatewayUrl);
  d.identify({ intents: 1 << 17, shard: [9, 1] });
  assert.equal((await d.closed).code, 4013);
});

test('a privileged intent the application lacks closes with 4014', async () => {
  const strict = await startEmulator({ allowedIntents: 256 });
  const ok = await RawClient.open(strict.gatewayUrl);
  await ok.ready({ intents: 256 | 1 });
  const c = await RawClient.open(strict.gatewayUrl);
  c.identify({ intents: 2 | 1 });
  assert.equal((await c.closed).code, 4014);
  ok.close();
  await strict.close();
});

test('more than 2500 guilds on one shard closes with 4011; enough shards fix it', async () => {
  const big = await startEmulator({ guilds: 2501 });
  const c = await RawClient.open(big.gatewayUrl);
  c.identify({ shard: [0, 1], intents: 0 });
  assert.equal((await c.closed).code, 4011);
  const d = await RawClient.open(big.gatewayUrl);
  const ready = await d.ready({ shard: [0, 2], intents: 0 });
  assert.ok((ready.d.guilds as unknown[]).length <= 2500);
  d.close();
  await big.close();
});

test('large-bot sharding: a count that is not a multiple closes with 4010', async () => {
  const large = await startEmulator({ shardMultiple: 4 });
  const c = await RawClient.open(large.gatewayUrl);
  c.identify({ shard: [0, 6] });
  assert.equal((await c.closed).code, 4010);
  const d = await RawClient.open(large.gatewayUrl);
  await d.ready({ shard: [0, 8] });
  d.close();
  await large.close();
});

test('a second IDENTIFY or a RESUME on an identified connection closes with 4005', async () => {
  const c = await RawClient.open(emu.gatewayUrl);
  await c.ready();
  c.identify();
  assert.equal((await c.closed).code, 4005);
  const d = await RawClient.open(emu.gatewayUrl);
  const ready = await d.ready();
  d.send({ op: 6, d: { token: TOKEN, session_id: ready.d.session_id, seq: 1 } });
  assert.equal((await d.closed).code, 4005);
});

test('v other than 9/10 closes with 4012, encoding other than json and unknown compress with 4002', async () => {
  for (const [query, code] of [
    [{ v: '8', encoding: 'json' }, 4012],
    [{ encoding: 'json' }, 4012],
    [{ v: '10', encoding: 'etf' }, 4002],
    [{ v: '10', encoding: 'json', compress: 'gzip' }, 4002],
  ] as const) {
    const c = await RawClient.open(emu.gatewayUrl, { ...query });
    assert.equal((await c.closed).code, code, JSON.stringify(query));
  }
});

test('READY: s = 1, a 32-hex session id, a resume URL distinct from the bootstrap URL, the shard, unavailable guilds', async () => {
  const c = await RawClient.open(emu.gatewayUrl);
  const ready = await c.ready({ shard: [1, 3] });
  assert.equal(ready.s, 1);
  assert.match(ready.d.session_id, /^[0-9a-f]{32}$/);
  assert.notEqual(ready.d.resume_gateway_url, emu.gatewayUrl);
  assert.ok(!ready.d.resume_gateway_url.endsWith('/'), 'no trailing slash, as Discord sends it');
  assert.deepEqual(ready.d.shard, [1, 3]);
  assert.equal(ready.d.v, 10);
  assert.equal(ready.d.user.id, emu.world.botUser.id);
  const expected = emu.world.guildIds().filter((g) => shardForGuild(g, 3) === 1);
  assert.deepEqual(
    ready.d.guilds,
    expected.map((id) => ({ id, unavailable: true })),
  );
  const creates = c.dispatches('GUILD_CREATE');
  assert.deepEqual(
    creates.map((m) => m.d.id),
    expected,
  );
  assert.deepEqual(
    creates.map((m) => m.s),
    expected.map((_, i) => i + 2),
    'sequence numbers follow READY',
  );
  c.close();
});

test('without shard in IDENTIFY, READY has no shard field and the session gets every guild', async () => {
  const c = await RawClient.open(emu.gatewayUrl);
  const ready = await c.ready();
  assert.equal(ready.d.shard, undefined);
  assert.equal(ready.d.guilds.length, emu.world.guildIds().length);
  c.close();
});

test('guild events go to the owning shard only; events without a guild go to shard 0 only', async () => {
  const clients = await Promise.all([0, 1].map(() => RawClient.open(emu.gatewayUrl)));
  await clients[0]!.ready({ shard: [0, 2] });
  await clients[1]!.ready({ shard: [1, 2] });
  const guild = emu.world.guildIds().find((g) => shardForGuild(g, 2) === 1)!;
  assert.ok(emu.dispatch('GUILD_UPDATE', { id: guild, name: 'x' }, { guildId: guild }) >= 1);
  emu.dispatch('USER_UPDATE', { id: emu.world.botUser.id, username: 'renamed' }, { guildId: null });
  // A marker sent after both events: once it arrives, anything routed earlier has arrived too.
  for (const shard of [0, 1]) emu.dispatch('MARKER', {}, { shard });
  for (const c of clients) await c.next((m) => m.t === 'MARKER');
  assert.equal(clients[1]!.dispatches('GUILD_UPDATE').length, 1);
  assert.equal(clients[0]!.dispatches('USER_UPDATE').length, 1);
  assert.equal(clients[0]!.dispatches('GUILD_UPDATE').length, 0);
  assert.equal(clients[1]!.dispatches('USER_UPDATE').length, 0);
  for (const c of clients) c.close();
});

test('one IDENTIFY per bucket per window: a second in the same bucket gets op 9 false, another bucket passes', async () => {
  const limited = await startEmulator({ maxConcurrency: 2, identifyInterval: 60_000 });
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => RawClient.open(limited.gatewayUrl)));
  await a!.ready({ shard: [0, 4] });
  await b!.ready({ shard: [1, 4] });
  const before = limited.counters;
  c!.identify({ shard: [2, 4] });
  const nine = await c!.next((m) => m.op === 9);
  assert.equal(nine.d, false);
  assert.equal(limited.counters.identifyRateLimited, before.identifyRateLimited + 1);
  assert.equal(c!.ws.readyState, c!.ws.OPEN, 'the socket stays open after the op 9');
  for (const x of [a, b, c]) x!.close();
  await limited.close();
});

test('the 121st message in 60 s closes with 4008, heartbeats included', async () => {
  const c = await RawClient.open(emu.gatewayUrl);
  const before = emu.counters;
  for (let i = 0; i < 120; i++) c.send({ op: 1, d: null });
  await c.next(() => c.messages.filter((m) => m.op === 11).length === 120);
  assert.equal(c.ws.readyState, c.ws.OPEN);
  c.send({ op: 1, d: null });
  assert.equal((await c.closed).code, 4008);
  assert.equal(emu.counters.rateLimited, before.rateLimited + 1);
});

test('a client that stops heartbeating is closed with 4000 and its session stays resumable', async () => {
  const fast = await startEmulator({ heartbeatInterval: 100 });
  const c = await RawClient.open(fast.gatewayUrl);
  const ready = await c.ready();
  assert.equal((await c.closed).code, 4000);
  assert.equal(fast.counters.heartbeatTimeouts, 1);
  const r = await RawClient.open(fast.resumeUrl);
  r.send({ op: 6, d: { token: TOKEN, session_id: ready.d.session_id, seq: c.messages.at(-1)!.s } });
  await r.next((m) => m.t === 'RESUMED');
  r.close();
  await fast.close();
});
