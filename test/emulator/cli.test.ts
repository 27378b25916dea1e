/**
 * `dusk emulator` and `dusk fault` as a user runs them: one JSON line on stdout once listening,
 * REST and gateway usable with the printed token, faults injected from another process, a clean
 * exit on SIGTERM, and exit code 2 with help for a usage mistake.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { RawClient } from './raw-client.js';

const dusk = (...args: string[]) =>
  spawn(process.execPath, ['--import', 'tsx', 'src/cli/dusk.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });

async function output(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const [code] = await once(child, 'exit');
  return { code, stdout, stderr };
}

test('dusk emulator prints where to connect, serves clients, takes faults from dusk fault, and stops on SIGTERM', async () => {
  const child = dusk('emulator', '--guilds', '3', '--seed', '5', '--heartbeat-interval', '30000');
  const exited = output(child);
  const [line] = (await createInterface({ input: child.stdout! })[Symbol.asyncIterator]().next()).value.split(
    '\n',
  );
  const info = JSON.parse(line) as { gateway: string; api: string; control: string; token: string };
  assert.match(info.gateway, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  assert.match(info.api, /^http:\/\/127\.0\.0\.1:\d+\/api\/v10$/);
  assert.match(info.control, /^http:\/\/127\.0\.0\.1:\d+$/);
  const bot = await fetch(`${info.api}/gateway/bot`, { headers: { authorization: `Bot ${info.token}` } });
  assert.equal(bot.status, 200);

  const client = await RawClient.open(info.gateway);
  client.send({
    op: 2,
    d: { token: info.token, intents: 1, properties: { os: 'x', browser: 'x', device: 'x' } },
  });
  await client.next((m) => m.t === 'READY');
  const fault = await output(dusk('fault', '--control', info.control, 'close', '--code', '4000'));
  assert.equal(fault.code, 0, fault.stderr);
  assert.match(fault.stdout, /injected close into 1 session/);
  assert.equal((await client.closed).code, 4000);

  child.kill('SIGTERM');
  assert.equal((await exited).code, 0);
});

test('usage mistakes exit 2 with help', async () => {
  for (const args of [
    ['emulator', '--guilds', 'many'],
    ['emulator', '--chaos', 'often'],
    ['emulator', '--rate', 'Infinity'],
    ['emulator', '--port', '70000'],
    ['fault', 'drop'],
    ['fault', '--control', 'not-a-url', 'drop'],
    ['nope'],
  ]) {
    const result = await output(dusk(...args));
    assert.equal(result.code, 2, args.join(' '));
    assert.match(result.stderr, /usage: dusk/);
  }
});
