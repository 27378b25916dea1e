/**
 * The REST bootstrap against a scripted HTTP server: 429 waited out for its retry_after (on a
 * virtual clock), 401 explained without the token, unexpected bodies refused, the API base honoured.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { ManualClock } from '../clock.js';
import { fetchGateway, fetchGatewayBot, RestError } from './rest.js';

const TOKEN = 'MTAwMDAwMDAwMDAwMDAwMDAw.Gabcde.rest-test-token-xyz';
const BODY = {
  url: 'wss://gateway.example',
  shards: 4,
  session_start_limit: { total: 1000, remaining: 990, reset_after: 1000, max_concurrency: 2 },
};

let answers: { status: number; body: unknown; headers?: Record<string, string> }[] = [];
const seen: { url: string; authorization: string | undefined }[] = [];
const server: Server = createServer((request, response) => {
  seen.push({ url: request.url!, authorization: request.headers.authorization });
  const next = answers.shift() ?? { status: 200, body: BODY };
  response.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
  response.end(typeof next.body === 'string' ? next.body : JSON.stringify(next.body));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v10`;
after(() => server.close());

test('GET /gateway/bot sends the bot token to the configured base and returns the body', async () => {
  seen.length = 0;
  assert.deepEqual(await fetchGatewayBot(TOKEN, { api }), BODY);
  assert.deepEqual(seen, [{ url: '/api/v10/gateway/bot', authorization: `Bot ${TOKEN}` }]);
  assert.deepEqual(await fetchGatewayBot(`Bot ${TOKEN}`, { api }), BODY, 'a "Bot " prefix is accepted');
  assert.equal(seen[1]!.authorization, `Bot ${TOKEN}`);
});

test('a 429 is waited out for its retry_after, then the request is repeated', async () => {
  const clock = new ManualClock();
  answers = [
    { status: 429, body: { message: 'You are being rate limited.', retry_after: 2.5, global: false } },
  ];
  seen.length = 0;
  const pending = fetchGatewayBot(TOKEN, { api, clock });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen.length, 1);
  await clock.advanceAsync(2499, 100);
  assert.equal(seen.length, 1, 'retried before retry_after elapsed');
  await clock.advanceAsync(1, 1);
  assert.deepEqual(await pending, BODY);
  assert.equal(seen.length, 2);
});

test('429s beyond maxRetries give up with a RestError', async () => {
  answers = [0, 1].map(() => ({ status: 429, body: { retry_after: 0 } }));
  await assert.rejects(fetchGatewayBot(TOKEN, { api, maxRetries: 1 }), (e: Error) => e instanceof RestError);
});

test('401 is a clear error that never contains the token', async () => {
  answers = [{ status: 401, body: { message: '401: Unauthorized', code: 0 } }];
  await assert.rejects(fetchGatewayBot(TOKEN, { api }), (error: RestError) => {
    assert.equal(error.status, 401);
    assert.match(error.message, /token is invalid or was reset/);
    assert.ok(!error.message.includes(TOKEN) && !String(error.stack).includes(TOKEN));
    return true;
  });
});

test('an unexpected body or a non-JSON answer is refused', async () => {
  answers = [{ status: 200, body: { url: 'x' } }];
  await assert.rejects(fetchGatewayBot(TOKEN, { api }), /unexpected body/);
  answers = [{ status: 200, body: '<html>' }];
  await assert.rejects(fetchGatewayBot(TOKEN, { api }), /not JSON/);
  answers = [{ status: 500, body: 'oops' }];
  await assert.rejects(fetchGatewayBot(TOKEN, { api }), /HTTP 500/);
});

test('GET /gateway needs no token', async () => {
  answers = [{ status: 200, body: { url: 'wss://gateway.example' } }];
  seen.length = 0;
  assert.deepEqual(await fetchGateway({ api }), { url: 'wss://gateway.example' });
  assert.equal(seen[0]!.authorization, undefined);
});
