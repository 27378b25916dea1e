/**
 * A gateway session as a plain value, and where to keep it.
 *
 * Everything needed to RESUME — session id, last sequence, resume URL, and the shard tuple the
 * session was identified with — fits in a small JSON object. Keeping it outside the process lets a
 * restarted bot resume where it stopped: Discord replays what happened meanwhile and the bot misses
 * nothing, without spending one of its daily session starts. The token is deliberately not part of
 * the session, so a saved session file is not a credential; only a digest of it is, to tell which
 * token a session belongs to.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Secret } from '../redact.js';

export interface SessionInfo {
  readonly sessionId: string;
  /** The last dispatch sequence number received. */
  readonly sequence: number;
  /** `resume_gateway_url` from READY, without query parameters. */
  readonly resumeUrl: string;
  readonly shardId: number;
  readonly shardCount: number;
  /**
   * A digest of the token the session was identified with: not the token, and no use as one. A
   * stored session is only resumed with the same token, so a file from another bot or a test run
   * never sends this bot's token to the gateway named in it. Sessions without it are accepted.
   */
  readonly owner?: string;
}

/** The `owner` of sessions identified with `token`: 96 bits of its SHA-256. */
export function tokenOwner(token: Secret): string {
  // 12 bytes encode to exactly 16 characters: no slice keeping the longer string alive.
  return createHash('sha256').update(token.reveal()).digest().subarray(0, 12).toString('base64url');
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
    Number.isInteger(v.shardCount) &&
    (v.owner === undefined || typeof v.owner === 'string')
  );
}

/**
 * Why a stored value cannot be resumed by a shard of `shardCount` whose token has `owner`, or null
 * when it can. A store may hold anything: what it returns is checked before the token goes anywhere.
 */
export function storedSessionProblem(value: unknown, shardCount: number, owner: string): string | null {
  if (!isSessionInfo(value)) return 'is not a session';
  if (value.shardCount !== shardCount) return `is from ${value.shardCount} shards, not ${shardCount}`;
  if (value.owner !== undefined && value.owner !== owner) return 'was identified with another token';
  return null;
}

/** A buffer's count of one shard's events: taken in, handed out, and the oldest still pending. */
export interface Pending {
  readonly pushed: number;
  readonly taken: number;
  /** The sequence of the oldest pending event that has one (looked up only when needed). */
  first(): number | null;
}

/**
 * The sequence a later process must resume a session from, when the shard has received up to
 * `sequence` and some of it may still wait in a buffer: before the oldest pending event, never
 * before `floor` (READY's sequence, which no resume replays, or the one the session was restored
 * at). `sessionFrom` is `pushed` when the session began: events of an earlier session may still be
 * ahead of it in the buffer, and then nothing of this one has been taken.
 */
export function keptSequence(
  sequence: number,
  floor: number,
  sessionFrom: number,
  pending: Pending | null,
): number {
  if (!pending || pending.taken >= pending.pushed) return sequence;
  if (pending.taken < sessionFrom) return floor;
  const first = pending.first();
  return first === null ? sequence : Math.max(floor, Math.min(sequence, first - 1));
}

/**
 * How many of the oldest pending events are of sessions that have ended, all of them when none is
 * current (`sessionFrom` null): no resume brings those again, so even a resumable close delivers
 * them.
 */
export function endedSessionEvents(
  sessionFrom: number | null,
  pending: { readonly pushed: number; readonly taken: number } | null,
): number {
  if (!pending) return 0;
  return Math.max(0, Math.min(sessionFrom ?? pending.pushed, pending.pushed) - pending.taken);
}

