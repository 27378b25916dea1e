/**
 * The clients under test, behind one small interface so every benchmark drives them the same way:
 * dusk's `Shard`, @discordjs/ws's `WebSocketManager` (one shard), and the floor — a plain `ws`
 * socket with the same native inflater and `JSON.parse`, no library — which is what any gateway
 * client has to do at the least, so a library's cost is what it adds on top.
 *
 * Each delivers the events the application wants to `onEvent(s, t)`. Filtering happens where each
 * client can do it: dusk is told the wanted events and skips parsing the rest; @discordjs/ws parses
 * everything and the handler returns early for the unwanted ones, as an application using it would;
 * the floor reads each dispatch's name from its first bytes and parses only the wanted ones, the
 * least any client that filters must do.
 */
import { REST } from '@discordjs/rest';
import { CompressionMethod, WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';
import type { GatewayIntentBits } from 'discord-api-types/v10';
import { WebSocket } from 'ws';
import { readEnvelopeHead } from '../dist/client/decode.js';
import { LocalIdentifyQueue } from '../dist/client/identify-queue.js';
import { createInflater } from '../dist/client/inflate.js';
import { Shard } from '../dist/client/shard.js';

export type ClientKind = 'dusk' | 'djs' | 'floor' | 'transport';
export type Compress = 'zlib-stream' | 'zstd-stream' | null;

export interface ClientOptions {
  gatewayUrl: string;
  apiUrl: string;
  token: string;
  intents: number;
  compress: Compress;
  /** Event names the application wants, or null for all. */
  wanted: readonly string[] | null;
  onEvent: (s: number, t: string) => void;
  onResumed?: () => void;
  /** Floor only: every websocket message received while `capture.on` is true is kept here. */
  capture?: { on: boolean; frames: Buffer[] };
  /** Floor only: `[shard_id, num_shards]` for IDENTIFY (default none, i.e. [0, 1]). */
  shard?: [number, number];
}

export interface BenchClient {
  /** Resolves with the session id once READY. */
  connect(): Promise<string>;
  close(): Promise<void>;
}

export function createClient(kind: ClientKind, options: ClientOptions): BenchClient {
  if (kind === 'dusk') return duskClient(options);
  if (kind === 'djs') return djsClient(options);
  return new FloorClient(options, kind === 'transport');
}

function duskClient(o: ClientOptions): BenchClient {
  const shard = new Shard({
    token: o.token,
    intents: o.intents,
    gatewayUrl: o.gatewayUrl,
    compress: o.compress,
    events: o.wanted,
    identifyQueue: new LocalIdentifyQueue({ maxConcurrency: 1, window: 0 }),
  });
  const onEvent = o.onEvent;
  shard.on('dispatch', (e) => onEvent(e.s, e.t));
  if (o.onResumed) shard.on('resumed', o.onResumed);
  return {
    connect: async () => {
      await shard.connect();
      return shard.session!.sessionId;
    },
    close: async () => {
      await shard.close();
    },
  };
}

export function djsRest(apiUrl: string, token: string): REST {
  return new REST({ api: apiUrl.replace(/\/v10$/, ''), version: '10' }).setToken(token);
}

export function djsCompression(compress: Compress): CompressionMethod | null {
  if (compress === 'zstd-stream') throw new Error('@discordjs/ws 2.0.4 has no zstd-stream support');
  return compress === 'zlib-stream' ? CompressionMethod.ZlibSync : null;
}

function djsClient(o: ClientOptions): BenchClient {
  const manager = new WebSocketManager({
    token: o.token,
    intents: o.intents as GatewayIntentBits,
    rest: djsRest(o.apiUrl, o.token),
    compression: djsCompression(o.compress),
    shardCount: 1,
  });
  const onEvent = o.onEvent;
  const wanted = o.wanted ? new Set(o.wanted) : null;
  manager.on(WebSocketShardEvents.Dispatch, (payload) => {
    if (wanted && !wanted.has(payload.t)) return;
    onEvent(payload.s, payload.t);
  });
  if (o.onResumed) manager.on(WebSocketShardEvents.Resumed, o.onResumed);
  return {
    connect: () =>
      new Promise<string>((resolve, reject) => {
        manager.once(WebSocketShardEvents.Ready, (payload) => resolve(payload.session_id));
        manager.connect().catch(reject);
      }),
    close: async () => {
      await manager.destroy();
    },
  };
}

/**
 * The least a client can do: inflate, parse, identify, heartbeat. No resume, no checks. Given wanted
 * events, it reads each dispatch's sequence and name from its first bytes (dusk's `readEnvelopeHead`)
 * and parses only the wanted ones.
 *
 * With `headsOnly` it is the transport floor: nothing is parsed, so it measures only what receiving a
 * frame costs over `ws`: the least any ws-based client can spend per event, wanted or not.
 */
export class FloorClient implements BenchClient {
  readonly #o: ClientOptions;
  readonly #headsOnly: boolean;
  #ws: WebSocket | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #seq: number | null = null;

  constructor(options: ClientOptions, headsOnly = false) {
    this.#o = options;
    this.#headsOnly = headsOnly;
  }

  connect(): Promise<string> {
    const o = this.#o;
    const url = `${o.gatewayUrl}?v=10&encoding=json${o.compress ? `&compress=${o.compress}` : ''}`;
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
    this.#ws = ws;
    const inflater = o.compress ? createInflater(o.compress, 128 << 20) : null;
    const wanted = o.wanted ? new Set(o.wanted) : null;
    const capture = o.capture;
    const onEvent = o.onEvent;
    return new Promise((resolve, reject) => {
      ws.on('error', reject);
      ws.on('message', (data: Buffer) => {
        // A copy: ws may hand out slices of its larger socket chunks, which would all stay alive.
        if (capture?.on) capture.frames.push(Buffer.from(data));
        const out = inflater ? inflater.push(data) : data;
        if (out === null) return;
        if (this.#headsOnly || wanted) {
          const head = readEnvelopeHead(out);
          if (head?.op === 0 && head.s !== null && head.t !== null && head.t !== 'READY') {
            this.#seq = head.s;
            if (wanted && !wanted.has(head.t)) return;
            if (this.#headsOnly) return onEvent(head.s, head.t);
          }
        }
        const p = JSON.parse(out.toString()) as { op: number; s: number; t: string; d: any };
        if (p.op === 0) {
          this.#seq = p.s;
          if (p.t === 'READY') resolve(p.d.session_id);
          else if (!wanted || wanted.has(p.t)) onEvent(p.s, p.t);
        } else if (p.op === 10) {
          this.#heartbeat = setInterval(() => this.#send({ op: 1, d: this.#seq }), p.d.heartbeat_interval);
          this.#send({
            op: 2,
            d: {
              token: o.token,
              intents: o.intents,
              properties: { os: 'linux', browser: 'floor', device: 'floor' },
              large_threshold: 50,
              ...(o.shard ? { shard: o.shard } : {}),
            },
          });
        } else if (p.op === 1) {
          this.#send({ op: 1, d: this.#seq });
        }
      });
    });
  }

  #send(payload: unknown): void {
    this.#ws?.send(JSON.stringify(payload));
  }

  async close(): Promise<void> {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#ws?.close(1000);
  }
}
