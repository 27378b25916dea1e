/**
 * Runs `dusk` as a child process, the way people and supervisors run it, and reads what it prints.
 *
 * The CLI's contract is its stdout lines, its stderr, its exit code and how it reacts to signals,
 * so the tests look at exactly those: stdout is split into lines (and parsed when they are JSON),
 * and a test awaits a line or the exit rather than sleeping.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type Line = Record<string, unknown>;

export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  /** Every stdout line that parsed as a JSON object, in order. */
  readonly lines: Line[] = [];
  readonly exited: Promise<Exit>;
  #waiters: (() => void)[] = [];
  #exit: Exit | null = null;
  #settle: () => void = () => {};

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv, options: { detached?: boolean } = {}) {
    this.child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let partial = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const part of parts) {
        try {
          const value = JSON.parse(part);
          if (typeof value === 'object' && value !== null) this.lines.push(value);
        } catch {
          // Not every format prints JSON.
        }
      }
      this.#notify();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.#notify();
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.#exit = { code, signal };
        this.#settle();
      });
      // Output is complete only once every process holding the pipes (npm's children too) is gone.
      let open = 2;
      const closed = () => {
        if (--open === 0) this.#settle();
      };
      this.child.stdout!.on('close', closed);
      this.child.stderr!.on('close', closed);
      this.#settle = () => {
        if (this.#exit && open === 0) {
          resolve(this.#exit);
          this.#notify();
        }
      };
    });
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once `check()` holds, re-checked whenever output arrives; rejects on timeout or exit. */
  async until<T>(check: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      const value = check();
      if (value !== undefined && value !== false) return value;
      if (exited) throw new Error(`dusk exited while waiting for ${what}\nstderr:\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}\nstderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Dispatch lines, optionally of one shard. */
  dispatches(shard?: number): Line[] {
    return this.lines.filter((l) => l.type === 'dispatch' && (shard === undefined || l.shard === shard));
  }

  /** Shards whose latest state line says `state`. */
  shardsIn(state: string): Set<number> {
    const latest = new Map<number, unknown>();
    for (const l of this.lines) if (l.type === 'state') latest.set(l.shard as number, l.state);
    return new Set([...latest].filter(([, s]) => s === state).map(([id]) => id));
  }

  /** Sends `signal` and waits for the exit; rejects if it takes longer than `withinMs`. */
  async stop(signal: NodeJS.Signals = 'SIGINT', withinMs = 5000): Promise<Exit & { ms: number }> {
    const start = Date.now();
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), withinMs + 2000);
    const exit = await this.exited;
    clearTimeout(timer);
    return { ...exit, ms: Date.now() - start };
  }
}

/** The environment without DISCORD_TOKEN (a developer's own token must not leak into tests). */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra };
  if (!('DISCORD_TOKEN' in extra)) delete env.DISCORD_TOKEN;
  // Set by `node --test` for its children; a child that runs tests itself must report as usual.
  delete env.NODE_TEST_CONTEXT;
  return env;
}

/** `dusk listen ARGS` through tsx, as `npm start` and `npm run dusk` run it. */
export function listen(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): CliProcess {
  return new CliProcess(process.execPath, ['--import', 'tsx', 'src/cli/dusk.ts', 'listen', ...args], env);
}
