/**
 * Tests for the seeded world: determinism, laziness, GUILD_CREATE filtering (§4.4), traffic shapes
 * and routing, MESSAGE_CONTENT scrubbing (§10.2), and the command answers (op 8 chunking, limits and
 * edge cases; op 4, 31, 43), plus the REST message hooks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayIntentBits } from '../protocol/intents.js';
import { isSnowflake, shardForGuild, snowflakeTimestamp } from '../protocol/snowflake.js';
import { Random } from './random.js';
import { DEFAULT_TRAFFIC_MIX, SeededWorld } from './world.js';
import type { SessionView, WorldDispatch } from './world-types.js';

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
const ALL = 53608447;
const NO_CONTENT = ALL & ~GatewayIntentBits.MessageContent;
const NO_PRESENCES = ALL & ~GatewayIntentBits.GuildPresences;
const NO_MEMBERS = ALL & ~GatewayIntentBits.GuildMembers;

type Obj = Record<string, unknown>;

function view(intents = ALL, largeThreshold = 50, shardId = 0, shardCount = 1): SessionView {
  return { sessionId: '0123456789abcdef0123456789abcdef', shardId, shardCount, intents, largeThreshold };
}

function world(options: ConstructorParameters<typeof SeededWorld>[0] = {}): SeededWorld {
  return new SeededWorld({ seed: 7, now: () => NOW, ...options });
}

function first(guilds: SeededWorld): string {
  return guilds.guildIds()[0] as string;
}

function ids(list: unknown): string[] {
  return (list as Obj[]).map((m) => ((m.user as Obj | undefined)?.id ?? m.id) as string);
}

describe('Random', () => {
  it('is deterministic per seed and forks independently of draws', () => {
    const a = new Random(5);
    const b = new Random(5);
    const seqA = Array.from({ length: 20 }, () => a.next());
    assert.deepEqual(
      seqA,
      Array.from({ length: 20 }, () => b.next()),
    );
    assert.notDeepEqual(
      seqA,
      Array.from({ length: 20 }, () => new Random(6).next()),
    );
    const fresh = new Random(5).fork('guild:1').next();
    assert.equal(a.fork('guild:1').next(), fresh);
    assert.notEqual(a.fork('guild:2').next(), fresh);
    for (let i = 0; i < 1000; i++) {
      const n = a.int(3, 5);
      assert.ok(n >= 3 && n <= 5 && Number.isInteger(n));
      const x = a.next();
      assert.ok(x >= 0 && x < 1);
    }
    assert.match(a.hex(32), /^[0-9a-f]{32}$/);
    assert.throws(() => a.pick([]), RangeError);
  });
});

describe('SeededWorld: determinism and laziness', () => {
  it('same seed gives the same guilds, GUILD_CREATEs and traffic', () => {
    const a = world();
    const b = world();
    assert.deepEqual(a.guildIds(), b.guildIds());
    for (const id of a.guildIds()) assert.deepEqual(a.guildCreate(id, view()), b.guildCreate(id, view()));
    const ea = Array.from({ length: 200 }, () => a.nextEvent());
    const eb = Array.from({ length: 200 }, () => b.nextEvent());
    assert.deepEqual(ea, eb);
    assert.deepEqual(a.botUser, b.botUser);
  });

  it('different seeds give different worlds', () => {
    const a = world({ seed: 1 });
    const b = world({ seed: 2 });
    assert.notDeepEqual(a.guildIds(), b.guildIds());
    assert.notDeepEqual(
      Array.from({ length: 20 }, () => a.nextEvent().d),
      Array.from({ length: 20 }, () => b.nextEvent().d),
    );
  });

  it("a guild's contents do not depend on the traffic generated before it was built", () => {
    const a = world();
    const b = world();
    for (let i = 0; i < 500; i++) b.nextEvent({ TYPING_START: 1 });
    const last = a.guildIds().at(-1) as string;
    // TYPING_START changes nothing, so the guild must look identical.
    assert.deepEqual(a.guildCreate(last, view()), b.guildCreate(last, view()));
  });

  it('builds a 3000-guild world with valid, plausible, unique guild ids', () => {
    const w = world({ guilds: 3000 });
    const list = w.guildIds();
    assert.equal(list.length, 3000);
    assert.equal(new Set(list).size, 3000);
    for (const id of list) {
      assert.ok(isSnowflake(id));
      const year = new Date(snowflakeTimestamp(id)).getUTCFullYear();
      assert.ok(year >= 2016 && year <= 2024, `year ${year}`);
    }
    assert.equal(w.guildIds(), list, 'stable');
    const g = w.guildCreate(list[2999] as string, view());
    assert.equal(g.id, list[2999]);
    const shards = [0, 1, 2, 3].map((s) => w.guildIdsForShard(s, 4));
    assert.equal(shards.flat().length, 3000);
    for (const [s, owned] of shards.entries()) for (const id of owned) assert.equal(shardForGuild(id, 4), s);
  });
});

describe('SeededWorld: GUILD_CREATE', () => {
  it('has the §12.3 shape', () => {
    const w = world();
    const id = first(w);
    const g = w.guildCreate(id, view(ALL, 250));
    for (const key of [
      'id',
      'name',
      'owner_id',
      'roles',
      'emojis',
      'stickers',
      'features',
      'joined_at',
      'large',
      'unavailable',
      'member_count',
      'voice_states',
      'members',
      'channels',
      'threads',
      'presences',
      'stage_instances',
      'guild_scheduled_events',
      'soundboard_sounds',
      'system_channel_id',
      'preferred_locale',
    ]) {
      assert.ok(key in g, `missing ${key}`);
    }
    assert.equal(g.unavailable, false);
    const roles = g.roles as Obj[];
    assert.equal(roles[0]?.id, id);
    assert.equal(roles[0]?.name, '@everyone');
    for (const c of g.channels as Obj[]) {
      assert.equal(c.guild_id, id);
      assert.ok(c.type === 0 || c.type === 2);
      assert.ok(isSnowflake(c.id));
    }
    assert.ok(ids(g.members).includes(w.botUser.id), 'bot is a member');
    for (const p of g.presences as Obj[]) assert.ok(!('guild_id' in p));
    for (const v of g.voice_states as Obj[]) assert.ok(!('guild_id' in v));
    assert.match(g.joined_at as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
    assert.equal(g.member_count, w.memberCount(id));
  });

  it('returns a fresh object each time', () => {
    const w = world();
    const id = first(w);
    const a = w.guildCreate(id, view());
    (a.members as unknown[]).length = 0;
    a.name = 'mutated';
    const b = w.guildCreate(id, view());
    assert.notEqual(b.name, 'mutated');
    assert.ok((b.members as unknown[]).length > 0);
  });

  it('small guild: all members', () => {
    const w = world({ members: [30, 40] });
    const id = first(w);
    const g = w.guildCreate(id, view(ALL, 50));
    assert.equal(g.large, false);
    assert.equal((g.members as unknown[]).length, g.member_count);
    for (const p of g.presences as Obj[]) assert.notEqual(p.status, 'offline');
  });

  it('large guild over the threshold: only online, role, nick or voice members', () => {
    const w = world({ members: [400, 400], onlineFraction: 0.2 });
    const id = first(w);
    const g = w.guildCreate(id, view(ALL, 250));
    assert.equal(g.member_count, 400);
    assert.equal(g.large, true);
    const members = g.members as Obj[];
    assert.ok(members.length < 400 && members.length > 0);
    const online = new Set((g.presences as Obj[]).map((p) => (p.user as Obj).id));
    const inVoice = new Set((g.voice_states as Obj[]).map((v) => v.user_id));
    for (const p of g.presences as Obj[]) assert.notEqual(p.status, 'offline');
    for (const m of members) {
      const uid = (m.user as Obj).id;
      assert.ok(
        online.has(uid) || (m.roles as unknown[]).length > 0 || m.nick !== null || inVoice.has(uid),
        `member ${String(uid)} should not be listed`,
      );
    }
    // The same guild under a higher threshold is not large and lists everyone.
    const small = w.guildCreate(id, view(ALL, 250 * 2));
    assert.equal(small.large, false);
    assert.equal((small.members as unknown[]).length, 400);
  });

  it('without GUILD_PRESENCES: only the bot and members in voice', () => {
    const w = world({ members: [150, 150], onlineFraction: 0.9 });
    for (const id of w.guildIds()) {
      const g = w.guildCreate(id, view(NO_PRESENCES, 250));
      const expected = new Set([w.botUser.id, ...(g.voice_states as Obj[]).map((v) => v.user_id as string)]);
      assert.deepEqual(new Set(ids(g.members)), expected);
      assert.equal(g.member_count, 150);
    }
  });
});

describe('SeededWorld: traffic', () => {
  it('every guild event routes to a known guild and carries valid snowflakes', () => {
    const w = world({ guilds: 20 });
    const known = new Set(w.guildIds());
    const seen = new Set<string>();
    let lastId = 0n;
    for (let i = 0; i < 3000; i++) {
      const e = w.nextEvent();
      seen.add(e.t);
      const d = e.d as Obj;
      if (e.guildId === null) {
        assert.equal(e.t, 'MESSAGE_CREATE');
        assert.ok(!('guild_id' in d));
        assert.ok(w.dmChannelIds().includes(d.channel_id as string));
      } else {
        assert.ok(known.has(e.guildId));
        assert.equal(d.guild_id, e.guildId, `${e.t} guild_id`);
      }
      for (const key of ['id', 'channel_id', 'user_id', 'message_id']) {
        // Leaving voice is the one place an id is legitimately null.
        const nullable = e.t === 'VOICE_STATE_UPDATE' && key === 'channel_id';
        if (key in d && !(nullable && d[key] === null))
          assert.ok(isSnowflake(d[key]), `${e.t}.${key} = ${String(d[key])}`);
      }
      if (e.t === 'MESSAGE_CREATE') {
        const id = BigInt(d.id as string);
        assert.ok(id > lastId, 'fresh message ids increase');
        lastId = id;
        assert.ok(isSnowflake((d.author as Obj).id));
        assert.equal(typeof d.timestamp, 'string');
        if (e.guildId !== null) assert.ok(d.member && !('user' in (d.member as Obj)));
      }
      if (e.t === 'TYPING_START') assert.equal(d.timestamp, Math.floor(NOW / 1000));
      if (e.t === 'PRESENCE_UPDATE') assert.ok(isSnowflake((d.user as Obj).id));
    }
    for (const t of [
      'MESSAGE_CREATE',
      'PRESENCE_UPDATE',
      'TYPING_START',
      'MESSAGE_UPDATE',
      'MESSAGE_DELETE',
      'MESSAGE_REACTION_ADD',
      'GUILD_MEMBER_ADD',
      'GUILD_MEMBER_REMOVE',
      'GUILD_MEMBER_UPDATE',
      'INTERACTION_CREATE',
      'VOICE_STATE_UPDATE',
      'CHANNEL_UPDATE',
    ]) {
      assert.ok(seen.has(t), `never saw ${t}`);
    }
  });

  it('a one-name mix yields only that event; unknown names throw', () => {
    const w = world();
    for (let i = 0; i < 300; i++) assert.equal(w.nextEvent({ TYPING_START: 1 }).t, 'TYPING_START');
    assert.throws(() => w.nextEvent({ NOT_AN_EVENT: 1 }), /NOT_AN_EVENT.*supported: .*MESSAGE_CREATE/);
    assert.throws(() => w.nextEvent({ TYPING_START: 0 }), /no positive weight/);
    const dm = w.nextEvent({ DM_MESSAGE_CREATE: 1 });
    assert.equal(dm.t, 'MESSAGE_CREATE');
    assert.equal(dm.guildId, null);
  });

  it('roughly follows the default weights', () => {
    const w = world();
    const counts: Record<string, number> = {};
    for (let i = 0; i < 20000; i++) {
      const e = w.nextEvent();
      counts[e.t] = (counts[e.t] ?? 0) + 1;
    }
    const total = Object.values(DEFAULT_TRAFFIC_MIX).reduce((a, b) => a + b, 0);
    const share = (counts.TYPING_START ?? 0) / 20000;
    assert.ok(Math.abs(share - 15 / total) < 0.02, `TYPING_START share ${share}`);
  });

  it('member add and remove change the member list and count', () => {
    const w = world({ guilds: 1, members: [20, 20] });
    const id = first(w);
    const added = w.nextEvent({ GUILD_MEMBER_ADD: 1 });
    assert.equal(w.memberCount(id), 21);
    const newId = (added.d as Obj).user as Obj;
    assert.ok(w.memberIds(id).includes(newId.id as string));
    const removed = w.nextEvent({ GUILD_MEMBER_REMOVE: 1 });
    assert.equal(w.memberCount(id), 20);
    const gone = ((removed.d as Obj).user as Obj).id as string;
    assert.ok(!w.memberIds(id).includes(gone));
    assert.notEqual(gone, w.botUser.id);
    assert.equal(w.guildCreate(id, view(ALL, 250)).member_count, 20);
  });
});

describe('SeededWorld: scrub', () => {
  const w = world();
  const channel = w.textChannelIds(first(w))[0] as string;
  const other = w.memberIds(first(w)).find((x) => x !== w.botUser.id) as string;

  function rich(content: string, authorId = other): Obj {
    const d = w.userMessage(channel, content, authorId)?.d as Obj;
    return { ...d, embeds: [{ title: 'x' }], attachments: [{ id: '1' }], poll: { question: { text: '?' } } };
  }

  it('empties content fields without MESSAGE_CONTENT, without mutating', () => {
    const d = rich('secret words');
    const snapshot = structuredClone(d);
    const out = w.scrub('MESSAGE_CREATE', d, view(NO_CONTENT)) as Obj;
    assert.deepEqual(d, snapshot);
    assert.notEqual(out, d);
    assert.equal(out.content, '');
    assert.deepEqual(out.embeds, []);
    assert.deepEqual(out.attachments, []);
    assert.deepEqual(out.components, []);
    assert.ok(!('poll' in out));
    assert.equal(out.id, d.id);
    const update = w.scrub('MESSAGE_UPDATE', d, view(NO_CONTENT)) as Obj;
    assert.equal(update.content, '');
  });

  it('leaves the payload alone when it may be seen', () => {
    const d = rich('secret words');
    assert.equal(w.scrub('MESSAGE_CREATE', d, view(ALL)), d, 'intent present');
    assert.equal(w.scrub('TYPING_START', d, view(NO_CONTENT)), d, 'not a message');
    const own = rich('mine', w.botUser.id);
    assert.equal(w.scrub('MESSAGE_CREATE', own, view(NO_CONTENT)), own, "bot's own message");
    const mention = rich(`hello <@${w.botUser.id}>`);
    assert.equal(w.scrub('MESSAGE_CREATE', mention, view(NO_CONTENT)), mention, 'mentions the bot');
    const dm = w.userMessage(w.dmChannelIds()[0] as string, 'private')?.d;
    assert.equal(w.scrub('MESSAGE_CREATE', dm, view(NO_CONTENT)), dm, 'DM');
    const empty: Obj = { ...rich(''), embeds: [], attachments: [] };
    delete empty.poll;
    assert.equal(w.scrub('MESSAGE_CREATE', empty, view(NO_CONTENT)), empty, 'nothing to empty');
  });
});

describe('SeededWorld: request guild members (op 8)', () => {
  const big = () => world({ guilds: 2, members: [2350, 2350] });

  it('chunks a full list into 1000/1000/350 with the nonce on each', () => {
    const w = big();
    const id = first(w);
    const out = w.requestGuildMembers({ guild_id: id, query: '', limit: 0, nonce: 'req-42' }, view(), NOW);
    assert.deepEqual(
      out.map((e) => ((e.d as Obj).members as unknown[]).length),
      [1000, 1000, 350],
    );
    out.forEach((e, i) => {
      const d = e.d as Obj;
      assert.equal(e.t, 'GUILD_MEMBERS_CHUNK');
      assert.equal(e.guildId, id);
      assert.equal(d.guild_id, id);
      assert.equal(d.chunk_index, i);
      assert.equal(d.chunk_count, 3);
      assert.equal(d.nonce, 'req-42');
      assert.ok(!('presences' in d));
    });
    const all = out.flatMap((e) => ids((e.d as Obj).members));
    assert.equal(new Set(all).size, 2350);
  });

  it('limits full lists to one per guild per 30 s', () => {
    const w = big();
    const [a, b] = w.guildIds() as [string, string];
    const req = (guild_id: string, now: number, nonce = 'n') =>
      w.requestGuildMembers({ guild_id, query: '', limit: 0, nonce }, view(), now);
    assert.equal(req(a, NOW).length, 3);
    const limited = req(a, NOW + 2590, 'req-43');
    assert.equal(limited.length, 1);
    assert.equal(limited[0]?.t, 'RATE_LIMITED');
    assert.deepEqual(limited[0]?.d, {
      opcode: 8,
      retry_after: 27.41,
      meta: { guild_id: a, nonce: 'req-43' },
    });
    assert.equal(req(b, NOW + 2600)[0]?.t, 'GUILD_MEMBERS_CHUNK', 'another guild is not limited');
    assert.equal(req(a, NOW + 30_000)[0]?.t, 'GUILD_MEMBERS_CHUNK', 'allowed again after 30 s');
  });

  it('needs GUILD_MEMBERS for a full list, and ignores unknown guilds', () => {
    const w = big();
    assert.deepEqual(
      w.requestGuildMembers({ guild_id: first(w), query: '', limit: 0 }, view(NO_MEMBERS), NOW),
      [],
    );
    assert.deepEqual(
      w.requestGuildMembers({ guild_id: '81384788765712384', query: '', limit: 0 }, view(), NOW),
      [],
    );
  });

  it('user_ids: found members, not_found with integers for tiny ids, presences', () => {
    const w = world({ onlineFraction: 1 });
    const id = first(w);
    const member = w.memberIds(id)[1] as string;
    const missing = '595661007356035079';
    const out = w.requestGuildMembers(
      { guild_id: id, user_ids: [member, '123123', missing], presences: true, nonce: 'x' },
      view(),
      NOW,
    );
    assert.equal(out.length, 1);
    const d = out[0]?.d as Obj;
    assert.deepEqual(ids(d.members), [member]);
    assert.deepEqual(d.not_found, [123123, missing]);
    assert.deepEqual(
      (d.presences as Obj[]).map((p) => (p.user as Obj).id),
      [member],
    );
    const single = w.requestGuildMembers(
      { guild_id: id, user_ids: member, presences: true },
      view(NO_PRESENCES),
      NOW,
    );
    const sd = single[0]?.d as Obj;
    assert.deepEqual(ids(sd.members), [member]);
    assert.ok(!('presences' in sd), 'presences forced off without GUILD_PRESENCES');
    assert.ok(!('not_found' in sd));
  });

  it('drops a nonce over 32 bytes', () => {
    const w = world();
    const out = w.requestGuildMembers(
      { guild_id: first(w), query: '', limit: 5, nonce: 'é'.repeat(17) },
      view(),
      NOW,
    );
    assert.equal(out.length, 1);
    assert.ok(!('nonce' in ((out[0] as WorldDispatch).d as Obj)));
    const ok = w.requestGuildMembers(
      { guild_id: first(w), query: '', limit: 5, nonce: 'a'.repeat(32) },
      view(),
      NOW,
    );
    assert.equal(((ok[0] as WorldDispatch).d as Obj).nonce, 'a'.repeat(32));
  });

  it('prefix queries match usernames and nicks case-insensitively, capped at 100', () => {
    const w = world({ guilds: 1, members: [600, 600] });
    const id = first(w);
    const all = w
      .requestGuildMembers({ guild_id: id, query: '', limit: 0 }, view(), NOW)
      .flatMap((e) => (e.d as Obj).members as Obj[]);
    const sample = all.find((m) => (m.user as Obj).id !== w.botUser.id) as Obj;
    const prefix = ((sample.user as Obj).username as string).slice(0, 3).toUpperCase();
    const out = w.requestGuildMembers({ guild_id: id, query: prefix, limit: 1000 }, view(), NOW);
    const found = ((out[0] as WorldDispatch).d as Obj).members as Obj[];
    assert.ok(found.length > 0 && found.length <= 100);
    for (const m of found) {
      const name = ((m.user as Obj).username as string).toLowerCase();
      const nick = (m.nick as string | null)?.toLowerCase() ?? '';
      assert.ok(name.startsWith(prefix.toLowerCase()) || nick.startsWith(prefix.toLowerCase()));
    }
    const few = w.requestGuildMembers({ guild_id: id, query: '', limit: 3 }, view(), NOW);
    assert.equal((((few[0] as WorldDispatch).d as Obj).members as unknown[]).length, 3);
  });
});

describe('SeededWorld: other commands', () => {
  it('op 4 joins a voice channel with VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE', () => {
    const w = world();
    const id = first(w);
    const channel = w.voiceChannelIds(id).find((c) => {
      const info = w.guildCreate(id, view()).channels as Obj[];
      return (info.find((x) => x.id === c)?.user_limit as number) === 0;
    }) as string;
    const out = w.voiceStateUpdate(
      { guild_id: id, channel_id: channel, self_mute: true, self_deaf: false },
      view(),
    );
    assert.deepEqual(
      out.map((e) => e.t),
      ['VOICE_STATE_UPDATE', 'VOICE_SERVER_UPDATE'],
    );
    const state = out[0]?.d as Obj;
    assert.equal(state.channel_id, channel);
    assert.equal(state.user_id, w.botUser.id);
    assert.equal(state.guild_id, id);
    assert.equal(state.self_mute, true);
    assert.equal(state.session_id, view().sessionId);
    assert.equal(((out[1] as WorldDispatch).d as Obj).guild_id, id);
    const g = w.guildCreate(id, view(NO_PRESENCES, 250));
    assert.ok((g.voice_states as Obj[]).some((v) => v.user_id === w.botUser.id && v.channel_id === channel));
    const leave = w.voiceStateUpdate(
      { guild_id: id, channel_id: null, self_mute: false, self_deaf: false },
      view(),
    );
    assert.deepEqual(
      leave.map((e) => e.t),
      ['VOICE_STATE_UPDATE'],
    );
    assert.equal(((leave[0] as WorldDispatch).d as Obj).channel_id, null);
    assert.deepEqual(
      w.voiceStateUpdate({ guild_id: id, channel_id: '1', self_mute: false, self_deaf: false }, view()),
      [],
    );
  });

  it('op 3 updates the bot presence in every guild', () => {
    const w = world();
    const out = w.presenceUpdate(
      { since: null, activities: [{ name: 'tests', type: 0, bogus: 1 }], status: 'dnd', afk: false },
      view(),
    );
    assert.equal(out.length, w.guildIds().length);
    for (const e of out) {
      const d = e.d as Obj;
      assert.equal(e.t, 'PRESENCE_UPDATE');
      assert.equal(d.guild_id, e.guildId);
      assert.equal(d.status, 'dnd');
      assert.ok(!('bogus' in ((d.activities as Obj[])[0] as Obj)));
    }
    const g = w.guildCreate(first(w), view());
    const mine = (g.presences as Obj[]).find((p) => (p.user as Obj).id === w.botUser.id);
    assert.equal(mine?.status, 'dnd');
    w.presenceUpdate({ since: null, activities: [], status: 'invisible', afk: false }, view());
    const hidden = w.guildCreate(first(w), view()).presences as Obj[];
    assert.ok(!hidden.some((p) => (p.user as Obj).id === w.botUser.id));
  });

  it('op 31 answers one SOUNDBOARD_SOUNDS per existing guild; op 43 one CHANNEL_INFO', () => {
    const w = world();
    const [a, b] = w.guildIds() as [string, string];
    const sounds = w.requestSoundboardSounds({ guild_ids: [a, '81384788765712384', b] }, view());
    assert.deepEqual(
      sounds.map((e) => (e.d as Obj).guild_id),
      [a, b],
    );
    for (const e of sounds) assert.ok(Array.isArray((e.d as Obj).soundboard_sounds));
    const info = w.requestChannelInfo({ guild_id: a, fields: ['status', 'voice_start_time'] }, view());
    assert.equal(info.length, 1);
    assert.equal(info[0]?.t, 'CHANNEL_INFO');
    const d = info[0]?.d as Obj;
    assert.equal(d.guild_id, a);
    assert.deepEqual(
      (d.channels as Obj[]).map((c) => c.id),
      w.voiceChannelIds(a),
    );
    for (const c of d.channels as Obj[]) assert.ok('status' in c && 'voice_start_time' in c);
    assert.deepEqual(w.requestChannelInfo({ guild_id: '81384788765712384', fields: ['status'] }, view()), []);
  });
});

describe('SeededWorld: REST hooks', () => {
  it('createMessage: null for an unknown channel, a full message otherwise', () => {
    const w = world({ guilds: 3000 });
    assert.equal(w.createMessage('81384788765712384', { content: 'x' }), null);
    assert.equal(w.createMessage('not-a-snowflake', { content: 'x' }), null);
    const id = w.guildIds()[1234] as string;
    const channel = w.textChannelIds(id)[0] as string;
    const res = w.createMessage(channel, { content: 'hello', embeds: [{ title: 't' }] });
    assert.ok(res);
    const { message, dispatch } = res;
    assert.equal(dispatch.t, 'MESSAGE_CREATE');
    assert.equal(dispatch.guildId, id);
    assert.equal(dispatch.d, message);
    assert.ok(isSnowflake(message.id));
    assert.equal(message.channel_id, channel);
    assert.equal(message.guild_id, id);
    assert.equal(message.content, 'hello');
    assert.deepEqual(message.embeds, [{ title: 't' }]);
    assert.deepEqual(message.attachments, []);
    assert.equal((message.author as Obj).id, w.botUser.id);
    assert.ok(message.member && !('user' in (message.member as Obj)));
    const dm = w.createMessage(w.dmChannelIds()[0] as string, { content: 'psst' });
    assert.equal(dm?.dispatch.guildId, null);
    assert.ok(!('guild_id' in (dm?.message ?? {})));
  });

  it('finds channels of guilds nobody has built yet', () => {
    const source = world({ guilds: 3000 });
    const id = source.guildIds()[2500] as string;
    const channel = source.textChannelIds(id)[0] as string;
    const fresh = world({ guilds: 3000 });
    const out = fresh.userMessage(channel, 'hi') as WorldDispatch;
    assert.equal(out.guildId, id);
  });

  it('userMessage: from a member, with mentions resolved', () => {
    const w = world();
    const id = first(w);
    const channel = w.textChannelIds(id)[0] as string;
    const author = w.memberIds(id)[2] as string;
    const out = w.userMessage(channel, `hey <@${w.botUser.id}>`, author) as WorldDispatch;
    const d = out.d as Obj;
    assert.equal((d.author as Obj).id, author);
    assert.deepEqual(
      (d.mentions as Obj[]).map((u) => u.id),
      [w.botUser.id],
    );
    assert.ok(((d.mentions as Obj[])[0] as Obj).member);
    assert.equal(w.userMessage('81384788765712384', 'x'), null);
    const random = w.userMessage(channel, 'x') as WorldDispatch;
    assert.ok(w.memberIds(id).includes(((random.d as Obj).author as Obj).id as string));
  });
});
