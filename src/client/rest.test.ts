/**
 * The REST bootstrap against a scripted HTTP server: 429 waited out for its retry_after (on a
 * virtual clock), 401 explained without the token, unexpected bodies refused, the API base honoured.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { ManualClock } from '../clock.js';
import { fetchGateway, fetchGatewayBot, REQUEST_TIMEOUT_MS, RestError } from './rest.js';

const TOKEN = 'MTAwMDAwMDAwMDAwMDAwMDAw.Gabcde.rest-test-token-xyz';
const BODY = {
  url: 'wss://gateway.example',
  shards: 4,
  session_start_limit: { total: 1000, remaining: 990, reset_after: 1000, max_concurrency: 2 },
};

let answers: ({ status: number; body: unknown; headers?: Record<string, string> } | 'hang')[] = [];
const seen: { url: string; authorization: string | undefined }[] = [];
const server: Server = createServer((request, response) => {
  seen.push({ url: request.url!, authorization: request.headers.authorization });
  const next = answers.shift() ?? { status: 200, body: BODY };
  if (next === 'hang') {
    // Headers and the start of a body, then nothing: the answer never completes.
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write('{"url":');
    return;
  }
  response.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
  response.end(typeof next.body === 'string' ? next.body : JSON.stringify(next.body));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v10`;
after(() => server.closeAllConnections());
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

test('a body over 64 KiB, or one that never ends, is refused without reading it all', async () => {
  answers = [{ status: 200, body: 'x'.repeat(1 << 20) }];
  await assert.rejects(fetchGatewayBot(TOKEN, { api }), /over 64 KiB/);
  const clock = new ManualClock();
  answers = ['hang'];
  const settled = fetchGatewayBot(TOKEN, { api, clock }).then(
    () => 'resolved',
    (e: Error) => e.message,
  );
  await new Promise((r) => setTimeout(r, 100));
  clock.advance(REQUEST_TIMEOUT_MS - 1);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await Promise.race([settled, 'pending']), 'pending', 'gave up before the timeout');
  clock.advance(1);
  assert.match(await settled, /no complete answer within 15 s/);
});

test('a 429 asking for more than a minute is reported at once, not slept through', async () => {
  answers = [{ status: 429, body: { retry_after: 100_000 } }];
  await assert.rejects(fetchGatewayBot(TOKEN, { api }), (e: RestError) => {
    assert.equal(e.status, 429);
    assert.match(e.message, /rate limited for 100000 s/);
    return true;
  });
});

test('shard counts and concurrency no gateway would give are refused', async () => {
  const limit = BODY.session_start_limit;
  for (const bad of [
    { shards: 0 },
    { shards: -5 },
    { shards: 1e9 },
    { shards: 2.5 },
    { session_start_limit: { ...limit, max_concurrency: 0 } },
    { session_start_limit: { ...limit, remaining: -1 } },
    { session_start_limit: { ...limit, reset_after: 'soon' } },
  ]) {
    answers = [{ status: 200, body: { ...BODY, ...bad } }];
    await assert.rejects(fetchGatewayBot(TOKEN, { api }), /unexpected body/, JSON.stringify(bad));
  }
});

test('a process with nothing else to do waits out a 429 instead of exiting', async () => {
  const { execFile } = await import('node:child_process');
  answers = [{ status: 429, body: { retry_after: 0.2 } }];
  const rest = new URL('./rest.ts', import.meta.url).href;
  const script = `const { fetchGatewayBot } = await import(${JSON.stringify(rest)});
    const info = await fetchGatewayBot(${JSON.stringify(TOKEN)}, { api: ${JSON.stringify(api)} });
    console.log(info.shards);`;
  const out = await new Promise<{ code: unknown; stdout: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], (error, stdout) =>
      resolve({ code: error ? error.code : 0, stdout }),
    );
  });
  assert.deepEqual(out, { code: 0, stdout: `${BODY.shards}\n` });
});

test('an error body that echoes the token is redacted before it is cut short', async () => {
  // Cut at 200 characters, a token starting at 190 would otherwise leave its first part in the message.
  answers = [{ status: 500, body: `${'x'.repeat(190)}${TOKEN}` }];
  await assert.rejects(fetchGatewayBot(TOKEN, { api }), (error: RestError) => {
    assert.ok(!error.message.includes(TOKEN.slice(0, 10)), error.message);
    return true;
  });
});
