/**
 * A gateway session as a plain value, and where to keep it.
 *
 * Everything needed to RESUME — session id, last sequence, resume URL, and the shard tuple the
 * session was identified with — fits in a small JSON object. Keeping it outside the process lets a
 * restarted bot resume where it stopped: Discord replays what happened meanwhile and the bot misses
 * nothing, without spending one of its daily session starts. The token is deliberately not part of
 * the session, so a saved session file is not a credential.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface SessionInfo {
  readonly sessionId: string;
  /** The last dispatch sequence number received. */
  readonly sequence: number;
  /** `resume_gateway_url` from READY, without query parameters. */
  readonly resumeUrl: string;
  readonly shardId: number;
  readonly shardCount: number;
}

/** A ws:// or wss:// URL without a fragment (a websocket URL cannot have one): where a gateway connection can go. */
export function isGatewayUrl(value: unknown): value is string {
  if (typeof value !== 'string' || !URL.canParse(value)) return false;
  const { protocol, hash } = new URL(value);
  return (protocol === 'ws:' || protocol === 'wss:') && hash === '';
}

export function isSessionInfo(value: unknown): value is SessionInfo {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.sessionId === 'string' &&
    Number.isInteger(v.sequence) &&
    isGatewayUrl(v.resumeUrl) &&
    Number.isInteger(v.shardId) &&
    Number.isInteger(v.shardCount)
  );
}

/** Where sessions live between processes. Implementations may be sync or async. */
export interface SessionStore {
  get(shardId: number): SessionInfo | undefined | Promise<SessionInfo | undefined>;
  /** `null` deletes: the session ended and must not be resumed. */
  set(shardId: number, session: SessionInfo | null): void | Promise<void>;
}

export class MemorySessionStore implements SessionStore {
  readonly sessions = new Map<number, SessionInfo>();

  get(shardId: number): SessionInfo | undefined {
    return this.sessions.get(shardId);
  }

  set(shardId: number, session: SessionInfo | null): void {
    if (session) this.sessions.set(shardId, session);
    else this.sessions.delete(shardId);
  }
}

/**
 * Sessions of many shards in one JSON file, written atomically (temporary file, then rename) so a
 * crash mid-write never leaves a truncated file. Writes are serialized; reads hit the cache.
 */
export class FileSessionStore implements SessionStore {
  readonly path: string;
  /** The cache, as one shared read: concurrent first calls must all get the same map. */
  #cache: Promise<Map<number, SessionInfo>> | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  #load(): Promise<Map<number, SessionInfo>> {
    this.#cache ??= this.#read().catch((error: unknown) => {
      this.#cache = undefined; // let a later call try again
      throw error;
    });
    return this.#cache;
  }

  async #read(): Promise<Map<number, SessionInfo>> {
    const map = new Map<number, SessionInfo>();
    let text: string | undefined;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new Error(`session file ${this.path} is not valid JSON`);
      }
      const list = (parsed as { sessions?: unknown })?.sessions;
      if (!Array.isArray(list)) throw new Error(`session file ${this.path} has no "sessions" array`);
      for (const s of list) if (isSessionInfo(s)) map.set(s.shardId, s);
    }
    return map;
  }

  async get(shardId: number): Promise<SessionInfo | undefined> {
    return (await this.#load()).get(shardId);
  }

  async set(shardId: number, session: SessionInfo | null): Promise<void> {
    const map = await this.#load();
    if (session) map.set(shardId, session);
    else map.delete(shardId);
    const body = JSON.stringify(
      { sessions: [...map.values()].sort((a, b) => a.shardId - b.shardId) },
      null,
      2,
    );
    const write = async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, body + '\n');
      await rename(tmp, this.path);
    };
    this.#writing = this.#writing.then(write, write);
    return this.#writing;
  }

  /** Every stored session (for tools that inspect the file). */
  async all(): Promise<SessionInfo[]> {
    return [...(await this.#load()).values()];
  }
}
