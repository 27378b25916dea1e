/**
 * A ping-pong bot: whoever writes "!ping" gets "pong" back.
 *
 *   npx tsx examples/ping-pong.ts                       # offline, against the embedded emulator
 *   DISCORD_TOKEN=... npx tsx examples/ping-pong.ts     # a real bot, until Ctrl-C
 *
 * Offline it starts the emulator, plays a user who writes "!ping", waits for the bot's "pong" to come
 * back through the gateway, and exits. With a token it runs until Ctrl-C; the bot needs the Message
 * Content intent enabled in the Developer Portal to read what people write.
 */
import { Emulator } from '../src/emulator/index.js';
import { DEFAULT_API, fetchGatewayBot, Shard } from '../src/index.js';
import { createPongHandler } from './pong-handler.js';

const emu = process.env.DISCORD_TOKEN ? null : await Emulator.start({ guilds: 3 });
const token = process.env.DISCORD_TOKEN ?? emu!.token;
const api = emu?.apiUrl ?? DEFAULT_API;

const { url } = await fetchGatewayBot(token, { api });
const shard = new Shard({
  token,
  intents: 'GUILDS,GUILD_MESSAGES,MESSAGE_CONTENT',
  gatewayUrl: url,
  events: ['MESSAGE_CREATE'], // nothing else is parsed
});
const handle = createPongHandler({ api, token });
process.once('SIGINT', () => void shard.close());

await shard.connect();
console.log(emu ? 'connected to the emulator' : 'connected; write !ping in a channel the bot can see');

let pingSentAt = 0;
if (emu) {
  // Play a user: write "!ping" in the first text channel of the first guild.
  const channel = emu.world.textChannelIds!(emu.world.guildIds()[0]!)[0]!;
  const ping = emu.world.userMessage(channel, '!ping')!;
  pingSentAt = Date.now();
  emu.dispatch(ping.t, ping.d, { guildId: ping.guildId });
}

for await (const event of shard) {
  if (event.t !== 'MESSAGE_CREATE') continue;
  if (await handle(event)) {
    console.log(`!ping from ${event.d.author.username} in ${event.d.channel_id}: replied`);
  } else if (emu && event.d.author.bot && event.d.content === 'pong') {
    console.log(`the bot's pong arrived through the gateway ${Date.now() - pingSentAt} ms after the ping`);
    break; // leaving the loop closes the shard
  }
}
await emu?.close();
