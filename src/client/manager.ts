/**
 * Many shards of one bot, run as one.
 *
 * The manager owns the shards of this process and one identify queue shared between them, starts
 * them in identify-bucket order (so `max_concurrency` shards identify together, then the next group
 * one window later), and offers what an application wants of a fleet: the state and latency of each
 * shard, one merged stream of events tagged with their shard, commands to every shard or to the
 * shard that owns a guild, and a clean shutdown that can keep every session for a later resume.
 *
 * The manager listens to its shards rather than iterating them, with listeners shared by every
 * shard (an emitter calls a listener with the emitting shard as `this`), so an idle shard costs the
 * manager nothing but its map entry. Events go to the manager's 'dispatch' listeners at once and,
 * when the application iterates (or has no listener yet), into one bounded queue; when that queue
 * is full, the shard that filled it stops reading until it drains, so a slow consumer pauses sockets
 * instead of growing memory, and nothing is dropped.
 */
import { EventEmitter } from 'node:events';
import { shardIds as checkShardIds } from '../check.js';
import { type Logger, silentLogger } from '../logger.js';
import { shardForGuild } from '../protocol/snowflake.js';
import type { GatewayCloseError } from './errors.js';
import { closingIterator, EventQueue } from './event-queue.js';
import type { LatencyStats } from './heartbeat.js';
import { type IdentifyQueue, LocalIdentifyQueue } from './identify-queue.js';
import { bucketOrder } from './ranges.js';
import { fetchGatewayBot, type RestOptions } from './rest.js';
import { oldestOfEach, type SessionInfo } from './session.js';
import {
  type Dispatch,
  endedEvents,
  holdReading,
  Shard,
  type ShardOptions,
  type ShardState,
  undelivered,
} from './shard.js';

export type ManagerShardOptions = Omit<ShardOptions, 'shardId' | 'shardCount' | 'identifyQueue'>;

export interface ShardManagerOptions extends ManagerShardOptions {
  shardCount: number;
  /** The shard ids this process runs (default: all of shardCount). */
  shardIds?: readonly number[];
  /** From GET /gateway/bot (default 1); ignored when identifyQueue is given. */
  maxConcurrency?: number;
  identifyQueue?: IdentifyQueue;
  /** Per-shard overrides, e.g. a presence or a saved session. */
  perShard?: (shardId: number) => Partial<ManagerShardOptions>;
}

export interface ShardStatusEntry {
  readonly shardId: number;
  readonly state: ShardState;
  readonly latency: LatencyStats;
}

export interface ManagerEvents {
  dispatch: [Dispatch];
  state: [number, ShardState];
  fatal: [number, Error];
}

export class ShardManager extends EventEmitter<ManagerEvents> implements AsyncIterable<Dispatch> {
  readonly shardCount: number;
  readonly maxConcurrency: number;
  readonly identifyQueue: IdentifyQueue;
  readonly #shards = new Map<number, Shard>();
  readonly #queue: EventQueue<Dispatch>;
  /** Per shard, events put in the merged buffer and handed out of it. */
  readonly #counts = new Map<number, { pushed: number; taken: number }>();
  /** Shards stopped because the queue filled up; they read again when it drains. */
  readonly #held = new Set<Shard>();
  #iterated = false;
  #closing: Promise<SessionInfo[]> | null = null;

  constructor(options: ShardManagerOptions) {
    super();
    const { shardCount, shardIds, maxConcurrency, identifyQueue, perShard, ...shardOptions } = options;
    if (!Number.isInteger(shardCount) || shardCount < 1) {
      throw new RangeError(`shardCount must be a positive integer, got ${shardCount}`);
    }
    this.shardCount = shardCount;
    this.maxConcurrency = maxConcurrency ?? 1;
    this.identifyQueue =
      identifyQueue ??
      new LocalIdentifyQueue({
        maxConcurrency: this.maxConcurrency,
        ...(options.clock ? { clock: options.clock } : {}),
      });
    const ids = checkShardIds(shardIds ?? Array.from({ length: shardCount }, (_, i) => i), shardCount);
    this.#queue = new EventQueue<Dispatch>(
      options.bufferSize ?? 10_000,
      () => {
        // Released from a copy: a shard held again while this runs must stay in the set.
        const held = [...this.#held];
        this.#held.clear();
        for (const shard of held) shard[holdReading](false);
      },
      (event) => this.#counts.get(event.shardId)!.taken++,
    );
    const manager = this;
    const forward = (event: Dispatch) => this.#forward(event);
    function onState(this: Shard, state: ShardState) {
      if (state.status === 'closed' || state.status === 'fatally-closed') manager.#endIfAllStopped();
      manager.emit('state', this.shardId, state);
    }
    function onFatal(this: Shard, error: GatewayCloseError) {
      manager.emit('fatal', this.shardId, error);
    }
    for (const id of bucketOrder(ids, this.maxConcurrency)) {
      const shard = new Shard({
        ...shardOptions,
        ...perShard?.(id),
        shardId: id,
        shardCount,
        identifyQueue: this.identifyQueue,
      });
      shard.on('dispatch', forward);
      // The shard keeps its session before the oldest of its events still in the merged buffer.
      const counts = { pushed: 0, taken: 0 };
      this.#counts.set(id, counts);
      shard[undelivered] = () => ({
        ...counts,
        first: () => this.#queue.find((e) => e.shardId === id && e.s !== null)?.s ?? null,
      });
      shard.on('state', onState);
      shard.on('fatal', onFatal);
      this.#shards.set(id, shard);
    }
  }

