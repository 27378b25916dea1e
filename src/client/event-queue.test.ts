import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EventQueue } from './event-queue.js';

/** Settles pending promise callbacks. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A queue plus a count of onDrain calls and the sizes at which they happened. */
function make(highWaterMark: number) {
  const drains: number[] = [];
  const queue: EventQueue<number> = new EventQueue<number>(highWaterMark, () => drains.push(queue.size));
  return { queue, drains };
}

async function take(queue: EventQueue<number>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await queue.next();
    assert.equal(r.done, false);
    out.push(r.value as number);
  }
  return out;
}

describe('EventQueue construction', () => {
  test('the high-water mark must be a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new EventQueue(bad, () => {}), RangeError, `accepted ${bad}`);
    }
  });

  test('the low-water mark is half the high-water mark, rounded down', () => {
    assert.equal(new EventQueue(10, () => {}).lowWaterMark, 5);
    assert.equal(new EventQueue(7, () => {}).lowWaterMark, 3);
    assert.equal(new EventQueue(1, () => {}).lowWaterMark, 0);
    assert.equal(new EventQueue(10_000, () => {}).highWaterMark, 10_000);
  });
});

describe('bounded buffer and water marks', () => {
  test('push returns false from the high-water mark on, and never drops an event', async () => {
    const { queue } = make(4);
    const results = [1, 2, 3, 4, 5, 6].map((v) => queue.push(v));
    assert.deepEqual(results, [true, true, true, false, false, false]);
    assert.equal(queue.size, 6, 'over the mark the queue still keeps everything');
    assert.equal(queue.full, true);
    assert.deepEqual(await take(queue, 6), [1, 2, 3, 4, 5, 6]);
    assert.equal(queue.size, 0);
    assert.equal(queue.full, false);
  });

  test('onDrain fires when the reader brings a full buffer down to the low-water mark', async () => {
    const { queue, drains } = make(10);
    for (let i = 0; i < 10; i++) queue.push(i);
    assert.equal(queue.full, true);
    await take(queue, 4);
    assert.deepEqual(drains, [], 'still above the low-water mark (5)');
    await take(queue, 1);
    assert.deepEqual(drains, [5]);
    await take(queue, 4);
    assert.deepEqual(drains, [5], 'not again on the way down');
  });

  test('onDrain fires at the low-water mark even when the buffer overshot the high-water mark', async () => {
    const { queue, drains } = make(4);
    for (let i = 0; i < 9; i++) queue.push(i);
    await take(queue, 6);
    assert.deepEqual(drains, []);
    assert.equal(queue.size, 3);
    await take(queue, 1);
    assert.deepEqual(drains, [2]);
  });

  test('a reader waiting on an empty queue asks for more (onDrain)', async () => {
    const { queue, drains } = make(4);
    const pending = queue.next();
    assert.deepEqual(drains, [0]);
    queue.push(7);
    assert.deepEqual(await pending, { value: 7, done: false });
  });

  test('high-water mark of 1: every event fills it, every read drains it', async () => {
    const { queue, drains } = make(1);
    assert.equal(queue.push(1), false);
    assert.equal(queue.full, true);
    await take(queue, 1);
    assert.deepEqual(drains, [0]);
    assert.equal(queue.push(2), false);
    await take(queue, 1);
    assert.deepEqual(drains, [0, 0]);
  });

  test('pushing to a waiting reader hands the event over without buffering', async () => {
    const { queue } = make(2);
    const p = queue.next();
    assert.equal(queue.push(1), true);
    assert.equal(queue.size, 0);
    assert.deepEqual(await p, { value: 1, done: false });
  });

  test('order is kept across a long stream (compaction of the internal array)', async () => {
    const { queue } = make(100_000);
    const n = 5000;
    for (let i = 0; i < n; i++) queue.push(i);
    const got = await take(queue, 3000);
    for (let i = n; i < n + 2000; i++) queue.push(i);
    got.push(...(await take(queue, 4000)));
    assert.deepEqual(
      got,
      Array.from({ length: n + 2000 }, (_, i) => i),
    );
    assert.equal(queue.size, 0);
  });

  test('a pause/resume cycle like the shard does: paused at the high mark, resumed at the low mark', async () => {
    let paused = false;
    const queue: EventQueue<number> = new EventQueue<number>(8, () => {
      paused = false;
    });
    let next = 0;
    const received: number[] = [];
    // The "socket" delivers while not paused; the reader is slower.
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 3 && !paused; i++) if (!queue.push(next++)) paused = true;
      assert.ok(queue.size <= 8, `size ${queue.size} beyond the high-water mark`);
      const r = await queue.next();
      received.push(r.value as number);
    }
    while (queue.size > 0) received.push((await queue.next()).value as number);
    assert.deepEqual(
      received,
      Array.from({ length: next }, (_, i) => i),
    );
  });
});

