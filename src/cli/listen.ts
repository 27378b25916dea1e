/**
 * `dusk listen`: run shards and watch what they receive.
 *
 * With a token it connects to Discord (or to `--api`/`--gateway`); without one it starts the
 * embedded emulator with live traffic and connects to that, so the command works on a machine with
 * no network and no bot (`npm start`). Output is one of: `ndjson` (a stable machine contract on
 * stdout), `pretty` (a live table for people, see pretty.ts) or `quiet`. Logs and errors go to stderr
 * and never contain the token: it is registered as a secret before anything can print it.
 *
 * The process lifecycle is part of the contract, because scripts and supervisors rely on it:
 * SIGINT/SIGTERM close every shard within 5 s and exit 0 (resumably, with the sessions saved, when
 * `--session-file` is given); when every shard has been closed with a fatal code the process exits 1
 * naming the code and what to change; usage mistakes exit 2 with the help (dusk.ts does that).
 */
import { parseArgs } from 'node:util';
import { MAX_SHARDS } from '../client/rest.js';
import type { Emulator } from '../emulator/index.js';
import {
  type Compression,
  DEFAULT_API,
  type Dispatch,
  FileSessionStore,
  fetchGatewayBot,
  type GatewayBotInfo,
  type GatewayCloseError,
  LocalIdentifyQueue,
  type LogLevel,
  NON_PRIVILEGED_INTENTS,
  parseIntents,
  RestError,
  redact,
  Secret,
  Shard,
  type ShardState,
} from '../index.js';
import { consoleLogger, isLogLevel, type Logger } from '../logger.js';
import { formatEvent, LiveView, RateMeter, type ShardView, type ViewState } from './pretty.js';
import { UsageError } from './usage-error.js';

export const usage = `usage: dusk listen [options]

Connects shards to the gateway and prints what they receive. Without a token (--token or
DISCORD_TOKEN) it starts the embedded emulator, with live traffic, and connects to it.

  --token T            bot token (default: $DISCORD_TOKEN)
  --api URL            REST base including the version (default ${DEFAULT_API})
  --gateway URL        gateway URL, overriding the one from GET /gateway/bot
  --shards SPEC        auto (the recommended count), N (all of N), or A-B/N (ids A..B of N)
  --intents LIST       a number or comma-separated names, NONE for none (default: every non-privileged intent)
  --compress MODE      none, zlib-stream or zstd-stream (default zstd-stream)
  --events LIST        comma-separated dispatch types to decode and print (default: all)
  --format FORMAT      pretty, ndjson or quiet (default: pretty on a terminal, else ndjson)
  --session-file PATH  resume the sessions stored there; save them there on SIGINT/SIGTERM
  --log-level LEVEL    debug, info, warn, error or silent (default warn)

ndjson lines: {"type":"dispatch","shard":S,"seq":N,"event":"T","data":{...}},
{"type":"state","shard":S,"state":"active"} and {"type":"fatal","shard":S,"code":C,"message":"..."}.
`;

/** The embedded emulator of a token-less run: small, lively, and quick to show events. */
const EMBEDDED = { guilds: 40, shards: 2, maxConcurrency: 2, rate: 20, seed: 1, heartbeatInterval: 5000 };

/** Whole close of the shards must fit in the 5 s a supervisor is promised; the rest is exiting. */
const CLOSE_BUDGET_MS = 4000;

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
    if (count < 1 || count > MAX_SHARDS) throw new UsageError(`--shards N needs N from 1 to ${MAX_SHARDS}`);
    return { ids: range(0, count - 1), count };
  }
  const m = /^(\d+)-(\d+)\/(\d+)$/.exec(spec);
  if (!m) throw new UsageError(`--shards must be auto, N or A-B/N, got "${spec}"`);
  const [a, b, n] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (n < 1 || n > MAX_SHARDS || a > b || b >= n) {
    throw new UsageError(`--shards ${spec}: need 0 <= A <= B < N <= ${MAX_SHARDS}`);
  }
  return { ids: range(a, b), count: n };
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

export type Format = 'pretty' | 'ndjson' | 'quiet';

export interface ListenConfig {
  /** Undefined: run the embedded emulator. */
  token: string | undefined;
  api: string;
  gateway: string | undefined;
  selection: ShardSelection;
  intents: number;
  compress: Compression | null;
  events: string[] | null;
  format: Format;
  sessionFile: string | undefined;
  logLevel: LogLevel;
}

