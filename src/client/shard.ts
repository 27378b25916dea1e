/**
 * One gateway connection that keeps its session alive and never loses an event.
 *
 * The shard runs a loop of connections. Each connection opens a socket (to the bootstrap URL for a
 * new session, to `resume_gateway_url` to resume), waits for Hello, starts heartbeating, sends
 * IDENTIFY (after the identify queue allows it) or RESUME, and then delivers dispatches until it ends.
 * How it ended decides what happens next, in one place (`#afterConnection`):
 *
 *   - resume:   a drop, a zombie, op 7, op 9 true, a corrupt frame, a timeout, any non-fatal close code;
 *               reconnect to the resume URL with the same session and sequence;
 *   - identify: op 9 false, 4003/4005/4007/4009, a server 1000/1001; forget the session, wait 1–5 s,
 *               start a new one on the bootstrap URL;
 *   - fatal:    4004, 4010–4014; stop, and report what the user must fix;
 *   - stopped:  the application closed the shard.
 *
 * The first reconnect is immediate; consecutive failures back off exponentially with jitter, reset
 * once a connection reaches READY or RESUMED. Every wait goes through the injectable clock.
 *
 * The sequence number only moves forward and only from dispatches actually received; a dispatch the
 * application wants is parsed before its sequence is recorded, so a frame that fails to parse is
 * replayed by the resume instead of being skipped. Dispatches the application did not ask for are
 * recognised from their envelope alone (see decode.ts) and never parsed.
 */
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import type {
  GatewayDispatchPayload,
  GatewayPresenceUpdateData,
  GatewayReadyDispatchData,
  GatewayRequestGuildMembersData,
  GatewaySendPayload,
  GatewayVoiceStateUpdateData,
} from 'discord-api-types/v10';
import WebSocket from 'ws';
import { duration, integer } from '../check.js';
import { type Clock, systemClock, type Timer } from '../clock.js';
import { type Logger, scopedLogger, silentLogger } from '../logger.js';
import { closeAction, RESUMABLE_CLOSE_CODE } from '../protocol/close-codes.js';
import { parseIntents } from '../protocol/intents.js';
import { API_VERSION, MAX_CLIENT_PAYLOAD_BYTES } from '../protocol/opcodes.js';
import { botToken, redact, type Secret } from '../redact.js';
import { type BackoffOptions, backoffDelay, reidentifyDelay } from './backoff.js';
import { type Envelope, readEnvelope, readEnvelopeHead } from './decode.js';
import { GatewayCloseError, PayloadTooLargeError, ShardClosedError } from './errors.js';
import { closingIterator, EventQueue } from './event-queue.js';
import { Heartbeater, type HeartbeatHooks, Latency, type LatencyStats } from './heartbeat.js';
import { type IdentifyQueue, LocalIdentifyQueue } from './identify-queue.js';
import { type Compression, checkCompressionAvailable, createInflater, type Inflater } from './inflate.js';
import { RateLimiter, type RateLimiterState, reservedSlots } from './ratelimiter.js';
import {
  endedSessionEvents,
  isGatewayUrl,
  isSessionInfo,
  keptSequence,
  oldestOfEach,
  type Pending,
  type SessionInfo,
  type SessionStore,
  storedSessionProblem,
  tokenOwner,
} from './session.js';

export type ShardStatus =
  | 'idle'
  | 'connecting'
  | 'identifying'
  | 'resuming'
  | 'active'
  | 'disconnected'
  | 'fatally-closed'
  | 'closed';

export interface ShardState {
  readonly status: ShardStatus;
  /** Consecutive connection attempts that failed to reach READY/RESUMED. */
  readonly reconnectAttempts: number;
  /** When disconnected: milliseconds until the next attempt starts (from when the state was entered). */
  readonly reconnectIn: number | null;
  /** When fatally closed: why. */
  readonly error: GatewayCloseError | null;
}

/** A dispatch as delivered to the application: the gateway payload plus the shard it came from. */
export type Dispatch = GatewayDispatchPayload & { readonly shardId: number };

export interface ShardTimeouts {
  /** Opening the socket (default 15 s). */
  connect?: number;
  /** From open to Hello (default 20 s). */
  hello?: number;
  /** From IDENTIFY/RESUME sent to READY/RESUMED (default 20 s). */
  ready?: number;
}

export interface ShardOptions {
  token: string;
  /** A bitfield, or names such as "GUILDS,GUILD_MESSAGES". */
  intents: number | string | readonly string[];
  shardId?: number;
  shardCount?: number;
  /** The bootstrap URL from GET /gateway/bot (default wss://gateway.discord.gg). */
  gatewayUrl?: string;
  compress?: Compression | null;
  /** Dispatch types the application wants; others are not parsed (default: all). */
  events?: readonly string[] | null;
  /** 50–250 (default 50). */
  largeThreshold?: number;
  presence?: GatewayPresenceUpdateData;
  properties?: { os?: string; browser?: string; device?: string };
  identifyQueue?: IdentifyQueue;
  /** A saved session to resume instead of identifying. */
  session?: SessionInfo | null;
  /** Where the session is read at start and written on READY, RESUMED and close. */
  sessionStore?: SessionStore;
  logger?: Logger;
  clock?: Clock;
  /** Largest decompressed or uncompressed message accepted, in bytes (default 128 MiB). */
  maxMessageSize?: number;
  /** Dispatches buffered for a slow `for await` consumer before the socket is paused (default 10,000). */
  bufferSize?: number;
  timeouts?: ShardTimeouts;
  backoff?: BackoffOptions;
  /**
   * The gateway's send limit per connection (default Discord's: 120 per 60 s). Only worth changing
   * to match a test server configured with a shorter window.
   */
  sendLimit?: { limit: number; windowMs: number };
}

interface Outcome {
  readonly kind: 'resume' | 'identify' | 'fatal' | 'stopped';
  readonly code?: number;
  readonly reason?: string;
  /** Extra wait before the next attempt. */
  readonly delay?: number;
}

interface PendingCommand {
  readonly data: string;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/**
 * One live socket and everything that must not outlive it; its heartbeater reports to it.
 *
 * A class whose socket listeners are shared by every connection (they find theirs through the
 * socket) rather than closures made per connection: an idle shard keeps one for hours, and the
 * closures with their contexts were a sizeable part of its memory.
 */
class Connection implements HeartbeatHooks {
  /** Cancels the wait in the identify queue when the connection ends; only exists during it. */
  abort: AbortController | null = null;
  heartbeater: Heartbeater | null = null;
  timer: Timer | null = null;
  paused = false;
  /**
   * What READY or RESUMED would answer on this socket: nothing sent yet, an IDENTIFY ('READY'),
   * a RESUME ('RESUMED'), or already answered.
   */
  awaiting: 'READY' | 'RESUMED' | 'answered' | null = null;
  ended = false;
  /** A priority send found the budget spent (said once per connection). */
  overBudget = false;
  /** Opened to resume (on the session's resume URL). */
  resuming = false;
  /** The websocket handshake completed. */
  opened = false;
  /** A resumable close is reading the rest of it (see Shard#drain). */
  draining = false;

  constructor(
    readonly shard: Shard,
    readonly ws: WebSocket,
    readonly inflater: Inflater | null,
    readonly limiter: RateLimiter,
  ) {
    (ws as SocketOf)[CONNECTION] = this;
    ws.on('open', friend.onOpen);
    ws.on('message', friend.onMessage);
    ws.on('close', friend.onClose);
    ws.on('error', friend.onError);
  }

