/**
 * Checks for the numbers in client and emulator options.
 *
 * A bad number rarely fails where it is given: `NaN` as an identify window releases every shard at
 * once, a negative timeout turns every attempt into a timeout, a fractional worker count leaves
 * shards on a thread that never starts, an infinite event rate never yields the event loop. Each
 * constructor checks its numbers with these, so the mistake throws at once, naming the option.
 */

/** Whether `value` is an integer in [min, max]. */
export function isInteger(value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): value is number {
  return Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
}

/** `value` when it is an integer in [min, max]; a RangeError naming `name` otherwise. */
export function integer(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!isInteger(value, min, max)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
    throw new RangeError(`${name} must be an integer ${range}, got ${String(value)}`);
  }
  return value as number;
}

/** `value` when it is a finite number of milliseconds of at least `min`; a RangeError otherwise. */
export function duration(name: string, value: unknown, min = 0): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new RangeError(`${name} must be a finite number of ms, at least ${min}, got ${String(value)}`);
  }
  return value;
}

/** `ids` when it lists distinct shard ids of `count` shards, at least one. */
export function shardIds(ids: readonly number[], count: number): readonly number[] {
  if (!Array.isArray(ids) || ids.length === 0) throw new RangeError('shardIds must list at least one shard');
  for (const id of ids) integer('every id in shardIds', id, 0, count - 1);
  if (new Set(ids).size !== ids.length) throw new RangeError('shardIds has duplicates');
  return ids;
}
