import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileSessionStore, isSessionInfo, MemorySessionStore, type SessionInfo } from './session.js';

function session(shardId: number, sequence = 42, shardCount = 4): SessionInfo {
  return {
    sessionId: `46518a1bf6912ed649618c831861ab9${shardId}`,
    sequence,
    resumeUrl: 'wss://gateway-us-east1-c.discord.gg',
    shardId,
    shardCount,
  };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dusk-session-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});
let counter = 0;
const freshPath = (name = 'sessions.json') => join(dir, `${counter++}`, name);

describe('isSessionInfo', () => {
  test('accepts a complete session', () => {
    assert.equal(isSessionInfo(session(0)), true);
    assert.equal(isSessionInfo({ ...session(0), extra: 'ignored' }), true);
  });

  test('refuses anything missing or mistyped', () => {
    const good = session(1) as unknown as Record<string, unknown>;
    assert.equal(isSessionInfo(null), false);
    assert.equal(isSessionInfo(undefined), false);
    assert.equal(isSessionInfo('session'), false);
    assert.equal(isSessionInfo([]), false);
    for (const key of Object.keys(good)) {
      const { [key]: _, ...missing } = good;
      assert.equal(isSessionInfo(missing), false, `accepted without ${key}`);
    }
    assert.equal(isSessionInfo({ ...good, sequence: 1.5 }), false);
    assert.equal(isSessionInfo({ ...good, sequence: '42' }), false);
    assert.equal(isSessionInfo({ ...good, sessionId: 5 }), false);
    assert.equal(isSessionInfo({ ...good, resumeUrl: null }), false);
    assert.equal(isSessionInfo({ ...good, shardId: '0' }), false);
    assert.equal(isSessionInfo({ ...good, shardCount: Number.NaN }), false);
  });
});

describe('MemorySessionStore', () => {
  test('set, get, overwrite, delete', () => {
    const store = new MemorySessionStore();
    assert.equal(store.get(0), undefined);
    store.set(0, session(0, 1));
    store.set(1, session(1, 2));
    assert.deepEqual(store.get(0), session(0, 1));
    store.set(0, session(0, 99));
    assert.equal(store.get(0)?.sequence, 99);
    store.set(0, null);
    assert.equal(store.get(0), undefined);
    assert.deepEqual(store.get(1), session(1, 2), 'other shards untouched');
    assert.equal(store.sessions.size, 1);
  });

  test('never holds or prints a token (there is no token field)', () => {
    const store = new MemorySessionStore();
    store.set(0, session(0));
    assert.ok(
      !JSON.stringify([...store.sessions.values()])
        .toLowerCase()
        .includes('token'),
    );
  });
});

