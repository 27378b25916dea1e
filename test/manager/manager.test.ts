/**
 * Many shards against the emulator: identify bucket order and spacing, the daily session start
 * limit, the recommended sharding, several processes covering every shard once, the merged event
 * stream, routed commands and a resumable shutdown.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Emulator } from '../../src/emulator/index.js';
import {
  bucketRange,
  type Dispatch,
  GatewayCloseError,
  LocalIdentifyQueue,
  ManualClock,
  type SessionInfo,
  ShardManager,
  shardForGuild,
} from '../../src/index.js';
import { assertExactlyOnce, readToEnd, startEmulator, TOKEN, until } from '../shard/harness.js';

const WINDOW = 150;

/** A manager of `shardCount` shards on `emu`, with the given options on top. */
function managerFor(
  emu: Emulator,
  shardCount: number,
  options: Partial<ConstructorParameters<typeof ShardManager>[0]> = {},
): ShardManager {
  return new ShardManager({
    token: TOKEN,
    intents: 'GUILDS',
    gatewayUrl: emu.gatewayUrl,
    shardCount,
    ...options,
  });
}

/**
 * 2 started shards on `emu`, each session with a burst of `burst` events behind it, all of them in
 * the merged buffer of a `for await` loop that has not read yet.
 */
async function bufferedManager(
  emu: Emulator,
  options: Partial<ConstructorParameters<typeof ShardManager>[0]>,
  burst: number,
) {
  const manager = managerFor(emu, 2, { identifyQueue: new LocalIdentifyQueue({ window: 0 }), ...options });
  let read = 0;
  for (const i of [0, 1]) manager.shard(i)!.on('dispatch', () => read++);
  await manager.start();
  const ids = [0, 1].map((i) => manager.shard(i)!.session!.sessionId);
  for (const id of ids) await emu.burst(id, burst);
  const logged = () => ids.reduce((n, id) => n + emu.session(id)!.log().length, 0);
  const iterator = manager[Symbol.asyncIterator]();
  await until(() => read === logged(), 'both bursts in the merged buffer');
  return { manager, ids, logged, iterator };
}

/** Options that give each shard its session from `saved`. */
function resuming(saved: SessionInfo[]): Partial<ConstructorParameters<typeof ShardManager>[0]> {
  return { perShard: (id) => ({ session: saved.find((s) => s.shardId === id)! }) };
}

/** A second manager resumes the sessions; with `seen` before it, each session is exactly once. */
async function resumeInAnotherManager(
  emu: Emulator,
  options: Partial<ConstructorParameters<typeof ShardManager>[0]>,
  seen: Dispatch[][],
  ids: string[],
): Promise<void> {
  const again = managerFor(emu, 2, { identifyQueue: new LocalIdentifyQueue({ window: 0 }), ...options });
  again.on('dispatch', (e) => seen[e.shardId]!.push(e));
  await again.start();
  const logged = () => ids.reduce((n, id) => n + emu.session(id)!.log().length, 0);
  await until(() => seen[0]!.length + seen[1]!.length === logged(), 'the replays');
  for (const i of [0, 1]) assertExactlyOnce(emu, seen[i]!, [ids[i]!]);
  await again.close();
  await emu.close();
}

test('16 shards with max_concurrency 4 identify bucket by bucket, one per bucket per window', async () => {
  // The queue and the emulator's identify limit share one virtual clock: every window is exact, and a
  // loaded machine can make no shard look early or late.
  const clock = new ManualClock();
  const emu = await startEmulator({ guilds: 32, maxConcurrency: 4, identifyInterval: WINDOW, clock });
  const manager = managerFor(emu, 16, {
    clock,
    identifyQueue: new LocalIdentifyQueue({ maxConcurrency: 4, window: WINDOW, clock }),
  });
  const started = manager.start();
  const identified = () =>
    emu
      .sessions()
      .map((s) => s.shard[0])
      .sort((a, b) => a - b);
  const ready = () => manager.status().filter((s) => s.state.status === 'active').length;
  for (let group = 0; group < 4; group++) {
    // Shards 4g..4g+3, one of each bucket, go together; each window starts at READY.
    const upTo = 4 * (group + 1);
    const refused = () => emu.counters.identifyRateLimited;
    await until(() => ready() === upTo || refused() > 0, `group ${group} READY`);
    assert.equal(refused(), 0, 'the emulator refused an identify: a bucket was overrun');
    assert.deepEqual(
      identified(),
      Array.from({ length: upTo }, (_, i) => i),
    );
    if (group === 3) break;
    clock.advance(WINDOW - 1);
    // Time for a shard released too early to reach the emulator: every one is connected and waiting.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(identified().length, upTo, `group ${group + 1} identified before its window`);
    clock.advance(1);
  }
  await started;
  assert.deepEqual(
    manager.status().map((s) => s.state.status),
    Array(16).fill('active'),
  );
  await manager.close();
  await emu.close();
});

