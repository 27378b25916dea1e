/**
 * Transport decompression: one context per connection, synchronous, bounded.
 *
 * Discord's `zlib-stream` and `zstd-stream` are single compressed streams spanning the whole
 * connection; each payload ends on a flush boundary. Node's zlib streams would inflate every message
 * on the libuv thread pool and hand it back a tick later, which costs more than the inflation
 * itself at gateway message sizes. zlib-sync and zstd-napi expose the native streaming contexts
 * synchronously: a message goes in, its payload comes out on the same call stack, in order.
 *
 * Both inflaters refuse to produce more than `maxSize` bytes for one payload, so a decompression
 * bomb ends the connection (the shard then resumes) instead of exhausting memory, and both turn a
 * corrupt stream into an `InflateError` instead of throwing from native code.
 */
import { createRequire } from 'node:module';

export type Compression = 'zlib-stream' | 'zstd-stream';

export class InflateError extends Error {
  override name = 'InflateError';
}

export interface Inflater {
  /** Feeds one websocket message; returns the completed payload, or null while it is incomplete. */
  push(data: Buffer): Buffer | null;
}

const require = createRequire(import.meta.url);

interface ZlibSyncModule {
  Inflate: new (options: {
    chunkSize?: number;
  }) => {
    push(data: Buffer, flush: number): void;
    err: number;
    msg: string | null;
    result: Buffer | string | null;
  };
  Z_SYNC_FLUSH: number;
}

interface ZstdBinding {
  DCtx: new () => {
    decompressStream(output: Buffer, input: Buffer): [number, number, number];
  };
}

let zlibSync: ZlibSyncModule | undefined;
let zstd: ZstdBinding | undefined;

function loadNative<T>(name: string, compression: Compression): T {
  try {
    return require(name) as T;
  } catch (cause) {
    throw new Error(
      `${compression} needs the native module "${name}", which failed to load (${(cause as Error).message.split('\n')[0]}). ` +
        `Rebuild it for this Node version with "npm rebuild ${name.split('/')[0]}", or connect without compression.`,
      { cause },
    );
  }
}

/** Throws now, at configuration time, if the native module for `compression` cannot be loaded. */
export function checkCompressionAvailable(compression: Compression): void {
  if (compression === 'zlib-stream') zlibSync ??= loadNative<ZlibSyncModule>('zlib-sync', compression);
  else zstd ??= loadNative<ZstdBinding>('zstd-napi/binding.js', compression);
}

export function createInflater(compression: Compression, maxSize: number): Inflater {
  checkCompressionAvailable(compression);
  return compression === 'zlib-stream' ? new ZlibStreamInflater(maxSize) : new ZstdStreamInflater(maxSize);
}

const ZLIB_SUFFIX = 0x0000ffff;

/**
 * zlib-stream: messages are appended until one ends with the Z_SYNC_FLUSH marker 00 00 ff ff, then
 * the whole buffer goes through the connection's inflate context.
 */
class ZlibStreamInflater implements Inflater {
  readonly #inflate;
  readonly #flush: number;
  readonly #maxSize: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(maxSize: number) {
    const mod = zlibSync!;
    // zlib-sync's default 16 KiB output chunk: a 64 KiB one costs ~48 KiB more per idle shard.
    this.#inflate = new mod.Inflate({ chunkSize: 16 * 1024 });
    this.#flush = mod.Z_SYNC_FLUSH;
    this.#maxSize = maxSize;
  }

  push(data: Buffer): Buffer | null {
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
    this.#inflate.push(data, this.#flush);
    if (this.#inflate.err < 0) {
      throw new InflateError(
        `zlib-stream inflate failed: ${this.#inflate.msg ?? `error ${this.#inflate.err}`}`,
      );
    }
    const out = this.#inflate.result;
    if (out === null) throw new InflateError('zlib-stream inflate produced no output');
    const buf = typeof out === 'string' ? Buffer.from(out) : out;
    if (buf.length > this.#maxSize) {
      throw new InflateError(
        `decompressed payload of ${buf.length} bytes exceeds the ${this.#maxSize} byte limit`,
      );
    }
    return buf;
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
