/**
 * Shards on worker threads against the emulator: one identify queue across threads, events filtered
 * in the workers and parsed once on the main thread, commands routed to the right worker, and a
 * killed worker that comes back and resumes with no lost or repeated event.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PresenceUpdateStatus } from 'discord-api-types/v10';
import { SAVE_EVERY_MS } from '../../src/client/shard.js';
import type { Emulator } from '../../src/emulator/index.js';
import {
  type Dispatch,
  LocalIdentifyQueue,
  ManualClock,
  MemorySessionStore,
  PayloadTooLargeError,
  ShardClosedError,
  shardForGuild,
  WorkerShardManager,
} from '../../src/index.js';
import { readToEnd, startEmulator, TOKEN, until } from '../shard/harness.js';

/** 4 shards on 2 workers against `emu`, with a queue of `maxConcurrency` buckets and a `window` ms. */
function workersOptions(emu: Emulator, maxConcurrency = 4, window = 0, events?: string[]) {
  return {
    token: TOKEN,
    intents: 'ALL' as const,
    gatewayUrl: emu.gatewayUrl,
    shardCount: 4,
    workers: 2,
    identifyQueue: new LocalIdentifyQueue({ maxConcurrency, window }),
    ...(events ? { events } : {}),
  };
}

function workersFor(
  emu: Emulator,
  maxConcurrency: number,
  window: number,
  events?: string[],
): WorkerShardManager {
  return new WorkerShardManager(workersOptions(emu, maxConcurrency, window, events));
}

/** 4 started shards on 2 workers, every dispatch collected, each session with a burst of `burst` events behind it. */
async function runningWorkers(burst: number) {
  const emu = await startEmulator({ guilds: 6, maxConcurrency: 4, identifyInterval: 0 });
  const manager = workersFor(emu, 4, 0);
  const events: Dispatch[] = [];
  manager.on('dispatch', (e) => events.push(e));
  const restarts: number[] = [];
  manager.on('restart', (worker) => restarts.push(worker));
  await manager.start();
  const sessions = emu.sessions();
  if (burst > 0) for (const s of sessions) await emu.burst(s.id, burst);
  const total = () => sessions.reduce((n, s) => n + emu.session(s.id)!.log().length, 0);
  return { emu, manager, events, restarts, sessions, total };
}

/** Every shard got exactly what its session logged, in order: nothing lost, repeated or early. */
function assertDeliveredInOrder(emu: Emulator, events: Dispatch[]): void {
  for (const s of emu.sessions()) {
    const got = events.filter((e) => e.shardId === s.shard[0]).map((e) => `${e.s}:${e.t}`);
    const sent = emu
      .session(s.id)!
      .log()
      .map((e) => `${e.seq}:${e.t}`);
    assert.deepEqual(got, sent, `shard ${s.shard[0]}`);
  }
}

/**
 * 4 started shards on 2 workers with a store, each session with a burst of `burst` events behind
 * it, all of them in the buffer of a `for await` loop that has not read yet.
 */
async function bufferedWorkers(burst: number) {
  const emu = await startEmulator({ guilds: 6, maxConcurrency: 4, identifyInterval: 0 });
  const store = new MemorySessionStore();
  const manager = new WorkerShardManager({ ...workersOptions(emu), sessionStore: store });
  let arrived = 0;
  manager.on('dispatch', () => arrived++);
  const iterator = manager[Symbol.asyncIterator]();
  await manager.start();
  const sessions = emu.sessions();
  for (const s of sessions) await emu.burst(s.id, burst);
  const total = () => sessions.reduce((n, s) => n + emu.session(s.id)!.log().length, 0);
  await until(() => arrived === total(), 'every burst in the buffer');
  return { emu, store, manager, iterator, total };
}

