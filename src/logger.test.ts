import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Logger, scopedLogger, silentLogger } from './logger.js';

// Token-shaped, not a real token.
const TOKEN = 'MTMwMzMyNzk1ODYzMDUzMTA3OQ.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB';

/** A logger whose methods need `this`, as pino's and winston's do. */
class Recorder implements Logger {
  readonly lines: [string, string, unknown][] = [];
  debug(message: string, fields?: Record<string, unknown>): void {
    this.lines.push(['debug', message, fields]);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.lines.push(['info', message, fields]);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.lines.push(['warn', message, fields]);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.lines.push(['error', message, fields]);
  }
}

test('a scoped logger prefixes and redacts, and calls the base logger as a method', () => {
  const base = new Recorder();
  const log = scopedLogger(base, 'shard 3');
  log.debug('a');
  log.info(`token ${TOKEN}`);
  log.warn('c', { token: TOKEN, n: 1 });
  log.error('d');
  assert.deepEqual(base.lines, [
    ['debug', 'shard 3: a', undefined],
    ['info', 'shard 3: token [redacted]', undefined],
    ['warn', 'shard 3: c', { token: '[redacted]', n: 1 }],
    ['error', 'shard 3: d', undefined],
  ]);
});

test('scoping the silent logger costs nothing: it is the silent logger', () => {
  assert.equal(scopedLogger(silentLogger, 'shard 0'), silentLogger);
  assert.notEqual(scopedLogger(new Recorder(), 'shard 0'), silentLogger);
});
