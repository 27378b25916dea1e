/**
 * Which shards a process runs.
 *
 * A bot too big for one process splits its shards between processes. Two ways are offered:
 *
 *   - consecutive ranges (`A-B of N`), the usual layout, where processes must share one identify
 *     queue (or start one after another) because their shards fall into the same identify buckets;
 *   - bucket-aligned splits (`bucket group k of m`), where each process takes whole identify buckets
 *     (`shard_id % max_concurrency`), so processes never compete for a bucket and each can run its
 *     own local queue at full speed.
 *
 * Either way, the processes together cover every shard id exactly once.
 */

/** Shard ids `first..last` inclusive, checked against `count`. */
export function shardRange(first: number, last: number, count: number): number[] {
  if (
    ![first, last, count].every(Number.isInteger) ||
    count < 1 ||
    first < 0 ||
    first > last ||
    last >= count
  ) {
    throw new RangeError(
      `shard range ${first}-${last} of ${count} is invalid: need 0 <= first <= last < count`,
    );
  }
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/** Process `index` of `processes` gets an even consecutive slice of `count` shards. */
export function evenRange(index: number, processes: number, count: number): number[] {
  checkPart(index, processes);
  if (processes > count) throw new RangeError(`${processes} processes cannot split ${count} shards`);
  const base = Math.floor(count / processes);
  const extra = count % processes;
  const first = index * base + Math.min(index, extra);
  const size = base + (index < extra ? 1 : 0);
  return shardRange(first, first + size - 1, count);
}

/**
 * Process `index` of `processes` gets every shard whose identify bucket (`id % maxConcurrency`)
 * falls in its consecutive group of buckets.
 */
export function bucketRange(
  index: number,
  processes: number,
  count: number,
  maxConcurrency: number,
): number[] {
  checkPart(index, processes);
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
    throw new RangeError(`maxConcurrency must be a positive integer, got ${maxConcurrency}`);
  }
  const buckets = Math.min(maxConcurrency, count);
  if (processes > buckets) {
    throw new RangeError(
      `${processes} processes cannot split ${buckets} identify buckets; use at most ${buckets}`,
    );
  }
  const base = Math.floor(buckets / processes);
  const extra = buckets % processes;
  const first = index * base + Math.min(index, extra);
  const last = first + base + (index < extra ? 1 : 0) - 1;
  const ids: number[] = [];
  for (let id = 0; id < count; id++) {
    const bucket = id % maxConcurrency;
    if (bucket >= first && bucket <= last) ids.push(id);
  }
  return ids;
}

function checkPart(index: number, processes: number): void {
  if (
    !Number.isInteger(processes) ||
    processes < 1 ||
    !Number.isInteger(index) ||
    index < 0 ||
    index >= processes
  ) {
    throw new RangeError(`process ${index} of ${processes} is invalid: need 0 <= index < processes`);
  }
}

/** Shard ids in the order they can identify fastest: bucket by bucket (0..mc-1, then mc..2mc-1, …). */
export function bucketOrder(ids: readonly number[], maxConcurrency: number): number[] {
  return [...ids].sort((a, b) => Math.floor(a / maxConcurrency) - Math.floor(b / maxConcurrency) || a - b);
}