/** A second manager resumes the stored sessions; with `events` before it, every session is exactly once. */
async function resumeInAnotherManager(
  emu: Emulator,
  store: MemorySessionStore,
  events: Dispatch[],
  total: () => number,
): Promise<void> {
  const again = new WorkerShardManager({ ...workersOptions(emu), sessionStore: store });
  again.on('dispatch', (e) => events.push(e));
  await again.start();
  await until(() => events.length >= total(), 'the replays');
  assertDeliveredInOrder(emu, events);
  await again.close();
  await emu.close();
}

test('4 shards on 2 workers: one identify queue, filtered events tagged by shard, routed commands', async () => {
  const emu = await startEmulator({ guilds: 8, maxConcurrency: 2, identifyInterval: 75 });
  const manager = workersFor(emu, 2, 100, ['GUILD_CREATE', 'TYPING_START', 'GUILD_MEMBERS_CHUNK']);
  const events: Dispatch[] = [];
  manager.on('dispatch', (e) => events.push(e));
  await manager.start();
  assert.equal(manager.threads.length, 2);
  assert.equal(emu.counters.identifyRateLimited, 0, 'workers identified outside the shared queue');
  assert.deepEqual(
    manager.status().map((s) => [s.shardId, s.worker, s.status]),
    [
      [0, 0, 'active'],
      [1, 1, 'active'],
      [2, 0, 'active'],
      [3, 1, 'active'],
    ],
  );
  const sessions = emu.sessions();
  for (const s of sessions) await emu.burst(s.id, 200, { TYPING_START: 1, PRESENCE_UPDATE: 1 });
  const wanted = () =>
    sessions.reduce(
      (n, s) =>
        n +
        emu
          .session(s.id)!
          .log()
          .filter((e) => e.t !== 'READY' && e.t !== 'PRESENCE_UPDATE').length,
      0,
    );
  await until(() => events.length === wanted(), 'the wanted events');
  assert.ok(
    events.every((e) => e.t !== 'PRESENCE_UPDATE' && e.t !== 'READY'),
    'an unwanted event got through',
  );
  for (const e of events.filter((e) => e.t === 'GUILD_CREATE')) {
    assert.equal(shardForGuild((e.d as { id: string }).id, 4), e.shardId);
  }
  const guild = emu.world.guildIds()[3]!;
  await manager.sendToGuild(guild, { op: 8, d: { guild_id: guild, user_ids: ['123123'], nonce: 'w' } });
  await until(() => events.some((e) => e.t === 'GUILD_MEMBERS_CHUNK'), 'the member chunk');
  assert.equal(events.find((e) => e.t === 'GUILD_MEMBERS_CHUNK')!.shardId, shardForGuild(guild, 4));
  await manager.close();
  await emu.close();
});

test('a killed worker is started again and its shards resume with no lost or repeated event', async () => {
  const { emu, manager, events, restarts, sessions, total } = await runningWorkers(300);
  const identifies = emu.counters.identifies;
  const resumes = emu.counters.resumes;
  await manager.threads[0]!.terminate();
  // Events keep happening while worker 0's shards are gone.
  for (const s of sessions) await emu.burst(s.id, 100);
  await until(() => restarts.length === 1, 'the restart');
  await until(() => manager.status().every((s) => s.status === 'active'), 'every shard active again');
  for (const s of sessions) await emu.burst(s.id, 50);
  await until(() => events.length >= total(), 'every event');
  assert.equal(emu.counters.identifies, identifies, 'a shard identified instead of resuming');
  assert.equal(emu.counters.resumes, resumes + 2, 'worker 0 runs two shards; both resume');
  assertDeliveredInOrder(emu, events);
  await manager.close();
  await emu.close();
});

