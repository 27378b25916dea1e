/**
 * Resume (issue item 5): how long from a dropped connection (the emulator ends the TCP connection
 * without a close frame) to RESUMED, and whether any event was lost or duplicated on the way.
 *
 * Two drops per run. The first comes while the connection is idle, and times drop → RESUMED across
 * the two processes on the wall clock (the replay is empty, so only reconnecting is measured). The
 * second comes in the middle of a burst, with thousands of events in flight in socket buffers, and
 * is the loss test: at the end the sequence numbers the client received are compared with the
 * session's log on the emulator, which must match exactly once each, in order.
 */
import { Emulator } from '../dist/emulator/index.js';
import type { ClientKind, Compress } from './clients.js';
import { emulatorTarget, spawnClient } from './spawn.js';
import type { Traffic } from './traffic.js';

export interface ResumeResult {
  client: ClientKind;
  compress: Compress;
  /** Drop → RESUMED on an idle connection. */
  idleMs: number;
  /** Drop → RESUMED in the middle of a burst (includes replaying what was in flight). */
  underLoadMs: number;
  events: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
}

const wallNow = () => performance.timeOrigin + performance.now();

export async function measureResume(
  client: ClientKind,
  compress: Compress,
  traffic: Traffic,
): Promise<ResumeResult> {
  const emu = await Emulator.start({
    guilds: 1,
    seed: 1,
    controlPort: null,
    identifyInterval: 0,
    heartbeatInterval: 41_250,
  });
  const child = spawnClient({
    role: 'resume',
    client,
    ...emulatorTarget(emu),
    compress,
  });
  try {
    const { session } = await child.next<{ session: string }>();
    await emu.burst(session, 5000, traffic.events);
    await new Promise((r) => setTimeout(r, 300));
    let dropped = wallNow();
    emu.fault(session, { type: 'drop' });
    const idle = await child.next<{ at: number }>();
    const idleMs = idle.at - dropped;

    const burst = emu.burst(session, 20_000, traffic.events);
    await new Promise((r) => setTimeout(r, 20));
    dropped = wallNow();
    emu.fault(session, { type: 'drop' });
    await burst;
    const loaded = await child.next<{ at: number }>();
    await emu.burst(session, 5000, traffic.events);

    const log = emu.session(session)!.log();
    child.send({ to: log.at(-1)!.seq });
    const { seqs } = await child.next<{ seqs: number[] }>();
    const expected = log.map((e) => e.seq).filter((s) => s > 1); // READY is not delivered as an event
    const got = new Set(seqs);
    let outOfOrder = 0;
    for (let i = 1; i < seqs.length; i++) if (seqs[i]! <= seqs[i - 1]!) outOfOrder++;
    return {
      client,
      compress,
      idleMs,
      underLoadMs: loaded.at - dropped,
      events: expected.length,
      lost: expected.filter((s) => !got.has(s)).length,
      duplicated: seqs.length - got.size,
      outOfOrder,
    };
  } finally {
    await child.exit();
    await emu.close();
  }
}
