import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../clock.js';
import { Heartbeater, Latency } from './heartbeat.js';

const INTERVAL = 41_250;

/** A fake connection: records what the heartbeater sends and when, like the shard does. */
function harness(options: { interval?: number; random?: number[]; start?: number } = {}) {
  const clock = new ManualClock(options.start ?? 0);
  if (options.random) clock.setRandom(...options.random);
  const sent: Array<{ at: number; op: 1; d: number | null }> = [];
  const state = { seq: null as number | null, zombies: [] as number[], paused: false };
  const latency = new Latency();
  const hb = new Heartbeater(clock, options.interval ?? INTERVAL, {
    beat: () => {
      sent.push({ at: clock.now(), op: 1, d: state.seq });
      latency.sent(clock.now());
    },
    zombie: () => state.zombies.push(clock.now()),
    get paused() {
      return state.paused;
    },
  });
  /** The server sends something (any message counts for liveness). */
  const receive = (message: { op: number; s?: number | null }) => {
    hb.heard();
    if (message.op === 0 && typeof message.s === 'number') state.seq = Math.max(state.seq ?? 0, message.s);
    if (message.op === 11) latency.acked(clock.now());
    if (message.op === 1) hb.requested();
  };
  return { clock, hb, sent, state, latency, receive, beats: () => sent.map((b) => b.at) };
}

describe('Heartbeater schedule', () => {
  test('the first beat goes out at interval × random(), then every interval', () => {
    const h = harness({ random: [0.25] });
    h.hb.start();
    const first = Math.floor(INTERVAL * 0.25);
    h.clock.advance(first - 1);
    assert.deepEqual(h.beats(), [], 'nothing before the jittered first beat');
    h.clock.advance(1);
    assert.deepEqual(h.beats(), [first]);
    for (let i = 1; i <= 5; i++) {
      h.clock.advance(10);
      h.receive({ op: 11 });
      h.clock.advance(INTERVAL - 10);
    }
    assert.deepEqual(
      h.beats(),
      [0, 1, 2, 3, 4, 5].map((i) => first + i * INTERVAL),
    );
  });

  test('start() draws exactly one random value from the clock', () => {
    const h = harness({ random: [0.9, 0.1] });
    h.hb.start();
    assert.equal(h.clock.random(), 0.1, 'the second queued value is still there');
    h.clock.advance(Math.floor(INTERVAL * 0.9));
    assert.equal(h.sent.length, 1);
  });

  test('random() = 0 beats at once; random() just below 1 beats just before one interval', () => {
    const a = harness({ random: [0] });
    a.hb.start();
    a.clock.advance(0);
    assert.deepEqual(a.beats(), [0]);

    const b = harness({ random: [0.999999], interval: 1000 });
    b.hb.start();
    b.clock.advance(998);
    assert.deepEqual(b.beats(), []);
    b.clock.advance(1);
    assert.deepEqual(b.beats(), [999]);
  });

  test('shards started together with different random values spread their first beats', () => {
    const randoms = [0.1, 0.4, 0.7];
    const firsts = randoms.map((r) => {
      const h = harness({ random: [r] });
      h.hb.start();
      h.clock.advance(INTERVAL);
      return h.beats()[0];
    });
    assert.deepEqual(
      firsts,
      randoms.map((r) => Math.floor(INTERVAL * r)),
    );
    assert.deepEqual(firsts, [4125, 16_500, 28_874]);
  });

  test('each beat carries the last sequence number received, or null before any', () => {
    const h = harness({ random: [0], interval: 1000 });
    h.hb.start();
    h.clock.advance(0);
    h.receive({ op: 11 });
    h.receive({ op: 0, s: 1 });
    h.receive({ op: 0, s: 2 });
    h.clock.advance(1000);
    h.receive({ op: 11 });
    h.receive({ op: 10 }); // s: null messages change nothing
    h.clock.advance(1000);
    h.receive({ op: 0, s: 7 });
    h.clock.advance(1000);
    assert.deepEqual(
      h.sent.map((b) => b.d),
      [null, 2, 2, 7],
    );
  });

  test('interval is exposed as given', () => {
    assert.equal(harness({ interval: 1234 }).hb.interval, 1234);
  });
});