  beat(): void {
    friend.heartbeat(this);
  }

  zombie(): void {
    friend.zombie(this);
  }
}

const CONNECTION: unique symbol = Symbol('dusk.connection');

/** The socket of a connection, with its way back to it. */
type SocketOf = WebSocket & { [CONNECTION]: Connection };

/**
 * The heartbeat hooks and socket listeners every connection shares, defined in Shard's static block
 * where the shard's private handlers are in reach. A socket listener runs with the socket as `this`.
 */
let friend: {
  heartbeat(conn: Connection): void;
  zombie(conn: Connection): void;
  onOpen(this: WebSocket): void;
  onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void;
  onClose(this: WebSocket, code: number, reason: Buffer): void;
  onError(this: WebSocket, error: Error): void;
};

export interface ShardEvents {
  dispatch: [Dispatch];
  /**
   * Every message's text after decompression, before any parsing, with its envelope when the shard
   * read it without parsing (it does with an event filter), else null.
   */
  raw: [string, Envelope | null];
  state: [ShardState];
  ready: [GatewayReadyDispatchData];
  resumed: [];
  /** A connection closed (code 1006 when there was no close frame). */
  close: [{ code: number; reason: string }];
  /** The shard stopped for good because of a fatal close code. */
  fatal: [GatewayCloseError];
}

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const DEFAULT_GATEWAY = 'wss://gateway.discord.gg';
const DEFAULT_PROPERTIES: { os: string; browser: string; device: string } = Object.freeze({
  os: process.platform,
  browser: 'dusk',
  device: 'dusk',
});
const DEFAULT_TIMEOUTS: Required<ShardTimeouts> = Object.freeze({
  connect: 15_000,
  hello: 20_000,
  ready: 20_000,
});
const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({});
/** A connection active for less than this before it ends counts toward the backoff. */
const STABLE_AFTER_MS = 5000;
/**
 * Short connections in a row that are still retried at once: a blip, or an op 7 just after a
 * resume. From the next one on, the backoff grows.
 */
const FLAPS_FORGIVEN = 2;
/** How long a session store may lag behind the dispatches received. */
export const SAVE_EVERY_MS = 5000;
/** How long a resumable close reads the rest of a connection, waiting for the gateway's close frame. */
const DRAIN_MS = 2000;
/** Failed opens of a resume URL in a row before resuming through the gateway URL instead. */
const RESUME_URL_MISSES = 3;

/**
 * The key of the function through which an owner that buffers a shard's events (a ShardManager)
 * tells how many of them it has taken in and handed out, and the oldest one still pending (not part
 * of the public API).
 */
export const undelivered: unique symbol = Symbol('dusk.undelivered');
/** See `Shard[endedEvents]`. */
export const endedEvents: unique symbol = Symbol('dusk.endedEvents');

const hasSequence = (event: Dispatch): boolean => event.s !== null;

/** The key of the method through which a shard's owner holds its reading (not part of the public API). */
export const holdReading: unique symbol = Symbol('dusk.holdReading');

/**
 * The key of the method through which a shard's owner takes the wanted dispatches as text instead
 * of events (not part of the public API): a worker thread posts them to the main thread, which
 * parses each once, so the worker never parses what it only forwards.
 */
export const takeText: unique symbol = Symbol('dusk.takeText');

/** The key of the method through which such an owner sends the shard back to resume (see takeText). */
export const rewindTo: unique symbol = Symbol('dusk.rewindTo');

/** Receives a wanted dispatch's text with the sequence and name read from its envelope. */
export type TextSink = (text: string, s: number | null, t: string) => void;

export class Shard extends EventEmitter<ShardEvents> implements AsyncIterable<Dispatch> {
  readonly shardId: number;
  readonly shardCount: number;
  readonly #token: Secret;
  /** `tokenOwner` of the token: sessions are only resumed with the token that made them. */
  readonly #owner: string;
  readonly #intents: number;
  readonly #gatewayUrl: string;
  readonly #compress: Compression | null;
  readonly #wanted: ReadonlySet<string> | null;
  readonly #largeThreshold: number;
  readonly #presence: GatewayPresenceUpdateData | undefined;
  readonly #properties: { os: string; browser: string; device: string };
  readonly #identifyQueue: IdentifyQueue;
  readonly #store: SessionStore | undefined;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #maxMessageSize: number;
  readonly #timeouts: Required<ShardTimeouts>;
  readonly #backoff: BackoffOptions;
  readonly #sendLimit: { limit: number; windowMs: number } | undefined;
  readonly #bufferSize: number;
  /** Created when first needed: an application that only listens never buffers. */
  #queue: EventQueue<Dispatch> | null = null;
  readonly #latency = new Latency();
  /** Session id and resume URL; the sequence lives in #sequence so dispatches never copy this. */
  #session: Omit<SessionInfo, 'sequence'> | null;
  /** Last dispatch sequence received (null before any on a new session). */
  #sequence: number | null;
  /** Where the session started in this process: READY's sequence, or the one it was resumed from. */
  #floor = 0;
  /** How many events the buffer had taken in when this session's READY came. */
  #sessionFrom = 0;
  #sessionLoaded: boolean;
  #status: ShardStatus = 'idle';
  #attempts = 0;
  /** When the current connection reached READY or RESUMED (null once it ends). */
  #activeSince: number | null = null;
  /** Connections in a row that ended within STABLE_AFTER_MS of becoming active. */
  #flaps = 0;
  /** Armed while dispatches have moved the sequence past what the session store holds. */
  #saveTimer: Timer | null = null;
  #reconnectIn: number | null = null;
  #error: GatewayCloseError | null = null;
  #conn: Connection | null = null;
  #commands: PendingCommand[] = [];
  #pumpTimer: Timer | null = null;
  /** Attempts in a row that could not open a socket to the session's resume URL. */
  #resumeMisses = 0;
  /** Whether the connection loop has started, is running, or has ended (see #step). */
  #loop: 'idle' | 'running' | 'ended' = 'idle';
  /** What close() waits on while the loop runs; made only when someone waits. */
  #loopWaiter: Deferred | null = null;
  /** The exception that ended the loop, if one did (a throwing 'state' listener). */
  #loopFailure: { error: unknown } | null = null;
  #stop: { resumable: boolean } | null = null;
  #wake: (() => void) | null = null;
  #iterated = false;
  /** The application asked to stop reading (pause()); independent of the buffer's own pausing. */
  #userPaused = false;
  /** The owner (a ShardManager whose merged buffer is full) asked to stop reading. */
  #held = false;
  #finalSave: Promise<void> | null = null;
  /** The last session store write; each waits for the one before. */
  #saving: Promise<void> | null = null;
  /** What connect() returns until the shard is first active; created by the first connect(). */
  #firstActive: Deferred | null = null;
  #wasActive = false;
  /** Set by an owner that takes dispatches as text (see takeText); nothing is then parsed for it. */
  #textSink: TextSink | null = null;