  /**
   * Fetches the recommended shard count and max_concurrency from GET /gateway/bot (`rest: { api }`
   * points it elsewhere, e.g. at the emulator) and builds a manager for all shards, or `shardIds`.
   */
  static async createRecommended(
    options: Omit<ShardManagerOptions, 'shardCount' | 'maxConcurrency' | 'gatewayUrl'> & {
      shardCount?: number;
      gatewayUrl?: string;
      rest?: RestOptions;
      logger?: Logger;
    },
  ): Promise<ShardManager> {
    const info = await fetchGatewayBot(options.token, options.rest ?? {});
    const limit = info.session_start_limit;
    const log = options.logger ?? silentLogger;
    const identifyQueue =
      options.identifyQueue ??
      new LocalIdentifyQueue({
        maxConcurrency: limit.max_concurrency,
        sessionStartLimit: limit,
        logger: log,
        ...(options.clock ? { clock: options.clock } : {}),
      });
    log.info(`gateway recommends ${info.shards} shard(s), max_concurrency ${limit.max_concurrency}`);
    return new ShardManager({
      ...options,
      gatewayUrl: options.gatewayUrl ?? info.url,
      shardCount: options.shardCount ?? info.shards,
      maxConcurrency: limit.max_concurrency,
      identifyQueue,
    });
  }

  get shards(): ReadonlyMap<number, Shard> {
    return this.#shards;
  }

  shard(id: number): Shard | undefined {
    return this.#shards.get(id);
  }

  /** Starts every shard (in bucket order); resolves when all are READY or RESUMED. */
  async start(): Promise<void> {
    await Promise.all([...this.#shards.values()].map((s) => s.connect()));
  }

  status(): ShardStatusEntry[] {
    return [...this.#shards.values()]
      .sort((a, b) => a.shardId - b.shardId)
      .map((s) => ({ shardId: s.shardId, state: s.state, latency: s.latency }));
  }

  /** The shard that receives events for `guildId`, if this process runs it. */
  shardForGuild(guildId: string): Shard | undefined {
    return this.#shards.get(shardForGuild(guildId, this.shardCount));
  }

  /** Sends to every shard; resolves when all have sent. */
  broadcast(payload: Parameters<Shard['send']>[0]): Promise<void> {
    return Promise.all([...this.#shards.values()].map((s) => s.send(payload))).then(() => {});
  }

  /** Sends on the shard that owns `guildId`; rejects when this process does not run that shard. */
  sendToGuild(guildId: string, payload: Parameters<Shard['send']>[0]): Promise<void> {
    const id = shardForGuild(guildId, this.shardCount);
    const shard = this.#shards.get(id);
    if (!shard)
      return Promise.reject(
        new RangeError(`guild ${guildId} belongs to shard ${id}, which this process does not run`),
      );
    return shard.send(payload);
  }

  /**
   * Closes every shard; with `resumable`, returns their sessions for a later resume. A close under
   * way is not changed by a later call, which gets the same result: leaving a `for await` loop while
   * a resumable shutdown runs must not throw the sessions away.
   */
  close(options: { resumable?: boolean } = {}): Promise<SessionInfo[]> {
    // A resumable close delivers nothing more, but what no resume brings again (see Shard's close):
    // the sessions are kept before what is still buffered.
    if (!this.#closing && options.resumable) {
      const ended = new Map([...this.#shards].map(([id, shard]) => [id, shard[endedEvents]()]));
      this.#queue.stop(oldestOfEach(ended));
    }
    // Every shard's close runs to its end even if one fails (a listener of it threw), and the merged
    // stream ends either way; the failure is then reported.
    this.#closing ??= Promise.allSettled([...this.#shards.values()].map((s) => s.close(options))).then(
      (results) => {
        // As in each shard: the sessions were kept before the events still buffered, and those of
        // a shard whose session ended during its close are delivered.
        if (options.resumable) {
          this.#queue.release((e) => this.#shards.get(e.shardId)!.session === null);
          this.#queue.clear();
        }
        this.#queue.end();
        const sessions: SessionInfo[] = [];
        for (const r of results) {
          if (r.status === 'rejected') throw r.reason;
          if (r.value) sessions.push(r.value);
        }
        return sessions;
      },
    );
    return this.#closing;
  }

  /**
   * With no shard left to deliver anything, the merged stream ends: with the error of a shard that
   * stopped on a fatal close code, if any, so a `for await` loop does not finish as if all were well.
   */
  #endIfAllStopped(): void {
    if (this.#closing) return; // close() ends the stream itself, without an old shard's error
    let error: Error | null = null;
    for (const shard of this.#shards.values()) {
      const { status, error: fatal } = shard.state;
      if (status !== 'closed' && status !== 'fatally-closed') return;
      error = fatal ?? error;
    }
    this.#queue.end(error ?? undefined);
  }

  /** Merged dispatches of every shard. Leaving the loop early closes the manager, as with a shard. */
  [Symbol.asyncIterator](): AsyncIterator<Dispatch> {
    this.#iterated = true;
    return closingIterator(
      () => this.#queue.next(),
      () => this.close(),
    );
  }

  #forward(event: Dispatch): void {
    // As with a single shard: listeners alone need no buffer (decided before a once() listener goes).
    const buffered = this.#iterated || this.listenerCount('dispatch') === 0;
    this.emit('dispatch', event);
    if (!buffered) return;
    this.#counts.get(event.shardId)!.pushed++;
    if (this.#queue.push(event)) return;
    const shard = this.#shards.get(event.shardId)!;
    this.#held.add(shard);
    shard[holdReading](true);
  }
}