test("a resumable close while a worker is down returns its shards' sessions from the last delivered event", async () => {
  const { emu, manager, events, sessions, total } = await runningWorkers(200);
  await until(() => events.length >= total(), 'every event');
  const down = manager.threads[0]!;
  const exited = new Promise((resolve) => down.once('exit', resolve));
  await down.terminate();
  await exited;
  // Closed before the worker is started again: its shards cannot answer for themselves.
  const saved = await manager.close({ resumable: true });
  assert.deepEqual(
    saved.map((s) => s.shardId).sort(),
    [0, 1, 2, 3],
    'a shard of the dead worker has no session',
  );
  for (const s of saved) {
    const last = events.filter((e) => e.shardId === s.shardId).at(-1)!;
    const live = sessions.find((x) => x.shard[0] === s.shardId)!;
    assert.equal(s.sessionId, live.id, `shard ${s.shardId}: another session`);
    assert.equal(s.sequence, last.s, `shard ${s.shardId}: not the last delivered sequence`);
  }
  await emu.close();
});

test('a resumable close keeps each session at the last event the loop took; a new manager resumes the rest', async () => {
  const { emu, store, manager, iterator, total } = await bufferedWorkers(200);
  const events: Dispatch[] = [];
  for (let i = 0; i < 300; i++) events.push((await iterator.next()).value as Dispatch);
  const saved = await manager.close({ resumable: true });
  assert.equal((await iterator.next()).done, true, 'buffered events delivered after the close');
  for (const s of saved) {
    const last = events.filter((e) => e.shardId === s.shardId).at(-1)?.s ?? 0;
    assert.equal(s.sequence, last, `shard ${s.shardId}: not the last event taken`);
    assert.deepEqual(store.get(s.shardId), s, `shard ${s.shardId}: stored another sequence`);
  }
  await resumeInAnotherManager(emu, store, events, total);
});

test('while events flow the store follows within SAVE_EVERY_MS of their delivery', async () => {
  const emu = await startEmulator({ guilds: 6, maxConcurrency: 4, identifyInterval: 0 });
  const clock = new ManualClock();
  const store = new MemorySessionStore();
  const manager = new WorkerShardManager({ ...workersOptions(emu), sessionStore: store, clock });
  const events: Dispatch[] = [];
  manager.on('dispatch', (e) => events.push(e));
  await manager.start();
  const sessions = emu.sessions();
  for (const s of sessions) await emu.burst(s.id, 100);
  const total = () => sessions.reduce((n, s) => n + emu.session(s.id)!.log().length, 0);
  await until(() => events.length === total(), 'every burst');
  const lastOf = (shardId: number) => events.filter((e) => e.shardId === shardId).at(-1)!.s;
  clock.advance(SAVE_EVERY_MS - 1);
  await new Promise((r) => setImmediate(r));
  assert.ok(
    [0, 1, 2, 3].every((id) => store.get(id)!.sequence < lastOf(id)),
    'saved before its time',
  );
  clock.advance(1);
  await until(() => [0, 1, 2, 3].every((id) => store.get(id)!.sequence === lastOf(id)), 'the saves');
  // The next round writes only the shard that delivered something since.
  const written: number[] = [];
  const set = store.set.bind(store);
  store.set = (id, session) => {
    written.push(id);
    set(id, session);
  };
  await emu.burst(sessions[2]!.id, 10);
  await until(() => events.length === total(), 'the second burst');
  const shardOfBurst = sessions[2]!.shard[0];
  clock.advance(SAVE_EVERY_MS);
  await until(() => store.get(shardOfBurst)!.sequence === lastOf(shardOfBurst), 'the second save');
  assert.deepEqual(written, [shardOfBurst]);
  await manager.close();
  await emu.close();
});

test('stored sessions identified with another token are not resumed', async () => {
  const emu = await startEmulator({ guilds: 6, maxConcurrency: 4, identifyInterval: 0 });
  const store = new MemorySessionStore();
  const first = new WorkerShardManager({ ...workersOptions(emu), sessionStore: store });
  await first.start();
  for (const s of await first.close({ resumable: true }))
    store.set(s.shardId, { ...s, owner: 'another-bot' });
  const { identifies, resumes } = emu.counters;
  const again = new WorkerShardManager({ ...workersOptions(emu), sessionStore: store });
  await again.start();
  assert.equal(emu.counters.resumes, resumes, 'a foreign session was resumed');
  assert.equal(emu.counters.identifies, identifies + 4);
  await again.close();
  await emu.close();
});

