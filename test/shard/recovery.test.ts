/**
 * Everything that can end a connection, and the proof that none of it loses or duplicates an event:
 * drops, op 7, op 9, zombies, corrupt frames, invalid JSON, every close code, and a saved session
 * resumed by a new process.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { inspect } from 'node:util';
import { SAVE_EVERY_MS } from '../../src/client/shard.js';
import type { Emulator } from '../../src/emulator/index.js';
import {
  consoleLogger,
  type Dispatch,
  GatewayCloseError,
  ManualClock,
  MemorySessionStore,
  type SessionInfo,
} from '../../src/index.js';
import { assertExactlyOnce, collect, readToEnd, shardFor, startEmulator, TOKEN, until } from './harness.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator();
});
after(() => emu.close());

/** Runs `fault` against a live shard with traffic, and checks nothing was lost or duplicated. */
async function survives(
  fault: (sessionId: string) => void,
  expect: 'resume' | 'identify',
  compress?: 'zlib-stream',
) {
  const shard = shardFor(emu, compress ? { compress } : {});
  const events = collect(shard);
  await shard.connect();
  const first = shard.session!.sessionId;
  await emu.burst(first, 200);
  const before = emu.counters;
  const resumed = new Promise<void>((resolve) =>
    shard.once(expect === 'resume' ? 'resumed' : 'ready', () => resolve()),
  );
  fault(first);
  // Events keep happening while the shard is away.
  for (let i = 0; i < 20; i++)
    emu.dispatch('TYPING_START', { channel_id: '1', user_id: '2', timestamp: 1 }, { session: first });
  await resumed;
  const sessions = expect === 'resume' ? [first] : [first, shard.session!.sessionId];
  if (expect === 'resume') {
    assert.equal(shard.session!.sessionId, first);
    assert.equal(emu.counters.resumes, before.resumes + 1);
  } else {
    assert.notEqual(shard.session!.sessionId, first);
  }
  await emu.burst(shard.session!.sessionId, 100);
  const total = () => sessions.reduce((n, id) => n + emu.session(id)!.log().length, 0);
  await until(() => events.length >= total(), 'all events');
  assertExactlyOnce(emu, events, sessions);
  await shard.close();
}

test('a dropped TCP connection is resumed with no lost event', () =>
  survives((id) => emu.fault(id, { type: 'drop' }), 'resume'));
test('op 7 reconnect is resumed', () => survives((id) => emu.fault(id, { type: 'reconnect' }), 'resume'));
test('op 9 true is resumed', () =>
  survives((id) => emu.fault(id, { type: 'invalid-session', resumable: true }), 'resume'));
test('a non-fatal close code (4000) is resumed', () =>
  survives((id) => emu.fault(id, { type: 'close', code: 4000 }), 'resume'));
test('a non-fatal close from a server that then lingers is resumed', () =>
  survives((id) => emu.fault(id, { type: 'close', code: 4000, linger: true }), 'resume'));
test('4008 is resumed', () => survives((id) => emu.fault(id, { type: 'close', code: 4008 }), 'resume'));
test('a corrupt compressed frame ends the connection and is resumed', () =>
  survives((id) => emu.fault(id, { type: 'corrupt' }), 'resume', 'zlib-stream'));
test('invalid JSON is survived by resuming', () =>
  survives((id) => emu.fault(id, { type: 'invalid-json' }), 'resume'));
test('a dispatch cut short after its envelope is survived by resuming', () =>
  survives((id) => emu.fault(id, { type: 'mangled-dispatch' }), 'resume'));
test('a zombie connection (no ACKs, nothing received) is detected and resumed', () =>
  survives((id) => emu.fault(id, { type: 'stall' }), 'resume'));
test('op 9 false starts a new session after a 1–5 s wait', { timeout: 15_000 }, () =>
  survives((id) => emu.fault(id, { type: 'invalid-session', resumable: false }), 'identify'),
);
test('4009 session timeout starts a new session', { timeout: 15_000 }, () =>
  survives((id) => emu.fault(id, { type: 'session-timeout' }), 'identify'),
);

