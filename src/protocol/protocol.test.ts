import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ALL_INTENTS,
  API_VERSION,
  CLIENT_OPCODES,
  closeAction,
  DISCORD_EPOCH,
  describeCloseCode,
  GATEWAY_CLOSE_CODES,
  GatewayIntentBits,
  GatewayOpcodes,
  intentNames,
  isFatalCloseCode,
  isSnowflake,
  MAX_CLIENT_PAYLOAD_BYTES,
  makeSnowflake,
  NON_PRIVILEGED_INTENTS,
  PRE_AUTH_OPCODES,
  PRIVILEGED_INTENTS,
  parseIntents,
  RESUMABLE_CLOSE_CODE,
  requiredIntent,
  shardForGuild,
  snowflakeTimestamp,
} from './index.js';

// ---- close codes (§6, §14) -------------------------------------------------------------------------

describe('close codes', () => {
  test('fatal: 4004, 4010, 4011, 4012, 4013, 4014 and nothing else in 1000–4999', () => {
    const fatal = [4004, 4010, 4011, 4012, 4013, 4014];
    for (const code of fatal) {
      assert.equal(closeAction(code), 'fatal', `${code}`);
      assert.equal(isFatalCloseCode(code), true);
    }
    for (let code = 1000; code < 5000; code++) {
      if (!fatal.includes(code)) assert.equal(isFatalCloseCode(code), false, `${code} must not be fatal`);
    }
  });

  test('new session: 4003, 4007, 4009 (§14), and 4005 re-identifies (§6)', () => {
    for (const code of [4003, 4005, 4007, 4009]) assert.equal(closeAction(code), 'identify', `${code}`);
  });

  test('resume: 4000, 4001, 4002, 4008, 1006 (no close frame) and any other code', () => {
    for (const code of [4000, 4001, 4002, 4008, 1006, 1011, 1012, 4006, 4015, 4200, 4900, 4999]) {
      assert.equal(closeAction(code), 'resume', `${code}`);
    }
  });

  test('a server-sent 1000/1001 starts a new session (the session is gone)', () => {
    assert.equal(closeAction(1000), 'identify');
    assert.equal(closeAction(1001), 'identify');
  });

  test('the code dusk closes with to resume keeps the session: not 1000/1001, in the application range', () => {
    assert.notEqual(RESUMABLE_CLOSE_CODE, 1000);
    assert.notEqual(RESUMABLE_CLOSE_CODE, 1001);
    assert.ok(RESUMABLE_CLOSE_CODE >= 4000 && RESUMABLE_CLOSE_CODE <= 4999);
    assert.ok(!GATEWAY_CLOSE_CODES.includes(RESUMABLE_CLOSE_CODE), 'must not look like a Discord code');
    assert.equal(closeAction(RESUMABLE_CLOSE_CODE), 'resume');
  });

  test('the gateway close code table: 4000–4014 without the removed 4006', () => {
    assert.deepEqual(
      [...GATEWAY_CLOSE_CODES].sort((a, b) => a - b),
      [4000, 4001, 4002, 4003, 4004, 4005, 4007, 4008, 4009, 4010, 4011, 4012, 4013, 4014],
    );
  });

  test('describeCloseCode names the code and, for fatal ones, says what to fix', () => {
    assert.equal(describeCloseCode(4000), '4000 Unknown error');
    assert.equal(describeCloseCode(4007), '4007 Invalid seq');
    assert.equal(describeCloseCode(1006), '1006');
    assert.equal(describeCloseCode(4321), '4321');
    assert.match(describeCloseCode(4004), /^4004 Authentication failed: .*token/);
    assert.match(describeCloseCode(4014), /^4014 Disallowed intent\(s\): .*privileged/);
    assert.match(describeCloseCode(4011), /2500/);
    for (const code of GATEWAY_CLOSE_CODES) {
      const text = describeCloseCode(code);
      assert.ok(text.startsWith(`${code} `), text);
      assert.equal(text.includes(': '), isFatalCloseCode(code), `${code}: fix text only for fatal codes`);
    }
  });
});

// ---- opcodes ----------------------------------------------------------------------------------------