test('a loop that keeps reading while a resumable close runs gets nothing the new manager gets again', async () => {
  const { emu, store, manager, iterator, total } = await bufferedWorkers(1000);
  const events: Dispatch[] = [];
  const reading = (async () => {
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      events.push(next.value);
      await new Promise((r) => setImmediate(r));
    }
  })();
  await until(() => events.length >= 100, 'a start on the buffer');
  await manager.close({ resumable: true });
  await reading;
  await resumeInAnotherManager(emu, store, events, total);
});

test('events that reach the main thread during a resumable close are kept for the resume, not lost', async () => {
  const emu = await startEmulator({ guilds: 6, maxConcurrency: 4, identifyInterval: 0 });
  const store = new MemorySessionStore();
  const manager = new WorkerShardManager({ ...workersOptions(emu), sessionStore: store });
  const events: Dispatch[] = [];
  const reading = (async () => {
    for await (const e of manager) events.push(e);
  })();
  await manager.start();
  const sessions = emu.sessions();
  for (const s of sessions) await emu.burst(s.id, 20);
  const total = () => sessions.reduce((n, s) => n + emu.session(s.id)!.log().length, 0);
  await until(() => events.length === total(), 'the loop caught up');
  // The close starts in the middle of a worker's batch: the rest of it arrives after the buffer
  // stopped, as a batch in flight would.
  let closing: Promise<unknown> | null = null;
  manager.once('dispatch', () => {
    closing = manager.close({ resumable: true });
  });
  await emu.burst(sessions[0]!.id, 20);
  await until(() => closing !== null, 'the close');
  await closing;
  await reading;
  await resumeInAnotherManager(emu, store, events, total);
});

test('a resumable close still delivers the buffered events of a session that ended, which nothing can replay', {
  timeout: 30_000,
}, async () => {
  const { emu, store, manager, iterator } = await bufferedWorkers(100);
  const log = (id: string) => emu.session(id)!.log();
  const before = emu.sessions();
  const ended = before.find((s) => s.shard[0] === 0)!.id;
  emu.fault(ended, { type: 'invalid-session', resumable: false });
  // After the 1–5 s wait, shard 0 identifies again; its new session's events join the buffer.
  const newSession = () =>
    emu.sessions().find((s) => s.shard[0] === 0 && s.id !== ended && log(s.id).length > 0);
  await until(() => newSession() !== undefined, 'the new session', 10_000);
  await until(() => manager.status()[0]!.status === 'active', 'shard 0 active');
  const saved = await manager.close({ resumable: true });
  assert.equal(saved.find((s) => s.shardId === 0)?.sessionId, newSession()!.id);
  const late = (await readToEnd(iterator)).map((e) => `${e.shardId}:${e.s}`);
  assert.deepEqual(
    late,
    log(ended).map((e) => `0:${e.seq}`),
    "not exactly the ended session's events",
  );
  // Every current session's events were withheld: the resumes bring them, after each READY.
  const again = new WorkerShardManager({ ...workersOptions(emu), sessionStore: store });
  const resumed = new Map<number, number[]>([0, 1, 2, 3].map((id) => [id, []]));
  again.on('dispatch', (e) => resumed.get(e.shardId)!.push(e.s!));
  await again.start();
  for (const s of saved) {
    const expected = log(s.sessionId)
      .slice(1)
      .map((e) => e.seq);
    await until(() => resumed.get(s.shardId)!.length >= expected.length, `the replay of shard ${s.shardId}`);
    assert.deepEqual(resumed.get(s.shardId), expected, `shard ${s.shardId}`);
  }
  await again.close();
  await emu.close();
});

