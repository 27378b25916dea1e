#!/usr/bin/env node
/**
 * The `dusk` command: `listen` runs shards, `emulator` runs the local gateway, `fault` breaks a
 * connection of a running emulator. Usage mistakes exit 2 with help; other failures exit 1.
 */
import { redact } from '../redact.js';
import { UsageError } from './usage-error.js';

const commands: Record<string, () => Promise<{ run(argv: string[]): Promise<number>; usage: string }>> = {
  listen: () => import('./listen.js'),
  emulator: () => import('./emulator.js'),
  fault: () => import('./fault.js'),
};

const help = `usage: dusk <command> [options]

  listen     connect shards and print what they receive (starts the emulator without a token)
  emulator   run the local Discord gateway emulator
  fault      inject a fault into a running emulator

Run "dusk <command> --help" for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`dusk: unknown command "${name}"\n\n${help}`);
    return 2;
  }
  const command = await load();
  try {
    return await command.run(rest);
  } catch (error) {
    const usageMistake =
      error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`dusk ${name}: ${redact((error as Error).message)}\n`);
    if (usageMistake) {
      process.stderr.write(`\n${command.usage}`);
      return 2;
    }
    return 1;
  }
}

/**
 * Resolves once everything written to `stream` so far has been handed to the OS. stdout into a pipe
 * is asynchronous, and `process.exit` drops what is still queued: the last lines (the shards'
 * "closed" states) would be lost whenever the reader is slower than the writer.
 */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => stream.write('', () => resolve()));
}

main(process.argv.slice(2))
  .then(async (code) => {
    // A reader that never reads again must not keep the process alive: a second at most.
    const timeout = new Promise((resolve) => setTimeout(resolve, 1000).unref());
    await Promise.race([Promise.all([flushed(process.stdout), flushed(process.stderr)]), timeout]);
    return code;
  })
  .then((code) => process.exit(code));
