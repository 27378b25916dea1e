/**
 * Each fault as a client sees it on the wire, the control surface's fault route, and the chaos
 * schedule's determinism.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { ManualClock } from '../../src/clock.js';
import { startChaos } from '../../src/emulator/faults.js';
import { type Emulator, type Fault, parseChaos, parseFault } from '../../src/emulator/index.js';
import { RawClient, startEmulator } from './raw-client.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ reconnectCloseAfter: 50 });
});
after(() => emu.close());

async function victim(compress: 'zlib-stream' | null = null) {
  const c = await RawClient.open(emu.gatewayUrl, { v: '10', encoding: 'json' }, compress);
  const id = (await c.ready()).d.session_id as string;
  return { c, id };
}

const settle = () => new Promise((r) => setTimeout(r, 60));

test('drop: the TCP connection ends without a close frame (1006) and the session stays resumable', async () => {
  const { c, id } = await victim();
  emu.fault(id, { type: 'drop' });
  assert.equal((await c.closed).code, 1006);
  assert.equal(emu.session(id)!.ended, null);
});

test('close: any code, with the session kept', async () => {
  const { c, id } = await victim();
  emu.fault(id, { type: 'close', code: 4321, reason: 'because' });
  assert.deepEqual(await c.closed, { code: 4321, reason: 'because' });
  assert.equal(emu.session(id)!.ended, null);
});

test('close with linger: the close frame arrives, and the socket stays open until the client ends it', async () => {
  const { c, id } = await victim();
  let closed = false;
  void c.closed.then(() => {
    closed = true;
  });
  emu.fault(id, { type: 'close', code: 4321, reason: 'lingering', linger: true });
  const until = Date.now() + 2000;
  while (c.ws.readyState !== WebSocket.CLOSING && Date.now() < until) await settle();
  assert.equal(c.ws.readyState, WebSocket.CLOSING, 'the close frame arrived');
  await settle();
  await settle();
  assert.equal(closed, false, 'the server neither answered the close frame nor ended TCP');
  // The session is detached at once, as after any close: it can be resumed elsewhere.
  assert.equal(emu.session(id)!.connected, false);
  c.ws.terminate();
  assert.deepEqual(await c.closed, { code: 4321, reason: 'lingering' });
});

test('reconnect: op 7, then a 4000 close if the client does not go', async () => {
  const { c, id } = await victim();
  emu.fault(id, { type: 'reconnect' });
  await c.next((m) => m.op === 7);
  assert.equal((await c.closed).code, 4000);
});

test('invalid-session: op 9 with d as asked; false ends the session, true keeps it', async () => {
  for (const resumable of [true, false]) {
    const { c, id } = await victim();
    emu.fault(id, { type: 'invalid-session', resumable });
    assert.equal((await c.next((m) => m.op === 9)).d, resumable);
    assert.equal(emu.session(id)!.ended, resumable ? null : 'invalidated');
    c.close();
  }
});

test('heartbeat-request: the server sends op 1', async () => {
  const { c, id } = await victim();
  emu.fault(id, { type: 'heartbeat-request' });
  await c.next((m) => m.op === 1);
  c.close();
});

test('zombie: heartbeats are no longer ACKed; delay-acks: ACKs come late', async () => {
  const { c, id } = await victim();
  emu.fault(id, { type: 'zombie' });
  c.send({ op: 1, d: 1 });
  await settle();
  assert.equal(c.messages.filter((m) => m.op === 11).length, 0);
  c.close();
  const { c: d, id: id2 } = await victim();
  emu.fault(id2, { type: 'delay-acks', ms: 80 });
  d.send({ op: 1, d: 1 });
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(d.messages.filter((m) => m.op === 11).length, 0);
  await d.next((m) => m.op === 11);
  d.close();
});

test('stall: nothing is sent and nothing answered, but the session keeps collecting events', async () => {
  const { c, id } = await victim();
  const count = c.messages.length;
  emu.fault(id, { type: 'stall' });
  c.send({ op: 1, d: 1 });
  emu.dispatch('MARKER', {}, { session: id });
  await settle();
  assert.equal(c.messages.length, count);
  assert.equal(emu.session(id)!.log().at(-1)!.t, 'MARKER');
  c.close();
});

test('corrupt: a frame no inflater accepts; invalid-json: a payload that does not parse; neither takes a seq', async () => {
  const { c, id } = await victim('zlib-stream');
  const seq = emu.session(id)!.seq;
  emu.fault(id, { type: 'corrupt' });
  await settle();
  assert.ok(c.error, 'the client could not inflate the frame');
  assert.equal(emu.session(id)!.seq, seq);
  const { c: d, id: id2 } = await victim();
  emu.fault(id2, { type: 'invalid-json' });
  await settle();
  assert.ok(d.error instanceof SyntaxError);
  c.close();
  d.close();
});

test('unknown-opcode: a payload with an opcode the protocol does not define', async () => {
  const { c, id } = await victim();
  emu.fault(id, { type: 'unknown-opcode' });
  assert.equal((await c.next((m) => m.op === 99)).s, null);
  c.close();
});

test('session-timeout: 4009, and the session can no longer be resumed', async () => {
  const { c, id } = await victim();
  emu.fault(id, { type: 'session-timeout' });
  assert.equal((await c.closed).code, 4009);
  assert.equal(emu.session(id)!.ended, 'timed-out');
});

test('a fault for a session without a connection is a clear error', async () => {
  const { c, id } = await victim();
  c.ws.terminate();
  await c.closed;
  await settle();
  assert.throws(() => emu.fault(id, { type: 'drop' }), /has no connection/);
  assert.throws(() => emu.fault('nope', { type: 'drop' }), /no session nope/);
});

test('parseFault and parseChaos validate their input', () => {
  assert.deepEqual(parseFault('drop'), { type: 'drop' });
  assert.deepEqual(parseFault({ type: 'close', code: 4000 }), { type: 'close', code: 4000 });
  assert.throws(() => parseFault({ type: 'close' }), /code/);
  assert.throws(() => parseFault({ type: 'close', code: 1005 }), /code/);
  assert.throws(() => parseFault({ type: 'close', code: 4000, reason: 'x'.repeat(124) }), /123 bytes/);
  assert.deepEqual(parseFault({ type: 'close', code: 4004, linger: true }), {
    type: 'close',
    code: 4004,
    linger: true,
  });
  assert.throws(() => parseFault({ type: 'explode' }), /unknown fault type "explode"/);
  const spec = parseChaos('1.5s:drop,close=4001,invalid-session=true');
  assert.equal(spec.interval, 1500);
  assert.deepEqual(spec.kinds, [
    { type: 'drop' },
    { type: 'close', code: 4001 },
    { type: 'invalid-session', resumable: true },
  ]);
  assert.equal(parseChaos('200ms').kinds.length > 5, true);
  assert.throws(() => parseChaos('often'), /interval/);
});

test('chaos: the same seed gives the same faults at the same times', () => {
  const run = (seed: number) => {
    const clock = new ManualClock();
    const seen: string[] = [];
    const chaos = startChaos(clock, parseChaos('1s'), seed, (fault: Fault) =>
      seen.push(`${clock.now()}:${fault.type}`),
    );
    clock.advance(20_000);
    chaos.stop();
    return seen;
  };
  const a = run(5);
  assert.ok(a.length >= 13 && a.length <= 40, `about one fault per second, got ${a.length}`);
  assert.deepEqual(run(5), a);
  assert.notDeepEqual(run(6), a);
});

test('the control surface injects faults and answers errors as JSON', async () => {
  const { c, id } = await victim();
  const post = (path: string, body: unknown) =>
    fetch(new URL(path, emu.controlUrl!), { method: 'POST', body: JSON.stringify(body) });
  const ok = await post('/faults', { session: id, fault: { type: 'close', code: 4000 } });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { injected: 1 });
  assert.equal((await c.closed).code, 4000);
  const bad = await post('/faults', { session: id, fault: { type: 'explode' } });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { message: string }).message, /unknown fault type/);
});

test('chaos mode injects seeded faults into live sessions until the emulator closes', async () => {
  const chaotic = await startEmulator({ chaos: '60ms:drop,close=4000,reconnect', reconnectCloseAfter: 20 });
  const c = await RawClient.open(chaotic.gatewayUrl);
  await c.ready();
  const { code } = await c.closed;
  assert.ok([1006, 4000].includes(code), `closed with ${code}`);
  assert.equal(chaotic.counters.faults, 1);
  await chaotic.close();
});
