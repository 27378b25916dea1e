/**
 * Transport decompression: one context per connection, synchronous, bounded.
 *
 * Discord's `zlib-stream` and `zstd-stream` are single compressed streams spanning the whole
 * connection; each payload ends on a flush boundary. Node's zlib streams would inflate every message
 * on the libuv thread pool and hand it back a tick later, which costs more than the inflation
 * itself at gateway message sizes. minizlib drives Node's own zlib synchronously (no native addon
 * to build, nothing tied to one Node version) and zstd-napi exposes zstd's streaming context the
 * same way: a message goes in, its payload comes out on the same call stack, in order.
 *
 * Both inflaters refuse to produce more than `maxSize` bytes for one payload, so a decompression
 * bomb ends the connection (the shard then resumes) instead of exhausting memory, and both turn a
 * corrupt stream into an `InflateError` instead of throwing from native code.
 */
import { createRequire } from 'node:module';
import { constants } from 'node:zlib';
import { Inflate, type ZlibOptions } from 'minizlib';

export type Compression = 'zlib-stream' | 'zstd-stream';

export class InflateError extends Error {
  override name = 'InflateError';
}

export interface Inflater {
  /** Feeds one websocket message; returns the completed payload, or null while it is incomplete. */
  push(data: Buffer): Buffer | null;
}

const require = createRequire(import.meta.url);

interface ZstdBinding {
  DCtx: new () => {
    decompressStream(output: Buffer, input: Buffer): [number, number, number];
  };
}

let zstd: ZstdBinding | undefined;

/** Throws now, at configuration time, if the native module `compression` needs cannot be loaded. */
export function checkCompressionAvailable(compression: Compression): void {
  if (compression !== 'zstd-stream' || zstd) return;
  try {
    zstd = require('zstd-napi/binding.js') as ZstdBinding;
  } catch (cause) {
    throw new Error(
      `zstd-stream needs the native module "zstd-napi", which failed to load (${(cause as Error).message.split('\n')[0]}). ` +
        'Rebuild it with "npm rebuild zstd-napi", or use zlib-stream or no compression.',
      { cause },
    );
  }
}

export function createInflater(compression: Compression, maxSize: number): Inflater {
  checkCompressionAvailable(compression);
  return compression === 'zlib-stream' ? new ZlibStreamInflater(maxSize) : new ZstdStreamInflater(maxSize);
}

const ZLIB_SUFFIX = 0x0000ffff;

/**
 * zlib-stream: messages are appended until one ends with the Z_SYNC_FLUSH marker 00 00 ff ff, then
 * the whole buffer goes through the connection's inflate context in one synchronous call. Node's
 * zlib stops that call as soon as its output passes `maxSize`, so a bomb never gets inflated whole.
 */
class ZlibStreamInflater implements Inflater {
  readonly #inflate: Inflate;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #out: Buffer[] = [];
  #error: Error | null = null;
  readonly #maxSize: number;

  constructor(maxSize: number) {
    this.#maxSize = maxSize;
    // maxOutputLength reaches Node's zlib through minizlib's options, though minizlib's types omit it.
    this.#inflate = new Inflate({ flush: constants.Z_SYNC_FLUSH, maxOutputLength: maxSize } as ZlibOptions);
    this.#inflate.on('data', (chunk: Buffer) => this.#out.push(chunk));
    this.#inflate.on('error', (error: unknown) => {
      this.#error = error as Error;
    });
  }

  push(data: Buffer): Buffer | null {
    if (this.#error) throw new InflateError(`zlib-stream inflate failed earlier: ${this.#error.message}`);
    const complete = data.length >= 4 && data.readUInt32BE(data.length - 4) === ZLIB_SUFFIX;
    if (!complete || this.#pending.length > 0) {
      this.#pending.push(data);
      this.#pendingBytes += data.length;
      if (this.#pendingBytes > this.#maxSize) {
        throw new InflateError(`compressed message exceeds ${this.#maxSize} bytes`);
      }
      if (!complete) return null;
      data = Buffer.concat(this.#pending, this.#pendingBytes);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    this.#inflate.write(data);
    const out = this.#out;
    this.#out = [];
    const error = this.#error as (Error & { code?: string }) | null;
    if (error) {
      throw new InflateError(
        error.code === 'ERR_BUFFER_TOO_LARGE'
          ? `decompressed payload exceeds the ${this.#maxSize} byte limit`
          : `zlib-stream inflate failed: ${error.message.replace(/^zlib: /, '')}`,
      );
    }
    if (out.length === 0) throw new InflateError('zlib-stream inflate produced no output');
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}

/**
 * zstd-stream: every websocket message is exactly one payload, flushed but never ending the frame,
 * so a message is complete when the context has consumed all input and has no output left to give.
 */
class ZstdStreamInflater implements Inflater {
  readonly #ctx;
  readonly #maxSize: number;
  #out = Buffer.allocUnsafe(256 * 1024);

  constructor(maxSize: number) {
    this.#ctx = new zstd!.DCtx();
    this.#maxSize = maxSize;
  }

  push(data: Buffer): Buffer | null {
    let input = data;
    let produced = 0;
    for (;;) {
      if (produced === this.#out.length) {
        if (this.#out.length > this.#maxSize) {
          throw new InflateError(`decompressed payload exceeds the ${this.#maxSize} byte limit`);
        }
        // One byte beyond the limit: a payload of exactly maxSize must fit without filling the buffer,
        // since a full buffer cannot tell "done" from "more to come".
        const grown = Buffer.allocUnsafe(Math.min(this.#out.length * 2, this.#maxSize + 1));
        this.#out.copy(grown, 0, 0, produced);
        this.#out = grown;
      }
      let result: [number, number, number];
      try {
        result = this.#ctx.decompressStream(this.#out.subarray(produced), input);
      } catch (cause) {
        throw new InflateError(`zstd-stream decompression failed: ${(cause as Error).message}`, { cause });
      }
      produced += result[1];
      input = input.subarray(result[2]);
      // Done when all input is used and the output buffer was not filled (nothing left buffered inside).
      if (input.length === 0 && produced < this.#out.length) break;
    }
    if (produced > this.#maxSize) {
      throw new InflateError(
        `decompressed payload of ${produced} bytes exceeds the ${this.#maxSize} byte limit`,
      );
    }
    // Copy out: the working buffer is reused by the next message.
    return Buffer.from(this.#out.subarray(0, produced));
  }
}
