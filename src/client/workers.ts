/**
 * Shards spread over worker threads, so one process uses every core.
 *
 * A shard's cost is mostly per message: inflating, scanning the envelope, parsing. One thread runs
 * out at around one core's worth of traffic; `WorkerShardManager` divides the shards between worker
 * threads (one per core by default) and keeps one front on the main thread:
 *
 * - Identify: workers ask the main thread for each IDENTIFY permit, so one queue (`LocalIdentifyQueue`
 *   or any `IdentifyQueue`) spaces the whole fleet's identifies across threads.
 * - Events: a worker filters by event type on the envelope alone and posts the wanted dispatches as
 *   text, batched per tick; the main thread parses each exactly once. Batches are acknowledged, and a
 *   worker with too many unacknowledged batches pauses its sockets: the backlog stays bounded.
 * - Commands go to the worker that runs the shard and resolve when the shard has sent them.
 * - Crashes: the main thread remembers each shard's session (from READY/RESUMED) and the sequence of
 *   the last dispatch it delivered. A worker that dies is started again with those sessions, so its
 *   shards RESUME from exactly where delivery stopped: what the main thread never saw is replayed,
 *   nothing it saw is repeated.
 */
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { integer, shardIds } from '../check.js';
import { type Clock, systemClock, type Timer } from '../clock.js';
import { consoleLogger, type Logger, type LogLevel, silentLogger } from '../logger.js';
import { shardForGuild } from '../protocol/snowflake.js';
import { botToken } from '../redact.js';
import { PayloadTooLargeError, ShardClosedError } from './errors.js';
import { closingIterator, EventQueue } from './event-queue.js';
import type { LatencyStats } from './heartbeat.js';
import { type IdentifyQueue, LocalIdentifyQueue } from './identify-queue.js';
import {
  endedSessionEvents,
  keptSequence,
  oldestOfEach,
  type SessionInfo,
  type SessionStore,
  storedSessionProblem,
  tokenOwner,
} from './session.js';
import { type Dispatch, SAVE_EVERY_MS, Shard, type ShardOptions, type ShardStatus } from './shard.js';

/** Shard options that can cross a thread boundary (no functions, clocks or stores). */
export type WorkerShardOptions = Pick<
  ShardOptions,
  | 'intents'
  | 'gatewayUrl'
  | 'compress'
  | 'largeThreshold'
  | 'presence'
  | 'properties'
  | 'maxMessageSize'
  | 'timeouts'
  | 'backoff'
  | 'sendLimit'
>;

export interface WorkerShardManagerOptions extends WorkerShardOptions {
  token: string;
  shardCount: number;
  /** The shard ids this process runs (default: all of shardCount). */
  shardIds?: readonly number[];
  /** Worker threads (default: one per core, at most one per shard). */
  workers?: number;
  maxConcurrency?: number;
  identifyQueue?: IdentifyQueue;
  /** Dispatch types the application wants, filtered in the workers (default: all). */
  events?: readonly string[] | null;
  /**
   * Sessions to resume at start, and where they are saved: on READY, RESUMED and close, and within
   * 5 s of the events delivered.
   */
  sessionStore?: SessionStore;
  /** The main thread's clock, which times those saves (the workers' shards keep the system clock). */
  clock?: Clock;
  /** Log level for the workers' shards and the manager (they log to stderr; default silent). */
  logLevel?: LogLevel;
  /** Dispatches buffered for a `for await` consumer (default 10,000). */
  bufferSize?: number;
}

/** What the main thread sends to a worker at start. */
export interface WorkerInit {
  token: string;
  shardCount: number;
  shards: { shardId: number; session: SessionInfo | null }[];
  events: readonly string[] | null;
  shardOptions: WorkerShardOptions;
  logLevel: LogLevel | undefined;
}

