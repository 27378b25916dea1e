/**
 * Transport decompression: one context per connection, synchronous, bounded.
 *
 * Discord's `zlib-stream` and `zstd-stream` are single compressed streams spanning the whole
 * connection; each payload ends on a flush boundary. Node's zlib streams would inflate every message
 * on the libuv thread pool and hand it back a tick later, which costs more than the inflation
 * itself at gateway message sizes. `ZlibContext` drives Node's own zlib synchronously (no native
 * addon to build, nothing tied to one Node version) and zstd-napi exposes zstd's streaming context
 * the same way: a message goes in, its payload comes out on the same call stack, in order.
 *
 * A payload comes out as a view of an output buffer shared by every inflater of the thread, valid
 * until the next `push` of any of them: the shard decodes it to text at once, and idle shards hold no
 * output buffer of their own. Both inflaters refuse to produce more than `maxSize` bytes for one
 * payload, so a decompression bomb ends the connection (the shard then resumes) instead of
 * exhausting memory, and both turn a corrupt stream into an `InflateError` instead of throwing from
 * native code.
 */
import { createRequire } from 'node:module';
import { OutputSpace } from '../output-space.js';
import { ZlibContext, type ZlibContextError, zlibContextSupport } from '../zlib-context.js';

export type Compression = 'zlib-stream' | 'zstd-stream';

export class InflateError extends Error {
  override name = 'InflateError';
}

export interface Inflater {
  /**
   * Feeds one websocket message; returns the completed payload (a view valid until the next push of
   * any inflater in this thread), or null while it is incomplete.
   */
  push(data: Buffer): Buffer | null;
  /** Releases the context's native state; the inflater is unusable afterwards. */
  close(): void;
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
  if (compression === 'zlib-stream') {
    const reason = zlibContextSupport();
    if (reason) throw new Error(`zlib-stream is unavailable: ${reason}. Use zstd-stream or no compression.`);
    return;
  }
  if (zstd) return;
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

/**
 * What both inflaters share: once a stream has failed (corrupt data, a payload over the limit) its
 * context is in an unknown state and nothing it produces later can be trusted, so every later call
 * fails too, naming the first error.
 */
abstract class StreamInflater implements Inflater {
  #failure: InflateError | null = null;

  constructor(
    protected readonly compression: Compression,
    protected readonly maxSize: number,
  ) {}

  push(data: Buffer): Buffer | null {
    if (this.#failure) throw this.#failure;
    try {
      return this.decompress(data);
    } catch (error) {
      this.#failure = new InflateError(`${this.compression} failed earlier: ${(error as Error).message}`);
      throw error;
    }
  }

  close(): void {
    this.#failure ??= new InflateError(`${this.compression} inflater closed`);
    this.release();
  }

  protected abstract decompress(data: Buffer): Buffer | null;
  protected abstract release(): void;
}

const ZLIB_SUFFIX = 0x0000ffff;

/** Whether `pieces`, taken as one run of bytes, end with the Z_SYNC_FLUSH marker. */
function endsWithFlush(pieces: readonly Buffer[]): boolean {
  let need = 4;
  for (let i = pieces.length - 1; i >= 0 && need > 0; i--) {
    const piece = pieces[i]!;
    for (let j = piece.length - 1; j >= 0 && need > 0; j--, need--) {
      if (piece[j] !== (need > 2 ? 0xff : 0x00)) return false;
    }
  }
  return need === 0;
}

/**
 * zlib-stream: messages are appended until the bytes so far end with the Z_SYNC_FLUSH marker 00 00 ff ff, then
 * the whole buffer goes through the connection's inflate context in one synchronous call, which
 * stops as soon as its output passes `maxSize`, so a bomb never gets inflated whole.
 */
class ZlibStreamInflater extends StreamInflater {
  readonly #context: ZlibContext;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(maxSize: number) {
    super('zlib-stream', maxSize);
    this.#context = ZlibContext.inflate(maxSize);
  }

  protected decompress(data: Buffer): Buffer | null {
    const complete = data.length >= 4 && data.readUInt32BE(data.length - 4) === ZLIB_SUFFIX;
    if (!complete || this.#pending.length > 0) {
      this.#pending.push(data);
      this.#pendingBytes += data.length;
      if (this.#pendingBytes > this.maxSize) {
        throw new InflateError(`compressed message exceeds ${this.maxSize} bytes`);
      }
      // The marker may straddle messages: a last piece of one to three bytes completes it.
      if (!complete && !(data.length < 4 && endsWithFlush(this.#pending))) return null;
      data = Buffer.concat(this.#pending, this.#pendingBytes);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    let out: Buffer;
    try {
      out = this.#context.write(data);
    } catch (cause) {
      const error = cause as ZlibContextError;
      throw new InflateError(
        error.code === 'TOO_LARGE'
          ? `decompressed payload exceeds the ${this.maxSize} byte limit`
          : `zlib-stream inflate failed: ${error.message}`,
        { cause },
      );
    }
    if (out.length === 0) throw new InflateError('zlib-stream inflate produced no output');
    return out;
  }

  protected release(): void {
    this.#context.close();
  }
}

/** zstd's output space, shared by every zstd inflater of the thread (see the module comment). */
const zstdSpace = new OutputSpace();

/**
 * zstd-stream: every websocket message is exactly one payload, flushed but never ending the frame,
 * so a message is complete when the context has consumed all input and has no output left to give.
 */
class ZstdStreamInflater extends StreamInflater {
  readonly #ctx = new zstd!.DCtx();

  constructor(maxSize: number) {
    super('zstd-stream', maxSize);
  }

  /** zstd-napi's context has no explicit free; it goes with the garbage collector. */
  protected release(): void {}

  protected decompress(data: Buffer): Buffer {
    let input = data;
    let produced = 0;
    let zstdOut = zstdSpace.start();
    for (;;) {
      if (produced === zstdOut.length) {
        if (zstdOut.length > this.maxSize) {
          throw new InflateError(`decompressed payload exceeds the ${this.maxSize} byte limit`);
        }
        // One byte beyond the limit: a payload of exactly maxSize must fit without filling the buffer,
        // since a full buffer cannot tell "done" from "more to come".
        zstdOut = zstdSpace.grow(produced, this.maxSize + 1);
      }
      let result: [number, number, number];
      try {
        result = this.#ctx.decompressStream(zstdOut.subarray(produced), input);
      } catch (cause) {
        throw new InflateError(`zstd-stream decompression failed: ${(cause as Error).message}`, { cause });
      }
      produced += result[1];
      input = input.subarray(result[2]);
      // Done when all input is used and the output buffer was not filled (nothing left buffered inside).
      if (input.length === 0 && produced < zstdOut.length) break;
    }
    if (produced > this.maxSize) {
      throw new InflateError(
        `decompressed payload of ${produced} bytes exceeds the ${this.maxSize} byte limit`,
      );
    }
    return zstdOut.subarray(0, produced);
  }
}
