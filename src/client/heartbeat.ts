/**
 * Heartbeating and zombie detection for one connection, plus the latency it measures.
 *
 * After Hello the first beat goes out at `interval × random()` (so shards that connected together
 * spread their beats), then every `interval`. Before each interval beat the connection must have
 * proven it is alive: *anything* received since the previous beat counts, not only the ACK, since a
 * server busy streaming dispatches is plainly alive even if an ACK is late. If nothing arrived, the
 * connection is a zombie: the shard closes it with a resumable code and resumes elsewhere.
 *
 * A heartbeat the server asks for (op 1) is sent at once and does not disturb the schedule or the
 * zombie check. While the application is not reading (backpressure has paused the socket), silence
 * is expected and is not taken for a zombie.
 */
import type { Clock, Timer } from '../clock.js';

export interface LatencyStats {
  /** Mean round trip of the recent ACKed heartbeats, in ms (NaN before the first ACK). */
  readonly average: number;
  /** Round trips of the most recent heartbeats, oldest first. */
  readonly recent: readonly number[];
  /** Clock time the last heartbeat was sent, or null. */
  readonly lastSent: number | null;
  /** Clock time the last ACK arrived, or null. */
  readonly lastAck: number | null;
}

const RECENT = 10;

export class Latency {
  #recent: number[] = [];
  lastSent: number | null = null;
  lastAck: number | null = null;
  #pendingSince: number | null = null;

  sent(now: number): void {
    this.lastSent = now;
    this.#pendingSince ??= now;
  }

  acked(now: number): void {
    this.lastAck = now;
    if (this.#pendingSince === null) return;
    this.#recent.push(now - this.#pendingSince);
    if (this.#recent.length > RECENT) this.#recent.shift();
    this.#pendingSince = null;
  }

  /** A new connection: an unanswered beat of the old one will never be ACKed. */
  reset(): void {
    this.#pendingSince = null;
  }

  get stats(): LatencyStats {
    const recent = [...this.#recent];
    const average = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : Number.NaN;
    return { average, recent, lastSent: this.lastSent, lastAck: this.lastAck };
  }
}

export interface HeartbeatHooks {
  /** Send op 1 now (priority send). */
  beat(): void;
  /** Nothing was received during a whole interval. */
  zombie(): void;
  /** True while the socket is paused for backpressure. */
  readonly paused: boolean;
}

export class Heartbeater {
  readonly #clock: Clock;
  readonly #interval: number;
  readonly #hooks: HeartbeatHooks;
  #timer: Timer | null = null;
  #heardSinceBeat = true;
  #stopped = false;

  constructor(clock: Clock, interval: number, hooks: HeartbeatHooks) {
    this.#clock = clock;
    this.#interval = interval;
    this.#hooks = hooks;
  }

  get interval(): number {
    return this.#interval;
  }

  start(): void {
    this.#schedule(Math.floor(this.#interval * this.#clock.random()));
  }

  /** Anything at all arrived from the server. */
  heard(): void {
    this.#heardSinceBeat = true;
  }

  /** The server asked for a beat (op 1). */
  requested(): void {
    if (!this.#stopped) this.#hooks.beat();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = null;
  }

  #schedule(ms: number): void {
    this.#timer = this.#clock.setTimeout(() => this.#tick(), ms);
  }

  #tick(): void {
    if (this.#stopped) return;
    if (!this.#heardSinceBeat && !this.#hooks.paused) {
      this.stop();
      this.#hooks.zombie();
      return;
    }
    this.#heardSinceBeat = false;
    this.#hooks.beat();
    this.#schedule(this.#interval);
  }
}
