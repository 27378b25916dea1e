/**
 * A gateway that asks for too much or hands out nonsense: a flood of heartbeat requests, a
 * resume_gateway_url that is no URL or cannot be reached, an IDENTIFY that could never be accepted,
 * a saved session that is not one. The shard must neither crash the process nor stop for good.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { PresenceUpdateStatus } from 'discord-api-types/v10';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Emulator } from '../../src/emulator/index.js';
import { MemorySessionStore, PayloadTooLargeError, Shard } from '../../src/index.js';
import { collect, shardFor, startEmulator, TOKEN, until } from './harness.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator();
});
after(() => emu.close());

test('a flood of heartbeat requests is answered up to the send limit, never past it', async () => {
  const shard = shardFor(emu);
  await shard.connect();
  const id = shard.session!.sessionId;
  const beats = emu.counters.heartbeats;
  for (let i = 0; i < 130; i++) emu.fault(id, { type: 'heartbeat-request' });
  await until(() => emu.counters.heartbeats - beats >= 110, 'the beats');
  await new Promise((r) => setTimeout(r, 100));
  // 120 payloads per minute on a connection, the IDENTIFY included; the 121st would get 4008.
  assert.ok(emu.counters.heartbeats - beats <= 119, `${emu.counters.heartbeats - beats} beats`);
  assert.equal(shard.state.status, 'active');
  assert.equal(emu.session(id)!.connected, true, 'the gateway closed the connection');
  await shard.close();
});

type Send = (payload: unknown) => void;
const HELLO = { op: 10, s: null, t: null, d: { heartbeat_interval: 45_000 } };
const opOf = (data: unknown) => (JSON.parse(String(data)) as { op: number }).op;
const readyData = (url: string) => ({
  v: 10,
  session_id: 'good',
  resume_gateway_url: url,
  user: { id: '1' },
  guilds: [],
});

/** A gateway on a free port; `handle` plays connection number `n` (from 1) as it likes. */
async function testGateway(handle: (n: number, send: Send, ws: WebSocket, url: string) => void) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
  let connections = 0;
  wss.on('connection', (ws) => handle(++connections, (payload) => ws.send(JSON.stringify(payload)), ws, url));
  return { url, connections: () => connections, close: () => wss.close() };
}

/** A shard for `testGateway`: quick retries, an identify queue that never waits, `options` on top. */
function shardAt(url: string, options: Partial<ConstructorParameters<typeof Shard>[0]> = {}): Shard {
  return new Shard({
    token: TOKEN,
    intents: 0,
    gatewayUrl: url,
    backoff: { min: 10, max: 50 },
    identifyQueue: { enqueue: async () => {} },
    ...options,
  });
}

test('a flood of heartbeat requests before IDENTIFY: the connection is left at once, not after the READY timeout', async () => {
  // The first connection asks for beats past the whole send budget between Hello and IDENTIFY;
  // the second behaves.
  const gateway = await testGateway((n, send, ws, url) => {
    send(HELLO);
    if (n === 1) for (let i = 0; i < 125; i++) send({ op: 1, s: null, t: null, d: null });
    ws.on('message', (data) => {
      if (opOf(data) === 2) send({ op: 0, s: 1, t: 'READY', d: readyData(url) });
    });
  });
  const shard = shardAt(gateway.url, {
    timeouts: { ready: 60_000 },
    // The identify permit comes after the whole flood has been read.
    identifyQueue: { enqueue: () => new Promise((r) => setTimeout(r, 100)) },
  });
  try {
    void shard.connect().catch(() => {});
    await until(() => shard.state.status === 'active', 'READY on the second connection', 5000);
    assert.equal(gateway.connections(), 2);
  } finally {
    await shard.close();
    gateway.close();
  }
});

/**
 * A gateway whose first connection does `first` and whose later ones behave: Hello, READY for
 * IDENTIFY, RESUMED for RESUME.
 */
