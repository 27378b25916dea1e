/**
 * The shard's central promise under sustained abuse: twenty faults of every kind the emulator can
 * inject, drawn from a seed, with traffic before, during and after each, and at the end every
 * event of every session the shard had was delivered exactly once, in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../src/clock.js';
import type { Fault } from '../../src/emulator/index.js';
import { Random } from '../../src/emulator/random.js';
import { assertExactlyOnce, collect, shardFor, startEmulator, until } from './harness.js';

const FAULTS: Fault[] = [
  { type: 'drop' },
  { type: 'close', code: 4000 },
  { type: 'close', code: 4001 },
  { type: 'close', code: 4002 },
  { type: 'close', code: 4003 },
  { type: 'close', code: 4005 },
  { type: 'close', code: 4007 },
  { type: 'close', code: 4008 },
  { type: 'close', code: 4009 },
  { type: 'close', code: 1000 },
  { type: 'close', code: 1001 },
  { type: 'reconnect' },
  { type: 'invalid-session', resumable: true },
  { type: 'invalid-session', resumable: false },
  { type: 'heartbeat-request' },
  { type: 'zombie' },
  { type: 'delay-acks', ms: 200 },
  { type: 'stall' },
  { type: 'corrupt' },
  { type: 'invalid-json' },
  { type: 'unknown-opcode' },
  { type: 'session-timeout' },
];

for (const compress of [null, 'zstd-stream'] as const) {
  test(`20 seeded faults of every kind (${compress ?? 'uncompressed'}): no event lost or duplicated`, async () => {
    const emu = await startEmulator({ heartbeatInterval: 400, reconnectCloseAfter: 200 });
    // Jitter pinned low: heartbeats start at once and re-identify waits the minimum 1 s.
    const shard = shardFor(emu, { compress, clock: { ...systemClock, random: () => 0 } });
    const events = collect(shard);
    const sessions: string[] = [];
    shard.on('ready', (ready) => sessions.push(ready.session_id));
    await shard.connect();
    const random = new Random(compress ? 11 : 7);
    const delivered = () => sessions.reduce((n, id) => n + emu.session(id)!.log().length, 0);
    const kinds = new Set<string>();

    for (let round = 0; round < 20; round++) {
      // Every kind once before any repeats, in a seeded order.
      const fault = round < FAULTS.length ? FAULTS[(round * 7) % FAULTS.length]! : random.pick(FAULTS);
      await until(() => {
        const current = shard.session;
        return current !== null && emu.session(current.sessionId)?.connected === true;
      }, 'a connection to break');
      const id = shard.session!.sessionId;
      await emu.burst(id, 50);
      emu.fault(id, fault);
      kinds.add(fault.type === 'close' ? `close ${fault.code}` : fault.type);
      // Events keep happening while the shard recovers.
      for (let i = 0; i < 10; i++)
        emu.dispatch('TYPING_START', { channel_id: '1', user_id: '2', timestamp: i }, { session: id });
      await until(
        () => shard.state.status === 'active' && events.length === delivered(),
        `recovery from ${fault.type}`,
        15_000,
      );
    }
    await emu.burst(shard.session!.sessionId, 100);
    await until(() => events.length === delivered(), 'the final burst');
    assertExactlyOnce(emu, events, sessions);
    assert.ok(kinds.size >= 18, `only ${kinds.size} kinds of fault were injected`);
    assert.ok(sessions.length > 1, 'some faults must have forced a new session');
    assert.equal(shard.state.status, 'active');
    // Resumes went to resume_gateway_url, new sessions to the bootstrap URL.
    assert.equal(emu.counters.resumesOffResumeUrl, 0);
    assert.equal(emu.counters.identifiesOnResumeUrl, 0);
    await shard.close();
    await emu.close();
  });
}