describe('zombie detection', () => {
  test('nothing at all received since the previous beat: zombie instead of the next beat', () => {
    const h = harness({ random: [0.5], interval: 1000 });
    h.hb.start();
    h.clock.advance(500);
    assert.deepEqual(h.beats(), [500], 'the first beat needs no proof of life: Hello was just received');
    h.clock.advance(1000);
    assert.deepEqual(h.state.zombies, [1500]);
    assert.deepEqual(h.beats(), [500], 'no beat is sent on a zombie connection');
    assert.equal(h.clock.pending, 0, 'the schedule stopped');
    h.clock.advance(10_000);
    assert.deepEqual(h.state.zombies, [1500], 'reported once');
    assert.equal(h.sent.length, 1);
  });

  test('an ACK, a dispatch, or any other message counts as liveness', () => {
    for (const message of [{ op: 11 }, { op: 0, s: 3 }, { op: 7 }, { op: 9 }, { op: 99 }]) {
      const h = harness({ random: [0], interval: 1000 });
      h.hb.start();
      h.clock.advance(0);
      h.clock.advance(999);
      h.receive(message);
      h.clock.advance(1);
      assert.deepEqual(h.state.zombies, [], `op ${message.op} not taken for liveness`);
      assert.deepEqual(h.beats(), [0, 1000]);
    }
  });

  test('a late ACK is fine as long as something else arrived', () => {
    const h = harness({ random: [0], interval: 1000 });
    h.hb.start();
    for (let i = 0; i < 10; i++) {
      h.clock.advance(500);
      h.receive({ op: 0, s: i + 1 }); // a stream of dispatches, never an ACK
      h.clock.advance(500);
    }
    assert.deepEqual(h.state.zombies, []);
    assert.equal(h.sent.length, 11);
  });

  test('a message received before the previous beat does not count for the next one', () => {
    const h = harness({ random: [0], interval: 1000 });
    h.hb.start();
    h.clock.advance(999);
    h.receive({ op: 0, s: 1 }); // heard at 999, then the beat at 1000 consumes it
    h.clock.advance(1);
    assert.deepEqual(h.beats(), [0, 1000]);
    h.clock.advance(1000);
    assert.deepEqual(h.state.zombies, [2000]);
  });

  test('one silent interval after a long healthy run is enough', () => {
    const h = harness({ random: [0], interval: 1000 });
    h.hb.start();
    h.clock.advance(0);
    for (let i = 0; i < 20; i++) {
      h.clock.advance(40);
      h.receive({ op: 11 });
      h.clock.advance(960);
    }
    assert.deepEqual(h.state.zombies, []);
    h.clock.advance(1000);
    assert.deepEqual(h.state.zombies, [21_000]);
  });

  test('silence while the socket is paused for backpressure is not a zombie; beats continue', () => {
    const h = harness({ random: [0], interval: 1000 });
    h.hb.start();
    h.clock.advance(0);
    h.state.paused = true;
    h.clock.advance(5000);
    assert.deepEqual(h.state.zombies, []);
    assert.deepEqual(h.beats(), [0, 1000, 2000, 3000, 4000, 5000]);
    h.state.paused = false;
    h.clock.advance(1000);
    assert.deepEqual(h.state.zombies, [6000], 'silence after unpausing is a zombie again');
  });

  test('stop() ends the schedule: no beat, no zombie', () => {
    const h = harness({ random: [0.5], interval: 1000 });
    h.hb.start();
    h.clock.advance(500);
    h.hb.stop();
    assert.equal(h.clock.pending, 0);
    h.clock.advance(10_000);
    assert.deepEqual(h.beats(), [500]);
    assert.deepEqual(h.state.zombies, []);
  });

  test('stop() before the first beat', () => {
    const h = harness({ random: [0.5], interval: 1000 });
    h.hb.start();
    h.hb.stop();
    h.clock.advance(10_000);
    assert.deepEqual(h.beats(), []);
  });
});

