/**
 * A small seeded pseudo-random generator for the emulator's world.
 *
 * Why not Math.random: tests and benchmarks must be reproducible. The same seed has to build the same
 * guilds and produce the same traffic, so a failing run can be replayed exactly and two emulators can
 * be compared event by event. The generator is sfc32 (fast, 128 bits of state, good statistical
 * quality for simulation), seeded through a 32-bit integer hash so that nearby seeds still give
 * unrelated streams.
 *
 * `fork` derives a child stream from the *seed* and a label, not from the current state: guild #17's
 * contents are then the same whether it is built first or after a million events.
 */

/** A 32-bit integer mixer (the finaliser of MurmurHash3); spreads nearby inputs far apart. */
function mix32(x: number): number {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a over a string, so string labels fork as well as numbers. */
function hashLabel(label: string | number): number {
  if (typeof label === 'number') return mix32(Math.floor(label) ^ 0x9e3779b9);
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return mix32(h);
}

const HEX = '0123456789abcdef';

export class Random {
  /** The seed this stream was created from; forks derive from it, never from the running state. */
  readonly seed: number;
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed = 1) {
    this.seed = seed >>> 0;
    this.a = mix32(this.seed ^ 0x243f6a88);
    this.b = mix32(this.seed ^ 0x85a308d3);
    this.c = mix32(this.seed ^ 0x13198a2e);
    this.d = 1;
    // The first outputs of sfc32 are still correlated with the seed; discard them.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A uniform unsigned 32-bit integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    if (max < min) throw new RangeError(`Random.int: max (${max}) is below min (${min})`);
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** A uniform element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Random.pick: empty array');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** `n` lowercase hex characters (session ids, tokens, icon hashes). */
  hex(n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) out += HEX[this.nextUint32() & 15];
    return out;
  }

  /** An independent stream for `label`, determined only by this stream's seed and the label. */
  fork(label: string | number): Random {
    return new Random(mix32(this.seed ^ hashLabel(label)) ^ hashLabel(`${label}:${this.seed}`));
  }
}
