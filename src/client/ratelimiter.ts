/**
 * The send budget of one connection: at most 120 payloads in any 60 seconds.
 *
 * Discord closes a connection with 4008 on the 121st payload and does not document whether its
 * window is fixed or sliding, so the only safe model is a sliding window: remember when each of the
 * last 120 sends happened; a new send is allowed when fewer than 120 fall within the last 60 s.
 *
 * Heartbeats count against the same budget and must never wait behind commands (a late heartbeat
 * is a zombie connection), so part of the window is reserved for them: the heartbeats one window can
 * hold at the negotiated interval, plus the server's op 1 requests and one IDENTIFY or RESUME.
 * Commands may use only the rest. Priority sends (heartbeat, identify, resume) may use everything.
 */
import type { Clock } from '../clock.js';
import { SEND_LIMIT, SEND_WINDOW_MS } from '../protocol/opcodes.js';

export interface RateLimiterState {
  /** Commands that could be sent right now. */
  readonly available: number;
  /** Milliseconds until the next command slot frees up (0 when one is available now). */
  readonly nextReleaseIn: number;
  /** Slots held back for heartbeats, identify and resume. */
  readonly reserved: number;
  readonly limit: number;
  readonly windowMs: number;
}

/** How many slots to hold back for priority sends at a given heartbeat interval. */
export function reservedSlots(heartbeatIntervalMs: number, windowMs = SEND_WINDOW_MS): number {
  // Interval beats per window, the jittered first beat, two server-requested beats, one identify/resume.
  return Math.ceil(windowMs / heartbeatIntervalMs) + 1 + 2 + 1;
}

export class RateLimiter {
  readonly #clock: Clock;
  readonly #limit: number;
  readonly #windowMs: number;
  #reserved: number;
  /** Send times, oldest first; never longer than the limit. */
  #sent: number[] = [];

  constructor(clock: Clock, options: { limit?: number; windowMs?: number; reserved?: number } = {}) {
    this.#clock = clock;
    this.#limit = options.limit ?? SEND_LIMIT;
    this.#windowMs = options.windowMs ?? SEND_WINDOW_MS;
    this.#reserved = Math.min(options.reserved ?? 5, this.#limit - 1);
  }

  /** Called once Hello tells the heartbeat interval. */
  setReserved(reserved: number): void {
    this.#reserved = Math.min(reserved, this.#limit - 1);
  }

  #prune(now: number): void {
    let drop = 0;
    while (drop < this.#sent.length && this.#sent[drop]! <= now - this.#windowMs) drop++;
    if (drop > 0) this.#sent.splice(0, drop);
  }

  /** Milliseconds until a send of this priority is allowed; 0 means now. */
  delay(priority: boolean): number {
    const now = this.#clock.now();
    this.#prune(now);
    const cap = priority ? this.#limit : this.#limit - this.#reserved;
    if (this.#sent.length < cap) return 0;
    // The (length - cap + 1)th oldest send must leave the window first.
    const freeing = this.#sent[this.#sent.length - cap]!;
    return freeing + this.#windowMs - now;
  }

  /** Records a send. Callers check `delay` first; recording past the limit is a bug and throws. */
  record(priority: boolean): void {
    if (this.delay(priority) > 0) {
      throw new Error('send recorded past the rate limit');
    }
    this.#sent.push(this.#clock.now());
  }

  get state(): RateLimiterState {
    const now = this.#clock.now();
    this.#prune(now);
    return {
      available: Math.max(0, this.#limit - this.#reserved - this.#sent.length),
      nextReleaseIn: this.delay(false),
      reserved: this.#reserved,
      limit: this.#limit,
      windowMs: this.#windowMs,
    };
  }
}
