/**
 * Where a client's time goes: reads a V8 CPU profile (`node --cpu-prof`, written by the client
 * process of a throughput run) and sums self time per function, so a missed target comes with the
 * frames that explain it rather than a guess. Also groups the frames into a few buckets (dusk,
 * @discordjs/ws, ws, JSON.parse, native inflate, GC, idle) to show the shape at a glance.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Frame {
  name: string;
  where: string;
  /** Share of all samples, idle included. */
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Share of samples with the process idle (waiting for the socket). */
  idle: number;
  top: Frame[];
  groups: Record<string, number>;
}

function where(url: string, line: number): string {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const i = path.lastIndexOf('/node_modules/');
  if (i >= 0) return `${path.slice(i + 14)}:${line + 1}`;
  if (path.startsWith('node:')) return `${path}:${line + 1}`;
  // dusk runs compiled by tsc (dist/), whose lines follow the sources closely; the harness runs
  // through tsx, whose line numbers point into generated code: name its file only.
  if (path.includes('/dist/')) return `${path.replace(/^.*\/dist\//, 'dist/')}:${line + 1}`;
  return path.replace(/^.*\/bench\//, 'bench/');
}

/** Where the JavaScript around native decompression lives (dusk's, the floor's and @discordjs/ws's). */
const INFLATER_CODE = ['/dist/zlib-context', '/zlib-sync/', '/zstd-napi/'];

function group(frame: ProfileNode['callFrame']): string {
  const { functionName: fn, url } = frame;
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'program (native, unattributed)';
  if (fn === 'parse' && !url) return 'JSON.parse';
  if (url.includes('/@discordjs/')) return '@discordjs/ws';
  if (url.includes('/node_modules/ws/')) return 'ws';
  const inflaterCode = INFLATER_CODE.some((part) => url.includes(part)) || url === 'node:zlib';
  if (inflaterCode || fn === 'push' || fn === 'decompressStream' || (fn === 'writeSync' && !url))
    return url ? 'inflate wrapper' : 'native (inflate, toString, …)';
  if (url.includes('/dist/')) return 'dusk';
  if (url.includes('/bench/')) return 'bench harness';
  if (url.startsWith('node:')) return 'node core';
  return url ? 'other JS' : 'native (inflate, toString, …)';
}

export function summarizeProfile(profile: CpuProfile, topN = 8): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map<number, number>();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = profile.samples.length || 1;
  const frames = new Map<string, Frame>();
  const groups: Record<string, number> = {};
  for (const [id, hits] of counts) {
    const node = byId.get(id)!;
    const f = node.callFrame;
    const key = `${f.functionName}|${f.url}|${f.lineNumber}`;
    const frame = frames.get(key) ?? {
      name: f.functionName || '(anonymous)',
      where: where(f.url, f.lineNumber),
      share: 0,
    };
    frame.share += hits / total;
    frames.set(key, frame);
    const g = group(f);
    groups[g] = (groups[g] ?? 0) + hits / total;
  }
  return {
    totalMs: (profile.endTime - profile.startTime) / 1000,
    idle: groups.idle ?? 0,
    top: [...frames.values()]
      .filter((f) => f.name !== '(idle)')
      .sort((a, b) => b.share - a.share)
      .slice(0, topN),
    groups,
  };
}

export function summarizeProfileFile(file: string, topN = 8): ProfileSummary {
  return summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, topN);
}

export function formatProfile(s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const busy = Object.entries(s.groups)
    .filter(([g]) => g !== 'idle')
    .sort((a, b) => b[1] - a[1])
    .map(([g, v]) => `${g} ${pct(v)}`)
    .join(', ');
  const top = s.top.map(
    (f) => `    ${pct(f.share).padStart(6)}  ${f.name}${f.where ? `  (${f.where})` : ''}`,
  );
  return [`  samples by area (idle ${pct(s.idle)}): ${busy}`, '  top self-time frames:', ...top].join('\n');
}
