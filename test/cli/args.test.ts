/**
 * The `dusk listen` command line, read in-process: defaults, the token's sources, shard specs, and
 * every mistake that must be a usage error (exit 2 with the help) rather than a crash or a guess.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseListenArgs, parseShardSpec } from '../../src/cli/listen.js';
import { UsageError } from '../../src/cli/usage-error.js';
import { DEFAULT_API, NON_PRIVILEGED_INTENTS, parseIntents } from '../../src/index.js';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}, tty = false) => parseListenArgs(argv, env, tty)!;

describe('parseShardSpec', () => {
  test('auto, N and A-B/N', () => {
    assert.deepEqual(parseShardSpec('auto'), { ids: [], count: null });
    assert.deepEqual(parseShardSpec('3'), { ids: [0, 1, 2], count: 3 });
    assert.deepEqual(parseShardSpec('2-4/8'), { ids: [2, 3, 4], count: 8 });
    assert.deepEqual(parseShardSpec('0-0/1'), { ids: [0], count: 1 });
  });

  for (const bad of [
    '0',
    '4-2/8',
    '0-8/8',
    '1-2',
    '-1',
    'x',
    '1/2',
    '2-3/0',
    '99999999999999999999',
    '0-1/65537',
  ]) {
    test(`"${bad}" is a usage error`, () => assert.throws(() => parseShardSpec(bad), UsageError));
  }
});

describe('parseListenArgs', () => {
  test('defaults: emulator mode, Discord API, non-privileged intents, zstd, ndjson off a terminal', () => {
    const c = parse([]);
    assert.equal(c.token, undefined);
    assert.equal(c.api, DEFAULT_API);
    assert.equal(c.gateway, undefined);
    assert.deepEqual(c.selection, { ids: [], count: null });
    assert.equal(c.intents, NON_PRIVILEGED_INTENTS);
    assert.equal(c.compress, 'zstd-stream');
    assert.equal(c.events, null);
    assert.equal(c.format, 'ndjson');
    assert.equal(c.logLevel, 'warn');
    assert.equal(parse([], {}, true).format, 'pretty');
  });

  test('the token comes from --token, else DISCORD_TOKEN', () => {
    assert.equal(parse([], { DISCORD_TOKEN: 'from-env' }).token, 'from-env');
    assert.equal(parse(['--token', 'from-flag'], { DISCORD_TOKEN: 'from-env' }).token, 'from-flag');
    assert.equal(parse([], { DISCORD_TOKEN: '' }).token, undefined);
  });

  test('options are read', () => {
    const c = parse([
      '--token=t',
      '--api',
      'http://127.0.0.1:9/api/v10',
      '--gateway',
      'ws://127.0.0.1:9/',
      '--shards',
      '1-2/4',
      '--intents',
      'GUILDS,GUILD_MESSAGES',
      '--compress',
      'none',
      '--events',
      'message_create, GUILD_CREATE',
      '--format',
      'quiet',
      '--session-file',
      'sessions.json',
      '--log-level',
      'debug',
    ]);
    assert.equal(c.api, 'http://127.0.0.1:9/api/v10');
    assert.equal(c.gateway, 'ws://127.0.0.1:9/');
    assert.deepEqual(c.selection, { ids: [1, 2], count: 4 });
    assert.equal(c.intents, parseIntents('GUILDS,GUILD_MESSAGES'));
    assert.equal(c.compress, null);
    assert.deepEqual(c.events, ['MESSAGE_CREATE', 'GUILD_CREATE']);
    assert.equal(c.format, 'quiet');
    assert.equal(c.sessionFile, 'sessions.json');
    assert.equal(c.logLevel, 'debug');
    assert.equal(parse(['--intents', '513']).intents, 513);
  });

  test('--help', () => assert.equal(parseListenArgs(['--help'], {}, false), null));

  const mistakes: [string, string[]][] = [
    ['a bad shard spec', ['--shards', '3-1/4']],
    ['an unknown format', ['--format', 'xml']],
    ['an unknown intent', ['--intents', 'GUILDS,NOPE']],
    ['empty --intents', ['--intents', '']],
    ['an unknown compression', ['--compress', 'gzip']],
    ['an unknown log level', ['--log-level', 'loud']],
    ['empty --events', ['--events', ',']],
    ['an event name that is not one', ['--events', 'MESSAGE-CREATE']],
    ['--api without a token', ['--api', 'http://127.0.0.1:1/api/v10']],
    ['--gateway without a token', ['--gateway', 'ws://127.0.0.1:1/']],
    ['an --api that is not a URL', ['--token', 'x', '--api', 'localhost']],
    ['a --gateway that is not a websocket URL', ['--token', 'x', '--gateway', 'http://127.0.0.1/']],
    ['an empty --token', ['--token', '']],
    ['a stray argument', ['now']],
  ];
  for (const [what, argv] of mistakes) {
    test(`${what} is a usage error`, () => assert.throws(() => parse(argv), UsageError));
  }
  test('an unknown option is a parse error (dusk.ts turns it into exit 2)', () => {
    assert.throws(() => parse(['--tokn', 'x']), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  });
});
