/**
 * Reading a payload's envelope without parsing its data.
 *
 * A bot that wants MESSAGE_CREATE should not pay for JSON.parse on every PRESENCE_UPDATE and
 * multi-megabyte GUILD_CREATE, yet the shard must still learn each dispatch's sequence number. The
 * envelope keys `op`, `s` and `t` are short primitives; Discord writes them before (or after) the
 * bulky `d`, so they can be read by scanning only the top-level keys around `d` and never entering
 * it. The scanner accepts any key order and whitespace, and gives up (returns null) on anything it
 * does not fully understand, in which case the caller falls back to JSON.parse — so it can be fast
 * without ever being wrong.
 */

export interface Envelope {
  op: number;
  s: number | null;
  t: string | null;
}

type Primitive = number | string | null | boolean;

/**
 * Reads `op`, `s` and `t` from a JSON payload text without parsing `d`. Returns null when the text
 * has a shape the scanner does not handle (the caller must then parse it fully).
 */
export function readEnvelope(text: string): Envelope | null {
  return scan(text, true);
}

/** How much of a payload `readEnvelopeHead` looks at: enough for any envelope Discord writes before `d`. */
export const HEAD_BYTES = 256;

/**
 * Like `readEnvelope`, from the first bytes of an undecoded payload: succeeds when `op`, `s` and `t`
 * all come before `d` (as Discord writes them), and returns null otherwise, never reading past `d`
 * or beyond `HEAD_BYTES`.
 *
 * Discord's own layout, `{"t":…,"s":…,"op":…,"d":`, is matched byte by byte first: it is what
 * nearly every payload looks like, and matching it costs less than turning the head into a string.
 * Anything else goes through the general scanner.
 */
export function readEnvelopeHead(bytes: Buffer): Envelope | null {
  const fast = discordHead(bytes);
  if (fast) return fast;
  // latin1 maps bytes to characters one to one, so a cut never splits a character; but a name that
  // is not ASCII would come out mangled, so only an ASCII one is trusted.
  const env = scan(bytes.toString('latin1', 0, HEAD_BYTES), false);
  return env?.t && NON_ASCII.test(env.t) ? null : env;
}

const NON_ASCII = /[\u0080-\uffff]/;

const QUOTE = 0x22;
const T_KEY = ascii('{"t":');
const S_KEY = ascii(',"s":');
const OP_KEY = ascii(',"op":');
const D_KEY = ascii(',"d":');
const NULL = ascii('null');

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function at(bytes: Uint8Array, i: number, literal: Uint8Array): boolean {
  if (i + literal.length > bytes.length) return false;
  for (let k = 0; k < literal.length; k++) if (bytes[i + k] !== literal[k]) return false;
  return true;
}

/** `{"t":"NAME"|null,"s":N|null,"op":N,"d":` exactly, with an event name of A–Z, 0–9 and `_`. */
function discordHead(bytes: Buffer): Envelope | null {
  if (!at(bytes, 0, T_KEY)) return null;
  let i = T_KEY.length;
  let t: string | null = null;
  if (bytes[i] === QUOTE) {
    const start = i + 1;
    for (i = start; i < bytes.length && i < HEAD_BYTES && isNameByte(bytes[i]!); i++);
    if (bytes[i] !== QUOTE) return null;
    t = bytes.toString('latin1', start, i);
    i++;
  } else if (at(bytes, i, NULL)) {
    i += NULL.length;
  } else return null;
  if (!at(bytes, i, S_KEY)) return null;
  i += S_KEY.length;
  let s: number | null = null;
  if (at(bytes, i, NULL)) i += NULL.length;
  else {
    const n = readUint(bytes, i);
    if (!n) return null;
    s = n.value;
    i = n.end;
  }
  if (!at(bytes, i, OP_KEY)) return null;
  const op = readUint(bytes, i + OP_KEY.length);
  if (!op || !at(bytes, op.end, D_KEY)) return null;
  return { op: op.value, s, t };
}

function isNameByte(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
}

/** A non-negative JSON integer (no leading zeros) of at most 15 digits, so it is exact. */
function readUint(bytes: Uint8Array, i: number): { value: number; end: number } | null {
  let value = 0;
  let end = i;
  for (; end < bytes.length && end - i < 16; end++) {
    const c = bytes[end]!;
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
  }
  const digits = end - i;
  if (digits === 0 || digits > 15 || (digits > 1 && bytes[i] === 0x30)) return null;
  return { value, end };
}

