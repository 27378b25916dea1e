/**
 * Testing a bot's handler against the emulator, the way a bot's own unit tests can: a real shard on
 * a real socket, a user's message made to happen, and the reply checked where Discord would show it
 * (the MESSAGE_CREATE it dispatches back).
 *
 *   npx tsx examples/pong-handler.test.ts     (or: node --import tsx --test examples/pong-handler.test.ts)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Emulator } from '../src/emulator/index.js';
import { type Dispatch, Shard } from '../src/index.js';
import { createPongHandler } from './pong-handler.js';

let emu: Emulator;
let shard: Shard;
const seen: Dispatch[] = [];
const waiters: (() => void)[] = [];

before(async () => {
  emu = await Emulator.start({ guilds: 2, heartbeatInterval: 1000 });
  shard = new Shard({
    token: emu.token,
    intents: 'GUILDS,GUILD_MESSAGES,MESSAGE_CONTENT',
    gatewayUrl: emu.gatewayUrl,
    events: ['MESSAGE_CREATE'],
  });
  const handle = createPongHandler({ api: emu.apiUrl, token: emu.token });
  shard.on('dispatch', (event) => {
    seen.push(event);
    for (const wake of waiters.splice(0)) wake();
    handle(event).catch((error) => assert.fail(error));
  });
  await shard.connect();
});

after(async () => {
  await shard.close();
  await emu.close();
});

/** A user writes `content` in a guild channel; returns the message id. */
function userWrites(content: string): string {
  const channel = emu.world.textChannelIds!(emu.world.guildIds()[0]!)[0]!;
  const message = emu.world.userMessage(channel, content)!;
  emu.dispatch(message.t, message.d, { guildId: message.guildId });
  return (message.d as { id: string }).id;
}

/** The bot's messages that reply to `messageId`, once there is one. */
async function replyTo(messageId: string): Promise<Dispatch[]> {
  const replies = () =>
    seen.filter(
      (e) => e.t === 'MESSAGE_CREATE' && e.d.author.bot && e.d.message_reference?.message_id === messageId,
    );
  while (replies().length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
  return replies();
}

test('"!ping" gets one "pong", posted in the same channel as a reply', async () => {
  const ping = userWrites('!ping');
  const [reply, ...more] = await replyTo(ping);
  assert.equal(more.length, 0);
  assert.equal(reply!.t === 'MESSAGE_CREATE' && reply!.d.content, 'pong');
});

test("other messages, and the bot's own, get no answer", async () => {
  const before = seen.length;
  userWrites('hello');
  userWrites('!pingpong');
  const ping = userWrites('!ping');
  await replyTo(ping);
  // Events arrive in order: the two ignored messages came first, and only one reply (to the ping) followed.
  const bots = seen.slice(before).filter((e) => e.t === 'MESSAGE_CREATE' && e.d.author.bot);
  assert.equal(bots.length, 1);
});
