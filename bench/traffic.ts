/**
 * The fixed traffic the throughput benchmarks replay: every client under test receives the same
 * list of events, byte for byte, repeated cyclically by `Emulator.burst`, so differences in the
 * numbers come from the clients and not from the traffic.
 *
 * Three mixes, as the issue asks: ~1 KB MESSAGE_CREATEs only; a realistic mix (the world's default
 * traffic of messages, presences, typing and the rest, plus a ~100 KB GUILD_CREATE every few hundred
 * events); and that same realistic list for an application that only wants MESSAGE_CREATE. Each list
 * starts and ends with a MESSAGE_CREATE, so a client that only sees the wanted events can still time
 * a window from its first event to its last, and the window covers whole cycles of the list.
 */
import { Emulator, type WorldDispatch } from '../dist/emulator/index.js';

export const ALL_INTENTS = 53608447;
export type MixName = 'messages' | 'realistic' | 'filtered';

export interface Traffic {
  name: MixName;
  events: readonly WorldDispatch[];
  /** Average JSON size of `d`, in bytes. */
  avgBytes: number;
  /** How many events of one cycle the application wants (all of them unless filtered). */
  wantedPerCycle: number;
  /** The application's event filter, or null for all events. */
  wanted: readonly string[] | null;
}

const VIEW = { sessionId: 'x', shardId: 0, shardCount: 1, intents: ALL_INTENTS, largeThreshold: 250 };
const MESSAGE_BYTES = 1024;
const MESSAGES_IN_CYCLE = 256;
const REALISTIC_CYCLE = 300;
const WORDS = [
  'gateway',
  'shard',
  'resume',
  'dispatch',
  'sequence',
  'heartbeat',
  'guild',
  'presence',
  'emoji',
];

const size = (d: unknown) => Buffer.byteLength(JSON.stringify(d));

export async function buildTraffic(seed = 7): Promise<Record<MixName, Traffic>> {
  // One world for everything; members sized so one GUILD_CREATE is about 100 KB.
  const emu = await Emulator.start({ guilds: 6, seed, members: [300, 320], controlPort: null });
  try {
    const world = emu.world;
    const guilds = world.guildIds();
    const channels = guilds.flatMap((g) => world.textChannelIds!(g));

    // ~1 KB messages with varied text, so compression sees ordinary prose rather than one repeated string.
    const messages: WorldDispatch[] = [];
    for (let i = 0; i < MESSAGES_IN_CYCLE; i++) {
      const channel = channels[i % channels.length]!;
      const base = size(world.userMessage(channel, '')!.d);
      let content = '';
      for (let w = i; content.length < MESSAGE_BYTES - base; w = (w * 7 + 3) % 997) {
        content += `${WORDS[w % WORDS.length]} ${w} `;
      }
      messages.push(world.userMessage(channel, content.slice(0, MESSAGE_BYTES - base))!);
    }

    const big = guilds
      .map((id) => ({ t: 'GUILD_CREATE', d: world.guildCreate(id, VIEW), guildId: id }))
      .sort((a, b) => Math.abs(size(a.d) - 100_000) - Math.abs(size(b.d) - 100_000))[0]!;

    const realistic: WorldDispatch[] = [];
    while (realistic.length < REALISTIC_CYCLE - 1) {
      const event = world.nextEvent();
      // MESSAGE_CREATE at both ends of the cycle: see the module comment.
      if (realistic.length === 0 && event.t !== 'MESSAGE_CREATE') continue;
      realistic.push(realistic.length === REALISTIC_CYCLE / 2 ? big : event);
    }
    realistic.push(messages[0]!);

    const avg = (list: readonly WorldDispatch[]) =>
      Math.round(list.reduce((sum, e) => sum + size(e.d), 0) / list.length);
    const countOf = (list: readonly WorldDispatch[], t: string) => list.filter((e) => e.t === t).length;
    return {
      messages: {
        name: 'messages',
        events: messages,
        avgBytes: avg(messages),
        wantedPerCycle: messages.length,
        wanted: null,
      },
      realistic: {
        name: 'realistic',
        events: realistic,
        avgBytes: avg(realistic),
        wantedPerCycle: realistic.length,
        wanted: null,
      },
      filtered: {
        name: 'filtered',
        events: realistic,
        avgBytes: avg(realistic),
        wantedPerCycle: countOf(realistic, 'MESSAGE_CREATE'),
        wanted: ['MESSAGE_CREATE'],
      },
    };
  } finally {
    await emu.close();
  }
}

/** Size of the largest event in a list (the GUILD_CREATE of the realistic mix). */
export function largestEvent(events: readonly WorldDispatch[]): { t: string; bytes: number } {
  let best = { t: '', bytes: 0 };
  for (const e of events) {
    const bytes = size(e.d);
    if (bytes > best.bytes) best = { t: e.t, bytes };
  }
  return best;
}
