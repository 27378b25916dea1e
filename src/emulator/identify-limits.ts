/**
 * The two limits Discord puts on starting sessions, as the server enforces them.
 *
 * Concurrency: shard `id` belongs to bucket `id % max_concurrency`, and each bucket accepts one
 * IDENTIFY per identify window (5 s on Discord; shorter in tests). Buckets are independent, so
 * `max_concurrency` shards can start together. A violation is answered with op 9, not a close.
 *
 * Daily starts: `total` IDENTIFYs per reset period (1000 per 24 h by default). `remaining` counts
 * down per accepted IDENTIFY and refills when the period ends; RESUMEs are free. Spending a start
 * when none remain is what makes Discord reset the bot's token, and the emulator does the same.
 */
import type { Clock } from '../clock.js';

export interface SessionStartLimitOptions {
  total?: number;
  /** Starts left at launch (default `total`). */
  remaining?: number;
  /** Length of the reset period in ms (default 24 h). */
  resetAfter?: number;
}

export type IdentifyVerdict = 'ok' | 'bucket-busy' | 'exhausted';

export class IdentifyLimits {
  readonly #lastIdentify = new Map<number, number>();
  readonly #total: number;
  readonly #period: number;
  #remaining: number;
  #resetAt: number;

  constructor(
    private readonly clock: Clock,
    readonly maxConcurrency: number,
    readonly identifyInterval: number,
    limit: SessionStartLimitOptions = {},
  ) {
    this.#total = limit.total ?? 1000;
    this.#period = limit.resetAfter ?? 24 * 60 * 60 * 1000;
    this.#remaining = limit.remaining ?? this.#total;
    this.#resetAt = clock.now() + this.#period;
  }

  #refill(): void {
    const now = this.clock.now();
    if (now < this.#resetAt) return;
    this.#remaining = this.#total;
    this.#resetAt = now + this.#period;
  }

  /** Checks and, when it passes, spends an identify for `shardId`. */
  take(shardId: number): IdentifyVerdict {
    this.#refill();
    const now = this.clock.now();
    const bucket = shardId % this.maxConcurrency;
    const last = this.#lastIdentify.get(bucket);
    if (last !== undefined && now - last < this.identifyInterval) return 'bucket-busy';
    if (this.#remaining <= 0) return 'exhausted';
    this.#remaining--;
    this.#lastIdentify.set(bucket, now);
    return 'ok';
  }

  /** The `session_start_limit` object of `GET /gateway/bot`. */
  sessionStartLimit(): { total: number; remaining: number; reset_after: number; max_concurrency: number } {
    this.#refill();
    return {
      total: this.#total,
      remaining: this.#remaining,
      reset_after: Math.max(0, Math.round(this.#resetAt - this.clock.now())),
      max_concurrency: this.maxConcurrency,
    };
  }
}