export type ToWorker =
  | { type: 'identify-ok'; ticket: number }
  | { type: 'ack' }
  | { type: 'send'; id: number; shardId: number; payload: { op: number; d: unknown } }
  | { type: 'rewind'; shardId: number; sequence: number }
  | { type: 'close'; resumable: boolean };

export type FromWorker =
  | { type: 'identify'; ticket: number; shardId: number }
  | { type: 'identify-cancel'; ticket: number }
  | { type: 'identified'; shardId: number }
  | { type: 'events'; shards: number[]; seqs: number[]; texts: string[] }
  | { type: 'state'; shardId: number; status: ShardStatus; attempts: number; latency: LatencyStats }
  | { type: 'session'; shardId: number; session: SessionInfo | null }
  | { type: 'fatal'; shardId: number; code: number; message: string }
  | { type: 'sent'; id: number; error: string | null; errorName?: string }
  | { type: 'closed'; sessions: SessionInfo[] };

export interface WorkerShardStatus {
  readonly shardId: number;
  readonly worker: number;
  readonly status: ShardStatus | 'starting';
  readonly reconnectAttempts: number;
  readonly latency: LatencyStats | null;
}

export interface WorkerManagerEvents {
  dispatch: [Dispatch];
  /** A worker died (not by `close()`) and was started again; its shards resume. */
  restart: [worker: number, exitCode: number, error: Error | null];
  fatal: [shardId: number, error: Error];
}

interface ShardRecord {
  worker: number;
  session: SessionInfo | null;
  /** Sequence of the last dispatch delivered to the application. */
  delivered: number;
  /** The session's READY sequence, or the one it was restored at: no resume goes before it. */
  floor: number;
  /** This shard's events put in the buffer and handed out of it. */
  pushed: number;
  taken: number;
  /** `pushed` when the current session began: buffered events before it are an earlier session's. */
  sessionFrom: number;
  /** Has delivered events since its session was last saved on the way (see #saveSoon). */
  moved: boolean;
  /**
   * The sequence of a dispatch whose text could not be parsed: nothing of this shard is delivered
   * until the gateway's replay brings it again, so what follows it is not delivered twice or early.
   */
  awaiting: number | null;
  status: ShardStatus | 'starting';
  /** Has been READY or RESUMED since start(). */
  wasActive: boolean;
  attempts: number;
  latency: LatencyStats | null;
}

interface WorkerRecord {
  thread: Worker;
  shardIds: number[];
  permits: Map<number, AbortController>;
  closing: boolean;
  startedAt: number;
  quickDeaths: number;
  exited: boolean;
}

/**
 * Starts a worker thread on `worker.js` next to this file. Running from the TypeScript sources (tests,
 * `tsx`), the thread first registers tsx's loader itself: loaders registered in the main thread do
 * not reach worker threads.
 */
