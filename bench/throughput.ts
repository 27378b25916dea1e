/**
 * Throughput of one shard (issue items 1 and 2): dispatches per second and client CPU per
 * dispatch, for each traffic mix (bench/traffic.ts) and each transport compression, for dusk,
 * @discordjs/ws and the no-library floor, plus the in-process raw limit (decompress + parse of the
 * floor's captured frames with no socket).
 *
 * One burst per run: a warm-up (about 20k events, so the JIT and the socket buffers are in steady
 * state) followed by the timed window (about 100k events), both cut to whole cycles of the list. The
 * client times from the first to the last event of the window by sequence number. The emulator runs
 * here, each client in its own process. The emulator builds and compresses the whole burst before
 * writing any of it (`Emulator.prepareBurst`): compressing a zlib stream as Discord does costs more
 * per event than a fast client spends inflating it, so a live burst would time the emulator. Its CPU
 * per event while writing is recorded too.
 */
import { Emulator } from '../dist/emulator/index.js';
import type { ClientKind, Compress } from './clients.js';
import { emulatorTarget, spawnClient } from './spawn.js';
import type { Traffic } from './traffic.js';

export interface ThroughputResult {
  mix: string;
  compress: Compress;
  client: ClientKind;
  events: number;
  perSecond: number;
  cpuMicrosPerEvent: number;
  /** CPU the emulator spent per event writing the prepared burst. */
  emulatorMicrosPerEvent: number;
  /**
   * Cores other processes kept busy during the window: the machine's busy time minus this client's
   * CPU and the emulator's (estimated from its CPU per event). Above ~0.3 the figure is suspect.
   */
  foreignCores: number | null;
  /** Floor only: the same frames decompressed and parsed in a loop without a socket. */
  raw?: { perSecond: number; cpuMicrosPerEvent: number };
}

export interface ThroughputOptions {
  warmup?: number;
  events?: number;
  /** Write a CPU profile of the client's timed window to this file. */
  profile?: string;
}

const cycles = (n: number, length: number) => Math.max(1, Math.round(n / length)) * length;

export async function measureThroughput(
  traffic: Traffic,
  compress: Compress,
  client: ClientKind,
  options: ThroughputOptions = {},
): Promise<ThroughputResult> {
  const length = traffic.events.length;
  const warmup = cycles(options.warmup ?? 20_000, length);
  const events = cycles(options.events ?? 100_000, length);
  const emu = await Emulator.start({ guilds: 1, seed: 1, controlPort: null, identifyInterval: 0 });
  const child = spawnClient({
    role: 'throughput',
    client,
    ...emulatorTarget(emu),
    compress,
    wanted: traffic.wanted,
    ...(options.profile ? { profile: options.profile } : {}),
  });
  try {
    const { session } = await child.next<{ session: string }>();
    const base = emu.session(session)!.seq;
    const from = base + warmup + 1;
    const to = base + warmup + events;
    child.send({ from, to });
    // Give the child a moment to read the window before the flood reaches it.
    await new Promise((r) => setTimeout(r, 50));
    // Built and compressed before the first byte goes out, so only the client's speed is timed.
    const burst = await emu.prepareBurst(session, warmup + events, traffic.events);
    const cpu = process.cpuUsage();
    await burst.send();
    const used = process.cpuUsage(cpu);
    const r = await child.next<{
      ms: number;
      cpuMicros: number;
      seen: number;
      machineBusyCores: number | null;
      raw?: { events: number; ms: number; cpuMicros: number };
    }>();
    const expectedSeen = (events / length) * traffic.wantedPerCycle;
    if (r.seen !== expectedSeen) {
      throw new Error(
        `${client} ${compress}: saw ${r.seen} wanted events in the window, expected ${expectedSeen}`,
      );
    }
    const emulatorMicrosPerEvent = (used.user + used.system) / (warmup + events);
    const ownCores = (r.cpuMicros + emulatorMicrosPerEvent * events) / (r.ms * 1000);
    return {
      mix: traffic.name,
      compress,
      client,
      events,
      perSecond: events / (r.ms / 1000),
      cpuMicrosPerEvent: r.cpuMicros / events,
      emulatorMicrosPerEvent,
      foreignCores: r.machineBusyCores === null ? null : Math.max(0, r.machineBusyCores - ownCores),
      ...(r.raw
        ? {
            raw: {
              perSecond: r.raw.events / (r.raw.ms / 1000),
              cpuMicrosPerEvent: r.raw.cpuMicros / r.raw.events,
            },
          }
        : {}),
    };
  } finally {
    await child.exit();
    await emu.close();
  }
}
