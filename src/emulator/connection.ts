/**
 * One client websocket as the gateway server sees it: framing, validation, heartbeats, the send
 * limit, and the connection-level faults.
 *
 * The connection enforces what Discord enforces per socket, in the order of PROTOCOL.md §13:
 * a binary, oversized (> 4096 bytes) or non-JSON payload closes with 4002; an unknown opcode or a
 * malformed `d` with 4001; anything but heartbeat, IDENTIFY and RESUME before authentication with
 * 4003; a second IDENTIFY or RESUME with 4005; the 121st message in a 60 s window (counted from the
 * socket's opening, heartbeats included) with 4008. Heartbeats are ACKed even before
 * authentication, and a client that stops heartbeating for 1.5 intervals is closed with 4000,
 * leaving its session resumable. Session-level decisions (IDENTIFY, RESUME, commands) go to the
 * `ConnectionHost`, which owns sessions and routing.
 *
 * A client that stops reading would otherwise grow the emulator's memory by everything routed to
 * it. Discord documents no limit, so the emulator picks one: a socket whose writes have backed up
 * and not drained for `SLOW_READER_MS` loses its TCP connection, as a drop, and the session stays
 * resumable. Time tells a stalled reader from a large write under way, which a byte limit cannot:
 * a client reading a big READY or replay drains within seconds, however large it is.
 */

import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import { deflateSync } from 'node:zlib';
import type { WebSocket } from 'ws';
import type { Clock, Timer } from '../clock.js';
import type { Logger } from '../logger.js';
import { CLIENT_OPCODES, GatewayOpcodes } from '../protocol/opcodes.js';
import {
  type Compression,
  type Compressor,
  createCompressor,
  type DispatchParts,
  splitFrame,
} from './compress.js';
import type { Fault } from './faults.js';
import { drained, FrameWriter } from './frames.js';
import type { GatewaySession, SessionSink } from './session.js';

/** The counters a connection moves; the gateway owns them. */
export type ConnectionCounter = 'heartbeats' | 'rateLimited' | 'heartbeatTimeouts' | 'slowReaders';

/** What a connection needs from the gateway that owns it. */
export interface ConnectionHost {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly options: {
    readonly heartbeatInterval: number;
    readonly heartbeatTimeoutFactor: number;
    readonly sendLimit: { readonly limit: number; readonly windowMs: number };
    readonly zlibSplit: number;
  };
  count(counter: ConnectionCounter): void;
  identify(connection: Connection, d: Record<string, unknown>): void;
  resume(connection: Connection, d: { token: string; session_id: string; seq: number }): void;
  command(connection: Connection, op: number, d: Record<string, unknown>): void;
  /** The socket is gone; `clientCode` is set when the client closed it with a close frame. */
  closed(connection: Connection, clientCode: number | null): void;
}

export interface ConnectionParams {
  readonly compress: Compression | null;
  /** Whether the client connected to the session's resume URL (as it should to RESUME). */
  readonly onResumeUrl: boolean;
}