describe('opcodes', () => {
  test('values from §3', () => {
    assert.equal(API_VERSION, 10);
    assert.equal(GatewayOpcodes.Dispatch, 0);
    assert.equal(GatewayOpcodes.Heartbeat, 1);
    assert.equal(GatewayOpcodes.Identify, 2);
    assert.equal(GatewayOpcodes.Resume, 6);
    assert.equal(GatewayOpcodes.Reconnect, 7);
    assert.equal(GatewayOpcodes.InvalidSession, 9);
    assert.equal(GatewayOpcodes.Hello, 10);
    assert.equal(GatewayOpcodes.HeartbeatAck, 11);
    assert.equal(MAX_CLIENT_PAYLOAD_BYTES, 4096);
  });

  test('a bot may send 1, 2, 3, 4, 6, 8, 31, 43 and nothing else', () => {
    assert.deepEqual(
      [...CLIENT_OPCODES].sort((a, b) => a - b),
      [1, 2, 3, 4, 6, 8, 31, 43],
    );
    for (const serverOnly of [0, 5, 7, 9, 10, 11]) assert.equal(CLIENT_OPCODES.has(serverOnly), false);
  });

  test('before authentication only heartbeat, identify and resume', () => {
    assert.deepEqual(
      [...PRE_AUTH_OPCODES].sort((a, b) => a - b),
      [1, 2, 6],
    );
  });
});

// ---- intents (§10) ----------------------------------------------------------------------------------

describe('intents', () => {
  test('the masks from §10', () => {
    assert.equal(PRIVILEGED_INTENTS, 33026);
    assert.equal(ALL_INTENTS, 53608447);
    assert.equal(ALL_INTENTS, 0x331ffff);
    assert.equal(NON_PRIVILEGED_INTENTS, 53575421);
    assert.equal(NON_PRIVILEGED_INTENTS | PRIVILEGED_INTENTS, ALL_INTENTS);
    assert.equal(NON_PRIVILEGED_INTENTS & PRIVILEGED_INTENTS, 0);
  });

  test('the undocumented bits 17, 18, 19, 22, 23 are outside the mask', () => {
    for (const bit of [17, 18, 19, 22, 23]) assert.equal(ALL_INTENTS & (1 << bit), 0, `bit ${bit}`);
    for (const bit of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 21, 24, 25]) {
      assert.notEqual(ALL_INTENTS & (1 << bit), 0, `bit ${bit}`);
    }
  });

  test('every documented bit has its §10 name', () => {
    const table: Array<[string, number]> = [
      ['GUILDS', 1],
      ['GUILD_MEMBERS', 2],
      ['GUILD_MODERATION', 4],
      ['GUILD_EXPRESSIONS', 8],
      ['GUILD_INTEGRATIONS', 16],
      ['GUILD_WEBHOOKS', 32],
      ['GUILD_INVITES', 64],
      ['GUILD_VOICE_STATES', 128],
      ['GUILD_PRESENCES', 256],
      ['GUILD_MESSAGES', 512],
      ['GUILD_MESSAGE_REACTIONS', 1024],
      ['GUILD_MESSAGE_TYPING', 2048],
      ['DIRECT_MESSAGES', 4096],
      ['DIRECT_MESSAGE_REACTIONS', 8192],
      ['DIRECT_MESSAGE_TYPING', 16384],
      ['MESSAGE_CONTENT', 32768],
      ['GUILD_SCHEDULED_EVENTS', 65536],
      ['AUTO_MODERATION_CONFIGURATION', 1048576],
      ['AUTO_MODERATION_EXECUTION', 2097152],
      ['GUILD_MESSAGE_POLLS', 16777216],
      ['DIRECT_MESSAGE_POLLS', 33554432],
    ];
    for (const [name, value] of table) {
      assert.equal(parseIntents(name), value, name);
      assert.deepEqual(intentNames(value), [name]);
    }
    assert.equal(
      table.reduce((a, [, v]) => a | v, 0),
      ALL_INTENTS,
    );
    assert.equal(GatewayIntentBits.MessageContent, 32768);
  });

  test('parseIntents: numbers, numeric strings, names, lists, case and spaces', () => {
    assert.equal(parseIntents(513), 513);
    assert.equal(parseIntents('513'), 513);
    assert.equal(parseIntents('guilds, guild_messages'), 513);
    assert.equal(parseIntents(' GUILDS ,GUILD_MESSAGES,'), 513);
    assert.equal(parseIntents(['GUILDS', 'MESSAGE_CONTENT']), 32769);
    assert.equal(parseIntents('GUILDS,GUILDS'), 1);
    assert.equal(parseIntents('1,512'), 513);
    assert.equal(parseIntents(''), 0);
    assert.equal(parseIntents([]), 0);
    assert.equal(parseIntents(0), 0);
  });

  test('parseIntents: ALL, NON_PRIVILEGED / DEFAULT, NONE and the old aliases', () => {
    assert.equal(parseIntents('ALL'), 53608447);
    assert.equal(parseIntents('all'), 53608447);
    assert.equal(parseIntents('NON_PRIVILEGED'), 53575421);
    assert.equal(parseIntents('default'), 53575421);
    assert.equal(parseIntents('NONE'), 0);
    assert.equal(parseIntents('NON_PRIVILEGED,GUILD_MEMBERS'), 53575421 | 2);
    assert.equal(parseIntents('GUILD_BANS'), parseIntents('GUILD_MODERATION'));
    assert.equal(parseIntents('GUILD_EMOJIS_AND_STICKERS'), parseIntents('GUILD_EXPRESSIONS'));
  });

  test('parseIntents: an unknown name is an error naming it', () => {
    assert.throws(
      () => parseIntents('GUILDS,GUILD_MESAGES'),
      (e: unknown) => {
        assert.ok(e instanceof RangeError);
        assert.match(e.message, /unknown intent "GUILD_MESAGES"/);
        assert.match(e.message, /GUILD_MESSAGES/, 'lists the known names');
        return true;
      },
    );
  });

  test('parseIntents: undefined bits, negatives and fractions are refused (they would get 4013)', () => {
    for (const bad of [
      1 << 17,
      1 << 18,
      1 << 19,
      1 << 22,
      1 << 23,
      1 << 26,
      ALL_INTENTS + 1 + (1 << 17),
      -1,
      1.5,
    ]) {
      assert.throws(() => parseIntents(bad), RangeError, `${bad}`);
    }
    assert.throws(() => parseIntents(String(1 << 17)), RangeError);
    assert.throws(() => parseIntents('-1'), RangeError, 'not a number and not a name');
  });

  test('intentNames: one name per bit (no aliases), in bit order; undefined bits are ignored', () => {
    assert.deepEqual(intentNames(0), []);
    assert.deepEqual(intentNames(513), ['GUILDS', 'GUILD_MESSAGES']);
    assert.deepEqual(intentNames(4 | 8), ['GUILD_MODERATION', 'GUILD_EXPRESSIONS']);
    assert.deepEqual(intentNames(PRIVILEGED_INTENTS), [
      'GUILD_MEMBERS',
      'GUILD_PRESENCES',
      'MESSAGE_CONTENT',
    ]);
    assert.equal(intentNames(ALL_INTENTS).length, 21);
    assert.deepEqual(intentNames(1 << 17), []);
  });

  test('parseIntents(intentNames(x)) round-trips for random valid bitfields', () => {
    let seed = 1;
    for (let i = 0; i < 500; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const bits = seed & ALL_INTENTS;
      assert.equal(parseIntents(intentNames(bits).join(',')), bits);
      assert.equal(parseIntents(intentNames(bits)), bits);
    }
  });
});

