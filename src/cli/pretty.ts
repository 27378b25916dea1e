/**
 * The `pretty` output of `dusk listen`: a live view of the shards for a person at a terminal.
 *
 * Rendering is kept apart from drawing so it can be tested without a terminal: `renderView` turns a
 * `ViewState` (each shard's status, latency, event rate and last event, plus how far startup has got)
 * into lines, and `formatEvent` turns a dispatch into one readable line. `LiveView` owns the
 * terminal: about four times a second it moves the cursor back over the table it drew last time,
 * prints the event lines that arrived meanwhile (so they scroll away above the table), and draws the
 * table again. Events are capped per frame, because a person cannot read thousands of lines a second
 * and a terminal that cannot keep up would slow the shards down. Off a terminal there is no cursor to
 * move, so the view degrades to one line per event and per state change.
 *
 * Only Node built-ins and ANSI escapes: no dependency for a status table.
 */
import type { Dispatch, ShardStatus } from '../index.js';

export interface ShardView {
  readonly id: number;
  readonly status: ShardStatus;
  /** Mean heartbeat round trip in ms, or null before the first ACK. */
  readonly latency: number | null;
  /** Dispatches per second over the last few seconds. */
  readonly rate: number;
  readonly events: number;
  /** Type of the last dispatch and how long ago it arrived (ms). */
  readonly lastEvent: { readonly t: string; readonly ago: number } | null;
  /** While disconnected: ms until the next attempt. */
  readonly reconnectIn: number | null;
  /** Close code when fatally closed. */
  readonly errorCode: number | null;
}

export interface StartupProgress {
  readonly ready: number;
  readonly total: number;
  /** Shards queued for an IDENTIFY slot. */
  readonly waiting: number;
  /** ms until the next queued IDENTIFY is released, or null when none is queued. */
  readonly nextBucketIn: number | null;
  /** ms until the daily session start limit resets, when the queue is holding for it. */
  readonly startLimitResetIn: number | null;
}

export interface ViewState {
  readonly shards: readonly ShardView[];
  readonly progress: StartupProgress;
  readonly totalEvents: number;
  readonly totalRate: number;
  /** Seconds since start. */
  readonly uptime: number;
}

export interface RenderOptions {
  /** Terminal columns: every line is cut to fit, so the table never wraps and redraws stay aligned. */
  readonly width: number;
  /** Table rows available for shards; the rest are summarized in one line. */
  readonly maxRows: number;
  readonly color: boolean;
}

// ---- text helpers ----------------------------------------------------------------------------

const ESC = '\x1b[';
const CODES = {
  bold: '1',
  dim: '2',
  red: '31',
  green: '32',
  yellow: '33',
  blue: '34',
  magenta: '35',
  cyan: '36',
};
type Style = keyof typeof CODES;

