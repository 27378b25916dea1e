/**
 * Output space for (de)compression, shared by every connection of a thread.
 *
 * A connection's inflater (or the emulator's compressor) produces into this buffer, and its caller
 * decodes or copies the result before anything else runs, so one buffer serves every connection:
 * idle connections hold none. It grows (doubling) to fit the payload being produced. A buffer grown
 * past `KEEP_BYTES` by an unusually large payload, or by a rejected decompression bomb, is replaced
 * by one of `KEEP_BYTES` before the next payload rather than kept for the life of the thread: a
 * thread that has seen one huge payload is likely to see more (a large bot's GUILD_CREATEs), and
 * starting each of them from `KEEP_BYTES` costs one doubling instead of eight.
 */

const INITIAL_BYTES = 64 * 1024;
export const KEEP_BYTES = 8 * 1024 * 1024;

export class OutputSpace {
  #buffer = Buffer.allocUnsafe(INITIAL_BYTES);

  /** The buffer to produce the next payload into; call once before each payload. */
  start(): Buffer {
    if (this.#buffer.length > KEEP_BYTES) this.#buffer = Buffer.allocUnsafe(KEEP_BYTES);
    return this.#buffer;
  }

  /**
   * A buffer twice as large (capped at `limit`), holding the first `produced` bytes of the old one.
   * Callers pass their size limit + 1, so a payload of exactly the limit is told from a larger one.
   */
  grow(produced: number, limit: number): Buffer {
    const grown = Buffer.allocUnsafe(Math.min(this.#buffer.length * 2, limit));
    this.#buffer.copy(grown, 0, 0, produced);
    this.#buffer = grown;
    return grown;
  }
}