function checkUrl(value: string | undefined, flag: string, protocols: string[]): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} must be a URL, got "${value}"`);
  }
  if (!protocols.includes(url.protocol))
    throw new UsageError(`${flag} must be a ${protocols.join(' or ')} URL`);
  return value;
}

/** Reads the command line (and DISCORD_TOKEN); null means --help. Throws UsageError on mistakes. */
export function parseListenArgs(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  isTTY = process.stdout.isTTY === true,
): ListenConfig | null {
  const { values, positionals } = parseArgs({
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
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return null;
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const format = values.format ?? (isTTY ? 'pretty' : 'ndjson');
  if (format !== 'pretty' && format !== 'ndjson' && format !== 'quiet')
    throw new UsageError('--format must be pretty, ndjson or quiet');
  const logLevel = values['log-level']!;
  if (!isLogLevel(logLevel)) throw new UsageError('--log-level must be debug, info, warn, error or silent');
  const compress = values.compress!;
  if (compress !== 'none' && compress !== 'zlib-stream' && compress !== 'zstd-stream')
    throw new UsageError('--compress must be none, zlib-stream or zstd-stream');
  let intents: number;
  try {
    if (values.intents?.trim() === '') throw new Error('give a number or names (NONE for no intents)');
    intents = values.intents === undefined ? NON_PRIVILEGED_INTENTS : parseIntents(values.intents);
  } catch (error) {
    throw new UsageError(`--intents: ${(error as Error).message}`);
  }
  let events: string[] | null = null;
  if (values.events !== undefined) {
    events = values.events
      .split(',')
      .map((e) => e.trim().toUpperCase())
      .filter((e) => e !== '');
    const bad = events.find((e) => !/^[A-Z_]+$/.test(e));
    if (events.length === 0 || bad !== undefined)
      throw new UsageError(`--events must be dispatch types such as MESSAGE_CREATE,GUILD_CREATE`);
  }
  const token = (values.token ?? env.DISCORD_TOKEN)?.trim() || undefined;
  if (values.token !== undefined && !token) throw new UsageError('--token is empty');
  if (!token && (values.api !== undefined || values.gateway !== undefined)) {
    throw new UsageError(
      '--api and --gateway need a token (--token or DISCORD_TOKEN); without one dusk listen runs the embedded emulator',
    );
  }
  return {
    token,
    api: checkUrl(values.api, '--api', ['http:', 'https:']) ?? DEFAULT_API,
    gateway: checkUrl(values.gateway, '--gateway', ['ws:', 'wss:']),
    selection: parseShardSpec(values.shards!),
    intents,
    compress: compress === 'none' ? null : compress,
    events,
    format,
    sessionFile: values['session-file'],
    logLevel,
  };
}

/** What to change on this command line for a fatal close code, on top of the code's own advice. */
function cliHint(code: number): string {
  switch (code) {
    case 4004:
      return 'check --token or DISCORD_TOKEN';
    case 4010:
    case 4011:
      return 'check --shards (auto uses the recommended count)';
    case 4013:
    case 4014:
      return 'check --intents (the default is the non-privileged set)';
    default:
      return '';
  }
}

export async function run(argv: string[]): Promise<number> {
  const config = parseListenArgs(argv);
  if (!config) {
    process.stdout.write(usage);
    return 0;
  }
  // Registered before anything can fail, so every message printed from here on is scrubbed of it.
  if (config.token) new Secret(config.token);

  // Signals are taken over first: a Ctrl-C during startup must still close cleanly and exit 0.
  let shutdown: ((why: string) => Promise<void>) | null = null;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting without waiting\n`);
      process.exit(130);
    }
    stopping = true;
    if (shutdown) {
      shutdown(signal).then(
        () => finish(0),
        (error: unknown) => {
          process.stderr.write(`error while closing: ${(error as Error)?.message ?? error}\n`);
          finish(1);
        },
      );
    } else finish(0);
  };
  // Left in place until the process exits: without a handler, a signal arriving between the end of
  // the close and the exit (while the output is flushed) would kill the process with a signal status.
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  return listen(
    config,
    finished,
    finish,
    (fn) => (shutdown = fn),
    () => stopping,
  );
}

