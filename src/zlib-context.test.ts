import assert from 'node:assert/strict';
import { test } from 'node:test';
import { constants, deflateSync, inflateSync } from 'node:zlib';
import { KEEP_BYTES } from './output-space.js';
import { ZlibContext, ZlibContextError, zlibContextSupport } from './zlib-context.js';

const endsWithFlush = (b: Buffer) => b.length >= 4 && b.readUInt32BE(b.length - 4) === 0x0000ffff;

function text(i: number, bytes = 1000): string {
  let s = `{"op":0,"s":${i},"d":"`;
  for (let w = i; s.length < bytes; w = (w * 7 + 3) % 997) s += `word${w % 13} ${w} `;
  return `${s}"}`;
}

test("this Node's zlib objects have the shape the context drives", () => {
  assert.equal(zlibContextSupport(), null);
});

test('deflate then inflate: one stream, every payload sync-flushed and back-referencing the ones before', () => {
  const deflate = ZlibContext.deflate();
  const inflate = ZlibContext.inflate(1 << 20);
  const frames: Buffer[] = [];
  for (let i = 0; i < 300; i++) {
    const frame = Buffer.from(deflate.write(Buffer.from(text(i))));
    assert.ok(endsWithFlush(frame), `frame ${i} ends on a sync flush`);
    frames.push(frame);
  }
  // The window is shared: the whole stream is far smaller than the payloads compressed one by one.
  const streamed = frames.reduce((n, f) => n + f.length, 0);
  let alone = 0;
  for (let i = 0; i < 300; i++) alone += deflateSync(text(i), { finishFlush: constants.Z_SYNC_FLUSH }).length;
  assert.ok(streamed * 2 < alone, `stream ${streamed} bytes vs ${alone} one by one`);
  // Node's own inflate reads the concatenation (plus a sync flush) as one valid stream.
  const all = inflateSync(Buffer.concat(frames), { finishFlush: constants.Z_SYNC_FLUSH }).toString();
  assert.equal(all, Array.from({ length: 300 }, (_, i) => text(i)).join(''));
  for (let i = 0; i < 300; i++) assert.equal(inflate.write(frames[i]!).toString(), text(i), `payload ${i}`);
});

test('output is a view of one buffer for the thread: read before the next write, interleaved streams stay whole', () => {
  const pairs = Array.from({ length: 3 }, () => ({
    d: ZlibContext.deflate(),
    i: ZlibContext.inflate(1 << 20),
  }));
  for (let n = 0; n < 50; n++) {
    for (const [k, { d, i }] of pairs.entries()) {
      const payload = text(n * 10 + k, 200 + ((n * 37 + k * 101) % 3000));
      const frame = Buffer.from(d.write(Buffer.from(payload)));
      assert.equal(i.write(frame).toString(), payload);
    }
  }
  const d = ZlibContext.deflate();
  const i = ZlibContext.inflate(1 << 20);
  const first = i.write(Buffer.from(d.write(Buffer.from(text(1)))));
  i.write(Buffer.from(d.write(Buffer.from(text(2)))));
  assert.notEqual(first.toString(), text(1), 'a kept view is overwritten by the next write');
});

test('output larger than the shared buffer grows it, mid-call, and comes out whole', () => {
  const d = ZlibContext.deflate();
  const i = ZlibContext.inflate(64 << 20);
  for (const bytes of [100, 70_000, 1_000_000, 5_000_000, 100]) {
    let s = '';
    for (let x = bytes; s.length < bytes; x = (Math.imul(x, 1103515245) + 12345) >>> 0) s += x.toString(36);
    const payload = s.slice(0, bytes);
    assert.equal(i.write(Buffer.from(d.write(Buffer.from(payload)))).toString(), payload, `${bytes} bytes`);
  }
});