test('a RESUMED replayed by a later resume is an ordinary dispatch, not a reason to reconnect', async () => {
  const shard = shardFor(emu);
  const events = collect(shard);
  await shard.connect();
  const id = shard.session!.sessionId;
  const before = emu.counters.resumes;
  // The first RESUME is answered (its RESUMED takes a sequence number), then the socket drops
  // before the shard reads it: the next resume replays that RESUMED ahead of its own.
  const host = emu as unknown as { resume(connection: { drop(): void }, d: unknown): void };
  const resume = host.resume.bind(emu);
  let first = true;
  host.resume = (connection, d) => {
    resume(connection, d);
    if (first) connection.drop();
    first = false;
  };
  try {
    emu.fault(id, { type: 'drop' });
    await until(
      () => emu.counters.resumes === before + 2 && shard.state.status === 'active',
      'the second resume',
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(emu.counters.resumes, before + 2);
    await emu.burst(id, 50);
    await until(() => events.length === emu.session(id)!.log().length, 'every event');
    assertExactlyOnce(emu, events, [id]);
  } finally {
    host.resume = resume;
    await shard.close();
  }
});

test('a server heartbeat request is answered at once', async () => {
  const shard = shardFor(emu);
  await shard.connect();
  const id = shard.session!.sessionId;
  const beats = emu.counters.heartbeats;
  emu.fault(id, { type: 'heartbeat-request' });
  await until(() => emu.counters.heartbeats > beats, 'a heartbeat', 500);
  await shard.close();
});

test('an unknown opcode from the server is ignored', async () => {
  const shard = shardFor(emu);
  const events = collect(shard);
  await shard.connect();
  const id = shard.session!.sessionId;
  emu.fault(id, { type: 'unknown-opcode' });
  await emu.burst(id, 10);
  await until(() => events.length === emu.session(id)!.log().length, 'events');
  assert.equal(shard.state.status, 'active');
  assert.equal(shard.session!.sessionId, id);
  await shard.close();
});

for (const code of [4004, 4010, 4011, 4012, 4013, 4014]) {
  test(`close code ${code} is fatal: the shard stops and says what to fix`, async () => {
    const shard = shardFor(emu);
    const events: Dispatch[] = [];
    await shard.connect();
    const iterate = (async () => {
      for await (const e of shard) events.push(e);
    })();
    emu.fault(shard.session!.sessionId, { type: 'close', code });
    await assert.rejects(iterate, (error: Error) => {
      assert.ok(error instanceof GatewayCloseError);
      assert.equal(error.code, code);
      assert.match(error.message, new RegExp(`${code} `));
      return true;
    });
    assert.equal(shard.state.status, 'fatally-closed');
    assert.equal(shard.state.error?.code, code);
    await assert.rejects(shard.send({ op: 3, d: {} }), /fatally-closed/);
    assert.ok(events.length > 0, 'events before the close were delivered');
  });
}

test('a fatal close from a server that then lingers is still fatal, without another connection', async () => {
  const shard = shardFor(emu);
  await shard.connect();
  const before = emu.counters;
  // The close frame arrives, then the socket is neither answered nor ended: the shard learns of the
  // code only when it gives up on the socket, and must still act on it.
  emu.fault(shard.session!.sessionId, { type: 'close', code: 4014, linger: true });
  try {
    await until(() => shard.state.status === 'fatally-closed', 'the fatal close', 5000);
    assert.equal(shard.state.error?.code, 4014);
    assert.equal(emu.counters.identifies, before.identifies);
    assert.equal(emu.counters.resumes, before.resumes);
  } finally {
    await shard.close();
  }
});

test('a bad token is fatal (4004) and the error never contains the token', async () => {
  const lines: string[] = [];
  const shard = shardFor(emu, {
    token: 'MTAwMDAwMDAwMDAwMDAwMDAw.Gwrong.not-the-emulator-token-xxxxxxxxxx',
    logger: consoleLogger('debug', (l) => lines.push(l)),
  });
  await assert.rejects(
    shard.connect(),
    (error: Error) => error instanceof GatewayCloseError && error.code === 4004,
  );
  assert.match(shard.state.error!.message, /4004 Authentication failed: .*token/);
  const everything = [...lines, shard.state.error!.message, inspect(shard), JSON.stringify(shard)].join('\n');
  assert.ok(!everything.includes('not-the-emulator-token'), 'the token leaked');
  assert.ok(lines.length > 3, 'debug logging produced nothing');
});

test('a disallowed privileged intent is fatal (4014) with a message naming the fix', async () => {
  const strict = await startEmulator({ allowedIntents: 0 });
  const shard = shardFor(strict, { intents: 'GUILDS,GUILD_MEMBERS' });
  await assert.rejects(shard.connect(), /4014 Disallowed intent.*Developer Portal/);
  await strict.close();
});

test('the token never appears in logs, inspect output or serialized state during a normal run', async () => {
  const lines: string[] = [];
  const shard = shardFor(emu, { logger: consoleLogger('debug', (l) => lines.push(l)) });
  await shard.connect();
  emu.fault(shard.session!.sessionId, { type: 'drop' });
  await new Promise<void>((r) => shard.once('resumed', () => r()));
  const text = [...lines, inspect(shard, { depth: 10, showHidden: true }), JSON.stringify(shard)].join('\n');
  assert.ok(
    lines.some((l) => l.includes('resumed')),
    'no log line about the resume',
  );
  assert.ok(!text.includes(TOKEN), 'the token leaked');
  await shard.close();
});

test('a session saved at close is resumed by a new shard with exactly the missed events', async () => {
  const store = new MemorySessionStore();
  const first = shardFor(emu, { sessionStore: store });
  const before = collect(first);
  await first.connect();
  const id = first.session!.sessionId;
  await emu.burst(id, 100);
  await until(() => before.length === emu.session(id)!.log().length, 'first events');
  const saved = await first.close({ resumable: true });
  assert.equal(saved?.sessionId, id);
  assert.deepEqual(store.get(0), saved);
  // The bot is down; events keep happening.
  for (let i = 0; i < 30; i++)
    emu.dispatch('TYPING_START', { channel_id: '1', user_id: '2', timestamp: i }, { session: id });
  const second = shardFor(emu, { sessionStore: store });
  const afterRestart = collect(second);
  const identifies = emu.counters.identifies;
  await second.connect();
  assert.equal(second.session!.sessionId, id);
  assert.equal(emu.counters.identifies, identifies, 'the new shard identified instead of resuming');
  await until(() => before.length + afterRestart.length === emu.session(id)!.log().length, 'replay');
  assertExactlyOnce(emu, [...before, ...afterRestart], [id]);
  assert.equal(afterRestart.filter((e) => e.t === 'TYPING_START').length, 30);
  await second.close();
});

test('a resumable close keeps the session at the last event a loop took; the buffered rest comes with the resume', async () => {
  const first = shardFor(emu);
  await first.connect();
  const id = first.session!.sessionId;
  await emu.burst(id, 300);
  const log = () => emu.session(id)!.log().length;
  await until(() => first.buffer.size === log(), 'the burst in the buffer');
  const iterator = first[Symbol.asyncIterator]();
  const taken: Dispatch[] = [];
  for (let i = 0; i < 50; i++) taken.push((await iterator.next()).value as Dispatch);
  const saved = await first.close({ resumable: true });
  assert.equal(saved?.sequence, taken.at(-1)!.s, 'not the sequence of the last event taken');
  assert.equal((await iterator.next()).done, true, 'buffered events delivered after the close');
  const second = shardFor(emu, { session: saved! });
  const rest = collect(second);
  await second.connect();
  await until(() => taken.length + rest.length === log(), 'the replay');
  assertExactlyOnce(emu, [...taken, ...rest], [id]);
  await second.close();
});

test('a resumable close reads the paused socket to its end: a session the gateway ended there is not kept, and its events are delivered', async () => {
  const gateway = await startEmulator();
  const store = new MemorySessionStore();
  const shard = shardFor(gateway, { bufferSize: 100, sessionStore: store });
  await shard.connect();
  const id = shard.session!.sessionId;
  const iterator = shard[Symbol.asyncIterator]();
  // Nothing is read: the buffer fills, the socket pauses, and the gateway's op 9 waits behind the burst.
  void gateway.burst(id, 3000);
  await until(() => shard.buffer.paused, 'the paused socket');
  gateway.fault(id, { type: 'invalid-session', resumable: false });
  const saved = await shard.close({ resumable: true });
  assert.equal(saved, null, 'a session the gateway ended was kept');
  assert.equal(store.get(0), undefined);
  const got = (await readToEnd(iterator)).map((e) => e.s);
  assert.deepEqual(
    got,
    gateway
      .session(id)!
      .log()
      .map((e) => e.seq),
  );
  await gateway.close();
});

test('while events flow the store follows within SAVE_EVERY_MS, so a process that dies replays little', async () => {
  // Its own gateway: the shard's heartbeats run on the manual clock, so the gateway must not expect them.
  const gateway = await startEmulator({ heartbeatInterval: 60_000 });
  const clock = new ManualClock();
  const store = new MemorySessionStore();
  const shard = shardFor(gateway, { sessionStore: store, clock });
  const events = collect(shard);
  await shard.connect();
  const id = shard.session!.sessionId;
  // Store writes run one after another, each after the previous one settles.
  const settled = () => new Promise((r) => setImmediate(r));
  await settled();
  const atReady = store.get(0)!.sequence;
  await gateway.burst(id, 100);
  await until(() => events.length === gateway.session(id)!.log().length, 'the burst');
  clock.advance(SAVE_EVERY_MS - 1);
  await settled();
  assert.equal(store.get(0)!.sequence, atReady, 'saved before its time');
  clock.advance(1);
  await settled();
  assert.equal(store.get(0)!.sequence, events.at(-1)!.s);
  await shard.close();
  await gateway.close();
});

test('two shards resuming one session back off instead of taking it from each other in a loop', async () => {
  // Its own gateway: the shards' heartbeats and backoff run on the manual clock.
  const gateway = await startEmulator({ heartbeatInterval: 60_000 });
  const clock = new ManualClock();
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} };
  const a = shardFor(gateway, { clock, logger });
  await a.connect();
  const b = shardFor(gateway, { clock, logger, session: a.session! });
  const before = gateway.counters.resumes;
  await b.connect();
  await new Promise((r) => setTimeout(r, 300));
  const untimed = gateway.counters.resumes - before;
  // Two short connections each are forgiven, as blips; the third waits.
  assert.ok(untimed <= 6, `${untimed} resumes without waiting for the clock`);
  for (let i = 0; i < 10; i++) {
    clock.advance(100);
    await new Promise((r) => setTimeout(r, 30));
  }
  const rounds = gateway.counters.resumes - before;
  assert.ok(rounds <= 6 + 10 * 2, `${rounds} resumes in 1 s of backoff`);
  assert.ok(rounds >= 3, 'the shards stopped trying');
  assert.ok(
    warnings.some((w) => /another process/.test(w)),
    'no warning about the fight',
  );
  await Promise.all([a.close(), b.close()]);
  await gateway.close();
});

