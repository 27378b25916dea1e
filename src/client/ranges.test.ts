import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketOrder, bucketRange, evenRange, shardRange } from './ranges.js';

function coverage(parts: number[][], count: number): void {
  const all = parts.flat().sort((a, b) => a - b);
  assert.deepEqual(
    all,
    Array.from({ length: count }, (_, i) => i),
    'every shard exactly once',
  );
}

test('consecutive ranges over 3 processes cover every shard exactly once, for many counts', () => {
  for (const count of [3, 4, 10, 16, 64, 97, 1000]) {
    const parts = [0, 1, 2].map((i) => evenRange(i, 3, count));
    coverage(parts, count);
    const sizes = parts.map((p) => p.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `uneven split ${sizes}`);
    for (const p of parts) assert.deepEqual(p, shardRange(p[0]!, p[p.length - 1]!, count), 'not consecutive');
  }
});

test('bucket-aligned splits over 3 processes cover every shard once and never share a bucket', () => {
  for (const [count, mc] of [
    [64, 16],
    [16, 4],
    [48, 3],
    [100, 16],
    [7, 3],
  ] as const) {
    const parts = [0, 1, 2].map((i) => bucketRange(i, 3, count, mc));
    coverage(parts, count);
    const owners = new Map<number, number>();
    parts.forEach((ids, proc) => {
      for (const id of ids) {
        const bucket = id % mc;
        assert.equal(owners.get(bucket) ?? proc, proc, `bucket ${bucket} is split between processes`);
        owners.set(bucket, proc);
      }
    });
  }
});

test('invalid ranges and splits are refused with a clear error', () => {
  assert.throws(() => shardRange(3, 2, 10), /invalid/);
  assert.throws(() => shardRange(0, 10, 10), /invalid/);
  assert.throws(() => evenRange(3, 3, 10), /invalid/);
  assert.throws(() => evenRange(0, 11, 10), /cannot split/);
  assert.throws(() => bucketRange(0, 5, 64, 4), /at most 4/);
  assert.throws(() => bucketRange(0, 1, 64, 0), /maxConcurrency/);
});

test('bucket order starts shards a whole bucket group at a time', () => {
  assert.deepEqual(bucketOrder([7, 0, 5, 2, 1, 6, 3, 4], 4), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(bucketOrder([9, 1, 8, 0], 8), [0, 1, 8, 9]);
});
