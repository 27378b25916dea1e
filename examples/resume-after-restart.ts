/**
 * Sessions that survive a restart: a bot that stops with a resumable close and saves its session to a
 * file resumes it when it starts again, and Discord replays what happened while it was down.
 *
 *   npx tsx examples/resume-after-restart.ts                    # offline: two runs, one restart
 *   DISCORD_TOKEN=... npx tsx examples/resume-after-restart.ts  # one run until Ctrl-C; run it again
 *
 * Offline it runs the bot twice against the emulator, in one process for brevity (the second run
 * knows only what is in the file). While the bot is down, three messages are written; the second run
 * receives them, with a RESUME instead of a new IDENTIFY. (`dusk listen --session-file` does the same.)
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Emulator } from '../src/emulator/index.js';
import { DEFAULT_API, type Dispatch, FileSessionStore, fetchGatewayBot, Shard } from '../src/index.js';

const emu = process.env.DISCORD_TOKEN ? null : await Emulator.start({ guilds: 2, heartbeatInterval: 5000 });
const token = process.env.DISCORD_TOKEN ?? emu!.token;
const file = emu ? join(tmpdir(), `dusk-example-sessions-${process.pid}.json`) : 'sessions.json';
const { url } = await fetchGatewayBot(token, { api: emu?.apiUrl ?? DEFAULT_API });

/** One run of the bot: resume from the file if it can, handle events until `stop`, save the session. */
async function run(
  name: string,
  onEvent: (event: Dispatch) => void,
  stop: Promise<unknown>,
  whileRunning?: () => void,
): Promise<void> {
  const store = new FileSessionStore(file);
  const shard = new Shard({ token, intents: 'GUILDS,GUILD_MESSAGES', gatewayUrl: url, sessionStore: store });
  shard.on('ready', (ready) => console.log(`${name}: identified a new session ${ready.session_id}`));
  shard.on('resumed', () => console.log(`${name}: resumed session ${shard.session!.sessionId}`));
  shard.on('dispatch', onEvent);
  await shard.connect();
  whileRunning?.();
  await stop;
  // A resumable close (4900, not 1000) keeps the session alive on Discord's side; it resolves once
  // the store holds the session.
  const session = await shard.close({ resumable: true });
  console.log(`${name}: stopped at sequence ${session?.sequence}, session saved to ${file}`);
}

if (!emu) {
  const stop = new Promise((resolve) => process.once('SIGINT', resolve));
  await run('bot', (e) => console.log(`#${e.s} ${e.t}`), stop);
} else {
  const channel = emu.world.textChannelIds!(emu.world.guildIds()[0]!)[0]!;
  // A user writes in a channel; messages are recognized by id (their content needs MESSAGE_CONTENT).
  const write = (content: string): string => {
    const message = emu.world.userMessage(channel, content)!;
    emu.dispatch(message.t, message.d, { guildId: message.guildId });
    return (message.d as { id: string }).id;
  };
  /** Resolves `received` once every id passed to `expect` has arrived. */
  const receiver = () => {
    const wanted = new Set<string>();
    let done!: () => void;
    const received = new Promise<void>((resolve) => (done = resolve));
    const onEvent = (e: Dispatch) => {
      if (e.t !== 'MESSAGE_CREATE' || !wanted.delete(e.d.id)) return;
      console.log(`  received message ${e.d.id} (#${e.s})`);
      if (wanted.size === 0) done();
    };
    const expect = (...ids: string[]) => {
      for (const id of ids) wanted.add(id);
    };
    return { expect, received, onEvent };
  };

  const first = receiver();
  await run('run 1', first.onEvent, first.received, () => first.expect(write('before the restart')));

  const second = receiver();
  second.expect(write('while down 1'), write('while down 2'), write('while down 3'));
  console.log('(bot down: 3 messages written meanwhile)');
  await run('run 2', second.onEvent, second.received);
  const { identifies, resumes } = emu.counters;
  console.log(
    `identifies: ${identifies}, resumes: ${resumes}; every message written while down was received`,
  );
  await rm(file, { force: true });
  await emu.close();
}