describe('server heartbeat request (op 1)', () => {
  test('is answered at once, carrying the last sequence', () => {
    const h = harness({ random: [0.5], interval: 1000 });
    h.hb.start();
    h.clock.advance(100);
    h.receive({ op: 0, s: 41 });
    h.receive({ op: 1 });
    assert.deepEqual(h.sent, [{ at: 100, op: 1, d: 41 }]);
  });

  test('does not move the schedule', () => {
    const h = harness({ random: [0.5], interval: 1000 });
    h.hb.start();
    h.clock.advance(300);
    h.receive({ op: 1 });
    h.clock.advance(200);
    h.receive({ op: 11 });
    h.clock.advance(700);
    h.receive({ op: 1 });
    h.receive({ op: 11 });
    h.clock.advance(800);
    assert.deepEqual(h.beats(), [300, 500, 1200, 1500]);
    assert.deepEqual(h.state.zombies, []);
  });

  test('does not count as liveness by itself, nor spend the liveness already seen', () => {
    // requested() without heard(): the beat sent is ours, not proof the server is there.
    const a = harness({ random: [0], interval: 1000 });
    a.hb.start();
    a.clock.advance(0);
    a.clock.advance(500);
    a.hb.requested();
    a.clock.advance(500);
    assert.deepEqual(a.state.zombies, [1000]);

    // heard() then requested(): the liveness seen before the request still counts.
    const b = harness({ random: [0], interval: 1000 });
    b.hb.start();
    b.clock.advance(0);
    b.clock.advance(400);
    b.hb.heard();
    b.clock.advance(100);
    b.hb.requested();
    b.clock.advance(500);
    assert.deepEqual(b.state.zombies, []);
    assert.deepEqual(b.beats(), [0, 500, 1000]);
  });

  test('is answered before the first scheduled beat too, and ignored after stop()', () => {
    const h = harness({ random: [0.9], interval: 1000 });
    h.hb.start();
    h.hb.requested();
    assert.deepEqual(h.beats(), [0]);
    h.hb.stop();
    h.hb.requested();
    assert.deepEqual(h.beats(), [0]);
  });
});

describe('Latency', () => {
  test('empty before any ACK', () => {
    const stats = new Latency().stats;
    assert.ok(Number.isNaN(stats.average));
    assert.deepEqual(stats.recent, []);
    assert.equal(stats.lastSent, null);
    assert.equal(stats.lastAck, null);
  });

  test('round trip from send to ACK', () => {
    const l = new Latency();
    l.sent(100);
    assert.equal(l.stats.lastSent, 100);
    assert.ok(Number.isNaN(l.stats.average), 'no sample before the ACK');
    l.acked(142);
    assert.deepEqual(l.stats, { average: 42, recent: [42], lastSent: 100, lastAck: 142 });
    l.sent(1000);
    l.acked(1010);
    assert.deepEqual(l.stats.recent, [42, 10]);
    assert.equal(l.stats.average, 26);
  });

  test('beats sent while one is unanswered are measured from the first unanswered one', () => {
    const l = new Latency();
    l.sent(0);
    l.sent(500); // a server-requested beat
    l.acked(700);
    assert.deepEqual(l.stats.recent, [700]);
    assert.equal(l.stats.lastSent, 500);
  });

  test('an ACK with nothing outstanding updates lastAck but adds no sample', () => {
    const l = new Latency();
    l.sent(0);
    l.acked(30);
    l.acked(90);
    assert.deepEqual(l.stats.recent, [30]);
    assert.equal(l.stats.lastAck, 90);
  });

  test('keeps the 10 most recent samples', () => {
    const l = new Latency();
    for (let i = 1; i <= 15; i++) {
      l.sent(i * 1000);
      l.acked(i * 1000 + i);
    }
    assert.deepEqual(l.stats.recent, [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    assert.equal(l.stats.average, 10.5);
  });

  test('reset() forgets an unanswered beat of the old connection', () => {
    const l = new Latency();
    l.sent(0);
    l.reset();
    l.acked(60_000);
    assert.deepEqual(l.stats.recent, []);
    l.sent(61_000);
    l.acked(61_020);
    assert.deepEqual(l.stats.recent, [20]);
  });

  test('stats are a snapshot', () => {
    const l = new Latency();
    l.sent(0);
    l.acked(5);
    const stats = l.stats;
    (stats.recent as number[]).push(1000);
    assert.deepEqual(l.stats.recent, [5]);
  });

  test('heartbeater and latency together under a manual clock', () => {
    const h = harness({ random: [0], interval: 1000 });
    h.hb.start();
    h.clock.advance(0);
    for (const rtt of [20, 35, 50]) {
      h.clock.advance(rtt);
      h.receive({ op: 11 });
      h.clock.advance(1000 - rtt);
    }
    const stats = h.latency.stats;
    assert.deepEqual(stats.recent, [20, 35, 50]);
    assert.equal(stats.average, 35);
    assert.equal(stats.lastSent, 3000);
    assert.equal(stats.lastAck, 2050);
  });
});