function scan(text: string, tail: boolean): Envelope | null {
  const env: Partial<Record<'op' | 's' | 't', Primitive>> = {};
  let i = skipWs(text, 0);
  if (text.charCodeAt(i) !== 0x7b /* { */) return null;
  i = skipWs(text, i + 1);
  // Forward: keys up to `d`.
  for (;;) {
    if (text.charCodeAt(i) === 0x7d /* } */) return finish(env);
    const key = readKey(text, i);
    if (!key) return null;
    i = key.end;
    if (key.name === 'd') break;
    const value = readPrimitive(text, i);
    if (!value) return null; // an object or array outside `d`: let JSON.parse handle it
    if (key.name === 'op' || key.name === 's' || key.name === 't') env[key.name] = value.value;
    i = skipWs(text, value.end);
    const c = text.charCodeAt(i);
    if (c === 0x2c /* , */) i = skipWs(text, i + 1);
    else if (c === 0x7d) return finish(env);
    else return null;
  }
  if ('op' in env && 's' in env && 't' in env) return finish(env);
  // Backward: keys after `d`, read from the closing brace towards it.
  return tail ? readTail(text, env) : null;
}

function finish(env: Partial<Record<'op' | 's' | 't', Primitive>>): Envelope | null {
  const { op, s = null, t = null } = env;
  if (typeof op !== 'number' || !Number.isInteger(op)) return null;
  if (s !== null && (typeof s !== 'number' || !Number.isInteger(s))) return null;
  if (t !== null && typeof t !== 'string') return null;
  return { op, s, t };
}

function skipWs(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

/** Reads `"name"` then `:`; only plain keys without escapes are recognised. */
function readKey(text: string, i: number): { name: string; end: number } | null {
  if (text.charCodeAt(i) !== 0x22) return null;
  const close = text.indexOf('"', i + 1);
  if (close < 0) return null;
  const name = text.slice(i + 1, close);
  if (name.includes('\\')) return null;
  const colon = skipWs(text, close + 1);
  if (text.charCodeAt(colon) !== 0x3a /* : */) return null;
  return { name, end: skipWs(text, colon + 1) };
}

const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

function readPrimitive(text: string, i: number): { value: Primitive; end: number } | null {
  const c = text.charCodeAt(i);
  if (c === 0x22) {
    const close = text.indexOf('"', i + 1);
    if (close < 0) return null;
    const raw = text.slice(i + 1, close);
    if (raw.includes('\\')) return null;
    return { value: raw, end: close + 1 };
  }
  if (text.startsWith('null', i)) return { value: null, end: i + 4 };
  if (text.startsWith('true', i)) return { value: true, end: i + 4 };
  if (text.startsWith('false', i)) return { value: false, end: i + 5 };
  NUMBER.lastIndex = i;
  const m = NUMBER.exec(text);
  if (!m) return null;
  return { value: Number(m[0]), end: i + m[0].length };
}

const TAIL_PAIR = /,\s*"(op|s|t)"\s*:\s*(null|-?\d+|"[A-Z0-9_]*")\s*$/;

/**
 * Reads `,"key":primitive` pairs backwards from the final `}`. Only the three envelope keys with
 * simple values are accepted, so every pair matched really is at the top level: a pair inside `d`
 * would be followed by `}` or `]` of `d`, not by the outer brace.
 */
function readTail(text: string, env: Partial<Record<'op' | 's' | 't', Primitive>>): Envelope | null {
  let end = text.length;
  while (end > 0 && /\s/.test(text[end - 1]!)) end--;
  if (text.charCodeAt(end - 1) !== 0x7d) return null;
  let rest = text.slice(Math.max(0, end - 96), end - 1);
  for (let n = 0; n < 3 && !('op' in env && 's' in env && 't' in env); n++) {
    const m = TAIL_PAIR.exec(rest);
    if (!m) return null;
    const key = m[1] as 'op' | 's' | 't';
    const raw = m[2]!;
    env[key] = raw === 'null' ? null : raw.startsWith('"') ? raw.slice(1, -1) : Number(raw);
    rest = rest.slice(0, m.index);
  }
  return 'op' in env ? finish(env) : null;
}
