/**
 * Shared set-up for shard tests: an emulator with fast timings, a shard pointed at it, and helpers
 * to collect what the shard delivered and compare it with what the emulator sent.
 */
import assert from 'node:assert/strict';
import { Emulator, type EmulatorOptions } from '../../src/emulator/index.js';
import { type Dispatch, LocalIdentifyQueue, Shard, type ShardOptions } from '../../src/index.js';

export const TOKEN = 'MTMwMzMyNzk1ODYzMDUzMTA3OQ.GaBcDe.emulator-test-token-abcdefghijkl';

export async function startEmulator(options: Partial<EmulatorOptions> = {}): Promise<Emulator> {
  return Emulator.start({
    port: 0,
    token: TOKEN,
    guilds: 6,
    seed: 7,
    heartbeatInterval: 1000,
    identifyInterval: 20,
    ...options,
  });
}

/** One identify queue per emulator, as one process shares one queue, matching its identify window. */
const queues = new WeakMap<Emulator, LocalIdentifyQueue>();

export function shardFor(emu: Emulator, options: Partial<ShardOptions> = {}): Shard {
  let identifyQueue = queues.get(emu);
  if (!identifyQueue) queues.set(emu, (identifyQueue = new LocalIdentifyQueue({ window: 25 })));
  return new Shard({
    identifyQueue,
    token: TOKEN,
    intents: 'ALL',
    gatewayUrl: emu.gatewayUrl,
    backoff: { min: 10, max: 100 },
    ...options,
  });
}

export async function until(check: () => boolean, what = 'condition', timeoutMs = 8000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Collects dispatches through the listener interface. */
export function collect(shard: Shard): Dispatch[] {
  const events: Dispatch[] = [];
  shard.on('dispatch', (e) => events.push(e));
  return events;
}

/** The seqs the emulator logged for a session must equal the seqs the shard delivered for it. */
export function assertExactlyOnce(
  emu: Emulator,
  events: readonly Dispatch[],
  sessionIds: readonly string[],
): void {
  let offset = 0;
  for (const id of sessionIds) {
    const sent = emu
      .session(id)!
      .log()
      .map((entry) => `${entry.seq}:${entry.t}`);
    const got = events.slice(offset, offset + sent.length).map((e) => `${e.s}:${e.t}`);
    assert.deepEqual(got, sent, `session ${id}: delivered events differ from what the emulator sent`);
    offset += sent.length;
  }
  assert.equal(offset, events.length, 'the shard delivered events the emulator never sent');
}

/** Reads `iterator` to its end: what a `for await` loop still gets. */
export async function readToEnd(iterator: AsyncIterator<Dispatch>): Promise<Dispatch[]> {
  const events: Dispatch[] = [];
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) events.push(next.value);
  return events;
}
