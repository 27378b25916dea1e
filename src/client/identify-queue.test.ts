import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../clock.js';
import { IDENTIFY_WINDOW_MS } from '../protocol/opcodes.js';
import { LocalIdentifyQueue } from './identify-queue.js';

/** Lets promise callbacks run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** Enqueues `ids` in order and records [shardId, release time] as each is let through. */
function start(queue: LocalIdentifyQueue, clock: ManualClock, ids: number[], signals: AbortSignal[] = []) {
  const released: Array<[number, number]> = [];
  const promises = ids.map((id, i) =>
    queue.enqueue(id, signals[i]).then(() => {
      released.push([id, clock.now()]);
    }),
  );
  return { released, promises };
}

/**
 * Lets pending callbacks run, then advances `ms` in steps of `step`, settling promises after each, so a
 * release is recorded at the end of the step it happened in (steps here always land on release times).
 */
async function run(clock: ManualClock, ms: number, step = 100): Promise<void> {
  await flush();
  await clock.advanceAsync(ms, step);
  await flush();
}

describe('LocalIdentifyQueue options', () => {
  test('defaults: one bucket, a 5 s window, one start kept in reserve', () => {
    const queue = new LocalIdentifyQueue({ clock: new ManualClock() });
    assert.equal(queue.maxConcurrency, 1);
    assert.equal(queue.window, 5000);
    assert.equal(IDENTIFY_WINDOW_MS, 5000);
    assert.equal(queue.reserve, 1);
    assert.equal(queue.sessionStartLimit, null);
  });

  test('max_concurrency comes from the option or from session_start_limit', () => {
    const clock = new ManualClock();
    assert.equal(new LocalIdentifyQueue({ maxConcurrency: 16, clock }).maxConcurrency, 16);
    const fromLimit = new LocalIdentifyQueue({
      clock,
      sessionStartLimit: { total: 1000, remaining: 999, reset_after: 1000, max_concurrency: 4 },
    });
    assert.equal(fromLimit.maxConcurrency, 4);
  });

  test('max_concurrency must be a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new LocalIdentifyQueue({ maxConcurrency: bad }), RangeError);
    }
  });
});

describe('buckets: shard_id % max_concurrency', () => {
  test('max_concurrency 1: one IDENTIFY per 5 s, in arrival order', async () => {
    const clock = new ManualClock();
    const queue = new LocalIdentifyQueue({ clock });
    const { released, promises } = start(queue, clock, [0, 1, 2, 3]);
    await flush();
    assert.deepEqual(released, [[0, 0]]);
    await run(clock, 4999, 1);
    assert.deepEqual(released, [[0, 0]], 'released before the window passed');
    await run(clock, 1, 1);
    assert.deepEqual(released, [
      [0, 0],
      [1, 5000],
    ]);
    await run(clock, 10_000);
    await Promise.all(promises);
    assert.deepEqual(released, [
      [0, 0],
      [1, 5000],
      [2, 10_000],
      [3, 15_000],
    ]);
  });

  test('max_concurrency 4 with 10 shards: the buckets run in parallel, each one per window', async () => {
    const clock = new ManualClock();
    const queue = new LocalIdentifyQueue({ maxConcurrency: 4, clock });
    const ids = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const { released, promises } = start(queue, clock, ids);
    await run(clock, 20_000);
    await Promise.all(promises);
    const at = new Map(released);
    // Bucket k holds shards k, k+4, k+8: released at 0, 5 s, 10 s.
    for (const id of ids) assert.equal(at.get(id), Math.floor(id / 4) * 5000, `shard ${id}`);
    // Never two releases of one bucket within a window.
    for (let bucket = 0; bucket < 4; bucket++) {
      const times = released.filter(([id]) => id % 4 === bucket).map(([, t]) => t);
      for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 5000);
    }
    // At most max_concurrency IDENTIFYs at any instant.
    const perInstant = new Map<number, number>();
    for (const [, t] of released) perInstant.set(t, (perInstant.get(t) ?? 0) + 1);
    for (const n of perInstant.values()) assert.ok(n <= 4);
  });

  test('the bucket is the remainder, not the arrival order', async () => {
    const clock = new ManualClock();
    const queue = new LocalIdentifyQueue({ maxConcurrency: 2, clock });
    // 0, 2, 4 share bucket 0; 1 is alone in bucket 1.
    const { released } = start(queue, clock, [0, 2, 4, 1]);
    await flush();
    assert.deepEqual(released, [
      [0, 0],
      [1, 0],
    ]);
    await run(clock, 10_000);
    assert.deepEqual(released.slice(2), [
      [2, 5000],
      [4, 10_000],
    ]);
  });

  test('a shard arriving long after the previous IDENTIFY of its bucket goes at once', async () => {
    const clock = new ManualClock();
    const queue = new LocalIdentifyQueue({ clock });
    await queue.enqueue(0);
    await run(clock, 7000);
    const t0 = clock.now();
    const { released } = start(queue, clock, [0]);
    await flush();
    assert.deepEqual(released, [[0, t0]]);
  });

  test('a shard arriving mid-window waits only for the rest of the window', async () => {
    const clock = new ManualClock();
    const queue = new LocalIdentifyQueue({ clock });
    await queue.enqueue(3);
    await run(clock, 3000);
    const { released } = start(queue, clock, [5]);
    await run(clock, 1999, 1);
    assert.deepEqual(released, []);
    await run(clock, 1, 1);
    assert.deepEqual(released, [[5, 5000]]);
  });

  test('a custom window', async () => {
    const clock = new ManualClock();
    const queue = new LocalIdentifyQueue({ clock, window: 100 });
    const { released } = start(queue, clock, [0, 0, 0]);
    await run(clock, 300, 10);
    assert.deepEqual(
      released.map(([, t]) => t),
      [0, 100, 200],
    );
  });
});

