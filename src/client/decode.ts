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

/**
 * Like `readEnvelope`, for the first bytes of a payload only: succeeds when `op`, `s` and `t` all
 * come before `d` (as Discord writes them), and returns null otherwise, never reading past `d`.
 */
export function readEnvelopeHead(head: string): Envelope | null {
  return scan(head, false);
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
