import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../clock.js';
import { SEND_LIMIT, SEND_WINDOW_MS } from '../protocol/opcodes.js';
import { RateLimiter, reservedSlots } from './ratelimiter.js';

/** Sends while allowed; returns how many went out. */
function drain(limiter: RateLimiter, priority: boolean): number {
  let n = 0;
  while (limiter.delay(priority) === 0) {
    limiter.record(priority);
    n++;
    assert.ok(n <= 10_000, 'runaway');
  }
  return n;
}

describe('RateLimiter defaults', () => {
  test('120 per 60 s, 5 reserved until Hello', () => {
    const limiter = new RateLimiter(new ManualClock());
    assert.deepEqual(limiter.state, {
      available: SEND_LIMIT - 5,
      nextReleaseIn: 0,
      reserved: 5,
      limit: 120,
      windowMs: 60_000,
    });
    assert.equal(SEND_LIMIT, 120);
    assert.equal(SEND_WINDOW_MS, 60_000);
  });

  test('commands get limit − reserved, priority sends the rest, then nothing', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(clock);
    assert.equal(drain(limiter, false), 115);
    assert.equal(limiter.state.available, 0);
    assert.equal(drain(limiter, true), 5);
    assert.ok(limiter.delay(true) > 0);
    assert.ok(limiter.delay(false) > 0);
    assert.throws(() => limiter.record(true), /past the rate limit/);
    assert.throws(() => limiter.record(false), /past the rate limit/);
  });
});

describe('sliding window', () => {
  test('a send leaves the window exactly windowMs after it happened', () => {
    const clock = new ManualClock(1000);
    const limiter = new RateLimiter(clock, { limit: 3, windowMs: 1000, reserved: 0 });
    limiter.record(false); // t=1000
    clock.advance(100);
    limiter.record(false); // t=1100
    clock.advance(100);
    limiter.record(false); // t=1200
    assert.equal(limiter.delay(false), 800);
    clock.advance(799);
    assert.equal(limiter.delay(false), 1);
    clock.advance(1);
    assert.equal(limiter.delay(false), 0, 'the first send is now exactly one window old');
    limiter.record(false); // t=2000
    assert.equal(limiter.delay(false), 100, 'next to leave is the send at 1100');
    clock.advance(100);
    assert.equal(limiter.delay(false), 0);
  });

  test('delay() for commands waits for enough sends to leave when priority sends overshot the command cap', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(clock, { limit: 10, windowMs: 1000, reserved: 3 });
    for (let i = 0; i < 10; i++) {
      limiter.record(true); // priority sends at t = 0, 10, …, 90
      clock.advance(10);
    }
    // t = 100: 10 in the window, the command cap is 7, so 4 must leave: the 4th oldest was at 30.
    assert.equal(limiter.delay(false), 30 + 1000 - 100);
    // A priority send needs just one slot: the oldest, at 0.
    assert.equal(limiter.delay(true), 0 + 1000 - 100);
    assert.equal(limiter.state.available, 0);
    assert.equal(limiter.state.nextReleaseIn, 930);
    clock.advance(900);
    assert.equal(limiter.delay(true), 0);
    assert.equal(limiter.delay(false), 30);
  });

  test('state: available counts down with every send and comes back as sends age out', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(clock, { limit: 5, windowMs: 1000, reserved: 1 });
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      seen.push(limiter.state.available);
      limiter.record(false);
      clock.advance(100);
    }
    seen.push(limiter.state.available);
    assert.deepEqual(seen, [4, 3, 2, 1, 0]);
    // t = 400; sends at 0, 100, 200, 300.
    assert.equal(limiter.state.nextReleaseIn, 600);
    limiter.record(true); // the reserved slot
    assert.equal(limiter.state.available, 0, 'never negative');
    clock.advance(600); // t = 1000: the send at 0 left; 4 remain, cap 4
    assert.equal(limiter.state.available, 0);
    assert.equal(limiter.state.nextReleaseIn, 100);
    clock.advance(100); // t = 1100: the send at 100 left too
    assert.equal(limiter.state.available, 1);
    assert.equal(limiter.state.nextReleaseIn, 0);
    clock.advance(10_000);
    assert.equal(limiter.state.available, 4);
  });

  test('never more than the limit in any window, and commands never eat the reserve (randomised)', () => {
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let round = 0; round < 20; round++) {
      const clock = new ManualClock();
      const limit = 5 + Math.floor(random() * 120);
      const windowMs = 500 + Math.floor(random() * 60_000);
      const reserved = Math.floor(random() * limit);
      const limiter = new RateLimiter(clock, { limit, windowMs, reserved });
      const sends: Array<{ at: number; priority: boolean }> = [];
      for (let step = 0; step < 3000; step++) {
        const priority = random() < 0.2;
        const wait = limiter.delay(priority);
        assert.ok(wait >= 0);
        if (wait === 0 && random() < 0.9) {
          limiter.record(priority);
          sends.push({ at: clock.now(), priority });
        } else if (wait > 0 && random() < 0.5) {
          clock.advance(wait);
          assert.equal(limiter.delay(priority), 0, 'delay() was not enough');
          clock.advance(0);
        } else {
          clock.advance(Math.floor(random() * windowMs * 0.05));
        }
      }
      const cap = limit - Math.min(reserved, limit - 1);
      for (let i = 0; i < sends.length; i++) {
        // Every half-open window (t − windowMs, t] ending on a send.
        const end = sends[i]!.at;
        const inWindow = sends.slice(0, i + 1).filter((s) => s.at > end - windowMs);
        assert.ok(inWindow.length <= limit, `${inWindow.length} sends within ${windowMs} ms, limit ${limit}`);
        if (!sends[i]!.priority) {
          assert.ok(
            inWindow.length <= cap,
            `a command was the ${inWindow.length}th send, command cap ${cap}`,
          );
        }
      }
    }
  });

  test('delay() is exact: one ms earlier is still too early', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(clock, { limit: 4, windowMs: 1000, reserved: 1 });
    for (const gap of [0, 250, 100, 7]) {
      clock.advance(gap);
      if (limiter.delay(false) === 0) limiter.record(false);
      else limiter.record(true);
    }
    // Sends at 0, 250, 350 (commands) and 357 (priority: the command cap of 3 was reached).
    assert.equal(limiter.delay(true), 1000 - 357);
    const wait = limiter.delay(false);
    clock.advance(wait - 1);
    assert.equal(limiter.delay(false), 1);
    clock.advance(1);
    assert.equal(limiter.delay(false), 0);
  });
});