async function listen(
  config: ListenConfig,
  finished: Promise<number>,
  finish: (code: number) => void,
  onShutdown: (fn: (why: string) => Promise<void>) => void,
  stopping: () => boolean,
): Promise<number> {
  let token = config.token;
  let api = config.api;
  let emulator: Emulator | undefined;
  if (!token) {
    const { Emulator } = await import('../emulator/index.js');
    emulator = await Emulator.start({ port: 0, ...EMBEDDED });
    token = emulator.token;
    new Secret(token);
    api = emulator.apiUrl;
    process.stderr.write(
      `no token given: started the embedded emulator at ${emulator.gatewayUrl} (${EMBEDDED.guilds} guilds, ` +
        `${EMBEDDED.rate} events/s); break it with: npx dusk fault --control ${emulator.controlUrl} drop\n`,
    );
  }
  const closeEmulator = async () => {
    if (emulator) await Promise.race([emulator.close(), delay(500)]);
  };
  if (stopping()) {
    await closeEmulator();
    return 0;
  }

  let info: GatewayBotInfo;
  try {
    info = await fetchGatewayBot(token, { api });
  } catch (error) {
    await closeEmulator();
    if (stopping()) return 0;
    throw explainRestError(error, config);
  }
  const count = config.selection.count ?? info.shards;
  const ids = config.selection.count === null ? range(0, count - 1) : config.selection.ids;
  const limit = info.session_start_limit;
  const queue = new LocalIdentifyQueue({ maxConcurrency: limit.max_concurrency, sessionStartLimit: limit });
  const store = config.sessionFile ? new FileSessionStore(config.sessionFile) : undefined;
  const out = createOutput(config.format, queue);
  const logger = out.logger(config.logLevel);
  logger.info(
    `GET /gateway/bot: ${info.shards} shard(s) recommended, max_concurrency ${limit.max_concurrency}; ` +
      `running ${ids.length} of ${count}`,
  );

  const shards = ids.map(
    (id) =>
      new Shard({
        token: token!,
        intents: config.intents,
        shardId: id,
        shardCount: count,
        gatewayUrl: config.gateway ?? info.url,
        compress: config.compress,
        events: config.events,
        identifyQueue: queue,
        ...(store ? { sessionStore: store } : {}),
        logger,
      }),
  );

  onShutdown(async (why) => {
    const resumable = store !== undefined;
    out.notice(
      `${why}: closing ${shards.length} shard(s) ` +
        (resumable ? `resumably, saving sessions to ${config.sessionFile}` : 'with close code 1000'),
    );
    // close() resolves once the store holds the final sequence (a failed write is logged).
    const closing = Promise.all(shards.map((s) => s.close({ resumable })));
    if (!(await Promise.race([closing.then(() => true), delay(CLOSE_BUDGET_MS).then(() => false)]))) {
      out.notice(`the shards did not close within ${CLOSE_BUDGET_MS / 1000} s; exiting anyway`);
    }
    out.stop();
    await closeEmulator();
  });

  const fatal = new Map<number, GatewayCloseError>();
  for (const shard of shards) {
    out.attach(shard);
    shard.on('fatal', (error) => {
      fatal.set(shard.shardId, error);
      out.fatal(shard.shardId, error);
      if (fatal.size === shards.length) finish(1);
    });
  }
  out.start(shards);
  for (const shard of shards) shard.connect().catch(() => {});

  const code = await finished;
  if (code !== 0) {
    out.stop();
    const codes = [...new Set([...fatal.values()].map((e) => e.code))];
    const first = [...fatal.values()][0]!;
    const hint = codes.map(cliHint).filter(Boolean).join('; ');
    process.stderr.write(
      `dusk listen: every shard was closed with a fatal close code (${codes.join(', ')}); ` +
        `not retrying. ${redact(first.message.replace(/^shard \d+ /, ''))}${hint ? ` (${hint})` : ''}\n`,
    );
    await closeEmulator();
  }
  return code;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function explainRestError(error: unknown, config: ListenConfig): Error {
  if (!(error instanceof RestError)) return error as Error;
  if (error.status === 401) return new Error(`${error.message} (check --token or DISCORD_TOKEN)`);
  if (error.status === 0 && config.api === DEFAULT_API)
    return new Error(`${error.message} (no network? without a token dusk listen runs the embedded emulator)`);
  return error;
}

// ---- output ----------------------------------------------------------------------------------

interface Output {
  /** The logger for the shards: stderr, or above the live table when both share a terminal. */
  logger(level: LogLevel): Logger;
  attach(shard: Shard): void;
  start(shards: readonly Shard[]): void;
  fatal(shardId: number, error: GatewayCloseError): void;
  /** A line for the person running the command (stderr). */
  notice(line: string): void;
  stop(): void;
}

function createOutput(format: Format, queue: LocalIdentifyQueue): Output {
  const stdout = guardedStdout();
  const stderr = (line: string) => process.stderr.write(`${redact(line)}\n`);
  if (format === 'quiet' || format === 'ndjson') {
    const quiet = format === 'quiet';
    const json = (value: unknown) => stdout(redact(JSON.stringify(value)));
    return {
      logger: (level) => consoleLogger(level),
      attach(shard) {
        if (quiet) return;
        shard.on('dispatch', (e) =>
          json({ type: 'dispatch', shard: e.shardId, seq: e.s, event: e.t, data: e.d }),
        );
        shard.on('state', (s) => json({ type: 'state', shard: shard.shardId, state: s.status }));
      },
      start() {},
      fatal(shardId, error) {
        stderr(`error: ${error.message}`);
        if (!quiet) json({ type: 'fatal', shard: shardId, code: error.code, message: error.message });
      },
      notice: stderr,
      stop() {},
    };
  }
  return createPretty(stdout, stderr, queue);
}

/**
 * stdout that tolerates a reader going away (`dusk listen | head`): the first EPIPE is treated as a
 * request to stop, like SIGPIPE would be for a C program, and later writes are dropped.
 */
function guardedStdout(): (line: string) => void {
  let broken = false;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (broken) return;
    broken = true;
    if (error.code === 'EPIPE') process.emit('SIGTERM', 'SIGTERM');
    else process.stderr.write(`dusk listen: stdout: ${error.message}\n`);
  });
  return (line) => {
    if (!broken) process.stdout.write(`${line}\n`);
  };
}