// ---- which intent gates which dispatch (§10, §11) -------------------------------------------------

describe('requiredIntent', () => {
  const G = GatewayIntentBits;

  test('guild events per the §10 table', () => {
    const table: Array<[number, string[]]> = [
      [
        G.Guilds,
        [
          'GUILD_CREATE',
          'GUILD_UPDATE',
          'GUILD_DELETE',
          'GUILD_ROLE_CREATE',
          'GUILD_ROLE_UPDATE',
          'GUILD_ROLE_DELETE',
          'CHANNEL_CREATE',
          'CHANNEL_UPDATE',
          'CHANNEL_DELETE',
          'CHANNEL_PINS_UPDATE',
          'THREAD_CREATE',
          'THREAD_UPDATE',
          'THREAD_DELETE',
          'THREAD_LIST_SYNC',
          'THREAD_MEMBER_UPDATE',
          'THREAD_MEMBERS_UPDATE',
          'STAGE_INSTANCE_CREATE',
          'STAGE_INSTANCE_UPDATE',
          'STAGE_INSTANCE_DELETE',
          'VOICE_CHANNEL_STATUS_UPDATE',
          'VOICE_CHANNEL_START_TIME_UPDATE',
        ],
      ],
      [G.GuildMembers, ['GUILD_MEMBER_ADD', 'GUILD_MEMBER_UPDATE', 'GUILD_MEMBER_REMOVE']],
      [G.GuildModeration, ['GUILD_AUDIT_LOG_ENTRY_CREATE', 'GUILD_BAN_ADD', 'GUILD_BAN_REMOVE']],
      [
        G.GuildExpressions,
        [
          'GUILD_EMOJIS_UPDATE',
          'GUILD_STICKERS_UPDATE',
          'GUILD_SOUNDBOARD_SOUND_CREATE',
          'GUILD_SOUNDBOARD_SOUND_UPDATE',
          'GUILD_SOUNDBOARD_SOUND_DELETE',
          'GUILD_SOUNDBOARD_SOUNDS_UPDATE',
        ],
      ],
      [
        G.GuildIntegrations,
        ['GUILD_INTEGRATIONS_UPDATE', 'INTEGRATION_CREATE', 'INTEGRATION_UPDATE', 'INTEGRATION_DELETE'],
      ],
      [G.GuildWebhooks, ['WEBHOOKS_UPDATE']],
      [G.GuildInvites, ['INVITE_CREATE', 'INVITE_DELETE']],
      [G.GuildVoiceStates, ['VOICE_CHANNEL_EFFECT_SEND', 'VOICE_STATE_UPDATE']],
      [G.GuildPresences, ['PRESENCE_UPDATE']],
      [G.GuildMessages, ['MESSAGE_CREATE', 'MESSAGE_UPDATE', 'MESSAGE_DELETE', 'MESSAGE_DELETE_BULK']],
      [
        G.GuildMessageReactions,
        [
          'MESSAGE_REACTION_ADD',
          'MESSAGE_REACTION_REMOVE',
          'MESSAGE_REACTION_REMOVE_ALL',
          'MESSAGE_REACTION_REMOVE_EMOJI',
        ],
      ],
      [G.GuildMessageTyping, ['TYPING_START']],
      [
        G.GuildScheduledEvents,
        [
          'GUILD_SCHEDULED_EVENT_CREATE',
          'GUILD_SCHEDULED_EVENT_UPDATE',
          'GUILD_SCHEDULED_EVENT_DELETE',
          'GUILD_SCHEDULED_EVENT_USER_ADD',
          'GUILD_SCHEDULED_EVENT_USER_REMOVE',
        ],
      ],
      [
        G.AutoModerationConfiguration,
        ['AUTO_MODERATION_RULE_CREATE', 'AUTO_MODERATION_RULE_UPDATE', 'AUTO_MODERATION_RULE_DELETE'],
      ],
      [G.AutoModerationExecution, ['AUTO_MODERATION_ACTION_EXECUTION']],
      [G.GuildMessagePolls, ['MESSAGE_POLL_VOTE_ADD', 'MESSAGE_POLL_VOTE_REMOVE']],
    ];
    for (const [intent, events] of table) {
      for (const t of events) assert.equal(requiredIntent(t, true), intent, t);
    }
  });

  test('DM events use the DIRECT_* intents', () => {
    const table: Array<[string, number]> = [
      ['MESSAGE_CREATE', G.DirectMessages],
      ['MESSAGE_UPDATE', G.DirectMessages],
      ['MESSAGE_DELETE', G.DirectMessages],
      ['CHANNEL_PINS_UPDATE', G.DirectMessages],
      ['MESSAGE_REACTION_ADD', G.DirectMessageReactions],
      ['MESSAGE_REACTION_REMOVE', G.DirectMessageReactions],
      ['MESSAGE_REACTION_REMOVE_ALL', G.DirectMessageReactions],
      ['MESSAGE_REACTION_REMOVE_EMOJI', G.DirectMessageReactions],
      ['TYPING_START', G.DirectMessageTyping],
      ['MESSAGE_POLL_VOTE_ADD', G.DirectMessagePolls],
      ['MESSAGE_POLL_VOTE_REMOVE', G.DirectMessagePolls],
    ];
    for (const [t, intent] of table) assert.equal(requiredIntent(t, false), intent, t);
    assert.equal(requiredIntent('MESSAGE_CREATE', false), 4096);
    assert.equal(requiredIntent('MESSAGE_CREATE', true), 512);
    assert.equal(requiredIntent('TYPING_START', false), 16384);
    assert.equal(requiredIntent('TYPING_START', true), 2048);
  });

  test('ungated events are always sent (0), in a guild or not', () => {
    for (const t of [
      'READY',
      'RESUMED',
      'RATE_LIMITED',
      'USER_UPDATE',
      'INTERACTION_CREATE',
      'APPLICATION_COMMAND_PERMISSIONS_UPDATE',
      'GUILD_MEMBERS_CHUNK',
      'VOICE_SERVER_UPDATE',
      'ENTITLEMENT_CREATE',
      'SUBSCRIPTION_CREATE',
      'SOUNDBOARD_SOUNDS',
      'CHANNEL_INFO',
      'SOME_FUTURE_EVENT',
    ]) {
      assert.equal(requiredIntent(t, true), 0, t);
      assert.equal(requiredIntent(t, false), 0, t);
    }
  });

  test('every gating intent is a single documented bit; MESSAGE_CONTENT gates no event', () => {
    const names = ['MESSAGE_CREATE', 'PRESENCE_UPDATE', 'GUILD_MEMBER_ADD', 'TYPING_START', 'GUILD_CREATE'];
    for (const t of names) {
      for (const inGuild of [true, false]) {
        const bit = requiredIntent(t, inGuild);
        if (bit === 0) continue;
        assert.equal(bit & (bit - 1), 0, `${t} needs several bits`);
        assert.notEqual(bit & ALL_INTENTS, 0);
        assert.notEqual(bit, G.MessageContent);
      }
    }
  });
});

