/**
 * Sessions on the wire: sequence numbers across connections, RESUME replay, the failure answers
 * (op 9 false, 4007), what client close codes do to a session, intent gating and content scrubbing,
 * and the answers to client commands.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { type Emulator, SeededWorld } from '../../src/emulator/index.js';
import { shardForGuild } from '../../src/protocol/snowflake.js';
import { type Payload, RawClient, startEmulator, TOKEN } from './raw-client.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ guilds: 4, members: [1500, 2400] });
});
after(() => emu.close());

const resume = (c: RawClient, sessionId: string, seq: number) =>
  c.send({ op: 6, d: { token: TOKEN, session_id: sessionId, seq } });

async function identified(intents = 53608447): Promise<{ c: RawClient; id: string }> {
  const c = await RawClient.open(emu.gatewayUrl);
  const ready = await c.ready({ intents });
  return { c, id: ready.d.session_id };
}

test('RESUME replays everything after seq in order with original numbers, then RESUMED with the next one', async () => {
  const { c, id } = await identified();
  await emu.burst(id, 50);
  await c.next(() => c.dispatches().length === emu.session(id)!.seq);
  const lastSeen = c.dispatches().at(-1)!.s!;
  c.ws.terminate();
  await c.closed;
  await emu.burst(id, 30); // happens while nobody is connected
  const before = emu.counters;
  const r = await RawClient.open(emu.resumeUrl);
  resume(r, id, lastSeen - 5); // the client may have lost a few it had not processed
  const resumed = await r.next((m) => m.t === 'RESUMED');
  const replay = r.dispatches().filter((m) => m.t !== 'RESUMED');
  assert.deepEqual(
    replay.map((m) => m.s),
    Array.from({ length: 35 }, (_, i) => lastSeen - 4 + i),
  );
  assert.equal(resumed.s, lastSeen + 31);
  assert.equal(emu.counters.resumes, before.resumes + 1);
  assert.equal(emu.counters.resumesOffResumeUrl, before.resumesOffResumeUrl);
  const log = emu.session(id)!.log();
  assert.deepEqual(log.at(-1), { seq: resumed.s, t: 'RESUMED' });
  // Live again.
  emu.dispatch('MARKER', {}, { session: id });
  assert.equal((await r.next((m) => m.t === 'MARKER')).s, resumed.s! + 1);
  r.close();
});

test('a RESUME on the bootstrap URL works but is counted', async () => {
  const { c, id } = await identified();
  c.ws.terminate();
  const before = emu.counters;
  const r = await RawClient.open(emu.gatewayUrl);
  resume(r, id, 1);
  await r.next((m) => m.t === 'RESUMED');
  assert.equal(emu.counters.resumesOffResumeUrl, before.resumesOffResumeUrl + 1);
  r.close();
});

test('RESUME with a seq ahead of the session closes with 4007 and ends the session', async () => {
  const { c, id } = await identified();
  c.ws.terminate();
  const r = await RawClient.open(emu.resumeUrl);
  resume(r, id, emu.session(id)!.seq + 10);
  assert.equal((await r.closed).code, 4007);
  assert.equal(emu.session(id)!.ended, 'invalidated');
});

test('RESUME older than the replay buffer closes with 4007', async () => {
  const small = await startEmulator({ replayBuffer: 10 });
  const c = await RawClient.open(small.gatewayUrl);
  const id = (await c.ready()).d.session_id;
  c.ws.terminate();
  await small.burst(id, 100);
  const r = await RawClient.open(small.resumeUrl);
  resume(r, id, 2);
  assert.equal((await r.closed).code, 4007);
  await small.close();
});

test('RESUME of an unknown session gets op 9 false and the socket stays open for an IDENTIFY', async () => {
  const r = await RawClient.open(emu.resumeUrl);
  resume(r, '0123456789abcdef0123456789abcdef', 1);
  assert.equal((await r.next((m) => m.op === 9)).d, false);
  await r.ready();
  r.close();
});

test('RESUME with a wrong token closes with 4004', async () => {
  const { c, id } = await identified();
  c.ws.terminate();
  const r = await RawClient.open(emu.resumeUrl);
  r.send({ op: 6, d: { token: 'wrong', session_id: id, seq: 1 } });
  assert.equal((await r.closed).code, 4004);
});

test('a client close with 1000 or 1001 destroys the session; 4000 keeps it', async () => {
  for (const [code, resumable] of [
    [1000, false],
    [1001, false],
    [4000, true],
    [4900, true],
  ] as const) {
    const { c, id } = await identified();
    c.close(code);
    await c.closed;
    const r = await RawClient.open(emu.resumeUrl);
    resume(r, id, 1);
    const answer = await r.next((m) => m.op === 9 || m.t === 'RESUMED');
    assert.equal(answer.t === 'RESUMED', resumable, `close ${code}`);
    r.close();
  }
});

test('a detached session expires after the resume timeout', async () => {
  const short = await startEmulator({ resumeTimeout: 50 });
  const c = await RawClient.open(short.gatewayUrl);
  const id = (await c.ready()).d.session_id;
  c.ws.terminate();
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(short.session(id)!.ended, 'expired');
  const r = await RawClient.open(short.resumeUrl);
  resume(r, id, 1);
  assert.equal((await r.next((m) => m.op === 9)).d, false);
  await short.close();
});

test('intents gate events: no MESSAGE_CREATE without GUILD_MESSAGES, no PRESENCE_UPDATE without GUILD_PRESENCES', async () => {
  const { c: all, id: allId } = await identified();
  const { c: none, id: noneId } = await identified(1);
  const guild = emu.world.guildIds()[0]!;
  const channel = emu.world.textChannelIds!(guild)[0]!;
  emu.dispatch('MESSAGE_CREATE', emu.world.userMessage(channel, 'hi')!.d);
  emu.dispatch('PRESENCE_UPDATE', {
    user: { id: '1' },
    guild_id: guild,
    status: 'online',
    activities: [],
    client_status: {},
  });
  for (const id of [allId, noneId]) emu.dispatch('MARKER', {}, { session: id });
  await all.next((m) => m.t === 'MARKER');
  await none.next((m) => m.t === 'MARKER');
  assert.equal(all.dispatches('MESSAGE_CREATE').length, 1);
  assert.equal(all.dispatches('PRESENCE_UPDATE').length, 1);
  assert.equal(none.dispatches('MESSAGE_CREATE').length, 0);
  assert.equal(none.dispatches('PRESENCE_UPDATE').length, 0);
  all.close();
  none.close();
});

test('without MESSAGE_CONTENT, content fields are empty unless the bot is mentioned', async () => {
  const { c, id } = await identified(53608447 & ~32768);
  const guild = emu.world.guildIds()[0]!;
  const channel = emu.world.textChannelIds!(guild)[0]!;
  emu.dispatch('MESSAGE_CREATE', emu.world.userMessage(channel, 'secret')!.d);
  const mention = emu.world.userMessage(channel, `hey <@${emu.world.botUser.id}>`)!.d as Record<
    string,
    unknown
  >;
  emu.dispatch('MESSAGE_CREATE', { ...mention, mentions: [emu.world.botUser] });
  emu.dispatch('MARKER', {}, { session: id });
  await c.next((m) => m.t === 'MARKER');
  const [plain, mentioned] = c.dispatches('MESSAGE_CREATE') as [Payload, Payload];
  assert.equal(plain.d.content, '');
  assert.deepEqual([plain.d.embeds, plain.d.attachments, plain.d.components], [[], [], []]);
  assert.match(mentioned.d.content, /hey/);
  c.close();
});

test('request guild members: chunks of at most 1000 with index, count and nonce; a repeat within 30 s is RATE_LIMITED', async () => {
  const { c } = await identified();
  const guild = emu.world.guildIds()[1]!;
  c.send({ op: 8, d: { guild_id: guild, query: '', limit: 0, nonce: 'n-1' } });
  const total = emu.world.memberIds!(guild).length;
  const chunks = Math.ceil(total / 1000);
  await c.next(() => c.dispatches('GUILD_MEMBERS_CHUNK').length === chunks);
  const got = c.dispatches('GUILD_MEMBERS_CHUNK');
  assert.deepEqual(
    got.map((m) => m.d.chunk_index),
    [...Array(chunks).keys()],
  );
  assert.ok(
    got.every((m) => m.d.chunk_count === chunks && m.d.nonce === 'n-1' && m.d.members.length <= 1000),
  );
  assert.equal(
    got.reduce((n, m) => n + m.d.members.length, 0),
    total,
  );
  c.send({ op: 8, d: { guild_id: guild, query: '', limit: 0, nonce: 'n-2' } });
  const limited = await c.next((m) => m.t === 'RATE_LIMITED');
  assert.equal(limited.d.opcode, 8);
  assert.ok(limited.d.retry_after > 0 && limited.d.retry_after <= 30);
  assert.deepEqual(limited.d.meta, { guild_id: guild, nonce: 'n-2' });
  c.send({ op: 8, d: { guild_id: guild, user_ids: ['123123'], nonce: 'n-3' } });
  const byId = await c.next((m) => m.t === 'GUILD_MEMBERS_CHUNK' && m.d.nonce === 'n-3');
  assert.deepEqual(byId.d.not_found, [123123]);
  c.close();
});

test('presence, voice state, soundboard and channel info commands are answered', async () => {
  const { c } = await identified();
  const { c: other } = await identified();
  const guild = emu.world.guildIds()[0]!;
  c.send({ op: 3, d: { since: null, activities: [{ name: 'tests', type: 0 }], status: 'dnd', afk: false } });
  const presence = await other.next((m) => m.t === 'PRESENCE_UPDATE' && m.d.user.id === emu.world.botUser.id);
  assert.equal(presence.d.status, 'dnd');
  const voice = emu.world.voiceChannelIds!(guild).find(() => true);
  if (voice) {
    c.send({ op: 4, d: { guild_id: guild, channel_id: voice, self_mute: false, self_deaf: true } });
    await c.next((m) => m.t === 'VOICE_STATE_UPDATE');
    const server = await c.next((m) => m.t === 'VOICE_SERVER_UPDATE');
    assert.equal(server.d.guild_id, guild);
  }
  c.send({ op: 31, d: { guild_ids: emu.world.guildIds().slice(0, 2) } });
  await c.next(() => c.dispatches('SOUNDBOARD_SOUNDS').length === 2);
  c.send({ op: 43, d: { guild_id: guild, fields: ['status', 'voice_start_time'] } });
  assert.equal((await c.next((m) => m.t === 'CHANNEL_INFO')).d.guild_id, guild);
  c.close();
  other.close();
});

test('malformed commands close with 4001: member request for several guilds, bad voice state', async () => {
  for (const bad of [
    { op: 8, d: { guild_id: ['1', '2'], query: '', limit: 0 } },
    { op: 8, d: { guild_id: '1' } },
    { op: 4, d: { guild_id: 'x', channel_id: null } },
    { op: 43, d: { guild_id: '1', fields: ['topic'] } },
  ]) {
    const { c } = await identified();
    c.send(bad);
    assert.equal((await c.closed).code, 4001, JSON.stringify(bad));
  }
});

test('a RESUME without seq is a malformed payload (4001), not a resume from the start', async () => {
  const { c, id } = await identified();
  c.close(4000);
  await c.closed;
  const r = await RawClient.open(emu.resumeUrl);
  r.send({ op: 6, d: { token: TOKEN, session_id: id } });
  assert.equal((await r.closed).code, 4001);
});

test('resume_gateway_url with a trailing slash before the query is accepted', async () => {
  const c = await RawClient.open(emu.gatewayUrl);
  const ready = await c.ready();
  c.close(4000);
  await c.closed;
  const r = await RawClient.open(`${ready.d.resume_gateway_url}/`);
  resume(r, ready.d.session_id, ready.s!);
  await r.next((m) => m.t === 'RESUMED');
  r.close();
});

test('a text frame of compressed bytes, or of JSON with bytes that are not UTF-8, closes with 4002', async () => {
  const c = await RawClient.open(emu.gatewayUrl);
  c.ws.send(deflateSync(Buffer.from('{"op":1,"d":null}')), { binary: false });
  assert.equal((await c.closed).code, 4002);
  const d = await RawClient.open(emu.gatewayUrl);
  d.ws.send(
    Buffer.concat([Buffer.from('{"op":1,"d":null,"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
    {
      binary: false,
    },
  );
  assert.equal((await d.closed).code, 4002);
});

test('events gated by a permission reach only a bot that has it; auto moderation content is scrubbed', async () => {
  const guild = emu.world.guildIds()[0]!;
  const channel = emu.world.textChannelIds!(guild)[0]!;
  const gated: [string, object][] = [
    ['INVITE_CREATE', { channel_id: channel, code: 'x', guild_id: guild, uses: 0 }],
    ['GUILD_BAN_ADD', { guild_id: guild, user: { id: '595661007356035079' } }],
    ['GUILD_AUDIT_LOG_ENTRY_CREATE', { guild_id: guild, id: '1', action_type: 1 }],
    [
      'AUTO_MODERATION_ACTION_EXECUTION',
      {
        guild_id: guild,
        action: { type: 1, metadata: {} },
        rule_id: '1303327958630531079',
        rule_trigger_type: 1,
        user_id: '595661007356035079',
        content: 'a bad word here',
        matched_keyword: 'bad',
        matched_content: 'bad',
      },
    ],
  ];
  /** What a bot with every intent but MESSAGE_CONTENT receives of `gated` on `gateway`. */
  const received = async (gateway: Emulator) => {
    const c = await RawClient.open(gateway.gatewayUrl);
    const ready = await c.ready({ intents: 53608447 & ~32768 });
    for (const [t, d] of gated) gateway.dispatch(t, d);
    gateway.dispatch('MARKER', {}, { session: ready.d.session_id });
    await c.next((m) => m.t === 'MARKER');
    c.close();
    return c.dispatches().filter((m) => gated.some(([t]) => t === m.t));
  };
  // The seeded bot's role has none of MANAGE_CHANNELS, BAN_MEMBERS, VIEW_AUDIT_LOG, MANAGE_GUILD.
  assert.deepEqual(await received(emu), []);
  const world = new SeededWorld({ guilds: 4, members: [1500, 2400] });
  world.botPermissions = () => 1n << 3n; // ADMINISTRATOR
  const admin = await startEmulator({ world });
  const got = await received(admin);
  assert.deepEqual(
    got.map((m) => m.t),
    gated.map(([t]) => t),
  );
  const automod = got.at(-1)!.d;
  assert.deepEqual([automod.content, automod.matched_content, automod.matched_keyword], ['', '', 'bad']);
  await admin.close();
});

