/**
 * Gateway intents: names, values, the privileged ones, and which dispatches each gates.
 *
 * Parsing intents from names is here (not in the CLI) because applications and the emulator both
 * need it, and because an unknown name must be an error, not a silently dropped bit.
 */
import { GatewayIntentBits } from 'discord-api-types/v10';

export { GatewayIntentBits };

/** Every documented intent bit OR'd together. Bits outside it are answered with 4013. */
export const ALL_INTENTS = 53608447;
/** GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT. */
export const PRIVILEGED_INTENTS = 2 | 256 | 32768;
/** Every documented bit that needs no approval: the sensible default for a bot. */
export const NON_PRIVILEGED_INTENTS = ALL_INTENTS & ~PRIVILEGED_INTENTS;

const NAMES: Readonly<Record<string, number>> = {
  GUILDS: 1 << 0,
  GUILD_MEMBERS: 1 << 1,
  GUILD_MODERATION: 1 << 2,
  GUILD_BANS: 1 << 2,
  GUILD_EXPRESSIONS: 1 << 3,
  GUILD_EMOJIS_AND_STICKERS: 1 << 3,
  GUILD_INTEGRATIONS: 1 << 4,
  GUILD_WEBHOOKS: 1 << 5,
  GUILD_INVITES: 1 << 6,
  GUILD_VOICE_STATES: 1 << 7,
  GUILD_PRESENCES: 1 << 8,
  GUILD_MESSAGES: 1 << 9,
  GUILD_MESSAGE_REACTIONS: 1 << 10,
  GUILD_MESSAGE_TYPING: 1 << 11,
  DIRECT_MESSAGES: 1 << 12,
  DIRECT_MESSAGE_REACTIONS: 1 << 13,
  DIRECT_MESSAGE_TYPING: 1 << 14,
  MESSAGE_CONTENT: 1 << 15,
  GUILD_SCHEDULED_EVENTS: 1 << 16,
  AUTO_MODERATION_CONFIGURATION: 1 << 20,
  AUTO_MODERATION_EXECUTION: 1 << 21,
  GUILD_MESSAGE_POLLS: 1 << 24,
  DIRECT_MESSAGE_POLLS: 1 << 25,
};

/**
 * Parses intents given as a number, a numeric string, or comma-separated names (case-insensitive,
 * `ALL`, `NON_PRIVILEGED` and `NONE` allowed). Throws a RangeError naming the offending part.
 */
export function parseIntents(spec: number | string | readonly string[]): number {
  if (typeof spec === 'number') return checkIntents(spec);
  const parts = typeof spec === 'string' ? spec.split(',') : spec;
  if (!Array.isArray(parts) || !parts.every((part) => typeof part === 'string')) {
    throw new TypeError('intents must be a number, a comma-separated string or a list of intent names');
  }
  let bits = 0;
  for (const raw of parts) {
    const part = raw.trim().toUpperCase();
    if (part === '') continue;
    if (/^\d+$/.test(part)) bits |= checkIntents(Number(part));
    else if (part === 'ALL') bits |= ALL_INTENTS;
    else if (part === 'NON_PRIVILEGED' || part === 'DEFAULT') bits |= NON_PRIVILEGED_INTENTS;
    else if (part === 'NONE') bits |= 0;
    else {
      const value = NAMES[part];
      if (value === undefined) {
        throw new RangeError(
          `unknown intent "${raw.trim()}"; known intents: ${Object.keys(NAMES).join(', ')}`,
        );
      }
      bits |= value;
    }
  }
  return bits;
}

/**
 * Whether `value` is an intents bitfield of defined bits only. The range test comes first: bitwise
 * operators keep only 32 bits, so 2^32 + 1 would pass for 1.
 */
export function isIntents(value: unknown): value is number {
  return (
    Number.isInteger(value) &&
    (value as number) >= 0 &&
    (value as number) <= ALL_INTENTS &&
    ((value as number) & ~ALL_INTENTS) === 0
  );
}

function checkIntents(value: number): number {
  if (!isIntents(value)) {
    throw new RangeError(`intents ${value} has bits Discord does not define (valid mask ${ALL_INTENTS})`);
  }
  return value;
}

/** Names of the bits set in `intents`, for logs and the CLI. */
export function intentNames(intents: number): string[] {
  const seen = new Set<number>();
  const out: string[] = [];
  for (const [name, bit] of Object.entries(NAMES)) {
    if ((intents & bit) !== 0 && !seen.has(bit)) {
      seen.add(bit);
      out.push(name);
    }
  }
  return out;
}

const I = GatewayIntentBits;
/**
 * The intent that gates each dispatch in a guild context. Events missing from this table are
 * sent regardless of intents. DM variants are handled by `requiredIntent`.
 */
