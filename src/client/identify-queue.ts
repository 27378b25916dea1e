/**
 * Who may IDENTIFY when.
 *
 * Discord allows one IDENTIFY per bucket (`shard_id % max_concurrency`) per 5 seconds; buckets are
 * independent, so up to `max_concurrency` shards start together. A shard asks the queue before every
 * IDENTIFY (never before a RESUME, which costs nothing) and proceeds when its promise resolves. The
 * queue must be shared by every shard of a bot in the process; across processes a shared
 * implementation of the same interface does the job.
 *
 * Each bucket is a chain of waiters: a waiter is released when the bucket's previous IDENTIFY is at
 * least one window old. A cancelled waiter (its shard gave up) leaves without consuming the slot.
 *
 * The daily session start limit is tracked too. Spending the last start makes Discord reset the
 * bot's token, so the queue keeps `reserve` starts unspent: when only those are left it holds every
 * waiter until the limit's reset time, says so in the logs, and then carries on. `update()` takes the
 * fresh numbers from `GET /gateway/bot`.
 */

import { duration, integer } from '../check.js';
import { type Clock, systemClock, type Timer } from '../clock.js';
import { type Logger, silentLogger } from '../logger.js';
import { IDENTIFY_WINDOW_MS } from '../protocol/opcodes.js';

export interface IdentifyQueue {
  /** Resolves when `shardId` may send IDENTIFY; rejects with the signal's reason if aborted. */
  enqueue(shardId: number, signal?: AbortSignal): Promise<void>;
  /**
   * The gateway has answered `shardId`'s IDENTIFY (READY or op 9). The gateway times its buckets by
   * when it handled an IDENTIFY, which can be well after it was sent when the gateway is busy; a
   * queue that starts the window from the answer can never be early.
   */
  identified?(shardId: number): void;
}

interface Waiter {
  shardId: number;
  resolve(): void;
  reject(reason: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

interface Bucket {
  lastRelease: number;
  /** The shard released last, until the gateway answers its IDENTIFY. */
  pending: number | null;
  waiters: Waiter[];
  timer: Timer | null;
}

export interface IdentifyProgress {
  readonly waiting: number;
  /** ms until the next waiting shard may identify (0: now), or null when nobody waits. */
  readonly nextBucketIn: number | null;
  /** ms until the daily limit resets, when the queue is holding waiters for it. */
  readonly startLimitResetIn: number | null;
}

/** `session_start_limit` from GET /gateway/bot, in its own units (reset_after in ms). */
export interface SessionStartLimit {
  total: number;
  remaining: number;
  reset_after: number;
  max_concurrency?: number;
}

export interface LocalIdentifyQueueOptions {
  maxConcurrency?: number;
  /** Milliseconds between two IDENTIFYs of one bucket (default 5000). */
  window?: number;
  /** The daily limit to respect (default: not tracked). */
  sessionStartLimit?: SessionStartLimit;
  /** Starts never spent (default 1): the last start would get the token reset. */
  reserve?: number;
  clock?: Clock;
  logger?: Logger;
}

export interface SessionStartState {
  readonly total: number;
  readonly remaining: number;
  /** Milliseconds until the daily limit resets. */
  readonly resetIn: number;
  /** True while waiters are held for the reset. */
  readonly exhausted: boolean;
}

export class LocalIdentifyQueue implements IdentifyQueue {
  readonly maxConcurrency: number;
  readonly window: number;
  readonly reserve: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #buckets = new Map<number, Bucket>();
  #limit: { total: number; remaining: number; resetAt: number } | null = null;
  #resetTimer: Timer | null = null;

  constructor(options: LocalIdentifyQueueOptions = {}) {
    const mc = options.maxConcurrency ?? options.sessionStartLimit?.max_concurrency ?? 1;
    this.maxConcurrency = integer('maxConcurrency', mc, 1);
    this.window = duration('window', options.window ?? IDENTIFY_WINDOW_MS);
    this.reserve = integer('reserve', options.reserve ?? 1, 0);
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? silentLogger;
    if (options.sessionStartLimit) this.update(options.sessionStartLimit);
  }

  /** Takes fresh numbers from GET /gateway/bot (e.g. after a reset, or periodically). */
  update(limit: SessionStartLimit): void {
    for (const key of ['total', 'remaining', 'reset_after'] as const) {
      if (!Number.isFinite(limit[key]) || limit[key] < 0)
        throw new RangeError(`session_start_limit.${key} is invalid`);
    }
    this.#limit = {
      total: limit.total,
      remaining: limit.remaining,
      resetAt: this.#clock.now() + limit.reset_after,
    };
    this.#resetTimer?.cancel();
    this.#resetTimer = null;
    for (const bucket of this.#buckets.values()) this.#pump(bucket);
  }

  /**
   * What startup is waiting on, for a progress display: shards waiting for a slot, ms until the
   * soonest bucket with waiters may release one (0: now, null: nobody waits), and the daily limit's
   * reset when the queue is holding them for it.
   */
  get progress(): IdentifyProgress {
    let waiting = 0;
    let next: number | null = null;
    const now = this.#clock.now();
    for (const bucket of this.#buckets.values()) {
      if (bucket.waiters.length === 0) continue;
      waiting += bucket.waiters.length;
      const wait = Math.max(0, bucket.lastRelease + this.window - now);
      next = next === null ? wait : Math.min(next, wait);
    }
    const limit = this.sessionStartLimit;
    const held = waiting > 0 && limit?.exhausted ? limit.resetIn : null;
    return { waiting, nextBucketIn: next, startLimitResetIn: held };
  }

  get sessionStartLimit(): SessionStartState | null {
    const l = this.#current();
    if (!l) return null;
    const resetIn = l.resetAt - this.#clock.now();
    return { total: l.total, remaining: l.remaining, resetIn, exhausted: l.remaining <= this.reserve };
  }

  #exhausted(): boolean {
    const l = this.#current();
    return l !== null && l.remaining <= this.reserve;
  }

  /** The limit as of now: once its reset has passed, the full allowance until update() says otherwise. */
  #current(): { total: number; remaining: number; resetAt: number } | null {
    const l = this.#limit;
    if (l && this.#clock.now() >= l.resetAt) {
      l.remaining = l.total;
      l.resetAt = this.#clock.now() + 24 * 60 * 60 * 1000;
      this.#log.info(`session start limit reset: ${l.remaining} starts available`);
    }
    return l;
  }

