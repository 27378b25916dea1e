/**
 * The emulated gateway: sessions, IDENTIFY and RESUME, routing, commands, faults and traffic.
 *
 * This is the server half of PROTOCOL.md §13. Connections (`connection.ts`) validate frames and
 * keep heartbeats; this module decides what a valid payload means. IDENTIFY is checked in the
 * documented order (shape 4001, token 4004, intents 4013, privileged intents 4014, shard 4010,
 * guilds per shard 4011, identify bucket → op 9, daily starts → token reset). A session gets READY
 * with `s = 1`, then a GUILD_CREATE per guild routed to it by `(guild_id >> 22) % num_shards`.
 * Every dispatch is routed to the live sessions whose shard owns its guild (shard 0 for events
 * without a guild), gated by intents and scrubbed of message content without MESSAGE_CONTENT.
 *
 * What a guild looks like, and what the events in it say, is the world's business (`world.ts`).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { GatewayIntentBits, PermissionFlagsBits } from 'discord-api-types/v10';
import { type WebSocket, WebSocketServer } from 'ws';
import { duration, integer } from '../check.js';
import { type Clock, systemClock, type Timer } from '../clock.js';
import { type Logger, silentLogger } from '../logger.js';
import { closeAction } from '../protocol/close-codes.js';
import { isIntents, PRIVILEGED_INTENTS, requiredIntent } from '../protocol/intents.js';
import { GatewayOpcodes, SEND_LIMIT, SEND_WINDOW_MS } from '../protocol/opcodes.js';
import { isSnowflake } from '../protocol/snowflake.js';
import type { Compression, DispatchParts } from './compress.js';
import { Connection, type ConnectionCounter, type ConnectionHost } from './connection.js';
import { type ChaosSpec, type Fault, parseChaos, startChaos } from './faults.js';
import { controlHandler, requestUrl, restHandler } from './http.js';
import { IdentifyLimits, type SessionStartLimitOptions } from './identify-limits.js';
import { dispatchParts, GatewaySession, type LogEntry } from './session.js';
import { SeededWorld } from './world.js';
import type { TrafficMix, World, WorldDispatch, WorldOptions } from './world-types.js';

export interface EmulatorOptions extends WorldOptions {
  /** Interface to listen on (default 127.0.0.1). The control surface always uses loopback. */
  host?: string;
  /** Gateway and REST port (default 0: any free port). */
  port?: number;
  /** Control surface port (default 0); `null` turns the control surface off. */
  controlPort?: number | null;
  /** The bot token IDENTIFY, RESUME and REST must present (default: derived from the seed). */
  token?: string;
  /** Shard count recommended by `GET /gateway/bot` (default one per 1000 guilds). */
  shards?: number;
  /** `max_concurrency`: identify buckets (default 1). */
  maxConcurrency?: number;
  /** Hello's `heartbeat_interval` in ms (default 41250, as Discord sends). */
  heartbeatInterval?: number;
  /** A client silent for this many intervals is closed with 4000 (default 1.5). */
  heartbeatTimeoutFactor?: number;
  /** One IDENTIFY per bucket per this many ms (default 5000). */
  identifyInterval?: number;
  sessionStartLimit?: SessionStartLimitOptions;
  /** How long a detached session stays resumable, in ms (default 3 minutes). */
  resumeTimeout?: number;
  /** Dispatches kept per session for RESUME (default 50,000). */
  replayBuffer?: number;
  /** Client messages allowed per window per connection (default 120 per 60 s). */
  sendLimit?: { limit: number; windowMs: number };
  /** Privileged intents the application may use (default all three). */
  allowedIntents?: number;
  /** Large-bot sharding: the shard count must be a multiple of this (default 1). */
  shardMultiple?: number;
  /** After op 7, close the socket with 4000 after this many ms if the client has not (default 2000). */
  reconnectCloseAfter?: number;
  /** Split each zlib-stream payload across this many websocket messages (default 1). */
  zlibSplit?: number;
  /** Live traffic in events per second across all guilds (default 0). */
  rate?: number;
  mix?: TrafficMix;
  /** Seeded random faults, e.g. `"5s"` or `"2s:drop,reconnect"` (see `parseChaos`). */
  chaos?: string | ChaosSpec;
  clock?: Clock;
  logger?: Logger;
  /** Replace the seeded world entirely. */
  world?: World;
}

export interface Counters {
  connections: number;
  identifies: number;
  resumes: number;
  /** RESUMEs that arrived on the bootstrap URL instead of `resume_gateway_url`. */
  resumesOffResumeUrl: number;
  /** IDENTIFYs that arrived on a `resume_gateway_url` instead of the bootstrap URL. */
  identifiesOnResumeUrl: number;
  heartbeats: number;
  heartbeatTimeouts: number;
  /** Connections closed with 4008. */
  rateLimited: number;
  /** Connections dropped because the client stopped reading (see `SLOW_READER_MS`). */
  slowReaders: number;
  /** IDENTIFYs refused with op 9 because their bucket was busy. */
  identifyRateLimited: number;
  /** op 9 sent, for any reason. */
  invalidSessions: number;
  dispatches: number;
  faults: number;
  tokenResets: number;
}

