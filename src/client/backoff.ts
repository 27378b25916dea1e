/**
 * When to try again after a connection fails.
 *
 * The first reconnect is immediate: most disconnects are one-off (a deploy, op 7) and resuming at
 * once loses nothing. If attempts keep failing, the delay doubles from `min` up to `max`, and each
 * delay is drawn from its upper half ("equal jitter") so that thousands of shards that lost the same
 * server do not come back in lockstep, while no attempt comes sooner than half the nominal delay.
 */

export interface BackoffOptions {
  /** Nominal delay of the second attempt (default 1 s). */
  min?: number;
  /** Cap of the nominal delay (default 60 s). */
  max?: number;
}

/** Delay in ms before reconnect attempt number `attempt` (1-based). `random` is in [0, 1). */
export function backoffDelay(attempt: number, random: number, options: BackoffOptions = {}): number {
  if (attempt <= 1) return 0;
  const min = options.min ?? 1000;
  const max = options.max ?? 60_000;
  const nominal = Math.min(max, min * 2 ** Math.min(attempt - 2, 30));
  return Math.round(nominal / 2 + (random * nominal) / 2);
}

/** A random wait in [1, 5) s before re-identifying after op 9 false or a new-session close code. */
export function reidentifyDelay(random: number): number {
  return Math.round(1000 + random * 4000);
}