describe('end()', () => {
  test('pending events are still delivered, then iteration ends', async () => {
    const { queue } = make(10);
    queue.push(1);
    queue.push(2);
    queue.end();
    assert.deepEqual(await queue.next(), { value: 1, done: false });
    assert.deepEqual(await queue.next(), { value: 2, done: false });
    assert.deepEqual(await queue.next(), { value: undefined, done: true });
    assert.deepEqual(await queue.next(), { value: undefined, done: true }, 'stays done');
  });

  test('a waiting reader is released with done', async () => {
    const { queue } = make(10);
    const p = queue.next();
    queue.end();
    assert.deepEqual(await p, { value: undefined, done: true });
  });

  test('end(error): pending events first, then the error, every time', async () => {
    const { queue } = make(10);
    const error = new Error('fatal close 4004');
    queue.push(1);
    queue.end(error);
    assert.deepEqual(await queue.next(), { value: 1, done: false });
    await assert.rejects(queue.next(), (e) => e === error);
    await assert.rejects(queue.next(), (e) => e === error);
  });

  test('end(error) rejects a waiting reader', async () => {
    const { queue } = make(10);
    const p = queue.next();
    const error = new Error('boom');
    queue.end(error);
    await assert.rejects(p, (e) => e === error);
  });

  test('only the first end() counts', async () => {
    const { queue } = make(10);
    queue.end();
    queue.end(new Error('late'));
    assert.deepEqual(await queue.next(), { value: undefined, done: true });

    const second = make(10).queue;
    const error = new Error('first');
    second.end(error);
    second.end();
    await assert.rejects(second.next(), (e) => e === error);
  });

  test('events pushed after end() are ignored', async () => {
    const { queue } = make(2);
    queue.push(1);
    queue.end();
    assert.equal(queue.push(2), true, 'never asks the caller to pause after the end');
    assert.equal(queue.size, 1);
    assert.deepEqual(await take(queue, 1), [1]);
    assert.deepEqual(await queue.next(), { value: undefined, done: true });
  });
});

describe('stop(), release() and clear()', () => {
  test('stop() delivers nothing more, but keeps what is pending and what arrives for find() until clear()', async () => {
    const { queue } = make(10);
    queue.push(1);
    queue.push(2);
    assert.deepEqual(await take(queue, 1), [1]);
    queue.stop();
    let settled = false;
    const waiting = queue.next().then((r) => {
      settled = true;
      return r;
    });
    await tick();
    assert.equal(settled, false, 'a withheld event was delivered');
    queue.push(3);
    assert.equal(queue.pushed, 3);
    assert.equal(queue.taken, 1);
    assert.equal(
      queue.find((n) => n > 2),
      3,
      'an event pushed after stop() is not kept',
    );
    assert.equal(
      queue.find(() => true),
      2,
    );
    queue.clear();
    queue.end();
    assert.deepEqual(await waiting, { value: undefined, done: true });
    queue.push(4);
    assert.equal(
      queue.find(() => true),
      undefined,
      'a cleared queue took another event',
    );
  });

  test('stop(deliver) still delivers the pending events it picks, in order, and withholds the rest', async () => {
    const { queue } = make(10);
    for (const n of [1, 2, 3, 4, 5]) queue.push(n);
    assert.deepEqual(await take(queue, 1), [1]);
    const asked: number[] = [];
    queue.stop((n) => {
      asked.push(n);
      return n % 2 === 0;
    });
    assert.deepEqual(asked, [2, 3, 4, 5], 'each pending event is asked about once, oldest first');
    queue.push(6);
    queue.clear();
    queue.end();
    assert.deepEqual(await take(queue, 2), [2, 4]);
    assert.deepEqual(await queue.next(), { value: undefined, done: true });
    assert.equal(
      queue.find(() => true),
      undefined,
    );
    assert.equal(queue.taken, 3);
  });

  test('release(pick) hands withheld events out after the deliverable ones, a waiting reader first', async () => {
    const { queue } = make(10);
    for (const n of [1, 2, 3]) queue.push(n);
    queue.stop((n) => n === 1);
    assert.deepEqual(await take(queue, 1), [1]);
    const waiting = queue.next();
    queue.push(4);
    queue.push(5);
    queue.release((n) => n !== 3);
    assert.deepEqual(await waiting, { value: 2, done: false });
    assert.equal(
      queue.find(() => true),
      4,
    );
    queue.clear();
    queue.end();
    assert.deepEqual(await take(queue, 2), [4, 5]);
    assert.deepEqual(await queue.next(), { value: undefined, done: true });
    assert.equal(queue.taken, 4);
  });
});