test('a stored session from another shard count is not resumed, and the log says why', async () => {
  const first = shardFor(emu, { shardId: 0, shardCount: 2 });
  await first.connect();
  const store = new MemorySessionStore();
  store.set(0, (await first.close({ resumable: true }))!);
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} };
  const shard = shardFor(emu, { sessionStore: store, logger });
  const events = collect(shard);
  await shard.connect();
  assert.equal(events[0]?.t, 'READY');
  assert.ok(
    warnings.some((w) => /from 2 shards, not 1/.test(w)),
    warnings.join('\n'),
  );
  await shard.close();
});

test('a stored session identified with another token is not resumed with this one', async () => {
  const first = shardFor(emu);
  await first.connect();
  const saved = (await first.close({ resumable: true }))!;
  assert.equal(typeof saved.owner, 'string');
  assert.ok(!JSON.stringify(saved).includes(TOKEN.split('.')[2]!), 'the session carries the token');
  const foreign = { ...saved, owner: 'made-by-another-bot' };
  assert.throws(() => shardFor(emu, { session: foreign }), /another token/);
  const store = new MemorySessionStore();
  store.set(0, foreign);
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} };
  const shard = shardFor(emu, { sessionStore: store, logger });
  const events = collect(shard);
  const resumes = emu.counters.resumes;
  await shard.connect();
  assert.equal(events[0]?.t, 'READY');
  assert.equal(emu.counters.resumes, resumes, 'the foreign session was resumed');
  assert.ok(
    warnings.some((w) => /another token/.test(w)),
    warnings.join('\n'),
  );
  await shard.close();
});