test('maxOutput: exactly the limit passes, one byte more fails with TOO_LARGE, whatever the shared size', () => {
  for (const limit of [1000, 65_535, 65_536, 65_537, 300_000]) {
    const ok = ZlibContext.inflate(limit);
    assert.equal(
      ok.write(deflateSync('x'.repeat(limit), { finishFlush: constants.Z_SYNC_FLUSH })).length,
      limit,
    );
    const over = ZlibContext.inflate(limit);
    assert.throws(
      () => over.write(deflateSync('x'.repeat(limit + 1), { finishFlush: constants.Z_SYNC_FLUSH })),
      (e: unknown) => e instanceof ZlibContextError && e.code === 'TOO_LARGE',
    );
  }
});

test('a bomb stops at the limit instead of being inflated whole', () => {
  const bomb = deflateSync(Buffer.alloc(64 << 20, 0x20), { finishFlush: constants.Z_SYNC_FLUSH });
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(
    () => ZlibContext.inflate(1 << 20).write(bomb),
    (e: unknown) => (e as ZlibContextError).code === 'TOO_LARGE',
  );
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 << 20, 'did not allocate the whole bomb');
});

test('corrupt input fails with zlib’s error code, and the context stays failed', () => {
  const i = ZlibContext.inflate(1 << 20);
  const garbage = Buffer.from([0x78, 0x9c, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff]);
  assert.throws(
    () => i.write(garbage),
    (e: unknown) => e instanceof ZlibContextError && e.code === 'Z_DATA_ERROR',
  );
  const good = deflateSync('{"op":11}', { finishFlush: constants.Z_SYNC_FLUSH });
  assert.throws(
    () => i.write(good),
    (e: unknown) => (e as ZlibContextError).code === 'Z_DATA_ERROR',
  );
});

test('data after the end of the stream is an error, not silently dropped', () => {
  const ended = deflateSync('{"op":11}'); // Z_FINISH: the stream ends here
  const i = ZlibContext.inflate(1 << 20);
  assert.throws(
    () => i.write(Buffer.concat([ended, Buffer.from('more')])),
    (e: unknown) => e instanceof ZlibContextError && e.code === 'Z_STREAM_END',
  );
});

test('close is idempotent and a closed context refuses to write instead of touching freed state', () => {
  const i = ZlibContext.inflate(1 << 20);
  i.close();
  i.close();
  assert.throws(
    () => i.write(deflateSync('{}', { finishFlush: constants.Z_SYNC_FLUSH })),
    (e: unknown) => (e as ZlibContextError).code === 'CLOSED',
  );
});

test('a payload far larger than usual, or a rejected bomb, does not leave its buffer behind', () => {
  const sync = { finishFlush: constants.Z_SYNC_FLUSH };
  const small = deflateSync('{"op":11}', sync);
  const big = 20 << 20;
  const inflate = ZlibContext.inflate(32 << 20);
  const out = inflate.write(deflateSync(Buffer.alloc(big), sync));
  assert.equal(out.length, big);
  // The next payload, on any context, starts from a buffer of at most the keep size again.
  assert.ok(ZlibContext.inflate(1 << 20).write(small).buffer.byteLength <= KEEP_BYTES);
  const bomb = ZlibContext.inflate(16 << 20);
  assert.throws(() => bomb.write(deflateSync(Buffer.alloc(64 << 20), sync)), { code: 'TOO_LARGE' });
  assert.ok(ZlibContext.inflate(1 << 20).write(small).buffer.byteLength <= KEEP_BYTES);
});

test('an idle context holds no output buffer of its own', () => {
  globalThis.gc?.();
  const before = process.memoryUsage().arrayBuffers;
  const contexts = Array.from({ length: 200 }, () => ZlibContext.inflate(1 << 20));
  const perContext = (process.memoryUsage().arrayBuffers - before) / contexts.length;
  assert.ok(perContext < 1024, `${perContext.toFixed(0)} bytes of buffers per context`);
  for (const c of contexts) c.close();
});