describe('iterator behaviour', () => {
  test('for await reads events as they come and stops at end()', async () => {
    const { queue } = make(4);
    const iterable = { [Symbol.asyncIterator]: () => queue };
    const seen: number[] = [];
    const reader = (async () => {
      for await (const v of iterable) seen.push(v);
    })();
    queue.push(1);
    await tick();
    queue.push(2);
    queue.push(3);
    await tick();
    queue.end();
    await reader;
    assert.deepEqual(seen, [1, 2, 3]);
  });

  test('for await throws the end() error after the last event', async () => {
    const { queue } = make(4);
    const iterable = { [Symbol.asyncIterator]: () => queue };
    const seen: number[] = [];
    queue.push(1);
    queue.end(new RangeError('closed'));
    await assert.rejects(async () => {
      for await (const v of iterable) seen.push(v);
    }, RangeError);
    assert.deepEqual(seen, [1]);
  });

  test('next() on a non-empty queue resolves with the oldest event', async () => {
    const { queue } = make(4);
    queue.push(10);
    queue.push(20);
    const [a, b] = await Promise.all([queue.next(), queue.next()]);
    assert.deepEqual(
      [a, b],
      [
        { value: 10, done: false },
        { value: 20, done: false },
      ],
    );
  });

  test('several next() calls waiting at once each get their own event, in call order', async () => {
    const { queue } = make(4);
    const a = queue.next();
    const b = queue.next();
    const c = queue.next();
    queue.push(1);
    queue.push(2);
    queue.push(3);
    const settled = await Promise.race([Promise.all([a, b, c]), tick().then(() => 'hung' as const)]);
    assert.notEqual(settled, 'hung', 'a reader was left waiting although its event had arrived');
    assert.deepEqual(settled, [
      { value: 1, done: false },
      { value: 2, done: false },
      { value: 3, done: false },
    ]);
  });

  test('several waiting next() calls all settle on end()', async () => {
    const { queue } = make(4);
    const a = queue.next();
    const b = queue.next();
    queue.push(1);
    const c = queue.next();
    queue.end();
    const settled = await Promise.race([Promise.all([a, b, c]), tick().then(() => 'hung' as const)]);
    assert.notEqual(settled, 'hung');
    assert.deepEqual(settled, [
      { value: 1, done: false },
      { value: undefined, done: true },
      { value: undefined, done: true },
    ]);
  });
});

describe('EventQueue memory', () => {
  test('an event handed out is no longer held by the queue', async () => {
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const queue = new EventQueue<object>(10, () => {});
    const refs: WeakRef<object>[] = [];
    // Built in a function so that no variable of the test itself holds an event.
    const pushNew = (i: number) => {
      const event = { i, payload: 'x'.repeat(1000) };
      refs.push(new WeakRef(event));
      queue.push(event);
    };
    const freed = async () => {
      await tick();
      gc();
      return refs.map((r) => r.deref() === undefined);
    };
    // Read while others still wait behind them: those read are free, the waiting ones kept.
    for (let i = 0; i < 5; i++) pushNew(i);
    for (let i = 0; i < 3; i++) await queue.next();
    assert.deepEqual(
      await freed(),
      [true, true, true, false, false],
      'read events kept, or waiting ones lost',
    );
    // And once the queue is empty, nothing is left.
    pushNew(5);
    for (let i = 0; i < 3; i++) await queue.next();
    assert.equal(queue.size, 0);
    assert.deepEqual(await freed(), Array(6).fill(true), 'the queue kept delivered events alive');
  });
});
