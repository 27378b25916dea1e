/**
 * Logging: quiet by default, and never a token.
 *
 * A library must not print on its own, so the default logger drops everything. Applications pass a
 * `Logger` (or `consoleLogger(level)`) to see the protocol steps; every message goes through
 * `redact` before it reaches the sink, whichever logger is used.
 */
import { redact } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export function isLogLevel(value: string): value is LogLevel {
  return value in LEVELS;
}

/** A logger writing one line per message to stderr, at `level` and above. */
export function consoleLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const min = LEVELS[level];
  const emit = (lvl: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < min) return;
    const extra = fields ? ` ${JSON.stringify(fields)}` : '';
    write(redact(`${new Date().toISOString()} ${lvl.padEnd(5)} ${message}${extra}`) + '\n');
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/**
 * Wraps any logger so that what reaches it is redacted and prefixed (e.g. "shard 3"). The methods
 * live on the prototype, so a thousand shards share them, and they call the base logger as a method,
 * so loggers that rely on `this` (pino, winston, classes) keep working.
 */
export function scopedLogger(base: Logger, prefix: string): Logger {
  return base === silentLogger ? silentLogger : new ScopedLogger(base, prefix);
}

class ScopedLogger implements Logger {
  readonly #base: Logger;
  readonly #prefix: string;

  constructor(base: Logger, prefix: string) {
    this.#base = base;
    this.#prefix = prefix;
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.#base.debug(this.#text(message), redactFields(fields));
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.#base.info(this.#text(message), redactFields(fields));
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.#base.warn(this.#text(message), redactFields(fields));
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.#base.error(this.#text(message), redactFields(fields));
  }

  #text(message: string): string {
    return redact(`${this.#prefix}: ${message}`);
  }
}

function redactFields(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  return fields && JSON.parse(redact(JSON.stringify(fields)));
}
