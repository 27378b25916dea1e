/**
 * Time, made injectable.
 *
 * Heartbeat jitter, backoff, rate-limit windows and timeouts are the parts of a gateway client most
 * likely to be wrong and slowest to test with real sleeps. Every component that waits takes a
 * `Clock`; production uses the system clock, tests use `ManualClock` and move time by hand, so a
 * five-minute backoff schedule is checked in microseconds and exactly.
 */

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic for the life of the process. */
  now(): number;
  /**
   * Runs `fn` once after `ms`; the returned timer cancels it. It does not keep the process alive
   * unless `keepAlive` is set: most waits happen beside an open socket, which does.
   */
  setTimeout(fn: () => void, ms: number, options?: { keepAlive?: boolean }): Timer;
  /** A uniform random number in [0, 1): jitter goes through the clock so tests can pin it. */
  random(): number;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms, options) {
    return new SystemTimer(fn, ms, options?.keepAlive ?? false);
  },
  random: Math.random,
};

const MAX_DELAY_MS = 2 ** 31 - 1;

/** A class rather than a `{ cancel }` closure: an idle shard holds a few timers for hours. */
class SystemTimer implements Timer {
  readonly #handle: NodeJS.Timeout;

  constructor(fn: () => void, ms: number, keepAlive: boolean) {
    // Node fires a delay beyond 2^31 − 1 ms after 1 ms instead; a server-given interval can be one.
    this.#handle = setTimeout(fn, Math.min(Math.max(0, ms), MAX_DELAY_MS));
    if (!keepAlive) this.#handle.unref?.();
  }

  cancel(): void {
    clearTimeout(this.#handle);
  }
}

/**
 * Resolves after `ms` on `clock`, or rejects when `signal` aborts first. The wait keeps the process
 * alive: someone is awaiting it, and an exit in the middle would drop their work without a word.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = clock.setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      ms,
      { keepAlive: true },
    );
    function onAbort() {
      timer.cancel();
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface Scheduled {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to. Timers fire in deadline order (ties in creation order)
 * during `advance`, each seeing `now()` equal to its own deadline. `random()` returns the values
 * queued with `setRandom`, then 0.5.
 */
export class ManualClock implements Clock {
  #now: number;
  #order = 0;
  #timers: Scheduled[] = [];
  #random: number[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const entry: Scheduled = { at: this.#now + Math.max(0, ms), order: this.#order++, fn, cancelled: false };
    this.#timers.push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  random(): number {
    return this.#random.shift() ?? 0.5;
  }

  /** Values `random()` returns next, in order. */
  setRandom(...values: number[]): void {
    this.#random.push(...values);
  }

  /** Number of timers still pending. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, including ones set meanwhile. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      let next: Scheduled | undefined;
      for (const t of this.#timers) {
        if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.order < next.order)))
          next = t;
      }
      if (!next) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = next.at;
      next.fn();
    }
    this.#now = target;
  }

  /** Advances in steps, letting promise callbacks run between timers (for async code under test). */
  async advanceAsync(ms: number, step = ms): Promise<void> {
    const target = this.#now + ms;
    while (this.#now < target) {
      this.advance(Math.min(step, target - this.#now));
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
  }
}
