/**
 * The two REST routes a gateway client needs: `GET /gateway` and `GET /gateway/bot`.
 *
 * Node's built-in fetch (undici) is enough for two GETs, so no HTTP dependency is added. The API
 * base is configurable so everything can point at the emulator. A 429 is waited out (per its
 * `retry_after`, a bounded number of times) because the caller has nothing better to do than wait;
 * a 401 becomes an error that says the token is wrong without ever containing it.
 */
import { type Clock, sleep, systemClock } from '../clock.js';
import { redact, Secret } from '../redact.js';

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

async function get(path: string, token: Secret | null, options: RestOptions): Promise<unknown> {
  const api = (options.api ?? DEFAULT_API).replace(/\/+$/, '');
  const clock = options.clock ?? systemClock;
  const maxRetries = options.maxRetries ?? 3;
  const headers: Record<string, string> = { 'user-agent': 'DiscordBot (dusk, 0.1)' };
  if (token) headers.authorization = `Bot ${token.reveal()}`;
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(`${api}${path}`, { headers, signal: options.signal ?? null });
    } catch (cause) {
      throw new RestError(0, `GET ${api}${path} failed: ${(cause as Error).message}`);
    }
    if (response.status === 429 && attempt < maxRetries) {
      const body = (await response.json().catch(() => ({}))) as { retry_after?: unknown };
      const header = Number(response.headers.get('retry-after'));
      const seconds =
        typeof body.retry_after === 'number' ? body.retry_after : Number.isFinite(header) ? header : 1;
      await sleep(clock, Math.ceil(seconds * 1000), options.signal);
      continue;
    }
    if (response.status === 401) {
      throw new RestError(401, `GET ${api}${path}: 401 Unauthorized; the bot token is invalid or was reset`);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      throw new RestError(
        response.status,
        `GET ${api}${path}: HTTP ${response.status} ${text.slice(0, 200)}`,
      );
    }
    try {
      return await response.json();
    } catch {
      throw new RestError(response.status, `GET ${api}${path}: the response is not JSON`);
    }
  }
}

/** `GET /gateway/bot`: the URL, recommended shard count and session start limit. */
export async function fetchGatewayBot(
  token: string | Secret,
  options: RestOptions = {},
): Promise<GatewayBotInfo> {
  const secret = typeof token === 'string' ? new Secret(token.replace(/^Bot\s+/i, '')) : token;
  const body = (await get('/gateway/bot', secret, options)) as Partial<GatewayBotInfo>;
  const limit = body?.session_start_limit;
  if (
    typeof body?.url !== 'string' ||
    !Number.isInteger(body.shards) ||
    !limit ||
    !Number.isInteger(limit.max_concurrency) ||
    !Number.isInteger(limit.remaining)
  ) {
    throw new RestError(200, 'GET /gateway/bot returned an unexpected body');
  }
  return body as GatewayBotInfo;
}

/** `GET /gateway`: the URL only, no authentication. */
export async function fetchGateway(options: RestOptions = {}): Promise<{ url: string }> {
  const body = (await get('/gateway', null, options)) as { url?: unknown };
  if (typeof body?.url !== 'string') throw new RestError(200, 'GET /gateway returned an unexpected body');
  return { url: body.url };
}