function startWorker(workerData: WorkerInit): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./worker.js', import.meta.url), { workerData });
  const entry = JSON.stringify(new URL('./worker.ts', import.meta.url).href);
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${entry}); });`;
  return new Worker(boot, { eval: true, workerData });
}

export class WorkerShardManager extends EventEmitter<WorkerManagerEvents> implements AsyncIterable<Dispatch> {
  readonly shardCount: number;
  readonly identifyQueue: IdentifyQueue;
  readonly #options: WorkerShardManagerOptions;
  readonly #shards = new Map<number, ShardRecord>();
  readonly #log: Logger;
  /** start()'s read of the session store. */
  #loading: Promise<void> | null = null;
  #saveTimer: Timer | null = null;
  #saving: Promise<void> = Promise.resolve();
  readonly #workers: WorkerRecord[] = [];
  readonly #queue: EventQueue<Dispatch>;
  readonly #pendingSends = new Map<
    number,
    { worker: number; resolve: () => void; reject: (error: Error) => void }
  >();
  readonly #unacked: WorkerRecord[] = [];
  readonly #quickDeaths: number[] = [];
  #nextSend = 0;
  #iterated = false;
  #closing = false;
  #closed: Promise<SessionInfo[]> | null = null;
  #started = false;
  #startup: { resolve: () => void; reject: (error: Error) => void } | null = null;

  constructor(options: WorkerShardManagerOptions) {
    super();
    if (!Number.isInteger(options.shardCount) || options.shardCount < 1) {
      throw new RangeError(`shardCount must be a positive integer, got ${options.shardCount}`);
    }
    const ids = shardIds(
      options.shardIds ?? Array.from({ length: options.shardCount }, (_, i) => i),
      options.shardCount,
    );
    // The options are checked here the way each worker's shards will check them, so a bad one (an
    // oversized IDENTIFY, an invalid URL) throws now instead of failing every worker it starts.
    new Shard({
      ...this.#shardOptions(options),
      token: options.token,
      shardId: Math.max(0, ...ids),
      shardCount: options.shardCount,
      identifyQueue: { enqueue: () => Promise.resolve() },
    });
    this.#options = options;
    this.#log = options.logLevel ? consoleLogger(options.logLevel) : silentLogger;
    this.shardCount = options.shardCount;
    this.identifyQueue =
      options.identifyQueue ?? new LocalIdentifyQueue({ maxConcurrency: options.maxConcurrency ?? 1 });
    const workers = Math.min(integer('workers', options.workers ?? availableParallelism(), 1), ids.length);
    // Consecutive shards share a bucket group; dealing them round-robin spreads each group's
    // startup over every worker.
    ids.forEach((shardId, i) => {
      this.#shards.set(shardId, {
        worker: i % workers,
        session: null,
        delivered: 0,
        floor: 0,
        pushed: 0,
        taken: 0,
        sessionFrom: 0,
        moved: false,
        awaiting: null,
        status: 'starting',
        wasActive: false,
        attempts: 0,
        latency: null,
      });
    });
    this.#queue = new EventQueue<Dispatch>(
      options.bufferSize ?? 10_000,
      () => this.#releaseAcks(),
      (event) => this.#shards.get(event.shardId)!.taken++,
    );
    for (let w = 0; w < workers; w++) this.#workers.push(null as unknown as WorkerRecord);
  }

  /** The worker threads, for inspection (a test may terminate one to see it come back). */
  get threads(): readonly Worker[] {
    return this.#workers.map((w) => w.thread);
  }

  /** Starts the workers; resolves when every shard is READY or RESUMED. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('already started');
    this.#started = true;
    this.#loading = this.#load();
    await this.#loading;
    if (this.#closing) throw new ShardClosedError('closed before it started');
    for (let w = 0; w < this.#workers.length; w++) this.#spawn(w);
    await new Promise<void>((resolve, reject) => {
      this.#startup = { resolve, reject };
      this.#checkStartup();
    });
  }

  /** Reads each shard's stored session. */
  async #load(): Promise<void> {
    const store = this.#options.sessionStore;
    if (!store) return;
    const owner = tokenOwner(botToken(this.#options.token));
    for (const [id, record] of this.#shards) {
      let saved: unknown;
      try {
        saved = await store.get(id);
      } catch (error) {
        // As a Shard does: a store that cannot be read costs a new session, not the start.
        this.#log.warn(`could not read shard ${id}'s session from the store: ${(error as Error).message}`);
        continue;
      }
      // Something that is not a session would fail in the worker at every restart; identify instead.
      if (saved === undefined || saved === null) continue;
      const problem = storedSessionProblem(saved, this.shardCount, owner);
      if (problem) this.#log.warn(`shard ${id}'s stored session ${problem}; identifying instead`);
      else {
        record.session = saved as SessionInfo;
        record.delivered = (saved as SessionInfo).sequence;
        record.floor = record.delivered;
      }
    }
  }

  /**
   * Settles start() once every shard has been READY or RESUMED (one that has reconnected since
   * counts: waiting for all to be active at the same moment could wait forever on a flapping
   * gateway), or one has closed fatally; run on each state change.
   */
  #checkStartup(): void {
    if (!this.#startup) return;
    const records = [...this.#shards.values()];
    if (records.some((r) => r.status === 'fatally-closed')) {
      this.#startup.reject(new Error('a shard closed fatally; see the fatal event'));
    } else if (records.every((r) => r.wasActive)) {
      this.#startup.resolve();
    } else {
      return;
    }
    this.#startup = null;
  }

  #spawn(index: number): void {
    // A shard that closed fatally stays closed: a new worker would only repeat the failure.
    const shardIds = [...this.#shards]
      .filter(([, r]) => r.worker === index && r.status !== 'fatally-closed')
      .map(([id]) => id);
    const o = this.#options;
    const shardOptions = this.#shardOptions(o);
    const init: WorkerInit = {
      token: o.token,
      shardCount: this.shardCount,
      shards: shardIds.map((shardId) => ({ shardId, session: this.#remembered(shardId) })),
      events: o.events ?? null,
      shardOptions,
      logLevel: o.logLevel,
    };
    const thread = startWorker(init);
    const record: WorkerRecord = {
      thread,
      shardIds,
      permits: new Map(),
      closing: false,
      startedAt: performance.now(),
      quickDeaths: 0,
      exited: false,
    };
    this.#workers[index] = record;
    thread.on('message', (message: FromWorker) => this.#onMessage(record, message));
    let failure: Error | null = null;
    thread.on('error', (error) => {
      failure = error;
    });
    thread.on('exit', (code) => {
      record.exited = true;
      for (const permit of record.permits.values()) permit.abort();
      this.#failSends(
        index,
        new ShardClosedError(`worker ${index} exited; the payload may not have been sent`),
      );
      if (record.closing || this.#closing) return;
      const live = shardIds.filter((id) => this.#shards.get(id)!.status !== 'fatally-closed');
      if (live.length === 0) return;
      for (const id of live) this.#shards.get(id)!.status = 'starting';
      this.emit('restart', index, code, failure);
      // A worker that keeps dying young (a broken install, a crash at start) is restarted ever more
      // slowly instead of in a tight loop; one that lived a while comes back at once.
      const lived = performance.now() - record.startedAt;
      record.quickDeaths = lived < 10_000 ? (this.#quickDeaths[index] ?? 0) + 1 : 0;
      this.#quickDeaths[index] = record.quickDeaths;
      const delay = record.quickDeaths <= 1 ? 0 : Math.min(30_000, 100 * 2 ** record.quickDeaths);
      setTimeout(() => {
        if (!this.#closing) this.#spawn(index);
      }, delay).unref();
    });
  }

  /** The shard options that cross into a worker. */
  #shardOptions(o: WorkerShardManagerOptions): WorkerShardOptions {
    return {
      intents: o.intents,
      gatewayUrl: o.gatewayUrl,
      compress: o.compress,
      largeThreshold: o.largeThreshold,
      presence: o.presence,
      properties: o.properties,
      maxMessageSize: o.maxMessageSize,
      timeouts: o.timeouts,
      backoff: o.backoff,
      sendLimit: o.sendLimit,
    };
  }

  /**
   * The session a shard resumes with when its worker is gone: the last the worker reported, from
   * the last dispatch the application received (not the last the worker saw). Events still in the
   * buffer are delivered anyway, so `keep` (for a later process) also goes back before them.
   */
  #remembered(shardId: number, keep = false): SessionInfo | null {
    const record = this.#shards.get(shardId)!;
    if (!record.session || record.status === 'fatally-closed') return null;
    return keep ? this.#toKeep(record.session) : this.#atDelivered(record.session);
  }

  /**
   * `session` at the last dispatch the application received: what a resume must start from, even
   * when the worker has read further or is waiting for the replay of a dispatch it could not parse.
   */
  #atDelivered(session: SessionInfo): SessionInfo {
    return { ...session, sequence: this.#shards.get(session.shardId)!.delivered };
  }

  /**
   * `session` as a later process must resume it: before the oldest of its events still waiting in
   * the buffer, which go with this process, and never before the session's floor. Events of an
   * earlier session may still be ahead of it; then nothing of this one has been taken.
   */
  #toKeep(session: SessionInfo): SessionInfo {
    const record = this.#shards.get(session.shardId)!;
    const pending = {
      pushed: record.pushed,
      taken: record.taken,
      first: () => this.#queue.find((e) => e.shardId === session.shardId && e.s !== null)?.s ?? null,
    };
    return {
      ...session,
      sequence: keptSequence(record.delivered, record.floor, record.sessionFrom, pending),
    };
  }

  #onMessage(worker: WorkerRecord, message: FromWorker): void {
    switch (message.type) {
      case 'identify': {
        const abort = new AbortController();
        worker.permits.set(message.ticket, abort);
        this.identifyQueue.enqueue(message.shardId, abort.signal).then(
          () => {
            worker.permits.delete(message.ticket);
            if (!worker.closing)
              worker.thread.postMessage({ type: 'identify-ok', ticket: message.ticket } satisfies ToWorker);
          },
          () => worker.permits.delete(message.ticket),
        );
        return;
      }
      case 'identified':
        this.identifyQueue.identified?.(message.shardId);
        return;
      case 'identify-cancel':
        worker.permits.get(message.ticket)?.abort();
        worker.permits.delete(message.ticket);
        return;
      case 'events': {
        const buffered = this.#iterated || this.listenerCount('dispatch') === 0;
        let full = false;
        for (let i = 0; i < message.texts.length; i++) {
          const shardId = message.shards[i]!;
          const record = this.#shards.get(shardId)!;
          const seq = message.seqs[i]!;
          if (record.awaiting !== null && seq !== record.awaiting) continue;
          let event: Dispatch & { shardId: number };
          try {
            event = JSON.parse(message.texts[i]!) as Dispatch & { shardId: number };
          } catch {
            // The worker's shard only read the envelope; it resumes from just before this one.
            if (seq > 0) {
              record.awaiting = seq;
              worker.thread.postMessage({ type: 'rewind', shardId, sequence: seq - 1 } satisfies ToWorker);
            }
            continue;
          }
          record.awaiting = null;
          event.shardId = shardId;
          if (seq > record.delivered) {
            record.delivered = seq;
            record.moved = true;
          }
          try {
            this.emit('dispatch', event);
          } catch (error) {
            // As from a Shard's socket handler, the error reaches the process; the rest of the batch
            // and its ack must not go with it.
            process.nextTick(() => {
              throw error;
            });
          }
          if (buffered) {
            record.pushed++;
            if (!this.#queue.push(event)) full = true;
          }
        }
        this.#saveSoon();
        // Acknowledge now, or when the application has drained the buffer.
        if (full) this.#unacked.push(worker);
        else worker.thread.postMessage({ type: 'ack' } satisfies ToWorker);
        return;
      }
      case 'state': {
        const record = this.#shards.get(message.shardId)!;
        record.status = message.status;
        if (message.status === 'active') record.wasActive = true;
        record.attempts = message.attempts;
        record.latency = message.latency;
        this.#checkStartup();
        return;
      }
      case 'session': {
        const record = this.#shards.get(message.shardId)!;
        const fresh = message.session?.sessionId !== record.session?.sessionId;
        record.session = message.session;
        // A new session starts its numbering again; a replay awaited from the old one will not come.
        if (fresh && message.session) {
          record.delivered = message.session.sequence;
          record.floor = message.session.sequence;
          record.sessionFrom = record.pushed;
          record.awaiting = null;
        }
        // A session that ended leaves the store too, as a Shard's does: no later process resumes it.
        void this.#save([message.session ? this.#toKeep(message.session) : message.shardId]);
        return;
      }
      case 'fatal': {
        const error = new Error(message.message);
        // As with ShardManager: once no shard is left, the merged stream ends with the error.
        if ([...this.#shards.values()].every((r) => r.status === 'fatally-closed')) this.#queue.end(error);
        this.emit('fatal', message.shardId, error);
        return;
      }
      case 'sent': {
        const pending = this.#pendingSends.get(message.id);
        this.#pendingSends.delete(message.id);
        if (message.error === null) pending?.resolve();
        else pending?.reject(sendError(message.error, message.errorName));
        return;
      }
      case 'closed':
        return;
    }
  }

  /** Rejects the sends waiting on worker `index`, or on any worker. */
  #failSends(index: number | null, error: Error): void {
    for (const [id, pending] of this.#pendingSends) {
      if (index !== null && pending.worker !== index) continue;
      this.#pendingSends.delete(id);
      pending.reject(error);
    }
  }

  #releaseAcks(): void {
    for (const worker of this.#unacked.splice(0))
      worker.thread.postMessage({ type: 'ack' } satisfies ToWorker);
  }

  status(): WorkerShardStatus[] {
    return [...this.#shards]
      .sort(([a], [b]) => a - b)
      .map(([shardId, r]) => ({
        shardId,
        worker: r.worker,
        status: r.status,
        reconnectAttempts: r.attempts,
        latency: r.latency,
      }));
  }

  /** Sends a payload on shard `shardId`; resolves when that shard has sent it. */
  send(shardId: number, payload: { op: number; d: unknown }): Promise<void> {
    const record = this.#shards.get(shardId);
    if (!record) return Promise.reject(new RangeError(`shard ${shardId} is not run by this manager`));
    const worker = this.#workers[record.worker];
    if (this.#closing) return Promise.reject(new ShardClosedError(`shard ${shardId} is closed`));
    if (!worker || worker.exited) {
      return Promise.reject(new ShardClosedError(`shard ${shardId}'s worker is not running`));
    }
    const id = this.#nextSend++;
    return new Promise((resolve, reject) => {
      this.#pendingSends.set(id, { worker: record.worker, resolve, reject });
      worker.thread.postMessage({
        type: 'send',
        id,
        shardId,
        payload,
      } satisfies ToWorker);
    });
  }

  /** Sends on the shard that owns `guildId`. */
  sendToGuild(guildId: string, payload: { op: number; d: unknown }): Promise<void> {
    return this.send(shardForGuild(guildId, this.shardCount), payload);
  }

  broadcast(payload: { op: number; d: unknown }): Promise<void> {
    return Promise.all([...this.#shards.keys()].map((id) => this.send(id, payload))).then(() => {});
  }

  /**
   * Closes every shard (resumably: sessions are kept and saved) and stops the workers. A close under
   * way is not changed by a later call, which gets the same result.
   */
  close(options: { resumable?: boolean } = {}): Promise<SessionInfo[]> {
    this.#closed ??= this.#close(options).catch((error: unknown) => {
      this.#closed = null; // a failed close may be tried again
      throw error;
    });
    return this.#closed;
  }

  async #close(options: { resumable?: boolean }): Promise<SessionInfo[]> {
    this.#closing = true;
    // A resumable close delivers nothing more but the events of sessions that have ended, which no
    // resume brings again: the sessions are kept before what is still buffered.
    if (options.resumable) {
      const ended = new Map(
        [...this.#shards].map(([id, r]) => [id, endedSessionEvents(r.session ? r.sessionFrom : null, r)]),
      );
      this.#queue.stop(oldestOfEach(ended));
    }
    this.#saveTimer?.cancel();
    this.#startup?.reject(new ShardClosedError('closed before every shard was ready'));
    this.#startup = null;
    // Before start() has spawned them, there are no workers yet.
    const workers = this.#workers.filter((w): w is WorkerRecord => w !== null);
    const sessions = await Promise.all(
      workers.map(
        (worker) =>
          new Promise<SessionInfo[]>((resolve) => {
            worker.closing = true;
            // A worker that died (and was not started again yet) cannot close its shards: their
            // sessions are the ones a restart would have resumed.
            const remembered = () =>
              resolve(
                options.resumable
                  ? worker.shardIds.map((id) => this.#remembered(id, true)).filter((s) => s !== null)
                  : [],
              );
            if (worker.exited) return remembered();
            const done = (message: FromWorker) => {
              if (message.type !== 'closed') return;
              worker.thread.off('message', done);
              resolve(message.sessions.map((session) => this.#toKeep(session)));
            };
            worker.thread.on('message', done);
            worker.thread.once('exit', remembered);
            worker.thread.postMessage({
              type: 'close',
              resumable: options.resumable === true,
            } satisfies ToWorker);
          }),
      ),
    );
    await Promise.all(workers.map((w) => w.thread.terminate()));
    this.#failSends(null, new ShardClosedError('closed before sending'));
    const all = sessions.flat();
    if (options.resumable) {
      // Shards whose worker was never spawned (a close during start()'s store read) return what the
      // store held for them, once the read is over; a close that returns nothing need not wait.
      await this.#loading;
      const spawned = new Set(workers.flatMap((w) => w.shardIds));
      for (const id of this.#shards.keys()) {
        const session = spawned.has(id) ? null : this.#remembered(id, true);
        if (session) all.push(session);
      }
      await this.#save(all);
      // The sessions were kept before the events still buffered, which a resume brings again;
      // those of a shard whose session ended during its close are delivered.
      this.#queue.release((e) => this.#shards.get(e.shardId)!.session === null);
      this.#queue.clear();
    }
    this.#queue.end();
    return all;
  }

  /** Saves every session within `SAVE_EVERY_MS` of the events delivered, as a Shard does. */
  #saveSoon(): void {
    if (!this.#options.sessionStore || this.#saveTimer || this.#closing) return;
    this.#saveTimer = (this.#options.clock ?? systemClock).setTimeout(() => {
      this.#saveTimer = null;
      if (this.#closing) return;
      // Only the shards that delivered something since the last round.
      const moved = [...this.#shards].filter(([, record]) => record.moved);
      for (const [, record] of moved) record.moved = false;
      void this.#save(moved.map(([id]) => this.#remembered(id, true)).filter((s) => s !== null));
    }, SAVE_EVERY_MS);
  }

  /** Writes sessions to the store; a store that fails is logged, as a Shard does, not thrown. */
  /** Writes `sessions`; a bare shard ID deletes that shard's session. */
  #save(sessions: readonly (SessionInfo | number)[]): Promise<void> {
    const store = this.#options.sessionStore;
    if (!store) return Promise.resolve();
    // After any write still under way, as a Shard does: an older save must not land last.
    this.#saving = this.#saving.then(async () => {
      for (const session of sessions) {
        try {
          if (typeof session === 'number') await store.set(session, null);
          else await store.set(session.shardId, session);
        } catch (error) {
          this.#log.warn(`could not write the session store: ${(error as Error).message}`);
        }
      }
    });
    return this.#saving;
  }

  /** Merged dispatches of every shard. Leaving the loop early closes the manager, as with ShardManager. */
  [Symbol.asyncIterator](): AsyncIterator<Dispatch> {
    this.#iterated = true;
    return closingIterator(
      () => this.#queue.next(),
      () => this.close(),
    );
  }
}

/** The error a worker's shard rejected a send with, as the class a Shard would have used. */
function sendError(message: string, name: string | undefined): Error {
  if (name === 'ShardClosedError') return new ShardClosedError(message);
  if (name === 'PayloadTooLargeError') return new PayloadTooLargeError(message);
  if (name === 'TypeError') return new TypeError(message);
  return new Error(message);
}
