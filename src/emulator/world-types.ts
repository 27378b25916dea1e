/**
 * The contract between the emulator's gateway (connections, sessions, routing, faults) and its
 * world (the seeded guilds, the events happening in them, and the answers to client commands).
 *
 * The gateway knows about sockets and sequence numbers but nothing about what a guild looks like;
 * the world knows about guilds, members and messages but nothing about sockets. Everything the world
 * produces is a `WorldDispatch`: an event name, its payload, and where it belongs (a guild, or no
 * guild for DMs and application-wide events), which is all the gateway needs to route and gate it.
 */

/** What the world needs to know about the session it is answering. */
export interface SessionView {
  readonly sessionId: string;
  readonly shardId: number;
  readonly shardCount: number;
  readonly intents: number;
  /** 50–250, from IDENTIFY (default 50). */
  readonly largeThreshold: number;
}

/** One dispatch to route. `guildId` null means "no guild": it goes to shard 0 only. */
export interface WorldDispatch {
  readonly t: string;
  readonly d: unknown;
  readonly guildId: string | null;
}

/** Knobs for the seeded world. */
export interface WorldOptions {
  /** Seed for every random choice; the same seed builds the same world and the same traffic. */
  seed?: number;
  /** Number of guilds (default 10). */
  guilds?: number;
  /** Members per guild: a range; sizes are drawn from it (default [5, 200]). */
  members?: [number, number];
  /** Text and voice channels per guild (default [3, 12]). */
  channels?: [number, number];
  /** Roles per guild besides @everyone (default [1, 8]). */
  roles?: [number, number];
  /** Fraction of members online (default 0.3). */
  onlineFraction?: number;
  /** Number of DM channels with users (default 3). */
  dmChannels?: number;
}

/** Relative weights of generated event types, e.g. { MESSAGE_CREATE: 5, TYPING_START: 2 }. */
export type TrafficMix = Readonly<Record<string, number>>;

export interface World {
  /** The bot user (as in READY's `user`). */
  readonly botUser: { readonly id: string; readonly username: string } & Record<string, unknown>;
  /** READY's `application`: `{ id, flags }`. */
  readonly application: { readonly id: string; readonly flags: number };
  /** Every guild id, in a stable order. */
  guildIds(): readonly string[];
  /** GUILD_CREATE payload for one guild as this session sees it (intents and large_threshold applied). */
  guildCreate(guildId: string, view: SessionView): Record<string, unknown>;
  /** The next live event, advancing the world's deterministic random state. */
  nextEvent(mix?: TrafficMix): WorldDispatch;
  /**
   * Empties content fields of message-like payloads when the session lacks MESSAGE_CONTENT and no
   * exception applies (bot's own messages, DMs, messages mentioning the bot). Returns `d` unchanged
   * when nothing needs scrubbing; never mutates `d`.
   */
  scrub(t: string, d: unknown, view: SessionView): unknown;
  /** Answers op 8 (validated `d`); the dispatches go to the requesting session only. */
  requestGuildMembers(d: Record<string, unknown>, view: SessionView, now: number): WorldDispatch[];
  /** Answers op 4; VOICE_STATE_UPDATE is intent-gated by the gateway like any other dispatch. */
  voiceStateUpdate(d: Record<string, unknown>, view: SessionView): WorldDispatch[];
  /** Applies op 3 to the bot's presence; returns PRESENCE_UPDATEs for the bot's guilds (to other sessions). */
  presenceUpdate(d: Record<string, unknown>, view: SessionView): WorldDispatch[];
  /** Answers op 31: one SOUNDBOARD_SOUNDS per guild id. */
  requestSoundboardSounds(d: Record<string, unknown>, view: SessionView): WorldDispatch[];
  /** Answers op 43: one CHANNEL_INFO. */
  requestChannelInfo(d: Record<string, unknown>, view: SessionView): WorldDispatch[];
  /**
   * REST `POST /channels/{id}/messages` by the bot: returns the message object (HTTP 200 body) and
   * the MESSAGE_CREATE to dispatch, or null when the channel does not exist (HTTP 404).
   */
  createMessage(
    channelId: string,
    body: Record<string, unknown>,
  ): { message: Record<string, unknown>; dispatch: WorldDispatch } | null;
  /** A MESSAGE_CREATE written by a (random or given) user in a channel: for tests and examples. */
  userMessage(channelId: string, content: string, authorId?: string): WorldDispatch | null;
  /** Ids of a guild's text channels (empty for an unknown guild): somewhere to post in tests and examples. */
  textChannelIds?(guildId: string): readonly string[];
  /** Ids of the bot's DM channels. */
  dmChannelIds?(): readonly string[];
  /** Ids of a guild's voice channels (empty for an unknown guild). */
  voiceChannelIds?(guildId: string): readonly string[];
  /** Ids of a guild's members, the bot first (empty for an unknown guild). */
  memberIds?(guildId: string): readonly string[];
  /** The bot's permissions in a guild from its roles (null for an unknown guild): gates a few events. */
  botPermissions?(guildId: string): bigint | null;
}