/** A target for `dispatch`: a guild (routed by shard), a shard id, or one session. */
export type DispatchTarget = { guildId: string | null } | { shard: number } | { session: string };

export interface SessionSummary {
  id: string;
  shard: readonly [number, number];
  intents: number;
  seq: number;
  connected: boolean;
  ended: string | null;
}

const GUILDS_PER_SHARD = 2500;
/** Every event of a burst is kept in the session's log, so a burst has a ceiling. */
const MAX_BURST = 10_000_000;

/**
 * Guild events a bot receives only with one of these permissions (ADMINISTRATOR grants all), on top
 * of their intent. The seeded bot has none of them; a world may give it more.
 */
const PERMISSION_GATED: ReadonlyMap<string, bigint> = (() => {
  const P = PermissionFlagsBits;
  return new Map([
    ['INVITE_CREATE', P.ManageChannels],
    ['INVITE_DELETE', P.ManageChannels],
    ['GUILD_BAN_ADD', P.BanMembers | P.ViewAuditLog],
    ['GUILD_BAN_REMOVE', P.BanMembers | P.ViewAuditLog],
    ['GUILD_AUDIT_LOG_ENTRY_CREATE', P.ViewAuditLog],
    ['AUTO_MODERATION_RULE_CREATE', P.ManageGuild],
    ['AUTO_MODERATION_RULE_UPDATE', P.ManageGuild],
    ['AUTO_MODERATION_RULE_DELETE', P.ManageGuild],
    ['AUTO_MODERATION_ACTION_EXECUTION', P.ManageGuild],
  ]);
})();

/** Throws on a number or token the emulator could not serve sensibly (the world checks its own). */
function checkOptions(o: EmulatorOptions): void {
  if (o.token !== undefined && (typeof o.token !== 'string' || o.token.trim() === '')) {
    throw new TypeError('token must be a non-empty string');
  }
  const ms = (name: keyof EmulatorOptions, min = 0) => o[name] === undefined || duration(name, o[name], min);
  const count = (name: keyof EmulatorOptions, min = 1) =>
    o[name] === undefined || integer(name, o[name], min);
  ms('heartbeatInterval', 1);
  ms('heartbeatTimeoutFactor', 1);
  ms('identifyInterval');
  ms('resumeTimeout');
  ms('reconnectCloseAfter');
  ms('rate');
  count('maxConcurrency');
  count('shards');
  count('shardMultiple');
  count('replayBuffer');
  count('zlibSplit');
  count('allowedIntents', 0);
  if (o.sendLimit) {
    integer('sendLimit.limit', o.sendLimit.limit, 1);
    duration('sendLimit.windowMs', o.sendLimit.windowMs, 1);
  }
  if (o.sessionStartLimit) {
    const { total, remaining, resetAfter } = o.sessionStartLimit;
    if (total !== undefined) integer('sessionStartLimit.total', total, 1);
    if (remaining !== undefined) integer('sessionStartLimit.remaining', remaining, 0);
    if (resetAfter !== undefined) duration('sessionStartLimit.resetAfter', resetAfter);
  }
}

/** The bootstrap gateway (`/`) and `resume_gateway_url` (`/resume`, with or without a slash). */
const GATEWAY_PATHS: ReadonlySet<string> = new Set(['/', '/resume', '/resume/']);

/** Dispatches Discord sends to shard 0 only, even with a `guild_id` in them. */
const SHARD_ZERO_ONLY = /^(ENTITLEMENT|SUBSCRIPTION)_/;