const MAX_CLIENT_PAYLOAD = 4096;
/** How long a backed-up socket may go without draining before it is dropped. */
export const SLOW_READER_MS = 15_000;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export class Connection implements SessionSink {
  session: GatewaySession | null = null;
  /** Dispatches and control messages sent so far on this socket. */
  sent = 0;
  readonly #compressor: Compressor | null;
  readonly #frames: FrameWriter;
  #open = true;
  #closedByServer = false;
  #stalled = false;
  #mangleNext = false;
  #acks: 'normal' | 'none' | number = 'normal';
  #heartbeatTimer: Timer | null = null;
  /** Armed while the socket has refused a write and not yet drained. */
  #drainTimer: Timer | null = null;
  #windowStart: number;
  #windowCount = 0;
  #payloadCompression = false;

  constructor(
    private readonly host: ConnectionHost,
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    readonly params: ConnectionParams,
  ) {
    this.#frames = new FrameWriter(socket, () => this.#backedUp());
    socket.on('drain', () => {
      this.#drainTimer?.cancel();
      this.#drainTimer = null;
    });
    this.#compressor = params.compress ? createCompressor(params.compress) : null;
    this.#windowStart = host.clock.now();
    ws.on('message', (data, isBinary) => this.#receive(data as Buffer, isBinary));
    ws.on('close', (code) => this.#onClose(code));
    ws.on('error', () => this.#onClose(1006));
  }

  get open(): boolean {
    return this.#open;
  }

  get authenticated(): boolean {
    return this.session !== null;
  }

  /** Bytes accepted by the socket but not yet written to the network: backpressure for bursts. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Resolves when the socket has written out its backlog, or has closed. */
  drained(): Promise<void> {
    // 'drain' only follows a write that was refused; without one there is nothing to wait for.
    if (this.socket.destroyed || !this.socket.writableNeedDrain) return Promise.resolve();
    return drained(this.socket);
  }

  /** See `FrameWriter.hold`. */
  hold(): void {
    this.#frames.hold();
  }

  release(): Promise<void> {
    return this.#frames.release();
  }

  hello(): void {
    this.sendOp(GatewayOpcodes.Hello, {
      heartbeat_interval: this.host.options.heartbeatInterval,
      _trace: ['["dusk-emulator",{"micros":0.0}]'],
    });
    this.#armHeartbeatTimeout();
  }

  /** Enables per-payload compression (IDENTIFY `compress: true` without transport compression). */
  enablePayloadCompression(): void {
    this.#payloadCompression = this.#compressor === null;
  }

  sendOp(op: number, d: unknown): void {
    this.#write(`{"t":null,"s":null,"op":${op},"d":${JSON.stringify(d ?? null)}}`);
  }

  /** The next dispatch goes out cut short after its envelope (the `mangled-dispatch` fault). */
  mangleNext(): void {
    this.#mangleNext = true;
  }

  sendDispatch(parts: DispatchParts, seq: number): void {
    if (!this.#open || this.#stalled) return;
    this.sent++;
    if (this.#mangleNext) {
      this.#mangleNext = false;
      const d = parts.suffix.indexOf('"d":') + 4;
      return this.#write(
        parts.prefix + seq + parts.suffix.slice(0, d + Math.floor((parts.suffix.length - d) / 2)),
      );
    }
    if (this.#compressor || this.#payloadCompression) {
      this.#write(parts.prefix + seq + parts.suffix);
    } else {
      parts.utf8 ??= { prefix: Buffer.from(parts.prefix), suffix: Buffer.from(parts.suffix) };
      this.#frames.textParts(parts.utf8.prefix, seq, parts.utf8.suffix);
    }
  }

  #write(text: string): void {
    if (!this.#open || this.#stalled) return;
    if (this.#compressor) {
      const frame = this.#compressor.text(text);
      if (this.host.options.zlibSplit > 1 && this.params.compress === 'zlib-stream') {
        for (const piece of splitFrame(frame, this.host.options.zlibSplit)) this.#frames.binary(piece);
      } else {
        this.#frames.binary(frame);
      }
    } else if (this.#payloadCompression && text.length >= 1024) {
      this.#frames.binary(deflateSync(Buffer.from(text)));
    } else {
      this.#frames.text(text);
    }
  }

  /** Closes with a close frame; the session (if any) is detached at once, not when the client answers. */
  close(code: number, reason = '', linger = false): void {
    if (!this.#open) return;
    this.#closedByServer = true;
    if (linger) {
      // The close frame goes out by hand, so ws never answers the client's close frame or ends TCP:
      // the socket stays open, unread, until the client gives up on it or the emulator closes.
      this.#frames.close(code, reason);
      this.#frames.flush();
      this.socket.pause();
    } else {
      this.#frames.flush();
      this.ws.close(code, reason);
    }
    this.#onClose(null);
  }

  /** Ends the TCP connection without a close frame. */
  drop(): void {
    if (!this.#open) return;
    this.#closedByServer = true;
    this.ws.terminate();
    this.#onClose(null);
  }

  fault(fault: Fault): void {
    switch (fault.type) {
      case 'drop':
        return this.drop();
      case 'close':
        return this.close(fault.code, fault.reason, fault.linger);
      case 'heartbeat-request':
        return this.sendOp(GatewayOpcodes.Heartbeat, null);
      case 'zombie':
        this.#acks = 'none';
        return;
      case 'delay-acks':
        this.#acks = fault.ms;
        return;
      case 'stall':
        // Nothing goes out and nothing is processed: to the client the server has vanished.
        this.#stalled = true;
        this.#heartbeatTimer?.cancel();
        return;
      case 'corrupt':
        if (!this.#open) return;
        // Bytes no inflater accepts, ending in the flush marker so a zlib client tries to inflate them.
        this.#frames.binary(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x13, 0x37, 0x00, 0x00, 0xff, 0xff]));
        return;
      case 'invalid-json':
        return this.#write('{"t":"MESSAGE_CREATE","s":');
      case 'unknown-opcode':
        return this.sendOp(99, { reason: 'an opcode the client does not know' });
      default:
        throw new Error(`fault ${fault.type} is handled by the gateway, not the connection`);
    }
  }

  #backedUp(): void {
    if (this.#drainTimer || !this.#open) return;
    this.#drainTimer = this.host.clock.setTimeout(() => {
      this.#drainTimer = null;
      this.host.count('slowReaders');
      this.host.logger.warn(`dropped a client whose socket did not drain for ${SLOW_READER_MS} ms`, {
        session: this.session?.sessionId ?? null,
      });
      this.drop();
    }, SLOW_READER_MS);
  }

  #armHeartbeatTimeout(): void {
    this.#heartbeatTimer?.cancel();
    const { heartbeatInterval, heartbeatTimeoutFactor } = this.host.options;
    this.#heartbeatTimer = this.host.clock.setTimeout(() => {
      this.host.count('heartbeatTimeouts');
      this.close(4000, 'Heartbeat timed out');
    }, heartbeatInterval * heartbeatTimeoutFactor);
  }

  #receive(data: Buffer, isBinary: boolean): void {
    if (!this.#open || this.#stalled) return;
    const now = this.host.clock.now();
    const { limit, windowMs } = this.host.options.sendLimit;
    if (now - this.#windowStart >= windowMs) {
      this.#windowStart += Math.floor((now - this.#windowStart) / windowMs) * windowMs;
      this.#windowCount = 0;
    }
    if (++this.#windowCount > limit) {
      this.host.count('rateLimited');
      return this.close(4008, 'Rate limited.');
    }
    // Bytes that are not UTF-8 are not JSON either (ws does not check them, so they get 4002 here).
    if (isBinary || data.length > MAX_CLIENT_PAYLOAD || !isUtf8(data))
      return this.close(4002, 'Error while decoding payload.');
    let payload: unknown;
    try {
      payload = JSON.parse(data.toString('utf8'));
    } catch {
      return this.close(4002, 'Error while decoding payload.');
    }
    if (!isObject(payload)) return this.close(4002, 'Error while decoding payload.');
    const { op, d } = payload;
    if (typeof op !== 'number' || !CLIENT_OPCODES.has(op)) return this.close(4001, 'Unknown opcode.');

    if (op === GatewayOpcodes.Heartbeat) {
      if (d !== null && d !== undefined && !(Number.isInteger(d) && (d as number) >= 0)) {
        return this.close(4001, 'Invalid heartbeat payload.');
      }
      this.host.count('heartbeats');
      this.#armHeartbeatTimeout();
      return this.#ack();
    }
    if (op === GatewayOpcodes.Identify || op === GatewayOpcodes.Resume) {
      if (this.session) return this.close(4005, 'Already authenticated.');
      if (!isObject(d)) return this.close(4001, 'Invalid payload.');
      if (op === GatewayOpcodes.Identify) return this.host.identify(this, d);
      const seq = d.seq;
      if (typeof d.token !== 'string' || typeof d.session_id !== 'string' || !Number.isInteger(seq)) {
        return this.close(4001, 'Invalid resume payload.');
      }
      return this.host.resume(this, { token: d.token, session_id: d.session_id, seq: seq as number });
    }
    if (!this.session) return this.close(4003, 'Not authenticated.');
    if (!isObject(d)) return this.close(4001, 'Invalid payload.');
    this.host.command(this, op, d);
  }

  #ack(): void {
    if (this.#acks === 'none') return;
    if (this.#acks === 'normal') return this.sendOp(GatewayOpcodes.HeartbeatAck, null);
    this.host.clock.setTimeout(() => this.sendOp(GatewayOpcodes.HeartbeatAck, null), this.#acks);
  }

  #onClose(code: number | null): void {
    if (!this.#open) return;
    this.#open = false;
    this.#heartbeatTimer?.cancel();
    this.#drainTimer?.cancel();
    this.host.closed(this, this.#closedByServer ? null : code);
  }
}