test('createRecommended takes the shard count, max_concurrency and session limit from GET /gateway/bot', async () => {
  const emu = await startEmulator({ guilds: 12, shards: 3, maxConcurrency: 3, identifyInterval: 0 });
  const manager = await ShardManager.createRecommended({
    token: TOKEN,
    intents: 'GUILDS',
    rest: { api: emu.apiUrl },
  });
  assert.equal(manager.shardCount, 3);
  assert.equal(manager.maxConcurrency, 3);
  assert.equal((manager.identifyQueue as LocalIdentifyQueue).sessionStartLimit?.total, 1000);
  await manager.start();
  const shards = emu.sessions().map((s) => s.shard);
  assert.deepEqual(shards.map(([id]) => id).sort(), [0, 1, 2]);
  assert.ok(shards.every(([, n]) => n === 3));
  await manager.close();
  await emu.close();
});

test('a session start limit of 3 stops before spending the last start, then waits for the reset', async () => {
  const emu = await startEmulator({
    guilds: 4,
    maxConcurrency: 4,
    identifyInterval: 0,
    sessionStartLimit: { total: 3, resetAfter: 1500 },
  });
  const warnings: string[] = [];
  const manager = await ShardManager.createRecommended({
    token: TOKEN,
    intents: 'GUILDS',
    shardCount: 4,
    rest: { api: emu.apiUrl },
    logger: { debug() {}, info() {}, warn: (m) => warnings.push(m), error() {} },
  });
  const started = manager.start();
  await until(() => emu.counters.identifies === 2, 'two identifies');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(emu.counters.identifies, 2, 'the last start was spent');
  assert.equal(emu.counters.tokenResets, 0);
  assert.ok(
    warnings.some((w) => /wait \d+ s for the reset/.test(w)),
    'the wait was not logged',
  );
  await started; // after the reset, the other two go
  assert.equal(emu.counters.identifies, 4);
  assert.equal(emu.counters.tokenResets, 0);
  await manager.close();
  await emu.close();
});

test('three processes with bucket-aligned ranges run every shard exactly once', async () => {
  const emu = await startEmulator({ guilds: 24, maxConcurrency: 3, identifyInterval: 0 });
  const managers = [0, 1, 2].map((k) =>
    managerFor(emu, 9, {
      shardIds: bucketRange(k, 3, 9, 3),
      // Each process owns whole buckets, so its own queue is enough (a short window keeps the test quick).
      identifyQueue: new LocalIdentifyQueue({ maxConcurrency: 3, window: 20 }),
    }),
  );
  await Promise.all(managers.map((m) => m.start()));
  const ids = emu.sessions().map((s) => s.shard[0]);
  assert.deepEqual(
    [...ids].sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8],
  );
  await Promise.all(managers.map((m) => m.close()));
  await emu.close();
});

test('the merged stream tags events with their shard; commands reach the shard that owns the guild', async () => {
  const emu = await startEmulator({ guilds: 8, identifyInterval: 0, maxConcurrency: 4 });
  const manager = managerFor(emu, 4, { intents: 'ALL', maxConcurrency: 4 });
  await manager.start();
  const guild = emu.world.guildIds()[5]!;
  const owner = shardForGuild(guild, 4);
  const seen: { shardId: number; t: string; nonce?: string }[] = [];
  // Read with next(), not a loop left by break: leaving a loop closes the manager.
  const iterator = manager[Symbol.asyncIterator]();
  const reading = (async () => {
    for (;;) {
      const event = (await iterator.next()).value as Dispatch;
      seen.push({ shardId: event.shardId, t: event.t, nonce: (event.d as { nonce?: string }).nonce });
      if (event.t === 'GUILD_MEMBERS_CHUNK') return;
    }
  })();
  emu.dispatch('GUILD_UPDATE', { id: guild, name: 'x' }, { guildId: guild });
  await manager.sendToGuild(guild, { op: 8, d: { guild_id: guild, user_ids: ['123123'], nonce: 'routed' } });
  await reading;
  assert.ok(seen.some((e) => e.t === 'GUILD_UPDATE' && e.shardId === owner));
  assert.deepEqual(seen.at(-1), { shardId: owner, t: 'GUILD_MEMBERS_CHUNK', nonce: 'routed' });
  assert.equal(manager.shardForGuild(guild)!.shardId, owner);
  const sessions = await manager.close({ resumable: true });
  assert.equal(sessions.length, 4);
  assert.ok(
    emu.sessions().every((s) => s.ended === null),
    'a resumable close must keep every session',
  );
  await emu.close();
});

