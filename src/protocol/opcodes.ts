/**
 * Gateway opcodes (v10) and the rules about who may send which.
 *
 * The numeric values come from discord-api-types so that dusk and the types it re-exports never drift
 * apart; this module adds the facts the types do not carry: which opcodes a bot may send, and which a
 * connection may send before it is authenticated.
 */
import { GatewayOpcodes } from 'discord-api-types/v10';

export { GatewayOpcodes };

/** The API version dusk speaks. */
export const API_VERSION = 10;

/** Opcodes a bot client may send. Anything else from a client is answered with 4001. */
export const CLIENT_OPCODES: ReadonlySet<number> = new Set([
  GatewayOpcodes.Heartbeat,
  GatewayOpcodes.Identify,
  GatewayOpcodes.PresenceUpdate,
  GatewayOpcodes.VoiceStateUpdate,
  GatewayOpcodes.Resume,
  GatewayOpcodes.RequestGuildMembers,
  GatewayOpcodes.RequestSoundboardSounds,
  43, // Request Channel Info: documented in 2026, not yet in every discord-api-types release.
]);

/** Before IDENTIFY or RESUME succeeds only these are accepted; anything else closes with 4003. */
export const PRE_AUTH_OPCODES: ReadonlySet<number> = new Set([
  GatewayOpcodes.Heartbeat,
  GatewayOpcodes.Identify,
  GatewayOpcodes.Resume,
]);

/** The largest payload a client may send, in UTF-8 bytes. A larger one is answered with 4002. */
export const MAX_CLIENT_PAYLOAD_BYTES = 4096;

/** The per-connection send budget: this many client payloads in any window of SEND_WINDOW_MS. */
export const SEND_LIMIT = 120;
export const SEND_WINDOW_MS = 60_000;

/** One identify per bucket (`shard_id % max_concurrency`) per this many milliseconds. */
export const IDENTIFY_WINDOW_MS = 5_000;

/** Guilds one shard may hold before Discord closes with 4011. */
export const MAX_GUILDS_PER_SHARD = 2500;