function paint(text: string, style: Style, color: boolean): string {
  return color ? `${ESC}${CODES[style]}m${text}${ESC}0m` : text;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences start with ESC.
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the same, anchored where it is tried.
const ANSI_AT = /\x1b\[[0-9;?]*[A-Za-z]/y;

/** Visible width of a line (escape sequences take no room). */
export function visibleLength(text: string): number {
  return text.replace(ANSI, '').length;
}

/** Cuts `text` to `width` visible characters, keeping escape sequences intact and resetting style. */
export function fit(text: string, width: number): string {
  if (visibleLength(text) <= width) return text;
  let out = '';
  let shown = 0;
  for (let i = 0; i < text.length && shown < width - 1; ) {
    ANSI_AT.lastIndex = i;
    const m = text[i] === '\x1b' ? ANSI_AT.exec(text) : null;
    if (m) {
      out += m[0];
      i += m[0].length;
    } else {
      out += text[i];
      shown++;
      i++;
    }
  }
  return `${out}…${text.includes('\x1b') ? `${ESC}0m` : ''}`;
}

function pad(text: string, width: number, right = false): string {
  const gap = Math.max(0, width - visibleLength(text));
  return right ? ' '.repeat(gap) + text : text + ' '.repeat(gap);
}

/** "3.2 s", "850 ms", "2 min". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function rate(perSecond: number): string {
  if (perSecond >= 10_000) return `${Math.round(perSecond / 1000)}k/s`;
  if (perSecond >= 100) return `${Math.round(perSecond)}/s`;
  return `${perSecond.toFixed(1)}/s`;
}

const STATUS_STYLE: Record<ShardStatus, Style> = {
  idle: 'dim',
  connecting: 'yellow',
  identifying: 'yellow',
  resuming: 'yellow',
  active: 'green',
  disconnected: 'magenta',
  'fatally-closed': 'red',
  closed: 'dim',
};

// ---- rendering -------------------------------------------------------------------------------

/** The startup line: "12/64 ready, 4 waiting to identify, next bucket in 3.2 s". */
export function progressLine(p: StartupProgress): string {
  const parts = [`${p.ready}/${p.total} ready`];
  if (p.waiting > 0) parts.push(`${p.waiting} waiting to identify`);
  if (p.startLimitResetIn !== null) {
    parts.push(`daily session starts used up, identifying again in ${duration(p.startLimitResetIn)}`);
  } else if (p.nextBucketIn !== null) {
    parts.push(p.nextBucketIn > 0 ? `next bucket in ${duration(p.nextBucketIn)}` : 'identifying now');
  }
  return parts.join(', ');
}

function statusCell(s: ShardView): string {
  if (s.status === 'disconnected' && s.reconnectIn !== null) return `retry in ${duration(s.reconnectIn)}`;
  if (s.status === 'fatally-closed' && s.errorCode !== null) return `fatal ${s.errorCode}`;
  return s.status;
}

/** The table and its header, as lines no wider than `options.width`. */
export function renderView(state: ViewState, options: RenderOptions): string[] {
  const { color, width } = options;
  const p = state.progress;
  const head = [
    paint('dusk', 'bold', color),
    progressLine(p),
    `${state.totalEvents.toLocaleString('en-US')} events`,
    rate(state.totalRate),
    `up ${duration(state.uptime * 1000)}`,
  ].join(paint(' · ', 'dim', color));
  const lines = [head];
  const header = `${pad('shard', 7)}${pad('state', 18)}${pad('latency', 9, true)}${pad('events/s', 10, true)}${pad('events', 10, true)}  last event`;
  lines.push(paint(header, 'dim', color));
  const rows = state.shards.length > options.maxRows ? Math.max(1, options.maxRows - 1) : state.shards.length;
  for (const s of state.shards.slice(0, rows)) {
    const latency = s.latency === null ? '–' : `${Math.round(s.latency)} ms`;
    const last = s.lastEvent
      ? `${s.lastEvent.t} ${paint(`${duration(s.lastEvent.ago)} ago`, 'dim', color)}`
      : '–';
    lines.push(
      `${pad(`#${s.id}`, 7)}${pad(paint(statusCell(s), STATUS_STYLE[s.status], color), 18)}` +
        `${pad(latency, 9, true)}${pad(rate(s.rate), 10, true)}${pad(s.events.toLocaleString('en-US'), 10, true)}  ${last}`,
    );
  }
  const rest = state.shards.slice(rows);
  if (rest.length > 0) {
    const counts = new Map<string, number>();
    for (const s of rest) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
    const summary = [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
    lines.push(paint(`… ${rest.length} more shards: ${summary}`, 'dim', color));
  }
  return lines.map((line) => fit(line, width));
}

// ---- events ----------------------------------------------------------------------------------

type Obj = Record<string, unknown>;

function str(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '?';
}

function userName(user: unknown): string {
  const u = user as Obj | undefined;
  return str(u?.global_name ?? u?.username ?? u?.id);
}

function oneLine(text: unknown, max = 100): string {
  const s = String(text ?? '').replace(/\s+/g, ' ');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** What happened, in words, for the dispatch types a bot sees most; the guild id for the rest. */
export function describeEvent(e: Pick<Dispatch, 't' | 'd'>): string {
  const d = (e.d ?? {}) as Obj;
  const where = d.channel_id ? ` in ${str(d.channel_id)}` : '';
  switch (e.t) {
    case 'READY':
      return `session ${str(d.session_id)}, ${(d.guilds as unknown[] | undefined)?.length ?? 0} guilds`;
    case 'RESUMED':
      return 'session resumed';
    case 'GUILD_CREATE':
      return `${str(d.name)} (${str(d.member_count)} members)`;
    case 'MESSAGE_CREATE': {
      const content = d.content === '' ? '(no content: needs MESSAGE_CONTENT)' : oneLine(d.content);
      return `${userName(d.author)}${where}: ${content}`;
    }
    case 'MESSAGE_UPDATE':
      return `message ${str(d.id)} edited${where}`;
    case 'MESSAGE_DELETE':
      return `message ${str(d.id)} deleted${where}`;
    case 'MESSAGE_REACTION_ADD':
    case 'MESSAGE_REACTION_REMOVE': {
      const emoji = (d.emoji as Obj | undefined)?.name;
      return `${str(d.user_id)} ${e.t.endsWith('ADD') ? 'reacted' : 'unreacted'} ${str(emoji)} on ${str(d.message_id)}`;
    }
    case 'TYPING_START':
      return `${str(d.user_id)} is typing${where}`;
    case 'PRESENCE_UPDATE':
      return `${str((d.user as Obj | undefined)?.id)} is ${str(d.status)}`;
    case 'GUILD_MEMBER_ADD':
      return `${userName(d.user)} joined ${str(d.guild_id)}`;
    case 'GUILD_MEMBER_REMOVE':
      return `${userName(d.user)} left ${str(d.guild_id)}`;
    case 'GUILD_MEMBER_UPDATE':
      return `${userName(d.user)} updated in ${str(d.guild_id)}`;
    case 'VOICE_STATE_UPDATE':
      return d.channel_id
        ? `${str(d.user_id)} in voice ${str(d.channel_id)}`
        : `${str(d.user_id)} left voice`;
    case 'INTERACTION_CREATE':
      return `${str((d.data as Obj | undefined)?.name ?? d.type)} by ${userName((d.member as Obj | undefined)?.user ?? d.user)}`;
    case 'CHANNEL_UPDATE':
      return `#${str(d.name)} updated`;
    default:
      return d.guild_id ? `guild ${str(d.guild_id)}` : '';
  }
}

/** "12:03:04.123  #0  MESSAGE_CREATE        alice in 123: hello" */
export function formatEvent(e: Dispatch, color: boolean, now = new Date()): string {
  const time = paint(now.toISOString().slice(11, 23), 'dim', color);
  const shard = paint(pad(`#${e.shardId}`, 4), 'cyan', color);
  const type = paint(pad(e.t, 22), e.t === 'MESSAGE_CREATE' ? 'bold' : 'blue', color);
  return `${time} ${shard} ${type} ${describeEvent(e)}`;
}

// ---- live drawing ----------------------------------------------------------------------------

/** What LiveView needs of a stream: a TTY's `columns` and `rows` when it has them. */
export interface ViewStream {
  write(text: string): unknown;
  readonly columns?: number;
  readonly rows?: number;
}

export interface LiveViewOptions {
  /** Redraws per second (default 4). */
  fps?: number;
  /** Event lines printed per frame at most; the rest are counted (default 15). */
  maxEventsPerFrame?: number;
  color?: boolean;
}

/**
 * Draws the table in place on a terminal. Event lines queue up between frames and are printed above
 * the table, so the table stays at the bottom of the screen while events scroll by.
 */
export class LiveView {
  readonly #stream: ViewStream;
  readonly #state: () => ViewState;
  readonly #fps: number;
  readonly #maxEvents: number;
  readonly #color: boolean;
  #pending: string[] = [];
  #skipped = 0;
  #drawn = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(stream: ViewStream, state: () => ViewState, options: LiveViewOptions = {}) {
    this.#stream = stream;
    this.#state = state;
    this.#fps = options.fps ?? 4;
    this.#maxEvents = options.maxEventsPerFrame ?? 15;
    this.#color = options.color ?? true;
  }

  get color(): boolean {
    return this.#color;
  }

  start(): void {
    this.#stream.write(`${ESC}?25l`); // the cursor would flicker over the table
    this.draw();
    this.#timer = setInterval(() => this.draw(), 1000 / this.#fps);
    this.#timer.unref();
  }

  /** Queues a line to print above the table at the next frame. */
  line(text: string): void {
    if (this.#pending.length < this.#maxEvents) this.#pending.push(text);
    else this.#skipped++;
  }

  /** One frame: erase the last table, print queued lines, draw the table. */
  draw(): void {
    const width = Math.max(20, this.#stream.columns || 100);
    const height = this.#stream.rows || 40;
    let out = this.#drawn > 0 ? `${ESC}${this.#drawn}A\r${ESC}J` : '';
    for (const line of this.#pending) out += `${fit(line, width)}\n`;
    if (this.#skipped > 0) out += `${paint(`  … and ${this.#skipped} more events`, 'dim', this.#color)}\n`;
    this.#pending = [];
    this.#skipped = 0;
    // Leave room for a few event lines above the table, so events stay visible with many shards.
    const maxRows = Math.max(3, height - 8);
    const table = renderView(this.#state(), { width, maxRows, color: this.#color });
    out += `${table.join('\n')}\n`;
    this.#drawn = table.length;
    this.#stream.write(out);
  }

  /** Draws a last frame (so the final state stays on screen) and gives the cursor back. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.draw();
    this.#stream.write(`${ESC}?25h`);
  }
}

/** Events per second over a sliding window, sampled at each frame rather than per event. */
export class RateMeter {
  readonly #window: number;
  readonly #samples: { at: number; count: number }[] = [];

  constructor(windowMs = 5000) {
    this.#window = windowMs;
  }

  /** Records the running total `count` at time `now` and returns the rate over the window. */
  sample(now: number, count: number): number {
    this.#samples.push({ at: now, count });
    while (this.#samples.length > 2 && now - this.#samples[1]!.at >= this.#window) this.#samples.shift();
    const first = this.#samples[0]!;
    const elapsed = now - first.at;
    return elapsed > 0 ? ((count - first.count) * 1000) / elapsed : 0;
  }
}