// ---- snowflakes and sharding (§8, §12.1) -------------------------------------------------------------

describe('snowflakes', () => {
  test('§8 worked example: guild 820588791050928135 with 4 shards goes to shard 1', () => {
    assert.equal(BigInt('820588791050928135') >> 22n, 195643613589n);
    assert.equal(shardForGuild('820588791050928135', 4), 1);
    assert.equal(shardForGuild(820588791050928135n, 4), 1);
    assert.equal(shardForGuild('820588791050928135', 1), 0);
    assert.equal(shardForGuild('820588791050928135', 2), Number(195643613589n % 2n));
    assert.equal(shardForGuild('820588791050928135', 16), Number(195643613589n % 16n));
  });

  test('§12.1 check: 175928847299117063 is 2016-04-30T11:18:25.796Z, worker 1, process 0, increment 7', () => {
    const id = '175928847299117063';
    assert.equal(new Date(snowflakeTimestamp(id)).toISOString(), '2016-04-30T11:18:25.796Z');
    const n = BigInt(id);
    assert.equal((n & 0x3e0000n) >> 17n, 1n);
    assert.equal((n & 0x1f000n) >> 12n, 0n);
    assert.equal(n & 0xfffn, 7n);
    assert.equal(makeSnowflake(Date.parse('2016-04-30T11:18:25.796Z'), 1, 0, 7), id);
  });

  test('the Discord epoch is 2015-01-01', () => {
    assert.equal(DISCORD_EPOCH, 1420070400000);
    assert.equal(new Date(DISCORD_EPOCH).toISOString(), '2015-01-01T00:00:00.000Z');
    assert.equal(snowflakeTimestamp('1'), DISCORD_EPOCH);
  });

  test('the §12 sample ids decode to their stated dates', () => {
    assert.ok(new Date(snowflakeTimestamp('1303327958630531079')).toISOString().startsWith('2024-11-05'));
    assert.ok(new Date(snowflakeTimestamp('820588791050928135')).toISOString().startsWith('2021-03-14'));
  });

  test('makeSnowflake and snowflakeTimestamp round-trip; fields are masked to their widths', () => {
    const ts = Date.parse('2025-06-01T15:42:07.123Z');
    for (const [w, p, inc] of [
      [0, 0, 0],
      [31, 31, 4095],
      [5, 17, 1234],
    ] as const) {
      const id = makeSnowflake(ts, w, p, inc);
      assert.ok(isSnowflake(id));
      assert.equal(snowflakeTimestamp(id), ts);
      const n = BigInt(id);
      assert.deepEqual([(n >> 17n) & 31n, (n >> 12n) & 31n, n & 0xfffn], [BigInt(w), BigInt(p), BigInt(inc)]);
    }
    assert.equal(
      makeSnowflake(ts, 32, 32, 4096),
      makeSnowflake(ts, 0, 0, 0),
      'overflowing fields do not spill',
    );
  });

  test('snowflakes beyond 2^53 keep their precision', () => {
    const id = '9007199254740993123';
    assert.equal(snowflakeTimestamp(id), Number(BigInt(id) >> 22n) + DISCORD_EPOCH);
    assert.equal(shardForGuild(id, 7), Number((BigInt(id) >> 22n) % 7n));
  });

  test('isSnowflake', () => {
    for (const good of ['1', '820588791050928135', '18446744073709551615'])
      assert.equal(isSnowflake(good), true, good);
    for (const bad of [
      '0',
      '',
      '-1',
      '1.5',
      ' 1',
      'abc',
      '18446744073709551616',
      '123456789012345678901',
      5,
      null,
      5n,
    ]) {
      assert.equal(isSnowflake(bad), false, String(bad));
    }
  });
});
