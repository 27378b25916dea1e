/**
 * `dusk listen` as a process, against an emulator this test controls: the ndjson contract, shard
 * selection, the session file across a SIGTERM and a restart, fatal close codes, REST errors, usage
 * errors, and the token staying out of everything printed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Emulator, type EmulatorOptions } from '../../src/emulator/index.js';
import { type CliProcess, type Line, listen } from './cli.js';

/** Not shaped like a Discord token, so only the CLI registering it as a secret keeps it out. */
const TOKEN = 'dusk-cli-test-token-5f2c9a71';

function start(options: Partial<EmulatorOptions> = {}): Promise<Emulator> {
  return Emulator.start({
    token: TOKEN,
    guilds: 4,
    seed: 11,
    heartbeatInterval: 1000,
    identifyInterval: 0,
    ...options,
  });
}

/** Polls `check` every 10 ms for up to `ms`; the caller asserts afterwards. */
async function until(check: () => boolean, ms: number): Promise<void> {
  for (const end = Date.now() + ms; !check() && Date.now() < end; )
    await new Promise((r) => setTimeout(r, 10));
}

function assertNoToken(cli: CliProcess): void {
  assert.ok(!cli.stdout.includes(TOKEN), 'the token appeared on stdout');
  assert.ok(!cli.stderr.includes(TOKEN), 'the token appeared on stderr');
}

/** A user's message in the first text channel of the first guild of `shard` (of `count`). */
function postMessage(emu: Emulator, content: string): string {
  const guild = emu.world.guildIds()[0]!;
  const channel = emu.world.textChannelIds!(guild)[0]!;
  const event = emu.world.userMessage(channel, content)!;
  emu.dispatch(event.t, event.d, { guildId: event.guildId });
  return (event.d as { id: string }).id;
}

test('output still queued for a slow reader at exit is delivered, not dropped', async () => {
  // Enough GUILD_CREATE lines to fill the pipe while the reader is paused.
  const emu = await start({ guilds: 60 });
  try {
    const cli = listen(['--token', TOKEN, '--api', emu.apiUrl, '--format', 'ndjson']);
    await cli.until(() => cli.shardsIn('active').size === 1, 'the shard active');
    cli.child.stdout!.pause();
    await new Promise((r) => setTimeout(r, 300));
    cli.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 300));
    cli.child.stdout!.resume();
    const exit = await cli.exited;
    assert.deepEqual([exit.code, exit.signal], [0, null], cli.stderr);
    assert.equal(cli.dispatches().filter((l) => l.event === 'GUILD_CREATE').length, 60);
    assert.deepEqual(cli.shardsIn('closed'), new Set([0]));
  } finally {
    await emu.close();
  }
});

describe('dusk listen --format ndjson', () => {
  let emu: Emulator;
  before(async () => {
    emu = await start();
  });
  after(() => emu.close());

  test('dispatch and state lines match the contract; --events prints only those types', async () => {
    const cli = listen([
      '--token',
      TOKEN,
      '--api',
      emu.apiUrl,
      '--format',
      'ndjson',
      '--events',
      'guild_create,MESSAGE_CREATE',
      '--log-level',
      'debug',
    ]);
    await cli.until(() => cli.dispatches().length === 4, 'four GUILD_CREATE lines');
    const messageId = postMessage(emu, 'hello from the test');
    emu.dispatch('TYPING_START', { channel_id: '1', user_id: '2', timestamp: 0 }, { shard: 0 });
    await cli.until(
      () => cli.dispatches().some((l) => (l.data as { id?: string }).id === messageId),
      'the MESSAGE_CREATE line',
    );
    const exit = await cli.stop('SIGINT');
    assert.deepEqual([exit.code, exit.signal], [0, null], cli.stderr);
    assert.ok(exit.ms < 5000, `exit took ${exit.ms} ms`);

    for (const line of cli.lines) {
      if (line.type === 'dispatch') {
        assert.deepEqual(Object.keys(line), ['type', 'shard', 'seq', 'event', 'data']);
        assert.equal(line.shard, 0);
        assert.ok(Number.isInteger(line.seq));
        assert.equal(typeof line.data, 'object');
      } else {
        assert.equal(line.type, 'state', `unexpected line ${JSON.stringify(line)}`);
        assert.deepEqual(Object.keys(line), ['type', 'shard', 'state']);
      }
    }
    assert.equal(cli.lines.length, cli.stdout.trim().split('\n').length, 'every stdout line is JSON');
    const states = cli.lines.filter((l) => l.type === 'state').map((l) => l.state);
    assert.deepEqual(states, ['connecting', 'identifying', 'active', 'closed']);

    // Exactly the wanted types were printed, each with the sequence number the gateway gave it.
    const [session] = emu.sessions();
    const wanted = emu
      .log(session!.id)
      .filter((e) => e.t === 'GUILD_CREATE' || e.t === 'MESSAGE_CREATE')
      .map((e) => `${e.seq}:${e.t}`);
    assert.deepEqual(
      cli.dispatches().map((l) => `${l.seq}:${l.event}`),
      wanted,
    );
    // Without --session-file, SIGINT ends the session (close 1000). The emulator, in this process, may
    // read the close frame a moment after the CLI has exited.
    await until(() => emu.session(session!.id)!.ended !== null, 2000);
    assert.equal(emu.session(session!.id)!.ended, 'client-close');
    assert.match(cli.stderr, /SIGINT: closing 1 shard\(s\) with close code 1000/);
    assertNoToken(cli);
  });
});

