import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Envelope, readEnvelope, readEnvelopeHead } from './decode.js';

// ---- a seeded PRNG and a JSON writer that varies key order, whitespace and escapes --------------

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

class Gen {
  readonly #r: () => number;
  /** Largest whitespace run between tokens (0 = compact). */
  ws: number;

  constructor(seed: number, ws = 3) {
    this.#r = prng(seed);
    this.ws = ws;
  }

  float(): number {
    return this.#r();
  }

  int(n: number): number {
    return Math.floor(this.#r() * n);
  }

  chance(p: number): boolean {
    return this.#r() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  space(): string {
    const n = this.int(this.ws + 1);
    let out = '';
    for (let i = 0; i < n; i++) out += this.pick([' ', '\n', '\r', '\t']);
    return out;
  }

  /** A JSON string literal for `s`, sometimes with gratuitous \u escapes (still valid JSON). */
  str(s: string): string {
    if (!this.chance(0.3)) return JSON.stringify(s);
    let out = '"';
    for (const ch of s) {
      const code = ch.codePointAt(0)!;
      if (ch === '"' || ch === '\\' || code < 0x20 || code > 0xffff || this.chance(0.3)) {
        // Escape as one or two \uXXXX units.
        for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
      } else out += ch;
    }
    return `${out}"`;
  }

  /** Writes a number in one of JSON's equivalent spellings. */
  num(n: number): string {
    if (!Number.isSafeInteger(n) || !this.chance(0.15)) return JSON.stringify(n);
    return this.pick([`${n}.0`, `${n}e0`, `${n}E+0`, `${n * 10}e-1`, `${n}.00`]);
  }

  write(value: Json): string {
    const w = (text: string) => this.space() + text + this.space();
    if (value === null) return w('null');
    if (typeof value === 'boolean') return w(String(value));
    if (typeof value === 'number') return w(this.num(value));
    if (typeof value === 'string') return w(this.str(value));
    if (Array.isArray(value)) {
      const inner = value.map((v) => this.write(v)).join(',');
      return w(`[${inner.length ? inner : this.space()}]`);
    }
    const entries = Object.entries(value).map(
      ([k, v]) => `${this.space()}${this.str(k)}${this.space()}:${this.write(v)}`,
    );
    return w(`{${entries.length ? entries.join(',') : this.space()}}`);
  }
}

/** Text that looks like envelope keys from the inside of `d`. */
const LOOKALIKES = [
  '"op":',
  '"op":0',
  '"s":5',
  '"s":null',
  '"t":"X"',
  ',"t":"READY"}',
  ',"s":99}',
  ',"op":7}',
  '{"op":1,"d":null}',
  '"d":',
  '\\"',
  '\\\\',
  '\\',
  '"',
  '}',
  '{',
  ']',
  ',',
  ':',
  'é',
  '日本語',
  '😀',
  '\u2028',
  '\u0000',
  '\n',
  '\t',
  ' ',
  'MESSAGE_CREATE',
  'null',
  'true',
  '123',
];

function randomString(g: Gen): string {
  let s = '';
  const n = g.int(6);
  for (let i = 0; i < n; i++) s += g.pick(LOOKALIKES);
  return s;
}

const INNER_KEYS = ['op', 's', 't', 'd', 'id', 'content', '_trace', '"quoted"', 'back\\slash', 'é', ''];

function randomValue(g: Gen, depth: number): Json {
  const kind = g.int(depth > 3 ? 4 : 7);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return g.chance(0.5);
    case 2:
      return g.pick([0, 1, -1, 5, 42, 1.5, -0.25, 1e21, 1337]);
    case 3:
      return randomString(g);
    case 4:
    case 5: {
      const obj: { [key: string]: Json } = {};
      const n = g.int(5);
      for (let i = 0; i < n; i++)
        obj[g.chance(0.5) ? g.pick(INNER_KEYS) : randomString(g)] = randomValue(g, depth + 1);
      return obj;
    }
    default:
      return Array.from({ length: g.int(5) }, () => randomValue(g, depth + 1));
  }
}

