/**
 * The pretty view, without a terminal: the table and startup line rendered from a state, event lines,
 * line fitting around escape sequences, the in-place redraw and the rate meter.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  describeEvent,
  fit,
  formatEvent,
  LiveView,
  progressLine,
  RateMeter,
  renderView,
  type ShardView,
  type ViewState,
  visibleLength,
} from '../../src/cli/pretty.js';
import type { Dispatch } from '../../src/index.js';

function shard(id: number, over: Partial<ShardView> = {}): ShardView {
  return {
    id,
    status: 'active',
    latency: 42.4,
    rate: 12.5,
    events: 1234,
    lastEvent: { t: 'MESSAGE_CREATE', ago: 300 },
    reconnectIn: null,
    errorCode: null,
    ...over,
  };
}

function state(shards: ShardView[], progress: Partial<ViewState['progress']> = {}): ViewState {
  return {
    shards,
    progress: {
      ready: shards.filter((s) => s.status === 'active').length,
      total: shards.length,
      waiting: 0,
      nextBucketIn: null,
      startLimitResetIn: null,
      ...progress,
    },
    totalEvents: 5678,
    totalRate: 25,
    uptime: 12,
  };
}

describe('renderView', () => {
  test('one row per shard with state, latency, rate, count and last event', () => {
    const lines = renderView(
      state([
        shard(0),
        shard(1, { status: 'identifying', latency: null, rate: 0, events: 0, lastEvent: null }),
        shard(2, { status: 'disconnected', reconnectIn: 2500 }),
        shard(3, { status: 'fatally-closed', errorCode: 4014 }),
      ]),
      { width: 120, maxRows: 20, color: false },
    );
    assert.equal(lines.length, 6);
    assert.match(lines[0]!, /^dusk · 1\/4 ready · 5,678 events · 25\.0\/s · up 12\.0 s$/);
    assert.match(lines[1]!, /^shard\s+state\s+latency\s+events\/s\s+events\s+last event$/);
    assert.match(lines[2]!, /^#0\s+active\s+42 ms\s+12\.5\/s\s+1,234\s+MESSAGE_CREATE 300 ms ago$/);
    assert.match(lines[3]!, /^#1\s+identifying\s+–\s+0\.0\/s\s+0\s+–$/);
    assert.match(lines[4]!, /^#2\s+retry in 2\.5 s/);
    assert.match(lines[5]!, /^#3\s+fatal 4014/);
  });

  test('shards beyond the rows available are summarized by state', () => {
    const shards = Array.from({ length: 64 }, (_, i) => shard(i, i < 12 ? {} : { status: 'identifying' }));
    const lines = renderView(state(shards), { width: 120, maxRows: 10, color: false });
    assert.equal(lines.length, 2 + 10);
    assert.match(lines.at(-1)!, /^… 55 more shards: 3 active, 52 identifying$/);
  });

  test('lines never exceed the width, with or without color', () => {
    for (const color of [false, true]) {
      const lines = renderView(state([shard(0), shard(1)], { waiting: 3, nextBucketIn: 3200 }), {
        width: 40,
        maxRows: 5,
        color,
      });
      for (const line of lines) assert.ok(visibleLength(line) <= 40, line);
    }
  });
});

describe('progressLine', () => {
  test('startup while shards wait for their identify bucket', () => {
    const p = { ready: 12, total: 64, waiting: 0, nextBucketIn: null, startLimitResetIn: null };
    assert.equal(progressLine(p), '12/64 ready');
    assert.equal(
      progressLine({ ...p, waiting: 48, nextBucketIn: 3240 }),
      '12/64 ready, 48 waiting to identify, next bucket in 3.2 s',
    );
    assert.equal(
      progressLine({ ...p, waiting: 4, nextBucketIn: 0 }),
      '12/64 ready, 4 waiting to identify, identifying now',
    );
    assert.equal(
      progressLine({ ...p, waiting: 4, nextBucketIn: 0, startLimitResetIn: 7_200_000 }),
      '12/64 ready, 4 waiting to identify, daily session starts used up, identifying again in 2.0 h',
    );
  });
});

describe('event lines', () => {
  const message = {
    t: 'MESSAGE_CREATE',
    s: 7,
    op: 0,
    shardId: 3,
    d: {
      id: '1',
      channel_id: '42',
      author: { id: '9', username: 'ada', global_name: 'Ada' },
      content: 'hi\nthere',
    },
  } as unknown as Dispatch;

  test('a readable line per event', () => {
    assert.equal(
      formatEvent(message, false, new Date('2025-01-01T12:03:04.123Z')),
      '12:03:04.123 #3   MESSAGE_CREATE         Ada in 42: hi there',
    );
    assert.equal(
      describeEvent({ t: 'MESSAGE_CREATE', d: { author: { username: 'bob' }, content: '' } } as never),
      'bob: (no content: needs MESSAGE_CONTENT)',
    );
    assert.equal(
      describeEvent({ t: 'GUILD_CREATE', d: { name: 'Otters', member_count: 12 } } as never),
      'Otters (12 members)',
    );
    assert.equal(
      describeEvent({ t: 'PRESENCE_UPDATE', d: { user: { id: '5' }, status: 'idle' } } as never),
      '5 is idle',
    );
    assert.equal(describeEvent({ t: 'SOMETHING_NEW', d: { guild_id: '8' } } as never), 'guild 8');
    assert.equal(describeEvent({ t: 'SOMETHING_NEW', d: null } as never), '');
  });

  test('fit cuts visible characters only and closes the style', () => {
    assert.equal(fit('abcdef', 10), 'abcdef');
    assert.equal(fit('abcdef', 4), 'abc…');
    const colored = '\x1b[32mabcdef\x1b[0m';
    const cut = fit(colored, 4);
    assert.equal(visibleLength(cut), 4);
    assert.ok(cut.startsWith('\x1b[32mabc'));
    assert.ok(cut.endsWith('\x1b[0m'));
  });
});

describe('LiveView', () => {
  test('redraws the table in place, with event lines printed above it', () => {
    const writes: string[] = [];
    let events = 0;
    const stream = { columns: 100, rows: 30, write: (s: string) => writes.push(s) };
    const view = new LiveView(stream, () => ({ ...state([shard(0), shard(1)]), totalEvents: events }), {
      color: false,
      maxEventsPerFrame: 2,
    });
    view.draw();
    assert.ok(!writes[0]!.startsWith('\x1b['), 'nothing to erase on the first frame');
    assert.equal(writes[0]!.split('\n').length - 1, 4, 'header, column names, two shards');

    view.line('event one');
    view.line('event two');
    view.line('event three');
    events = 3;
    view.draw();
    const frame = writes[1]!;
    assert.ok(frame.startsWith('\x1b[4A\r\x1b[J'), 'moves up over the 4 table lines and clears');
    const body = frame.slice('\x1b[4A\r\x1b[J'.length).split('\n');
    assert.deepEqual(body.slice(0, 3), ['event one', 'event two', '  … and 1 more events']);
    assert.match(body[3]!, /3 events/);
  });

  test('start hides the cursor and stop gives it back after a last frame', () => {
    const writes: string[] = [];
    const view = new LiveView({ write: (s: string) => writes.push(s) }, () => state([shard(0)]), {
      color: false,
    });
    view.start();
    view.stop();
    assert.equal(writes[0], '\x1b[?25l');
    assert.equal(writes.at(-1), '\x1b[?25h');
    assert.match(writes.at(-2)!, /#0\s+active/);
  });
});

describe('RateMeter', () => {
  test('events per second over the window', () => {
    const meter = new RateMeter(5000);
    assert.equal(meter.sample(0, 0), 0);
    assert.equal(meter.sample(1000, 10), 10);
    assert.equal(meter.sample(2000, 30), 15);
    // Older samples fall out of the window.
    for (let t = 3000; t <= 10_000; t += 1000) meter.sample(t, 30 + (t - 2000) / 100);
    assert.equal(meter.sample(11_000, 120), 10);
  });
});
