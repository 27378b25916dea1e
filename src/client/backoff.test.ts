import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../clock.js';
import { backoffDelay, reidentifyDelay } from './backoff.js';

describe('backoffDelay', () => {
  test('the first attempt is immediate, whatever the random value or options', () => {
    for (const r of [0, 0.5, 0.999999]) {
      assert.equal(backoffDelay(1, r), 0);
      assert.equal(backoffDelay(1, r, { min: 5000, max: 10_000 }), 0);
    }
    assert.equal(backoffDelay(0, 0.5), 0, 'attempt 0 is treated as the first');
    assert.equal(backoffDelay(-3, 0.5), 0);
  });

  test('the nominal delay doubles from min (default 1 s) up to max (default 60 s)', () => {
    // With random pinned just under 1 the delay is (almost) the nominal one.
    const nominal = [2, 3, 4, 5, 6, 7, 8, 9, 10].map((a) => backoffDelay(a, 1 - Number.EPSILON));
    assert.deepEqual(nominal, [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  test('equal jitter: each delay is drawn from the upper half of the nominal delay', () => {
    assert.equal(backoffDelay(2, 0), 500);
    assert.equal(backoffDelay(2, 0.5), 750);
    assert.equal(backoffDelay(3, 0), 1000);
    assert.equal(backoffDelay(3, 0.25), 1250);
    assert.equal(backoffDelay(8, 0), 30_000);
    assert.equal(backoffDelay(8, 0.5), 45_000);
    for (let attempt = 2; attempt < 40; attempt++) {
      const nominal = Math.min(60_000, 1000 * 2 ** (attempt - 2));
      for (let i = 0; i <= 100; i++) {
        const r = Math.min(i / 100, 1 - Number.EPSILON);
        const d = backoffDelay(attempt, r);
        assert.ok(
          d >= nominal / 2 && d <= nominal,
          `attempt ${attempt}, random ${r}: ${d} not in [${nominal / 2}, ${nominal}]`,
        );
        assert.ok(Number.isInteger(d), 'whole milliseconds');
      }
    }
  });

  test('the delay grows monotonically with the attempt for a fixed random value', () => {
    for (const r of [0, 0.3, 0.9]) {
      let previous = -1;
      for (let attempt = 1; attempt < 30; attempt++) {
        const d = backoffDelay(attempt, r);
        assert.ok(d >= previous, `attempt ${attempt} shorter than the one before`);
        previous = d;
      }
    }
  });

  test('custom min and max', () => {
    const opts = { min: 250, max: 2000 };
    assert.deepEqual(
      [2, 3, 4, 5, 6, 7].map((a) => backoffDelay(a, 0, opts)),
      [125, 250, 500, 1000, 1000, 1000],
    );
    assert.equal(backoffDelay(6, 1 - Number.EPSILON, opts), 2000);
  });

  test('huge attempt numbers stay at the cap instead of overflowing', () => {
    for (const attempt of [50, 1000, 1e9, Number.MAX_SAFE_INTEGER]) {
      assert.equal(backoffDelay(attempt, 0), 30_000);
      assert.equal(backoffDelay(attempt, 1 - Number.EPSILON), 60_000);
    }
  });

  test('a schedule driven through ManualClock.random() spreads shards apart', () => {
    const clock = new ManualClock();
    clock.setRandom(0, 0.25, 0.5, 0.75);
    const delays = [1, 2, 3, 4].map(() => backoffDelay(3, clock.random()));
    assert.deepEqual(delays, [1000, 1250, 1500, 1750]);
    assert.equal(new Set(delays).size, 4);
  });
});

describe('reidentifyDelay', () => {
  test('is a random wait of 1 to 5 seconds', () => {
    assert.equal(reidentifyDelay(0), 1000);
    assert.equal(reidentifyDelay(0.5), 3000);
    assert.equal(reidentifyDelay(0.25), 2000);
    for (let i = 0; i < 1000; i++) {
      const r = Math.min(i / 1000, 1 - Number.EPSILON);
      const d = reidentifyDelay(r);
      assert.ok(d >= 1000 && d <= 5000, `${d} outside 1–5 s`);
      assert.ok(Number.isInteger(d));
    }
    assert.ok(reidentifyDelay(1 - Number.EPSILON) <= 5000);
  });

  test('is monotonic in the random value, so pinned values give distinct waits', () => {
    let previous = 0;
    for (let i = 0; i < 100; i++) {
      const d = reidentifyDelay(i / 100);
      assert.ok(d > previous);
      previous = d;
    }
  });
});