function gatewayMisbehavingOnce(first: (send: Send, ws: WebSocket) => void) {
  return testGateway((n, send, ws, url) => {
    if (n === 1) return first(send, ws);
    send(HELLO);
    ws.on('message', (data) => {
      const op = opOf(data);
      if (op === 2) send({ op: 0, s: 1, t: 'READY', d: readyData(url) });
      if (op === 6) send({ op: 0, s: 2, t: 'RESUMED', d: {} });
    });
  });
}

for (const [what, first] of [
  ['READY before Hello, then silence', (send) => send({ op: 0, s: 1, t: 'READY', d: readyData('ws://x') })],
  ['RESUMED before Hello, then silence', (send) => send({ op: 0, s: 5, t: 'RESUMED', d: {} })],
  [
    'RESUMED in answer to IDENTIFY',
    (send, ws) => {
      send(HELLO);
      ws.on('message', () => send({ op: 0, s: 1, t: 'RESUMED', d: {} }));
    },
  ],
] as const satisfies readonly (readonly [string, (send: Send, ws: WebSocket) => void])[]) {
  test(`${what}: the connection is left, and the next one gets a real session`, async () => {
    const gateway = await gatewayMisbehavingOnce(first);
    const shard = shardAt(gateway.url, { timeouts: { hello: 60_000, ready: 60_000 } });
    try {
      void shard.connect().catch(() => {});
      await until(
        () => shard.session?.sessionId === 'good' && shard.state.status === 'active',
        'a real session',
        5000,
      );
      assert.equal(gateway.connections(), 2);
    } finally {
      await shard.close();
      gateway.close();
    }
  });
}

test('a READY in answer to RESUME is taken as the new session it is', async () => {
  // The first connection gives session "first" and drops; the next answers RESUME with READY.
  const gateway = await testGateway((n, send, ws, url) => {
    send(HELLO);
    ws.on('message', (data) => {
      const op = opOf(data);
      if (n === 1 && op === 2) {
        send({ op: 0, s: 1, t: 'READY', d: { ...readyData(url), session_id: 'first' } });
        setTimeout(() => ws.terminate(), 20);
      }
      if (n > 1 && op === 6)
        send({ op: 0, s: 1, t: 'READY', d: { ...readyData(url), session_id: 'second' } });
    });
  });
  const shard = shardAt(gateway.url);
  try {
    await shard.connect();
    await until(
      () => shard.session?.sessionId === 'second',
      'the session the RESUME was answered with',
      5000,
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(shard.state.status, 'active');
    assert.equal(gateway.connections(), 2);
  } finally {
    await shard.close();
    gateway.close();
  }
});

test('a session_id too long to RESUME with: a new session is identified instead of 4002 after 4002', async () => {
  const ops: number[] = [];
  let identifies = 0;
  const gateway = await testGateway((_, send, ws, url) => {
    send(HELLO);
    ws.on('message', (data) => {
      // As Discord does: a payload over 4096 bytes is a decode error.
      if (String(data).length > 4096) return ws.close(4002, 'Error while decoding payload.');
      const op = opOf(data);
      ops.push(op);
      if (op !== 2) return;
      const sessionId = ++identifies === 1 ? 'x'.repeat(5000) : 'short';
      send({ op: 0, s: 1, t: 'READY', d: { ...readyData(url), session_id: sessionId } });
      // The first session's connection drops at once.
      if (identifies === 1) setTimeout(() => ws.terminate(), 20);
    });
  });
  const shard = shardAt(gateway.url);
  try {
    await shard.connect();
    await until(() => shard.session?.sessionId === 'short', 'the second session', 5000);
    assert.deepEqual(ops, [2, 2], 'no RESUME went out, oversized or not');
  } finally {
    await shard.close();
    gateway.close();
  }
});

/** A gateway whose READY names `resumeUrl` (a function of its own URL) and which answers RESUME. */
async function gatewayWithResumeUrl(resumeUrl: (own: string) => string) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
  const received: { op: number; d: unknown }[][] = [];
  wss.on('connection', (ws) => {
    const mine: { op: number; d: unknown }[] = [];
    received.push(mine);
    const send = (payload: unknown) => ws.send(JSON.stringify(payload));
    send({ op: 10, s: null, t: null, d: { heartbeat_interval: 45_000 } });
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { op: number; d: unknown };
      mine.push(message);
      if (message.op === 2) {
        send({
          op: 0,
          s: 1,
          t: 'READY',
          d: { v: 10, session_id: 'abc', resume_gateway_url: resumeUrl(url), user: { id: '1' }, guilds: [] },
        });
        // Gone without a close frame: the shard must resume.
        setTimeout(() => ws.terminate(), 20);
      }
      if (message.op === 6) send({ op: 0, s: 2, t: 'RESUMED', d: {} });
    });
  });
  return { url, received, close: () => wss.close() };
}

