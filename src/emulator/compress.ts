/**
 * The emulator's side of transport compression: one compression stream per connection.
 *
 * `zstd-stream` uses zstd-napi's native streaming context synchronously: each payload is written
 * with `ZSTD_e_flush`, so one zstd frame spans the connection exactly as Discord sends it.
 *
 * `zlib-stream` has no synchronous streaming deflate in Node (node:zlib streams cost a thread-pool
 * round trip per message, ~14k messages/s; pure-JS deflaters are slower still), so the emulator
 * writes a valid zlib stream differently: a `78 9c` header once, then every payload as raw deflate
 * blocks ending in a sync flush (`00 00 ff ff`), compressed on its own with `deflateRawSync`. A
 * client inflating through one context cannot tell the difference except by compression ratio,
 * because deflate never requires back-references. Dispatches go further: the constant parts (the
 * `t` prefix and the `d` body) are compressed once and cached, and the sequence number between them
 * travels in a stored block, so a burst of pre-built dispatches costs a few buffer copies each.
 */
import { createRequire } from 'node:module';
import { constants, deflateRawSync } from 'node:zlib';

export type Compression = 'zlib-stream' | 'zstd-stream';

/** A dispatch split around its sequence number: `prefix + s + suffix` is the JSON text. */
export interface DispatchParts {
  readonly prefix: string;
  readonly suffix: string;
  /** Filled in by the zlib compressor on first use: the compressed prefix and suffix. */
  zlib?: { prefix: Buffer; suffix: Buffer };
}

export interface Compressor {
  /** Compresses one complete payload. */
  text(payload: string): Buffer;
  /** Compresses a dispatch built from cached parts. */
  dispatch(parts: DispatchParts, seq: number): Buffer;
}

const ZLIB_HEADER = Buffer.from([0x78, 0x9c]);
const SYNC_FLUSH = { finishFlush: constants.Z_SYNC_FLUSH };

function deflateBlocks(text: string): Buffer {
  return deflateRawSync(Buffer.from(text), SYNC_FLUSH);
}

/** A stored (uncompressed) deflate block holding `bytes`, valid after a byte-aligned flush. */
function storedBlock(bytes: string): Buffer {
  const length = bytes.length;
  const block = Buffer.allocUnsafe(5 + length);
  block[0] = 0; // BFINAL 0, BTYPE 00, then padding to the byte boundary
  block.writeUInt16LE(length, 1);
  block.writeUInt16LE(~length & 0xffff, 3);
  block.write(bytes, 5, 'latin1');
  return block;
}

class ZlibStreamCompressor implements Compressor {
  #started = false;

  #header(): Buffer[] {
    if (this.#started) return [];
    this.#started = true;
    return [ZLIB_HEADER];
  }

  text(payload: string): Buffer {
    return Buffer.concat([...this.#header(), deflateBlocks(payload)]);
  }

  dispatch(parts: DispatchParts, seq: number): Buffer {
    parts.zlib ??= { prefix: deflateBlocks(parts.prefix), suffix: deflateBlocks(parts.suffix) };
    return Buffer.concat([...this.#header(), parts.zlib.prefix, storedBlock(String(seq)), parts.zlib.suffix]);
  }
}

interface ZstdBinding {
  CCtx: new () => {
    compressStream2(output: Buffer, input: Buffer, end: number): [number, number, number];
  };
}

let zstd: ZstdBinding | undefined;
const ZSTD_E_FLUSH = 1;

class ZstdStreamCompressor implements Compressor {
  readonly #ctx = new (zstd ??= createRequire(import.meta.url)('zstd-napi/binding.js') as ZstdBinding).CCtx();
  #out = Buffer.allocUnsafe(64 * 1024);

  text(payload: string): Buffer {
    let input = Buffer.from(payload);
    const chunks: Buffer[] = [];
    for (;;) {
      const [remaining, produced, consumed] = this.#ctx.compressStream2(this.#out, input, ZSTD_E_FLUSH);
      chunks.push(Buffer.from(this.#out.subarray(0, produced)));
      input = input.subarray(consumed);
      if (remaining === 0 && input.length === 0) break;
      if (produced === this.#out.length) this.#out = Buffer.allocUnsafe(this.#out.length * 2);
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  dispatch(parts: DispatchParts, seq: number): Buffer {
    return this.text(parts.prefix + seq + parts.suffix);
  }
}

export function createCompressor(compression: Compression): Compressor {
  return compression === 'zlib-stream' ? new ZlibStreamCompressor() : new ZstdStreamCompressor();
}

/** Splits a zlib payload into `pieces` websocket messages without any piece but the last ending in a flush marker. */
export function splitFrame(frame: Buffer, pieces: number): Buffer[] {
  const parts: Buffer[] = [];
  const size = Math.max(1, Math.ceil(frame.length / pieces));
  let start = 0;
  while (start < frame.length) {
    let end = Math.min(frame.length, start + size);
    // A piece that happened to end in 00 00 ff ff would look like a complete payload to the client.
    while (end < frame.length && endsWithFlush(frame.subarray(start, end))) end++;
    parts.push(frame.subarray(start, end));
    start = end;
  }
  return parts;
}

function endsWithFlush(bytes: Buffer): boolean {
  const n = bytes.length;
  return n >= 4 && bytes[n - 4] === 0 && bytes[n - 3] === 0 && bytes[n - 2] === 0xff && bytes[n - 1] === 0xff;
}
