import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KEEP_BYTES, OutputSpace } from './output-space.js';

test('grow doubles the buffer, keeps what was produced, and stops at the limit', () => {
  const space = new OutputSpace();
  const first = space.start();
  first.fill(7, 0, 100);
  const grown = space.grow(100, 1 << 30);
  assert.equal(grown.length, first.length * 2);
  assert.deepEqual(grown.subarray(0, 100), Buffer.alloc(100, 7));
  assert.equal(space.grow(100, grown.length + 1).length, grown.length + 1, 'the limit caps the doubling');
  assert.equal(space.start().length, grown.length + 1, 'a buffer under the keep size is kept');
});

test('a buffer grown past the keep size is replaced by one of the keep size, not kept or shrunk further', () => {
  const space = new OutputSpace();
  let buffer = space.start();
  while (buffer.length <= KEEP_BYTES) buffer = space.grow(0, 1 << 30);
  assert.ok(buffer.length > KEEP_BYTES);
  const next = space.start();
  assert.equal(next.length, KEEP_BYTES);
  assert.equal(space.start(), next, 'the keep-size buffer is then kept');
});
