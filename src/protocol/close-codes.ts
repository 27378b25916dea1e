/**
 * Gateway close codes and what a client must do about each one.
 *
 * Discord's table only says whether a client "may reconnect"; what a careful client does is finer:
 * some codes leave the session resumable, some require a new session, and six are fatal because
 * retrying cannot fix a bad token, bad intents or bad shard configuration. That decision lives here,
 * in one place, so the shard, the CLI and the emulator agree on it.
 */
import { GatewayCloseCodes } from 'discord-api-types/v10';

export { GatewayCloseCodes };

/** What the client does after the connection closes with a given code. */
export type CloseAction = 'resume' | 'identify' | 'fatal';

interface CloseCodeInfo {
  readonly name: string;
  readonly action: CloseAction;
  /** For fatal codes: what the user has to change. */
  readonly fix?: string;
}

const TABLE: Readonly<Record<number, CloseCodeInfo>> = {
  4000: { name: 'Unknown error', action: 'resume' },
  4001: { name: 'Unknown opcode', action: 'resume' },
  4002: { name: 'Decode error', action: 'resume' },
  4003: { name: 'Not authenticated', action: 'identify' },
  4004: {
    name: 'Authentication failed',
    action: 'fatal',
    fix: 'the token is invalid or was reset; get a fresh bot token from the Developer Portal',
  },
  4005: { name: 'Already authenticated', action: 'identify' },
  4007: { name: 'Invalid seq', action: 'identify' },
  4008: { name: 'Rate limited', action: 'resume' },
  4009: { name: 'Session timed out', action: 'identify' },
  4010: {
    name: 'Invalid shard',
    action: 'fatal',
    fix: 'the shard id must be below the shard count, and the count must follow the large-bot sharding rule',
  },
  4011: {
    name: 'Sharding required',
    action: 'fatal',
    fix: 'a shard would hold more than 2500 guilds; use more shards (the recommended count from GET /gateway/bot)',
  },
  4012: {
    name: 'Invalid API version',
    action: 'fatal',
    fix: 'connect with a supported gateway version (v=10)',
  },
  4013: {
    name: 'Invalid intent(s)',
    action: 'fatal',
    fix: 'the intents value has undefined bits or is missing; use a valid intents bitfield',
  },
  4014: {
    name: 'Disallowed intent(s)',
    action: 'fatal',
    fix: 'a privileged intent (GUILD_MEMBERS, GUILD_PRESENCES or MESSAGE_CONTENT) is not enabled for this application; enable it in the Developer Portal or remove it from the intents',
  },
};

/** The action for any close code, including standard WebSocket codes and codes Discord never defined. */
export function closeAction(code: number): CloseAction {
  const known = TABLE[code];
  if (known) return known.action;
  // A server-sent 1000/1001 is undocumented; re-identifying is the safe reading.
  if (code === 1000 || code === 1001) return 'identify';
  // 1006 (no close frame) and every other code: the session is still there, resume it.
  return 'resume';
}

export function isFatalCloseCode(code: number): boolean {
  return closeAction(code) === 'fatal';
}

/** A human sentence naming the code, e.g. "4014 Disallowed intent(s): a privileged intent …". */
export function describeCloseCode(code: number): string {
  const known = TABLE[code];
  if (!known) return `${code}`;
  return known.fix ? `${code} ${known.name}: ${known.fix}` : `${code} ${known.name}`;
}

/** Close codes the gateway application layer defines (for validation in the emulator's fault API). */
export const GATEWAY_CLOSE_CODES: readonly number[] = Object.keys(TABLE).map(Number);

/**
 * The code dusk closes with when it wants to resume. Any code other than 1000/1001 keeps the
 * session; a value in the application range makes the intent visible in server logs.
 */
export const RESUMABLE_CLOSE_CODE = 4900;
