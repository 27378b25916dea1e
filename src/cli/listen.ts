/**
 * `dusk listen`: run shards and watch what they receive.
 *
 * With a token it connects to Discord (or to `--api`/`--gateway`); without one it starts the
 * embedded emulator with live traffic and connects to that, so the command works on a machine with
 * no network and no bot. Output is one of: `ndjson` (a stable machine contract on stdout), `pretty`
 * (for people) or `quiet`. Logs go to stderr and never contain the token.
 */
import { parseArgs } from 'node:util';
import type { Emulator } from '../emulator/index.js';
import {
  type Compression,
  type Dispatch,
  FileSessionStore,
  fetchGatewayBot,
  type GatewayCloseError,
  LocalIdentifyQueue,
  type LogLevel,
  NON_PRIVILEGED_INTENTS,
  parseIntents,
  redact,
  Shard,
  type ShardState,
} from '../index.js';
import { consoleLogger, isLogLevel } from '../logger.js';
import { UsageError } from './usage-error.js';

export const usage = `usage: dusk listen [options]

Connects shards to the gateway and prints what they receive. Without a token (--token or
DISCORD_TOKEN) it starts the embedded emulator and connects to it.

  --token T            bot token (default: $DISCORD_TOKEN)
  --api URL            REST base including the version (default https://discord.com/api/v10)
  --gateway URL        gateway URL, overriding the one from GET /gateway/bot
  --shards SPEC        auto (recommended count), N (all of N), or A-B/N (ids A..B of N)
  --intents LIST       a number or comma-separated names (default: every non-privileged intent)
  --compress MODE      none, zlib-stream or zstd-stream (default zstd-stream)
  --events LIST        comma-separated dispatch types to decode and print (default: all)
  --format FORMAT      pretty, ndjson or quiet (default: pretty on a terminal, else ndjson)
  --session-file PATH  resume the sessions stored there; save them there on SIGINT/SIGTERM
  --log-level LEVEL    debug, info, warn, error or silent (default warn)
`;

export interface ShardSelection {
  ids: number[];
  /** null: take the recommended count from GET /gateway/bot. */
  count: number | null;
}