test('THREAD_MEMBERS_UPDATE with GUILDS alone only when the bot itself joins or leaves', async () => {
  const { c, id } = await identified(1);
  const guild = emu.world.guildIds()[0]!;
  const [, other] = emu.world.memberIds!(guild);
  const update = (userId: string) => ({
    id: '1378760532680638471',
    guild_id: guild,
    member_count: 2,
    added_members: [
      {
        id: '1378760532680638471',
        user_id: userId,
        join_timestamp: '2025-06-01T15:42:07.123000+00:00',
        flags: 0,
      },
    ],
  });
  emu.dispatch('THREAD_MEMBERS_UPDATE', update(other!));
  emu.dispatch('THREAD_MEMBERS_UPDATE', update(emu.world.botUser.id));
  emu.dispatch('MARKER', {}, { session: id });
  await c.next((m) => m.t === 'MARKER');
  const got = c.dispatches('THREAD_MEMBERS_UPDATE');
  assert.deepEqual(
    got.map((e) => e.d.added_members[0].user_id),
    [emu.world.botUser.id],
  );
  c.close();
});

test('entitlement events go to shard 0 only, even when they name a guild', async () => {
  const s0 = await RawClient.open(emu.gatewayUrl);
  const s1 = await RawClient.open(emu.gatewayUrl);
  await s0.ready({ shard: [0, 2] });
  await s1.ready({ shard: [1, 2] });
  const guild = emu.world.guildIds().find((g) => shardForGuild(g, 2) === 1)!;
  emu.dispatch('ENTITLEMENT_CREATE', {
    id: '1378760532680638471',
    sku_id: '1303327958630531079',
    application_id: emu.world.application.id,
    user_id: '595661007356035079',
    guild_id: guild,
    type: 8,
    deleted: false,
  });
  for (const shard of [0, 1]) emu.dispatch('MARKER', {}, { shard });
  for (const c of [s0, s1]) await c.next((m) => m.t === 'MARKER');
  assert.deepEqual(
    [s0.dispatches('ENTITLEMENT_CREATE').length, s1.dispatches('ENTITLEMENT_CREATE').length],
    [1, 0],
  );
  s0.close();
  s1.close();
});

