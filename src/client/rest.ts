/**
 * The two REST routes a gateway client needs: `GET /gateway` and `GET /gateway/bot`.
 *
 * Node's built-in fetch (undici) is enough for two GETs, so no HTTP dependency is added. The API
 * base is configurable so everything can point at the emulator. A 429 is waited out (per its
 * `retry_after`, a bounded number of times) because the caller has nothing better to do than wait;
 * a 401 becomes an error that says the token is wrong without ever containing it.
 */
import { isInteger } from '../check.js';
import { type Clock, sleep, systemClock } from '../clock.js';
import { botToken, redact, type Secret } from '../redact.js';

export const DEFAULT_API = 'https://discord.com/api/v10';

export interface GatewayBotInfo {
  url: string;
  shards: number;
  session_start_limit: {
    total: number;
    remaining: number;
    reset_after: number;
    max_concurrency: number;
  };
}

export interface RestOptions {
  /** The REST base including the version (default https://discord.com/api/v10). */
  api?: string;
  clock?: Clock;
  /** How many 429 answers to wait out before giving up (default 3). */
  maxRetries?: number;
  signal?: AbortSignal;
}

export class RestError extends Error {
  override name = 'RestError';
  readonly status: number;

  constructor(status: number, message: string) {
    super(redact(message));
    this.status = status;
  }
}

/** Both answers are a few hundred bytes; anything far larger is not Discord's. */
const MAX_BODY = 64 * 1024;
/** A request (answer and body) that takes longer than this has failed. */
export const REQUEST_TIMEOUT_MS = 15_000;
/** A 429 that asks for a longer wait than this is reported rather than slept through. */
const MAX_RETRY_AFTER_S = 60;

async function get(path: string, token: Secret | null, options: RestOptions): Promise<unknown> {
  const api = (options.api ?? DEFAULT_API).replace(/\/+$/, '');
  const clock = options.clock ?? systemClock;
  const maxRetries = options.maxRetries ?? 3;
  const headers: Record<string, string> = { 'user-agent': 'DiscordBot (dusk, 0.1)' };
  if (token) headers.authorization = `Bot ${token.reveal()}`;
  const what = `GET ${api}${path}`;
  for (let attempt = 0; ; attempt++) {
    // One signal for both the caller's abort and the deadline (AbortSignal.any needs Node 20.3).
    const timeout = new AbortController();
    const timer = clock.setTimeout(() => timeout.abort(), REQUEST_TIMEOUT_MS);
    const abort = () => timeout.abort(options.signal?.reason);
    if (options.signal?.aborted) abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    const signal = timeout.signal;
    let status: number;
    let retryHeader: string | null;
    let text: string;
    try {
      const response = await fetch(`${api}${path}`, { headers, signal });
      status = response.status;
      retryHeader = response.headers.get('retry-after');
      text = await readBody(response, what);
    } catch (cause) {
      if (cause instanceof RestError) throw cause;
      if (options.signal?.aborted) throw options.signal.reason;
      const why = timeout.signal.aborted
        ? `no complete answer within ${REQUEST_TIMEOUT_MS / 1000} s`
        : (cause as Error).message;
      throw new RestError(0, `${what} failed: ${why}`);
    } finally {
      timer.cancel();
      options.signal?.removeEventListener('abort', abort);
    }
    if (status === 429 && attempt < maxRetries) {
      const body = parseJson(text) as { retry_after?: unknown } | undefined;
      const header = Number(retryHeader);
      const given = typeof body?.retry_after === 'number' ? body.retry_after : header;
      const seconds = Number.isFinite(given) && given >= 0 ? given : 1;
      if (seconds > MAX_RETRY_AFTER_S) {
        throw new RestError(429, `${what}: rate limited for ${Math.ceil(seconds)} s; not waiting that long`);
      }
      await sleep(clock, Math.ceil(seconds * 1000), options.signal);
      continue;
    }
    if (status === 401) {
      throw new RestError(401, `${what}: 401 Unauthorized; the bot token is invalid or was reset`);
    }
    if (status < 200 || status > 299)
      throw new RestError(status, `${what}: HTTP ${status} ${redact(text).slice(0, 200)}`);
    const body = parseJson(text);
    if (body === undefined) throw new RestError(status, `${what}: the response is not JSON`);
    return body;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The body as text, refused past `MAX_BODY` bytes instead of read to the end. */
async function readBody(response: Response, what: string): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > MAX_BODY) {
      await response.body.cancel().catch(() => {});
      throw new RestError(response.status, `${what}: the answer is over ${MAX_BODY / 1024} KiB`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** More shards than any bot could need: a count past it is not an answer to trust. */
export const MAX_SHARDS = 1 << 16;

/** `GET /gateway/bot`: the URL, recommended shard count and session start limit. */
export async function fetchGatewayBot(
  token: string | Secret,
  options: RestOptions = {},
): Promise<GatewayBotInfo> {
  const secret = typeof token === 'string' ? botToken(token) : token;
  const body = (await get('/gateway/bot', secret, options)) as Partial<GatewayBotInfo>;
  const limit = body?.session_start_limit;
  if (
    typeof body?.url !== 'string' ||
    !isInteger(body.shards, 1, MAX_SHARDS) ||
    !limit ||
    !isInteger(limit.max_concurrency, 1, MAX_SHARDS) ||
    !isInteger(limit.remaining, 0) ||
    !isInteger(limit.total, 0) ||
    !(typeof limit.reset_after === 'number' && limit.reset_after >= 0)
  ) {
    throw new RestError(
      200,
      `GET /gateway/bot returned an unexpected body: ${JSON.stringify(body).slice(0, 200)}`,
    );
  }
  return body as GatewayBotInfo;
}

/** `GET /gateway`: the URL only, no authentication. */
export async function fetchGateway(options: RestOptions = {}): Promise<{ url: string }> {
  const body = (await get('/gateway', null, options)) as { url?: unknown };
  if (typeof body?.url !== 'string') throw new RestError(200, 'GET /gateway returned an unexpected body');
  return { url: body.url };
}
