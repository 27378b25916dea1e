/**
 * A minimal gateway client for emulator benchmarks, meant to run in its own process: it identifies,
 * prints its session id, then counts messages without parsing them and reports how long the
 * expected number took to arrive, so the emulator's side is what gets measured.
 */
import { WebSocket } from 'ws';

const [url, token, expectedArg] = process.argv.slice(2) as [string, string, string];
const expected = Number(expectedArg);
const ws = new WebSocket(`${url}?v=10&encoding=json`, { perMessageDeflate: false });
let counting = false;
let count = 0;
let first = 0;

ws.on('message', (data: Buffer) => {
  if (!counting) {
    const text = data.toString();
    if (text.includes('"op":10')) {
      ws.send(
        JSON.stringify({
          op: 2,
          d: { token, intents: 53608447, properties: { os: 'linux', browser: 'sink', device: 'sink' } },
        }),
      );
    } else if (text.includes('"t":"READY"')) {
      counting = true;
      process.stdout.write(`${JSON.stringify({ session: JSON.parse(text).d.session_id })}\n`);
    }
    return;
  }
  if (count === 0) first = performance.now();
  if (++count === expected) {
    process.stdout.write(`${JSON.stringify({ received: count, ms: performance.now() - first })}\n`);
    ws.close(1000);
  }
});