  constructor(options: ShardOptions) {
    super();
    const shardId = options.shardId ?? 0;
    const shardCount = options.shardCount ?? 1;
    if (!Number.isInteger(shardCount) || shardCount < 1) {
      throw new RangeError(`shardCount must be a positive integer, got ${shardCount}`);
    }
    if (!Number.isInteger(shardId) || shardId < 0 || shardId >= shardCount) {
      throw new RangeError(`shardId must be an integer in [0, ${shardCount - 1}], got ${shardId}`);
    }
    const token = typeof options.token === 'string' ? botToken(options.token) : null;
    if (!token || token.reveal().trim() === '') throw new TypeError('a bot token is required');
    const events = options.events ?? null;
    if (events !== null && !(Array.isArray(events) && events.every((t) => typeof t === 'string'))) {
      throw new TypeError('events must be a list of dispatch names, e.g. ["MESSAGE_CREATE"], or null');
    }
    const largeThreshold = options.largeThreshold ?? 50;
    if (!Number.isInteger(largeThreshold) || largeThreshold < 50 || largeThreshold > 250) {
      throw new RangeError(`largeThreshold must be an integer from 50 to 250, got ${largeThreshold}`);
    }
    const compress = options.compress ?? null;
    if (compress !== null && compress !== 'zlib-stream' && compress !== 'zstd-stream') {
      throw new RangeError(`compress must be "zlib-stream", "zstd-stream" or null, got ${String(compress)}`);
    }
    if (compress) checkCompressionAvailable(compress);
    const session = options.session ?? null;
    if (session && !isSessionInfo(session)) {
      throw new TypeError(
        'session must be a saved session (sessionId, sequence, resumeUrl, shardId, shardCount)',
      );
    }
    if (session && (session.shardId !== shardId || session.shardCount !== shardCount)) {
      throw new RangeError(
        `the saved session belongs to shard [${session.shardId}, ${session.shardCount}], not [${shardId}, ${shardCount}]`,
      );
    }
    this.shardId = shardId;
    this.shardCount = shardCount;
    this.#token = token;
    this.#owner = tokenOwner(this.#token);
    if (session?.owner !== undefined && session.owner !== this.#owner) {
      throw new RangeError('the saved session was identified with another token');
    }
    this.#intents = parseIntents(options.intents);
    this.#gatewayUrl = checkUrl(options.gatewayUrl ?? DEFAULT_GATEWAY, 'gatewayUrl');
    this.#compress = compress;
    this.#wanted = events ? new Set(events) : null;
    this.#largeThreshold = largeThreshold;
    this.#presence = options.presence;
    this.#properties = withDefaults(options.properties, DEFAULT_PROPERTIES);
    this.#clock = options.clock ?? systemClock;
    this.#identifyQueue = options.identifyQueue ?? new LocalIdentifyQueue({ clock: this.#clock });
    this.#store = options.sessionStore;
    this.#log = scopedLogger(options.logger ?? silentLogger, `shard ${shardId}`);
    this.#maxMessageSize = integer('maxMessageSize', options.maxMessageSize ?? 128 * 1024 * 1024, 1);
    this.#timeouts = withDefaults(options.timeouts, DEFAULT_TIMEOUTS);
    for (const [name, ms] of Object.entries(this.#timeouts)) duration(`timeouts.${name}`, ms, 1);
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    for (const [name, ms] of Object.entries(this.#backoff))
      if (ms !== undefined) duration(`backoff.${name}`, ms);
    this.#sendLimit = options.sendLimit;
    // The gateway closes an oversized IDENTIFY with 4002, which would only be retried: refuse it here.
    const tooLarge = oversized(
      JSON.stringify(this.#identifyPayload()),
      'IDENTIFY would be',
      ' (make presence or properties smaller)',
    );
    if (tooLarge) throw tooLarge;
    this.#session = session;
    this.#sequence = session?.sequence ?? null;
    this.#floor = this.#sequence ?? 0;
    this.#sessionLoaded = session !== null || !this.#store;
    this.#bufferSize = options.bufferSize ?? 10_000;
    EventQueue.check(this.#bufferSize);
  }

  /** Starts the shard; resolves once it is first READY or RESUMED, rejects if it stops before. */
  connect(): Promise<void> {
    if (this.#status === 'closed' || this.#status === 'fatally-closed' || this.#stop) {
      return Promise.reject(
        new ShardClosedError(
          `shard ${this.shardId} is ${this.#stop ? 'closing' : this.#status}; create a new Shard`,
        ),
      );
    }
    if (this.#loop === 'idle') this.#startLoop();
    if (this.#wasActive) return Promise.resolve();
    this.#firstActive ??= deferred();
    return this.#firstActive.promise;
  }

  /**
   * Closes the shard. With `resumable` the socket is closed with a code that keeps the session,
   * which is returned (and saved to the session store) so a later shard can resume it, unless what
   * the gateway had already sent on it ends the session (see #drain); otherwise
   * the session is ended (close 1000) and null is returned. While a close is under way, a second
   * call waits for it and does what the first one asked.
   */
  async close(options: { resumable?: boolean } = {}): Promise<SessionInfo | null> {
    if (!this.#stop && (this.#status === 'closed' || this.#status === 'fatally-closed'))
      return options.resumable ? this.session : null;
    // A close under way, or done, is not changed by a later call, which waits for it and gets its
    // result: leaving a `for await` loop (which closes) during a resumable shutdown must not end
    // the session.
    const stop = (this.#stop ??= { resumable: options.resumable ?? false });
    const conn = this.#conn;
    if (conn && stop.resumable && conn.awaiting === 'answered' && conn.ws.readyState === WebSocket.OPEN)
      this.#drain(conn);
    else if (conn)
      this.#endConnection(conn, { kind: 'stopped' }, stop.resumable ? RESUMABLE_CLOSE_CODE : 1000);
    this.#wake?.();
    if (this.#loop === 'idle') {
      this.#loop = 'ended';
      this.#finishStop();
    }
    await this.#loopEnd();
    // The store must hold the final sequence before close() resolves: a process about to exit
    // relies on it.
    await this.#finalSave;
    return stop.resumable ? this.session : null;
  }

  get state(): ShardState {
    return {
      status: this.#status,
      reconnectAttempts: this.#attempts,
      reconnectIn: this.#reconnectIn,
      error: this.#error,
    };
  }

  /**
   * The current session (null before READY or after it ended): save it to resume after a restart.
   * Its sequence is that of the last event the application took: events still waiting in a buffer
   * would be lost with the process, so a resume from it gets them again.
   */
  get session(): SessionInfo | null {
    if (!this.#session || this.#sequence === null) return null;
    const sequence = keptSequence(this.#sequence, this.#floor, this.#sessionFrom, this.#pending());
    return { ...this.#session, sequence };
  }

  /** This shard's buffered events: its own buffer's, or else its owner's. */
  #pending(): Pending | null {
    const queue = this.#queue;
    if (!queue || queue.pushed === 0) return this[undelivered]();
    return { pushed: queue.pushed, taken: queue.taken, first: () => queue.find(hasSequence)?.s ?? null };
  }

  /** Replaced by an owner that buffers this shard's events; a method, so an idle shard holds no closure for it. */
  [undelivered](): Pending | null {
    return null;
  }

  /** How many of this shard's buffered events, the oldest, are of a session that has ended. */
  [endedEvents](): number {
    return endedSessionEvents(this.#session ? this.#sessionFrom : null, this.#pending());
  }

  get latency(): LatencyStats {
    return this.#latency.stats;
  }

  /** The send budget of the current connection (a fresh budget when disconnected). */
  get rateLimit(): RateLimiterState {
    return (this.#conn?.limiter ?? new RateLimiter(this.#clock, this.#sendLimit)).state;
  }

  /** Dispatches waiting for the `for await` consumer, and whether the socket is paused for it. */
  get buffer(): { size: number; highWaterMark: number; paused: boolean } {
    return {
      size: this.#queue?.size ?? 0,
      highWaterMark: this.#bufferSize,
      paused: this.#conn?.paused ?? false,
    };
  }

  /**
   * Sends a gateway command. It waits until the shard is identified and the rate limit allows it,
   * survives reconnects, and resolves once written to the socket. Payloads over 4096 bytes are
   * refused at once.
   */
  send(payload: GatewaySendPayload | { op: number; d: unknown }): Promise<void> {
    if (this.#status === 'closed' || this.#status === 'fatally-closed') {
      return Promise.reject(new ShardClosedError(`shard ${this.shardId} is ${this.#status}`));
    }
    if (
      typeof payload !== 'object' ||
      payload === null ||
      !Number.isInteger((payload as { op: unknown }).op)
    ) {
      return Promise.reject(new TypeError('a gateway payload is an object with an integer "op"'));
    }
    const data = JSON.stringify(payload);
    const tooLarge = oversized(data, 'payload is');
    if (tooLarge) return Promise.reject(tooLarge);
    return new Promise((resolve, reject) => {
      this.#commands.push({ data, resolve, reject });
      this.#pump();
    });
  }

  updatePresence(data: GatewayPresenceUpdateData): Promise<void> {
    return this.send({ op: 3, d: data });
  }

  updateVoiceState(data: GatewayVoiceStateUpdateData): Promise<void> {
    return this.send({ op: 4, d: data });
  }

  requestGuildMembers(data: GatewayRequestGuildMembersData): Promise<void> {
    return this.send({ op: 8, d: data });
  }

  requestSoundboardSounds(data: { guild_ids: string[] }): Promise<void> {
    return this.send({ op: 31, d: data });
  }

  /** A small handle that sends through this shard, to pass to code that should not own the shard. */
  get sender(): ShardSender {
    return new ShardSender(this);
  }

  /**
   * Iterates dispatches until the shard closes. Leaving the loop early (`break`, `return`, a throw)
   * closes the shard, as it destroys a Node stream: a loop nobody reads would otherwise fill the
   * buffer and hold the socket paused forever.
   */
  [Symbol.asyncIterator](): AsyncIterator<Dispatch> {
    this.#iterated = true;
    return closingIterator(
      () => this.#events().next(),
      () => this.close(),
    );
  }

  [inspect.custom](): string {
    return `Shard { id: ${this.shardId}/${this.shardCount}, status: '${this.#status}' }`;
  }

  toJSON(): Record<string, unknown> {
    return {
      shardId: this.shardId,
      shardCount: this.shardCount,
      status: this.#status,
      intents: this.#intents,
      compress: this.#compress,
      gatewayUrl: this.#gatewayUrl,
    };
  }

  // ---- the connection loop -------------------------------------------------------------------

  /*
   * The loop is a chain of steps started by callbacks, not one async function: a suspended async
   * function keeps its generator, its promise and the reactions of the promise it awaits, a few
   * hundred bytes for every idle shard. Every step runs through #step, so an exception (a 'state'
   * listener that throws) ends the loop as a failure that close() reports, never half-way.
   */

  #startLoop(): void {
    this.#loop = 'running';
    if (this.#sessionLoaded) return this.#step(() => this.#next());
    this.#sessionLoaded = true;
    Promise.resolve()
      .then(() => this.#store!.get(this.shardId))
      .then(
        (stored) => {
          if (stored === undefined || stored === null) return;
          const problem = storedSessionProblem(stored, this.shardCount, this.#owner);
          if (problem) {
            this.#log.warn(`the stored session ${problem}; identifying instead`);
          } else {
            this.#session = stored;
            this.#sequence = stored.sequence;
            this.#floor = stored.sequence;
          }
        },
        (error: Error) =>
          this.#log.warn(`could not read the session store; identifying instead: ${error.message}`),
      )
      .then(() => this.#step(() => this.#next()));
  }

  #step(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#loop = 'ended';
      this.#loopFailure = { error };
      if (this.#loopWaiter) this.#loopWaiter.reject(error);
      // Nobody is waiting: reported as the rejection of the loop it is.
      else void Promise.reject(error);
    }
  }

  /** Resolves once the loop has ended (at once if it never started), rejects if it failed. */
  #loopEnd(): Promise<void> {
    if (this.#loop === 'running') return (this.#loopWaiter ??= deferred()).promise;
    return this.#loopFailure ? Promise.reject(this.#loopFailure.error) : Promise.resolve();
  }

  /** The top of the loop: the next connection, unless a close was asked for. */
  #next(): void {
    if (this.#stop) return this.#endLoop();
    this.#setStatus(this.#session ? 'resuming' : 'connecting');
    this.#connection();
  }

  /** A connection ended; how it ended decides what comes next. */
  #afterConnection(outcome: Outcome): void {
    if (outcome.kind === 'stopped' || this.#stop) {
      // The gateway ended the session while a resumable close read the rest of the connection:
      // there is nothing to resume, and the buffered events are delivered (see #finishStop).
      if (outcome.kind === 'identify' || outcome.kind === 'fatal') this.#forgetSession();
      return this.#endLoop();
    }
    if (outcome.kind === 'fatal') {
      return this.#endLoop(new GatewayCloseError(outcome.code!, this.shardId, outcome.reason));
    }
    if (outcome.kind === 'identify' && this.#session) {
      this.#log.info('session invalidated; a new one will be identified');
      this.#forgetSession();
      void this.#saveSession().then(() => this.#step(() => this.#retry(outcome)));
      return;
    }
    this.#retry(outcome);
  }

  #retry(outcome: Outcome): void {
    this.#countFlap();
    this.#attempts++;
    const wait = Math.max(
      backoffDelay(
        this.#attempts + Math.max(0, this.#flaps - FLAPS_FORGIVEN),
        this.#clock.random(),
        this.#backoff,
      ),
      outcome.delay ?? 0,
    );
    this.#reconnectIn = wait;
    this.#setStatus('disconnected');
    if (wait > 0) this.#log.debug(`reconnecting in ${wait} ms (attempt ${this.#attempts})`);
    this.#sleep(wait, () => {
      this.#reconnectIn = null;
      this.#next();
    });
  }

  /**
   * A connection that reached READY or RESUMED resets the attempts, so without this a gateway that
   * ends every connection right after its answer would be reconnected to at once, forever: two
   * processes resuming one session take it from each other hundreds of times a second. Such short
   * connections count toward the backoff until one lasts, once more than FLAPS_FORGIVEN of them
   * came in a row.
   */
  #countFlap(): void {
    if (this.#activeSince === null) return;
    const short = this.#clock.now() - this.#activeSince < STABLE_AFTER_MS;
    this.#activeSince = null;
    this.#flaps = short ? this.#flaps + 1 : 0;
    if (this.#flaps === FLAPS_FORGIVEN + 1) {
      this.#log.warn(
        `connections keep ending within ${STABLE_AFTER_MS / 1000} s of READY or RESUMED; backing off ` +
          '(is another process resuming this session?)',
      );
    }
  }

  #endLoop(fatal?: GatewayCloseError): void {
    this.#loop = 'ended';
    if (fatal) this.#fatal(fatal);
    else this.#finishStop();
    this.#loopWaiter?.resolve();
  }

  #finishStop(): void {
    if (this.#status === 'closed') return;
    const resumable = this.#stop?.resumable ?? false;
    if (!resumable) this.#forgetSession();
    else {
      // The session is kept at the last event the application took; the ones still buffered are
      // not delivered after all, since a resume of the kept session brings them again.
      const kept = this.session;
      if (kept) this.#sequence = kept.sequence;
      // Except those of a session that has ended, which nothing brings again.
      this.#queue?.stop(oldestOfEach(new Map([[this.shardId, this[endedEvents]()]])));
      this.#queue?.clear();
    }
    this.#finalSave = this.#saveSession();
    this.#end('closed');
    this.#emitState();
  }

  #fatal(error: GatewayCloseError): void {
    this.#log.error(error.message);
    this.#error = error;
    this.#forgetSession();
    void this.#saveSession();
    this.#end('fatally-closed');
    try {
      this.#emitState();
    } finally {
      // Even if a 'state' listener threw: the owner learns of the failure from this event.
      this.emit('fatal', error);
    }
  }

  /**
   * Enters a final status and settles everything waiting (commands, the iterator, connect()) with
   * `#error` or a ShardClosedError, before any listener hears of it: one that throws must not leave
   * them pending forever.
   */
  #end(status: 'closed' | 'fatally-closed'): void {
    this.#status = status;
    const closed = (what: string) => this.#error ?? new ShardClosedError(`shard ${this.shardId} was ${what}`);
    this.#failCommands(closed('closed'));
    this.#queue?.end(this.#error ?? undefined);
    this.#firstActive?.reject(closed('closed before it was ready'));
    this.#firstActive = null;
  }

  /** Runs `then` as a step after `ms`, or as soon as close() wakes it. */
  #sleep(ms: number, then: () => void): void {
    // close() may have come while the session store was being written, before this wait existed.
    if (ms <= 0 || this.#stop) return then();
    // The one wait with no socket open: it must keep the process alive, or a bot whose only work
    // is the gateway would exit in the middle of a backoff.
    const timer = this.#clock.setTimeout(done, ms, { keepAlive: true });
    const self = this;
    function done() {
      timer.cancel();
      self.#wake = null;
      queueMicrotask(() => self.#step(then));
    }
    this.#wake = done;
  }

  /** Opens a connection; #finish reports how it ended to #afterConnection. */
  #connection(): void {
    const resuming = this.#session !== null;
    let url = resuming ? this.#session!.resumeUrl : this.#gatewayUrl;
    let ws: WebSocket;
    try {
      url = gatewayQuery(url, this.#compress);
      this.#log.debug(`connecting to ${url} to ${resuming ? 'resume' : 'identify'}`);
      ws = new WebSocket(url, {
        perMessageDeflate: false,
        maxPayload: this.#maxMessageSize,
        skipUTF8Validation: true,
      });
    } catch (error) {
      this.#log.warn(`could not open ${url}: ${(error as Error).message}`);
      if (resuming) this.#missedResumeUrl();
      return this.#settle({ kind: 'resume' });
    }
    const inflater = this.#compress ? createInflater(this.#compress, this.#maxMessageSize) : null;
    const conn = new Connection(this, ws, inflater, new RateLimiter(this.#clock, this.#sendLimit));
    conn.resuming = resuming;
    this.#conn = conn;
    // Covers the TCP connect and the websocket handshake (ws's own handshakeTimeout is not used:
    // it would leave a spent timer on every socket), and is replaced by the Hello deadline once open.
    this.#arm(conn, this.#timeouts.connect, 'websocket handshake');
  }

  /** The loop goes on from a connection's end in a step of its own, after whatever ended it. */
  #settle(outcome: Outcome): void {
    queueMicrotask(() => this.#step(() => this.#afterConnection(outcome)));
  }

  static {
    friend = {
      heartbeat: (conn) => conn.shard.#heartbeat(conn),
      zombie: (conn) =>
        conn.shard.#gaveUp(conn, 'no message from the gateway for a whole heartbeat interval (zombie)'),
      onOpen() {
        const conn = (this as SocketOf)[CONNECTION];
        conn.opened = true;
        conn.shard.#resumeMisses = 0;
        conn.shard.#arm(conn, conn.shard.#timeouts.hello, 'Hello');
      },
      onMessage(data, isBinary) {
        const conn = (this as SocketOf)[CONNECTION];
        conn.shard.#onMessage(conn, data, isBinary);
      },
      onClose(code, reason) {
        const conn = (this as SocketOf)[CONNECTION];
        conn.shard.#onClose(conn, code, reason);
      },
      onError(error) {
        const conn = (this as SocketOf)[CONNECTION];
        conn.shard.#onError(conn, error);
      },
    };
  }

  #onClose(conn: Connection, code: number, reasonBuf: Buffer): void {
    const reason = redact(reasonBuf.toString());
    this.emit('close', { code, reason });
    if (conn.ended) return;
    this.#log.info(`connection closed with ${code}${reason ? ` (${reason})` : ''}`);
    const action = closeAction(code);
    this.#finish(
      conn,
      action === 'fatal'
        ? { kind: 'fatal', code, reason }
        : action === 'identify'
          ? { kind: 'identify', code, delay: reidentifyDelay(this.#clock.random()) }
          : { kind: 'resume', code },
    );
  }

  #onError(conn: Connection, error: Error): void {
    this.#log.warn(`socket error: ${error.message}`);
    // 'close' follows for sockets that opened; a failed handshake may only report here.
    const state = conn.ws.readyState;
    if (state === WebSocket.CLOSED || state === WebSocket.CLOSING) {
      this.#finish(conn, { kind: this.#session ? 'resume' : 'identify' });
    }
  }

  /** The connection is over: release what it holds and let the loop decide what comes next. */
  #finish(conn: Connection, outcome: Outcome): void {
    if (conn.ended) return;
    this.#identifyAnswered(conn);
    conn.ended = true;
    conn.heartbeater?.stop();
    conn.timer?.cancel();
    // Queued commands wait for the next connection and its own budget, not this one's.
    this.#pumpTimer?.cancel();
    this.#pumpTimer = null;
    conn.inflater?.close();
    conn.abort?.abort(new ShardClosedError('connection ended'));
    if (this.#conn === conn) this.#conn = null;
    this.#latency.reset();
    if (conn.resuming && !conn.opened && outcome.kind !== 'stopped') this.#missedResumeUrl();
    this.#settle(outcome);
  }

  /**
   * A resume URL that cannot be reached (gone, or never valid) would otherwise be retried until the
   * session expires. After a few misses in a row the session is resumed through the gateway URL
   * instead; if the gateway will not resume it there, op 9 leads to a new session as usual.
   */
  #missedResumeUrl(): void {
    const session = this.#session;
    if (!session || session.resumeUrl === this.#gatewayUrl || ++this.#resumeMisses < RESUME_URL_MISSES)
      return;
    this.#log.warn(
      `${session.resumeUrl} could not be reached ${this.#resumeMisses} times; resuming through ${this.#gatewayUrl}`,
    );
    this.#session = { ...session, resumeUrl: this.#gatewayUrl };
    this.#resumeMisses = 0;
  }

  /** Closes `conn` on purpose and decides the outcome now, without waiting for the close handshake. */
  #endConnection(conn: Connection, outcome: Outcome, code: number): void {
    if (conn.ended) return;
    this.#finish(conn, outcome);
    const ws = conn.ws;
    try {
      if (ws.readyState === WebSocket.OPEN) {
        ws.close(code);
        // A stalled peer may never answer the close frame.
        const t = this.#clock.setTimeout(() => ws.terminate(), 2000);
        ws.once('close', () => t.cancel());
      } else {
        ws.terminate();
      }
    } catch {
      ws.terminate();
    }
  }

  /**
   * Ends an established connection for a resumable close, reading what the gateway already sent
   * first. Behind a socket paused for a full buffer may wait the op 9 or close code that ended the
   * session; kept as if alive, its buffered events would be withheld for a resume the gateway then
   * refuses, and lost. So the close frame goes out at once, the socket is read to its end (the
   * events on it are buffered like any other), and the session is kept only if nothing ended it.
   * The gateway's close frame ends the connection, or DRAIN_MS without one.
   */
  #drain(conn: Connection): void {
    conn.draining = true;
    conn.heartbeater?.stop();
    conn.heartbeater = null;
    conn.timer?.cancel();
    conn.timer = this.#clock.setTimeout(() => {
      conn.ws.terminate();
      this.#finish(conn, { kind: 'stopped' });
    }, DRAIN_MS);
    if (conn.paused) {
      conn.paused = false;
      conn.ws.resume();
    }
    conn.ws.close(RESUMABLE_CLOSE_CODE);
  }

  /** A deadline for the current step; missing it ends the connection with a resume attempt. */
  #arm(conn: Connection, ms: number, what: string): void {
    conn.timer?.cancel();
    conn.timer = this.#clock.setTimeout(() => this.#gaveUp(conn, `no ${what} within ${ms} ms`), ms);
  }

  /**
   * The gateway went quiet on `conn`. A socket that is CLOSING although dusk never closed it already
   * carried the gateway's close frame, from a peer that will not finish the close handshake: it is
   * cut, and its 'close' decides with the code the gateway sent (a fatal one must still stop the
   * shard). Anything else is resumed.
   */
  #gaveUp(conn: Connection, why: string): void {
    if (conn.ended) return;
    if (conn.ws.readyState === WebSocket.CLOSING) {
      this.#log.warn(`${why}; the gateway sent a close frame but left the connection open, ending it`);
      conn.ws.terminate();
      return;
    }
    this.#log.warn(`${why}; resuming`);
    this.#endConnection(conn, { kind: 'resume' }, RESUMABLE_CLOSE_CODE);
  }

  #onMessage(conn: Connection, data: Buffer, isBinary: boolean): void {
    if (conn.ended) return;
    conn.heartbeater?.heard();
    let bytes: Buffer = data;
    if (conn.inflater) {
      let out: Buffer | null;
      try {
        out = conn.inflater.push(data);
      } catch (error) {
        this.#log.warn(`${(error as Error).message}; resuming`);
        this.#endConnection(conn, { kind: 'resume' }, RESUMABLE_CLOSE_CODE);
        return;
      }
      if (out === null) return;
      bytes = out;
    } else if (isBinary) {
      this.#log.warn('binary frame on an uncompressed connection; resuming');
      this.#endConnection(conn, { kind: 'resume' }, RESUMABLE_CLOSE_CODE);
      return;
    }
    // With no filter, and no owner taking text, every payload is parsed anyway; reading its
    // envelope first would be wasted.
    const scan = this.#wanted !== null || this.#textSink !== null;
    let envelope = scan ? readEnvelopeHead(bytes) : null;
    if (envelope && this.#skipUnwanted(envelope)) return;
    const text = bytes.toString();
    if (scan) envelope ??= readEnvelope(text);
    if (this.listenerCount('raw') > 0) this.emit('raw', text, envelope);
    let parsed: { op: number; s: number | null; t: string | null; d: unknown } | null = null;
    if (!envelope) {
      parsed = this.#parse(conn, text);
      if (!parsed) return;
      envelope = parsed;
    }
    switch (envelope.op) {
      case 0:
        return this.#onDispatch(conn, envelope, text, parsed);
      case 1:
        // Before Hello there is no schedule yet, but the request is answered all the same.
        if (conn.heartbeater) conn.heartbeater.requested();
        else this.#heartbeat(conn);
        return;
      case 7:
        this.#log.info('server asked to reconnect (op 7)');
        return this.#endConnection(conn, { kind: 'resume' }, RESUMABLE_CLOSE_CODE);
      case 9: {
        parsed ??= this.#parse(conn, text);
        if (!parsed) return;
        if (parsed.d === true && this.#session) {
          this.#log.info('invalid session (resumable); resuming');
          return this.#endConnection(conn, { kind: 'resume' }, RESUMABLE_CLOSE_CODE);
        }
        this.#log.info('invalid session; identifying anew');
        return this.#endConnection(
          conn,
          { kind: 'identify', delay: reidentifyDelay(this.#clock.random()) },
          1000,
        );
      }
      case 10: {
        parsed ??= this.#parse(conn, text);
        if (!parsed) return;
        return this.#onHello(conn, parsed.d);
      }
      case 11:
        this.#latency.acked(this.#clock.now());
        return;
      default:
        this.#log.debug(`ignoring unknown opcode ${envelope.op}`);
    }
  }

  #parse(
    conn: Connection,
    text: string,
  ): { op: number; s: number | null; t: string | null; d: unknown } | null {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.#log.warn(`received invalid JSON (${text.length} bytes); resuming`);
      this.#endConnection(conn, { kind: 'resume' }, RESUMABLE_CLOSE_CODE);
      return null;
    }
    const v = value as { op?: unknown; s?: unknown; t?: unknown; d?: unknown };
    if (typeof value !== 'object' || value === null || !Number.isInteger(v.op)) {
      this.#log.warn('received a payload without an integer op; resuming');
      this.#endConnection(conn, { kind: 'resume' }, RESUMABLE_CLOSE_CODE);
      return null;
    }
    return {
      op: v.op as number,
      s: Number.isInteger(v.s) ? (v.s as number) : null,
      t: typeof v.t === 'string' ? v.t : null,
      d: v.d ?? null,
    };
  }

  #onHello(conn: Connection, d: unknown): void {
    const interval = (d as { heartbeat_interval?: unknown } | null)?.heartbeat_interval;
    if (typeof interval !== 'number' || !(interval > 0)) {
      this.#log.warn('Hello without a valid heartbeat_interval; reconnecting');
      return this.#endConnection(conn, { kind: 'resume' }, RESUMABLE_CLOSE_CODE);
    }
    if (conn.heartbeater) return;
    conn.limiter.setReserved(reservedSlots(interval, conn.limiter.state.windowMs));
    conn.heartbeater = new Heartbeater(this.#clock, interval, conn);
    conn.heartbeater.start();
    conn.timer?.cancel();
    if (this.#session) {
      this.#setStatus('resuming');
      const resume = {
        op: 6,
        d: { token: this.#token.reveal(), session_id: this.#session.sessionId, seq: this.#sequence ?? 0 },
      };
      const data = JSON.stringify(resume);
      const tooLarge = oversized(data, 'RESUME would be');
      if (tooLarge) {
        // Only a session_id of kilobytes does this; the gateway would answer 4002 every time.
        this.#log.warn(`${tooLarge.message}; identifying a new session`);
        return this.#endConnection(conn, { kind: 'identify' }, 1000);
      }
      if (!this.#sendPriority(conn, resume, data)) return this.#gaveUp(conn, 'RESUME could not be sent');
      conn.awaiting = 'RESUMED';
      this.#arm(conn, this.#timeouts.ready, 'RESUMED');
    } else {
      this.#setStatus('identifying');
      void this.#identify(conn);
    }
  }

  async #identify(conn: Connection): Promise<void> {
    try {
      conn.abort = new AbortController();
      await this.#identifyQueue.enqueue(this.shardId, conn.abort.signal);
      conn.abort = null;
    } catch (error) {
      if (!conn.ended) {
        this.#log.warn(`identify queue failed: ${(error as Error).message}`);
        this.#endConnection(conn, { kind: 'identify', delay: 5000 }, 1000);
      }
      return;
    }
    if (conn.ended) return;
    if (!this.#sendPriority(conn, this.#identifyPayload()))
      return this.#gaveUp(conn, 'IDENTIFY could not be sent');
    conn.awaiting = 'READY';
    this.#arm(conn, this.#timeouts.ready, 'READY');
  }

  #identifyPayload(): { op: number; d: unknown } {
    return {
      op: 2,
      d: {
        token: this.#token.reveal(),
        properties: this.#properties,
        intents: this.#intents,
        shard: [this.shardId, this.shardCount],
        large_threshold: this.#largeThreshold,
        compress: false,
        ...(this.#presence ? { presence: this.#presence } : {}),
      },
    };
  }

  /** READY, op 9 or the end of the socket: the identify bucket's window can start counting. */
  #identifyAnswered(conn: Connection): void {
    if (conn.awaiting !== 'READY') return;
    conn.awaiting = 'answered';
    this.#identifyQueue.identified?.(this.shardId);
  }

  #heartbeat(conn: Connection): void {
    if (this.#sendPriority(conn, { op: 1, d: this.#sequence })) this.#latency.sent(this.#clock.now());
  }

  /**
   * Heartbeats, IDENTIFY and RESUME may use the whole send budget. Only a server that asks for beats
   * (op 1, or a tiny Hello interval) faster than the budget allows can exhaust it; the payload is then
   * not sent, since the 121st would get the connection closed anyway. A skipped beat is followed by
   * the next one; a skipped IDENTIFY or RESUME leaves the connection at once rather than waiting for
   * an answer that cannot come.
   */
  #sendPriority(
    conn: Connection,
    payload: { op: number; d: unknown },
    data = JSON.stringify(payload),
  ): boolean {
    if (conn.ended || conn.ws.readyState !== WebSocket.OPEN) return false;
    if (conn.limiter.delay(true) > 0) {
      if (!conn.overBudget) {
        conn.overBudget = true;
        this.#log.warn(`the gateway asks for more than the send limit allows; op ${payload.op} not sent`);
      }
      return false;
    }
    conn.limiter.record(true);
    conn.ws.send(data);
    return true;
  }

  /**
   * With an event filter, a dispatch nobody wants is recognised from its head alone: Discord writes
   * `t`, `s` and `op` before `d`, so a large payload (a GUILD_CREATE of megabytes) is never decoded
   * into a string just to be dropped. Its sequence number still counts. A `raw` listener sees every
   * payload, so nothing is skipped while there is one.
   */
  #skipUnwanted(head: Envelope): boolean {
    if (head.op !== 0 || head.t === null || this.#wanted === null || this.#wanted.has(head.t)) return false;
    if (head.t === 'READY' || head.t === 'RESUMED' || this.listenerCount('raw') > 0) return false;
    if (head.s !== null) this.#advance(head.s);
    return true;
  }

  #onDispatch(
    conn: Connection,
    envelope: { s: number | null; t: string | null },
    text: string,
    parsed: { d: unknown; t: string | null; s: number | null; op: number } | null,
  ): void {
    const t = envelope.t;
    let internal = t === 'READY' || t === 'RESUMED';
    if (internal) {
      // READY answers IDENTIFY (a gateway that answers RESUME with a new session is taken at its
      // word); RESUMED answers RESUME. A RESUMED after the answer is an earlier resume's, replayed
      // with its sequence number: an ordinary dispatch. Anything else was never asked for, and
      // before Hello would leave a connection with no heartbeat and no deadline.
      const asked = conn.awaiting;
      if (t === 'RESUMED' && asked === 'answered') internal = false;
      else if (t === 'READY' ? asked === null || asked === 'answered' : asked !== 'RESUMED') {
        this.#log.warn(`${t} answers nothing this connection sent; reconnecting`);
        return this.#endConnection(conn, { kind: 'resume' }, RESUMABLE_CLOSE_CODE);
      }
    }
    const wanted = t !== null && (this.#wanted === null || this.#wanted.has(t));
    const sink = this.#textSink;
    if ((internal || (wanted && !sink)) && !parsed) {
      parsed = this.#parse(conn, text);
      if (!parsed) return;
    }
    if (envelope.s !== null) this.#advance(envelope.s);
    if (internal) {
      if (t === 'READY') this.#onReady(conn, parsed!.d as GatewayReadyDispatchData, envelope.s);
      else this.#onResumed(conn);
    }
    if (!wanted) return;
    if (sink) return sink(text, envelope.s, t);
    const event = parsed as unknown as Dispatch & { shardId: number };
    event.shardId = this.shardId;
    // Decided before the listeners run: a once() listener is gone afterwards.
    const buffered = this.#countsForQueue();
    this.emit('dispatch', event);
    if (buffered && !this.#events().push(event)) this.#pauseReading(conn);
  }

  #advance(s: number): void {
    if (this.#sequence === null || s > this.#sequence) this.#sequence = s;
    if (this.#store && this.#saveTimer === null) {
      // A process that dies without close() resumes from the last save: saving while events flow
      // bounds what it gets twice, and keeps its sequence inside the gateway's replay window.
      this.#saveTimer = this.#clock.setTimeout(() => void this.#saveSession(), SAVE_EVERY_MS);
    }
  }

  #forgetSession(): void {
    this.#session = null;
    this.#sequence = null;
  }

  #onReady(conn: Connection, d: GatewayReadyDispatchData, s: number | null): void {
    this.#identifyAnswered(conn);
    if (typeof d?.session_id !== 'string' || typeof d.resume_gateway_url !== 'string') {
      this.#log.warn('READY without session_id or resume_gateway_url; identifying anew');
      this.#endConnection(conn, { kind: 'identify', delay: reidentifyDelay(this.#clock.random()) }, 1000);
      return;
    }
    let resumeUrl = d.resume_gateway_url;
    if (!isGatewayUrl(resumeUrl)) {
      this.#log.warn(
        `READY's resume_gateway_url is not a ws:// or wss:// URL; resuming through ${this.#gatewayUrl}`,
      );
      resumeUrl = this.#gatewayUrl;
    }
    this.#session = {
      sessionId: d.session_id,
      resumeUrl,
      shardId: this.shardId,
      shardCount: this.shardCount,
      owner: this.#owner,
    };
    // READY starts the session's numbering; anything seen before it belonged to no session.
    this.#sequence = s ?? 0;
    this.#floor = this.#sequence;
    this.#sessionFrom = this.#pending()?.pushed ?? 0;
    this.#log.info(`ready: session ${d.session_id}, ${d.guilds?.length ?? 0} guilds`);
    this.#becameActive(conn);
    this.emit('ready', d);
  }