/** A filter for `EventQueue.stop` that passes the first `counts.get(shardId)` events of each shard. */
export function oldestOfEach(counts: Map<number, number>): (event: { shardId: number }) => boolean {
  return (event) => {
    const left = counts.get(event.shardId) ?? 0;
    if (left > 0) counts.set(event.shardId, left - 1);
    return left > 0;
  };
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

/** Distinguishes the temporary files of several stores on one path in one process. */
let tmpSerial = 0;

/**
 * Sessions of many shards in one JSON file, written atomically (temporary file, then rename) so a
 * crash mid-write never leaves a truncated file. Writes are serialized, and each reads the file
 * again and lays this store's entries over it: processes that run different shards may share one
 * file (two writing at the same instant can still lose one update, until that shard's next save).
 * A file that is not a session file costs the shards their resume once (get() throws, and a shard
 * then identifies) and is replaced by the next write, rather than turning saving off for good.
 */
export class FileSessionStore implements SessionStore {
  readonly path: string;
  /** The file as first read, for get(): concurrent first calls must all get the same map. */
  #cache: Promise<Map<number, SessionInfo>> | undefined;
  /** The write under way (or the last one). */
  #writing: Promise<void> = Promise.resolve();
  /** The write that will start after it, which every set() until then joins. */
  #next: Promise<void> | null = null;
  /** Every entry this store has set (null: deleted), laid over the file's at each write. */
  readonly #own = new Map<number, SessionInfo | null>();

  constructor(path: string) {
    if (typeof path !== 'string' || path === '') {
      throw new TypeError(`FileSessionStore needs a file path, got ${JSON.stringify(path)}`);
    }
    this.path = path;
  }

  #load(): Promise<Map<number, SessionInfo>> {
    if (!this.#cache) {
      const cache = this.#read().then(({ sessions, problem }) => {
        if (problem) throw new Error(problem);
        return sessions;
      });
      // A failed read is not kept: a later call tries again.
      cache.catch(() => {
        if (this.#cache === cache) this.#cache = undefined;
      });
      this.#cache = cache;
    }
    return this.#cache;
  }

  /** The file's sessions, or none and what is wrong with its content; I/O errors other than a missing file throw. */
  async #read(): Promise<{ sessions: Map<number, SessionInfo>; problem: string | null }> {
    const sessions = new Map<number, SessionInfo>();
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { sessions, problem: null };
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { sessions, problem: `session file ${this.path} is not valid JSON` };
    }
    const list = (parsed as { sessions?: unknown })?.sessions;
    if (!Array.isArray(list))
      return { sessions, problem: `session file ${this.path} has no "sessions" array` };
    for (const s of list) if (isSessionInfo(s)) sessions.set(s.shardId, s);
    return { sessions, problem: null };
  }

  async get(shardId: number): Promise<SessionInfo | undefined> {
    if (this.#own.has(shardId)) return this.#own.get(shardId) ?? undefined;
    return (await this.#load()).get(shardId);
  }

  set(shardId: number, session: SessionInfo | null): Promise<void> {
    this.#own.set(shardId, session);
    // One write serves every set() made before it starts: a thousand shards saving at once cost a
    // write or two, not a thousand reads and writes of the whole file one after another.
    this.#next ??= this.#writing.then(
      () => this.#write(),
      () => this.#write(),
    );
    return this.#next;
  }

  async #write(): Promise<void> {
    this.#writing = this.#next!;
    this.#next = null;
    const list = this.#overlay((await this.#read()).sessions);
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.${++tmpSerial}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ sessions: list }, null, 2)}\n`);
    await rename(tmp, this.path);
  }

  /** Every stored session (for tools that inspect the file). */
  async all(): Promise<SessionInfo[]> {
    return this.#overlay(new Map(await this.#load()));
  }

  /** `sessions` (changed in place) with this store's own entries laid over, sorted by shard. */
  #overlay(sessions: Map<number, SessionInfo>): SessionInfo[] {
    for (const [id, own] of this.#own) {
      if (own) sessions.set(id, own);
      else sessions.delete(id);
    }
    return [...sessions.values()].sort((a, b) => a.shardId - b.shardId);
  }
}