describe('reserved slots', () => {
  test('reservedSlots covers a window of beats, the jittered first beat, two server requests and identify/resume', () => {
    assert.equal(reservedSlots(41_250), 2 + 1 + 2 + 1);
    assert.equal(reservedSlots(45_000), 6);
    assert.equal(reservedSlots(60_000), 1 + 4);
    assert.equal(reservedSlots(30_000), 2 + 4);
    assert.equal(reservedSlots(29_999), 3 + 4);
    assert.equal(reservedSlots(1000), 60 + 4);
    assert.equal(reservedSlots(1000, 10_000), 10 + 4);
  });

  test('at the real interval, a window of heartbeats always fits beside a full command load', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(clock);
    limiter.setReserved(reservedSlots(41_250));
    // Commands as fast as allowed, heartbeats on schedule: no heartbeat may ever wait.
    let nextBeat = 0;
    for (let t = 0; t < 10 * 60_000; t += 50) {
      clock.advance(t - clock.now());
      if (t >= nextBeat) {
        assert.equal(limiter.delay(true), 0, `heartbeat at ${t} would wait`);
        limiter.record(true);
        nextBeat += 41_250;
      }
      if (limiter.delay(false) === 0) limiter.record(false);
    }
  });

  test('setReserved never reserves the whole budget', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(clock, { limit: 10, windowMs: 1000 });
    limiter.setReserved(64);
    assert.equal(limiter.state.reserved, 9);
    assert.equal(drain(limiter, false), 1, 'one command slot always remains');
    assert.equal(new RateLimiter(clock, { limit: 3, reserved: 50 }).state.reserved, 2);
  });

  test('setReserved takes effect for sends already in the window', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(clock, { limit: 10, windowMs: 1000, reserved: 0 });
    for (let i = 0; i < 6; i++) limiter.record(false);
    assert.equal(limiter.state.available, 4);
    limiter.setReserved(6);
    assert.equal(limiter.state.available, 0);
    assert.ok(limiter.delay(false) > 0);
    assert.equal(limiter.delay(true), 0);
  });
});
