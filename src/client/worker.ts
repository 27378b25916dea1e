/**
 * The worker-thread half of `WorkerShardManager`: runs a group of shards and talks to the main
 * thread in messages (see `workers.ts` for the protocol and the reasons).
 *
 * Shards here never parse events for the application: each one runs with the application's event
 * filter and hands the wanted dispatches over as text (`takeText`), read from their envelope alone;
 * only READY and RESUMED are parsed (the shard needs them), and unwanted payloads are dropped from
 * their first bytes, never decoded. The texts are posted to the main thread, batched per tick; the
 * main thread parses each once.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { consoleLogger, silentLogger } from '../logger.js';
import type { IdentifyQueue } from './identify-queue.js';
import { rewindTo, Shard, takeText } from './shard.js';
import type { FromWorker, ToWorker, WorkerInit } from './workers.js';

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (message: FromWorker) => port.postMessage(message);

/** Identify permits come from the main thread's queue, shared by every worker. */
let nextTicket = 0;
const permits = new Map<number, () => void>();
const identifyQueue: IdentifyQueue = {
  enqueue(shardId, signal) {
    const ticket = nextTicket++;
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        permits.delete(ticket);
        post({ type: 'identify-cancel', ticket });
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      permits.set(ticket, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      post({ type: 'identify', ticket, shardId });
    });
  },
  identified(shardId) {
    post({ type: 'identified', shardId });
  },
};

// Events go out in one message per tick; too many unacknowledged batches pause the sockets, so a
// slow main thread holds the backlog in the kernel and on the gateway, not in this thread's memory.
const MAX_IN_FLIGHT = 32;
let batch: FromWorker & { type: 'events' } = { type: 'events', shards: [], seqs: [], texts: [] };
let scheduled = false;
let inFlight = 0;
let paused = false;

function flush(): void {
  scheduled = false;
  if (batch.texts.length === 0) return;
  post(batch);
  batch = { type: 'events', shards: [], seqs: [], texts: [] };
  if (++inFlight >= MAX_IN_FLIGHT && !paused) {
    paused = true;
    for (const shard of shards.values()) shard.pause();
  }
}

const logger = init.logLevel ? consoleLogger(init.logLevel) : silentLogger;
const shards = new Map<number, Shard>();
for (const { shardId, session } of init.shards) {
  const shard = new Shard({
    ...init.shardOptions,
    token: init.token,
    shardId,
    shardCount: init.shardCount,
    events: init.events,
    identifyQueue,
    session,
    logger,
  });
  shard[takeText]((text, s) => {
    batch.shards.push(shardId);
    batch.seqs.push(s ?? 0);
    batch.texts.push(text);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
  let reported = session !== null;
  const reportSession = () => {
    reported = shard.session !== null;
    post({ type: 'session', shardId, session: shard.session });
  };
  shard.on('state', (state) => {
    post({
      type: 'state',
      shardId,
      status: state.status,
      attempts: state.reconnectAttempts,
      latency: shard.latency,
    });
    // A session that ended (op 9, 4009) is reported too: no resume brings its buffered events again.
    if (reported && shard.session === null) reportSession();
  });
  shard.on('ready', reportSession);
  shard.on('resumed', reportSession);
  shard.on('fatal', (error) => post({ type: 'fatal', shardId, code: error.code, message: error.message }));
  shards.set(shardId, shard);
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'identify-ok':
      permits.get(message.ticket)?.();
      permits.delete(message.ticket);
      return;
    case 'ack':
      inFlight--;
      if (paused && inFlight < MAX_IN_FLIGHT / 2) {
        paused = false;
        for (const shard of shards.values()) shard.resume();
      }
      return;
    case 'send': {
      const shard = shards.get(message.shardId);
      if (!shard)
        return post({ type: 'sent', id: message.id, error: `shard ${message.shardId} is not here` });
      shard.send(message.payload).then(
        () => post({ type: 'sent', id: message.id, error: null }),
        (error: Error) => post({ type: 'sent', id: message.id, error: error.message, errorName: error.name }),
      );
      return;
    }
    case 'rewind':
      shards.get(message.shardId)?.[rewindTo](message.sequence);
      return;
    case 'close':
      flush();
      void Promise.all([...shards.values()].map((s) => s.close({ resumable: message.resumable }))).then(
        (sessions) => {
          // Events read while the shards closed go before the answer.
          flush();
          post({ type: 'closed', sessions: sessions.filter((s) => s !== null) });
        },
      );
      return;
  }
});

for (const shard of shards.values()) {
  shard.connect().catch(() => {
    // Fatal closes are reported through the 'fatal' event.
  });
}