// The runs differ in shard count, so they can share the emulator and run at once.
describe('dusk listen --shards', { concurrency: true }, () => {
  let emu: Emulator;
  before(async () => {
    // Four buckets: no shard of these runs waits for an identify slot.
    emu = await start({ guilds: 12, shards: 3, maxConcurrency: 4 });
  });
  after(() => emu.close());

  const cases: [string, number[], number][] = [
    ['auto', [0, 1, 2], 3],
    ['2', [0, 1], 2],
    ['1-2/4', [1, 2], 4],
    ['3-3/5', [3], 5],
  ];
  for (const [spec, ids, count] of cases) {
    test(`--shards ${spec} runs shards ${ids.join(', ')} of ${count}`, async () => {
      const cli = listen(['--token', TOKEN, '--api', emu.apiUrl, '--format', 'ndjson', '--shards', spec]);
      await cli.until(() => cli.shardsIn('active').size === ids.length, `${ids.length} active shards`);
      const exit = await cli.stop('SIGTERM');
      assert.equal(exit.code, 0, cli.stderr);
      const printed = new Set(cli.lines.map((l) => l.shard as number));
      assert.deepEqual([...printed].sort(), ids);
      const tuples = emu
        .sessions()
        .filter((s) => s.shard[1] === count)
        .map((s) => s.shard[0])
        .sort();
      assert.deepEqual(tuples, ids, 'the shard tuples sent in IDENTIFY');
      // Each shard printed its own guilds' GUILD_CREATEs.
      for (const l of cli.dispatches()) assert.equal(typeof l.seq, 'number');
    });
  }
});

describe('dusk listen --session-file', () => {
  let emu: Emulator;
  let dir: string;
  before(async () => {
    emu = await start({ guilds: 6, shards: 2, maxConcurrency: 2 });
    dir = await mkdtemp(join(tmpdir(), 'dusk-cli-'));
  });
  after(async () => {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a SIGTERM and a restart resume every session and lose no event', async () => {
    const file = join(dir, 'sessions.json');
    const args = ['--token', TOKEN, '--api', emu.apiUrl, '--format', 'ndjson', '--session-file', file];

    const first = listen(args);
    await first.until(() => first.shardsIn('active').size === 2, 'both shards active');
    const sessions = emu.sessions();
    assert.equal(sessions.length, 2);
    // Events while running, for both shards.
    for (let i = 0; i < 5; i++) {
      emu.dispatch('GUILD_UPDATE', { id: '0', name: `up ${i}` }, { shard: 0 });
      emu.dispatch('GUILD_UPDATE', { id: '0', name: `up ${i}` }, { shard: 1 });
    }
    const lastSeq = (id: string) => emu.session(id)!.seq;
    await first.until(
      () => sessions.every((s) => first.dispatches(s.shard[0]).at(-1)?.seq === lastSeq(s.id)),
      'every event of both sessions printed',
    );
    const exit1 = await first.stop('SIGTERM');
    assert.deepEqual([exit1.code, exit1.signal], [0, null], first.stderr);
    assert.ok(exit1.ms < 5000, `exit took ${exit1.ms} ms`);

    // The file holds both sessions at the last printed sequence; the gateway kept them resumable.
    const saved = JSON.parse(await readFile(file, 'utf8')) as {
      sessions: { sessionId: string; sequence: number; shardId: number }[];
    };
    assert.deepEqual(
      saved.sessions.map((s) => [s.shardId, s.sessionId, s.sequence]),
      sessions
        .sort((a, b) => a.shard[0] - b.shard[0])
        .map((s) => [s.shard[0], s.id, first.dispatches(s.shard[0]).at(-1)!.seq]),
    );
    for (const s of sessions) assert.equal(emu.session(s.id)!.ended, null, 'closed resumably, not with 1000');
    assert.ok(!(await readFile(file, 'utf8')).includes(TOKEN), 'the session file holds no token');

    // Meanwhile, while nobody is connected, more happens.
    for (const s of sessions) {
      for (let i = 0; i < 7; i++)
        emu.dispatch('GUILD_UPDATE', { id: '0', name: `down ${i}` }, { session: s.id });
    }
    const before = emu.counters;

    const second = listen(args);
    await second.until(
      () =>
        second.shardsIn('active').size === 2 &&
        sessions.every((s) => second.dispatches(s.shard[0]).at(-1)?.seq === lastSeq(s.id)),
      'both shards resumed with the replay',
    );
    const exit2 = await second.stop('SIGTERM');
    assert.equal(exit2.code, 0, second.stderr);

    assert.equal(emu.counters.identifies, before.identifies, 'no new IDENTIFY');
    assert.equal(emu.counters.resumes, before.resumes + 2, 'one RESUME per shard');
    assert.equal(emu.counters.resumesOffResumeUrl, 0, 'resumed on resume_gateway_url');
    assert.deepEqual(
      second.lines.filter((l) => l.type === 'state' && l.shard === 0).map((l) => l.state),
      ['resuming', 'active', 'closed'],
    );
    // Every sequence number the gateway assigned was printed exactly once across the two runs.
    for (const s of sessions) {
      const printed = [...first.dispatches(s.shard[0]), ...second.dispatches(s.shard[0])].map(
        (l: Line) => `${l.seq}:${l.event}`,
      );
      assert.deepEqual(
        printed,
        emu.log(s.id).map((e) => `${e.seq}:${e.t}`),
        `shard ${s.shard[0]}`,
      );
    }
    assertNoToken(first);
    assertNoToken(second);
  });
});