const EVENT_NAMES = [
  'READY',
  'RESUMED',
  'MESSAGE_CREATE',
  'GUILD_CREATE',
  'X',
  'A1_B2',
  'GUILD_SCHEDULED_EVENT_USER_REMOVE',
];

/** A random gateway-like payload: the envelope keys (sometimes odd or missing), `d`, extra keys, any order. */
function randomPayload(g: Gen): string {
  const fields: Array<[string, string]> = [];
  const opRoll = g.float();
  const op: Json = opRoll < 0.9 ? g.pick([0, 0, 0, 1, 7, 9, 10, 11]) : g.pick(['0', 1.5, true, null]);
  const dispatch = op === 0;
  if (g.chance(0.97)) fields.push(['op', g.write(op)]);
  const sRoll = g.float();
  if (sRoll < 0.85) {
    const s: Json = dispatch ? g.pick([1, 2, 5, 99, 123456, 2 ** 31]) : null;
    fields.push(['s', g.write(g.chance(0.05) ? g.pick([1.5, '5', false]) : s)]);
  }
  const tRoll = g.float();
  if (tRoll < 0.85) {
    let t: Json = dispatch ? g.pick(EVENT_NAMES) : null;
    if (g.chance(0.05)) t = g.pick(['lower_case', 'WITH SPACE', 'QUOTE"D', 'BACK\\SLASH', 'ÉVÉNEMENT', 5]);
    fields.push(['t', g.write(t)]);
  }
  if (g.chance(0.95)) fields.push(['d', g.write(randomValue(g, 0))]);
  if (g.chance(0.15)) fields.push(['_trace', g.write(g.chance(0.5) ? randomString(g) : randomValue(g, 2))]);
  if (g.chance(0.05)) fields.push(['extra', g.write(g.pick([1, 'x', null, true]))]);
  g.shuffle(fields);
  const body = fields.map(([k, v]) => `${g.space()}${g.str(k)}${g.space()}:${v}`).join(',');
  const text = `${g.space()}{${body.length ? body : g.space()}}${g.space()}`;
  return text;
}

/** The envelope JSON.parse implies, or undefined when it is not a valid envelope at all. */
function expected(parsed: unknown): Envelope | undefined {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const v = parsed as Record<string, unknown>;
  const s = v.s ?? null;
  const t = v.t ?? null;
  if (!Number.isInteger(v.op)) return undefined;
  if (s !== null && !Number.isInteger(s)) return undefined;
  if (t !== null && typeof t !== 'string') return undefined;
  return { op: v.op as number, s: s as number | null, t: t as string | null };
}

function check(text: string): Envelope | null {
  const got = readEnvelope(text);
  const want = expected(JSON.parse(text));
  if (got !== null) {
    assert.ok(want, `readEnvelope invented an envelope for ${JSON.stringify(text)}`);
    assert.deepEqual(got, want, `wrong envelope for ${JSON.stringify(text)}`);
  }
  return got;
}

// ---- the property ---------------------------------------------------------------------------------

