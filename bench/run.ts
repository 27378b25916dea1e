/**
 * `npm run bench`: the whole benchmark suite of the gateway-client issue in one run, dusk side by
 * side with @discordjs/ws 2.0.4 and a no-library floor, on the same emulator traffic.
 *
 * Usage: `npm run bench -- [part …] [--repeat N] [--no-profile]`, where a part is one of
 * emulator, throughput, memory, startup, resume, workers (default: all). Progress goes to stderr;
 * the Markdown tables and the verdict on every target go to stdout; everything measured is written
 * to `.bench-results/latest.json`.
 *
 * dusk is measured as it is published: compiled by tsc into dist/, which `npm run bench` rebuilds
 * first. Run from its sources through tsx, every closure would also carry a `name` property that
 * esbuild's keepNames adds (a property store per closure instance, about 2 KB per idle shard and a
 * defineProperty call per closure created) that no installed copy has; @discordjs/ws runs from its
 * own compiled files too.
 *
 * The emulator runs in this process and every client in its own (bench/client.ts), so on a 2-core
 * machine each side has a core. Throughput runs are repeated (`--repeat`, default 2) and the best
 * run of each configuration is kept, the usual way to keep a background hiccup out of a throughput
 * figure; every run is in the JSON, with how many cores other processes kept busy during it, and a
 * configuration whose best run still shared the machine is retried while the time budget lasts. Where dusk misses a throughput target, that configuration is run
 * once more with the CPU profiler on the client's timed window and the top frames are printed.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientKind, Compress } from './clients.js';
import { measureEmulatorThroughput } from './emulator-throughput.js';
import { type MemoryResult, measureMemory } from './memory.js';
import { formatProfile, type ProfileSummary, summarizeProfileFile } from './profile.js';
import { markdown, type Results, verdicts } from './report.js';
import { measureResume } from './resume.js';
import { measureStartup, protocolLimit } from './startup.js';
import { measureThroughput, type ThroughputResult } from './throughput.js';
import { buildTraffic, largestEvent, type MixName } from './traffic.js';

/** Throughput runs whose machine had more than this many cores busy with other processes are retried. */
const BUSY_MACHINE_CORES = 0.3;
const THROUGHPUT_BUDGET_MS = 175_000;
const PROFILE_DEADLINE_MS = 420_000;
const PARTS = ['emulator', 'throughput', 'memory', 'startup', 'resume', 'workers'] as const;
type Part = (typeof PARTS)[number];

const args = process.argv.slice(2);
const repeatAt = args.indexOf('--repeat');
const repeat = repeatAt >= 0 ? Number(args[repeatAt + 1]) : 2;
const profile = !args.includes('--no-profile');
const named = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--repeat');
for (const a of named) {
  if (!PARTS.includes(a as Part)) {
    console.error(`unknown part "${a}"; choose from ${PARTS.join(', ')}`);
    process.exit(2);
  }
}
const want = (p: Part) => named.length === 0 || named.includes(p);
const log = (message: string) => process.stderr.write(`${message}\n`);
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;

const results: Results = { throughput: [], memory: [], startup: null, resume: [], workers: null };
const allRuns: ThroughputResult[] = [];
const profiles: Record<string, ProfileSummary> = {};
let trafficInfo: Record<string, unknown> = {};

if (want('emulator')) {
  log('emulator: raw push rate to one connection');
  results.emulator = await measureEmulatorThroughput();
}

const traffic = want('throughput') || want('resume') ? await buildTraffic() : null;
if (traffic) {
  trafficInfo = Object.fromEntries(
    Object.values(traffic).map((t) => [
      t.name,
      {
        cycle: t.events.length,
        avgBytes: t.avgBytes,
        wantedPerCycle: t.wantedPerCycle,
        largest: largestEvent(t.events),
      },
    ]),
  );
}

