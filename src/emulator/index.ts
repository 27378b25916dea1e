/**
 * `dusk/emulator`: a local Discord gateway for offline tests, with fault injection.
 *
 * `Emulator.start(options)` listens on a free port and returns URLs to point any client at
 * (`gatewayUrl`, `apiUrl`), the token it accepts, and the handles a test needs: `dispatch` to make
 * something happen, `burst` to flood a session, `fault` to break a connection, `session(id).log()`
 * to check that a client saw every event exactly once, and `counters`.
 */
export { type Compression, splitFrame } from './compress.js';
export {
  type Counters,
  type DispatchTarget,
  Emulator,
  type EmulatorOptions,
  type SessionSummary,
} from './emulator.js';
export { type ChaosSpec, FAULT_TYPES, type Fault, type FaultType, parseChaos, parseFault } from './faults.js';
export type { SessionStartLimitOptions } from './identify-limits.js';
export type { GatewaySession, LogEntry } from './session.js';
export { SeededWorld } from './world.js';
export type { SessionView, TrafficMix, World, WorldDispatch, WorldOptions } from './world-types.js';
