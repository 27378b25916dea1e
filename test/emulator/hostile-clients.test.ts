/**
 * Clients that break the rules, on purpose or by bug: none of them may crash the emulator, wedge it,
 * hold its memory, or spoil another client's session.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { SLOW_READER_MS } from '../../src/emulator/connection.js';
import type { Emulator } from '../../src/emulator/index.js';
import { RawClient, startEmulator, TOKEN } from './raw-client.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator();
});
after(() => emu.close());

async function ready(): Promise<{ c: RawClient; id: string; guildId: string }> {
  const c = await RawClient.open(emu.gatewayUrl);
  c.identify();
  const r = await c.next((m) => m.t === 'READY');
  const d = r.d as { session_id: string; guilds: { id: string }[] };
  return { c, id: d.session_id, guildId: d.guilds[0]!.id };
}

/** A well-behaved client still gets READY and a burst: the emulator is serving. */
async function stillServing(): Promise<void> {
  const { c, id } = await ready();
  await emu.burst(id, 50);
  await c.next(() => c.dispatches().length >= 50);
  c.ws.close(1000);
}

test('op 8 with user_ids that are not strings is 4001, not a crash', async () => {
  for (const ids of [[{ toString: 1 }], { toString: 1 }, [1, 2]]) {
    const { c, guildId } = await ready();
    c.send({ op: 8, d: { guild_id: guildId, query: '', limit: 0, user_ids: ids } });
    assert.equal((await c.closed).code, 4001, JSON.stringify(ids));
  }
  await stillServing();
});

/** Raw HTTP upgrade to a path the gateway does not serve. */
function upgradeToNowhere(): Promise<ReturnType<typeof connect>> {
  const { hostname, port } = new URL(emu.gatewayUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        'GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    socket.once('data', () => resolve(socket));
    socket.once('error', reject);
  });
}

test('an upgrade to an unknown path gets 404; a reset after it does not crash, a half-close does not leak', async () => {
  const reset = await upgradeToNowhere();
  reset.resetAndDestroy();
  const lingering = await upgradeToNowhere();
  lingering.on('error', () => {});
  lingering.write('x');
  lingering.end();
  // The emulator ends its side: the client sees the connection close without doing anything more.
  await new Promise<void>((resolve) => lingering.once('close', () => resolve()));
  await stillServing();
});

test('intents beyond 32 bits are 4013, not read modulo 2^32', { timeout: 5000 }, async () => {
  for (const intents of [2 ** 32 + 1, 2 ** 60]) {
    const c = await RawClient.open(emu.gatewayUrl);
    c.identify({ intents });
    assert.equal((await c.closed).code, 4013, String(intents));
  }
});

test('a RESUME with a bad seq ends the session, and the socket still attached to it is told with op 9', async () => {
  const { c: live, id } = await ready();
  const other = await RawClient.open(emu.gatewayUrl);
  other.send({ op: 6, d: { token: emu.token, session_id: id, seq: 999_999 } });
  assert.equal((await other.closed).code, 4007);
  const invalid = await live.next((m) => m.op === 9);
  assert.equal(invalid.d, false);
  live.ws.close(1000);
});

test('an ended session keeps its log but lets go of its replay buffer', async () => {
  const { c, id } = await ready();
  await emu.burst(id, 200);
  await c.next(() => c.dispatches().length >= 200);
  assert.ok(emu.session(id)!.replayAfter(0)!.length > 200);
  c.ws.close(1000);
  await c.closed;
  await new Promise((r) => setTimeout(r, 50));
  const session = emu.session(id)!;
  assert.equal(session.ended, 'client-close');
  assert.equal(session.replayAfter(0), null);
  assert.ok(session.log().length > 200);
});

test('a burst of an absurd size is refused at once, from the API and the control surface', {
  timeout: 5000,
}, async () => {
  const { c, id } = await ready();
  for (const count of [Number.POSITIVE_INFINITY, -1, 1.5, 1e9])
    await assert.rejects(emu.burst(id, count), RangeError, String(count));
  const response = await fetch(new URL('/burst', emu.controlUrl!), {
    method: 'POST',
    body: `{"session":"${id}","count":1e400}`,
  });
  assert.equal(response.status, 400);
  c.ws.close(1000);
  await stillServing();
});

test('the control surface: 405 for other methods, and a 413 closes its connection', async () => {
  const control = emu.controlUrl!;
  const del = await fetch(new URL('/sessions', control), { method: 'DELETE' });
  assert.equal(del.status, 405);
  const big = await fetch(new URL('/dispatch', control), { method: 'POST', body: 'x'.repeat(2 << 20) });
  assert.equal(big.status, 413);
  assert.equal(big.headers.get('connection'), 'close');
  const after = await fetch(new URL('/sessions', control));
  assert.equal(after.status, 200);
});

test('a client whose socket stops draining is dropped after SLOW_READER_MS, resumably; one that reads is kept', async () => {
  const clock = new ManualClock();
  const gateway = await startEmulator({ clock });
  const stalled = await RawClient.open(gateway.gatewayUrl);
  const reading = await RawClient.open(gateway.gatewayUrl);
  const ids = [(await stalled.ready()).d.session_id, (await reading.ready()).d.session_id] as string[];
  stalled.ws.pause();
  // 24 MiB each: far more than the kernel's socket buffers hold, so the writes back up in the emulator.
  const big = 'x'.repeat(1 << 20);
  for (let i = 0; i < 24; i++) for (const session of ids) gateway.dispatch('BIG', { big, i }, { session });
  await reading.next(() => reading.dispatches('BIG').length === 24, 20_000);
  clock.advance(SLOW_READER_MS - 1);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(gateway.counters.slowReaders, 0, 'dropped before its time');
  clock.advance(1);
  assert.equal(gateway.counters.slowReaders, 1);
  stalled.ws.resume();
  await stalled.closed;
  assert.ok(stalled.dispatches('BIG').length < 24, 'the stalled client read everything anyway');
  assert.equal(reading.ws.readyState, reading.ws.OPEN, 'the client that read was dropped');
  const last = stalled.messages.filter((m) => m.s !== null).at(-1)!.s!;
  const resumed = await RawClient.open(gateway.resumeUrl);
  resumed.send({ op: 6, d: { token: TOKEN, session_id: ids[0], seq: last } });
  await resumed.next((m) => m.t === 'RESUMED', 20_000);
  const seen = [...stalled.dispatches('BIG'), ...resumed.dispatches('BIG')].map((m) => m.d.i);
  assert.deepEqual(seen, [...Array(24).keys()]);
  for (const c of [reading, resumed]) c.close(1000);
  await gateway.close();
});