test('a resumable close while a shard waits to identify again delivers its ended session and keeps no session for it', async () => {
  const { emu, store, manager, iterator } = await bufferedWorkers(100);
  const ended = emu.sessions().find((s) => s.shard[0] === 0)!.id;
  assert.equal(store.get(0)?.sessionId, ended);
  emu.fault(ended, { type: 'invalid-session', resumable: false });
  await until(() => manager.status()[0]!.status === 'disconnected', 'the wait before identifying');
  await until(() => store.get(0) === undefined, 'the ended session deleted from the store');
  const saved = await manager.close({ resumable: true });
  assert.deepEqual(saved.map((s) => s.shardId).sort(), [1, 2, 3], 'a session that ended was kept');
  assert.equal(store.get(0), undefined, 'the store still holds a session that ended');
  const late = (await readToEnd(iterator)).map((e) => `${e.shardId}:${e.s}`);
  assert.deepEqual(
    late,
    emu
      .session(ended)!
      .log()
      .map((e) => `0:${e.seq}`),
  );
  await emu.close();
});

test('a resumable close reads paused sockets to their end: a session the gateway ended there is not kept, and its events are delivered', async () => {
  const emu = await startEmulator({ guilds: 6, maxConcurrency: 4, identifyInterval: 0 });
  const store = new MemorySessionStore();
  const manager = new WorkerShardManager({ ...workersOptions(emu), sessionStore: store, bufferSize: 100 });
  let arrived = 0;
  manager.on('dispatch', (e) => {
    if (e.shardId === 0) arrived++;
  });
  const iterator = manager[Symbol.asyncIterator]();
  await manager.start();
  const id = emu.sessions().find((s) => s.shard[0] === 0)!.id;
  const log = () => emu.session(id)!.log();
  // Nothing is read: the main thread stops acknowledging, the worker pauses its sockets, and op 9
  // waits behind the rest of the burst.
  void emu.burst(id, 100_000);
  await until(() => arrived > 100, 'a start on the burst');
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(
    arrived < log().length,
    `the worker read the whole burst (${arrived} of ${log().length}): nothing waits behind a paused socket`,
  );
  emu.fault(id, { type: 'invalid-session', resumable: false });
  const saved = await manager.close({ resumable: true });
  assert.deepEqual(saved.map((s) => s.shardId).sort(), [1, 2, 3], 'a session the gateway ended was kept');
  assert.equal(store.get(0), undefined);
  const got = (await readToEnd(iterator)).filter((e) => e.shardId === 0).map((e) => e.s);
  assert.deepEqual(
    got,
    log().map((e) => e.seq),
  );
  await emu.close();
});

test('a restarted worker leaves its fatally closed shards closed', async () => {
  const { emu, manager, restarts } = await runningWorkers(0);
  const fatal: number[] = [];
  manager.on('fatal', (id) => fatal.push(id));
  // Shards 0 and 2 run on worker 0; shard 0 fails for good.
  emu.fault(emu.sessions().find((s) => s.shard[0] === 0)!.id, { type: 'close', code: 4004 });
  // The 'fatal' message follows the state change; both must be in before the worker goes.
  await until(
    () => manager.status()[0]!.status === 'fatally-closed' && fatal.length === 1,
    'shard 0 to fail',
  );
  const { identifies, resumes } = emu.counters;
  await manager.threads[0]!.terminate();
  await until(() => restarts.length === 1, 'the restart');
  await until(() => manager.status()[2]!.status === 'active', 'shard 2 active again');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(manager.status()[0]!.status, 'fatally-closed');
  assert.deepEqual(fatal, [0], 'the failed shard was run again');
  assert.equal(emu.counters.identifies, identifies);
  assert.equal(emu.counters.resumes, resumes + 1, 'only shard 2 comes back');
  await manager.close();
  await emu.close();
});