describe('FileSessionStore', () => {
  test('a missing file is an empty store, and get() does not create it', async () => {
    const path = freshPath();
    const store = new FileSessionStore(path);
    assert.equal(await store.get(0), undefined);
    assert.deepEqual(await store.all(), []);
    await assert.rejects(readFile(path), { code: 'ENOENT' });
  });

  test('round trip through the file: another store (another process) reads what was written', async () => {
    const path = freshPath();
    const writer = new FileSessionStore(path);
    await writer.set(2, session(2, 1337));
    await writer.set(0, session(0, 7));
    const reader = new FileSessionStore(path);
    assert.deepEqual(await reader.get(2), session(2, 1337));
    assert.deepEqual(await reader.get(0), session(0, 7));
    assert.equal(await reader.get(1), undefined);
    assert.deepEqual((await reader.all()).map((s) => s.shardId).sort(), [0, 2]);
  });

  test('the file is pretty JSON with the sessions sorted by shard, and no token', async () => {
    const path = freshPath();
    const store = new FileSessionStore(path);
    await store.set(3, session(3));
    await store.set(1, session(1));
    const text = await readFile(path, 'utf8');
    assert.ok(text.endsWith('\n'));
    const parsed = JSON.parse(text) as { sessions: SessionInfo[] };
    assert.deepEqual(parsed, { sessions: [session(1), session(3)] });
    assert.ok(!/token/i.test(text));
  });

  test('creates missing parent directories', async () => {
    const path = join(dir, `${counter++}`, 'a', 'b', 'c', 'sessions.json');
    await new FileSessionStore(path).set(0, session(0));
    assert.deepEqual(await new FileSessionStore(path).get(0), session(0));
  });

  test('set(null) deletes the session from the file', async () => {
    const path = freshPath();
    const store = new FileSessionStore(path);
    await store.set(0, session(0));
    await store.set(1, session(1));
    await store.set(0, null);
    assert.equal(await store.get(0), undefined);
    const fresh = new FileSessionStore(path);
    assert.equal(await fresh.get(0), undefined);
    assert.deepEqual(await fresh.get(1), session(1));
  });

  test('atomic writes: no temporary file is left behind, and the file is always complete JSON', async () => {
    const path = freshPath();
    const store = new FileSessionStore(path);
    const writes: Promise<void>[] = [];
    for (let seq = 1; seq <= 50; seq++) writes.push(store.set(seq % 5, session(seq % 5, seq)));
    // While writes are in flight, whatever is on disk parses.
    for (let i = 0; i < 20; i++) {
      try {
        JSON.parse(await readFile(path, 'utf8'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(writes);
    const files = await readdir(join(path, '..'));
    assert.deepEqual(files, ['sessions.json'], 'a temporary file was left behind');
    const final = JSON.parse(await readFile(path, 'utf8')) as { sessions: SessionInfo[] };
    assert.deepEqual(
      final.sessions.map((s) => [s.shardId, s.sequence]),
      [
        [0, 50],
        [1, 46],
        [2, 47],
        [3, 48],
        [4, 49],
      ],
      'serialized writes: the last one wins for every shard',
    );
  });

  test('concurrent first calls on a fresh store lose no session', async () => {
    const path = freshPath();
    const store = new FileSessionStore(path);
    // Several shards become ready at once before the store has read its file.
    await Promise.all([0, 1, 2, 3].map((id) => store.set(id, session(id, id + 10))));
    for (const id of [0, 1, 2, 3])
      assert.deepEqual(await store.get(id), session(id, id + 10), `shard ${id} in memory`);
    const reread = new FileSessionStore(path);
    for (const id of [0, 1, 2, 3])
      assert.deepEqual(await reread.get(id), session(id, id + 10), `shard ${id} on disk`);
  });

  test('a get() racing a set() on a fresh store does not roll the cache back', async () => {
    const path = freshPath();
    await new FileSessionStore(path).set(0, session(0, 1));
    const store = new FileSessionStore(path);
    const [, , got] = await Promise.all([store.get(0), store.set(1, session(1, 5)), store.get(1)]);
    assert.deepEqual(got, session(1, 5));
    await store.set(2, session(2, 9));
    const reread = new FileSessionStore(path);
    assert.deepEqual(await reread.get(0), session(0, 1));
    assert.deepEqual(await reread.get(1), session(1, 5), 'shard 1 was dropped from the file');
    assert.deepEqual(await reread.get(2), session(2, 9));
  });

  test('a corrupt file is a clear error naming the file', async () => {
    const path = freshPath();
    await new FileSessionStore(path).set(0, session(0)); // creates the directory
    await writeFile(path, '{"sessions": [ {"sessionId": "abc", ');
    await assert.rejects(new FileSessionStore(path).get(0), (e: Error) => {
      assert.match(e.message, /not valid JSON/);
      assert.ok(e.message.includes(path));
      return true;
    });
  });

  /** A store on a file that is not JSON, whose first read has just failed. */
  async function corruptStore(): Promise<{ path: string; store: FileSessionStore }> {
    const path = freshPath();
    await new FileSessionStore(path).set(0, session(0)); // creates the directory
    await writeFile(path, 'not json');
    const store = new FileSessionStore(path);
    await assert.rejects(store.get(0), /not valid JSON/);
    return { path, store };
  }

  test('after a corrupt-file error the same store reads the file again once it is fixed', async () => {
    const { path, store } = await corruptStore();
    await writeFile(path, JSON.stringify({ sessions: [session(0, 5)] }));
    assert.equal((await store.get(0))?.sequence, 5);
  });

  test('a corrupt file is replaced by the next write, not left to fail every save', async () => {
    const { path, store } = await corruptStore();
    await store.set(1, session(1));
    assert.deepEqual(await new FileSessionStore(path).all(), [session(1)]);
  });

  test("stores of two processes running different shards keep each other's sessions in one file", async () => {
    const path = freshPath();
    const [a, b] = [new FileSessionStore(path), new FileSessionStore(path)];
    await a.set(0, session(0, 1));
    await b.set(1, session(1, 1));
    await a.set(0, session(0, 2));
    await b.set(1, null);
    await a.set(2, session(2, 3));
    assert.deepEqual(await new FileSessionStore(path).all(), [session(0, 2), session(2, 3)]);
  });

  test('valid JSON without a sessions array is a clear error', async () => {
    for (const body of ['{}', '[]', 'null', '{"sessions": {}}', '42']) {
      const path = freshPath();
      await new FileSessionStore(path).set(0, session(0));
      await writeFile(path, body);
      await assert.rejects(new FileSessionStore(path).get(0), /has no "sessions" array/, body);
    }
  });

  test('malformed entries in the sessions array are skipped, good ones kept', async () => {
    const path = freshPath();
    await new FileSessionStore(path).set(0, session(0));
    await writeFile(path, JSON.stringify({ sessions: [session(0), { shardId: 1 }, null, 'x', session(2)] }));
    const store = new FileSessionStore(path);
    assert.deepEqual(await store.get(0), session(0));
    assert.equal(await store.get(1), undefined);
    assert.deepEqual(await store.get(2), session(2));
  });

  test('reads hit the cache: later edits of the file by others are not seen', async () => {
    const path = freshPath();
    const store = new FileSessionStore(path);
    await store.set(0, session(0, 1));
    await writeFile(path, JSON.stringify({ sessions: [session(0, 999)] }));
    assert.equal((await store.get(0))?.sequence, 1);
  });

  test('a failed write rejects, and the next write still runs', async () => {
    const path = freshPath();
    const store = new FileSessionStore(path);
    await store.set(0, session(0));
    // Make the target a directory so rename() fails.
    await rm(path);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(path, 'blocker'), { recursive: true });
    await assert.rejects(store.set(1, session(1)));
    await rm(path, { recursive: true });
    await store.set(2, session(2));
    const reread = new FileSessionStore(path);
    assert.deepEqual((await reread.all()).map((s) => s.shardId).sort(), [0, 1, 2]);
  });
});
