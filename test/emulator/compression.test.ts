/**
 * Transport and payload compression as the emulator writes them, checked with decoders that are
 * not dusk's: node:zlib for zlib streams and zstd-napi's own streaming API for zstd.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { constants, inflateRawSync, inflateSync } from 'node:zlib';
import type { Emulator } from '../../src/emulator/index.js';
import { RawClient, startEmulator } from './raw-client.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator();
});
after(() => emu.close());

const endsWithFlush = (b: Buffer) => b.length >= 4 && b.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff]));

/** Decodes a whole zlib-stream connection with node:zlib: the concatenation is one zlib stream. */
function inflateAll(frames: Buffer[]): string {
  return inflateSync(Buffer.concat(frames), { finishFlush: constants.Z_SYNC_FLUSH }).toString();
}

test('zlib-stream: binary frames, a 78 9c header once, every payload ending in 00 00 ff ff, one context', async () => {
  const c = await RawClient.open(emu.gatewayUrl, { v: '10', encoding: 'json' }, 'zlib-stream');
  const ready = await c.ready();
  await emu.burst(ready.d.session_id, 300);
  await c.next(() => c.dispatches().length === emu.session(ready.d.session_id)!.seq);
  assert.ok(c.frames.every((f) => f.binary));
  assert.deepEqual([...c.frames[0]!.data.subarray(0, 2)], [0x78, 0x9c]);
  assert.ok(
    c.frames.slice(1).every((f) => !(f.data[0] === 0x78 && f.data[1] === 0x9c && f.data.length === 2)),
  );
  assert.ok(c.frames.every((f) => endsWithFlush(f.data)));
  const text = inflateAll(c.frames.map((f) => f.data));
  // Every payload decoded by the independent decoder parses to what dusk's inflater produced.
  const payloads = text.split(/(?<=\})(?=\{"t")/).map((p) => JSON.parse(p));
  assert.deepEqual(payloads, c.messages);
  c.close();
});

test('zlib-stream: one window across payloads, as Discord compresses, so a per-message inflater fails', async () => {
  const c = await RawClient.open(emu.gatewayUrl, { v: '10', encoding: 'json' }, 'zlib-stream');
  const ready = await c.ready();
  const session = ready.d.session_id;
  const d = { content: 'the same sentence, again and again, '.repeat(40), nonce: 'n' };
  emu.dispatch('MESSAGE_CREATE', d, { session });
  emu.dispatch('MESSAGE_CREATE', d, { session });
  await c.next(() => c.dispatches().length === emu.session(session)!.seq);
  const [first, second] = c.frames.slice(-2).map((f) => f.data);
  // The repeat is mostly a reference into the window the first one filled.
  assert.ok(
    second!.length * 3 < first!.length,
    `second payload ${second!.length} B, first ${first!.length} B`,
  );
  assert.throws(() =>
    JSON.parse(inflateRawSync(second!, { finishFlush: constants.Z_SYNC_FLUSH }).toString()),
  );
  assert.deepEqual(c.messages.at(-1)!.d, d);
  c.close();
});

test('a prepared burst is built whole and written only when sent, and frames made meanwhile keep stream order', async () => {
  const c = await RawClient.open(emu.gatewayUrl, { v: '10', encoding: 'json' }, 'zlib-stream');
  const ready = await c.ready();
  const session = ready.d.session_id;
  const before = emu.session(session)!.seq;
  // What the emulator had built by the time the client received the burst's first frame.
  let builtAtFirstFrame = -1;
  c.ws.on('message', () => {
    if (builtAtFirstFrame < 0 && c.messages.at(-1)?.s === before + 1)
      builtAtFirstFrame = emu.session(session)!.seq;
  });
  const preparing = emu.prepareBurst(session, 20_000);
  // Answered while the burst is being built: its ACK is compressed between two of the burst's dispatches.
  c.send({ op: 1, d: before });
  const burst = await preparing;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(c.messages.length, before + 1, 'nothing reached the client before send()');
  await burst.send();
  const end = emu.session(session)!.seq;
  await c.next((m) => m.op === 0 && m.s === end);
  await c.next((m) => m.op === 11);
  assert.equal(builtAtFirstFrame, before + 20_000);
  assert.equal(c.error, null, 'one inflate context decoded the whole stream');
  const seqs = c.dispatches().map((m) => m.s);
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => i + 1),
  );
  c.close();
});

test('zlib-stream split mode: a payload spans several messages and no piece but the last ends in the flush marker', async () => {
  const split = await startEmulator({ zlibSplit: 3 });
  const c = await RawClient.open(split.gatewayUrl, { v: '10', encoding: 'json' }, 'zlib-stream');
  const ready = await c.ready();
  assert.ok(c.frames.length > c.messages.length * 2, 'payloads were split');
  assert.ok(c.frames.filter((f) => endsWithFlush(f.data)).length === c.messages.length);
  assert.equal(ready.s, 1);
  c.close();
  await split.close();
});

test('zstd-stream: one frame per payload, the zstd magic first, decodable by one streaming context', async () => {
  const c = await RawClient.open(emu.gatewayUrl, { v: '10', encoding: 'json' }, 'zstd-stream');
  const ready = await c.ready();
  await emu.burst(ready.d.session_id, 200);
  await c.next(() => c.dispatches().length === emu.session(ready.d.session_id)!.seq);
  assert.equal(c.frames.length, c.messages.length);
  assert.deepEqual([...c.frames[0]!.data.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
  const { DCtx } = createRequire(import.meta.url)('zstd-napi/binding.js');
  const ctx = new DCtx();
  const out = Buffer.alloc(1 << 22);
  for (const [i, frame] of c.frames.entries()) {
    const [, produced, consumed] = ctx.decompressStream(out, frame.data);
    assert.equal(consumed, frame.data.length);
    assert.deepEqual(JSON.parse(out.subarray(0, produced).toString()), c.messages[i]);
  }
  c.close();
});

test('payload compression (identify compress: true): large payloads are standalone zlib binary frames', async () => {
  const c = await RawClient.open(emu.gatewayUrl);
  c.identify({ compress: true });
  await new Promise((r) => setTimeout(r, 200));
  const binary = c.frames.filter((f) => f.binary);
  assert.ok(binary.length > 0, 'READY and GUILD_CREATE are over 1 KiB and compressed');
  for (const frame of binary) {
    const payload = JSON.parse(inflateSync(frame.data).toString());
    assert.equal(payload.op, 0);
  }
  assert.ok(c.frames.filter((f) => !f.binary).length > 0, 'small payloads stay text');
  c.close();
});