  #onResumed(conn: Connection): void {
    this.#log.info(`resumed at sequence ${this.#sequence}`);
    this.#becameActive(conn);
    this.emit('resumed');
  }

  #becameActive(conn: Connection): void {
    conn.awaiting = 'answered';
    conn.timer?.cancel();
    conn.timer = null;
    this.#attempts = 0;
    this.#activeSince = this.#clock.now();
    this.#wasActive = true;
    this.#firstActive?.resolve();
    this.#firstActive = null;
    this.#setStatus('active');
    void this.#saveSession();
    if (this.#readingHeld()) this.#pauseReading(conn);
    this.#pump();
  }

  /** The buffer for the iterator, created on first use. */
  #events(): EventQueue<Dispatch> {
    if (!this.#queue) {
      this.#queue = new EventQueue<Dispatch>(this.#bufferSize, () => this.#resumeReading());
      if (this.#status === 'closed' || this.#status === 'fatally-closed')
        this.#queue.end(this.#error ?? undefined);
    }
    return this.#queue;
  }

  /** Whether reading must stay stopped: for the application, for the owner, or for a full buffer. */
  #readingHeld(): boolean {
    return this.#userPaused || this.#held || (this.#queue?.full === true && this.#countsForQueue());
  }

  /** Buffer for the iterator unless the application chose listeners and never iterated. */
  #countsForQueue(): boolean {
    return this.#iterated || this.listenerCount('dispatch') === 0;
  }

  /**
   * Stops reading from the socket, but only once the session is established: a socket paused
   * before Hello, READY or RESUMED would miss its deadline (or, if the deadline waited, leave a
   * connect() or start() that the application awaits before reading waiting forever). Until then
   * events keep coming, a resume's replay included, which is bounded by what was missed; becoming
   * active pauses.
   */
  #pauseReading(conn: Connection): void {
    if (conn.paused || conn.ended || conn.draining || this.#conn !== conn || this.#status !== 'active')
      return;
    conn.paused = true;
    conn.ws.pause();
    this.#log.debug('pausing the socket until the application catches up');
  }

  /**
   * Stops reading from the gateway until resume(): heartbeats continue, the backlog waits in the
   * socket and on the server. For applications that apply their own backpressure.
   */
  pause(): void {
    this.#userPaused = true;
    if (this.#conn) this.#pauseReading(this.#conn);
  }

  resume(): void {
    this.#userPaused = false;
    this.#resumeReading();
  }

  [takeText](sink: TextSink): void {
    this.#textSink = sink;
  }

  /**
   * For an owner that parses the texts itself and found one it could not: the shard goes back to
   * `sequence` and resumes, so the gateway replays everything after it. Ignored without a session, or
   * when the shard is not past `sequence`.
   */
  [rewindTo](sequence: number): void {
    if (!this.#session || this.#sequence === null || sequence >= this.#sequence) return;
    this.#log.warn(`dispatch ${sequence + 1} could not be parsed; resuming from ${sequence}`);
    this.#sequence = sequence;
    const conn = this.#conn;
    if (conn) this.#endConnection(conn, { kind: 'resume' }, RESUMABLE_CLOSE_CODE);
  }

  /**
   * For the shard's owner (a ShardManager): stops reading while the owner's merged buffer is full,
   * and starts again when it drains, independently of the application's pause().
   */
  [holdReading](held: boolean): void {
    this.#held = held;
    if (!held) this.#resumeReading();
    else if (this.#conn) this.#pauseReading(this.#conn);
  }

  #resumeReading(): void {
    const conn = this.#conn;
    if (!conn?.paused || this.#readingHeld()) return;
    conn.paused = false;
    conn.heartbeater?.heard();
    conn.ws.resume();
  }

  #pump(): void {
    const conn = this.#conn;
    if (!conn || conn.ended || conn.ws.readyState !== WebSocket.OPEN) return;
    if (this.#status !== 'active' || this.#pumpTimer) return;
    while (this.#commands.length > 0) {
      const wait = conn.limiter.delay(false);
      if (wait > 0) {
        this.#pumpTimer = this.#clock.setTimeout(() => {
          this.#pumpTimer = null;
          this.#pump();
        }, wait);
        return;
      }
      const command = this.#commands.shift()!;
      conn.limiter.record(false);
      conn.ws.send(command.data);
      command.resolve();
    }
  }

  #failCommands(error: Error): void {
    this.#pumpTimer?.cancel();
    this.#pumpTimer = null;
    const pending = this.#commands;
    this.#commands = [];
    for (const c of pending) c.reject(error);
  }

  /**
   * Writes the session as it is now, after any write still under way: a store that does not order
   * its writes (a remote one) must not let an older save land after the final one.
   */
  #saveSession(): Promise<void> {
    const store = this.#store;
    if (!store) return Promise.resolve();
    this.#saveTimer?.cancel();
    this.#saveTimer = null;
    const session = this.session;
    this.#saving = (this.#saving ?? Promise.resolve())
      .then(() => store.set(this.shardId, session))
      .catch((error: unknown) =>
        this.#log.warn(`could not write the session store: ${(error as Error).message}`),
      );
    return this.#saving;
  }

  #setStatus(status: ShardStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#emitState();
  }

  #emitState(): void {
    this.#log.debug(`state ${this.#status}`);
    this.emit('state', this.state);
  }
}