test('the merged stream ends with the error once every shard has failed; leaving it closes the workers', async () => {
  const emu = await startEmulator({ guilds: 8, maxConcurrency: 4, identifyInterval: 0 });
  const doomed = workersFor(emu, 4, 0);
  await doomed.start();
  const reading = (async () => {
    for await (const _ of doomed);
  })();
  const ended = () =>
    Promise.race([
      reading.then(
        () => 'ended',
        () => 'failed',
      ),
      delay(300, 'open'),
    ]);
  const sessions = emu.sessions().map((s) => s.id);
  for (const id of sessions.slice(0, 3)) emu.fault(id, { type: 'close', code: 4004 });
  await until(() => doomed.status().filter((s) => s.status === 'fatally-closed').length === 3, '3 fatal');
  assert.equal(await ended(), 'open', 'the stream ended while a shard was still running');
  emu.fault(sessions[3]!, { type: 'close', code: 4004 });
  await assert.rejects(reading, /4004|Authentication/);
  await doomed.close();

  const left = workersFor(emu, 4, 0);
  await left.start();
  for await (const event of left) if (event.t === 'GUILD_CREATE') break;
  assert.ok(
    left.status().every((s) => s.status !== 'active'),
    'leaving the loop left shards running',
  );
  await emu.close();
});

function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms));
}

test('close() before or during start() settles both, and leaves no worker running', async () => {
  const emu = await startEmulator({ guilds: 8, maxConcurrency: 4, identifyInterval: 0 });
  const early = workersFor(emu, 4, 0);
  assert.deepEqual(await early.close(), []);
  await assert.rejects(early.start(), ShardClosedError);
  const during = workersFor(emu, 4, 0);
  const starting = during.start();
  const closing = during.close();
  await assert.rejects(starting, ShardClosedError);
  await closing;
  assert.ok(during.status().every((s) => s.status !== 'active'));
  await emu.close();
});

test('a wanted dispatch the main thread cannot parse is replayed in order: nothing lost, repeated or early', async () => {
  const { emu, manager, events, sessions, total } = await runningWorkers(100);
  const resumes = emu.counters.resumes;
  const target = sessions[0]!;
  emu.fault(target.id, { type: 'mangled-dispatch' });
  // What follows it on the same connection is held back until the replay brings the mangled one.
  for (const s of sessions) await emu.burst(s.id, 100);
  await until(() => events.length >= total(), 'every event');
  assert.equal(emu.counters.resumes, resumes + 1, 'the shard with the mangled dispatch resumes');
  assertDeliveredInOrder(emu, events);
  await manager.close();
  await emu.close();
});

test('a send settles when its worker dies and after close(); it never hangs', async () => {
  const emu = await startEmulator({ guilds: 4, maxConcurrency: 2, identifyInterval: 0 });
  const manager = new WorkerShardManager({
    token: TOKEN,
    intents: 'ALL',
    gatewayUrl: emu.gatewayUrl,
    shardCount: 2,
    workers: 2,
    identifyQueue: new LocalIdentifyQueue({ maxConcurrency: 2, window: 0 }),
    // Five slots held for heartbeats and the IDENTIFY took the sixth: every command waits a minute.
    sendLimit: { limit: 6, windowMs: 60_000 },
  });
  await manager.start();
  const presence = { op: 3, d: { since: null, activities: [], status: 'online', afk: false } };
  const waiting = manager.send(0, presence);
  await manager.threads[0]!.terminate();
  await assert.rejects(waiting, ShardClosedError);
  const alsoWaiting = assert.rejects(manager.send(1, presence), ShardClosedError);
  await manager.close();
  await alsoWaiting;
  await assert.rejects(manager.send(1, presence), ShardClosedError);
  await emu.close();
});

