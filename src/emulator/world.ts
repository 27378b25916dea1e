/**
 * The emulator's deterministic world: guilds, members, channels, roles, presences and voice states,
 * the live traffic happening in them, and the answers to the commands a client sends (op 3, 4, 8,
 * 31, 43) plus the two REST-ish hooks the emulator exposes (bot messages and user messages).
 *
 * Everything is derived from one seed (see random.ts) so a run can be replayed exactly. Guild ids
 * are drawn up front because they are cheap and READY needs them all; a guild's contents are built
 * only when something asks for that guild, from a random stream forked from the seed and the guild
 * id, so a 3000-guild world constructs in milliseconds and guild #17 looks the same whether it is
 * built first or after a million events. Live traffic uses a separate stream, and client commands a
 * third one, so a test sending op 4 does not shift the event sequence other tests rely on.
 *
 * Payload objects are shared between the world's cache and what it hands out (no deep clones, to keep
 * `nextEvent` at a few microseconds); the world therefore never mutates an object once it has been
 * handed out: an update builds a new object and swaps it into the cache.
 */
import { GatewayIntentBits } from '../protocol/intents.js';
import { isSnowflake, makeSnowflake, shardForGuild } from '../protocol/snowflake.js';
import { Random } from './random.js';
import type { SessionView, TrafficMix, World, WorldDispatch, WorldOptions } from './world-types.js';

type Obj = Record<string, unknown>;
type Status = 'online' | 'idle' | 'dnd' | 'offline';

const PRESENCES = GatewayIntentBits.GuildPresences;
const MEMBERS_INTENT = GatewayIntentBits.GuildMembers;
const MESSAGE_CONTENT = GatewayIntentBits.MessageContent;

/** Discord stops sending member lists in GUILD_CREATE above this size, whatever the intents (§4.4). */
const HUGE_GUILD = 75_000;
/** Full member-list requests: once per guild per bot per 30 s (§3.6). */
const FULL_LIST_INTERVAL_MS = 30_000;
const CHUNK_SIZE = 1000;
const MAX_QUERY_RESULTS = 100;
const MAX_NONCE_BYTES = 32;
const MOVE_MEMBERS = 1n << 24n;
/** How many recent messages per guild the traffic remembers, as targets for edits, deletes and reactions. */
const RECENT_MESSAGES = 32;

const OFFLINE_PLACEHOLDER: Obj = Object.freeze({});

const T_2015_06 = Date.UTC(2015, 5, 1);
const T_2016 = Date.UTC(2016, 0, 1);
const T_2025 = Date.UTC(2025, 0, 1) - 1;

/** GATEWAY_PRESENCE | GATEWAY_GUILD_MEMBERS | GATEWAY_MESSAGE_CONTENT: every privileged intent allowed. */
const DEFAULT_APPLICATION_FLAGS = (1 << 12) | (1 << 14) | (1 << 18);

/** The default traffic: roughly what a mid-sized bot sees, dominated by messages, presences and typing. */
export const DEFAULT_TRAFFIC_MIX: TrafficMix = Object.freeze({
  MESSAGE_CREATE: 40,
  PRESENCE_UPDATE: 20,
  TYPING_START: 15,
  MESSAGE_UPDATE: 6,
  MESSAGE_DELETE: 5,
  MESSAGE_REACTION_ADD: 5,
  GUILD_MEMBER_ADD: 2,
  GUILD_MEMBER_REMOVE: 1,
  GUILD_MEMBER_UPDATE: 2,
  INTERACTION_CREATE: 2,
  VOICE_STATE_UPDATE: 1,
  CHANNEL_UPDATE: 1,
  DM_MESSAGE_CREATE: 2,
});

/**
 * Every name a mix may use. `DM_MESSAGE_CREATE` and `DM_TYPING_START` are pseudo-names: they produce
 * MESSAGE_CREATE / TYPING_START in a DM channel (guildId null), so a mix can weigh DMs separately.
 */
export const TRAFFIC_EVENT_NAMES: readonly string[] = Object.freeze([
  ...Object.keys(DEFAULT_TRAFFIC_MIX),
  'DM_TYPING_START',
  'MESSAGE_REACTION_REMOVE',
  'GUILD_ROLE_UPDATE',
]);

const ADJECTIVES = [
  'quiet',
  'rusty',
  'cosmic',
  'lazy',
  'brave',
  'tiny',
  'golden',
  'silent',
  'fuzzy',
  'wild',
  'lunar',
  'sunny',
  'hidden',
  'electric',
  'frozen',
  'crimson',
  'swift',
  'sleepy',
  'clever',
  'mellow',
];
const NOUNS = [
  'otter',
  'crab',
  'falcon',
  'pixel',
  'comet',
  'maple',
  'river',
  'lantern',
  'badger',
  'cactus',
  'nebula',
  'panda',
  'raven',
  'walrus',
  'tofu',
  'kettle',
  'harbor',
  'cobalt',
  'thistle',
  'yeti',
];
const GUILD_THEMES = [
  'Study Group',
  'Gaming',
  'Book Club',
  'Dev Hangout',
  'Art Corner',
  'Music Lounge',
  'Speedrunners',
  'Homelab',
  'Photography',
  'Language Exchange',
  'Retro Games',
  'Cooking',
  'Anime Club',
  'Astronomy',
];
const TEXT_CHANNELS = [
  'announcements',
  'off-topic',
  'help',
  'memes',
  'showcase',
  'random',
  'media',
  'bot-commands',
  'support',
  'introductions',
  'feedback',
  'resources',
  'events',
  'music',
  'screenshots',
  'questions',
];
const VOICE_CHANNELS = ['Lounge', 'Gaming', 'Study Room', 'Music', 'AFK', 'Chill', 'Meeting', 'Stage Left'];
const ROLE_NAMES = [
  'Moderator',
  'Admin',
  'Member',
  'Regular',
  'Supporter',
  'Helper',
  'Artist',
  'Developer',
  'VIP',
  'Muted',
  'Event Host',
  'Nitro Booster',
  'Verified',
  'Veteran',
  'Newcomer',
];
const WORDS = [
  'the',
  'a',
  'is',
  'this',
  'that',
  'it',
  'anyone',
  'know',
  'how',
  'to',
  'fix',
  'build',
  'just',
  'finished',
  'new',
  'update',
  'today',
  'tomorrow',
  'lol',
  'nice',
  'thanks',
  'for',
  'help',
  'does',
  'work',
  'on',
  'my',
  'machine',
  'game',
  'tonight',
  'who',
  'wants',
  'play',
  'check',
  'out',
  'cool',
  'idea',
  'broke',
  'again',
  'compile',
  'error',
  'weird',
  'bug',
  'looks',
  'great',
  'agreed',
  'maybe',
  'later',
  'ping',
  'me',
  'when',
  'ready',
  'coffee',
  'first',
  'try',
  'release',
  'notes',
  'server',
  'down',
  'back',
  'up',
  'gg',
  'wp',
];
const GAMES = [
  'Rocket League',
  'Minecraft',
  'Stardew Valley',
  'Factorio',
  'Celeste',
  'Hades',
  'Terraria',
  'Tetris 99',
  'Outer Wilds',
  'Baba Is You',
];
const CUSTOM_STATES = ['compiling...', 'touching grass', 'brb', 'on holiday', 'debugging', 'coffee first'];
const UNICODE_EMOJIS = ['👍', '😂', '❤️', '🎉', '🔥', '👀', '🦀', '✅', '😮', '🙏'];
const LOCALES = ['en-US', 'en-GB', 'de', 'fr', 'es-ES', 'pt-BR', 'ja', 'pl', 'nl', 'sv-SE'];
const PLATFORMS = ['desktop', 'mobile', 'web'] as const;
const ROLE_COLORS = [0, 3447003, 15844367, 10181046, 15105570, 3066993, 15158332, 9807270, 1752220, 12745742];
const EVERYONE_PERMISSIONS = '2248473465835073';
const ADMIN_PERMISSIONS = '1099511627775';
/** The bot's managed role: most everyday permissions, but not MOVE_MEMBERS (so full voice channels stay full). */
const BOT_ROLE_PERMISSIONS = (BigInt(EVERYONE_PERMISSIONS) | (1n << 13n) | (1n << 10n)).toString();
const SLASH_COMMANDS = [
  { name: 'echo', options: [{ name: 'text', type: 3 }] },
  { name: 'ping', options: [] },
  { name: 'roll', options: [{ name: 'sides', type: 4 }] },
  {
    name: 'remind',
    options: [
      { name: 'when', type: 3 },
      { name: 'what', type: 3 },
    ],
  },
] as const;

interface MemberRec {
  readonly id: string;
  /** Position in `GuildRec.members`, kept up to date by swap-removal. */
  index: number;
  user: Obj;
  /** The member object with `user` (GUILD_CREATE, chunks, typing, voice states). */
  full: Obj;
  /** The member object without `user` (a message's `member`). */
  partial: Obj;
  roles: string[];
  nick: string | null;
  status: Status;
  /** Presence without guild_id, as GUILD_CREATE and chunks carry it (a shared placeholder while offline). */
  presence: Obj;
  /** Voice state without guild_id, or null when not in voice. */
  voice: Obj | null;
  /** Lowercased username and nick, for op 8 prefix queries. */
  lname: string;
  lnick: string | null;
}

