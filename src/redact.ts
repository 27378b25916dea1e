/**
 * Keeping the bot token out of everything dusk prints, throws or serializes.
 *
 * A token in a log line or a crash report is a leaked bot. Rather than trusting each call site,
 * the token lives in a `Secret` whose string, JSON and inspect forms are all "[redacted]", and every
 * message dusk emits passes through `redact`, which also scrubs anything shaped like a token.
 */
import { inspect } from 'node:util';

const REDACTED = '[redacted]';
const known = new Set<string>();

/** Discord bot tokens: base64 user id, a dot, a timestamp part, a dot, an HMAC part. */
const TOKEN_SHAPE = /[A-Za-z\d_-]{23,28}\.[A-Za-z\d_-]{6,7}\.[A-Za-z\d_-]{27,}/g;

export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
    if (value.length >= 4) known.add(value);
  }

  /** The real value; call only where the token must go over the wire. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }
}

/** A bot token as an application gives it, with or without the `Bot ` of an Authorization header. */
export function botToken(raw: string): Secret {
  return new Secret(raw.replace(/^Bot\s+/i, ''));
}

/** Replaces every token dusk has seen, and anything shaped like a token, with "[redacted]". */
export function redact(text: string): string {
  let out = text;
  for (const token of known) {
    if (out.includes(token)) out = out.split(token).join(REDACTED);
  }
  return out.replace(TOKEN_SHAPE, REDACTED);
}

/** Creates an Error whose message has been through `redact`. */
export function redactedError(message: string, options?: ErrorOptions): Error {
  return new Error(redact(message), options);
}