test('events of an ended session still in the buffer are delivered at a resumable close, and do not move the kept sequence of the new one', async () => {
  // Its own gateway: the shard runs on a manual clock, to skip the wait before identifying again.
  const gateway = await startEmulator({ heartbeatInterval: 60_000 });
  const clock = new ManualClock();
  const shard = shardFor(gateway, { clock });
  await shard.connect();
  const log = (id: string) => gateway.session(id)!.log();
  const first = shard.session!.sessionId;
  await gateway.burst(first, 300);
  await until(() => shard.buffer.size === log(first).length, 'the burst in the buffer');
  const iterator = shard[Symbol.asyncIterator]();
  for (let i = 0; i < 200; i++) await iterator.next();
  let ready = 0;
  shard.on('ready', () => ready++);
  gateway.fault(first, { type: 'invalid-session', resumable: false });
  await until(() => shard.state.status === 'disconnected', 'the wait before identifying');
  clock.advance(5000);
  await until(() => ready === 1, 'the new session');
  const second = shard.session!.sessionId;
  await gateway.burst(second, 150);
  await until(() => shard.buffer.size === log(first).length - 200 + log(second).length, 'both in the buffer');
  const saved = (await shard.close({ resumable: true }))!;
  assert.equal(saved.sessionId, second);
  assert.equal(saved.sequence, log(second)[0]!.seq, "not the new session's READY");
  // No resume brings the ended session's events again: the loop still gets them, and only them.
  const late = (await readToEnd(iterator)).map((e) => e.s);
  assert.deepEqual(
    late,
    log(first)
      .slice(200)
      .map((e) => e.seq),
  );
  const again = shardFor(gateway, { session: saved });
  const rest = collect(again);
  await again.connect();
  const expected = log(second)
    .slice(1)
    .map((e) => e.seq);
  await until(() => rest.length >= expected.length, 'the replay');
  assert.deepEqual(
    rest.map((e) => e.s),
    expected,
  );
  await again.close();
  await gateway.close();
});

