/**
 * A gateway session as the server keeps it: the sequence counter, the replay buffer and the log.
 *
 * A session outlives its connections. Every dispatch routed to it takes the next sequence number
 * whether or not a socket is attached; while detached (a drop, a non-1000 close, a stall) the
 * dispatches wait in the replay buffer until a RESUME asks for everything after the client's seq,
 * or until the resume window passes and the session expires. The log records the event type of
 * every sequence number ever assigned, so a test can prove a client saw each one exactly once.
 *
 * Dispatches are stored pre-serialized (`DispatchParts`), shared between sessions and the replay
 * buffer, so keeping thousands of them costs references, not copies.
 */
import type { DispatchParts } from './compress.js';
import type { SessionView } from './world-types.js';

export interface LogEntry {
  readonly seq: number;
  readonly t: string;
}

/** Where dispatches go while a connection is attached. */
export interface SessionSink {
  sendDispatch(parts: DispatchParts, seq: number): void;
}

export type SessionEnd = 'client-close' | 'invalidated' | 'expired' | 'timed-out' | 'token-reset';

export function dispatchParts(t: string, d: unknown): DispatchParts {
  return { prefix: `{"t":${JSON.stringify(t)},"s":`, suffix: `,"op":0,"d":${JSON.stringify(d ?? null)}}` };
}

export class GatewaySession implements SessionView {
  readonly intents: number;
  readonly largeThreshold: number;
  /** The shard tuple from IDENTIFY (`[0, 1]` when it sent none). */
  readonly shard: readonly [number, number];
  /** Whether IDENTIFY carried `shard` (READY echoes it only then). */
  readonly shardGiven: boolean;
  readonly createdAt: number;
  #seq = 0;
  readonly #types: string[] = [];
  #replay: DispatchParts[] = [];
  #replayFirst = 1;
  readonly #replayLimit: number;
  #sink: SessionSink | null = null;
  #ended: SessionEnd | null = null;
  /** When a detached session stops being resumable. */
  expiresAt: number | null = null;

  constructor(
    readonly sessionId: string,
    init: { intents: number; largeThreshold: number; shard: readonly [number, number] | null; now: number },
    replayLimit: number,
  ) {
    this.intents = init.intents;
    this.largeThreshold = init.largeThreshold;
    this.shard = init.shard ?? [0, 1];
    this.shardGiven = init.shard !== null;
    this.createdAt = init.now;
    this.#replayLimit = replayLimit;
  }

  get shardId(): number {
    return this.shard[0];
  }

  get shardCount(): number {
    return this.shard[1];
  }

  /** The last sequence number assigned. */
  get seq(): number {
    return this.#seq;
  }

  get connected(): boolean {
    return this.#sink !== null;
  }

  /** Why the session can no longer be resumed, or null while it can. */
  get ended(): SessionEnd | null {
    return this.#ended;
  }

  /**
   * Assigns the next sequence number, buffers the dispatch and sends it if a socket is attached.
   * An ended session receives nothing (returns 0): no client can ever collect it.
   */
  push(t: string, parts: DispatchParts): number {
    if (this.#ended) return 0;
    const seq = ++this.#seq;
    this.#types.push(t);
    this.#replay.push(parts);
    if (this.#replay.length > this.#replayLimit * 2) {
      // Trim in batches so the buffer costs amortised O(1) per dispatch.
      const drop = this.#replay.length - this.#replayLimit;
      this.#replay = this.#replay.slice(drop);
      this.#replayFirst += drop;
    }
    this.#sink?.sendDispatch(parts, seq);
    return seq;
  }

  /**
   * The buffered dispatches after `seq`, in order, or null when `seq` is ahead of the session or
   * older than the buffer reaches back (the server answers 4007).
   */
  replayAfter(seq: number): { seq: number; parts: DispatchParts }[] | null {
    if (seq > this.#seq || seq < this.#replayFirst - 1) return null;
    const out: { seq: number; parts: DispatchParts }[] = [];
    for (let s = seq + 1; s <= this.#seq; s++)
      out.push({ seq: s, parts: this.#replay[s - this.#replayFirst]! });
    return out;
  }

  attach(sink: SessionSink): void {
    this.#sink = sink;
    this.expiresAt = null;
  }

  /** Detaches `sink` (if it is still the attached one) and starts the resume window. */
  detach(sink: SessionSink, expiresAt: number): void {
    if (this.#sink !== sink) return;
    this.#sink = null;
    this.expiresAt = expiresAt;
  }

  end(reason: SessionEnd): void {
    this.#ended ??= reason;
    this.#sink = null;
    this.expiresAt = null;
    // Never resumed again: only the log is kept.
    this.#replay = [];
    this.#replayFirst = this.#seq + 1;
  }

  /** Every dispatch this session was given: its sequence number and event type. */
  log(): LogEntry[] {
    return this.#types.map((t, i) => ({ seq: i + 1, t }));
  }
}