test('a resumable close keeps each session at the last event the merged loop took; resumes bring the rest', async () => {
  const emu = await startEmulator({ guilds: 4, identifyInterval: 0 });
  const { manager, ids, iterator } = await bufferedManager(emu, {}, 200);
  const taken: Dispatch[] = [];
  for (let i = 0; i < 150; i++) taken.push((await iterator.next()).value as Dispatch);
  const saved = await manager.close({ resumable: true });
  assert.equal((await iterator.next()).done, true, 'buffered events delivered after the close');
  const seen: Dispatch[][] = [[], []];
  for (const e of taken) seen[e.shardId]!.push(e);
  for (const s of saved) assert.equal(s.sequence, seen[s.shardId]!.at(-1)?.s ?? 0, `shard ${s.shardId}`);
  await resumeInAnotherManager(emu, resuming(saved), seen, ids);
});

test('a loop that keeps reading while a resumable close runs gets nothing the resume brings again', async () => {
  const emu = await startEmulator({ guilds: 4, identifyInterval: 0 });
  const stored = new Map<number, SessionInfo>();
  // Slow writes widen the time between a shard keeping its session and the end of the close.
  const sessionStore = {
    get: (id: number) => stored.get(id),
    set: async (id: number, session: SessionInfo | null) => {
      await new Promise((r) => setTimeout(r, 20));
      if (session) stored.set(id, session);
      else stored.delete(id);
    },
  };
  const { manager, ids, iterator } = await bufferedManager(emu, { sessionStore }, 2000);
  const seen: Dispatch[][] = [[], []];
  const reading = (async () => {
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      seen[next.value.shardId]!.push(next.value);
      // One event per turn of the loop: the close runs in between.
      await new Promise((r) => setImmediate(r));
    }
  })();
  await until(() => seen[0]!.length + seen[1]!.length >= 100, 'a start on the buffer');
  await manager.close({ resumable: true });
  await reading;
  await resumeInAnotherManager(emu, { sessionStore }, seen, ids);
});

test('a resumable close called by a dispatch listener, with the loop caught up, keeps that event for the resume', async () => {
  const emu = await startEmulator({ guilds: 4, identifyInterval: 0 });
  const manager = managerFor(emu, 2, { identifyQueue: new LocalIdentifyQueue({ window: 0 }) });
  const seen: Dispatch[][] = [[], []];
  const reading = (async () => {
    for await (const e of manager) seen[e.shardId]!.push(e);
  })();
  await manager.start();
  const ids = [0, 1].map((i) => manager.shard(i)!.session!.sessionId);
  for (const id of ids) await emu.burst(id, 20);
  const logged = () => ids.reduce((n, id) => n + emu.session(id)!.log().length, 0);
  await until(() => seen[0]!.length + seen[1]!.length === logged(), 'the loop caught up');
  // The event that closes is handed to the listener before it reaches the merged buffer.
  let closing: Promise<SessionInfo[]> | null = null;
  manager.once('dispatch', () => {
    closing = manager.close({ resumable: true });
  });
  await emu.burst(ids[0]!, 20);
  await until(() => closing !== null, 'the close');
  const saved = await closing!;
  await reading;
  await resumeInAnotherManager(emu, resuming(saved), seen, ids);
});

test('a resumable close still delivers the buffered events of a session that ended, which nothing can replay', async () => {
  // The shards run on a manual clock, to hold shard 0 in its wait before identifying again.
  const emu = await startEmulator({ guilds: 4, identifyInterval: 0, heartbeatInterval: 60_000 });
  const { manager, ids, iterator } = await bufferedManager(emu, { clock: new ManualClock() }, 100);
  const log = (id: string) => emu.session(id)!.log();
  emu.fault(ids[0]!, { type: 'invalid-session', resumable: false });
  await until(() => manager.shard(0)!.state.status === 'disconnected', 'the wait before identifying');
  const saved = await manager.close({ resumable: true });
  assert.deepEqual(
    saved.map((s) => s.shardId),
    [1],
    'a session that ended was kept',
  );
  const late = (await readToEnd(iterator)).map((e) => `${e.shardId}:${e.s}`);
  assert.deepEqual(
    late,
    log(ids[0]!).map((e) => `0:${e.seq}`),
    "not exactly the ended session's events",
  );
  // Shard 1's events were withheld: its resume brings them, after its READY.
  const again = managerFor(emu, 2, {
    identifyQueue: new LocalIdentifyQueue({ window: 0 }),
    perShard: (id) => (id === 1 ? { session: saved[0]! } : {}),
  });
  const resumed: number[] = [];
  again.on('dispatch', (e) => {
    if (e.shardId === 1) resumed.push(e.s!);
  });
  await again.start();
  const expected = log(ids[1]!)
    .slice(1)
    .map((e) => e.seq);
  await until(() => resumed.length >= expected.length, 'the replay');
  assert.deepEqual(resumed, expected);
  await again.close();
  await emu.close();
});