describe('readEnvelope agrees with JSON.parse', () => {
  test('on 5000 random payloads with look-alike text in d, any key order and whitespace', () => {
    const g = new Gen(0xd05c);
    let read = 0;
    let dispatches = 0;
    const n = 5000;
    for (let i = 0; i < n; i++) {
      const got = check(randomPayload(g));
      if (got) {
        read++;
        if (got.op === 0 && got.s !== null) dispatches++;
      }
    }
    // It must actually read most payloads; a scanner that always gave up would pass the check above.
    assert.ok(read > n * 0.25, `only ${read} of ${n} payloads were read without JSON.parse`);
    assert.ok(dispatches > n * 0.05, `only ${dispatches} dispatches with a sequence were read`);
  });

  test('on 3000 compact Discord-shaped payloads (all four keys, any order): never gives up', () => {
    const g = new Gen(7, 0);
    for (let i = 0; i < 3000; i++) {
      const op = g.pick([0, 0, 1, 7, 9, 10, 11]);
      const s = op === 0 ? 1 + g.int(1_000_000) : null;
      const t = op === 0 ? g.pick(EVENT_NAMES) : null;
      const entries: Array<[string, string]> = g.shuffle([
        ['op', JSON.stringify(op)],
        ['s', JSON.stringify(s)],
        ['t', JSON.stringify(t)],
        ['d', JSON.stringify(randomValue(g, 0))],
      ]);
      const text = `{${entries.map(([k, v]) => `"${k}":${v}`).join(',')}}`;
      const got = check(text);
      assert.deepEqual(got, { op, s, t }, `gave up on ${text}`);
    }
  });

  test('on payloads whose envelope keys all come before d, whatever d holds and whatever the whitespace', () => {
    const g = new Gen(99, 4);
    for (let i = 0; i < 2000; i++) {
      const s = g.chance(0.8) ? g.int(100000) : null;
      const keys = g.shuffle([
        ['op', '0'],
        ['s', JSON.stringify(s)],
        ['t', '"MESSAGE_CREATE"'],
      ]);
      const head = keys
        .map(([k, v]) => `${g.space()}"${k}"${g.space()}:${g.space()}${v}${g.space()}`)
        .join(',');
      const tail = g.chance(0.5) ? `,"_trace":${g.write(randomValue(g, 0))}` : '';
      const text = `{${head},${g.space()}"d"${g.space()}:${g.write(randomValue(g, 0))}${tail}}`;
      assert.deepEqual(check(text), { op: 0, s, t: 'MESSAGE_CREATE' }, text);
    }
  });
});

// ---- worked examples -----------------------------------------------------------------------------

describe('readEnvelope on specific payloads', () => {
  test('Discord order t, s, op, d', () => {
    assert.deepEqual(readEnvelope('{"t":"READY","s":1,"op":0,"d":{"v":10}}'), { op: 0, s: 1, t: 'READY' });
  });

  test('keys after d are read from the end', () => {
    assert.deepEqual(readEnvelope('{"op":0,"d":{"op":9,"s":3,"t":"Y"},"s":42,"t":"MESSAGE_CREATE"}'), {
      op: 0,
      s: 42,
      t: 'MESSAGE_CREATE',
    });
    assert.deepEqual(readEnvelope('{"d":[1,"\\"t\\":\\"Z\\""], "t" : "A" ,\n"s":\t7 , "op":0 }\n'), {
      op: 0,
      s: 7,
      t: 'A',
    });
  });

  test('null and missing s and t both read as null', () => {
    assert.deepEqual(readEnvelope('{"t":null,"s":null,"op":11,"d":null}'), { op: 11, s: null, t: null });
    assert.deepEqual(readEnvelope('{"op":11}'), { op: 11, s: null, t: null });
    assert.deepEqual(readEnvelope('{"op":1,"s":null}'), { op: 1, s: null, t: null });
    assert.deepEqual(readEnvelope('{ "op" : 7 , "t" : null }'), { op: 7, s: null, t: null });
    assert.deepEqual(readEnvelope('{"d":null,"t":null,"s":null,"op":11}'), { op: 11, s: null, t: null });
  });

  test('look-alike keys inside d or inside strings never leak out', () => {
    const cases = [
      '{"t":"A","s":1,"op":0,"d":"\\"op\\":5,\\"s\\":6,\\"t\\":\\"B\\""}',
      '{"op":0,"s":2,"t":"A","d":{"t":"B","s":9,"op":4}}',
      '{"d":{"t":"B","s":9,"op":4},"op":0,"s":2,"t":"A"}',
      '{"d":"x\\\\","t":"A","s":3,"op":0}',
      '{"d":"}\\",\\"t\\":\\"NO\\"}","t":"A","s":4,"op":0}',
    ];
    for (const text of cases) check(text);
    assert.equal(readEnvelope(cases[0]!)?.t, 'A');
    assert.equal(readEnvelope(cases[2]!)?.s, 2);
    assert.equal(readEnvelope(cases[4]!)?.s, 4);
  });

  test('d holding envelope keys with nothing after it is never mistaken for the top level', () => {
    // Only op comes before d, and d itself ends with look-alike pairs.
    for (const text of [
      '{"op":0,"d":{"s":5,"t":"X"}}',
      '{"op":0,"d":[{"s":5,"t":"X"}]}',
      '{"op":0,"d":{"a":{"s":5,"t":"X"}}}',
      '{"op":11,"d":null}',
    ]) {
      const got = readEnvelope(text);
      assert.ok(got === null || (got.s === null && got.t === null), `${text} gave ${JSON.stringify(got)}`);
      check(text);
    }
  });

  test('numbers in any JSON spelling', () => {
    assert.deepEqual(readEnvelope('{"op":0,"s":1e2,"t":"A","d":1}'), { op: 0, s: 100, t: 'A' });
    assert.deepEqual(readEnvelope('{"op":1.0,"s":null,"t":null,"d":1}'), { op: 1, s: null, t: null });
    assert.deepEqual(readEnvelope('{"op":0,"s":9007199254740991,"t":"A"}'), {
      op: 0,
      s: 9007199254740991,
      t: 'A',
    });
  });
});

