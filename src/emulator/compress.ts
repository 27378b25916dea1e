/**
 * The emulator's side of transport compression: one compression stream per connection, as Discord
 * writes it.
 *
 * `zlib-stream` is a single deflate stream spanning the connection: a `78 9c` header once, then
 * every payload compressed against the 32 KiB window of everything sent before it and ended with a
 * sync flush (`00 00 ff ff`). Back-references across payloads are what make a real stream ~4× smaller
 * than payloads compressed one by one, and what break a client that inflates each message with a
 * fresh context, so the emulator must produce them too. Node's zlib streams would deflate on the
 * thread pool a tick later; `ZlibContext` drives the same native zlib synchronously, so a payload
 * goes in and its bytes come out on the same call stack, in order.
 *
 * `zstd-stream` uses zstd-napi's native streaming context the same way: each payload is written
 * with `ZSTD_e_flush`, so one zstd frame spans the connection.
 */
import { createRequire } from 'node:module';
import { OutputSpace } from '../output-space.js';
import { ZlibContext } from '../zlib-context.js';

export type Compression = 'zlib-stream' | 'zstd-stream';

/** A dispatch split around its sequence number: `prefix + s + suffix` is the JSON text. */
export interface DispatchParts {
  readonly prefix: string;
  readonly suffix: string;
  /** Filled in on first use by an uncompressed connection: the UTF-8 prefix and suffix. */
  utf8?: { prefix: Buffer; suffix: Buffer };
}

export interface Compressor {
  /** Compresses one complete payload, ending on a flush boundary. */
  text(payload: string): Buffer;
}

class ZlibStreamCompressor implements Compressor {
  readonly #context = ZlibContext.deflate();

  text(payload: string): Buffer {
    // Copied out of the context's shared output: the frame waits in the socket's queue.
    return Buffer.from(this.#context.write(Buffer.from(payload)));
  }
}

interface ZstdBinding {
  CCtx: new () => {
    compressStream2(output: Buffer, input: Buffer, end: number): [number, number, number];
  };
}

let zstd: ZstdBinding | undefined;
const ZSTD_E_FLUSH = 1;

/** Output space shared by every zstd connection: each chunk is copied out before the next call. */
const zstdSpace = new OutputSpace();

class ZstdStreamCompressor implements Compressor {
  readonly #ctx = new (zstd ??= createRequire(import.meta.url)('zstd-napi/binding.js') as ZstdBinding).CCtx();

  text(payload: string): Buffer {
    let input = Buffer.from(payload);
    const chunks: Buffer[] = [];
    let zstdOut = zstdSpace.start();
    for (;;) {
      const [remaining, produced, consumed] = this.#ctx.compressStream2(zstdOut, input, ZSTD_E_FLUSH);
      chunks.push(Buffer.from(zstdOut.subarray(0, produced)));
      input = input.subarray(consumed);
      if (remaining === 0 && input.length === 0) break;
      // Its bytes are copied out already, so none need carrying over.
      if (produced === zstdOut.length) zstdOut = zstdSpace.grow(0, Number.POSITIVE_INFINITY);
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
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
