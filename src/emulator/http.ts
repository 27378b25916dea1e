/**
 * The emulator's two HTTP surfaces.
 *
 * REST (on the gateway's port) is the handful of Discord routes a gateway client and a ping-pong bot
 * touch: `GET /gateway`, `GET /gateway/bot` (bot token required, 401 otherwise) and
 * `POST /channels/{id}/messages`, which answers with the message object and dispatches its
 * MESSAGE_CREATE like Discord does. Errors carry Discord's JSON error shape.
 *
 * Control (on its own port, bound to loopback only, since it can inject faults and read logs) lets
 * other processes and other languages drive the emulator: inspect sessions and counters, read a
 * session's log, dispatch events, burst, inject faults, and post a message as a user.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DispatchTarget, Emulator } from './emulator.js';
import { parseFault } from './faults.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code = 0,
  ) {
    super(message);
  }
}

const MAX_BODY = 1 << 20;

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'Request entity too large', 40005);
    chunks.push(chunk as Buffer);
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value;
  } catch {
    throw new HttpError(400, 'The request body contains invalid JSON.', 50109);
  }
}

/**
 * The request target as a URL. Node hands over whatever the client wrote; resolved against a base,
 * a target such as `//x` would name a host and `new URL` would throw, so the target is always read
 * as a path on this server. Null when even that fails.
 */
export function requestUrl(request: IncomingMessage): URL | null {
  const target = request.url ?? '/';
  try {
    return new URL(`http://localhost${target.startsWith('/') ? target : `/${target}`}`);
  } catch {
    return null;
  }
}

/** Runs `route` and turns thrown errors into JSON answers, so a bad request never crashes the emulator. */
function serve(route: (request: IncomingMessage, url: URL) => Promise<[number, unknown]>): Handler {
  return (request, response) => {
    const url = requestUrl(request);
    if (!url) return send(response, 400, { message: 'Malformed request target.', code: 0 });
    if (request.method !== 'GET' && request.method !== 'POST') {
      response.setHeader('allow', 'GET, POST');
      return send(response, 405, { message: '405: Method Not Allowed', code: 0 });
    }
    route(request, url).then(
      ([status, body]) => send(response, status, body),
      (error: unknown) => {
        // The rest of an oversized body is never read: the connection cannot carry another request.
        if (error instanceof HttpError && error.status === 413) response.setHeader('connection', 'close');
        if (error instanceof HttpError)
          send(response, error.status, { message: error.message, code: error.code });
        else send(response, 500, { message: (error as Error).message ?? String(error), code: 0 });
      },
    );
  };
}

export function restHandler(emulator: Emulator): Handler {
  const authorize = (request: IncomingMessage) => {
    if (request.headers.authorization !== `Bot ${emulator.token}`)
      throw new HttpError(401, '401: Unauthorized');
  };
  return serve(async (request, url) => {
    const match = /^\/api\/v(\d+)(\/.*)$/.exec(url.pathname);
    if (!match) throw new HttpError(404, '404: Not Found');
    const path = match[2]!.replace(/\/$/, '');
    if (path === '/gateway' && request.method === 'GET') return [200, { url: emulator.gatewayUrl }];
    if (path === '/gateway/bot' && request.method === 'GET') {
      authorize(request);
      return [
        200,
        {
          url: emulator.gatewayUrl,
          shards: emulator.recommendedShards,
          session_start_limit: emulator.limits.sessionStartLimit(),
        },
      ];
    }
    const channel = /^\/channels\/(\d+)\/messages$/.exec(path);
    if (channel && request.method === 'POST') {
      authorize(request);
      const body = await readJson(request);
      const content = body.content;
      if (content !== undefined && typeof content !== 'string')
        throw new HttpError(400, 'Invalid Form Body', 50035);
      if ((content ?? '') === '' && !(Array.isArray(body.embeds) && body.embeds.length > 0)) {
        throw new HttpError(400, 'Cannot send an empty message', 50006);
      }
      if (typeof content === 'string' && content.length > 2000)
        throw new HttpError(400, 'Invalid Form Body', 50035);
      const created = emulator.world.createMessage(channel[1]!, body);
      if (!created) throw new HttpError(404, 'Unknown Channel', 10003);
      emulator.dispatch(created.dispatch.t, created.dispatch.d, { guildId: created.dispatch.guildId });
      return [200, created.message];
    }
    throw new HttpError(404, '404: Not Found');
  });
}

function dispatchTarget(body: Record<string, unknown>): DispatchTarget | undefined {
  if (typeof body.session === 'string') return { session: body.session };
  if (typeof body.shard === 'number') return { shard: body.shard };
  if (typeof body.guildId === 'string' || body.guildId === null)
    return { guildId: body.guildId as string | null };
  return undefined;
}

export function controlHandler(emulator: Emulator): Handler {
  return serve(async (request, url) => {
    const path = url.pathname.replace(/\/$/, '') || '/';
    const post = request.method === 'POST';
    if (path === '/' && !post) {
      return [
        200,
        {
          gateway: emulator.gatewayUrl,
          api: emulator.apiUrl,
          token: emulator.token,
          counters: emulator.counters,
          sessions: emulator.sessions(),
        },
      ];
    }
    if (path === '/sessions' && !post) return [200, emulator.sessions()];
    const log = /^\/sessions\/([0-9a-f]+)\/log$/.exec(path);
    if (log && !post) {
      const session = emulator.session(log[1]!);
      if (!session) throw new HttpError(404, `no session ${log[1]}`);
      return [200, session.log()];
    }
    if (!post) throw new HttpError(404, `no route GET ${path}`);
    const body = await readJson(request);
    try {
      switch (path) {
        case '/faults': {
          const fault = parseFault(body.fault);
          const ids =
            body.session === '*'
              ? emulator
                  .sessions()
                  .filter((s) => s.connected)
                  .map((s) => s.id)
              : [String(body.session)];
          for (const id of ids) emulator.fault(id, fault);
          return [200, { injected: ids.length }];
        }
        case '/dispatch':
          if (typeof body.t !== 'string') throw new HttpError(400, '"t" must be an event name');
          return [200, { reached: emulator.dispatch(body.t, body.d ?? null, dispatchTarget(body)) }];
        case '/burst': {
          const count = body.count ?? 1000;
          await emulator.burst(String(body.session), typeof count === 'number' ? count : Number.NaN);
          return [200, { sent: count }];
        }
        case '/messages': {
          const event = emulator.world.userMessage(String(body.channel_id), String(body.content ?? ''));
          if (!event) throw new HttpError(404, 'Unknown Channel', 10003);
          return [200, { id: (event.d as { id: string }).id, reached: emulator.dispatch(event.t, event.d) }];
        }
      }
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(400, (error as Error).message);
    }
    throw new HttpError(404, `no route POST ${path}`);
  });
}
