import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { format, inspect } from 'node:util';
import { redact, redactedError, Secret } from './redact.js';

// Token-shaped test values (not real tokens): 24-char id part, 6-char timestamp, 38-char HMAC.
const TOKEN = 'MTMwMzMyNzk1ODYzMDUzMTA3OQ.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB';
const OTHER = 'NzEyNzYxNjUwNzA4NjExMDc5.Xy-z_9.ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zz';
// A secret that does not look like a token at all (e.g. a test token): only known-value scrubbing can catch it.
const ODD = 'plain-secret-value-42';

function leaks(text: string, secret = TOKEN): boolean {
  return text.includes(secret);
}

describe('Secret', () => {
  test('reveal() returns the value for the one place that sends it', () => {
    assert.equal(new Secret(TOKEN).reveal(), TOKEN);
  });

  test('string conversions are redacted', () => {
    const s = new Secret(TOKEN);
    assert.equal(String(s), '[redacted]');
    assert.equal(`${s}`, '[redacted]');
    assert.equal(`Bot ${s}`, 'Bot [redacted]');
    assert.equal(s.toString(), '[redacted]');
    assert.equal(`${[s]}`, '[redacted]');
  });

  test('JSON.stringify of the secret and of objects holding it', () => {
    const s = new Secret(TOKEN);
    assert.equal(JSON.stringify(s), '"[redacted]"');
    const text = JSON.stringify({ op: 2, d: { token: s, nested: [s, { s }] } });
    assert.ok(!leaks(text));
    assert.equal(text, '{"op":2,"d":{"token":"[redacted]","nested":["[redacted]",{"s":"[redacted]"}]}}');
  });

  test('util.inspect, console formatting and nested objects', () => {
    const s = new Secret(TOKEN);
    assert.equal(inspect(s), 'Secret([redacted])');
    for (const text of [
      inspect(s),
      inspect({ options: { token: s } }, { depth: Number.POSITIVE_INFINITY }),
      inspect([s], { showHidden: true }),
      inspect(new Map([['token', s]])),
      format('%s %o %O %j', s, s, { s }, { s }),
      format(s),
    ]) {
      assert.ok(!leaks(text), text);
    }
  });

  test('inspect without custom inspection still shows nothing: the value is in a private field', () => {
    const s = new Secret(TOKEN);
    const text = inspect(s, { customInspect: false, showHidden: true, depth: Number.POSITIVE_INFINITY });
    assert.ok(!leaks(text), text);
    assert.deepEqual(Object.keys(s), []);
    assert.deepEqual(Object.getOwnPropertyNames(s), []);
    assert.ok(!leaks(JSON.stringify(Object.entries(s))));
    assert.ok(!leaks(JSON.stringify({ ...s })));
  });

  test('structuredClone does not carry the value', () => {
    const clone = structuredClone(new Secret(TOKEN)) as unknown;
    assert.ok(!leaks(JSON.stringify(clone) ?? ''));
    assert.ok(!leaks(inspect(clone)));
  });

  test('an error message built from a Secret is redacted', () => {
    const s = new Secret(TOKEN);
    const error = new Error(`identify failed with token ${s}`);
    assert.ok(!leaks(error.message));
    assert.ok(!leaks(error.stack ?? ''));
    assert.ok(!leaks(inspect(error)));
  });
});

describe('redact()', () => {
  test('removes every token a Secret was made for, everywhere it appears', () => {
    new Secret(ODD);
    const text = `first ${ODD} then again ${ODD}${ODD}.`;
    assert.equal(redact(text), 'first [redacted] then again [redacted][redacted].');
  });

  test('removes anything shaped like a token, even one never seen', () => {
    const unseen = 'ODIwNTg4NzkxMDUwOTI4MTM1.AbCdEf.0123456789abcdefghijklmnopqrstuvwx';
    assert.equal(redact(`token=${unseen};`), 'token=[redacted];');
    assert.equal(redact(`${OTHER} and ${OTHER}`), '[redacted] and [redacted]');
    assert.ok(!leaks(redact(`Authorization: Bot ${TOKEN}`)));
  });

  test('a close reason or URL carrying the token is scrubbed', () => {
    new Secret(TOKEN);
    const reason = `Authentication failed for ${TOKEN}`;
    assert.equal(redact(reason), 'Authentication failed for [redacted]');
    assert.ok(!leaks(redact(JSON.stringify({ op: 2, d: { token: TOKEN } }))));
    assert.ok(!leaks(redact(`wss://gateway.discord.gg/?v=10&token=${encodeURIComponent(TOKEN)}`)));
  });

  test('leaves ordinary text, snowflakes and session ids alone', () => {
    const text =
      'shard 0 resumed session 46518a1bf6912ed649618c831861ab91 at seq 1337 in guild 820588791050928135 (wss://gateway-us-east1-c.discord.gg)';
    assert.equal(redact(text), text);
    assert.equal(redact(''), '');
    assert.equal(redact('a.b.c'), 'a.b.c');
  });

  test('secrets shorter than 4 characters are not registered (they would scrub everything)', () => {
    new Secret('ab');
    new Secret('');
    assert.equal(redact('about a cab'), 'about a cab');
  });

  test('tokens containing regular-expression characters are matched literally', () => {
    const weird = 'tok+en.(x)*[y]$';
    new Secret(weird);
    assert.equal(redact(`a ${weird} b`), 'a [redacted] b');
    assert.equal(redact('tokkken.(x)*[y]$'), 'tokkken.(x)*[y]$');
  });

  test('is stable: redacting twice changes nothing more', () => {
    new Secret(TOKEN);
    const once = redact(`x ${TOKEN} y ${OTHER}`);
    assert.equal(redact(once), once);
  });
});

describe('redactedError()', () => {
  test('the message is redacted, and so are its inspect form and stack', () => {
    new Secret(TOKEN);
    const error = redactedError(`gateway refused ${TOKEN}`);
    assert.ok(error instanceof Error);
    assert.equal(error.message, 'gateway refused [redacted]');
    assert.ok(!leaks(error.stack ?? ''));
    assert.ok(!leaks(inspect(error)));
    assert.ok(!leaks(String(error)));
    assert.ok(!leaks(JSON.stringify({ message: error.message })));
  });

  test('keeps the cause', () => {
    const cause = new Error('socket hang up');
    const error = redactedError(`failed for ${OTHER}`, { cause });
    assert.equal(error.cause, cause);
    assert.ok(!leaks(error.message, OTHER));
  });
});