test('running out of session starts ends detached sessions too: none can be resumed', async () => {
  const tight = await startEmulator({ sessionStartLimit: { total: 1 } });
  const a = await RawClient.open(tight.gatewayUrl);
  const ready = await a.ready();
  a.close(4000);
  await a.closed;
  const b = await RawClient.open(tight.gatewayUrl);
  b.identify();
  assert.equal((await b.closed).code, 4004);
  const r = await RawClient.open(tight.resumeUrl);
  r.send({ op: 6, d: { token: tight.token, session_id: ready.d.session_id, seq: 1 } });
  const answer = await r.next((m) => m.op === 9 || m.t === 'RESUMED');
  assert.deepEqual([answer.op, answer.d], [9, false]);
  r.close();
  await tight.close();
});

test("IDENTIFY's presence is the bot's presence in the guilds that follow", async () => {
  const a = await RawClient.open(emu.gatewayUrl);
  await a.ready({
    presence: { since: null, activities: [{ name: 'tests', type: 0 }], status: 'dnd', afk: false },
  });
  const b = await RawClient.open(emu.gatewayUrl);
  await b.ready();
  await b.next(() => b.dispatches('GUILD_CREATE').length > 0);
  const mine = b
    .dispatches('GUILD_CREATE')[0]!
    .d.presences.find((p: { user: { id: string } }) => p.user.id === emu.world.botUser.id);
  assert.equal(mine?.status, 'dnd');
  assert.equal(mine?.activities[0]?.name, 'tests');
  // Back to what the other tests expect.
  b.send({ op: 3, d: { since: null, activities: [], status: 'online', afk: false } });
  a.close();
  b.close();
});
