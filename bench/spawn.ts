/**
 * Starting a benchmark's client side in its own Node process and talking to it in JSON lines: the
 * client roles of bench/client.ts, the emulator's counting sink, the worker-thread manager. A
 * separate process gives the client its own core and its own heap: measured in the emulator's
 * process, a client would share the event loop and the garbage collector with the server it is
 * racing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Emulator } from '../dist/emulator/index.js';
import type { ChildConfig } from './client.js';
import { ALL_INTENTS } from './traffic.js';

export interface Child {
  /** The next JSON line the child wrote; rejects if it exits first. */
  next<T = Record<string, unknown>>(): Promise<T>;
  send(message: Record<string, unknown>): void;
  /** Ends its stdin and waits for the process to end, killing it after `graceMs`. */
  exit(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  /** Extra node flags, e.g. --expose-gc. */
  nodeFlags?: string[];
  /** Give up on any single reply after this long (default 120 s). */
  timeoutMs?: number;
  /** Environment variables added to this process's. */
  env?: Record<string, string>;
}

/** A client role of bench/client.ts. */
export function spawnClient(config: ChildConfig, options: SpawnOptions = {}): Child {
  return spawnScript('client.ts', [JSON.stringify(config)], describe(config), options);
}

/** Any script of this directory, run through tsx with `args`; `what` names it in errors. */
export function spawnScript(script: string, args: string[], what: string, options: SpawnOptions = {}): Child {
  const flags = [...(options.nodeFlags ?? [])];
  const child: ChildProcess = spawn(
    process.execPath,
    [...flags, '--import', 'tsx', new URL(script, import.meta.url).pathname, ...args],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...options.env } },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const timeoutMs = options.timeoutMs ?? 120_000;
  return {
    async next<T>() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no reply in ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        const line = await Promise.race([lines.next(), timeout]);
        if (line.done) throw new Error(`${what}: the process exited early`);
        return JSON.parse(line.value as string) as T;
      } finally {
        clearTimeout(timer);
      }
    },
    send(message) {
      child.stdin!.write(`${JSON.stringify(message)}\n`);
    },
    async exit(graceMs = 10_000) {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill(), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function describe(config: ChildConfig): string {
  return `${config.role} ${config.client} ${config.compress ?? 'uncompressed'}`;
}

/** Where a client process connects, and with what: the same for every role. */
export function emulatorTarget(
  emu: Emulator,
): Pick<ChildConfig, 'gatewayUrl' | 'apiUrl' | 'token' | 'intents'> {
  return { gatewayUrl: emu.gatewayUrl, apiUrl: emu.apiUrl, token: emu.token, intents: ALL_INTENTS };
}
