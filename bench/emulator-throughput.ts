/**
 * How fast the emulator pushes dispatches to one connection, so client benchmarks know it is not
 * their bottleneck. The emulator runs here; a sink client (bench/sink.ts) runs in its own process
 * and counts messages without parsing them. Reported: dispatches/s as the sink saw them, and the
 * emulator's own CPU time per dispatch.
 */
import { Emulator, type WorldDispatch } from '../dist/emulator/index.js';
import { spawnScript } from './spawn.js';

export interface EmulatorThroughput {
  dispatches: number;
  perSecond: number;
  cpuMicrosPerDispatch: number;
}

/**
 * `events`: the list to replay (as the throughput benchmark does), or by default only TYPING_START,
 * the smallest common dispatch (~300 bytes).
 */
export async function measureEmulatorThroughput(
  count = 500_000,
  events?: readonly WorldDispatch[],
): Promise<EmulatorThroughput> {
  const emu = await Emulator.start({ guilds: 1, seed: 1, controlPort: null });
  const child = spawnScript('sink.ts', [emu.gatewayUrl, emu.token, String(count)], 'emulator sink');
  try {
    const { session } = await child.next<{ session: string }>();
    const cpu = process.cpuUsage();
    await emu.burst(session, count, events ?? { TYPING_START: 1 });
    const result = await child.next<{ received: number; ms: number }>();
    const used = process.cpuUsage(cpu);
    return {
      dispatches: result.received,
      perSecond: Math.round(result.received / (result.ms / 1000)),
      cpuMicrosPerDispatch: (used.user + used.system) / result.received,
    };
  } finally {
    await child.exit(0);
    await emu.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await measureEmulatorThroughput(Number(process.argv[2] ?? 500_000));
  console.log(
    `emulator → one connection: ${r.dispatches} TYPING_START in a burst, ${r.perSecond.toLocaleString('en')} dispatches/s, ` +
      `${r.cpuMicrosPerDispatch.toFixed(2)} µs emulator CPU each`,
  );
}