test('a resume_gateway_url that is no URL: the session resumes through the gateway URL', async () => {
  const gateway = await gatewayWithResumeUrl(() => 'not a url');
  const shard = new Shard({
    token: TOKEN,
    intents: 0,
    gatewayUrl: gateway.url,
    backoff: { min: 10, max: 50 },
  });
  const resumed = new Promise<void>((r) => shard.once('resumed', () => r()));
  await shard.connect();
  await resumed;
  assert.equal(gateway.received.length, 2);
  assert.deepEqual(
    gateway.received[1]!.map((m) => m.op),
    [6],
  );
  assert.equal(shard.session!.resumeUrl, gateway.url);
  await shard.close();
  gateway.close();
});

async function deadUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  return `ws://127.0.0.1:${port}`;
}

test('a resume_gateway_url that cannot be reached: after three misses, resumed through the gateway URL', async () => {
  const first = shardFor(emu);
  await first.connect();
  const saved = await first.close({ resumable: true });
  const shard = shardFor(emu, { session: { ...saved!, resumeUrl: await deadUrl() } });
  const events = collect(shard);
  const before = emu.counters;
  await shard.connect();
  assert.equal(events.at(-1)?.t, 'RESUMED');
  assert.equal(shard.session!.sessionId, saved!.sessionId);
  assert.equal(emu.counters.resumesOffResumeUrl, before.resumesOffResumeUrl + 1);
  assert.equal(emu.counters.identifies, before.identifies, 'identified instead of resuming');
  assert.equal(shard.state.reconnectAttempts, 0);
  await shard.close();
});

test('an IDENTIFY over 4096 bytes is refused when the shard is made, not retried against 4002', () => {
  const activities = Array.from({ length: 100 }, (_, i) => ({
    name: `activity number ${i} with a longer name`,
    type: 0,
  }));
  assert.throws(
    () =>
      shardFor(emu, {
        presence: { since: null, activities, status: PresenceUpdateStatus.Online, afk: false },
      }),
    (error: Error) =>
      error instanceof PayloadTooLargeError && /IDENTIFY would be \d+ bytes/.test(error.message),
  );
});

test('a saved session that is not one is refused as an option, and skipped when a store returns it', async () => {
  const bad = { sessionId: 'x', sequence: 1, resumeUrl: 'not a url', shardId: 0, shardCount: 1 };
  assert.throws(() => shardFor(emu, { session: bad }), TypeError);
  // A websocket URL cannot carry a fragment: ws would refuse it at every attempt.
  assert.throws(() => shardFor(emu, { session: { ...bad, resumeUrl: `${emu.resumeUrl}#x` } }), TypeError);
  const store = new MemorySessionStore();
  store.sessions.set(0, bad);
  const shard = shardFor(emu, { sessionStore: store });
  const before = emu.counters.identifies;
  await shard.connect();
  assert.equal(emu.counters.identifies, before + 1);
  assert.notEqual(shard.session!.sessionId, 'x');
  await shard.close();
});

test('a mangled dispatch is only sent to a session that would get the message', async () => {
  const shard = shardFor(emu, { intents: 'GUILDS' });
  await shard.connect();
  const id = shard.session!.sessionId;
  const logged = emu.session(id)!.log().length;
  emu.fault(id, { type: 'mangled-dispatch' });
  assert.equal(emu.session(id)!.log().length, logged, 'a MESSAGE_CREATE without GUILD_MESSAGES');
  await shard.close();
});