interface Tracked {
  shard: Shard;
  events: number;
  last: { t: string; at: number } | null;
  meter: RateMeter;
  rate: number;
  /** When the shard entered its current state, for "retry in" countdowns. */
  since: number;
}

function createPretty(
  stdout: (line: string) => void,
  stderr: (line: string) => void,
  queue: LocalIdentifyQueue,
): Output {
  const tty = process.stdout.isTTY === true;
  const color = tty && !('NO_COLOR' in process.env);
  const started = Date.now();
  const tracked: Tracked[] = [];
  const total = new RateMeter();
  let totalEvents = 0;

  const state = (): ViewState => {
    const now = Date.now();
    const shards: ShardView[] = tracked.map((t) => {
      const s = t.shard.state;
      const latency = t.shard.latency.average;
      t.rate = t.meter.sample(now, t.events);
      return {
        id: t.shard.shardId,
        status: s.status,
        latency: Number.isNaN(latency) ? null : latency,
        rate: t.rate,
        events: t.events,
        lastEvent: t.last ? { t: t.last.t, ago: now - t.last.at } : null,
        reconnectIn: s.reconnectIn === null ? null : Math.max(0, s.reconnectIn - (now - t.since)),
        errorCode: s.error?.code ?? null,
      };
    });
    const ready = shards.filter((s) => s.status === 'active').length;
    return {
      shards,
      progress: { ready, total: shards.length, ...queue.progress },
      totalEvents,
      totalRate: total.sample(now, totalEvents),
      uptime: (now - started) / 1000,
    };
  };

  // On a terminal, lines meant for stderr go above the table too when stderr is the same terminal,
  // or they would be drawn over by the next frame.
  const view = tty ? new LiveView(process.stdout, state, { color }) : null;
  const above = view && process.stderr.isTTY ? (line: string) => view.line(redact(line)) : stderr;
  let stopped = false;

  return {
    logger: (level) => consoleLogger(level, (line) => above(line.replace(/\n$/, ''))),
    attach(shard) {
      const t: Tracked = { shard, events: 0, last: null, meter: new RateMeter(), rate: 0, since: Date.now() };
      tracked.push(t);
      shard.on('dispatch', (e: Dispatch) => {
        t.events++;
        totalEvents++;
        t.last = { t: e.t, at: Date.now() };
        const line = redact(formatEvent(e, color));
        if (view) view.line(line);
        else stdout(line);
      });
      shard.on('state', (s: ShardState) => {
        t.since = Date.now();
        if (view) return; // the table shows it
        const ready = tracked.filter((x) => x.shard.state.status === 'active').length;
        stdout(`shard ${shard.shardId}: ${s.status} (${ready}/${tracked.length} ready)`);
      });
    },
    start() {
      view?.start();
    },
    fatal(_shardId, error) {
      above(`error: ${error.message}`);
    },
    notice: above,
    stop() {
      if (stopped) return;
      stopped = true;
      view?.stop();
    },
  };
}
