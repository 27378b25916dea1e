import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { constants, createDeflate, type Deflate, deflateSync } from 'node:zlib';
import { splitFrame as split } from '../emulator/compress.js';
import { ZlibContext } from '../zlib-context.js';
import { checkCompressionAvailable, createInflater, InflateError } from './inflate.js';

const MB = 1024 * 1024;

// ---- test-side compressors, as Discord's gateway would produce them ------------------------------

/** zlib-stream: one deflate context per connection, every payload ends with Z_SYNC_FLUSH. */
class ZlibStream {
  readonly #deflate: Deflate = createDeflate();
  #chunks: Buffer[] = [];

  constructor() {
    this.#deflate.on('data', (c: Buffer) => this.#chunks.push(c));
  }

  async payload(text: string | Buffer): Promise<Buffer> {
    this.#deflate.write(text);
    await new Promise<void>((resolve) => this.#deflate.flush(constants.Z_SYNC_FLUSH, () => resolve()));
    const out = Buffer.concat(this.#chunks);
    this.#chunks = [];
    return out;
  }
}

interface ZstdCCtx {
  compressStream2(dst: Uint8Array, src: Uint8Array, endOp: number): [number, number, number];
}

const require = createRequire(import.meta.url);
// The same entry point inflate.ts loads (the native binding, used synchronously).
const zstd = require('zstd-napi/binding.js') as { CCtx: new () => ZstdCCtx; EndDirective: { flush: number } };

/** zstd-stream: one CCtx per connection, each payload flushed but the frame never ended. */
class ZstdStream {
  readonly #ctx = new zstd.CCtx();

  payload(text: string | Buffer): Buffer {
    let input = Buffer.from(text);
    const chunks: Buffer[] = [];
    for (;;) {
      const out = Buffer.allocUnsafe(64 * 1024);
      const [remaining, produced, consumed] = this.#ctx.compressStream2(out, input, zstd.EndDirective.flush);
      chunks.push(out.subarray(0, produced));
      input = input.subarray(consumed);
      if (remaining === 0 && input.length === 0) break;
    }
    return Buffer.concat(chunks);
  }
}

const endsWithFlush = (b: Buffer) => b.length >= 4 && b.readUInt32BE(b.length - 4) === 0x0000ffff;

/** A deterministic, poorly compressible text of about `bytes` bytes. */
function noise(bytes: number, seed = 1): string {
  let x = seed;
  let s = '';
  while (s.length < bytes) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s += x.toString(36);
  }
  return s.slice(0, bytes);
}

function dispatch(seq: number, content: string): string {
  return JSON.stringify({ t: 'MESSAGE_CREATE', s: seq, op: 0, d: { content } });
}

// ---- zlib-stream ------------------------------------------------------------------------------------

describe('zlib-stream', () => {
  test("is always available: it runs on Node's own zlib, no native addon", () => {
    assert.doesNotThrow(() => checkCompressionAvailable('zlib-stream'));
  });

  test('each payload comes out whole, in order, through one context', async () => {
    const server = new ZlibStream();
    const inflater = createInflater('zlib-stream', MB);
    const hello = '{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250}}';
    const first = await server.payload(hello);
    assert.deepEqual([...first.subarray(0, 2)], [0x78, 0x9c], 'zlib header');
    assert.ok(endsWithFlush(first));
    assert.equal(inflater.push(first)?.toString(), hello);
    for (let s = 1; s <= 50; s++) {
      const text = dispatch(s, `message ${s} ${'é😀'.repeat(s)}`);
      const frame = await server.payload(text);
      assert.ok(endsWithFlush(frame));
      assert.equal(inflater.push(frame)?.toString(), text, `payload ${s}`);
    }
  });

  test('a payload split across several frames is returned only when the last frame arrives', async () => {
    const server = new ZlibStream();
    const inflater = createInflater('zlib-stream', MB);
    const warmup = dispatch(1, 'warm-up');
    assert.equal(inflater.push(await server.payload(warmup))?.toString(), warmup);
    for (const pieces of [2, 3, 7, 50]) {
      const text = dispatch(pieces, noise(20_000, pieces));
      const parts = split(await server.payload(text), pieces);
      assert.ok(parts.length >= 2);
      for (const part of parts.slice(0, -1))
        assert.equal(inflater.push(part), null, 'an incomplete payload came out');
      assert.equal(inflater.push(parts.at(-1)!)?.toString(), text);
      // The context carries on normally afterwards.
      const after = dispatch(pieces + 100, 'after');
      assert.equal(inflater.push(await server.payload(after))?.toString(), after);
    }
  });

  test('a flush marker split across frames completes the payload on its last one to three bytes', async () => {
    const server = new ZlibStream();
    const inflater = createInflater('zlib-stream', MB);
    for (const tail of [1, 2, 3]) {
      const text = dispatch(tail, noise(2_000, tail));
      const frame = await server.payload(text);
      const parts = [
        frame.subarray(0, frame.length - tail - 5),
        frame.subarray(frame.length - tail - 5, frame.length - tail),
        frame.subarray(frame.length - tail),
      ];
      assert.equal(inflater.push(parts[0]!), null);
      assert.equal(inflater.push(parts[1]!), null);
      assert.equal(inflater.push(parts[2]!)?.toString(), text, `a last piece of ${tail} bytes`);
    }
    // Short pieces that do not finish a marker still wait.
    const text = dispatch(9, 'short pieces');
    const frame = await server.payload(text);
    for (let at = 0; at < frame.length - 1; at++)
      assert.equal(inflater.push(frame.subarray(at, at + 1)), null);
    assert.equal(inflater.push(frame.subarray(frame.length - 1))?.toString(), text);
  });

  test('a large payload (several MB of READY) inflates', async () => {
    const server = new ZlibStream();
    const inflater = createInflater('zlib-stream', 16 * MB);
    const text = dispatch(1, noise(3 * MB));
    const out = inflater.push(await server.payload(text));
    assert.equal(out?.length, Buffer.byteLength(text));
    assert.equal(out?.toString(), text);
  });

  test('corrupt input is an InflateError, not a crash', () => {
    const inflater = createInflater('zlib-stream', MB);
    const garbage = Buffer.concat([
      Buffer.from('this is not zlib data at all'),
      Buffer.from([0, 0, 0xff, 0xff]),
    ]);
    assert.throws(() => inflater.push(garbage), InflateError);
  });

  test('corruption in the middle of a healthy stream is an InflateError', async () => {
    const server = new ZlibStream();
    const inflater = createInflater('zlib-stream', MB);
    inflater.push(await server.payload(dispatch(1, 'ok')));
    const frame = Buffer.from(await server.payload(dispatch(2, noise(5000))));
    for (let i = 2; i < frame.length - 4; i += 7) frame[i] = (frame[i]! ^ 0x5a) & 0xff;
    assert.throws(
      () => inflater.push(frame),
      (e: unknown) => e instanceof InflateError && e.name === 'InflateError',
    );
  });

  test('a frame from a different connection (no shared context) is refused', async () => {
    const a = new ZlibStream();
    const b = new ZlibStream();
    const inflater = createInflater('zlib-stream', MB);
    inflater.push(await a.payload(dispatch(1, 'a')));
    await b.payload(dispatch(1, noise(2000)));
    // b's second frame has no header and refers to b's history: meaningless to a's context.
    const foreign = await b.payload(dispatch(2, noise(2000)));
    let result: Buffer | null = null;
    try {
      result = inflater.push(foreign);
    } catch (e) {
      assert.ok(e instanceof InflateError);
      return;
    }
    assert.notEqual(result?.toString(), dispatch(2, noise(2000)));
  });

  test('maxSize: a decompression bomb is refused with an InflateError', async () => {
    const server = new ZlibStream();
    const inflater = createInflater('zlib-stream', 64 * 1024);
    const bomb = await server.payload(Buffer.alloc(8 * MB, 0x20));
    assert.ok(bomb.length < 64 * 1024, 'the bomb is small on the wire');
    assert.throws(
      () => inflater.push(bomb),
      (e: unknown) => e instanceof InflateError && /limit/.test(e.message),
    );
  });

  test('maxSize: a payload exactly at the limit is fine, one byte more is not', async () => {
    const limit = 10_000;
    const ok = createInflater('zlib-stream', limit);
    const s1 = new ZlibStream();
    assert.equal(ok.push(await s1.payload('x'.repeat(limit)))?.length, limit);
    const over = createInflater('zlib-stream', limit);
    const frame = await new ZlibStream().payload('x'.repeat(limit + 1));
    assert.throws(() => over.push(frame), InflateError);
  });

  test('maxSize: endless fragments without a flush marker are refused', () => {
    const inflater = createInflater('zlib-stream', 1000);
    const fragment = Buffer.alloc(300, 0x41);
    assert.equal(inflater.push(fragment), null);
    assert.equal(inflater.push(fragment), null);
    assert.equal(inflater.push(fragment), null);
    assert.throws(() => inflater.push(fragment), InflateError);
  });

  test('a fresh context per connection: a new inflater decodes a new stream from its header', async () => {
    for (let connection = 0; connection < 3; connection++) {
      const server = new ZlibStream();
      const inflater = createInflater('zlib-stream', MB);
      for (let s = 1; s <= 3; s++) {
        const text = dispatch(s, `connection ${connection}`);
        assert.equal(inflater.push(await server.payload(text))?.toString(), text);
      }
    }
  });

  test('reusing an old context for a new connection fails (why a fresh one is needed)', async () => {
    const inflater = createInflater('zlib-stream', MB);
    inflater.push(await new ZlibStream().payload(dispatch(1, 'first connection')));
    const second = await new ZlibStream().payload(dispatch(1, 'second connection'));
    assert.throws(
      () => inflater.push(second),
      InflateError,
      'a second zlib header mid-stream is corrupt data',
    );
  });

  test('payloads written by deflateSync + Z_SYNC_FLUSH (one-shot) decode too', () => {
    const inflater = createInflater('zlib-stream', MB);
    const text = '{"op":11,"d":null}';
    const frame = deflateSync(text, { finishFlush: constants.Z_SYNC_FLUSH });
    assert.ok(endsWithFlush(frame));
    assert.equal(inflater.push(frame)?.toString(), text);
  });
});

// ---- zstd-stream ------------------------------------------------------------------------------------

describe('zstd-stream', () => {
  test('the native module loads', () => {
    assert.doesNotThrow(() => checkCompressionAvailable('zstd-stream'));
  });

  test('each message is one payload; one frame spans the connection', () => {
    const server = new ZstdStream();
    const inflater = createInflater('zstd-stream', MB);
    const hello = '{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250}}';
    const first = server.payload(hello);
    assert.deepEqual([...first.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd], 'zstd magic');
    assert.equal(inflater.push(first)?.toString(), hello);
    for (let s = 1; s <= 100; s++) {
      const text = dispatch(s, `zstd ${s} ${'ü'.repeat(s % 7)}`);
      const frame = server.payload(text);
      assert.notDeepEqual([...frame.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd], 'no new frame per payload');
      assert.equal(inflater.push(frame)?.toString(), text, `payload ${s}`);
    }
  });

  test('payloads larger than the shared output buffer grow it and come out whole', () => {
    const server = new ZstdStream();
    const inflater = createInflater('zstd-stream', 16 * MB);
    for (const size of [256 * 1024 - 40, 256 * 1024, 600_000, 3 * MB]) {
      const text = dispatch(size, noise(size, size));
      const out = inflater.push(server.payload(text));
      assert.equal(out?.toString(), text, `size ${size}`);
    }
    const small = dispatch(1, 'small after large');
    assert.equal(inflater.push(server.payload(small))?.toString(), small);
  });

  test('corrupt input is an InflateError, not a crash', () => {
    const inflater = createInflater('zstd-stream', MB);
    assert.throws(() => inflater.push(Buffer.from('definitely not a zstd frame')), InflateError);
  });

  test('corruption in the middle of a healthy stream is an InflateError', () => {
    const server = new ZstdStream();
    const inflater = createInflater('zstd-stream', MB);
    inflater.push(server.payload(dispatch(1, 'ok')));
    const frame = Buffer.from(server.payload(dispatch(2, noise(5000))));
    // Mid-frame, a message starts with a block header; block type 3 is reserved, i.e. corrupt.
    frame[0] = frame[0]! | 0b110;
    assert.throws(() => inflater.push(frame), InflateError);
  });

  test('random corruption either throws InflateError or yields bytes, never another error', () => {
    let seed = 3;
    for (let round = 0; round < 60; round++) {
      const server = new ZstdStream();
      const inflater = createInflater('zstd-stream', MB);
      inflater.push(server.payload(dispatch(1, 'ok')));
      const frame = Buffer.from(server.payload(dispatch(2, noise(2000, round + 1))));
      for (let k = 0; k < 4; k++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        const at = seed % frame.length;
        frame[at] = frame[at]! ^ (1 << (seed % 8));
      }
      try {
        assert.ok(Buffer.isBuffer(inflater.push(frame)));
      } catch (e) {
        assert.ok(e instanceof InflateError, `round ${round}: ${String(e)}`);
      }
    }
  });

  test('maxSize: a decompression bomb is refused with an InflateError', () => {
    const server = new ZstdStream();
    const inflater = createInflater('zstd-stream', 64 * 1024);
    const bomb = server.payload(Buffer.alloc(32 * MB, 0x20));
    assert.ok(bomb.length < 64 * 1024, 'the bomb is small on the wire');
    assert.throws(
      () => inflater.push(bomb),
      (e: unknown) => e instanceof InflateError && /limit/.test(e.message),
    );
  });

  test('maxSize: exactly the limit is fine, one byte more is not (limits around buffer sizes)', () => {
    for (const limit of [300_000, 256 * 1024, 256 * 1024 - 1, 256 * 1024 + 1, 2 * 256 * 1024]) {
      const server = new ZstdStream();
      const out = createInflater('zstd-stream', limit).push(server.payload('y'.repeat(limit)));
      assert.equal(out?.length, limit, `a payload of exactly ${limit} bytes was refused`);
      const server2 = new ZstdStream();
      assert.throws(
        () => createInflater('zstd-stream', limit).push(server2.payload('y'.repeat(limit + 1))),
        InflateError,
        `a payload of ${limit + 1} bytes passed a limit of ${limit}`,
      );
    }
  });

  test('maxSize below the shared buffer size is still enforced', () => {
    const server = new ZstdStream();
    const inflater = createInflater('zstd-stream', 1000);
    assert.equal(inflater.push(server.payload('z'.repeat(1000)))?.length, 1000);
    const server2 = new ZstdStream();
    assert.throws(
      () => createInflater('zstd-stream', 1000).push(server2.payload('z'.repeat(1001))),
      InflateError,
    );
  });

  test('a fresh context per connection decodes a new stream; an old one is not reused', () => {
    const used = createInflater('zstd-stream', MB);
    const conn1 = new ZstdStream();
    used.push(conn1.payload(dispatch(1, 'one')));
    used.push(conn1.payload(dispatch(2, 'two')));
    for (let connection = 0; connection < 3; connection++) {
      const server = new ZstdStream();
      const inflater = createInflater('zstd-stream', MB);
      for (let s = 1; s <= 3; s++) {
        const text = dispatch(s, `connection ${connection}`);
        assert.equal(inflater.push(server.payload(text))?.toString(), text);
      }
    }
  });
});

// ---- both -------------------------------------------------------------------------------------------

const streams = {
  'zlib-stream': () => {
    const context = ZlibContext.deflate();
    return (text: string) => Buffer.from(context.write(Buffer.from(text)));
  },
  'zstd-stream': () => {
    const server = new ZstdStream();
    return (text: string) => server.payload(text);
  },
} as const;

for (const compression of ['zlib-stream', 'zstd-stream'] as const) {
  describe(`${compression}, like any inflater`, () => {
    test('connections interleaved in one thread each get their payloads whole when read at once', () => {
      // The output buffer is shared by every inflater of the thread; the shard decodes each payload
      // before the next message of any connection is handled.
      const connections = Array.from({ length: 4 }, () => ({
        server: streams[compression](),
        inflater: createInflater(compression, 16 * MB),
      }));
      for (let s = 1; s <= 40; s++) {
        for (const [k, { server, inflater }] of connections.entries()) {
          const text = dispatch(s, noise(100 + ((s * 7919 + k * 104_729) % 200_000), s + k));
          assert.equal(inflater.push(server(text))?.toString(), text, `connection ${k}, payload ${s}`);
        }
      }
    });

    test('after a failure every later push fails too, naming the first error', () => {
      const server = streams[compression]();
      const inflater = createInflater(compression, 1000);
      assert.equal(inflater.push(server(dispatch(1, 'ok')))?.toString(), dispatch(1, 'ok'));
      assert.throws(() => inflater.push(server(dispatch(2, 'x'.repeat(2000)))), /limit/);
      // A small, valid-looking payload must not come out of a context in an unknown state.
      assert.throws(
        () => inflater.push(server(dispatch(3, 'small'))),
        (e: unknown) =>
          e instanceof InflateError && e.message.includes('failed earlier') && /limit/.test(e.message),
      );
    });

    test('a closed inflater refuses to push', () => {
      const server = streams[compression]();
      const inflater = createInflater(compression, MB);
      inflater.push(server(dispatch(1, 'ok')));
      inflater.close();
      inflater.close();
      assert.throws(() => inflater.push(server(dispatch(2, 'after close'))), /closed/);
    });
  });
}

test('retired inflaters are freed by the garbage collector without bringing the process down', async () => {
  // A reconnecting shard drops its inflater; a native addon whose destructor misbehaves (as addons
  // built against Node 24.19+ headers do) aborts the whole process here rather than in production.
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (const compression of ['zlib-stream', 'zstd-stream'] as const) {
    for (let i = 0; i < 200; i++) createInflater(compression, 1 << 20);
  }
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  // Still alive, and a new context still works.
  const fresh = createInflater('zlib-stream', 1 << 20);
  assert.equal(
    fresh.push(deflateSync('{"op":11}', { finishFlush: constants.Z_SYNC_FLUSH }))?.toString(),
    '{"op":11}',
  );
});
