/**
 * A deliberately dumb gateway client for emulator tests: it sends exactly what the test says and
 * records exactly what arrives, so every server behaviour can be observed on the wire.
 */
import { WebSocket } from 'ws';
import { type Compression, createInflater } from '../../src/client/inflate.js';
import { Emulator, type EmulatorOptions } from '../../src/emulator/index.js';

export const TOKEN = 'MTMwMzMyNzk1ODYzMDUzMTA3OQ.GaBcDe.emulator-raw-client-token-abcdef';

export interface Payload {
  op: number;
  d: any;
  s: number | null;
  t: string | null;
}

export function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  return Emulator.start({
    token: TOKEN,
    guilds: 6,
    seed: 3,
    heartbeatInterval: 60_000,
    identifyInterval: 0,
    ...options,
  });
}

export class RawClient {
  readonly messages: Payload[] = [];
  /** Raw websocket messages as received, before any decompression. */
  readonly frames: { data: Buffer; binary: boolean }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #waiters: (() => void)[] = [];
  readonly ws: WebSocket;
  error: Error | null = null;

  private constructor(url: string, compress: Compression | null) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    const inflater = compress ? createInflater(compress, 64 << 20) : null;
    this.ws.on('message', (data: Buffer, binary) => {
      this.frames.push({ data, binary });
      try {
        const text = inflater ? inflater.push(data) : data;
        if (text) this.messages.push(JSON.parse(text.toString()) as Payload);
      } catch (error) {
        this.error = error as Error;
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const wake of this.#waiters.splice(0)) wake();
      });
    });
    this.ws.on('error', () => {});
  }

  static async open(
    base: string,
    query: Record<string, string> = { v: '10', encoding: 'json' },
    compress: Compression | null = null,
  ): Promise<RawClient> {
    const url = new URL(base);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    if (compress) url.searchParams.set('compress', compress);
    const client = new RawClient(url.toString(), compress);
    await client.next((m) => m.op === 10);
    return client;
  }

  send(payload: unknown): void {
    this.ws.send(typeof payload === 'string' ? payload : JSON.stringify(payload));
  }

  identify(d: Record<string, unknown> = {}): void {
    this.send({
      op: 2,
      d: {
        token: TOKEN,
        intents: 53608447,
        properties: { os: 'linux', browser: 'raw', device: 'raw' },
        ...d,
      },
    });
  }

  /** Resolves with the first message (from the start) matching `match`, waiting for it if needed. */
  async next(match: (m: Payload) => boolean, timeoutMs = 4000): Promise<Payload> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found) return found;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('closed before the expected message');
      if (Date.now() > deadline) throw new Error('timed out waiting for a message');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  dispatches(t?: string): Payload[] {
    return this.messages.filter((m) => m.op === 0 && (t === undefined || m.t === t));
  }

  /** IDENTIFYs and waits for READY plus every GUILD_CREATE it announced. */
  async ready(d: Record<string, unknown> = {}): Promise<Payload> {
    this.identify(d);
    const ready = await this.next((m) => m.t === 'READY');
    const guilds = (ready.d.guilds as unknown[]).length;
    const intents = (d.intents as number | undefined) ?? 53608447;
    if (intents & 1) await this.next(() => this.dispatches('GUILD_CREATE').length === guilds);
    return ready;
  }

  close(code = 4000): void {
    this.ws.close(code);
  }
}
