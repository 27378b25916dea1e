/**
 * `dusk fault`: inject a fault into a running `dusk emulator` through its control surface, so a
 * person can break a live bot's connection from another terminal and watch it recover.
 */
import { parseArgs } from 'node:util';
import { FAULT_TYPES, parseFault } from '../emulator/faults.js';
import { UsageError } from './usage-error.js';

export const usage = `usage: dusk fault --control URL [--session ID] TYPE [--code N] [--linger] [--resumable] [--ms N]

Injects a fault into the connection of one session (default: every connected session) of a
running \`dusk emulator\` (its "control" URL is in the JSON line it prints).

  TYPE  ${FAULT_TYPES.join(', ')}
  --code N      close code for "close" (e.g. 4000, 4004)
  --linger      "close" leaves the socket open and unread after the close frame
  --resumable   op 9 d:true for "invalid-session" (default d:false)
  --ms N        delay for "delay-acks"
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      control: { type: 'string' },
      session: { type: 'string', default: '*' },
      code: { type: 'string' },
      resumable: { type: 'boolean', default: false },
      linger: { type: 'boolean', default: false },
      ms: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (!values.control) throw new UsageError('--control URL is required');
  if (!URL.canParse(values.control)) throw new UsageError(`--control must be a URL, got "${values.control}"`);
  if (positionals.length !== 1) throw new UsageError('give exactly one fault TYPE');
  let fault: ReturnType<typeof parseFault>;
  try {
    fault = parseFault({
      type: positionals[0],
      code: values.code === undefined ? undefined : Number(values.code),
      resumable: values.resumable,
      linger: values.linger,
      ms: values.ms === undefined ? undefined : Number(values.ms),
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const response = await fetch(new URL('/faults', values.control), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ session: values.session, fault }),
  });
  const body = (await response.json().catch(() => ({}))) as { injected?: unknown; message?: string };
  if (!response.ok) {
    process.stderr.write(`error: ${body.message ?? response.statusText}\n`);
    return 1;
  }
  if (typeof body.injected !== 'number') {
    process.stderr.write(`error: ${values.control} did not answer as a dusk emulator's control surface\n`);
    return 1;
  }
  process.stdout.write(`injected ${fault.type} into ${body.injected} session(s)\n`);
  return 0;
}
