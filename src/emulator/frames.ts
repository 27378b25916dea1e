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
 */
import type { Socket } from 'node:net';

const BATCH = 64 * 1024;
const TEXT = 0x81; // FIN + text opcode
const BINARY = 0x82; // FIN + binary opcode

export class FrameWriter {
  #buffer: Buffer | null = null;
  #length = 0;
  #scheduled = false;

  constructor(private readonly socket: Socket) {}

  text(payload: string): void {
    this.#frame(TEXT, payload, Buffer.byteLength(payload));
  }

  binary(payload: Buffer): void {
    this.#frame(BINARY, payload, payload.length);
  }

  /** Writes whatever is batched. */
  flush(): void {
    if (this.#length === 0) return;
    const out = this.#buffer!.subarray(0, this.#length);
    this.#buffer = null;
    this.#length = 0;
    if (!this.socket.destroyed) this.socket.write(out);
  }

  #frame(opcode: number, payload: string | Buffer, size: number): void {
    const header = size < 126 ? 2 : size < 65536 ? 4 : 10;
    if (header + size > BATCH) {
      // Too big to batch: flush what is queued, then write this frame on its own.
      this.flush();
      const frame = Buffer.allocUnsafe(header + size);
      writeHeader(frame, 0, opcode, size);
      if (typeof payload === 'string') frame.write(payload, header);
      else payload.copy(frame, header);
      if (!this.socket.destroyed) this.socket.write(frame);
      return;
    }
    if (this.#buffer === null || this.#length + header + size > BATCH) {
      this.flush();
      this.#buffer = Buffer.allocUnsafe(BATCH);
    }
    const buffer = this.#buffer;
    writeHeader(buffer, this.#length, opcode, size);
    this.#length += header;
    if (typeof payload === 'string') buffer.write(payload, this.#length);
    else payload.copy(buffer, this.#length);
    this.#length += size;
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
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
