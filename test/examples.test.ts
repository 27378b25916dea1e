/**
 * Every example runs: each is started as `tsx examples/<name>.ts` with no DISCORD_TOKEN, so it starts
 * its own emulator, and must exit 0 on its own, in bounded time, having printed what it is about.
 * A README that shows code which no longer runs is worse than none.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { CliProcess, cleanEnv, ROOT } from './cli/cli.js';

/** What each example must print; a new example without an entry here fails, so it gets one. */
const EXPECTED: Record<string, RegExp[]> = {
  'ping-pong.ts': [
    /!ping from \S+ in \d+: replied/,
    /the bot's pong arrived through the gateway \d+ ms after the ping/,
  ],
  'resume-after-restart.ts': [
    /run 1: identified a new session [0-9a-f]{32}/,
    /run 2: resumed session [0-9a-f]{32}/,
    /identifies: 1, resumes: 1; every message written while down was received/,
  ],
  'many-shards.ts': [
    /8 shards, max_concurrency 4/,
    /shard 7 ready \(8\/8\)/,
    /shard 7: closed, [1-9]\d* events/,
  ],
  'worker-threads.ts': [/4 shards running on 2 worker threads/, /shard 3: [1-9]\d* events/],
  'pong-handler.test.ts': [/\bpass 2\b/, /\bfail 0\b/],
};

/** Modules the examples import; not runnable on their own. */
const LIBRARIES = new Set(['pong-handler.ts']);

const examples = readdirSync(new URL('../examples/', import.meta.url))
  .filter((name) => name.endsWith('.ts') && !LIBRARIES.has(name))
  .sort();

describe('examples', { concurrency: true }, () => {
  test('every example has expectations', () => {
    assert.deepEqual(examples, Object.keys(EXPECTED).sort());
  });

  for (const name of examples) {
    test(`examples/${name} runs offline and exits 0`, async () => {
      const run = new CliProcess(process.execPath, ['--import', 'tsx', `examples/${name}`], cleanEnv());
      const timer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
      const exit = await run.exited;
      clearTimeout(timer);
      const output = `${run.stdout}\n--- stderr ---\n${run.stderr}`;
      assert.deepEqual([exit.code, exit.signal], [0, null], `${name} (cwd ${ROOT}):\n${output}`);
      for (const pattern of EXPECTED[name] ?? []) assert.match(run.stdout, pattern, output);
    });
  }
});
