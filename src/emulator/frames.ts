/**
 * Server→client websocket frames, batched onto the socket.
 *
 * `ws.send` costs a socket write per message, which caps one connection at ~100k dispatches/s:
 * then the emulator, not the client under test, is what a benchmark measures. Frames written
 * within one tick are therefore encoded straight into a shared 64 KiB buffer and written once,
 * when the tick ends or the buffer fills. Server frames are unmasked and unfragmented, so the
 * encoding is a 2-, 4- or 10-byte header (the minimal one, as RFC 6455 requires) and the payload.
 *
 * The writer shares the socket with the `ws` library, which still reads frames, answers pings and
 * sends close frames. Each side writes whole frames synchronously, and `flush()` runs before `ws`
 * writes anything, so frames never interleave.
 *
 * A writer can also hold its frames: everything written meanwhile stays in memory, in order, until
 * `release()` pours it onto the socket as fast as the socket drains. A benchmark builds a whole burst
 * that way, so its timed window sees the socket's speed rather than the emulator's serializing and
 * compressing.
 */
import type { Socket } from 'node:net';

const BATCH = 64 * 1024;
const RELEASE_QUEUE = 1024 * 1024;
const TEXT = 0x81; // FIN + text opcode
const BINARY = 0x82; // FIN + binary opcode
const CLOSE = 0x88; // FIN + close opcode

export class FrameWriter {
  #buffer: Buffer | null = null;
  #length = 0;
  #scheduled = false;
  /** Batches kept while holding, oldest first, from `#next` on; null when not holding. */
  #held: Buffer[] | null = null;
  #next = 0;

  /** `onRefused` runs whenever the socket takes a write over its high-water mark. */
  constructor(
    private readonly socket: Socket,
    private readonly onRefused: () => void,
  ) {}

  /** Keeps every frame written from now on until `release()`. */
  hold(): void {
    this.#held ??= [];
  }

  /** Writes the held frames, waiting for the socket to drain between batches, then stops holding. */
  async release(): Promise<void> {
    this.#flushBatch();
    while (this.#held !== null && this.#next < this.#held.length) {
      if (this.socket.destroyed) break;
      this.#write(this.#held[this.#next++]!);
      // Keep a few batches queued: stopping at every refused write would let the reader run dry
      // while the 'drain' round trip completes.
      if (this.socket.writableLength >= RELEASE_QUEUE) await drained(this.socket);
      // Frames written meanwhile join the queue behind the held ones.
      this.#flushBatch();
    }
    this.#held = null;
    this.#next = 0;
  }

  text(payload: string): void {
    const size = Buffer.byteLength(payload);
    const [buffer, at] = this.#reserve(TEXT, size);
    buffer.write(payload, at);
  }

  binary(payload: Buffer): void {
    const [buffer, at] = this.#reserve(BINARY, payload.length);
    payload.copy(buffer, at);
  }

  /** A close frame, behind everything already written. */
  close(code: number, reason: string): void {
    const text = Buffer.from(reason);
    const [buffer, at] = this.#reserve(CLOSE, 2 + text.length);
    buffer.writeUInt16BE(code, at);
    text.copy(buffer, at + 2);
  }

  /**
   * A text frame of `prefix`, the decimal `seq` and `suffix`: a dispatch assembled from its cached
   * UTF-8 parts with two copies, instead of concatenating and re-encoding a string per event.
   */
  textParts(prefix: Buffer, seq: number, suffix: Buffer): void {
    const digits = String(seq);
    const [buffer, at] = this.#reserve(TEXT, prefix.length + digits.length + suffix.length);
    prefix.copy(buffer, at);
    buffer.write(digits, at + prefix.length, 'latin1');
    suffix.copy(buffer, at + prefix.length + digits.length);
  }

  /** Writes everything batched or held, now. */
  flush(): void {
    this.#flushBatch();
    const held = this.#held?.slice(this.#next) ?? [];
    this.#held = null;
    this.#next = 0;
    for (const batch of held) if (!this.socket.destroyed) this.#write(batch);
  }

  #write(batch: Buffer): void {
    if (!this.socket.write(batch)) this.onRefused();
  }

  #flushBatch(): void {
    if (this.#length === 0) return;
    const out = this.#buffer!.subarray(0, this.#length);
    this.#buffer = null;
    this.#length = 0;
    if (this.#held !== null) this.#held.push(out);
    else if (!this.socket.destroyed) this.#write(out);
  }

  /** Writes a frame header and returns where its `size` payload bytes go. */
  #reserve(opcode: number, size: number): [Buffer, number] {
    const header = size < 126 ? 2 : size < 65536 ? 4 : 10;
    if (header + size > BATCH) {
      // Too big to batch: flush what is queued; this frame goes out on its own at the end of the tick.
      this.#flushBatch();
      const frame = Buffer.allocUnsafe(header + size);
      writeHeader(frame, 0, opcode, size);
      this.#buffer = frame;
      this.#length = frame.length;
      this.#schedule();
      return [frame, header];
    }
    if (this.#buffer === null || this.#length + header + size > BATCH) {
      this.#flushBatch();
      this.#buffer = Buffer.allocUnsafe(BATCH);
    }
    const at = this.#length + header;
    writeHeader(this.#buffer, this.#length, opcode, size);
    this.#length = at + size;
    this.#schedule();
    return [this.#buffer, at];
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    process.nextTick(() => {
      this.#scheduled = false;
      this.#flushBatch();
    });
  }
}

function writeHeader(buffer: Buffer, at: number, opcode: number, size: number): void {
  buffer[at] = opcode;
  if (size < 126) {
    buffer[at + 1] = size;
  } else if (size < 65536) {
    buffer[at + 1] = 126;
    buffer.writeUInt16BE(size, at + 2);
  } else {
    buffer[at + 1] = 127;
    buffer.writeUInt32BE(0, at + 2);
    buffer.writeUInt32BE(size, at + 6);
  }
}

/** Resolves on the socket's next 'drain', or when it closes. */
export function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}
