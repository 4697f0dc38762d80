/**
 * `npm run bench`: runs every scenario of issue #5, ours and its baseline side by side in this
 * run, medians over repeats with their spread (min–max), and prints one table (ours | spread |
 * baseline | spread | gain | target met?). The results also go to bench/results/latest.json
 * (`oursSpread`, `baselineSpread`: min, median, max, n) with the machine they were measured on.
 *
 *   tsx bench/run.ts [--quick] [--only 1,3] [--repeats N]
 *
 * --quick: one repeat, shorter windows, smaller Drive files (a few minutes).
 * --only:  scenario numbers to run (1 and 3 share our stream runs).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { scenarioApplyInSimulatedGcp } from './cloud/apply-in-simulated-gcp.ts';
import { type BenchRow, gain } from './lib/row.ts';
import type { Spread } from './lib/stats.ts';
import {
  type BenchConfig,
  measureOursStreams,
  type StreamFigures,
  scenarioDrive,
  scenarioIdle,
  scenarioLightning,
  scenarioScaling,
  scenarioStartup,
  scenarioState,
  scenarioSynth,
} from './scenarios.ts';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const quick = process.argv.includes('--quick');
const only = new Set((argValue('--only') ?? '1,2,3,4,5,6,7,8').split(',').map((x) => Number(x.trim())));
const repeats = Number(argValue('--repeats') ?? (quick ? 1 : 3));
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)}s`;
const cfg: BenchConfig = { quick, repeats, log: (line) => process.stderr.write(`[${elapsed()}] ${line}\n`) };

const rows: BenchRow[] = [];
async function scenario(n: number, title: string, fn: () => Promise<BenchRow[]>): Promise<void> {
  if (!only.has(n)) return;
  cfg.log(`scenario ${n}: ${title}`);
  try {
    rows.push(...(await fn()));
  } catch (err) {
    // A broken scenario is reported as such; the others still run.
    rows.push({
      scenario: `${n} ${title}`,
      ours: Number.NaN,
      baseline: Number.NaN,
      unit: '',
      higherIsBetter: true,
      note: `FAILED: ${(err as Error).message.split('\n')[0]}`,
    });
    cfg.log(`scenario ${n} failed: ${(err as Error).stack ?? err}`);
  }
}

let streams: StreamFigures | undefined;
const oursStreams = async () => {
  streams ??= await measureOursStreams(cfg, [1, 10, 100]);
  return streams;
};

await scenario(1, 'state throughput and latency', async () => scenarioState(cfg, await oursStreams()));
await scenario(2, 'idle cost', () => scenarioIdle(cfg, [10, 100]));
await scenario(3, 'Lightning Apps side by side', async () => scenarioLightning(cfg, await oursStreams()));
await scenario(4, 'start-up', () => scenarioStartup(cfg));
await scenario(5, 'synthesis', () => scenarioSynth(cfg));
await scenario(6, 'Drive and Paths', () => scenarioDrive(cfg));
// Root, nftables and terraform: a machine without them gets a FAILED row saying why.
await scenario(7, 'terraform apply in simulated GCP', () =>
  scenarioApplyInSimulatedGcp(quick ? 1 : Math.min(repeats, 2), cfg.log),
);

await scenario(8, 'scaling with the number of works', () => scenarioScaling(cfg));

// ---- the table ----

function num(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(a >= 1 ? 2 : 3);
}

/** `min–max` over the repeats, or '' for a single measurement. */
function range(s: Spread | undefined): string {
  return s && s.n > 1 ? `${num(s.min)}–${num(s.max)}` : '';
}

const table = rows.map((r) => {
  const g = gain(r);
  return {
    scenario: r.scenario,
    ours: `${num(r.ours)} ${r.unit}`.trim(),
    oursRange: range(r.oursSpread),
    baseline: `${num(r.baseline)} ${Number.isFinite(r.baseline) ? r.unit : ''}`.trim(),
    baselineRange: range(r.baselineSpread),
    gain: Number.isFinite(g) ? `${g >= 10 ? g.toFixed(0) : g.toFixed(2)}×` : '—',
    target: r.target ? `${r.target}: ${r.met ? 'met' : 'MISSED'}` : '',
  };
});
const header = {
  scenario: 'scenario',
  ours: 'ours (median)',
  oursRange: 'ours min–max',
  baseline: 'baseline (median)',
  baselineRange: 'baseline min–max',
  gain: 'gain',
  target: 'target',
};
const widths = Object.fromEntries(
  Object.keys(header).map((k) => [
    k,
    Math.max(...[header, ...table].map((r) => r[k as keyof typeof header].length)),
  ]),
) as Record<keyof typeof header, number>;
const line = (r: typeof header) =>
  `| ${r.scenario.padEnd(widths.scenario)} | ${r.ours.padStart(widths.ours)} | ${r.oursRange.padStart(widths.oursRange)} | ${r.baseline.padStart(widths.baseline)} | ${r.baselineRange.padStart(widths.baselineRange)} | ${r.gain.padStart(widths.gain)} | ${r.target.padEnd(widths.target)} |`;
const leftAligned = new Set(['scenario', 'target']);
const out = [
  line(header),
  `|${Object.entries(widths)
    .map(([k, w]) => (leftAligned.has(k) ? `-${'-'.repeat(w)}-` : `-${'-'.repeat(w)}:`))
    .join('|')}|`,
  ...table.map(line),
].join('\n');

const cpu = cpus();
const machine = `${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
console.log(
  `\nlightning-local benchmarks (${quick ? 'quick' : 'full'}, median and min–max of ${repeats} repeats where a row has them; gain = how many times better ours is, from the medians)`,
);
console.log(`${machine}; took ${elapsed()}\n`);
console.log(out);
const notes = rows.filter((r) => r.note);
if (notes.length) {
  console.log('\nNotes:');
  for (const r of notes) console.log(`- ${r.scenario}: ${r.note}`);
}

const resultsDir = join(import.meta.dirname, 'results');
mkdirSync(resultsDir, { recursive: true });
writeFileSync(
  join(resultsDir, 'latest.json'),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      machine,
      quick,
      repeats,
      seconds: Math.round((performance.now() - started) / 1000),
      rows: rows.map((r) => ({ ...r, gain: gain(r) })),
    },
    (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v),
    2,
  )}\n`,
);
console.log(`\nresults: bench/results/latest.json`);
