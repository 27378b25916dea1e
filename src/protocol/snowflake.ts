/**
 * Snowflakes: Discord's 64-bit ids (42 bits of milliseconds since 2015, then worker, process and an
 * increment). They travel as decimal strings; arithmetic needs BigInt because they exceed 2^53.
 */

export const DISCORD_EPOCH = 1420070400000;

/** The shard that receives events for `guildId` among `shardCount` shards: `(id >> 22) % count`. */
export function shardForGuild(guildId: string | bigint, shardCount: number): number {
  return Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}

/** Builds a snowflake from its parts. */
export function makeSnowflake(timestampMs: number, worker = 0, processId = 0, increment = 0): string {
  const ms = BigInt(timestampMs - DISCORD_EPOCH);
  return (
    (ms << 22n) |
    (BigInt(worker & 31) << 17n) |
    (BigInt(processId & 31) << 12n) |
    BigInt(increment & 0xfff)
  ).toString();
}

/** Milliseconds since the Unix epoch at which `id` was created. */
export function snowflakeTimestamp(id: string | bigint): number {
  return Number(BigInt(id) >> 22n) + DISCORD_EPOCH;
}

/** True for a decimal string that is a plausible snowflake (positive, fits in 64 bits). */
export function isSnowflake(value: unknown): value is string {
  if (typeof value !== 'string' || !/^\d{1,20}$/.test(value)) return false;
  const n = BigInt(value);
  return n > 0n && n < 1n << 64n;
}
