/**
 * Startup (issue item 4): time from starting 64 shards with max_concurrency 16 until all are READY,
 * against the protocol limit. Discord lets each of the 16 buckets identify once per 5 s, so the
 * fourth wave cannot identify before 15 s: the limit is (ceil(N/c) − 1) × 5 s plus the time one wave
 * takes to connect, which is measured here too, as 16 bare clients (bench/clients.ts, the floor)
 * connecting and identifying at once against the same emulator.
 *
 * The emulator enforces the real 5 s window, so a client that identified early would be refused
 * with op 9 (counted and reported), not rewarded.
 */
import { Emulator } from '../dist/emulator/index.js';
import type { ClientKind } from './clients.js';
import { spawnClient } from './spawn.js';
import { ALL_INTENTS } from './traffic.js';

export const IDENTIFY_WINDOW_MS = 5000;

export interface StartupResult {
  client: ClientKind;
  shards: number;
  maxConcurrency: number;
  /** Until all READY (floor: until one wave of maxConcurrency shards is READY). */
  ms: number;
  /** IDENTIFYs the emulator refused because their bucket was still busy. */
  refused: number;
}

export async function measureStartup(
  client: ClientKind,
  shards = 64,
  maxConcurrency = 16,
): Promise<StartupResult> {
  const emu = await Emulator.start({
    guilds: shards,
    seed: 1,
    controlPort: null,
    maxConcurrency,
    identifyInterval: IDENTIFY_WINDOW_MS,
    heartbeatInterval: 41_250,
    shards,
  });
  const child = spawnClient({
    role: 'startup',
    client,
    gatewayUrl: emu.gatewayUrl,
    apiUrl: emu.apiUrl,
    token: emu.token,
    intents: ALL_INTENTS,
    compress: null,
    shards,
    maxConcurrency,
  });
  try {
    const r = await child.next<{ ms: number }>();
    return { client, shards, maxConcurrency, ms: r.ms, refused: emu.counters.identifyRateLimited };
  } finally {
    await child.exit();
    await emu.close();
  }
}

/** (ceil(N/c) − 1) × 5 s plus the measured connection time of one wave. */
export function protocolLimit(shards: number, maxConcurrency: number, connectMs: number): number {
  return (Math.ceil(shards / maxConcurrency) - 1) * IDENTIFY_WINDOW_MS + connectMs;
}
