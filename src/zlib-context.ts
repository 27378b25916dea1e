/**
 * One zlib stream (inflate or deflate) spanning a gateway connection, driven synchronously.
 *
 * Discord's `zlib-stream` is a single deflate stream per connection, each payload ending on a sync
 * flush. Node's public zlib streams would process every payload on the libuv thread pool and hand it
 * back a tick later, which costs more than the inflation itself at gateway message sizes, and Node
 * has no public synchronous streaming call. Its zlib objects do carry the native context they wrap
 * (`_handle`) and the two-word result of each call (`_writeState`); `writeSync` on that handle is the
 * call Node's own `inflateSync` makes. Going through it directly, with one output buffer for the
 * whole thread, inflated a 1 KB payload 1.5× (Node 24) to 2.2× (Node 20) faster than minizlib, which
 * goes through Node's synchronous chunk processing and re-arms listeners on every call.
 *
 * Those internals are not a documented API, so `zlibContextSupport()` checks their shape once and
 * a connection that would need them fails at configuration time with a clear message instead of
 * deep inside a call. The native side aborts the process on an out-of-range offset rather than
 * throwing, so the offsets passed to it come only from its own results and the buffer's length.
 *
 * Each `write` returns a view of the shared output buffer, valid until the next `write` of any
 * context in this thread (see output-space.ts): callers decode or copy it before doing anything else,
 * so idle connections cost only their zlib state. Node's stream object, which the native handle keeps
 * alive, is created with the smallest chunk size, since its own output buffer is never used.
 */
import { constants, createDeflate, createInflate } from 'node:zlib';
import { OutputSpace } from './output-space.js';

interface NativeHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    output: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
  close(): void;
  onerror: (message: string, errno: number, code: string) => void;
}

interface NodeZlibInternals {
  _handle?: Partial<NativeHandle> | null;
  _writeState?: unknown;
}

/** An error of the zlib stream itself (corrupt data, or output beyond the limit). */
export class ZlibContextError extends Error {
  override name = 'ZlibContextError';
  constructor(
    message: string,
    /** zlib's error name (`Z_DATA_ERROR`, …), or `TOO_LARGE` when the output limit was passed. */
    readonly code: string,
  ) {
    super(message);
  }
}

const space = new OutputSpace();
/** Node's own output chunk of each stream: unused here, so as small as zlib allows. */
const UNUSED_CHUNK = { chunkSize: constants.Z_MIN_CHUNK };

let support: string | null | undefined;

/** null when this Node's zlib objects have the shape used here, otherwise why not. */
export function zlibContextSupport(): string | null {
  if (support !== undefined) return support;
  const probe = createInflate(UNUSED_CHUNK) as unknown as NodeZlibInternals;
  const ok =
    typeof probe._handle?.writeSync === 'function' &&
    typeof probe._handle.close === 'function' &&
    probe._writeState instanceof Uint32Array &&
    probe._writeState.length >= 2;
  (probe as unknown as { close(): void }).close();
  support = ok
    ? null
    : `Node ${process.version}'s zlib objects lack the native handle dusk drives synchronously`;
  return support;
}

export class ZlibContext {
  readonly #handle: NativeHandle;
  /** [output bytes left, input bytes left] after each call. */
  readonly #state: Uint32Array;
  readonly #maxOutput: number;
  #failure: ZlibContextError | null = null;
  #closed = false;
  #pendingError: ZlibContextError | null = null;

  private constructor(stream: NodeZlibInternals, maxOutput: number) {
    const reason = zlibContextSupport();
    if (reason) throw new Error(reason);
    this.#handle = stream._handle as NativeHandle;
    this.#state = stream._writeState as Uint32Array;
    this.#maxOutput = maxOutput;
    // The native side reports errors through this callback, synchronously, inside writeSync.
    this.#handle.onerror = (message, _errno, code) => {
      this.#pendingError = new ZlibContextError(message, code);
    };
  }

  /** An inflate context refusing to produce more than `maxOutput` bytes from one write. */
  static inflate(maxOutput: number): ZlibContext {
    return new ZlibContext(createInflate(UNUSED_CHUNK) as unknown as NodeZlibInternals, maxOutput);
  }

  static deflate(): ZlibContext {
    return new ZlibContext(
      createDeflate(UNUSED_CHUNK) as unknown as NodeZlibInternals,
      Number.POSITIVE_INFINITY,
    );
  }

  /**
   * Runs `input` through the stream and sync-flushes it. Returns a view of the thread's shared
   * output buffer (see the module comment). After an error the context is dead: every later call
   * throws the same error.
   */
  write(input: Buffer): Buffer {
    if (this.#failure) throw this.#failure;
    let produced = 0;
    let inOffset = 0;
    let inLength = input.length;
    let shared = space.start();
    for (;;) {
      const room = shared.length - produced;
      this.#handle.writeSync(constants.Z_SYNC_FLUSH, input, inOffset, inLength, shared, produced, room);
      if (this.#pendingError) return this.#fail(this.#pendingError);
      const outLeft = this.#state[0]!;
      const inLeft = this.#state[1]!;
      produced += room - outLeft;
      inOffset += inLength - inLeft;
      inLength = inLeft;
      if (produced > this.#maxOutput) {
        return this.#fail(new ZlibContextError(`output exceeds ${this.#maxOutput} bytes`, 'TOO_LARGE'));
      }
      if (outLeft > 0) {
        // Room to spare yet input left over: the stream ended and what follows is not part of it.
        if (inLeft > 0)
          return this.#fail(new ZlibContextError('data after the end of the stream', 'Z_STREAM_END'));
        return shared.subarray(0, produced);
      }
      // Output full, so there may be more to come (and produced <= maxOutput, so this grows it).
      // One byte past the limit is enough to tell a payload of exactly the limit from a larger one.
      shared = space.grow(produced, this.#maxOutput + 1);
    }
  }

  /** Frees the native stream state now rather than at the next garbage collection. */
  close(): void {
    this.#failure ??= new ZlibContextError('zlib context closed', 'CLOSED');
    if (this.#closed) return;
    this.#closed = true;
    this.#handle.close();
  }

  #fail(error: ZlibContextError): never {
    this.#failure = error;
    this.close();
    throw error;
  }
}