/** Parses `auto`, `N`, or `A-B/N`. */
export function parseShardSpec(spec: string): ShardSelection {
  if (spec === 'auto') return { ids: [], count: null };
  if (/^\d+$/.test(spec)) {
    const count = Number(spec);
    if (count < 1) throw new UsageError('--shards N needs N of at least 1');
    return { ids: range(0, count - 1), count };
  }
  const m = /^(\d+)-(\d+)\/(\d+)$/.exec(spec);
  if (!m) throw new UsageError(`--shards must be auto, N or A-B/N, got "${spec}"`);
  const [a, b, n] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (n < 1 || a > b || b >= n) throw new UsageError(`--shards ${spec}: need 0 <= A <= B < N`);
  return { ids: range(a, b), count: n };
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

type Format = 'pretty' | 'ndjson' | 'quiet';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      token: { type: 'string' },
      api: { type: 'string' },
      gateway: { type: 'string' },
      shards: { type: 'string', default: 'auto' },
      intents: { type: 'string' },
      compress: { type: 'string', default: 'zstd-stream' },
      events: { type: 'string' },
      format: { type: 'string' },
      'session-file': { type: 'string' },
      'log-level': { type: 'string', default: 'warn' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const format = (values.format ?? (process.stdout.isTTY ? 'pretty' : 'ndjson')) as Format;
  if (!['pretty', 'ndjson', 'quiet'].includes(format))
    throw new UsageError(`--format must be pretty, ndjson or quiet`);
  const level = values['log-level']!;
  if (!isLogLevel(level)) throw new UsageError(`--log-level must be debug, info, warn, error or silent`);
  const compressArg = values.compress!;
  if (!['none', 'zlib-stream', 'zstd-stream'].includes(compressArg)) {
    throw new UsageError('--compress must be none, zlib-stream or zstd-stream');
  }
  const compress = compressArg === 'none' ? null : (compressArg as Compression);
  let intents: number;
  try {
    intents = values.intents === undefined ? NON_PRIVILEGED_INTENTS : parseIntents(values.intents);
  } catch (error) {
    throw new UsageError(`--intents: ${(error as Error).message}`);
  }
  const selection = parseShardSpec(values.shards!);
  const events = values.events ? values.events.split(',').map((e) => e.trim().toUpperCase()) : null;
  const logger = consoleLogger(level as LogLevel);

  let token: string | undefined = values.token ?? process.env.DISCORD_TOKEN;
  let api = values.api;
  let emulator: Emulator | undefined;
  if (!token) {
    const { Emulator } = await import('../emulator/index.js');
    emulator = await Emulator.start({ port: 0, guilds: 40, shards: 2, maxConcurrency: 2, rate: 20, seed: 1 });
    token = emulator.token;
    api = emulator.apiUrl;
    process.stderr.write(
      `no token given: started the embedded emulator at ${emulator.gatewayUrl} (live traffic, 20 events/s)\n`,
    );
  }

  const info = await fetchGatewayBot(token, api ? { api } : {});
  const count = selection.count ?? info.shards;
  const ids = selection.count === null ? range(0, count - 1) : selection.ids;
  const queue = new LocalIdentifyQueue({ maxConcurrency: info.session_start_limit.max_concurrency });
  const store = values['session-file'] ? new FileSessionStore(values['session-file']) : undefined;
  const out = createOutput(format, ids.length);

  const shards = ids.map(
    (id) =>
      new Shard({
        token: token!,
        intents,
        shardId: id,
        shardCount: count,
        gatewayUrl: values.gateway ?? info.url,
        compress,
        events,
        identifyQueue: queue,
        ...(store ? { sessionStore: store } : {}),
        logger,
      }),
  );

  let fatal = 0;
  const done = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(
        `${signal}: closing ${shards.length} shard(s)${store ? ', saving sessions' : ''}\n`,
      );
      const force = setTimeout(() => resolve(0), 4500);
      await Promise.all(shards.map((s) => s.close({ resumable: store !== undefined })));
      clearTimeout(force);
      await emulator?.close();
      resolve(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
    for (const shard of shards) {
      shard.on('dispatch', (event) => out.dispatch(event));
      shard.on('state', (state) => out.state(shard.shardId, state));
      shard.on('fatal', (error: GatewayCloseError) => {
        process.stderr.write(`error: ${error.message}\n`);
        if (++fatal === shards.length) resolve(1);
      });
      shard.connect().catch(() => {});
    }
  });
  const code = await done;
  out.stop();
  return code;
}

interface Output {
  dispatch(event: Dispatch): void;
  state(shardId: number, state: ShardState): void;
  stop(): void;
}

function createOutput(format: Format, shardCount: number): Output {
  const write = (line: string) => process.stdout.write(redact(line) + '\n');
  if (format === 'quiet') return { dispatch() {}, state() {}, stop() {} };
  if (format === 'ndjson') {
    return {
      dispatch: (e) =>
        write(JSON.stringify({ type: 'dispatch', shard: e.shardId, seq: e.s, event: e.t, data: e.d })),
      state: (shard, s) => write(JSON.stringify({ type: 'state', shard, state: s.status })),
      stop() {},
    };
  }
  let ready = 0;
  return {
    dispatch: (e) =>
      write(`${new Date().toISOString().slice(11, 23)} shard ${e.shardId} #${e.s} ${e.t} ${summary(e)}`),
    state: (shard, s) => {
      if (s.status === 'active') ready++;
      write(
        `shard ${shard}: ${s.status}${s.status === 'active' ? ` (${Math.min(ready, shardCount)}/${shardCount} ready)` : ''}`,
      );
    },
    stop() {},
  };
}

function summary(e: Dispatch): string {
  const d = e.d as Record<string, unknown> | null;
  if (!d || typeof d !== 'object') return '';
  if (e.t === 'MESSAGE_CREATE') {
    const author = (d.author as { username?: string } | undefined)?.username ?? '?';
    return `${author}: ${String(d.content ?? '').slice(0, 80)}`;
  }
  if (e.t === 'GUILD_CREATE') return `${d.name} (${d.member_count} members)`;
  if (e.t === 'READY') return `session ${d.session_id}`;
  if (e.t === 'PRESENCE_UPDATE') return `${(d.user as { id?: string })?.id} is ${d.status}`;
  return d.guild_id ? `guild ${d.guild_id}` : '';
}