describe('dusk listen failures', () => {
  test('every shard closed with 4014: exit 1 naming the code and what to fix', async () => {
    const emu = await start({ shards: 2, maxConcurrency: 2, allowedIntents: 0 });
    try {
      const cli = listen([
        '--token',
        TOKEN,
        '--api',
        emu.apiUrl,
        '--format',
        'ndjson',
        '--intents',
        'GUILDS,GUILD_MEMBERS',
      ]);
      const exit = await cli.exited;
      assert.equal(exit.code, 1, cli.stderr);
      assert.match(cli.stderr, /every shard was closed with a fatal close code \(4014\)/);
      assert.match(cli.stderr, /Disallowed intent/);
      assert.match(cli.stderr, /--intents/);
      const fatal = cli.lines.filter((l) => l.type === 'fatal');
      assert.deepEqual(fatal.map((l) => [l.shard, l.code]).sort(), [
        [0, 4014],
        [1, 4014],
      ]);
      assert.equal(emu.counters.connections, 2, 'no retry after a fatal close');
      assertNoToken(cli);
    } finally {
      await emu.close();
    }
  });

  test('a wrong token: GET /gateway/bot says 401, exit 1, and the token is not printed', async () => {
    const emu = await start();
    try {
      const wrong = 'not-the-emulator-token-31337';
      const cli = listen([
        '--token',
        wrong,
        '--api',
        emu.apiUrl,
        '--format',
        'ndjson',
        '--log-level',
        'debug',
      ]);
      const exit = await cli.exited;
      assert.equal(exit.code, 1);
      assert.match(cli.stderr, /401 Unauthorized; the bot token is invalid or was reset \(check --token/);
      assert.ok(!cli.stderr.includes(wrong) && !cli.stdout.includes(wrong), 'the token was printed');
      assert.equal(emu.counters.connections, 0);
    } finally {
      await emu.close();
    }
  });

  test('a token from DISCORD_TOKEN is used and not printed either', async () => {
    const emu = await start({ allowedIntents: 0 });
    try {
      const cli = listen(['--api', emu.apiUrl, '--intents', 'MESSAGE_CONTENT', '--log-level', 'debug'], {
        ...process.env,
        NO_COLOR: '1',
        DISCORD_TOKEN: TOKEN,
      });
      const exit = await cli.exited;
      assert.equal(exit.code, 1);
      assert.match(cli.stderr, /4014/);
      assertNoToken(cli);
    } finally {
      await emu.close();
    }
  });
});

describe('dusk listen usage errors', { concurrency: true }, () => {
  // Each mistake is checked in-process (args.test.ts); these prove the process exits 2 with the help.
  const usageMistakes: [string, string[]][] = [
    ['a bad shard spec', ['--shards', '3-1/4']],
    ['an unknown option', ['--tokn', 'x']],
  ];
  for (const [what, args] of usageMistakes) {
    test(`usage error (${what}): exit 2 with the help`, async () => {
      const cli = listen(args);
      const exit = await cli.exited;
      assert.equal(exit.code, 2, cli.stderr);
      assert.match(cli.stderr, /usage: dusk listen/);
      assert.equal(cli.stdout, '');
    });
  }
});