export class Emulator implements ConnectionHost {
  readonly clock: Clock;
  readonly world: World;
  readonly options: Required<
    Pick<
      EmulatorOptions,
      | 'heartbeatInterval'
      | 'heartbeatTimeoutFactor'
      | 'sendLimit'
      | 'zlibSplit'
      | 'resumeTimeout'
      | 'replayBuffer'
      | 'allowedIntents'
      | 'shardMultiple'
      | 'reconnectCloseAfter'
    >
  >;
  readonly #counters: Counters = {
    connections: 0,
    identifies: 0,
    resumes: 0,
    resumesOffResumeUrl: 0,
    identifiesOnResumeUrl: 0,
    heartbeats: 0,
    heartbeatTimeouts: 0,
    rateLimited: 0,
    slowReaders: 0,
    identifyRateLimited: 0,
    invalidSessions: 0,
    dispatches: 0,
    faults: 0,
    tokenResets: 0,
  };
  readonly limits: IdentifyLimits;
  readonly #init: EmulatorOptions;
  /** Where the gateway and its connections say what they did. */
  readonly logger: Logger;
  #token: string;
  readonly #sessions = new Map<string, GatewaySession>();
  readonly #connections = new Set<Connection>();
  readonly #connectionOf = new Map<GatewaySession, Connection>();
  readonly #expiry = new Map<GatewaySession, Timer>();
  readonly #presenceTimes = new WeakMap<Connection, number[]>();
  readonly #guildTime = new Map<string, number>();
  readonly #timers: { stop(): void }[] = [];
  #server: Server | null = null;
  #control: Server | null = null;
  #wss: WebSocketServer | null = null;
  #base = '';
  #controlBase = '';

  private constructor(options: EmulatorOptions) {
    checkOptions(options);
    this.#init = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.world = options.world ?? new SeededWorld(options);
    this.#token = options.token ?? defaultToken(this.world.botUser.id, options.seed ?? 1);
    this.options = {
      heartbeatInterval: options.heartbeatInterval ?? 41250,
      heartbeatTimeoutFactor: options.heartbeatTimeoutFactor ?? 1.5,
      sendLimit: options.sendLimit ?? { limit: SEND_LIMIT, windowMs: SEND_WINDOW_MS },
      zlibSplit: options.zlibSplit ?? 1,
      resumeTimeout: options.resumeTimeout ?? 180_000,
      replayBuffer: options.replayBuffer ?? 50_000,
      allowedIntents: options.allowedIntents ?? PRIVILEGED_INTENTS,
      shardMultiple: options.shardMultiple ?? 1,
      reconnectCloseAfter: options.reconnectCloseAfter ?? 2000,
    };
    this.limits = new IdentifyLimits(
      this.clock,
      options.maxConcurrency ?? 1,
      options.identifyInterval ?? 5000,
      options.sessionStartLimit,
    );
  }

  /** Starts the gateway, REST routes and control surface; resolves once they listen. */
  static async start(options: EmulatorOptions = {}): Promise<Emulator> {
    const emulator = new Emulator(options);
    await emulator.#listen();
    return emulator;
  }

  /** The bot token (changes if the daily session start limit is overrun, as Discord resets it). */
  get token(): string {
    return this.#token;
  }

  /** The bootstrap gateway URL (`GET /gateway` answers it). */
  get gatewayUrl(): string {
    return `ws://${this.#base}/`;
  }

  /** The `resume_gateway_url` given in READY: a different path, so tests see clients use it. */
  get resumeUrl(): string {
    return `ws://${this.#base}/resume`;
  }

  /** The REST base including the version, e.g. `http://127.0.0.1:PORT/api/v10`. */
  get apiUrl(): string {
    return `http://${this.#base}/api/v10`;
  }

  /** The control surface (loopback only), or null when turned off. */
  get controlUrl(): string | null {
    return this.#control ? `http://${this.#controlBase}` : null;
  }

  /** Recommended shard count for `GET /gateway/bot`. */
  get recommendedShards(): number {
    return this.#init.shards ?? Math.max(1, Math.ceil(this.world.guildIds().length / 1000));
  }

  /** A snapshot of the counters: compare two snapshots to see what happened in between. */
  get counters(): Readonly<Counters> {
    return { ...this.#counters };
  }

  count(counter: ConnectionCounter): void {
    this.#counters[counter]++;
  }

  session(id: string): GatewaySession | undefined {
    return this.#sessions.get(id);
  }

  sessions(): SessionSummary[] {
    return [...this.#sessions.values()].map((s) => ({
      id: s.sessionId,
      shard: s.shard,
      intents: s.intents,
      seq: s.seq,
      connected: s.connected,
      ended: s.ended,
    }));
  }

  /** Every dispatch a session was given (`seq`, `t`): what a client must have seen exactly once. */
  log(sessionId: string): LogEntry[] {
    return this.#sessionOrThrow(sessionId).log();
  }

  // ---- routing -------------------------------------------------------------------------------

  /**
   * Dispatches an event as Discord would: to every live session whose shard owns the guild (shard 0
   * when `guildId` is null), gated by intents. Without a target the guild is `d.guild_id`. Returns
   * the number of sessions that received it.
   */
  dispatch(t: string, d: unknown, target?: DispatchTarget): number {
    if (target && 'session' in target) {
      this.#sessionOrThrow(target.session).push(t, dispatchParts(t, d));
      this.#counters.dispatches++;
      return 1;
    }
    // Entitlements and subscriptions go to shard 0 even when they name a guild.
    const guildId =
      target && 'guildId' in target
        ? target.guildId
        : typeof (d as { guild_id?: unknown })?.guild_id === 'string' && !SHARD_ZERO_ONLY.test(t)
          ? (d as { guild_id: string }).guild_id
          : null;
    const onlyShard = target && 'shard' in target ? target.shard : null;
    return this.#route({ t, d, guildId }, onlyShard);
  }

  #route(event: WorldDispatch, onlyShard: number | null = null, except?: GatewaySession): number {
    let shared: DispatchParts | undefined;
    let reached = 0;
    for (const session of this.#sessions.values()) {
      if (session.ended || session === except) continue;
      if (onlyShard !== null ? session.shardId !== onlyShard : !this.#owns(session, event.guildId)) continue;
      if (!this.#wants(session, event)) continue;
      const d = this.world.scrub(event.t, event.d, session);
      const parts = d === event.d ? (shared ??= dispatchParts(event.t, d)) : dispatchParts(event.t, d);
      session.push(event.t, parts);
      reached++;
    }
    this.#counters.dispatches += reached;
    return reached;
  }

  #owns(session: GatewaySession, guildId: string | null): boolean {
    if (guildId === null) return session.shardId === 0;
    return this.#shardOf(guildId, session.shardCount) === session.shardId;
  }

  /** `(guild_id >> 22) % count`, with the shift cached: routing runs it per event per session. */
  #shardOf(guildId: string, shardCount: number): number {
    let time = this.#guildTime.get(guildId);
    if (time === undefined) {
      time = isSnowflake(guildId) ? Number(BigInt(guildId) >> 22n) : 0;
      this.#guildTime.set(guildId, time);
    }
    return time % shardCount;
  }

  #wants(session: GatewaySession, event: WorldDispatch): boolean {
    const need = requiredIntent(event.t, event.guildId !== null);
    if (need !== 0 && (session.intents & need) === 0) {
      // The bot's own member updates are sent without GUILD_MEMBERS.
      const user = (event.d as { user?: { id?: unknown } } | null)?.user;
      return event.t === 'GUILD_MEMBER_UPDATE' && user?.id === this.world.botUser.id;
    }
    const permission = event.guildId === null ? undefined : PERMISSION_GATED.get(event.t);
    if (permission !== undefined) {
      const has = this.world.botPermissions?.(event.guildId!) ?? null;
      return has === null || (has & (permission | PermissionFlagsBits.Administrator)) !== 0n;
    }
    if (event.t === 'THREAD_MEMBERS_UPDATE' && (session.intents & GatewayIntentBits.GuildMembers) === 0) {
      // With GUILDS alone, only when the bot itself joins or leaves the thread.
      const botId = this.world.botUser.id;
      const d = event.d as { added_members?: { user_id?: unknown }[]; removed_member_ids?: unknown[] } | null;
      return (
        d?.added_members?.some((m) => m?.user_id === botId) === true ||
        d?.removed_member_ids?.includes(botId) === true
      );
    }
    return true;
  }

  #deliver(session: GatewaySession, events: readonly WorldDispatch[]): void {
    for (const event of events) {
      if (!this.#wants(session, event)) continue;
      session.push(event.t, dispatchParts(event.t, this.world.scrub(event.t, event.d, session)));
      this.#counters.dispatches++;
    }
  }

  /**
   * Sends `count` events to one session as fast as its socket drains, for benchmarks and stress
   * tests. The events are `source` when it is a list, or else drawn from the world with `source` as
   * the mix (up to 256 distinct ones); either way they are serialized once and repeated, so the
   * emulator spends its time on the socket rather than on building payloads.
   */
  async burst(
    sessionId: string,
    count: number,
    source?: TrafficMix | readonly WorldDispatch[],
  ): Promise<void> {
    const session = this.#sessionOrThrow(sessionId);
    const pool = this.#burstPool(session, count, source);
    for (let i = 0; i < count; i++) {
      const entry = pool[i % pool.length]!;
      session.push(entry.t, entry.parts);
      if ((i & 255) === 255) await this.#drain(session);
      // With no socket to wait on, the loop must still let timers and other clients run.
      if ((i & 4095) === 4095) await new Promise(setImmediate);
    }
    this.#counters.dispatches += count;
  }

  /**
   * Like `burst`, but every frame is built (and compressed) now and written only by `send()`, as
   * fast as the socket drains: a benchmark's timed window then measures the client, not the
   * emulator's serializing and compressing. Until `send()`, the session's connection writes nothing;
   * whatever it produces meanwhile (a heartbeat ACK) keeps its place in the stream. The whole burst
   * waits in memory. Events are assigned sequence numbers, and logged, as they are built.
   */
  async prepareBurst(
    sessionId: string,
    count: number,
    source?: TrafficMix | readonly WorldDispatch[],
  ): Promise<{ send(): Promise<void> }> {
    const session = this.#sessionOrThrow(sessionId);
    const pool = this.#burstPool(session, count, source);
    const connection = this.#connectionOf.get(session);
    connection?.hold();
    for (let i = 0; i < count; i++) {
      const entry = pool[i % pool.length]!;
      session.push(entry.t, entry.parts);
      // Let other connections and timers run while a long burst is built.
      if ((i & 1023) === 1023) await new Promise(setImmediate);
    }
    this.#counters.dispatches += count;
    return { send: async () => connection?.release() };
  }

  #burstPool(
    session: GatewaySession,
    count: number,
    source?: TrafficMix | readonly WorldDispatch[],
  ): { t: string; parts: DispatchParts }[] {
    if (!Number.isSafeInteger(count) || count < 0 || count > MAX_BURST) {
      throw new RangeError(`a burst is a whole number of events from 0 to ${MAX_BURST}, not ${count}`);
    }
    const pool: { t: string; parts: DispatchParts }[] = [];
    const given = Array.isArray(source) ? (source as readonly WorldDispatch[]) : null;
    const mix = given ? undefined : (source as TrafficMix | undefined);
    for (let i = 0; pool.length < Math.min(count, given ? given.length : 256) && i < 10_000; i++) {
      const event = given ? given[i % given.length]! : this.world.nextEvent(mix);
      if (!this.#wants(session, event)) continue;
      pool.push({ t: event.t, parts: dispatchParts(event.t, this.world.scrub(event.t, event.d, session)) });
    }
    if (pool.length === 0 && count > 0)
      throw new Error(`no event of this mix passes session ${session.sessionId}'s intents`);
    return pool;
  }

  async #drain(session: GatewaySession): Promise<void> {
    const connection = this.#connectionOf.get(session);
    if (!connection || connection.bufferedAmount < 4 << 20) return;
    await connection.drained();
  }

  // ---- faults --------------------------------------------------------------------------------

  /** Injects `fault` into the connection of session `sessionId`. */
  fault(sessionId: string, fault: Fault): void {
    const session = this.#sessionOrThrow(sessionId);
    const connection = this.#connectionOf.get(session);
    if (!connection) throw new Error(`session ${sessionId} has no connection to inject "${fault.type}" into`);
    this.#counters.faults++;
    this.logger.debug('fault', { session: sessionId, fault: fault.type });
    switch (fault.type) {
      case 'reconnect': {
        connection.sendOp(GatewayOpcodes.Reconnect, null);
        const timer = this.clock.setTimeout(
          () => connection.close(4000, 'Reconnect requested.'),
          fault.closeAfter ?? this.options.reconnectCloseAfter,
        );
        this.#timers.push({ stop: () => timer.cancel() });
        return;
      }
      case 'invalid-session':
        // The socket stays open: the client may IDENTIFY or RESUME on it, or reconnect.
        this.#unbind(connection);
        if (fault.resumable) session.detach(connection, this.clock.now() + this.options.resumeTimeout);
        else this.#end(session, 'invalidated');
        this.#counters.invalidSessions++;
        connection.sendOp(GatewayOpcodes.InvalidSession, fault.resumable);
        return;
      case 'mangled-dispatch': {
        // A MESSAGE_CREATE in one of the session's guilds, cut short on its way: its head reads fine,
        // its data does not parse. It has its sequence number and is in the replay log whole, so a
        // resume brings it back intact. A session that would not get the message gets nothing.
        const guild = this.#guildsOf(session.shardId, session.shardCount)[0];
        const channel = guild === undefined ? undefined : this.world.textChannelIds?.(guild)[0];
        const event = channel === undefined ? null : this.world.userMessage(channel, 'cut short on its way');
        if (!event || !this.#wants(session, event)) return;
        connection.mangleNext();
        session.push(event.t, dispatchParts(event.t, this.world.scrub(event.t, event.d, session)));
        this.#counters.dispatches++;
        return;
      }
      case 'session-timeout':
        this.#end(session, 'timed-out');
        connection.close(4009, 'Session timed out.');
        return;
      case 'close':
        // A code that tells the client to start over (4003, 4007, 4009, a fatal one, or a server
        // 1000/1001) means the session is gone on the server too; any other code keeps it.
        if (closeAction(fault.code) !== 'resume') this.#end(session, 'invalidated');
        connection.fault(fault);
        return;
      default:
        connection.fault(fault);
    }
  }

  // ---- ConnectionHost ------------------------------------------------------------------------

  identify(connection: Connection, d: Record<string, unknown>): void {
    const properties = d.properties;
    const threshold = d.large_threshold ?? 50;
    if (
      typeof d.token !== 'string' ||
      typeof properties !== 'object' ||
      properties === null ||
      !Number.isInteger(threshold) ||
      (threshold as number) < 50 ||
      (threshold as number) > 250
    ) {
      return connection.close(4001, 'Invalid identify payload.');
    }
    if (d.token !== this.#token) return connection.close(4004, 'Authentication failed.');
    const intents = d.intents;
    if (!isIntents(intents)) {
      return connection.close(4013, 'Invalid intent(s).');
    }
    const privileged = (intents as number) & PRIVILEGED_INTENTS;
    if ((privileged & ~this.options.allowedIntents) !== 0)
      return connection.close(4014, 'Disallowed intent(s).');
    let shard: [number, number] | null = null;
    if (d.shard !== undefined && d.shard !== null) {
      const s = d.shard;
      if (
        !Array.isArray(s) ||
        s.length !== 2 ||
        !Number.isInteger(s[0]) ||
        !Number.isInteger(s[1]) ||
        s[1] < 1 ||
        s[0] < 0 ||
        s[0] >= s[1] ||
        s[1] % this.options.shardMultiple !== 0
      ) {
        return connection.close(4010, 'Invalid shard.');
      }
      shard = [s[0], s[1]];
    }
    const [shardId, shardCount] = shard ?? [0, 1];
    const guilds = this.#guildsOf(shardId, shardCount);
    if (guilds.length > GUILDS_PER_SHARD) return connection.close(4011, 'Sharding required.');

    const verdict = this.limits.take(shardId);
    if (verdict === 'bucket-busy') {
      this.#counters.identifyRateLimited++;
      this.#counters.invalidSessions++;
      return connection.sendOp(GatewayOpcodes.InvalidSession, false);
    }
    if (verdict === 'exhausted') return this.#resetToken();

    this.#counters.identifies++;
    if (connection.params.onResumeUrl) this.#counters.identifiesOnResumeUrl++;
    const session = new GatewaySession(
      randomBytes(16).toString('hex'),
      { intents: intents as number, largeThreshold: threshold as number, shard, now: this.clock.now() },
      this.options.replayBuffer,
    );
    this.#sessions.set(session.sessionId, session);
    this.#bind(connection, session);
    if (d.compress === true) connection.enablePayloadCompression();
    this.logger.debug('identify', { session: session.sessionId, shard: session.shard });
    // The initial presence, as an op 3 right after IDENTIFY: the GUILD_CREATEs to come show it.
    const presence = d.presence;
    if (typeof presence === 'object' && presence !== null && !Array.isArray(presence)) {
      this.#setPresence(presence as Record<string, unknown>, session);
    }

    session.push(
      'READY',
      dispatchParts('READY', {
        v: 10,
        user: this.world.botUser,
        guilds: guilds.map((id) => ({ id, unavailable: true })),
        session_id: session.sessionId,
        resume_gateway_url: this.resumeUrl.replace(/\/$/, ''),
        ...(session.shardGiven ? { shard: session.shard } : {}),
        application: this.world.application,
        user_settings: {},
        session_type: 'normal',
        relationships: [],
        private_channels: [],
        presences: [],
        guild_join_requests: [],
        geo_ordered_rtc_regions: ['us-east', 'us-central', 'us-south'],
        auth: {},
        _trace: ['["dusk-emulator",{"micros":0.0}]'],
      }),
    );
    this.#counters.dispatches++;
    // GUILD_CREATEs follow on the next turn of the event loop, as Discord streams them after READY:
    // building them inline would hold up the IDENTIFYs of other shards waiting to be read, and the
    // identify buckets are timed by when an IDENTIFY is handled. They need the GUILDS intent.
    if (session.intents & 1) {
      setImmediate(() =>
        this.#deliver(
          session,
          guilds.map((id) => ({ t: 'GUILD_CREATE', d: this.world.guildCreate(id, session), guildId: id })),
        ),
      );
    }
  }

  resume(connection: Connection, d: { token: string; session_id: string; seq: number }): void {
    if (d.token !== this.#token) return connection.close(4004, 'Authentication failed.');
    const session = this.#sessions.get(d.session_id);
    const now = this.clock.now();
    if (!session || session.ended || (session.expiresAt !== null && now >= session.expiresAt)) {
      if (session && !session.ended) this.#end(session, 'expired');
      this.#counters.invalidSessions++;
      return connection.sendOp(GatewayOpcodes.InvalidSession, false);
    }
    const replay = session.replayAfter(d.seq);
    if (!replay) {
      const live = this.#connectionOf.get(session);
      this.#end(session, 'invalidated');
      // A socket still attached to the session learns it is gone, as from any op 9.
      live?.sendOp(GatewayOpcodes.InvalidSession, false);
      return connection.close(4007, 'Invalid seq.');
    }
    // A client resuming while its old socket still looks alive (a zombie) replaces it.
    const previous = this.#connectionOf.get(session);
    if (previous) {
      this.#unbind(previous);
      previous.drop();
    }
    this.#counters.resumes++;
    if (!connection.params.onResumeUrl) this.#counters.resumesOffResumeUrl++;
    for (const entry of replay) connection.sendDispatch(entry.parts, entry.seq);
    this.#bind(connection, session);
    session.push('RESUMED', dispatchParts('RESUMED', { _trace: ['["dusk-emulator",{"micros":0.0}]'] }));
    this.#counters.dispatches++;
    this.logger.debug('resume', { session: session.sessionId, from: d.seq, replayed: replay.length });
  }

  command(connection: Connection, op: number, d: Record<string, unknown>): void {
    const session = connection.session!;
    const invalid = () => connection.close(4001, 'Invalid payload.');
    switch (op) {
      case GatewayOpcodes.PresenceUpdate: {
        if (typeof d.status !== 'string' || !Array.isArray(d.activities)) return invalid();
        // 5 updates per 20 s; Discord does not document the penalty, so extra ones are dropped.
        const now = this.clock.now();
        const recent = (this.#presenceTimes.get(connection) ?? []).filter((t) => now - t < 20_000);
        this.#presenceTimes.set(connection, recent);
        if (recent.length >= 5) return;
        recent.push(now);
        this.#setPresence(d, session);
        return;
      }
      case GatewayOpcodes.VoiceStateUpdate:
        if (
          !isSnowflake(d.guild_id) ||
          (d.channel_id !== null && !isSnowflake(d.channel_id)) ||
          typeof d.self_mute !== 'boolean' ||
          typeof d.self_deaf !== 'boolean'
        ) {
          return invalid();
        }
        return this.#deliver(session, this.world.voiceStateUpdate(d, session));
      case GatewayOpcodes.RequestGuildMembers: {
        const byQuery = typeof d.query === 'string' && Number.isInteger(d.limit) && (d.limit as number) >= 0;
        const ids = d.user_ids;
        // user_ids is checked whenever it is present, since the world reads it whenever it is.
        const idsValid =
          ids === undefined ||
          typeof ids === 'string' ||
          (Array.isArray(ids) && ids.length <= 100 && ids.every((id) => typeof id === 'string'));
        if (typeof d.guild_id !== 'string' || !idsValid || (!byQuery && ids === undefined)) return invalid();
        return this.#deliver(session, this.world.requestGuildMembers(d, session, this.clock.now()));
      }
      case GatewayOpcodes.RequestSoundboardSounds:
        if (!Array.isArray(d.guild_ids) || !d.guild_ids.every((id) => typeof id === 'string'))
          return invalid();
        return this.#deliver(session, this.world.requestSoundboardSounds(d, session));
      case 43: {
        const fields = d.fields;
        const known = ['status', 'voice_start_time'];
        if (
          typeof d.guild_id !== 'string' ||
          !Array.isArray(fields) ||
          !fields.every((f) => known.includes(f))
        ) {
          return invalid();
        }
        return this.#deliver(session, this.world.requestChannelInfo(d, session));
      }
    }
  }

  closed(connection: Connection, clientCode: number | null): void {
    this.#connections.delete(connection);
    const session = connection.session;
    if (!session) return;
    this.#unbind(connection);
    if (clientCode === 1000 || clientCode === 1001) return this.#end(session, 'client-close');
    if (session.ended) return;
    const expiresAt = this.clock.now() + this.options.resumeTimeout;
    session.detach(connection, expiresAt);
    this.#expiry.get(session)?.cancel();
    this.#expiry.set(
      session,
      this.clock.setTimeout(() => {
        // Timers may fire a hair early by the clock; a re-attach cancels this one anyway.
        if (!session.connected) this.#end(session, 'expired');
      }, this.options.resumeTimeout),
    );
  }

  // ---- internals -----------------------------------------------------------------------------

  #bind(connection: Connection, session: GatewaySession): void {
    connection.session = session;
    this.#connectionOf.set(session, connection);
    this.#expiry.get(session)?.cancel();
    this.#expiry.delete(session);
    session.attach(connection);
  }

  #unbind(connection: Connection): void {
    const session = connection.session;
    if (!session) return;
    connection.session = null;
    if (this.#connectionOf.get(session) === connection) this.#connectionOf.delete(session);
  }

  #end(session: GatewaySession, reason: Parameters<GatewaySession['end']>[0]): void {
    session.end(reason);
    this.#expiry.get(session)?.cancel();
    this.#expiry.delete(session);
    const connection = this.#connectionOf.get(session);
    if (connection) this.#unbind(connection);
  }

  #guildsOf(shardId: number, shardCount: number): string[] {
    return this.world.guildIds().filter((id) => this.#shardOf(id, shardCount) === shardId);
  }

  /** What Discord does when the daily session starts run out: the token is reset, every session ends. */
  #resetToken(): void {
    this.#counters.tokenResets++;
    this.#token = `${this.#token.split('.')[0]}.${randomBytes(4).toString('hex')}.${randomBytes(18).toString('base64url')}`;
    this.logger.warn('session start limit exhausted: the token was reset');
    // Detached sessions too: none of them may be resumed with the new token.
    for (const session of this.#sessions.values()) if (!session.ended) this.#end(session, 'token-reset');
    for (const connection of [...this.#connections]) connection.close(4004, 'Authentication failed.');
  }

  /** The bot's presence changes: every other session that sees its guilds gets PRESENCE_UPDATE. */
  #setPresence(d: Record<string, unknown>, session: GatewaySession): void {
    for (const event of this.world.presenceUpdate(d, session)) this.#route(event, null, session);
  }

  #sessionOrThrow(id: string): GatewaySession {
    const session = this.#sessions.get(id);
    if (!session) throw new Error(`no session ${id}`);
    return session;
  }

  #accept(ws: WebSocket, socket: Socket, url: URL): void {
    const compress = url.searchParams.get('compress');
    const encoding = url.searchParams.get('encoding') ?? 'json';
    const v = url.searchParams.get('v');
    const supported = compress === null || compress === 'zlib-stream' || compress === 'zstd-stream';
    const connection = new Connection(this, ws, socket, {
      compress: supported ? (compress as Compression | null) : null,
      onResumeUrl: url.pathname !== '/',
    });
    this.#connections.add(connection);
    this.#counters.connections++;
    connection.hello();
    if (v !== '10' && v !== '9') return connection.close(4012, 'Invalid API version.');
    if (encoding !== 'json') return connection.close(4002, 'The emulator speaks encoding=json only.');
    if (!supported) return connection.close(4002, `Unknown compression ${JSON.stringify(compress)}.`);
  }

  async #listen(): Promise<void> {
    const host = this.#init.host ?? '127.0.0.1';
    // UTF-8 is not checked by ws: a text frame that is not UTF-8 JSON (compressed bytes, say) gets
    // Discord's 4002 from the payload decoder instead of ws's 1007.
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: 1 << 20,
      skipUTF8Validation: true,
    });
    this.#server = createServer(restHandler(this));
    this.#server.on('upgrade', (request, socket, head) => {
      const url = requestUrl(request);
      // `resume_gateway_url` has no trailing slash; a client may add one before the query.
      if (!url || !GATEWAY_PATHS.has(url.pathname)) {
        // Node leaves an upgrade socket with no error listener: a reset would crash the process.
        socket.on('error', () => socket.destroy());
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n', () => socket.destroy());
        return;
      }
      this.#wss!.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, socket as Socket, url));
    });
    this.#base = await listen(this.#server, this.#init.port ?? 0, host);
    if (this.#init.controlPort !== null) {
      this.#control = createServer(controlHandler(this));
      this.#controlBase = await listen(this.#control, this.#init.controlPort ?? 0, '127.0.0.1');
    }
    const rate = this.#init.rate ?? 0;
    if (rate > 0) this.#timers.push(this.#startTraffic(rate, this.#init.mix));
    if (this.#init.chaos) {
      const spec = typeof this.#init.chaos === 'string' ? parseChaos(this.#init.chaos) : this.#init.chaos;
      this.#timers.push(
        startChaos(this.clock, spec, this.#init.seed ?? 1, (fault, random) => {
          const live = [...this.#connectionOf.keys()];
          if (live.length) this.fault(random.pick(live).sessionId, fault);
        }),
      );
    }
  }

  /** Live traffic: `rate` events per second spread over the world, generated in 20 ms ticks. */
  #startTraffic(rate: number, mix?: TrafficMix): { stop(): void } {
    let owed = 0;
    let timer: Timer | null = null;
    const tick = () => {
      owed += (rate * 20) / 1000;
      for (; owed >= 1; owed--) this.#route(this.world.nextEvent(mix));
      timer = this.clock.setTimeout(tick, 20);
    };
    timer = this.clock.setTimeout(tick, 20);
    return { stop: () => timer?.cancel() };
  }

  /** Stops traffic and faults, drops every connection and closes the servers. */
  async close(): Promise<void> {
    for (const timer of this.#timers) timer.stop();
    for (const timer of this.#expiry.values()) timer.cancel();
    for (const connection of [...this.#connections]) connection.drop();
    // Sockets left open after a lingering close are no longer anyone's connection.
    for (const ws of this.#wss?.clients ?? []) ws.terminate();
    this.#wss?.close();
    await Promise.all([this.#server, this.#control].map((server) => server && closeServer(server)));
  }
}

function defaultToken(botId: string, seed: number): string {
  const tail = Buffer.from(`dusk-emulator-${seed}`).toString('base64url');
  return `${Buffer.from(botId).toString('base64url')}.GdUsKe.${tail}`;
}

function listen(server: Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      const name = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve(`${name}:${address.port}`);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}