const GUILD_EVENT_INTENT: Readonly<Record<string, number>> = {
  GUILD_CREATE: I.Guilds,
  GUILD_UPDATE: I.Guilds,
  GUILD_DELETE: I.Guilds,
  GUILD_ROLE_CREATE: I.Guilds,
  GUILD_ROLE_UPDATE: I.Guilds,
  GUILD_ROLE_DELETE: I.Guilds,
  CHANNEL_CREATE: I.Guilds,
  CHANNEL_UPDATE: I.Guilds,
  CHANNEL_DELETE: I.Guilds,
  CHANNEL_PINS_UPDATE: I.Guilds,
  THREAD_CREATE: I.Guilds,
  THREAD_UPDATE: I.Guilds,
  THREAD_DELETE: I.Guilds,
  THREAD_LIST_SYNC: I.Guilds,
  THREAD_MEMBER_UPDATE: I.Guilds,
  THREAD_MEMBERS_UPDATE: I.Guilds,
  STAGE_INSTANCE_CREATE: I.Guilds,
  STAGE_INSTANCE_UPDATE: I.Guilds,
  STAGE_INSTANCE_DELETE: I.Guilds,
  VOICE_CHANNEL_STATUS_UPDATE: I.Guilds,
  VOICE_CHANNEL_START_TIME_UPDATE: I.Guilds,
  GUILD_MEMBER_ADD: I.GuildMembers,
  GUILD_MEMBER_UPDATE: I.GuildMembers,
  GUILD_MEMBER_REMOVE: I.GuildMembers,
  GUILD_AUDIT_LOG_ENTRY_CREATE: I.GuildModeration,
  GUILD_BAN_ADD: I.GuildModeration,
  GUILD_BAN_REMOVE: I.GuildModeration,
  GUILD_EMOJIS_UPDATE: I.GuildExpressions,
  GUILD_STICKERS_UPDATE: I.GuildExpressions,
  GUILD_SOUNDBOARD_SOUND_CREATE: I.GuildExpressions,
  GUILD_SOUNDBOARD_SOUND_UPDATE: I.GuildExpressions,
  GUILD_SOUNDBOARD_SOUND_DELETE: I.GuildExpressions,
  GUILD_SOUNDBOARD_SOUNDS_UPDATE: I.GuildExpressions,
  GUILD_INTEGRATIONS_UPDATE: I.GuildIntegrations,
  INTEGRATION_CREATE: I.GuildIntegrations,
  INTEGRATION_UPDATE: I.GuildIntegrations,
  INTEGRATION_DELETE: I.GuildIntegrations,
  WEBHOOKS_UPDATE: I.GuildWebhooks,
  INVITE_CREATE: I.GuildInvites,
  INVITE_DELETE: I.GuildInvites,
  VOICE_CHANNEL_EFFECT_SEND: I.GuildVoiceStates,
  VOICE_STATE_UPDATE: I.GuildVoiceStates,
  PRESENCE_UPDATE: I.GuildPresences,
  MESSAGE_CREATE: I.GuildMessages,
  MESSAGE_UPDATE: I.GuildMessages,
  MESSAGE_DELETE: I.GuildMessages,
  MESSAGE_DELETE_BULK: I.GuildMessages,
  MESSAGE_REACTION_ADD: I.GuildMessageReactions,
  MESSAGE_REACTION_REMOVE: I.GuildMessageReactions,
  MESSAGE_REACTION_REMOVE_ALL: I.GuildMessageReactions,
  MESSAGE_REACTION_REMOVE_EMOJI: I.GuildMessageReactions,
  TYPING_START: I.GuildMessageTyping,
  GUILD_SCHEDULED_EVENT_CREATE: I.GuildScheduledEvents,
  GUILD_SCHEDULED_EVENT_UPDATE: I.GuildScheduledEvents,
  GUILD_SCHEDULED_EVENT_DELETE: I.GuildScheduledEvents,
  GUILD_SCHEDULED_EVENT_USER_ADD: I.GuildScheduledEvents,
  GUILD_SCHEDULED_EVENT_USER_REMOVE: I.GuildScheduledEvents,
  AUTO_MODERATION_RULE_CREATE: I.AutoModerationConfiguration,
  AUTO_MODERATION_RULE_UPDATE: I.AutoModerationConfiguration,
  AUTO_MODERATION_RULE_DELETE: I.AutoModerationConfiguration,
  AUTO_MODERATION_ACTION_EXECUTION: I.AutoModerationExecution,
  MESSAGE_POLL_VOTE_ADD: I.GuildMessagePolls,
  MESSAGE_POLL_VOTE_REMOVE: I.GuildMessagePolls,
};

const DM_EVENT_INTENT: Readonly<Record<string, number>> = {
  MESSAGE_CREATE: I.DirectMessages,
  MESSAGE_UPDATE: I.DirectMessages,
  MESSAGE_DELETE: I.DirectMessages,
  CHANNEL_PINS_UPDATE: I.DirectMessages,
  MESSAGE_REACTION_ADD: I.DirectMessageReactions,
  MESSAGE_REACTION_REMOVE: I.DirectMessageReactions,
  MESSAGE_REACTION_REMOVE_ALL: I.DirectMessageReactions,
  MESSAGE_REACTION_REMOVE_EMOJI: I.DirectMessageReactions,
  TYPING_START: I.DirectMessageTyping,
  MESSAGE_POLL_VOTE_ADD: I.DirectMessagePolls,
  MESSAGE_POLL_VOTE_REMOVE: I.DirectMessagePolls,
};

/**
 * The intent bit a session needs to receive dispatch `t`, or 0 when the event is always sent.
 * `inGuild` says whether the event belongs to a guild (has a `guild_id`) or to a DM.
 */
export function requiredIntent(t: string, inGuild: boolean): number {
  return (inGuild ? GUILD_EVENT_INTENT[t] : DM_EVENT_INTENT[t]) ?? 0;
}