test('a resumable close reads paused sockets to their end: a session the gateway ended there is not kept, and its events are delivered', async () => {
  const emu = await startEmulator({ guilds: 4, identifyInterval: 0 });
  const manager = managerFor(emu, 2, {
    identifyQueue: new LocalIdentifyQueue({ window: 0 }),
    bufferSize: 100,
  });
  const iterator = manager[Symbol.asyncIterator]();
  await manager.start();
  const ids = [0, 1].map((i) => manager.shard(i)!.session!.sessionId);
  // Nothing is read: the merged buffer fills, shard 0 stops reading, and op 9 waits behind its burst.
  void emu.burst(ids[0]!, 3000);
  await until(() => manager.shard(0)!.buffer.paused, "shard 0's paused socket");
  emu.fault(ids[0]!, { type: 'invalid-session', resumable: false });
  const saved = await manager.close({ resumable: true });
  assert.deepEqual(
    saved.map((s) => s.shardId),
    [1],
    'a session the gateway ended was kept',
  );
  const got = (await readToEnd(iterator)).filter((e) => e.shardId === 0).map((e) => e.s);
  assert.deepEqual(
    got,
    emu
      .session(ids[0]!)!
      .log()
      .map((e) => e.seq),
  );
  await emu.close();
});

test("a slow reader of the merged stream pauses the shards that filled it, loses nothing, and keeps the application's own pause", async () => {
  const emu = await startEmulator({ guilds: 4, identifyInterval: 0, maxConcurrency: 2 });
  const manager = managerFor(emu, 2, { maxConcurrency: 2, bufferSize: 50 });
  await manager.start();
  const iterator = manager[Symbol.asyncIterator]();
  const shard0 = manager.shard(0)!;
  const shard1 = manager.shard(1)!;
  const sessions = [shard0.session!.sessionId, shard1.session!.sessionId];
  await Promise.all(sessions.map((id) => emu.burst(id, 3000)));
  await until(() => shard0.buffer.paused && shard1.buffer.paused, 'both sockets to pause');
  // The application pauses shard 1 itself: draining the merged stream must not undo that.
  shard1.pause();
  const seen: Dispatch[][] = [[], []];
  const total = (i: number) => emu.session(sessions[i]!)!.log().length;
  while (seen[0]!.length < total(0)) {
    const event = (await iterator.next()).value as Dispatch;
    seen[event.shardId]!.push(event);
  }
  assert.equal(shard0.buffer.paused, false);
  assert.equal(shard1.buffer.paused, true, 'the manager resumed a shard the application had paused');
  assert.ok(seen[1]!.length < total(1), 'shard 1 delivered everything while paused');
  shard1.resume();
  while (seen[1]!.length < total(1)) seen[1]!.push((await iterator.next()).value as Dispatch);
  for (const i of [0, 1]) assertExactlyOnce(emu, seen[i]!, [sessions[i]!]);
  await manager.close();
  await emu.close();
});

/** What a `for await` over `manager` came to within `ms`: still open, ended, or failed with an error. */
function reader(manager: ShardManager) {
  const reading = (async () => {
    for await (const _ of manager);
  })();
  const outcome = reading.then(
    () => 'ended',
    (error: Error) => error,
  );
  return (ms = 300) =>
    Promise.race([outcome, new Promise<string>((resolve) => setTimeout(() => resolve('open'), ms))]);
}

const is4004 = (value: unknown) => value instanceof GatewayCloseError && value.code === 4004;

