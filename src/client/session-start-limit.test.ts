import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../clock.js';
import { LocalIdentifyQueue } from './identify-queue.js';

test('a session start limit of 3 stops before the last start and waits for the reset', async () => {
  const clock = new ManualClock();
  const warnings: string[] = [];
  const queue = new LocalIdentifyQueue({
    maxConcurrency: 4,
    sessionStartLimit: { total: 3, remaining: 3, reset_after: 60_000 },
    clock,
    logger: { debug() {}, info() {}, warn: (m) => warnings.push(m), error() {} },
  });
  const released: Array<[number, number]> = [];
  const all = [0, 1, 2, 3].map((id) => queue.enqueue(id).then(() => released.push([id, clock.now()])));
  await new Promise((r) => setImmediate(r));
  await clock.advanceAsync(10, 1);
  // Three starts: two spent, one kept so the token is never reset.
  assert.deepEqual(released, [
    [0, 0],
    [1, 0],
  ]);
  assert.deepEqual(queue.sessionStartLimit, { total: 3, remaining: 1, resetIn: 59_990, exhausted: true });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /1 of 3 left.*wait 60 s for the reset/);
  await clock.advanceAsync(59_989, 1000);
  assert.equal(released.length, 2, 'released before the reset');
  await clock.advanceAsync(2, 1);
  await Promise.all(all);
  assert.deepEqual(released.slice(2), [
    [2, 60_000],
    [3, 60_000],
  ]);
  assert.equal(queue.sessionStartLimit!.remaining, 1);
});

test('update() with fresh numbers releases waiters held for the reset', async () => {
  const clock = new ManualClock();
  const queue = new LocalIdentifyQueue({
    sessionStartLimit: { total: 1000, remaining: 1, reset_after: 3_600_000 },
    clock,
  });
  let released = false;
  const p = queue.enqueue(0).then(() => (released = true));
  await clock.advanceAsync(100, 10);
  assert.equal(released, false);
  queue.update({ total: 1000, remaining: 1000, reset_after: 86_400_000 });
  await clock.advanceAsync(1, 1);
  await p;
  assert.equal(released, true);
  assert.equal(queue.sessionStartLimit!.remaining, 999);
});

test('invalid session start limits are refused', () => {
  assert.throws(
    () => new LocalIdentifyQueue({ sessionStartLimit: { total: 10, remaining: -1, reset_after: 0 } }),
    /remaining/,
  );
});

test('reading the limit after its reset shows the new window, the same on every read', () => {
  const clock = new ManualClock();
  const queue = new LocalIdentifyQueue({
    sessionStartLimit: { total: 1000, remaining: 1, reset_after: 60_000 },
    clock,
  });
  assert.equal(queue.sessionStartLimit!.exhausted, true);
  clock.advance(60_000);
  const fresh = { total: 1000, remaining: 1000, resetIn: 24 * 60 * 60 * 1000, exhausted: false };
  assert.deepEqual(queue.sessionStartLimit, fresh);
  assert.deepEqual(queue.sessionStartLimit, fresh);
  assert.equal(queue.progress.startLimitResetIn, null);
});