describe('the fallback path: readEnvelope returns null for shapes it does not handle', () => {
  const fallbacks: Array<[string, string]> = [
    ['empty text', ''],
    ['not an object', '[{"op":0}]'],
    ['a string', '"op"'],
    ['a number', '11'],
    ['no op at all', '{"s":1,"t":"A","d":{}}'],
    ['an empty object', '{}'],
    ['op as a string', '{"op":"0","s":1,"t":"A","d":{}}'],
    ['op as a boolean', '{"op":true,"d":null}'],
    ['op fractional', '{"op":1.5,"d":null}'],
    ['s fractional', '{"op":0,"s":1.5,"t":"A","d":null}'],
    ['s as a string', '{"op":0,"s":"1","t":"A","d":null}'],
    ['t as a number', '{"op":0,"s":1,"t":5,"d":null}'],
    ['t with an escape', '{"op":0,"s":1,"t":"MESSAGE\\u005fCREATE","d":null}'],
    ['t with an escape after d', '{"d":null,"op":0,"s":1,"t":"MESSAGE\\u005fCREATE"}'],
    ['a key with an escape', '{"o\\u0070":0,"s":1,"t":"A","d":null}'],
    ['an object outside d', '{"_trace":{"a":1},"op":0,"s":1,"t":"A","d":null}'],
    ['an array outside d', '{"_trace":["x"],"op":0,"s":1,"t":"A","d":null}'],
    ['an unknown key between envelope keys after d', '{"d":{},"op":0,"_trace":"x","s":1,"t":"A"}'],
    ['lower-case t after d', '{"d":{},"op":0,"s":1,"t":"ready"}'],
    ['text cut off before the final brace', '{"d":{"a":1},"op":0,"s":1,"t":"A"'],
    ['an unterminated key', '{"op'],
    ['missing colon', '{"op" 0}'],
    ['missing comma', '{"op":0 "s":1}'],
  ];
  for (const [name, text] of fallbacks) {
    test(name, () => {
      assert.equal(readEnvelope(text), null);
    });
  }

  test('after a null, JSON.parse still yields the envelope the caller needs', () => {
    const text = '{"d":{},"op":0,"_trace":"x","s":3,"t":"A"}';
    assert.equal(readEnvelope(text), null);
    assert.deepEqual(expected(JSON.parse(text)), { op: 0, s: 3, t: 'A' });
  });
});

