/**
 * `dusk emulator`: run the gateway emulator as a process other clients (in any language) can use.
 *
 * Once listening it prints exactly one JSON line on stdout (`gateway`, `api`, `control`, `token`),
 * so a script can start it and read where to connect; it then runs until SIGINT or SIGTERM. Faults
 * are injected through the control surface, for example with `dusk fault`.
 */
import { parseArgs } from 'node:util';
import { integer as checkInteger } from '../check.js';
import { Emulator, type EmulatorOptions, parseChaos } from '../emulator/index.js';
import { consoleLogger, isLogLevel } from '../logger.js';
import { UsageError } from './usage-error.js';

export const usage = `usage: dusk emulator [options]

Runs a local Discord gateway (and its REST routes) with fault injection. Prints one JSON line
{"gateway", "api", "control", "token"} once listening; stops on SIGINT/SIGTERM.

  --port N                 gateway and REST port (default 0: any free port)
  --host ADDR              interface to listen on (default 127.0.0.1)
  --control-port N         control surface port, always on 127.0.0.1 (default 0)
  --guilds N               guilds in the seeded world (default 10)
  --shards N               shard count recommended by GET /gateway/bot (default 1 per 1000 guilds)
  --max-concurrency N      identify buckets (default 1)
  --heartbeat-interval MS  Hello's heartbeat_interval (default 41250)
  --identify-interval MS   one IDENTIFY per bucket per this window (default 5000)
  --resume-timeout MS      how long a dropped session stays resumable (default 180000)
  --rate N                 live events per second across all guilds (default 0)
  --chaos SPEC             random faults: INTERVAL[:kind,...], e.g. 5s or 2s:drop,reconnect,close=4000
  --seed S                 seed for the world, the traffic and the chaos (default 1)
  --token T                token to accept (default: derived from the seed)
  --log-level LEVEL        debug, info, warn, error or silent (default warn)
`;

function integer(name: string, value: string | undefined, min = 0, max?: number): number | undefined {
  if (value === undefined) return undefined;
  try {
    return checkInteger(`--${name}`, Number(value), min, max);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function emulatorOptions(argv: string[]): EmulatorOptions | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'control-port': { type: 'string' },
      guilds: { type: 'string' },
      shards: { type: 'string' },
      'max-concurrency': { type: 'string' },
      'heartbeat-interval': { type: 'string' },
      'identify-interval': { type: 'string' },
      'resume-timeout': { type: 'string' },
      rate: { type: 'string' },
      chaos: { type: 'string' },
      seed: { type: 'string' },
      token: { type: 'string' },
      'log-level': { type: 'string', default: 'warn' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return null;
  const level = values['log-level']!;
  if (!isLogLevel(level)) throw new UsageError('--log-level must be debug, info, warn, error or silent');
  let chaos: EmulatorOptions['chaos'];
  try {
    chaos = values.chaos ? parseChaos(values.chaos) : undefined;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && !(Number.isFinite(rate) && rate >= 0)) {
    throw new UsageError('--rate must be a finite number of at least 0');
  }
  const options: EmulatorOptions = {
    port: integer('port', values.port, 0, 65535),
    controlPort: integer('control-port', values['control-port'], 0, 65535),
    guilds: integer('guilds', values.guilds, 1),
    shards: integer('shards', values.shards, 1),
    maxConcurrency: integer('max-concurrency', values['max-concurrency'], 1),
    heartbeatInterval: integer('heartbeat-interval', values['heartbeat-interval'], 1),
    identifyInterval: integer('identify-interval', values['identify-interval']),
    resumeTimeout: integer('resume-timeout', values['resume-timeout']),
    seed: integer('seed', values.seed),
    rate,
    chaos,
    host: values.host,
    token: values.token,
    logger: consoleLogger(level),
  };
  for (const key of Object.keys(options) as (keyof EmulatorOptions)[]) {
    if (options[key] === undefined) delete options[key];
  }
  return options;
}

export async function run(argv: string[]): Promise<number> {
  const options = emulatorOptions(argv);
  if (!options) {
    process.stdout.write(usage);
    return 0;
  }
  const emulator = await Emulator.start(options);
  process.stdout.write(
    `${JSON.stringify({ gateway: emulator.gatewayUrl, api: emulator.apiUrl, control: emulator.controlUrl, token: emulator.token })}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await emulator.close();
  return 0;
}