test('the merged stream ends with the error once no shard is left, however the last one stopped', async () => {
  const emu = await startEmulator({ guilds: 4, identifyInterval: 0, maxConcurrency: 2 });
  // Both fatal, one after the other: the stream stays open until the second.
  const doomed = managerFor(emu, 2, { maxConcurrency: 2 });
  await doomed.start();
  let state = reader(doomed);
  emu.fault(doomed.shard(0)!.session!.sessionId, { type: 'close', code: 4004 });
  await until(() => doomed.shard(0)!.state.status === 'fatally-closed', 'shard 0 to fail');
  assert.equal(await state(), 'open');
  emu.fault(doomed.shard(1)!.session!.sessionId, { type: 'close', code: 4004 });
  assert.ok(is4004(await state(4000)));
  // One fatal, then the application closes the other shard itself.
  const mixed = managerFor(emu, 2, { maxConcurrency: 2 });
  await mixed.start();
  state = reader(mixed);
  emu.fault(mixed.shard(0)!.session!.sessionId, { type: 'close', code: 4004 });
  await until(() => mixed.shard(0)!.state.status === 'fatally-closed', 'shard 0 to fail');
  assert.equal(await state(), 'open');
  await mixed.shard(1)!.close();
  assert.ok(is4004(await state(4000)));
  await emu.close();
});

test('leaving the merged stream closes the manager, but never undoes a resumable close under way', async () => {
  const emu = await startEmulator({ guilds: 4, identifyInterval: 0, maxConcurrency: 2 });
  const left = managerFor(emu, 2, { maxConcurrency: 2 });
  await left.start();
  for await (const event of left) if (event.t === 'GUILD_CREATE') break;
  assert.deepEqual(
    left.status().map((s) => s.state.status),
    ['closed', 'closed'],
  );
  // A shutdown handler closes resumably while the loop is left (a send inside it failed, say).
  const kept = managerFor(emu, 2, { maxConcurrency: 2 });
  await kept.start();
  const iterator = kept[Symbol.asyncIterator]();
  const closing = kept.close({ resumable: true });
  await iterator.return!();
  const sessions = await closing;
  assert.equal(sessions.length, 2);
  assert.deepEqual(await kept.close(), sessions, 'a later close() gets the same result');
  assert.ok(
    emu
      .sessions()
      .filter((s) => sessions.some((k) => k.sessionId === s.id))
      .every((s) => s.ended === null),
    'a session was ended',
  );
  await emu.close();
});

test("a shard whose close fails (a throwing listener) does not stop the others' or the merged stream's", async () => {
  const emu = await startEmulator({ guilds: 4, identifyInterval: 0, maxConcurrency: 2 });
  const manager = managerFor(emu, 2, { maxConcurrency: 2 });
  await manager.start();
  const iterator = manager[Symbol.asyncIterator]();
  while ((await Promise.race([iterator.next(), new Promise((r) => setTimeout(r, 50, null))])) !== null);
  const waiting = iterator.next();
  manager.shard(0)!.on('state', (state) => {
    if (state.status === 'closed') throw new Error('listener bug');
  });
  await assert.rejects(manager.close({ resumable: true }), /listener bug/);
  assert.deepEqual(await waiting, { value: undefined, done: true });
  assert.deepEqual(
    manager.status().map((s) => s.state.status),
    ['closed', 'closed'],
  );
  await emu.close();
});

test('an event taken by a once() listener of the manager is not also buffered for its stream', async () => {
  const emu = await startEmulator({ guilds: 2 });
  const manager = managerFor(emu, 1);
  let first: Dispatch | null = null;
  manager.once('dispatch', (event) => {
    first = event;
  });
  await manager.start();
  const next = (await manager[Symbol.asyncIterator]().next()).value as Dispatch;
  assert.equal(first!.t, 'READY');
  assert.equal(next.s, first!.s! + 1, `the stream started at ${next.t} ${next.s}`);
  await manager.close();
  await emu.close();
});

test('an idle shard does not keep its last event alive (the READY payload is freed once delivered)', async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // heartbeatInterval long enough that nothing arrives after the guilds: the shards stay quiet.
  const emu = await startEmulator({ guilds: 2, heartbeatInterval: 60_000 });
  const manager = managerFor(emu, 2);
  const readies: WeakRef<object>[] = [];
  manager.on('dispatch', (event) => {
    if (event.t === 'READY') readies.push(new WeakRef(event.d));
  });
  try {
    await manager.start();
    await until(() => readies.length === 2);
    // Let the last GUILD_CREATEs through, then collect.
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(
      readies.map((r) => r.deref() === undefined),
      [true, true],
      'a READY payload is still reachable after delivery',
    );
  } finally {
    await manager.close();
    await emu.close();
  }
});