/** Sends through a shard; holds nothing else, so it can be handed to any part of an application. */
export class ShardSender {
  readonly #shard: Shard;

  constructor(shard: Shard) {
    this.#shard = shard;
  }

  get shardId(): number {
    return this.#shard.shardId;
  }

  send(payload: GatewaySendPayload | { op: number; d: unknown }): Promise<void> {
    return this.#shard.send(payload);
  }

  updatePresence(data: GatewayPresenceUpdateData): Promise<void> {
    return this.#shard.updatePresence(data);
  }

  updateVoiceState(data: GatewayVoiceStateUpdateData): Promise<void> {
    return this.#shard.updateVoiceState(data);
  }

  requestGuildMembers(data: GatewayRequestGuildMembersData): Promise<void> {
    return this.#shard.requestGuildMembers(data);
  }

  requestSoundboardSounds(data: { guild_ids: string[] }): Promise<void> {
    return this.#shard.requestSoundboardSounds(data);
  }
}

/**
 * `given` with its missing keys taken from `defaults`, or `defaults` itself when nothing is given:
 * a thousand shards left on the defaults share one object instead of carrying a thousand copies.
 */
function withDefaults<T extends object>(given: Partial<T> | undefined, defaults: T): T {
  if (!given) return defaults;
  const out: T = { ...defaults };
  for (const key of Object.keys(defaults) as (keyof T)[]) out[key] = given[key] ?? defaults[key];
  return out;
}

/** The error for a payload over the gateway's 4096 bytes, or null; `what` leads its message. */
function oversized(data: string, what: string, hint = ''): PayloadTooLargeError | null {
  const size = Buffer.byteLength(data);
  if (size <= MAX_CLIENT_PAYLOAD_BYTES) return null;
  return new PayloadTooLargeError(
    `${what} ${size} bytes; the gateway accepts at most ${MAX_CLIENT_PAYLOAD_BYTES}${hint}`,
  );
}

function checkUrl(url: string, name: string): string {
  if (!isGatewayUrl(url))
    throw new TypeError(`${name} must be a ws:// or wss:// URL, got ${JSON.stringify(url)}`);
  return url;
}

/** The gateway URL with `v`, `encoding` and `compress` set (replacing any given). */
export function gatewayQuery(base: string, compress: Compression | null): string {
  const url = new URL(base);
  url.searchParams.set('v', String(API_VERSION));
  url.searchParams.set('encoding', 'json');
  if (compress) url.searchParams.set('compress', compress);
  else url.searchParams.delete('compress');
  return url.toString();
}