test('a save under way when the shard closes never lands after the final one', async () => {
  const gateway = await startEmulator({ heartbeatInterval: 60_000 });
  const clock = new ManualClock();
  // A store that does not order its writes: a session takes 100 ms to write, a deletion 5 ms.
  let stored: SessionInfo | undefined;
  const store = {
    get: () => stored,
    set: (_: number, session: SessionInfo | null) =>
      new Promise<void>((resolve) =>
        setTimeout(
          () => {
            stored = session ?? undefined;
            resolve();
          },
          session ? 100 : 5,
        ),
      ),
  };
  const shard = shardFor(gateway, { sessionStore: store, clock });
  const events = collect(shard);
  await shard.connect();
  const id = shard.session!.sessionId;
  await gateway.burst(id, 50);
  await until(() => events.length === gateway.session(id)!.log().length, 'the burst');
  clock.advance(SAVE_EVERY_MS);
  await shard.close();
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(stored, undefined, 'a periodic save restored the session close() ended');
  await gateway.close();
});

test('close() without resumable ends the session: a later resume is refused', async () => {
  const shard = shardFor(emu);
  await shard.connect();
  const session = shard.session!;
  assert.equal(await shard.close(), null);
  const again = shardFor(emu, { session });
  const events = collect(again);
  await again.connect();
  assert.notEqual(again.session!.sessionId, session.sessionId);
  assert.equal(events[0]!.t, 'READY');
  await again.close();
});