test('options the shards would refuse are refused by the manager; a stored non-session is skipped', async () => {
  const emu = await startEmulator({ guilds: 2, identifyInterval: 0 });
  const options = {
    token: TOKEN,
    intents: 'ALL' as const,
    gatewayUrl: emu.gatewayUrl,
    shardCount: 1,
    workers: 1,
    identifyQueue: new LocalIdentifyQueue({ window: 0 }),
  };
  const activities = Array.from({ length: 100 }, (_, i) => ({
    name: `activity number ${i} with a longer name`,
    type: 0,
  }));
  assert.throws(
    () =>
      new WorkerShardManager({
        ...options,
        presence: { since: null, activities, status: PresenceUpdateStatus.Online, afk: false },
      }),
    PayloadTooLargeError,
  );
  const store = new MemorySessionStore();
  store.sessions.set(0, { sessionId: 'x', sequence: 1, resumeUrl: 'not a url', shardId: 0, shardCount: 1 });
  const manager = new WorkerShardManager({ ...options, sessionStore: store });
  const restarts: number[] = [];
  manager.on('restart', (worker) => restarts.push(worker));
  await manager.start();
  assert.deepEqual(restarts, []);
  assert.equal(emu.counters.identifies, 1);
  await manager.close();
  await emu.close();
});

test('a resumable close while a replay is awaited returns the sequence before the unparsed dispatch', async () => {
  const emu = await startEmulator({ guilds: 2, identifyInterval: 0 });
  const manager = new WorkerShardManager({
    token: TOKEN,
    intents: 'ALL',
    gatewayUrl: emu.gatewayUrl,
    shardCount: 1,
    workers: 1,
    identifyQueue: new LocalIdentifyQueue({ window: 0 }),
  });
  manager.on('dispatch', () => {});
  await manager.start();
  const [session] = emu.sessions();
  await until(() => manager.status()[0]!.status === 'active', 'active');
  emu.fault(session!.id, { type: 'mangled-dispatch' });
  const mangled = emu.session(session!.id)!.log().at(-1)!.seq;
  // The emulator writes the frame; then the main thread is busy while the worker forwards the
  // mangled text, so the close is posted before the main thread has read it.
  await new Promise((r) => process.nextTick(r));
  const busyUntil = Date.now() + 300;
  while (Date.now() < busyUntil);
  const [saved] = await manager.close({ resumable: true });
  assert.ok(saved!.sequence < mangled, `saved ${saved!.sequence}, the mangled dispatch is ${mangled}`);
  await emu.close();
});

/** 2 shards on 1 worker against `emu`, with `options` on top. */
function twoShardsOnOneWorker(
  emu: Emulator,
  options: Partial<ConstructorParameters<typeof WorkerShardManager>[0]>,
): WorkerShardManager {
  return new WorkerShardManager({
    token: TOKEN,
    intents: 'ALL',
    gatewayUrl: emu.gatewayUrl,
    shardCount: 2,
    workers: 1,
    ...options,
  });
}

test('a session store that fails is logged: no unhandled rejection, and close() still ends the stream and returns the sessions', async () => {
  const emu = await startEmulator({ guilds: 4, maxConcurrency: 4, identifyInterval: 0 });
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  const manager = twoShardsOnOneWorker(emu, {
    identifyQueue: new LocalIdentifyQueue({ maxConcurrency: 4, window: 0 }),
    sessionStore: {
      get: async () => undefined,
      set: () => Promise.reject(new Error('ENOSPC: no space left')),
    },
  });
  try {
    const loop = (async () => {
      for await (const _ of manager);
    })();
    await manager.start();
    await new Promise((r) => setTimeout(r, 50));
    const sessions = await manager.close({ resumable: true });
    assert.equal(sessions.length, 2);
    await loop;
    assert.deepEqual(rejections, []);
  } finally {
    process.off('unhandledRejection', onRejection);
    await emu.close();
  }
});

