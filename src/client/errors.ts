/**
 * Errors a shard reports. Each names what happened and what to do; none contains the token.
 */
import { describeCloseCode } from '../protocol/close-codes.js';

/** The gateway closed with a code that retrying cannot fix (4004, 4010–4014). */
export class GatewayCloseError extends Error {
  override name = 'GatewayCloseError';
  readonly code: number;
  readonly shardId: number;

  constructor(code: number, shardId: number, reason?: string) {
    const why = reason ? ` (server said: ${reason})` : '';
    super(`shard ${shardId} closed by the gateway with ${describeCloseCode(code)}${why}`);
    this.code = code;
    this.shardId = shardId;
  }
}

/** A payload over Discord's 4096-byte limit, refused before sending. */
export class PayloadTooLargeError extends RangeError {
  override name = 'PayloadTooLargeError';
}

/** The shard was closed (by the application or fatally) while a command was waiting to be sent. */
export class ShardClosedError extends Error {
  override name = 'ShardClosedError';
}