test('close({ resumable: true }) resolves only once the session store holds the final sequence', async () => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { FileSessionStore } = await import('../../src/index.js');
  const dir = await mkdtemp(join(tmpdir(), 'dusk-close-'));
  const file = join(dir, 'sessions.json');
  const shard = shardFor(emu, { sessionStore: new FileSessionStore(file) });
  const events = collect(shard);
  await shard.connect();
  const id = shard.session!.sessionId;
  await emu.burst(id, 50);
  await until(() => events.length === emu.session(id)!.log().length, 'the burst');
  await shard.close({ resumable: true });
  // A fresh store reads the file as a restarted process would.
  const saved = await new FileSessionStore(file).get(0);
  assert.equal(saved?.sequence, emu.session(id)!.seq);
  await rm(dir, { recursive: true });
});

test('a process whose only work is one shard stays alive while the shard waits to identify again', async () => {
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const index = new URL('../../src/index.ts', import.meta.url).href;
  // The child holds nothing but the shard: no timer, server or stdin of its own.
  const code = `
    const { LocalIdentifyQueue, Shard } = await import(${JSON.stringify(index)});
    const shard = new Shard({ token: ${JSON.stringify(TOKEN)}, intents: 1, gatewayUrl: ${JSON.stringify(emu.gatewayUrl)},
      identifyQueue: new LocalIdentifyQueue({ window: 0 }) });
    shard.on('state', (s) => console.log(s.status + ' ' + (shard.session?.sessionId ?? '')));
    await shard.connect();`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  try {
    await until(() => lines.some((l) => l.startsWith('active ')), 'the child to be READY', 15_000);
    const sessionId = lines.find((l) => l.startsWith('active '))!.split(' ')[1]!;
    // op 9 false: the shard waits a random 1–5 s with no socket open, then identifies anew.
    emu.fault(sessionId, { type: 'invalid-session', resumable: false });
    const running = () => lines.filter((l) => l.startsWith('active ')).length >= 2;
    const outcome = await Promise.race([
      exited.then((code) => `exited with ${code}`),
      until(running, 'a new session', 10_000).then(() => 'active again'),
    ]);
    assert.ok(
      lines.some((l) => l.startsWith('disconnected')),
      'the shard never waited',
    );
    assert.equal(outcome, 'active again');
  } finally {
    child.kill();
    await exited;
  }
});

test('close() while a slow session store is written on the way to a new identify does not sit out the wait', async () => {
  const writes: (SessionInfo | null)[] = [];
  const shard = shardFor(emu, {
    sessionStore: {
      get: () => undefined,
      set: async (_id, session) => {
        writes.push(session);
        await new Promise((r) => setTimeout(r, 100));
      },
    },
  });
  await shard.connect();
  // op 9 false: the session is forgotten (written as null), then a 1–5 s wait before identifying.
  emu.fault(shard.session!.sessionId, { type: 'invalid-session', resumable: false });
  await until(() => writes.at(-1) === null, 'the forgotten session to be written');
  const started = Date.now();
  await shard.close();
  const took = Date.now() - started;
  assert.ok(took < 800, `close() took ${took} ms`);
  assert.equal(shard.state.status, 'closed');
});