test('a dispatch listener that throws reaches the process, and every event is still delivered and acknowledged', async () => {
  const errors: unknown[] = [];
  process.setUncaughtExceptionCaptureCallback((error) => errors.push(error));
  const { emu, manager, events, sessions, total } = await runningWorkers(0);
  try {
    let throws = 40; // more than a worker's unacknowledged batches
    manager.on('dispatch', () => {
      if (throws > 0 && throws-- > 0) throw new Error('a handler bug');
    });
    for (const s of sessions) await emu.burst(s.id, 300);
    await until(() => events.length >= total(), 'every event');
    assertDeliveredInOrder(emu, events);
    assert.equal(errors.length, 40);
  } finally {
    process.setUncaughtExceptionCaptureCallback(null);
    await manager.close();
    await emu.close();
  }
});

test('start() resolves once every shard has been READY, though one is away again by then', async () => {
  const emu = await startEmulator({ guilds: 4, maxConcurrency: 4, identifyInterval: 0 });
  let releaseOne!: () => void;
  const oneMay = new Promise<void>((r) => {
    releaseOne = r;
  });
  let zeroIdentifies = 0;
  const manager = twoShardsOnOneWorker(emu, {
    // Shard 1 identifies when the test says; shard 0 once, then never again.
    identifyQueue: {
      enqueue: (shardId, signal) =>
        shardId === 1
          ? oneMay
          : ++zeroIdentifies === 1
            ? Promise.resolve()
            : new Promise<void>((_, reject) =>
                signal?.addEventListener('abort', () => reject(signal.reason)),
              ),
    },
  });
  manager.on('dispatch', () => {});
  let started = false;
  const starting = manager.start().then(() => {
    started = true;
  });
  try {
    await until(() => manager.status()[0]!.status === 'active', 'shard 0 READY');
    // Shard 0's session ends; it waits to identify again, and will wait for good.
    emu.fault(emu.sessions()[0]!.id, { type: 'invalid-session', resumable: false });
    await until(() => manager.status()[0]!.status !== 'active', 'shard 0 away');
    releaseOne();
    await until(() => started, 'start() to resolve');
    assert.notEqual(manager.status()[0]!.status, 'active');
  } finally {
    await manager.close();
    await starting.catch(() => {});
    await emu.close();
  }
});

test('close({ resumable }) while start() reads the store returns the stored sessions of shards not yet started', async () => {
  const emu = await startEmulator({ guilds: 2, identifyInterval: 0 });
  const stored = [0, 1].map((shardId) => ({
    sessionId: `s${shardId}`,
    sequence: 4 + shardId,
    resumeUrl: emu.resumeUrl,
    shardId,
    shardCount: 2,
  }));
  const manager = twoShardsOnOneWorker(emu, {
    sessionStore: { get: (id) => delay(20, stored[id]), set: async () => {} },
  });
  const starting = manager.start();
  await delay(30, null);
  const sessions = await manager.close({ resumable: true });
  await assert.rejects(starting, ShardClosedError);
  assert.deepEqual(
    sessions.sort((a, b) => a.shardId - b.shardId),
    stored,
  );
  await emu.close();
});

test('a session store that cannot be read costs new sessions, not the start; one that never answers does not hold up close()', async () => {
  const emu = await startEmulator({ guilds: 4, identifyInterval: 0 });
  const failing = twoShardsOnOneWorker(emu, {
    identifyQueue: new LocalIdentifyQueue({ window: 0 }),
    sessionStore: { get: () => Promise.reject(new Error('EIO: unreadable')), set: async () => {} },
  });
  const before = emu.counters.identifies;
  await failing.start();
  assert.equal(emu.counters.identifies, before + 2);
  await failing.close();
  const silent = twoShardsOnOneWorker(emu, {
    sessionStore: { get: () => new Promise(() => {}), set: async () => {} },
  });
  const starting = silent.start();
  await delay(20, null);
  assert.deepEqual(await silent.close(), []);
  await emu.close();
  void starting.catch(() => {});
});
