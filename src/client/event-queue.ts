/**
 * The buffer between the socket and an application that reads events with `for await`.
 *
 * Events are pushed as they arrive and pulled when the application is ready. The buffer is bounded:
 * at the high-water mark the shard pauses reading from the socket, so the backlog stays in the
 * kernel and on Discord's side (the server disconnects a reader that falls far behind, and the
 * shard then resumes from its last sequence: nothing is lost). Reading resumes once the application
 * has drained the buffer to the low-water mark. The queue never drops an event.
 */

export class EventQueue<T> {
  readonly highWaterMark: number;
  readonly lowWaterMark: number;
  /** Delivered slots are cleared at once, so a quiet queue holds no event it already handed out. */
  #items: (T | undefined)[] = [];
  #head = 0;
  /** Readers waiting on an empty buffer, in call order (next() may be called again before it settles). */
  #waiting: Array<{ resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void }> = [];
  #ended = false;
  /**
   * Set by stop(): the events that will not be delivered, those pending then and those pushed
   * since, kept until clear() so `find` sees every event the application never got.
   */
  #withheld: T[] | null = null;
  #error: unknown = undefined;
  /** Events pushed and delivered so far: owners compare them to tell which pending events are old. */
  pushed = 0;
  taken = 0;
  #onDrain: () => void;

  /** Throws unless `highWaterMark` is a valid size, for owners that create their queue later. */
  static check(highWaterMark: number): void {
    if (!Number.isInteger(highWaterMark) || highWaterMark < 1) {
      throw new RangeError(`the event buffer size must be a positive integer, got ${highWaterMark}`);
    }
  }

  /** `onTaken` sees each event as it is delivered (a manager counts them per shard). */
  constructor(
    highWaterMark: number,
    onDrain: () => void,
    readonly onTaken: ((item: T) => void) | null = null,
  ) {
    EventQueue.check(highWaterMark);
    this.highWaterMark = highWaterMark;
    this.lowWaterMark = Math.floor(highWaterMark / 2);
    this.#onDrain = onDrain;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  get full(): boolean {
    return this.size >= this.highWaterMark;
  }

  /** The oldest event not yet delivered that matches, if any, withheld ones included. */
  find(match: (item: T) => boolean): T | undefined {
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i] as T;
      if (match(item)) return item;
    }
    return this.#withheld?.find(match);
  }

  /**
   * Delivers only the pending events `deliver` picks (called once for each, oldest first); the
   * others, and any pushed from now on, are withheld for `find` until `release()` hands some of them
   * out after all or `clear()` drops them. Iteration goes on until `end()`.
   *
   * A resumable close stops its buffer first, so what it keeps and what the application took
   * cannot overlap. Events that still arrive during the close (a listener that closed in the middle
   * of a batch, a worker's batch in flight, the rest of a connection read to its end) are withheld
   * too, or the session would be kept after events nobody received. What a resume cannot bring
   * again, events of a session that has ended, is still delivered, and so is what `release()` picks
   * once the close has learnt of a session that ended during it.
   */
  stop(deliver: (item: T) => boolean = () => false): void {
    if (this.#withheld) return;
    const kept: T[] = [];
    this.#withheld = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i] as T;
      (deliver(item) ? kept : this.#withheld).push(item);
    }
    this.#items = kept;
    this.#head = 0;
  }

  /** Delivers the withheld events `pick` chooses, in order, after what is already deliverable. */
  release(pick: (item: T) => boolean): void {
    const withheld = this.#withheld;
    if (!withheld || this.#ended) return;
    this.#withheld = [];
    for (const item of withheld) {
      if (!pick(item)) {
        this.#withheld.push(item);
        continue;
      }
      const reader = this.#waiting.shift();
      if (!reader) {
        this.#items.push(item);
        continue;
      }
      this.taken++;
      this.onTaken?.(item);
      reader.resolve({ value: item, done: false });
    }
  }

  /** Drops the withheld events (a resume brings them again); the stopped queue takes nothing more. */
  clear(): void {
    this.#withheld = null;
  }

  /** Adds an event; returns false when the buffer has reached its high-water mark. */
  push(item: T): boolean {
    if (this.#withheld) {
      this.pushed++;
      this.#withheld.push(item);
      return true;
    }
    if (this.#ended) return true;
    this.pushed++;
    const reader = this.#waiting.shift();
    if (reader) {
      this.taken++;
      this.onTaken?.(item);
      reader.resolve({ value: item, done: false });
      return true;
    }
    this.#items.push(item);
    return this.size < this.highWaterMark;
  }

  /** No more events: pending ones are still delivered, then iteration ends (or throws `error`). */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    if (this.size === 0) this.#settleEnd();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.size > 0) {
      this.taken++;
      const wasFull = this.full;
      const value = this.#items[this.#head] as T;
      this.#items[this.#head++] = undefined;
      this.onTaken?.(value);
      if (this.#head === this.#items.length) {
        this.#items.length = 0;
        this.#head = 0;
      } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      if (wasFull || this.size === this.lowWaterMark) this.#maybeDrain();
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) {
      return this.#error === undefined
        ? Promise.resolve({ value: undefined, done: true })
        : Promise.reject(this.#error);
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#maybeDrain();
    });
  }

  #maybeDrain(): void {
    if (this.size <= this.lowWaterMark) this.#onDrain();
  }

  #settleEnd(): void {
    const readers = this.#waiting;
    this.#waiting = [];
    for (const { resolve, reject } of readers) {
      if (this.#error === undefined) resolve({ value: undefined, done: true });
      else reject(this.#error);
    }
  }
}

/**
 * The iterator a `for await` loop gets from a shard or a manager: `next` reads its queue, and
 * leaving the loop early (`break`, `return`, a throw) calls `close`, as it destroys a Node stream;
 * a loop nobody reads any more would otherwise hold its sockets paused behind a full buffer.
 */
export function closingIterator<T>(
  next: () => Promise<IteratorResult<T>>,
  close: () => Promise<unknown>,
): AsyncIterator<T> {
  return {
    next,
    return: async () => {
      await close();
      return { value: undefined, done: true };
    },
  };
}