interface GuildRec {
  readonly id: string;
  readonly index: number;
  readonly createdMs: number;
  /** The guild's static fields (everything GUILD_CREATE has that the world never changes). */
  readonly base: Obj;
  roles: Obj[];
  /** Channels in GUILD_CREATE order; entries are replaced, never mutated. */
  channels: Obj[];
  /** Channel and thread objects by id (kept in step with `channels` and `threads`). */
  channelById: Map<string, Obj>;
  textIds: string[];
  voiceIds: string[];
  threads: Obj[];
  members: MemberRec[];
  byId: Map<string, MemberRec>;
  voiceStates: Map<string, Obj>;
  /** Per voice channel: the op 43 fields. */
  voiceInfo: Map<string, { status: string | null; start: number | null }>;
  readonly joinedAt: string;
  readonly ownerId: string;
  readonly botRoleId: string;
  readonly emojis: Obj[];
  readonly stickers: Obj[];
  readonly soundboard: Obj[];
  readonly scheduledEvents: Obj[];
  readonly locale: string;
  /** For members the traffic adds later: their names still come from the guild's own stream. */
  readonly random: Random;
  /** Recent messages the traffic created here: targets for edits, deletes and reactions. */
  readonly recent: Obj[];
}

interface DmRec {
  readonly id: string;
  readonly recipient: Obj;
  readonly channel: Obj;
}

interface MixTable {
  readonly names: string[];
  readonly cumulative: number[];
  readonly total: number;
}

export interface SeededWorldOptions extends WorldOptions {
  /** The bot user's id (default: derived from the seed). */
  botUserId?: string;
  /** Clock for fresh snowflakes and timestamps (default Date.now); pass a fixed clock for replayable runs. */
  now?: () => number;
  /** READY's `application.flags` (default: all three privileged-intent flags granted). */
  applicationFlags?: number;
}

// Traffic stamps many events with the same millisecond; caching the last conversion saves most of the cost.
let isoMs = Number.NaN;
let isoText = '';
function iso(ms: number): string {
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString().replace('Z', '000+00:00');
  }
  return isoText;
}

let snowBaseMs = Number.NaN;
let snowBase = 0n;
/** A fresh-traffic snowflake (worker 1, process 1): same bits as makeSnowflake, with the shifted ms cached. */
function snowflakeAt(ms: number, increment: number): string {
  if (ms !== snowBaseMs) {
    snowBaseMs = ms;
    snowBase = BigInt(makeSnowflake(ms, 1, 1, 0));
  }
  return (snowBase | BigInt(increment & 0xfff)).toString();
}

function at<T>(items: readonly T[], index: number): T {
  return items[index] as T;
}

/** Discord echoes ids too small to be real snowflakes as JSON integers in `not_found` (§3.6). */
function notFoundEntry(id: string): string | number {
  if (/^\d+$/.test(id)) {
    const n = Number(id);
    if (Number.isSafeInteger(n)) return n;
  }
  return id;
}

function checkRange(name: string, range: [number, number]): [number, number] {
  const [lo, hi] = range;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi < lo) {
    throw new RangeError(
      `world option ${name} must be [min, max] integers with 0 <= min <= max, got [${lo}, ${hi}]`,
    );
  }
  return [lo, hi];
}

export class SeededWorld implements World {
  readonly botUser: { readonly id: string; readonly username: string } & Record<string, unknown>;
  readonly application: { readonly id: string; readonly flags: number };

  private readonly root: Random;
  private readonly traffic: Random;
  private readonly commands: Random;
  private readonly now: () => number;
  private readonly memberRange: [number, number];
  private readonly channelRange: [number, number];
  private readonly roleRange: [number, number];
  private readonly onlineFraction: number;

  private readonly ids: readonly string[];
  private readonly indexById = new Map<string, number>();
  private readonly built = new Map<string, GuildRec>();
  /** Guild channel and thread id → guild, for guilds built so far. */
  private readonly channelGuild = new Map<string, GuildRec>();
  private readonly dms = new Map<string, DmRec>();
  private readonly dmList: DmRec[] = [];
  private readonly lastFullRequest = new Map<string, number>();
  private readonly mixTables = new WeakMap<object, MixTable>();
  private readonly commandIds: string[];

  private botPresence: { status: Status; activities: Obj[] } = { status: 'online', activities: [] };
  private lastMs = 0;
  private seq = 0;

  constructor(options: SeededWorldOptions = {}) {
    this.root = new Random(options.seed ?? 1);
    this.traffic = this.root.fork('traffic');
    this.commands = this.root.fork('commands');
    this.now = options.now ?? Date.now;
    this.memberRange = checkRange('members', options.members ?? [5, 200]);
    this.channelRange = checkRange('channels', options.channels ?? [3, 12]);
    this.roleRange = checkRange('roles', options.roles ?? [1, 8]);
    this.onlineFraction = options.onlineFraction ?? 0.3;

    const botRandom = this.root.fork('bot');
    const botId =
      options.botUserId ??
      makeSnowflake(botRandom.int(Date.UTC(2020, 0, 1), T_2025), 1, 0, botRandom.int(0, 4095));
    this.botUser = {
      id: botId,
      username: `${botRandom.pick(ADJECTIVES)}-${botRandom.pick(NOUNS)}-bot`,
      discriminator: String(botRandom.int(1000, 9999)),
      global_name: null,
      avatar: botRandom.hex(32),
      bot: true,
      email: null,
      verified: true,
      mfa_enabled: false,
      flags: 0,
      public_flags: 0,
    };
    this.application = { id: botId, flags: options.applicationFlags ?? DEFAULT_APPLICATION_FLAGS };
    this.commandIds = SLASH_COMMANDS.map((_, i) =>
      makeSnowflake(Math.max(snowMs(botId) + 86_400_000 * (i + 1), T_2016), 0, 0, i),
    );

    const count = options.guilds ?? 10;
    if (!Number.isInteger(count) || count < 0)
      throw new RangeError(`world option guilds must be >= 0, got ${count}`);
    const idRandom = this.root.fork('guild-ids');
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      let id: string;
      do {
        id = makeSnowflake(idRandom.int(T_2016, T_2025), idRandom.int(0, 31), idRandom.int(0, 31), i & 0xfff);
      } while (this.indexById.has(id));
      this.indexById.set(id, i);
      ids.push(id);
    }
    this.ids = Object.freeze(ids);