if (want('throughput') && traffic) {
  const plan: [MixName, Compress, ClientKind][] = [];
  for (const mix of ['messages', 'realistic', 'filtered'] as const) {
    for (const c of [null, 'zlib-stream', 'zstd-stream'] as const) {
      for (const client of ['dusk', 'djs', 'floor', 'transport'] as const) {
        if (client === 'djs' && c === 'zstd-stream') continue;
        // The transport floor parses nothing, so its filtered runs would repeat the realistic ones.
        if (client === 'transport' && mix === 'filtered') continue;
        plan.push([mix, c, client]);
      }
    }
  }
  const phaseStart = performance.now();
  const run = async (mix: MixName, c: Compress, client: ClientKind, label: string) => {
    const r = await measureThroughput(traffic[mix], c, client);
    allRuns.push(r);
    log(
      `[${elapsed()}] throughput ${label} ${mix} ${c ?? 'none'} ${client}: ` +
        `${Math.round(r.perSecond).toLocaleString('en')}/s, ${r.cpuMicrosPerEvent.toFixed(2)} µs/event` +
        (r.foreignCores === null ? '' : `, other processes ${r.foreignCores.toFixed(2)} cores`),
    );
  };
  const best = (mix: MixName, c: Compress, client: ClientKind) =>
    allRuns
      .filter((r) => r.mix === mix && r.compress === c && r.client === client)
      .reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
  // Rounds over the whole plan rather than back-to-back repeats, so a slow patch of the machine
  // does not land on every run of one configuration.
  for (let round = 1; round <= repeat; round++) {
    for (const [mix, c, client] of plan) await run(mix, c, client, `${round}/${repeat}`);
  }
  // Other processes on a small machine take whole cores at times; a configuration whose best run
  // still shared the machine gets up to two more tries while the time budget lasts.
  for (let extra = 1; extra <= 2; extra++) {
    for (const [mix, c, client] of plan) {
      if (performance.now() - phaseStart > THROUGHPUT_BUDGET_MS) break;
      if ((best(mix, c, client).foreignCores ?? 0) > BUSY_MACHINE_CORES)
        await run(mix, c, client, `retry ${extra}`);
    }
  }
  for (const [mix, c, client] of plan) results.throughput.push(best(mix, c, client));
}

/**
 * Memory runs per configuration. One run's RSS moves by a few KB per shard with V8's committed heap
 * and the allocator's page returns, for either client, and the 200-shard figure most (its baseline's
 * slack is divided by only 200): each figure is the median of its own runs, so one run's outlier in
 * one row does not stand for the configuration.
 */
const MEMORY_ROUNDS = 3;

function medianRun(runs: MemoryResult[][]): MemoryResult[] {
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const figure = (step: number, key: keyof MemoryResult) => {
    const values = runs.map((run) => run[step]![key]);
    return values[0] === null ? null : median(values as number[]);
  };
  return runs[0]!.map((first, step) => ({
    ...first,
    rssPerShard: figure(step, 'rssPerShard')!,
    heapPerShard: figure(step, 'heapPerShard')!,
    marginalRssPerShard: figure(step, 'marginalRssPerShard'),
    marginalHeapPerShard: figure(step, 'marginalHeapPerShard'),
  }));
}
const memoryRuns: MemoryResult[][] = [];
if (want('memory')) {
  for (const c of [null, 'zlib-stream', 'zstd-stream'] as const) {
    for (const client of ['dusk', 'djs'] as const) {
      if (client === 'djs' && c === 'zstd-stream') continue;
      const runs: MemoryResult[][] = [];
      for (let round = 0; round < MEMORY_ROUNDS; round++) {
        const run = await measureMemory(client, c, [200, 1000]);
        runs.push(run);
        memoryRuns.push(run);
        const [first, last] = [run[0]!, run.at(-1)!];
        log(
          `[${elapsed()}] memory ${c ?? 'none'} ${client} round ${round + 1}: ` +
            `${(first.rssPerShard / 1024).toFixed(1)} KB RSS per shard at ${first.shards}, ` +
            `${(last.rssPerShard / 1024).toFixed(1)} KB at ${last.shards}, growth ${(last.marginalRssPerShard! / 1024).toFixed(1)} KB RSS, ` +
            `${(last.marginalHeapPerShard! / 1024).toFixed(1)} KB heap per shard`,
        );
      }
      results.memory.push(...medianRun(runs));
    }
  }
}