  #waitForReset(): void {
    if (this.#resetTimer) return;
    const l = this.#limit!;
    const wait = Math.max(0, l.resetAt - this.#clock.now());
    this.#log.warn(
      `session start limit nearly used up (${l.remaining} of ${l.total} left, keeping ${this.reserve}); ` +
        `identifies wait ${Math.ceil(wait / 1000)} s for the reset`,
    );
    this.#resetTimer = this.#clock.setTimeout(() => {
      this.#resetTimer = null;
      for (const bucket of this.#buckets.values()) this.#pump(bucket);
    }, wait);
  }

  enqueue(shardId: number, signal?: AbortSignal): Promise<void> {
    const key = shardId % this.maxConcurrency;
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = { lastRelease: Number.NEGATIVE_INFINITY, pending: null, waiters: [], timer: null };
      this.#buckets.set(key, bucket);
    }
    const b = bucket;
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const waiter: Waiter = {
        shardId,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = b.waiters.indexOf(waiter);
          if (i >= 0) b.waiters.splice(i, 1);
          reject(signal?.reason);
          this.#pump(b);
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      b.waiters.push(waiter);
      this.#pump(b);
    });
  }

  /** Restarts the bucket's window from now: the gateway has just handled this shard's IDENTIFY. */
  identified(shardId: number): void {
    const bucket = this.#buckets.get(shardId % this.maxConcurrency);
    if (!bucket || bucket.pending !== shardId) return;
    bucket.pending = null;
    bucket.lastRelease = Math.max(bucket.lastRelease, this.#clock.now());
    // A timer armed for the old window end re-checks and waits the difference.
  }

  #pump(bucket: Bucket): void {
    if (bucket.timer || bucket.waiters.length === 0) return;
    if (this.#exhausted()) return this.#waitForReset();
    const wait = bucket.lastRelease + this.window - this.#clock.now();
    if (wait > 0) {
      bucket.timer = this.#clock.setTimeout(() => {
        bucket.timer = null;
        this.#pump(bucket);
      }, wait);
      return;
    }
    // Lowest shard id first: shards of a bucket start in id order however their sockets raced.
    let next = 0;
    for (let i = 1; i < bucket.waiters.length; i++) {
      if (bucket.waiters[i]!.shardId < bucket.waiters[next]!.shardId) next = i;
    }
    const waiter = bucket.waiters.splice(next, 1)[0]!;
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    bucket.lastRelease = this.#clock.now();
    bucket.pending = waiter.shardId;
    if (this.#limit) this.#limit.remaining--;
    waiter.resolve();
    this.#pump(bucket);
  }
}
