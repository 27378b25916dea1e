/**
 * How far startup has got: which shards are waiting for an IDENTIFY slot, and when the next one frees.
 *
 * `LocalIdentifyQueue` keeps its buckets private, and the CLI should not guess from timings it does
 * not own. So the CLI wraps the queue it gives its shards: every `enqueue` is counted as waiting in
 * its bucket (`shard_id % max_concurrency`) until the queue releases it, and the release time is
 * noted. A bucket releases its next waiter one window after its last release, which is exactly the
 * rule the queue applies; when the queue is instead holding everything for the daily session start
 * limit, the progress says that, with the queue's own reset time.
 */
import type { IdentifyQueue, LocalIdentifyQueue } from '../index.js';

export interface IdentifyProgress {
  readonly waiting: number;
  /** ms until the next waiting shard may identify (0: now), or null when nobody waits. */
  readonly nextBucketIn: number | null;
  /** ms until the daily limit resets, when the queue is holding waiters for it. */
  readonly startLimitResetIn: number | null;
}

export class TrackedIdentifyQueue implements IdentifyQueue {
  readonly #queue: LocalIdentifyQueue;
  readonly #now: () => number;
  readonly #waiting = new Map<number, number>();
  readonly #lastRelease = new Map<number, number>();

  constructor(queue: LocalIdentifyQueue, now: () => number = Date.now) {
    this.#queue = queue;
    this.#now = now;
  }

  async enqueue(shardId: number, signal?: AbortSignal): Promise<void> {
    const bucket = shardId % this.#queue.maxConcurrency;
    this.#waiting.set(bucket, (this.#waiting.get(bucket) ?? 0) + 1);
    try {
      await this.#queue.enqueue(shardId, signal);
      this.#lastRelease.set(bucket, this.#now());
    } finally {
      this.#waiting.set(bucket, this.#waiting.get(bucket)! - 1);
    }
  }

  identified(shardId: number): void {
    this.#queue.identified(shardId);
    // The queue restarts the bucket's window from the gateway's answer; so does the estimate.
    this.#lastRelease.set(shardId % this.#queue.maxConcurrency, this.#now());
  }

  get progress(): IdentifyProgress {
    let waiting = 0;
    let next: number | null = null;
    const now = this.#now();
    for (const [bucket, count] of this.#waiting) {
      if (count === 0) continue;
      waiting += count;
      const last = this.#lastRelease.get(bucket);
      const wait = last === undefined ? 0 : Math.max(0, last + this.#queue.window - now);
      next = next === null ? wait : Math.min(next, wait);
    }
    const limit = this.#queue.sessionStartLimit;
    const held = waiting > 0 && limit?.exhausted ? limit.resetIn : null;
    return { waiting, nextBucketIn: next, startLimitResetIn: held };
  }
}