if (want('startup')) {
  const floor = await measureStartup('floor');
  log(
    `[${elapsed()}] startup: one wave of ${floor.maxConcurrency} bare clients READY in ${floor.ms.toFixed(0)} ms`,
  );
  const limitMs = protocolLimit(64, 16, floor.ms);
  const clients = [];
  for (const client of ['dusk', 'djs'] as const) {
    const s = await measureStartup(client);
    clients.push(s);
    log(
      `[${elapsed()}] startup ${client}: ${s.ms.toFixed(0)} ms (limit ${limitMs.toFixed(0)} ms), ${s.refused} refused`,
    );
  }
  results.startup = { floor, limitMs, clients };
}

if (want('resume') && traffic) {
  for (const [client, c] of [
    ['dusk', null],
    ['dusk', 'zlib-stream'],
    ['dusk', 'zstd-stream'],
    ['djs', null],
    ['djs', 'zlib-stream'],
  ] as const) {
    const r = await measureResume(client, c, traffic.messages);
    results.resume.push(r);
    log(
      `[${elapsed()}] resume ${client} ${c ?? 'none'}: ${r.idleMs.toFixed(1)} ms idle, ` +
        `${r.underLoadMs.toFixed(1)} ms under load, ${r.lost} lost, ${r.duplicated} duplicated`,
    );
  }
}

if (want('workers')) {
  // WorkerShardManager and its benchmark (bench/workers.ts) arrived while this suite was written; a
  // failure there leaves the row saying why instead of stopping the suite.
  try {
    const { measureWorkers } = await import('./workers.js');
    const rows = [];
    for (const n of [1, 2]) {
      const w = await measureWorkers(n);
      rows.push(w);
      log(`[${elapsed()}] workers ${n}: ${w.perSecond.toLocaleString('en')} events/s`);
    }
    results.workers = rows;
  } catch (error) {
    results.workers = `not measured: ${(error as Error).message.split('\n')[0]}`;
    log(`[${elapsed()}] workers: ${results.workers}`);
  }
}

const vs = verdicts(results);

if (profile && traffic) {
  const missed = new Map<string, { mix: string; compress: Compress }>();
  for (const v of vs) {
    if (v.met === false && v.config) missed.set(`${v.config.mix} ${v.config.compress ?? 'none'}`, v.config);
  }
  const dir = join(tmpdir(), `dusk-bench-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  for (const [key, config] of missed) {
    // Profiles explain; they are not worth pushing the suite past its time budget.
    if (performance.now() - started > PROFILE_DEADLINE_MS) {
      log(`[${elapsed()}] no time left to profile dusk ${key}`);
      continue;
    }
    const file = join(dir, `${key.replace(' ', '-')}.cpuprofile`);
    await measureThroughput(traffic[config.mix as MixName], config.compress, 'dusk', { profile: file });
    profiles[key] = summarizeProfileFile(file, 8);
    log(`[${elapsed()}] profiled dusk ${key}`);
  }
  rmSync(dir, { recursive: true, force: true });
}

let out = markdown(results, vs);
if (Object.keys(profiles).length) {
  out +=
    "\n\n### Where dusk's time goes where a throughput target is missed\n\n" +
    'V8 CPU profile of the client process over the timed window (sampling every 250 µs, which slows the run; ' +
    'the shares are what matters).\n\n```\n' +
    Object.entries(profiles)
      .map(([k, s]) => `dusk, ${k}:\n${formatProfile(s)}`)
      .join('\n\n') +
    '\n```';
}
const missedCount = vs.filter((v) => v.met === false).length;
const metCount = vs.filter((v) => v.met === true).length;
out += `\n\n${metCount} of ${metCount + missedCount} checks met, ${missedCount} missed. Total time ${elapsed()}.`;
console.log(out);

mkdirSync('.bench-results', { recursive: true });
writeFileSync(
  '.bench-results/latest.json',
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model,
        node: process.version,
        platform: process.platform,
      },
      parts: named.length ? named : PARTS,
      repeat,
      traffic: trafficInfo,
      results,
      throughputRuns: allRuns,
      memoryRuns,
      verdicts: vs,
      profiles,
      markdown: out,
    },
    null,
    2,
  )}\n`,
);
log(`results written to .bench-results/latest.json (${elapsed()})`);
