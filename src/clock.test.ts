import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from './clock.js';

test('a delay longer than a Node timer holds still waits, instead of firing after 1 ms', async () => {
  let fired = false;
  const timer = systemClock.setTimeout(() => {
    fired = true;
  }, 2 ** 31);
  await new Promise((r) => setTimeout(r, 30));
  timer.cancel();
  assert.equal(fired, false);
});
