/**
 * Every failure the emulator can inflict on a connection, on demand or on a seeded schedule.
 *
 * Each fault is something Discord or the network really does: a TCP drop with no close frame, a
 * close with any code (optionally lingering: the close frame, then a socket that is neither read nor
 * ended), op 7, op 9 either way, a server heartbeat request, a server that stops
 * ACKing (or ACKs late), a connection that stalls entirely, a corrupt compressed frame, a payload
 * that is not JSON, an opcode the client has never heard of, and the 4009 session timeout. None of
 * them may cost a correct client an event; the session log is how tests check that.
 *
 * Chaos mode picks a random attached session and a random fault kind every `interval` ms (± half
 * of it), from a seeded generator so a failing run can be replayed with the same seed.
 */
import type { Clock, Timer } from '../clock.js';
import { Random } from './random.js';

export type Fault =
  | { type: 'drop' }
  | { type: 'close'; code: number; reason?: string; linger?: boolean }
  | { type: 'reconnect'; closeAfter?: number }
  | { type: 'invalid-session'; resumable: boolean }
  | { type: 'heartbeat-request' }
  | { type: 'zombie' }
  | { type: 'delay-acks'; ms: number }
  | { type: 'stall' }
  | { type: 'corrupt' }
  | { type: 'invalid-json' }
  | { type: 'mangled-dispatch' }
  | { type: 'unknown-opcode' }
  | { type: 'session-timeout' };

export type FaultType = Fault['type'];

export const FAULT_TYPES: readonly FaultType[] = [
  'drop',
  'close',
  'reconnect',
  'invalid-session',
  'heartbeat-request',
  'zombie',
  'delay-acks',
  'stall',
  'corrupt',
  'invalid-json',
  'mangled-dispatch',
  'unknown-opcode',
  'session-timeout',
];

/** Validates a fault coming from outside (the control surface, the CLI). */
export function parseFault(value: unknown): Fault {
  if (typeof value === 'string') value = { type: value };
  if (typeof value !== 'object' || value === null)
    throw new TypeError('a fault must be an object with a "type"');
  const f = value as Record<string, unknown>;
  const type = f.type as FaultType;
  if (!FAULT_TYPES.includes(type)) {
    throw new TypeError(
      `unknown fault type ${JSON.stringify(f.type)}; expected one of ${FAULT_TYPES.join(', ')}`,
    );
  }
  switch (type) {
    case 'close': {
      const code = f.code as number;
      // The codes a close frame may carry (RFC 6455 §7.4); 1004–1006 are reserved for reporting.
      if (
        !Number.isInteger(code) ||
        !((code >= 1000 && code <= 1014 && (code < 1004 || code > 1006)) || (code >= 3000 && code <= 4999))
      ) {
        throw new TypeError('a close fault needs an integer "code": 1000–1003, 1007–1014 or 3000–4999');
      }
      if (f.reason !== undefined && (typeof f.reason !== 'string' || Buffer.byteLength(f.reason) > 123)) {
        throw new TypeError('a close fault\'s "reason" must be a string of at most 123 bytes');
      }
      return {
        type,
        code,
        ...(f.reason !== undefined ? { reason: f.reason as string } : {}),
        ...(f.linger === true ? { linger: true } : {}),
      };
    }
    case 'invalid-session':
      return { type, resumable: f.resumable === true };
    case 'delay-acks':
      return { type, ms: typeof f.ms === 'number' && f.ms >= 0 ? f.ms : 1000 };
    case 'reconnect':
      return typeof f.closeAfter === 'number' ? { type, closeAfter: f.closeAfter } : { type };
    default:
      return { type } as Fault;
  }
}

export interface ChaosSpec {
  /** Mean time between faults in ms. */
  interval: number;
  /** Fault kinds to draw from (default: every kind that a correct client survives without a new session). */
  kinds: readonly Fault[];
}

const DEFAULT_CHAOS: readonly Fault[] = [
  { type: 'drop' },
  { type: 'close', code: 4000 },
  { type: 'reconnect' },
  { type: 'invalid-session', resumable: true },
  { type: 'invalid-session', resumable: false },
  { type: 'heartbeat-request' },
  { type: 'zombie' },
  { type: 'stall' },
  { type: 'corrupt' },
  { type: 'invalid-json' },
  { type: 'mangled-dispatch' },
  { type: 'unknown-opcode' },
  { type: 'session-timeout' },
];

/**
 * Parses `INTERVAL[:kind,kind,...]`, e.g. `5s`, `800ms:drop,reconnect`, `2s:close=4000,zombie`.
 * An interval is a number with `ms`, `s` or `m`.
 */
export function parseChaos(spec: string): ChaosSpec {
  const [every, list] = spec.split(':', 2) as [string, string | undefined];
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(every.trim());
  if (!match) throw new TypeError(`--chaos: "${every}" is not an interval such as 500ms, 5s or 1m`);
  const interval = Number(match[1]) * (match[2] === 'ms' ? 1 : match[2] === 's' ? 1000 : 60_000);
  if (interval <= 0) throw new TypeError('--chaos: the interval must be positive');
  const kinds = list
    ? list.split(',').map((item) => {
        const [type, arg] = item.trim().split('=', 2) as [string, string | undefined];
        if (type === 'close') return parseFault({ type, code: Number(arg ?? 4000) });
        if (type === 'invalid-session') return parseFault({ type, resumable: arg === 'true' });
        if (type === 'delay-acks') return parseFault({ type, ms: Number(arg ?? 1000) });
        return parseFault({ type });
      })
    : DEFAULT_CHAOS;
  return { interval, kinds };
}

/** Runs a chaos schedule until stopped. `inject` receives the fault and returns whether a target existed. */
export function startChaos(
  clock: Clock,
  spec: ChaosSpec,
  seed: number,
  inject: (fault: Fault, random: Random) => void,
): { stop(): void } {
  const random = new Random(seed).fork('chaos');
  let timer: Timer | null = null;
  const schedule = () => {
    timer = clock.setTimeout(
      () => {
        inject(random.pick(spec.kinds), random);
        schedule();
      },
      spec.interval * (0.5 + random.next()),
    );
  };
  schedule();
  return { stop: () => timer?.cancel() };
}
