/**
 * `npm start` on a machine with no token and no network: it must start the embedded emulator, say so
 * in one line, and show live events within 10 s; Ctrl-C must close the shards and end every process.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliProcess, cleanEnv, listen } from './cli.js';

const LIVE = new Set(['READY', 'GUILD_CREATE']);

test('npm start without a token shows live events from the embedded emulator within 10 s', async () => {
  const started = Date.now();
  // Its own process group, so the SIGINT reaches npm and dusk together, as Ctrl-C does.
  const cli = new CliProcess('npm', ['start', '--silent'], cleanEnv(), { detached: true });
  await cli.until(
    () => cli.dispatches().some((l) => !LIVE.has(l.event as string)),
    'a live event (after READY and the GUILD_CREATEs)',
    10_000,
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 10_000, `first live event after ${elapsed} ms`);
  const notice = cli.stderr.split('\n').filter((l) => l.includes('embedded emulator'));
  assert.equal(notice.length, 1, cli.stderr);
  assert.match(notice[0]!, /^no token given: started the embedded emulator at ws:\/\/127\.0\.0\.1:\d+\//);

  process.kill(-cli.child.pid!, 'SIGINT');
  await cli.exited;
  // npm re-raises the signal for its own exit status; what matters is that dusk closed cleanly.
  assert.match(cli.stderr, /SIGINT: closing 2 shard\(s\) with close code 1000/);
  const states = cli.lines.filter((l) => l.type === 'state');
  assert.deepEqual(cli.shardsIn('closed'), new Set([0, 1]), JSON.stringify(states));
});

test('dusk listen without a token exits 0 on SIGINT', async () => {
  const cli = listen(['--format', 'ndjson']);
  await cli.until(() => cli.dispatches().some((l) => !LIVE.has(l.event as string)), 'a live event');
  const exit = await cli.stop('SIGINT');
  assert.deepEqual([exit.code, exit.signal], [0, null], cli.stderr);
  assert.ok(exit.ms < 5000, `exit took ${exit.ms} ms`);
});