describe('readEnvelopeHead', () => {
  test('on any prefix of 3000 random payloads it is either null or what JSON.parse says, and never reads past d', () => {
    const g = new Gen(0x4ead);
    let settled = 0;
    for (let n = 0; n < 3000; n++) {
      const text = randomPayload(g);
      const want = expected(JSON.parse(text));
      for (const cut of [1, 8, 20, 40, 64, 128, text.length]) {
        const got = readEnvelopeHead(Buffer.from(text.slice(0, cut)));
        if (got === null) continue;
        settled++;
        assert.ok(want, `readEnvelopeHead invented an envelope for ${JSON.stringify(text.slice(0, cut))}`);
        assert.deepEqual(got, want, `wrong envelope from the head ${JSON.stringify(text.slice(0, cut))}`);
      }
    }
    // Keys are shuffled, so many payloads put d first; enough heads must still settle to exercise the path.
    assert.ok(settled > 500, `only ${settled} heads settled: the fast path would never be taken`);
  });

  test('a Discord-ordered dispatch settles from its head; keys after d do not', () => {
    const big = `{"t":"GUILD_CREATE","s":42,"op":0,"d":{"members":[${'{"x":1},'.repeat(1000)}{}]}}`;
    const head = (text: string) => readEnvelopeHead(Buffer.from(text));
    assert.deepEqual(head(big), { op: 0, s: 42, t: 'GUILD_CREATE' });
    assert.equal(head('{"d":{"a":1},"op":0,"s":1,"t":"X"}'.slice(0, 20)), null);
    assert.equal(head('{"t":"MESSAGE_CRE'), null);
    assert.equal(head('{"t":"X","s":12'), null, 'a number cut short is not trusted');
  });

  test('Discord-ordered payloads: every prefix is null or exact, and the full head always settles', () => {
    const g = new Gen(0xd15c);
    const names = ['MESSAGE_CREATE', 'GUILD_CREATE', 'PRESENCE_UPDATE', 'X', 'A_1'];
    for (let n = 0; n < 2000; n++) {
      const t = g.int(5) === 0 ? null : names[g.int(names.length)]!;
      const s = t === null ? null : g.int(3) === 0 ? g.int(10) : g.int(2 ** 40);
      const op = t === null ? [1, 7, 9, 10, 11][g.int(5)]! : 0;
      const d = JSON.stringify({ text: 'é'.repeat(g.int(300)), n });
      const text = `{"t":${JSON.stringify(t)},"s":${JSON.stringify(s)},"op":${op},"d":${d}}`;
      const want = { op, s, t };
      const bytes = Buffer.from(text);
      const full = text.indexOf(',"d":') + 5;
      for (let cut = 1; cut <= Math.min(bytes.length, 300); cut++) {
        const got = readEnvelopeHead(bytes.subarray(0, cut));
        if (cut >= full && full <= 256)
          assert.deepEqual(got, want, `head of ${text.slice(0, cut)} did not settle`);
        else if (got !== null) assert.deepEqual(got, want, `wrong envelope from ${text.slice(0, cut)}`);
      }
    }
  });

  test('what the byte matcher does not take goes to the general scanner, with the same answer', () => {
    for (const text of [
      '{"t":"X","s":-1,"op":0,"d":{}}',
      '{"t":"X","s":1234567890123456,"op":0,"d":{}}',
      '{"t":"a b","s":1,"op":0,"d":{}}',
      '{ "t": "X", "s": 2, "op": 0, "d": {} }',
      '{"t":"X","op":0,"s":3,"d":{}}',
      '{"t":"A\\"B","s":1,"op":0,"d":{}}',
    ]) {
      const want = expected(JSON.parse(text));
      const got = readEnvelopeHead(Buffer.from(text));
      if (got !== null) assert.deepEqual(got, want, text);
    }
    assert.deepEqual(readEnvelopeHead(Buffer.from('{"t":"a b","s":1,"op":0,"d":{}}')), {
      op: 0,
      s: 1,
      t: 'a b',
    });
  });
});
