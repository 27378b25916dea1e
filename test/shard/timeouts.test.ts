/**
 * A shard facing servers that misbehave at each step of the handshake must retry, never hang:
 * a TCP listener that never answers the upgrade, a websocket that never says Hello, a gateway that
 * takes IDENTIFY and never answers READY. Retries back off as configured.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { Shard, type ShardState } from '../../src/index.js';

function listen(server: Server | WebSocketServer): Promise<number> {
  return new Promise((resolve) => {
    server.on('listening', () => resolve((server.address() as { port: number }).port));
    if ('listen' in server) server.listen(0, '127.0.0.1');
  });
}

function watchAttempts(shard: Shard): ShardState[] {
  const states: ShardState[] = [];
  shard.on('state', (s) => states.push(s));
  return states;
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a server that never completes the websocket handshake is retried after the connect timeout', async () => {
  const sockets: Socket[] = [];
  const server = createServer((socket) => sockets.push(socket));
  const port = await listen(server);
  const shard = new Shard({
    token: 'test-token',
    intents: 0,
    gatewayUrl: `ws://127.0.0.1:${port}`,
    timeouts: { connect: 100, hello: 100, ready: 100 },
    backoff: { min: 10, max: 20 },
  });
  const states = watchAttempts(shard);
  shard.connect().catch(() => {});
  await until(() => sockets.length >= 3);
  assert.ok(states.some((s) => s.status === 'disconnected' && s.reconnectAttempts >= 2));
  await shard.close();
  assert.equal(shard.state.status, 'closed');
  for (const s of sockets) s.destroy();
  server.close();
});

test('a socket that never sends Hello is abandoned after the hello timeout', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  const port = await listen(wss);
  let connections = 0;
  wss.on('connection', () => connections++);
  const shard = new Shard({
    token: 'test-token',
    intents: 0,
    gatewayUrl: `ws://127.0.0.1:${port}`,
    timeouts: { connect: 1000, hello: 80, ready: 1000 },
    backoff: { min: 10, max: 20 },
  });
  shard.connect().catch(() => {});
  const started = Date.now();
  await until(() => connections >= 3);
  // Three connections cannot happen sooner than two hello timeouts.
  assert.ok(Date.now() - started >= 150, `reconnected too early (${Date.now() - started} ms)`);
  await shard.close();
  wss.close();
});

test('a gateway that never answers IDENTIFY is abandoned after the ready timeout, and backoff grows', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  const port = await listen(wss);
  const identifies: number[] = [];
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 60_000 }, s: null, t: null }));
    ws.on('message', (raw) => {
      const msg = JSON.parse(String(raw));
      if (msg.op === 2) identifies.push(Date.now());
    });
  });
  const shard = new Shard({
    token: 'test-token',
    intents: 0,
    gatewayUrl: `ws://127.0.0.1:${port}`,
    timeouts: { connect: 1000, hello: 1000, ready: 60 },
    backoff: { min: 40, max: 1000 },
    // Each reconnect is an identify after a failure; no identify window slows this test.
    identifyQueue: { enqueue: () => Promise.resolve() },
  });
  const states = watchAttempts(shard);
  shard.connect().catch(() => {});
  await until(() => identifies.length >= 4);
  await shard.close();
  wss.close();
  const waits = states.filter((s) => s.status === 'disconnected').map((s) => s.reconnectIn!);
  // Attempt 1 is immediate, then nominal 40, 80, … with equal jitter: [n/2, n].
  assert.equal(waits[0], 0);
  assert.ok(waits[1]! >= 20 && waits[1]! <= 40, `second wait ${waits[1]}`);
  assert.ok(waits[2]! >= 40 && waits[2]! <= 80, `third wait ${waits[2]}`);
  assert.ok(states.every((s) => s.status !== 'active'));
});

test('a connection refused is retried and close() stops the retries', async () => {
  // Reserve a port, then free it so nothing listens there.
  const probe = createServer();
  const port = await listen(probe);
  probe.close();
  await once(probe, 'close');
  const shard = new Shard({
    token: 'test-token',
    intents: 0,
    gatewayUrl: `ws://127.0.0.1:${port}`,
    backoff: { min: 5, max: 10 },
  });
  const states = watchAttempts(shard);
  const ready = shard.connect();
  await until(() => shard.state.reconnectAttempts >= 3);
  await shard.close();
  await assert.rejects(ready, /closed before it was ready/);
  assert.equal(shard.state.status, 'closed');
  assert.ok(states.filter((s) => s.status === 'disconnected').length >= 3);
});