    const dmRandom = this.root.fork('dms');
    const dmCount = options.dmChannels ?? 3;
    for (let i = 0; i < dmCount; i++) {
      const recipient = makeUser(dmRandom, makeSnowflake(dmRandom.int(T_2015_06, T_2025), 2, 2, i & 0xfff));
      const id = makeSnowflake(
        dmRandom.int(Math.max(snowMs(botId), snowMs(recipient.id as string)), T_2025 + 1),
        3,
        3,
        i,
      );
      const channel: Obj = {
        id,
        type: 1,
        last_message_id: null,
        recipients: [recipient],
        flags: 0,
      };
      const rec: DmRec = { id, recipient, channel };
      this.dms.set(id, rec);
      this.dmList.push(rec);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Guild list and GUILD_CREATE

  guildIds(): readonly string[] {
    return this.ids;
  }

  /** The guilds a shard owns, in `guildIds()` order. */
  guildIdsForShard(shardId: number, shardCount: number): string[] {
    return this.ids.filter((id) => shardForGuild(id, shardCount) === shardId);
  }

  hasGuild(guildId: string): boolean {
    return this.indexById.has(guildId);
  }

  /** Current member count of a guild (builds it), or undefined for an unknown guild. */
  memberCount(guildId: string): number | undefined {
    return this.guild(guildId)?.members.length;
  }

  /** Ids of the guild's text channels (builds the guild); empty for an unknown guild. */
  textChannelIds(guildId: string): readonly string[] {
    return this.guild(guildId)?.textIds.slice() ?? [];
  }

  /** Ids of the guild's voice channels (builds the guild); empty for an unknown guild. */
  voiceChannelIds(guildId: string): readonly string[] {
    return this.guild(guildId)?.voiceIds.slice() ?? [];
  }

  /** Ids of the guild's members, bot first (builds the guild); empty for an unknown guild. */
  memberIds(guildId: string): readonly string[] {
    return this.guild(guildId)?.members.map((m) => m.id) ?? [];
  }

  botPermissions(guildId: string): bigint | null {
    const g = this.guild(guildId);
    const bot = g?.members[0];
    return g && bot ? this.rolePermissions(g, bot) : null;
  }

  /** Ids of the bot's DM channels. */
  dmChannelIds(): readonly string[] {
    return this.dmList.map((dm) => dm.id);
  }

  guildCreate(guildId: string, view: SessionView): Record<string, unknown> {
    const g = this.guild(guildId);
    if (!g) throw new Error(`guildCreate: unknown guild ${guildId}`);
    const count = g.members.length;
    let included: MemberRec[];
    if ((view.intents & PRESENCES) === 0 || count > HUGE_GUILD) {
      included = [];
      const bot = g.byId.get(this.botUser.id);
      if (bot) included.push(bot);
      for (const userId of g.voiceStates.keys()) {
        const m = g.byId.get(userId);
        if (m && m !== bot) included.push(m);
      }
    } else if (count > view.largeThreshold) {
      included = g.members.filter(
        (m) => this.statusOf(m) !== 'offline' || m.roles.length > 0 || m.nick !== null || m.voice !== null,
      );
    } else {
      included = g.members;
    }
    const members: Obj[] = new Array(included.length);
    const presences: Obj[] = [];
    for (let i = 0; i < included.length; i++) {
      const m = at(included, i);
      members[i] = m.full;
      if (this.statusOf(m) !== 'offline') presences.push(this.presenceOf(m));
    }
    return {
      ...g.base,
      roles: g.roles.slice(),
      emojis: g.emojis.slice(),
      stickers: g.stickers.slice(),
      joined_at: g.joinedAt,
      large: count > view.largeThreshold,
      unavailable: false,
      member_count: count,
      channels: g.channels.slice(),
      threads: g.threads.slice(),
      members,
      presences,
      voice_states: [...g.voiceStates.values()],
      stage_instances: [],
      guild_scheduled_events: g.scheduledEvents.slice(),
      soundboard_sounds: g.soundboard.slice(),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Live traffic

  nextEvent(mix?: TrafficMix): WorldDispatch {
    const table = this.mixTable(mix ?? DEFAULT_TRAFFIC_MIX);
    const r = this.traffic;
    const roll = r.next() * table.total;
    let name = at(table.names, table.names.length - 1);
    for (let i = 0; i < table.cumulative.length; i++) {
      if (roll < at(table.cumulative, i)) {
        name = at(table.names, i);
        break;
      }
    }
    return this.generate(name, r);
  }

  private generate(name: string, r: Random): WorldDispatch {
    if (name === 'DM_MESSAGE_CREATE' || name === 'DM_TYPING_START') {
      if (this.dmList.length > 0) return name === 'DM_MESSAGE_CREATE' ? this.dmMessage(r) : this.dmTyping(r);
      if (this.ids.length === 0)
        throw new Error('the world has neither guilds nor DM channels to generate events in');
      name = name === 'DM_MESSAGE_CREATE' ? 'MESSAGE_CREATE' : 'TYPING_START';
    }
    if (this.ids.length === 0) {
      if (this.dmList.length === 0)
        throw new Error('the world has neither guilds nor DM channels to generate events in');
      return this.dmMessage(r);
    }
    const g = this.guildAt(r.int(0, this.ids.length - 1));
    switch (name) {
      case 'MESSAGE_CREATE':
        return this.guildMessage(g, r);
      case 'PRESENCE_UPDATE':
        return this.presenceEvent(g, r);
      case 'TYPING_START':
        return this.typing(g, r);
      case 'MESSAGE_UPDATE':
        return this.messageUpdate(g, r);
      case 'MESSAGE_DELETE':
        return this.messageDelete(g, r);
      case 'MESSAGE_REACTION_ADD':
        return this.reaction(g, r, true);
      case 'MESSAGE_REACTION_REMOVE':
        return this.reaction(g, r, false);
      case 'GUILD_MEMBER_ADD':
        return this.memberAdd(g);
      case 'GUILD_MEMBER_REMOVE':
        return this.memberRemove(g, r);
      case 'GUILD_MEMBER_UPDATE':
        return this.memberUpdate(g, r);
      case 'INTERACTION_CREATE':
        return this.interaction(g, r);
      case 'VOICE_STATE_UPDATE':
        return this.voiceEvent(g, r);
      case 'CHANNEL_UPDATE':
        return this.channelUpdate(g, r);
      case 'GUILD_ROLE_UPDATE':
        return this.roleUpdate(g, r);
      default:
        throw new Error(`unknown traffic event "${name}"; supported: ${TRAFFIC_EVENT_NAMES.join(', ')}`);
    }
  }

  private mixTable(mix: TrafficMix): MixTable {
    const cached = this.mixTables.get(mix);
    if (cached) return cached;
    const names: string[] = [];
    const cumulative: number[] = [];
    let total = 0;
    for (const [name, weight] of Object.entries(mix)) {
      if (!TRAFFIC_EVENT_NAMES.includes(name)) {
        throw new Error(
          `unknown traffic event "${name}" in mix; supported: ${TRAFFIC_EVENT_NAMES.join(', ')}`,
        );
      }
      if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
        throw new RangeError(
          `traffic weight for ${name} must be a finite number >= 0, got ${String(weight)}`,
        );
      }
      if (weight === 0) continue;
      total += weight;
      names.push(name);
      cumulative.push(total);
    }
    if (total === 0) throw new RangeError('traffic mix has no positive weight');
    const table = { names, cumulative, total };
    this.mixTables.set(mix, table);
    return table;
  }

  private guildMessage(g: GuildRec, r: Random): WorldDispatch {
    const channel = this.randomTextChannel(g, r);
    const author = this.randomMember(g, r);
    let content = sentence(r);
    if (r.chance(0.06)) content = `hey <@${this.botUser.id}>, ${content}`;
    else if (r.chance(0.04)) content = `<@${this.randomMember(g, r).id}> ${content}`;
    const extras: Obj = {};
    if (r.chance(0.05)) {
      const slug = `${r.pick(NOUNS)}-${r.hex(6)}`;
      extras.embeds = [
        {
          type: 'link',
          url: `https://example.com/${slug}`,
          title: `${r.pick(ADJECTIVES)} ${r.pick(NOUNS)}`,
          description: sentence(r),
        },
      ];
      content = `${content} https://example.com/${slug}`;
    }
    if (r.chance(0.04)) extras.attachments = [this.attachment(r, channel.id as string)];
    if (r.chance(0.01)) extras.poll = this.poll(r);
    if (r.chance(0.3)) extras.nonce = this.peekId();
    const message = this.buildMessage(
      this.nextId(),
      channel,
      g,
      author.user,
      author.partial,
      content,
      extras,
    );
    this.remember(g, message, r);
    return { t: 'MESSAGE_CREATE', d: message, guildId: g.id };
  }

  private dmMessage(r: Random): WorldDispatch {
    const dm = r.pick(this.dmList);
    const message = this.buildMessage(this.nextId(), dm.channel, null, dm.recipient, null, sentence(r), {});
    return { t: 'MESSAGE_CREATE', d: message, guildId: null };
  }

  private dmTyping(r: Random): WorldDispatch {
    const dm = r.pick(this.dmList);
    const d = { channel_id: dm.id, user_id: dm.recipient.id, timestamp: Math.floor(this.clock() / 1000) };
    return { t: 'TYPING_START', d, guildId: null };
  }

  private presenceEvent(g: GuildRec, r: Random): WorldDispatch {
    const m = this.randomMember(g, r);
    const status: Status = r.chance(0.2) ? 'offline' : r.pick(['online', 'online', 'idle', 'dnd'] as const);
    const presence = makePresence(r, m.id, status, this.clock());
    m.status = status;
    m.presence = presence;
    const d = {
      user: presence.user,
      guild_id: g.id,
      status,
      client_status: presence.client_status,
      activities: presence.activities,
    };
    return { t: 'PRESENCE_UPDATE', d, guildId: g.id };
  }

  private typing(g: GuildRec, r: Random): WorldDispatch {
    const channel = this.randomTextChannel(g, r);
    const m = this.randomMember(g, r);
    const d = {
      channel_id: channel.id,
      guild_id: g.id,
      user_id: m.id,
      timestamp: Math.floor(this.clock() / 1000),
      member: m.full,
    };
    return { t: 'TYPING_START', d, guildId: g.id };
  }

  private messageUpdate(g: GuildRec, r: Random): WorldDispatch {
    const i = this.recentIndex(g, r);
    const old = i >= 0 ? at(g.recent, i) : this.oldMessage(g, r);
    const message: Obj = {
      ...old,
      content: `${old.content as string} ${r.pick(WORDS)}`,
      edited_timestamp: iso(this.clock()),
      tts: false,
    };
    if (i >= 0) g.recent[i] = message;
    return { t: 'MESSAGE_UPDATE', d: message, guildId: g.id };
  }

  private messageDelete(g: GuildRec, r: Random): WorldDispatch {
    const i = this.recentIndex(g, r);
    const message = i >= 0 ? at(g.recent, i) : this.oldMessageRef(g, r);
    if (i >= 0) {
      const last = g.recent.pop() as Obj;
      if (i < g.recent.length) g.recent[i] = last;
    }
    return {
      t: 'MESSAGE_DELETE',
      d: { id: message.id, channel_id: message.channel_id, guild_id: g.id },
      guildId: g.id,
    };
  }

  private reaction(g: GuildRec, r: Random, add: boolean): WorldDispatch {
    const i = this.recentIndex(g, r);
    const message = i >= 0 ? at(g.recent, i) : this.oldMessageRef(g, r);
    const m = this.randomMember(g, r);
    const custom = g.emojis.length > 0 && r.chance(0.3) ? r.pick(g.emojis) : null;
    const emoji = custom
      ? { id: custom.id, name: custom.name, animated: custom.animated }
      : { id: null, name: r.pick(UNICODE_EMOJIS) };
    const burst = r.chance(0.05);
    const base = {
      user_id: m.id,
      channel_id: message.channel_id,
      message_id: message.id,
      guild_id: g.id,
    };
    if (!add) {
      return {
        t: 'MESSAGE_REACTION_REMOVE',
        d: { ...base, emoji, burst, type: burst ? 1 : 0 },
        guildId: g.id,
      };
    }
    const d: Obj = {
      ...base,
      member: m.full,
      emoji,
      message_author_id: (message.author as Obj).id,
      burst,
      type: burst ? 1 : 0,
    };
    if (burst) d.burst_colors = ['#f5c400', '#ff7a00'];
    return { t: 'MESSAGE_REACTION_ADD', d, guildId: g.id };
  }

  private memberAdd(g: GuildRec): WorldDispatch {
    const r = g.random;
    const ms = this.clock();
    const m = this.makeMember(g, r, this.nextId(), ms, false);
    m.index = g.members.length;
    g.members.push(m);
    g.byId.set(m.id, m);
    return { t: 'GUILD_MEMBER_ADD', d: { ...m.full, guild_id: g.id }, guildId: g.id };
  }

  private memberRemove(g: GuildRec, r: Random): WorldDispatch {
    let guild = g;
    // Owners and the bot are never removed; a guild with nobody else cannot lose a member.
    if (guild.members.length <= 2) {
      const other = this.findGuild((x) => x.members.length > 2);
      if (!other) return this.memberAdd(g);
      guild = other;
    }
    let m = this.randomMember(guild, r);
    if (m.id === guild.ownerId) m = at(guild.members, guild.members.length - 1);
    if (m.id === guild.ownerId || m.id === this.botUser.id) m = at(guild.members, 1);
    if (m.id === guild.ownerId || m.id === this.botUser.id) return this.memberAdd(guild);
    this.removeMember(guild, m);
    return { t: 'GUILD_MEMBER_REMOVE', d: { guild_id: guild.id, user: m.user }, guildId: guild.id };
  }

  private memberUpdate(g: GuildRec, r: Random): WorldDispatch {
    const m = this.randomMember(g, r);
    const assignable = g.roles.filter((role) => role.id !== g.id && role.managed !== true);
    if (assignable.length > 0 && r.chance(0.6)) {
      const role = r.pick(assignable).id as string;
      m.roles = m.roles.includes(role) ? m.roles.filter((x) => x !== role) : [...m.roles, role];
    } else {
      m.nick = m.nick === null ? `${r.pick(ADJECTIVES)} ${r.pick(NOUNS)}` : null;
      m.lnick = m.nick?.toLowerCase() ?? null;
    }
    setMemberObjects(m, { ...m.partial, nick: m.nick, roles: m.roles });
    if (m.voice) {
      const voice = { ...m.voice, member: m.full };
      m.voice = voice;
      g.voiceStates.set(m.id, voice);
    }
    const p = m.partial;
    const d = {
      guild_id: g.id,
      roles: m.roles,
      user: m.user,
      nick: m.nick,
      avatar: p.avatar,
      banner: p.banner,
      joined_at: p.joined_at,
      premium_since: p.premium_since,
      deaf: p.deaf,
      mute: p.mute,
      pending: p.pending,
      communication_disabled_until: p.communication_disabled_until,
      flags: p.flags,
    };
    return { t: 'GUILD_MEMBER_UPDATE', d, guildId: g.id };
  }

  private interaction(g: GuildRec, r: Random): WorldDispatch {
    const channel = this.randomTextChannel(g, r);
    const m = this.randomMember(g, r);
    const which = r.int(0, SLASH_COMMANDS.length - 1);
    const command = at(SLASH_COMMANDS, which);
    const options = command.options.map((o) => ({
      name: o.name,
      type: o.type,
      value: o.type === 4 ? r.int(2, 100) : sentence(r),
    }));
    const id = this.nextId();
    const permissions = m.roles.length > 0 && r.chance(0.2) ? ADMIN_PERMISSIONS : EVERYONE_PERMISSIONS;
    const d = {
      id,
      application_id: this.application.id,
      type: 2,
      version: 1,
      token: Buffer.from(`interaction:${id}:${r.hex(24)}`).toString('base64url'),
      guild_id: g.id,
      guild: { id: g.id, locale: g.locale, features: g.base.features },
      channel_id: channel.id,
      channel: {
        id: channel.id,
        type: channel.type,
        guild_id: g.id,
        name: channel.name,
        nsfw: channel.nsfw ?? false,
        flags: 0,
        permissions: EVERYONE_PERMISSIONS,
      },
      member: { ...m.full, permissions },
      data: { id: at(this.commandIds, which), name: command.name, type: 1, options },
      app_permissions: BOT_ROLE_PERMISSIONS,
      locale: r.pick(LOCALES),
      guild_locale: g.locale,
      entitlements: [],
      authorizing_integration_owners: { '0': g.id },
      context: 0,
      attachment_size_limit: 10485760,
    };
    return { t: 'INTERACTION_CREATE', d, guildId: g.id };
  }

  private voiceEvent(g: GuildRec, r: Random): WorldDispatch {
    const m = this.randomMember(g, r);
    const now = this.clock();
    // Someone already in voice mostly leaves or toggles mute/deafen in place; anyone else joins or moves.
    const action = m.voice ? r.int(0, 3) : 3;
    let channelId: string | null;
    if (action <= 1) {
      channelId = null;
    } else if (action === 2) {
      channelId = m.voice?.channel_id as string;
    } else {
      channelId = r.pick(g.voiceIds);
      const limit = (g.channelById.get(channelId)?.user_limit as number | undefined) ?? 0;
      if (limit > 0 && this.occupancy(g, channelId) >= limit && m.voice?.channel_id !== channelId)
        channelId = null;
    }
    const state = this.setVoice(
      g,
      m,
      channelId,
      {
        session_id: m.voice ? m.voice.session_id : r.hex(32),
        self_mute: r.chance(0.3),
        self_deaf: r.chance(0.1),
        self_video: r.chance(0.05),
      },
      now,
    );
    return { t: 'VOICE_STATE_UPDATE', d: { ...state, guild_id: g.id }, guildId: g.id };
  }

  private channelUpdate(g: GuildRec, r: Random): WorldDispatch {
    const old = r.chance(0.7)
      ? this.randomTextChannel(g, r)
      : at(g.channels, r.int(0, g.channels.length - 1));
    const next: Obj =
      old.type === 0
        ? { ...old, topic: r.chance(0.2) ? null : sentence(r) }
        : { ...old, bitrate: r.pick([64000, 96000, 128000]) };
    this.replaceChannel(g, next);
    return { t: 'CHANNEL_UPDATE', d: next, guildId: g.id };
  }

  private roleUpdate(g: GuildRec, r: Random): WorldDispatch {
    const candidates = g.roles.filter((role) => role.id !== g.id && role.managed !== true);
    const old = candidates.length > 0 ? r.pick(candidates) : at(g.roles, 0);
    const color = r.pick(ROLE_COLORS);
    const role = {
      ...old,
      color,
      colors: { primary_color: color, secondary_color: null, tertiary_color: null },
      mentionable: r.chance(0.5),
    };
    g.roles = g.roles.map((x) => (x === old ? role : x));
    return { t: 'GUILD_ROLE_UPDATE', d: { guild_id: g.id, role }, guildId: g.id };
  }

  // ---------------------------------------------------------------------------------------------
  // MESSAGE_CONTENT

  scrub(t: string, d: unknown, view: SessionView): unknown {
    if ((view.intents & MESSAGE_CONTENT) !== 0) return d;
    if (t === 'AUTO_MODERATION_ACTION_EXECUTION' && d !== null && typeof d === 'object') {
      return { ...(d as Obj), content: '', matched_content: '' };
    }
    if (t !== 'MESSAGE_CREATE' && t !== 'MESSAGE_UPDATE') return d;
    if (d === null || typeof d !== 'object' || Array.isArray(d)) return d;
    const message = d as Obj;
    if (typeof message.guild_id !== 'string') return d;
    const botId = this.botUser.id;
    const author = message.author as Obj | undefined;
    if (author && author.id === botId) return d;
    const mentions = message.mentions;
    if (Array.isArray(mentions) && mentions.some((u) => (u as Obj | null)?.id === botId)) return d;
    const emptyArray = (key: string) =>
      !(key in message) || (Array.isArray(message[key]) && (message[key] as []).length === 0);
    if (
      (!('content' in message) || message.content === '') &&
      emptyArray('embeds') &&
      emptyArray('attachments') &&
      emptyArray('components') &&
      !('poll' in message)
    ) {
      return d;
    }
    const { poll: _poll, ...rest } = message;
    const out: Obj = rest;
    if ('content' in message) out.content = '';
    if ('embeds' in message) out.embeds = [];
    if ('attachments' in message) out.attachments = [];
    if ('components' in message) out.components = [];
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Client commands

  requestGuildMembers(d: Record<string, unknown>, view: SessionView, now: number): WorldDispatch[] {
    const guildId = d.guild_id;
    if (typeof guildId !== 'string') return [];
    const g = this.guild(guildId);
    if (!g) return [];
    const nonce =
      typeof d.nonce === 'string' && Buffer.byteLength(d.nonce, 'utf8') <= MAX_NONCE_BYTES
        ? d.nonce
        : undefined;
    const presences = d.presences === true && (view.intents & PRESENCES) !== 0;

    let matched: MemberRec[];
    let notFound: (string | number)[] | undefined;
    if (d.user_ids !== undefined && d.user_ids !== null) {
      const ids = (Array.isArray(d.user_ids) ? d.user_ids : [d.user_ids]).slice(0, MAX_QUERY_RESULTS);
      matched = [];
      notFound = [];
      for (const raw of ids) {
        const id = String(raw);
        const m = g.byId.get(id);
        if (m) matched.push(m);
        else notFound.push(notFoundEntry(id));
      }
    } else {
      const query = typeof d.query === 'string' ? d.query : '';
      const limit = typeof d.limit === 'number' ? d.limit : 0;
      if (query === '' && limit === 0) {
        // A full list: needs GUILD_MEMBERS (otherwise ignored, as the one report describes) and is limited.
        if ((view.intents & MEMBERS_INTENT) === 0) return [];
        const last = this.lastFullRequest.get(g.id);
        if (last !== undefined && now - last < FULL_LIST_INTERVAL_MS) {
          const retryAfter = Math.round(FULL_LIST_INTERVAL_MS - (now - last)) / 1000;
          const meta: Obj = { guild_id: g.id };
          if (nonce !== undefined) meta.nonce = nonce;
          return [{ t: 'RATE_LIMITED', d: { opcode: 8, retry_after: retryAfter, meta }, guildId: g.id }];
        }
        this.lastFullRequest.set(g.id, now);
        matched = g.members;
      } else {
        const max = Math.min(limit > 0 ? limit : MAX_QUERY_RESULTS, MAX_QUERY_RESULTS);
        const q = query.toLowerCase();
        matched = [];
        for (const m of g.members) {
          if (matched.length >= max) break;
          if (m.lname.startsWith(q) || m.lnick?.startsWith(q)) matched.push(m);
        }
      }
    }

    const chunkCount = Math.max(1, Math.ceil(matched.length / CHUNK_SIZE));
    const out: WorldDispatch[] = [];
    for (let i = 0; i < chunkCount; i++) {
      const slice = matched.slice(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
      const chunk: Obj = {
        guild_id: g.id,
        members: slice.map((m) => m.full),
        chunk_index: i,
        chunk_count: chunkCount,
      };
      if (notFound && i === 0 && notFound.length > 0) chunk.not_found = notFound;
      if (presences)
        chunk.presences = slice.filter((m) => this.statusOf(m) !== 'offline').map((m) => this.presenceOf(m));
      if (nonce !== undefined) chunk.nonce = nonce;
      out.push({ t: 'GUILD_MEMBERS_CHUNK', d: chunk, guildId: g.id });
    }
    return out;
  }

  voiceStateUpdate(d: Record<string, unknown>, view: SessionView): WorldDispatch[] {
    const guildId = d.guild_id;
    if (typeof guildId !== 'string') return [];
    const g = this.guild(guildId);
    if (!g) return [];
    const bot = g.byId.get(this.botUser.id);
    if (!bot) return [];
    const channelId = typeof d.channel_id === 'string' ? d.channel_id : null;
    const r = this.commands;
    if (channelId !== null) {
      const channel = g.channelById.get(channelId);
      if (!channel || (channel.type !== 2 && channel.type !== 13)) return [];
      const limit = (channel.user_limit as number | undefined) ?? 0;
      const already = bot.voice?.channel_id === channelId;
      if (!already && limit > 0 && this.occupancy(g, channelId) >= limit && !this.botCanMoveMembers(g, bot)) {
        return [];
      }
    }
    const state = this.setVoice(
      g,
      bot,
      channelId,
      {
        session_id: view.sessionId,
        self_mute: d.self_mute === true,
        self_deaf: d.self_deaf === true,
        self_video: false,
      },
      this.clock(),
    );
    const out: WorldDispatch[] = [
      { t: 'VOICE_STATE_UPDATE', d: { ...state, guild_id: g.id }, guildId: g.id },
    ];
    if (channelId !== null) {
      out.push({
        t: 'VOICE_SERVER_UPDATE',
        d: {
          token: r.hex(16),
          guild_id: g.id,
          endpoint: `c-${r.pick(['iad', 'fra', 'ams', 'sin'])}${r.int(10, 99)}-${r.hex(8)}.discord.media:443`,
        },
        guildId: g.id,
      });
    }
    return out;
  }

  presenceUpdate(d: Record<string, unknown>, _view: SessionView): WorldDispatch[] {
    const requested = typeof d.status === 'string' ? d.status : 'online';
    const status: Status =
      requested === 'idle' || requested === 'dnd' || requested === 'online' ? requested : 'offline';
    const now = this.clock();
    const activities = Array.isArray(d.activities)
      ? (d.activities as unknown[])
          .filter((a): a is Obj => a !== null && typeof a === 'object')
          .map((a) => {
            // Bots may only set these four fields; Discord ignores the rest.
            const out: Obj = { name: a.name, type: a.type, created_at: now };
            if (a.state !== undefined) out.state = a.state;
            if (a.url !== undefined) out.url = a.url;
            return out;
          })
      : [];
    this.botPresence = { status, activities };
    const user = { id: this.botUser.id };
    const clientStatus = status === 'offline' ? {} : { web: status };
    return this.ids.map((guildId) => ({
      t: 'PRESENCE_UPDATE',
      d: { user, guild_id: guildId, status, client_status: clientStatus, activities },
      guildId,
    }));
  }

  requestSoundboardSounds(d: Record<string, unknown>, _view: SessionView): WorldDispatch[] {
    const ids = Array.isArray(d.guild_ids) ? d.guild_ids : [];
    const out: WorldDispatch[] = [];
    for (const id of ids) {
      if (typeof id !== 'string') continue;
      const g = this.guild(id);
      if (!g) continue;
      out.push({
        t: 'SOUNDBOARD_SOUNDS',
        d: { guild_id: g.id, soundboard_sounds: g.soundboard.slice() },
        guildId: g.id,
      });
    }
    return out;
  }

  requestChannelInfo(d: Record<string, unknown>, _view: SessionView): WorldDispatch[] {
    if (typeof d.guild_id !== 'string') return [];
    const g = this.guild(d.guild_id);
    if (!g) return [];
    const fields = Array.isArray(d.fields) ? d.fields : ['status', 'voice_start_time'];
    const wantStatus = fields.includes('status');
    const wantStart = fields.includes('voice_start_time');
    const channels = g.voiceIds.map((id) => {
      const info = g.voiceInfo.get(id);
      const entry: Obj = { id };
      if (wantStatus) entry.status = info?.status ?? null;
      if (wantStart) entry.voice_start_time = info?.start ?? null;
      return entry;
    });
    return [{ t: 'CHANNEL_INFO', d: { guild_id: g.id, channels }, guildId: g.id }];
  }

  // ---------------------------------------------------------------------------------------------
  // REST-ish hooks

  createMessage(
    channelId: string,
    body: Record<string, unknown>,
  ): { message: Record<string, unknown>; dispatch: WorldDispatch } | null {
    const extras: Obj = {};
    for (const key of [
      'embeds',
      'attachments',
      'components',
      'poll',
      'nonce',
      'tts',
      'message_reference',
      'flags',
    ]) {
      if (body[key] !== undefined) extras[key] = body[key];
    }
    const content = typeof body.content === 'string' ? body.content : '';
    const dm = this.dms.get(channelId);
    if (dm) {
      const message = this.buildMessage(this.nextId(), dm.channel, null, this.botUser, null, content, extras);
      return { message, dispatch: { t: 'MESSAGE_CREATE', d: message, guildId: null } };
    }
    const g = this.guildOfChannel(channelId);
    if (!g) return null;
    const channel = g.channelById.get(channelId) as Obj;
    const bot = g.byId.get(this.botUser.id);
    const message = this.buildMessage(
      this.nextId(),
      channel,
      g,
      this.botUser,
      bot?.partial ?? null,
      content,
      extras,
    );
    return { message, dispatch: { t: 'MESSAGE_CREATE', d: message, guildId: g.id } };
  }

  userMessage(channelId: string, content: string, authorId?: string): WorldDispatch | null {
    const r = this.commands;
    const dm = this.dms.get(channelId);
    if (dm) {
      const author = authorId === this.botUser.id ? this.botUser : dm.recipient;
      const message = this.buildMessage(this.nextId(), dm.channel, null, author, null, content, {});
      return { t: 'MESSAGE_CREATE', d: message, guildId: null };
    }
    const g = this.guildOfChannel(channelId);
    if (!g) return null;
    const channel = g.channelById.get(channelId) as Obj;
    let user: Obj;
    let partial: Obj | null;
    const given = authorId === undefined ? undefined : g.byId.get(authorId);
    if (given) {
      user = given.user;
      partial = given.partial;
    } else if (authorId !== undefined) {
      // Someone who is not (or no longer) a member: a bare user, as for a webhook-ish author.
      user = {
        id: authorId,
        username: `user${authorId.slice(-4)}`,
        discriminator: '0',
        global_name: null,
        avatar: null,
      };
      partial = null;
    } else {
      const m = this.randomMember(g, r);
      user = m.user;
      partial = m.partial;
    }
    const message = this.buildMessage(this.nextId(), channel, g, user, partial, content, {});
    return { t: 'MESSAGE_CREATE', d: message, guildId: g.id };
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: ids, lookups, guild construction

  /** Fresh snowflakes: strictly increasing even with a frozen clock (the increment carries into the ms). */
  private nextId(): string {
    let ms = Math.max(Math.floor(this.now()), this.lastMs);
    if (ms === this.lastMs) {
      this.seq++;
      if (this.seq > 0xfff) {
        ms++;
        this.seq = 0;
      }
    } else {
      this.seq = 0;
    }
    this.lastMs = ms;
    return snowflakeAt(ms, this.seq);
  }

  /** A plausible client nonce: what nextId would say now, without consuming it. */
  private peekId(): string {
    return snowflakeAt(Math.max(Math.floor(this.now()), this.lastMs), 0);
  }

  /** The time events are stamped with: never before the last snowflake handed out. */
  private clock(): number {
    return Math.max(Math.floor(this.now()), this.lastMs);
  }

  private guild(guildId: string): GuildRec | undefined {
    const built = this.built.get(guildId);
    if (built) return built;
    const index = this.indexById.get(guildId);
    return index === undefined ? undefined : this.build(guildId, index);
  }

  private guildAt(index: number): GuildRec {
    const id = at(this.ids, index);
    return this.built.get(id) ?? this.build(id, index);
  }

  private findGuild(predicate: (g: GuildRec) => boolean): GuildRec | undefined {
    for (const g of this.built.values()) if (predicate(g)) return g;
    return undefined;
  }

  /**
   * A guild's channel ids carry the guild's index in their worker and process bits, so a channel id
   * nobody has looked up yet leads to at most a few candidate guilds instead of building them all.
   */
  private guildOfChannel(channelId: string): GuildRec | undefined {
    const known = this.channelGuild.get(channelId);
    if (known) return known;
    if (!isSnowflake(channelId)) return undefined;
    const n = BigInt(channelId);
    const key = Number((n >> 17n) & 31n) | (Number((n >> 12n) & 31n) << 5);
    for (let i = key; i < this.ids.length; i += 1024) {
      const g = this.guildAt(i);
      if (g.channelById.has(channelId)) return g;
    }
    return undefined;
  }

  private build(id: string, index: number): GuildRec {
    const r = this.root.fork(`guild:${id}`);
    const createdMs = snowMs(id);
    const worker = index & 31;
    const proc = (index >> 5) & 31;
    const later = (from: number) => r.int(from, Math.max(from, T_2025));
    const botId = this.botUser.id;

    const theme = r.pick(GUILD_THEMES);
    const name = r.chance(0.5) ? `${cap(r.pick(ADJECTIVES))} ${theme}` : `${cap(r.pick(NOUNS))} ${theme}`;

    // Roles: @everyone shares the guild id; the bot has its managed integration role.
    const roleCount = r.int(this.roleRange[0], this.roleRange[1]);
    const roles: Obj[] = [makeRole(id, '@everyone', 0, 0, EVERYONE_PERMISSIONS, false, false)];
    const used = new Set<string>();
    for (let i = 0; i < roleCount; i++) {
      let roleName = r.pick(ROLE_NAMES);
      if (used.has(roleName)) roleName = `${roleName} ${i + 1}`;
      used.add(roleName);
      const roleId = makeSnowflake(later(createdMs), r.int(0, 31), r.int(0, 31), i);
      const perms =
        roleName === 'Admin' || roleName === 'Moderator' ? ADMIN_PERMISSIONS : EVERYONE_PERMISSIONS;
      roles.push(makeRole(roleId, roleName, r.pick(ROLE_COLORS), i + 1, perms, r.chance(0.4), r.chance(0.3)));
    }
    const joinedMs = later(Math.max(createdMs, snowMs(botId)));
    const botRoleId = makeSnowflake(joinedMs, r.int(0, 31), r.int(0, 31), 0xfff);
    const botRole = makeRole(
      botRoleId,
      this.botUser.username,
      0,
      roleCount + 1,
      BOT_ROLE_PERMISSIONS,
      false,
      false,
    );
    botRole.managed = true;
    botRole.tags = { bot_id: botId };
    roles.push(botRole);
    const assignable = roles.slice(1, roleCount + 1).map((role) => role.id as string);

    // Channels: at least one text ("general") and one voice channel, so every event kind has a place.
    const channelCount = Math.max(2, r.int(this.channelRange[0], this.channelRange[1]));
    const channels: Obj[] = [];
    const channelById = new Map<string, Obj>();
    const textIds: string[] = [];
    const voiceIds: string[] = [];
    const voiceInfo = new Map<string, { status: string | null; start: number | null }>();
    const usedNames = new Set<string>();
    let lastChannelMs = createdMs;
    for (let i = 0; i < channelCount; i++) {
      const voice = i === 1 || (i > 1 && r.chance(0.3));
      lastChannelMs = i === 0 ? createdMs : r.int(lastChannelMs, Math.max(lastChannelMs, T_2025));
      const channelId = makeSnowflake(lastChannelMs, worker, proc, i);
      let channel: Obj;
      if (voice) {
        let channelName = r.pick(VOICE_CHANNELS);
        if (usedNames.has(channelName)) channelName = `${channelName} ${i}`;
        usedNames.add(channelName);
        channel = {
          id: channelId,
          type: 2,
          guild_id: id,
          name: i === 1 ? 'General' : channelName,
          position: voiceIds.length,
          parent_id: null,
          bitrate: r.pick([64000, 64000, 96000]),
          user_limit: r.chance(0.2) ? r.int(2, 10) : 0,
          rtc_region: null,
          nsfw: false,
          permission_overwrites: [],
          flags: 0,
        };
        voiceIds.push(channelId);
        voiceInfo.set(channelId, {
          status: r.chance(0.2) ? `${r.pick(WORDS)} ${r.pick(NOUNS)}` : null,
          start: null,
        });
      } else {
        let channelName = i === 0 ? 'general' : r.pick(TEXT_CHANNELS);
        if (usedNames.has(channelName)) channelName = `${channelName}-${i}`;
        usedNames.add(channelName);
        channel = {
          id: channelId,
          type: 0,
          guild_id: id,
          name: channelName,
          position: textIds.length,
          parent_id: null,
          topic: r.chance(0.5) ? sentence(r) : null,
          nsfw: false,
          last_message_id: makeSnowflake(later(lastChannelMs), r.int(0, 31), r.int(0, 31), r.int(0, 4095)),
          rate_limit_per_user: r.chance(0.1) ? r.pick([5, 10, 30]) : 0,
          permission_overwrites: [],
          flags: 0,
        };
        textIds.push(channelId);
      }
      channels.push(channel);
      channelById.set(channelId, channel);
    }

    const g: GuildRec = {
      id,
      index,
      createdMs,
      base: {},
      roles,
      channels,
      channelById,
      textIds,
      voiceIds,
      threads: [],
      members: [],
      byId: new Map(),
      voiceStates: new Map(),
      voiceInfo,
      joinedAt: iso(joinedMs),
      ownerId: '',
      botRoleId,
      emojis: [],
      stickers: [],
      soundboard: [],
      scheduledEvents: [],
      locale: r.chance(0.7) ? 'en-US' : r.pick(LOCALES),
      random: r.fork('later-members'),
      recent: [],
    };

    // Members: the bot first (it must survive every removal), then the humans (and the odd other bot).
    const memberCount = Math.max(1, r.int(this.memberRange[0], this.memberRange[1]));
    const bot = this.makeBotMember(g, joinedMs);
    g.members.push(bot);
    g.byId.set(bot.id, bot);
    for (let i = 1; i < memberCount; i++) {
      let userId: string;
      do {
        userId = makeSnowflake(r.int(T_2015_06, T_2025), r.int(0, 31), r.int(0, 31), i & 0xfff);
      } while (g.byId.has(userId));
      const m = this.makeMember(g, r, userId, later(Math.max(createdMs, snowMs(userId))), true, assignable);
      m.index = g.members.length;
      g.members.push(m);
      g.byId.set(userId, m);
    }
    const owner = g.members.length > 1 ? at(g.members, 1) : bot;
    (g as { ownerId: string }).ownerId = owner.id;

    // Voice: a few online members sit in voice channels, respecting user limits.
    for (let i = 1; i < g.members.length; i++) {
      const m = at(g.members, i);
      if (m.status === 'offline' || !r.chance(0.08)) continue;
      const channelId = r.pick(voiceIds);
      const limit = (channelById.get(channelId)?.user_limit as number) ?? 0;
      if (limit > 0 && this.occupancy(g, channelId) >= limit) continue;
      this.setVoice(
        g,
        m,
        channelId,
        { session_id: r.hex(32), self_mute: r.chance(0.3), self_deaf: r.chance(0.1), self_video: false },
        later(joinedMs),
      );
    }

    // Threads, expressions, scheduled events.
    const threadCount = r.chance(0.4) ? r.int(1, 3) : 0;
    for (let i = 0; i < threadCount; i++) {
      const parentId = r.pick(textIds);
      const threadMs = later(createdMs);
      const threadId = makeSnowflake(threadMs, worker, proc, channelCount + i);
      const count = r.int(1, 200);
      const thread: Obj = {
        id: threadId,
        type: 11,
        guild_id: id,
        parent_id: parentId,
        owner_id: this.randomMember(g, r).id,
        name: `${r.pick(ADJECTIVES)} ${r.pick(NOUNS)} discussion`,
        last_message_id: makeSnowflake(later(threadMs), r.int(0, 31), r.int(0, 31), r.int(0, 4095)),
        rate_limit_per_user: 0,
        flags: 0,
        message_count: count,
        total_message_sent: count,
        member_count: r.int(1, 50),
        thread_metadata: {
          archived: false,
          auto_archive_duration: r.pick([60, 1440, 4320, 10080]),
          archive_timestamp: iso(threadMs),
          locked: false,
          create_timestamp: iso(threadMs),
        },
      };
      g.threads.push(thread);
      channelById.set(threadId, thread);
    }
    const emojiCount = r.chance(0.6) ? r.int(1, 6) : 0;
    for (let i = 0; i < emojiCount; i++) {
      g.emojis.push({
        id: makeSnowflake(later(createdMs), r.int(0, 31), r.int(0, 31), i),
        name: `${r.pick(NOUNS)}_${r.pick(['happy', 'sad', 'wave', 'think', 'party'])}`,
        roles: [],
        require_colons: true,
        managed: false,
        animated: r.chance(0.2),
        available: true,
      });
    }
    const stickerCount = r.chance(0.3) ? r.int(1, 2) : 0;
    for (let i = 0; i < stickerCount; i++) {
      const stickerName = `${r.pick(ADJECTIVES)} ${r.pick(NOUNS)}`;
      g.stickers.push({
        id: makeSnowflake(later(createdMs), r.int(0, 31), r.int(0, 31), i),
        name: stickerName,
        tags: r.pick(NOUNS),
        type: 2,
        format_type: 1,
        description: `A ${stickerName}`,
        available: true,
        guild_id: id,
      });
    }
    const soundCount = r.chance(0.4) ? r.int(1, 3) : 0;
    for (let i = 0; i < soundCount; i++) {
      g.soundboard.push({
        sound_id: makeSnowflake(later(createdMs), r.int(0, 31), r.int(0, 31), i),
        name: `${r.pick(ADJECTIVES)} ${r.pick(['horn', 'bell', 'clap', 'drum', 'laugh'])}`,
        volume: r.pick([0.5, 0.8, 1]),
        emoji_id: null,
        emoji_name: r.pick(UNICODE_EMOJIS),
        guild_id: id,
        available: true,
        user: this.randomMember(g, r).user,
      });
    }
    if (r.chance(0.3)) {
      const start = later(Date.UTC(2024, 6, 1));
      g.scheduledEvents.push({
        id: makeSnowflake(later(createdMs), r.int(0, 31), r.int(0, 31), 0),
        guild_id: id,
        channel_id: r.pick(voiceIds),
        creator_id: owner.id,
        name: `${cap(r.pick(ADJECTIVES))} ${r.pick(['game night', 'meetup', 'Q&A', 'listening party', 'workshop'])}`,
        description: sentence(r),
        scheduled_start_time: iso(start),
        scheduled_end_time: null,
        privacy_level: 2,
        status: 1,
        entity_type: 2,
        entity_id: null,
        entity_metadata: null,
        creator: owner.user,
        user_count: r.int(0, 30),
        image: null,
        recurrence_rule: null,
      });
    }

    const systemChannel = at(textIds, 0);
    const community = g.members.length > 1000 || r.chance(0.2);
    Object.assign(g.base, {
      id,
      name,
      icon: r.chance(0.7) ? r.hex(32) : null,
      icon_hash: null,
      splash: null,
      discovery_splash: null,
      owner_id: owner.id,
      afk_channel_id: null,
      afk_timeout: 300,
      widget_enabled: false,
      widget_channel_id: null,
      verification_level: r.int(0, 3),
      default_message_notifications: r.int(0, 1),
      explicit_content_filter: r.int(0, 2),
      mfa_level: 0,
      application_id: null,
      system_channel_id: systemChannel,
      system_channel_flags: 0,
      rules_channel_id: community ? systemChannel : null,
      max_presences: null,
      max_members: 500000,
      vanity_url_code: null,
      description: community ? sentence(r) : null,
      banner: null,
      premium_tier: r.chance(0.2) ? r.int(1, 3) : 0,
      premium_subscription_count: r.chance(0.3) ? r.int(1, 20) : 0,
      preferred_locale: g.locale,
      public_updates_channel_id: community ? systemChannel : null,
      max_video_channel_users: 25,
      max_stage_video_channel_users: 50,
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
      safety_alerts_channel_id: null,
      incidents_data: null,
      features: community ? ['COMMUNITY', 'NEWS'] : [],
    });

    this.built.set(id, g);
    for (const channelId of channelById.keys()) this.channelGuild.set(channelId, g);
    return g;
  }

  private makeBotMember(g: GuildRec, joinedMs: number): MemberRec {
    const user = this.botUser as Obj;
    const partial: Obj = memberFields(null, [g.botRoleId], iso(joinedMs), null);
    const m: MemberRec = {
      id: this.botUser.id,
      index: 0,
      user,
      full: {},
      partial,
      roles: [g.botRoleId],
      nick: null,
      status: 'online',
      presence: {},
      voice: null,
      lname: this.botUser.username.toLowerCase(),
      lnick: null,
    };
    setMemberObjects(m, partial);
    return m;
  }

  /** A new member; initial members get a seeded presence, later joiners arrive online with no activity. */
  private makeMember(
    g: GuildRec,
    r: Random,
    userId: string,
    joinedMs: number,
    initial: boolean,
    assignable?: readonly string[],
  ): MemberRec {
    const user = makeUser(r, userId);
    const roleIds =
      assignable ?? g.roles.filter((x) => x.id !== g.id && x.managed !== true).map((x) => x.id as string);
    const roles: string[] = [];
    if (initial && roleIds.length > 0 && r.chance(0.4)) {
      const a = r.pick(roleIds);
      roles.push(a);
      if (r.chance(0.3)) {
        const b = r.pick(roleIds);
        if (b !== a) roles.push(b);
      }
    }
    const nick = initial && r.chance(0.15) ? `${cap(r.pick(ADJECTIVES))} ${cap(r.pick(NOUNS))}` : null;
    const premiumSince = initial && r.chance(0.03) ? iso(r.int(joinedMs, Math.max(joinedMs, T_2025))) : null;
    const partial = memberFields(nick, roles, iso(joinedMs), premiumSince);
    let status: Status = 'online';
    if (initial) {
      status = r.chance(this.onlineFraction)
        ? r.pick(['online', 'online', 'online', 'idle', 'dnd'] as const)
        : 'offline';
    }
    const m: MemberRec = {
      id: userId,
      index: 0,
      user,
      full: {},
      partial,
      roles,
      nick,
      status,
      // Most members of a big guild are offline and their presence is never sent: don't allocate one.
      presence:
        status === 'offline'
          ? OFFLINE_PLACEHOLDER
          : makePresence(
              r,
              userId,
              status,
              initial ? r.int(Date.UTC(2024, 0, 1), T_2025) : joinedMs,
              !initial,
            ),
      voice: null,
      lname: (user.username as string).toLowerCase(),
      lnick: nick?.toLowerCase() ?? null,
    };
    setMemberObjects(m, partial);
    return m;
  }

  private removeMember(g: GuildRec, m: MemberRec): void {
    if (m.voice) this.setVoice(g, m, null, {}, this.clock());
    const last = g.members.pop() as MemberRec;
    if (last !== m) {
      last.index = m.index;
      g.members[m.index] = last;
    }
    g.byId.delete(m.id);
  }

  /** Moves a member into a voice channel (or out, with null); returns the voice state without guild_id. */
  private setVoice(
    g: GuildRec,
    m: MemberRec,
    channelId: string | null,
    fields: { session_id?: unknown; self_mute?: boolean; self_deaf?: boolean; self_video?: boolean },
    nowMs: number,
  ): Obj {
    const previous = m.voice?.channel_id as string | undefined;
    const state: Obj = {
      channel_id: channelId,
      user_id: m.id,
      member: m.full,
      session_id: fields.session_id ?? m.voice?.session_id ?? '',
      deaf: false,
      mute: false,
      self_deaf: fields.self_deaf ?? false,
      self_mute: fields.self_mute ?? false,
      self_video: fields.self_video ?? false,
      suppress: false,
      request_to_speak_timestamp: null,
    };
    if (channelId === null) {
      m.voice = null;
      g.voiceStates.delete(m.id);
    } else {
      m.voice = state;
      g.voiceStates.set(m.id, state);
      const info = g.voiceInfo.get(channelId);
      if (info && info.start === null) info.start = Math.floor(nowMs / 1000);
    }
    if (previous !== undefined && previous !== channelId && this.occupancy(g, previous) === 0) {
      const info = g.voiceInfo.get(previous);
      if (info) info.start = null;
    }
    return state;
  }

  private occupancy(g: GuildRec, channelId: string): number {
    let n = 0;
    for (const state of g.voiceStates.values()) if (state.channel_id === channelId) n++;
    return n;
  }

  private botCanMoveMembers(g: GuildRec, bot: MemberRec): boolean {
    return (this.rolePermissions(g, bot) & (MOVE_MEMBERS | 8n)) !== 0n;
  }

  /** @everyone's permissions and those of the member's roles. */
  private rolePermissions(g: GuildRec, member: MemberRec): bigint {
    let perms = 0n;
    for (const role of g.roles) {
      if (role.id === g.id || member.roles.includes(role.id as string))
        perms |= BigInt(role.permissions as string);
    }
    return perms;
  }

  private replaceChannel(g: GuildRec, next: Obj): void {
    const id = next.id as string;
    const i = g.channels.findIndex((c) => c.id === id);
    if (i >= 0) g.channels[i] = next;
    g.channelById.set(id, next);
  }

  private randomMember(g: GuildRec, r: Random): MemberRec {
    // Index 0 is the bot; traffic is written by everyone else when there is anyone else.
    return g.members.length > 1 ? at(g.members, r.int(1, g.members.length - 1)) : at(g.members, 0);
  }

  private randomTextChannel(g: GuildRec, r: Random): Obj {
    return g.channelById.get(r.pick(g.textIds)) as Obj;
  }

  private statusOf(m: MemberRec): Status {
    return m.id === this.botUser.id ? this.botPresence.status : m.status;
  }

  private presenceOf(m: MemberRec): Obj {
    if (m.id !== this.botUser.id) {
      if (m.presence !== OFFLINE_PLACEHOLDER) return m.presence;
      return { user: { id: m.id }, status: 'offline', client_status: {}, activities: [] };
    }
    const status = this.botPresence.status;
    return {
      user: { id: m.id },
      status,
      client_status: status === 'offline' ? {} : { web: status },
      activities: this.botPresence.activities,
    };
  }

  private remember(g: GuildRec, message: Obj, r: Random): void {
    if (g.recent.length < RECENT_MESSAGES) g.recent.push(message);
    else g.recent[r.int(0, RECENT_MESSAGES - 1)] = message;
  }

  /** Index of a remembered message of this guild, or -1 when the traffic has not written one there yet. */
  private recentIndex(g: GuildRec, r: Random): number {
    return g.recent.length === 0 ? -1 : r.int(0, g.recent.length - 1);
  }

  /** Just the ids of a message from before the world started: enough for deletes and reactions. */
  private oldMessageRef(g: GuildRec, r: Random): Obj {
    const ms = this.clock() - r.int(60_000, 86_400_000);
    return {
      id: snowflakeAt(ms, r.int(0, 4095)),
      channel_id: r.pick(g.textIds),
      author: { id: this.randomMember(g, r).id },
    };
  }

  /** A message from before the world started (no MESSAGE_CREATE was seen for it). */
  private oldMessage(g: GuildRec, r: Random): Obj {
    const channel = this.randomTextChannel(g, r);
    const author = this.randomMember(g, r);
    const ms = this.clock() - r.int(60_000, 86_400_000);
    const id = snowflakeAt(ms, r.int(0, 4095));
    return this.buildMessage(id, channel, g, author.user, author.partial, sentence(r), {}, ms);
  }

  private attachment(r: Random, channelId: string): Obj {
    const id = this.peekId();
    const image = r.chance(0.7);
    const filename = image ? `${r.pick(NOUNS)}.png` : `${r.pick(NOUNS)}.txt`;
    const url = `https://cdn.discordapp.com/attachments/${channelId}/${id}/${filename}`;
    const out: Obj = {
      id,
      filename,
      size: r.int(1_000, 8_000_000),
      url,
      proxy_url: url.replace('cdn.discordapp.com', 'media.discordapp.net'),
      content_type: image ? 'image/png' : 'text/plain; charset=utf-8',
    };
    if (image) {
      out.width = r.int(200, 2000);
      out.height = r.int(200, 2000);
    }
    return out;
  }

  private poll(r: Random): Obj {
    const answers = r.int(2, 4);
    return {
      question: { text: `${cap(r.pick(WORDS))} ${r.pick(NOUNS)}?` },
      answers: Array.from({ length: answers }, (_, i) => ({
        answer_id: i + 1,
        poll_media: { text: r.pick(GAMES) },
      })),
      expiry: iso(this.clock() + 86_400_000),
      allow_multiselect: r.chance(0.3),
      layout_type: 1,
      results: { is_finalized: false, answer_counts: [] },
    };
  }

  private buildMessage(
    id: string,
    channel: Obj,
    g: GuildRec | null,
    author: Obj,
    member: Obj | null,
    content: string,
    extras: Obj,
    ms = this.clock(),
  ): Obj {
    const mentions: Obj[] = [];
    const mentionRoles: string[] = [];
    if (content.includes('<@')) {
      for (const match of content.matchAll(/<@(!|&)?(\d{1,20})>/g)) {
        const target = match[2] as string;
        if (match[1] === '&') {
          if (g?.roles.some((role) => role.id === target) && !mentionRoles.includes(target))
            mentionRoles.push(target);
          continue;
        }
        if (mentions.some((u) => u.id === target)) continue;
        const m = g?.byId.get(target);
        if (m) {
          const p = m.partial;
          mentions.push({
            ...m.user,
            member: { roles: p.roles, joined_at: p.joined_at, deaf: p.deaf, mute: p.mute, flags: p.flags },
          });
        } else if (!g && target === this.botUser.id) {
          mentions.push(this.botUser);
        }
      }
    }
    const message: Obj = { id, channel_id: channel.id };
    if (g) message.guild_id = g.id;
    message.channel_type = channel.type;
    message.author = author;
    if (g && member) message.member = member;
    Object.assign(message, {
      content,
      timestamp: iso(ms),
      edited_timestamp: null,
      tts: extras.tts === true,
      mention_everyone: g !== null && (content.includes('@everyone') || content.includes('@here')),
      mentions,
      mention_roles: mentionRoles,
      attachments: extras.attachments ?? [],
      embeds: extras.embeds ?? [],
      components: extras.components ?? [],
      pinned: false,
      type: extras.message_reference ? 19 : 0,
      flags: typeof extras.flags === 'number' ? extras.flags : 0,
    });
    if (extras.nonce !== undefined) message.nonce = extras.nonce;
    if (extras.message_reference !== undefined) message.message_reference = extras.message_reference;
    if (extras.poll !== undefined) message.poll = extras.poll;
    return message;
  }
}

function snowMs(id: string): number {
  return Number(BigInt(id) >> 22n) + 1420070400000;
}

function cap(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function sentence(r: Random): string {
  const n = r.int(2, 12);
  let out = cap(r.pick(WORDS));
  for (let i = 1; i < n; i++) out += ` ${r.pick(WORDS)}`;
  return r.chance(0.3) ? `${out}?` : out;
}

function makeUser(r: Random, id: string): Obj {
  const a = r.pick(ADJECTIVES);
  const b = r.pick(NOUNS);
  const user: Obj = {
    id,
    username: r.chance(0.5) ? `${a}_${b}${r.int(0, 999)}` : `${a}${b}`,
    discriminator: '0',
    global_name: r.chance(0.6) ? `${cap(a)} ${cap(b)}` : null,
    avatar: r.chance(0.7) ? r.hex(32) : null,
    public_flags: 0,
  };
  if (r.chance(0.02)) {
    user.bot = true;
    user.discriminator = String(r.int(1000, 9999));
    user.global_name = null;
  }
  return user;
}

function memberFields(
  nick: string | null,
  roles: string[],
  joinedAt: string,
  premiumSince: string | null,
): Obj {
  return {
    nick,
    avatar: null,
    banner: null,
    roles,
    joined_at: joinedAt,
    premium_since: premiumSince,
    deaf: false,
    mute: false,
    flags: 0,
    pending: false,
    communication_disabled_until: null,
  };
}

/** Sets a member's two shapes from its user-less fields, as fresh objects (older ones may be out there). */
function setMemberObjects(m: MemberRec, partial: Obj): void {
  m.partial = partial;
  m.full = { user: m.user, ...partial };
}

function makePresence(r: Random, userId: string, status: Status, ms: number, quiet = false): Obj {
  if (status === 'offline') return { user: { id: userId }, status, client_status: {}, activities: [] };
  const platform = r.pick(PLATFORMS);
  const clientStatus: Obj = { [platform]: status };
  if (r.chance(0.15)) clientStatus[platform === 'mobile' ? 'desktop' : 'mobile'] = 'idle';
  const activities: Obj[] = [];
  if (!quiet && r.chance(0.45)) {
    const kind = r.int(0, 2);
    if (kind === 0) {
      activities.push({
        name: r.pick(GAMES),
        type: 0,
        created_at: ms,
        timestamps: { start: ms - r.int(60_000, 7_200_000) },
      });
    } else if (kind === 1) {
      activities.push({ name: 'Custom Status', type: 4, state: r.pick(CUSTOM_STATES), created_at: ms });
    } else {
      activities.push({
        name: 'Spotify',
        type: 2,
        details: `${cap(r.pick(ADJECTIVES))} ${cap(r.pick(NOUNS))}`,
        state: `${cap(r.pick(NOUNS))} Band`,
        created_at: ms,
      });
    }
  }
  return { user: { id: userId }, status, client_status: clientStatus, activities };
}

function makeRole(
  id: string,
  name: string,
  color: number,
  position: number,
  permissions: string,
  hoist: boolean,
  mentionable: boolean,
): Obj {
  return {
    id,
    name,
    color,
    colors: { primary_color: color, secondary_color: null, tertiary_color: null },
    hoist,
    icon: null,
    unicode_emoji: null,
    position,
    permissions,
    managed: false,
    mentionable,
    flags: 0,
  };
}
