/**
 * The emulator's REST routes (gateway bootstrap and message creation) and its control surface.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import type { Emulator } from '../../src/emulator/index.js';
import { RawClient, startEmulator, TOKEN } from './raw-client.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({
    guilds: 2500,
    shards: undefined,
    maxConcurrency: 4,
    sessionStartLimit: { total: 5 },
  });
});
after(() => emu.close());

const api = (path: string, init: RequestInit = {}, auth: string | null = `Bot ${TOKEN}`) =>
  fetch(emu.apiUrl + path, {
    ...init,
    headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'application/json' },
  });

test('GET /gateway needs no token and gives the bootstrap URL', async () => {
  const res = await api('/gateway', {}, null);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { url: emu.gatewayUrl });
});

test('GET /gateway/bot: 401 without or with a wrong token', async () => {
  for (const auth of [null, 'Bot wrong', TOKEN]) {
    const res = await api('/gateway/bot', {}, auth);
    assert.equal(res.status, 401, String(auth));
    assert.deepEqual(await res.json(), { message: '401: Unauthorized', code: 0 });
  }
});

test('GET /gateway/bot: recommended shards, max_concurrency, and remaining/reset_after counting down', async () => {
  const first = (await (await api('/gateway/bot')).json()) as any;
  assert.equal(first.url, emu.gatewayUrl);
  assert.equal(first.shards, 3, 'one shard per 1000 guilds');
  assert.deepEqual(
    {
      total: first.session_start_limit.total,
      remaining: first.session_start_limit.remaining,
      mc: first.session_start_limit.max_concurrency,
    },
    { total: 5, remaining: 5, mc: 4 },
  );
  const c = await RawClient.open(emu.gatewayUrl);
  await c.ready({ shard: [0, 3], intents: 0 });
  await new Promise((r) => setTimeout(r, 20));
  const second = (await (await api('/gateway/bot')).json()) as any;
  assert.equal(second.session_start_limit.remaining, 4);
  assert.ok(second.session_start_limit.reset_after < first.session_start_limit.reset_after);
  c.close();
});

test('running out of session starts resets the token, as Discord does', async () => {
  const tight = await startEmulator({ sessionStartLimit: { total: 1 } });
  const a = await RawClient.open(tight.gatewayUrl);
  await a.ready();
  const b = await RawClient.open(tight.gatewayUrl);
  b.identify();
  assert.equal((await b.closed).code, 4004);
  assert.equal((await a.closed).code, 4004, 'every session of the old token ends');
  assert.notEqual(tight.token, TOKEN);
  assert.equal(tight.counters.tokenResets, 1);
  await tight.close();
});

test('POST /channels/{id}/messages answers the message and dispatches MESSAGE_CREATE', async () => {
  const c = await RawClient.open(emu.gatewayUrl);
  const guild = emu.world.guildIds()[0]!;
  const channel = emu.world.textChannelIds!(guild)[0]!;
  await c.ready({ intents: 512 | 32768 });
  const res = await api(`/channels/${channel}/messages`, {
    method: 'POST',
    body: JSON.stringify({ content: 'pong' }),
  });
  assert.equal(res.status, 200);
  const message = (await res.json()) as any;
  assert.equal(message.content, 'pong');
  assert.equal(message.channel_id, channel);
  assert.equal(message.author.id, emu.world.botUser.id);
  const created = await c.next((m) => m.t === 'MESSAGE_CREATE');
  assert.equal(created.d.id, message.id);
  c.close();
});

test('POST /channels/{id}/messages: 404 unknown channel, 400 empty message, 401 without a token', async () => {
  const guild = emu.world.guildIds()[0]!;
  const channel = emu.world.textChannelIds!(guild)[0]!;
  const post = (id: string, body: unknown, auth?: string | null) =>
    api(
      `/channels/${id}/messages`,
      { method: 'POST', body: JSON.stringify(body) },
      auth === undefined ? `Bot ${TOKEN}` : auth,
    );
  const unknown = await post('1', { content: 'x' });
  assert.deepEqual([unknown.status, ((await unknown.json()) as any).code], [404, 10003]);
  const empty = await post(channel, { content: '' });
  assert.deepEqual([empty.status, ((await empty.json()) as any).code], [400, 50006]);
  assert.equal((await post(channel, { content: 'x' }, null)).status, 401);
  const broken = await fetch(`${emu.apiUrl}/channels/${channel}/messages`, {
    method: 'POST',
    headers: { authorization: `Bot ${TOKEN}` },
    body: '{not json',
  });
  assert.equal(broken.status, 400);
  assert.equal((await api('/nothing/here')).status, 404);
});

/** Writes `request` on a fresh TCP connection and returns the status line of the answer. */
function rawStatus(base: string, request: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let text = '';
    socket.on('data', (chunk) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(text.split('\r\n')[0]!));
  });
}

test('odd request targets get an HTTP error, and both servers keep serving', async () => {
  const upgrade = (target: string) =>
    `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
  const plain = (target: string) => `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
  // `//host…` would be read as a URL naming another host.
  assert.equal(await rawStatus(emu.apiUrl, upgrade('//?v=10&encoding=json')), 'HTTP/1.1 404 Not Found');
  assert.equal(await rawStatus(emu.apiUrl, upgrade('//[bad')), 'HTTP/1.1 404 Not Found');
  assert.equal(await rawStatus(emu.apiUrl, plain('//[bad')), 'HTTP/1.1 404 Not Found');
  assert.equal(await rawStatus(emu.controlUrl!, plain('//[bad')), 'HTTP/1.1 404 Not Found');
  assert.equal((await api('/gateway')).status, 200);
  const client = await RawClient.open(emu.gatewayUrl);
  assert.equal((await client.next(() => true)).op, 10);
  client.close();
});

test('the control surface listens on loopback only and reports sessions, counters and logs', async () => {
  assert.match(emu.controlUrl!, /^http:\/\/127\.0\.0\.1:\d+$/);
  const wide = await startEmulator({ host: '0.0.0.0' });
  assert.match(wide.controlUrl!, /^http:\/\/127\.0\.0\.1:\d+$/);
  await wide.close();
  const c = await RawClient.open(emu.gatewayUrl);
  const id = (await c.ready({ intents: 0 })).d.session_id;
  const state = (await (await fetch(emu.controlUrl!)).json()) as any;
  assert.equal(state.gateway, emu.gatewayUrl);
  assert.ok(state.sessions.some((s: { id: string; connected: boolean }) => s.id === id && s.connected));
  assert.equal(typeof state.counters.identifies, 'number');
  const post = (path: string, body: unknown) =>
    fetch(new URL(path, emu.controlUrl!), { method: 'POST', body: JSON.stringify(body) });
  assert.deepEqual(await (await post('/dispatch', { t: 'CUSTOM', d: { x: 1 }, session: id })).json(), {
    reached: 1,
  });
  await (await post('/burst', { session: id, count: 10 })).json();
  await c.next(() => c.dispatches().length === 12);
  const log = (await (await fetch(new URL(`/sessions/${id}/log`, emu.controlUrl!))).json()) as {
    seq: number;
    t: string;
  }[];
  assert.deepEqual(
    log.map((e) => e.seq),
    c.dispatches().map((m) => m.s),
  );
  assert.equal(log[1]!.t, 'CUSTOM');
  c.close();
});