describe('cancellation', () => {
  test('an already aborted signal rejects at once with its reason and takes no slot', async () => {
    const clock = new ManualClock();
    const queue = new LocalIdentifyQueue({ clock });
    const reason = new Error('shard closed');
    await assert.rejects(queue.enqueue(0, AbortSignal.abort(reason)), (e) => e === reason);
    const { released } = start(queue, clock, [1]);
    await flush();
    assert.deepEqual(released, [[1, 0]], 'the slot was not spent');
  });

  test('aborting a waiting shard rejects it and lets the next one take its turn', async () => {
    const clock = new ManualClock();
    const queue = new LocalIdentifyQueue({ clock });
    const controller = new AbortController();
    const released: Array<[number, number]> = [];
    const first = queue.enqueue(0).then(() => released.push([0, clock.now()]));
    const waiting = queue.enqueue(1, controller.signal);
    const third = queue.enqueue(2).then(() => released.push([2, clock.now()]));
    await flush();
    await run(clock, 2000);
    controller.abort(new Error('gave up'));
    await assert.rejects(waiting, /gave up/);
    await run(clock, 3000, 1);
    await Promise.all([first, third]);
    assert.deepEqual(released, [
      [0, 0],
      [2, 5000],
    ]);
  });

  test('aborting the only waiter leaves the bucket free for a newcomer at the same slot', async () => {
    const clock = new ManualClock();
    const queue = new LocalIdentifyQueue({ clock });
    await queue.enqueue(0);
    const controller = new AbortController();
    const waiting = queue.enqueue(0, controller.signal);
    controller.abort();
    await assert.rejects(waiting);
    await run(clock, 1000);
    const { released } = start(queue, clock, [0]);
    await run(clock, 4000, 1);
    assert.deepEqual(released, [[0, 5000]], 'the cancelled waiter did not consume the 5 s slot');
  });

  test('aborting after release changes nothing', async () => {
    const clock = new ManualClock();
    const queue = new LocalIdentifyQueue({ clock });
    const controller = new AbortController();
    await queue.enqueue(0, controller.signal);
    controller.abort();
    const { released } = start(queue, clock, [0]);
    await run(clock, 5000, 1);
    assert.deepEqual(released, [[0, 5000]]);
  });

  test('aborting in one bucket does not disturb another', async () => {
    const clock = new ManualClock();
    const queue = new LocalIdentifyQueue({ maxConcurrency: 2, clock });
    const controller = new AbortController();
    const { released } = start(queue, clock, [0, 1, 3]);
    const doomed = queue.enqueue(2, controller.signal);
    await flush();
    controller.abort();
    await assert.rejects(doomed);
    await run(clock, 5000, 1);
    assert.deepEqual(released, [
      [0, 0],
      [1, 0],
      [3, 5000],
    ]);
  });
});

describe('progress', () => {
  test('counts waiting shards and says when the soonest bucket opens, the window restarting at the answer', async () => {
    const clock = new ManualClock(1000);
    const queue = new LocalIdentifyQueue({ maxConcurrency: 2, window: 5000, clock });
    // A function, not the getter read twice: assert.deepEqual would narrow the getter's type.
    const progress = () => queue.progress;
    assert.deepEqual(progress(), { waiting: 0, nextBucketIn: null, startLimitResetIn: null });
    const { released, promises } = start(queue, clock, [0, 1, 2, 3, 4]);
    await flush();
    assert.deepEqual(released.map(([id]) => id).sort(), [0, 1]);
    assert.deepEqual(progress(), { waiting: 3, nextBucketIn: 5000, startLimitResetIn: null });
    clock.advance(3000);
    // Bucket 1's IDENTIFY is answered late: its window restarts, bucket 0's stays the soonest.
    queue.identified(1);
    clock.advance(800);
    assert.equal(progress().nextBucketIn, 1200);
    await run(clock, 1200);
    assert.deepEqual(released.map(([id]) => id).sort(), [0, 1, 2]);
    // Bucket 0 (shard 4) opens 5000 after shard 2; bucket 1 (shard 3) 5000 after its answer, 3000 from now.
    assert.deepEqual(progress(), { waiting: 2, nextBucketIn: 3000, startLimitResetIn: null });
    await run(clock, 5000);
    await Promise.all(promises);
    assert.deepEqual(progress(), { waiting: 0, nextBucketIn: null, startLimitResetIn: null });
  });

  test('reports a hold for the daily session start limit', async () => {
    const clock = new ManualClock(0);
    const queue = new LocalIdentifyQueue({
      clock,
      sessionStartLimit: { total: 1000, remaining: 1, reset_after: 60_000, max_concurrency: 1 },
    });
    const progress = () => queue.progress;
    void queue.enqueue(0);
    await flush();
    assert.deepEqual(progress(), { waiting: 1, nextBucketIn: 0, startLimitResetIn: 60_000 });
    clock.advance(20_000);
    assert.equal(progress().startLimitResetIn, 40_000);
  });
});

describe('session start accounting', () => {
  test('every release spends one start', async () => {
    const clock = new ManualClock();
    const queue = new LocalIdentifyQueue({
      clock,
      maxConcurrency: 2,
      sessionStartLimit: { total: 1000, remaining: 500, reset_after: 60_000 },
    });
    const { promises } = start(queue, clock, [0, 1, 2, 3]);
    await run(clock, 5000, 1);
    await Promise.all(promises);
    assert.equal(queue.sessionStartLimit?.remaining, 496);
    assert.equal(queue.sessionStartLimit?.resetIn, 55_000);
    assert.equal(queue.sessionStartLimit?.exhausted, false);
  });
});
