/**
 * dusk: a Discord gateway client that keeps its sessions alive and never loses an event.
 *
 * The public surface: `Shard` (one connection), sessions and their stores, the identify queue,
 * and the protocol facts (intents, close codes, snowflakes). The emulator is a separate entry
 * point, `dusk/emulator`, so bots do not load it in production.
 */

export { type BackoffOptions, backoffDelay } from './client/backoff.js';
export { GatewayCloseError, PayloadTooLargeError, ShardClosedError } from './client/errors.js';
export type { LatencyStats } from './client/heartbeat.js';
export type { IdentifyProgress, SessionStartLimit, SessionStartState } from './client/identify-queue.js';
export {
  type IdentifyQueue,
  LocalIdentifyQueue,
  type LocalIdentifyQueueOptions,
} from './client/identify-queue.js';
export { type Compression, InflateError } from './client/inflate.js';
export {
  type ManagerEvents,
  type ManagerShardOptions,
  ShardManager,
  type ShardManagerOptions,
  type ShardStatusEntry,
} from './client/manager.js';
export { bucketOrder, bucketRange, evenRange, shardRange } from './client/ranges.js';
export type { RateLimiterState } from './client/ratelimiter.js';
export {
  DEFAULT_API,
  fetchGateway,
  fetchGatewayBot,
  type GatewayBotInfo,
  RestError,
  type RestOptions,
} from './client/rest.js';
export {
  FileSessionStore,
  isSessionInfo,
  MemorySessionStore,
  type SessionInfo,
  type SessionStore,
} from './client/session.js';
export {
  type Dispatch,
  Shard,
  type ShardEvents,
  type ShardOptions,
  ShardSender,
  type ShardState,
  type ShardStatus,
  type ShardTimeouts,
} from './client/shard.js';
export {
  type WorkerManagerEvents,
  WorkerShardManager,
  type WorkerShardManagerOptions,
  type WorkerShardOptions,
  type WorkerShardStatus,
} from './client/workers.js';
export { type Clock, ManualClock, systemClock, type Timer } from './clock.js';
export { consoleLogger, type Logger, type LogLevel, silentLogger } from './logger.js';
export * from './protocol/index.js';
export { redact, Secret } from './redact.js';
