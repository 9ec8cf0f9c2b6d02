/**
 * `npm run bench [-- options]`: runs the benchmarks one after the other and prints their
 * figures, then a summary table. Figures are from a single run; nothing is asserted.
 *
 *   --only <name[,name]>  run only these benchmarks (see --list)
 *   --steps N             denoising steps (default 4)
 *   --size N              image side in pixels, multiple of 16 (default 256)
 *   --seed N              noise / embedding seed (default 1234)
 *   --keep                keep temporary folders
 *   --list                list the benchmarks and exit
 */
import { arch, cpus, platform, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import type { Bench, BenchOptions, BenchSummary } from './bench.ts';
import { browserBench } from './browser-bench.ts';
import { downloadFaultsBench } from './download-faults.ts';
import { fullScaleBench } from './full-scale.ts';
import { fullWidthBench } from './full-width.ts';
import { gpuKitBench } from './gpu-kit-size.ts';
import { memoryPlansBench } from './memory-plans.ts';
import { hubImportBench } from './hub-import.ts';
import { packageBench } from './package-size.ts';
import { t5LayerBench } from './t5-layer.ts';
import { formatBytes, formatMs, table } from './measure.ts';

/** Every benchmark, in the order they run. Add new ones here (each in its own file). */
const BENCHES: Bench[] = [fullWidthBench, t5LayerBench, browserBench, downloadFaultsBench, gpuKitBench, packageBench, hubImportBench, memoryPlansBench, fullScaleBench];

function integer(flag: string, raw: string | undefined, fallback: number, check: (n: number) => boolean): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || !check(n)) {
    console.error(`bench: ${flag} ${raw} is not valid`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    only: { type: 'string' },
    steps: { type: 'string' },
    size: { type: 'string' },
    seed: { type: 'string' },
    keep: { type: 'boolean' },
    list: { type: 'boolean' },
  },
  strict: true,
});

if (values.list) {
  for (const b of BENCHES) console.log(`${b.name.padEnd(16)} ${b.description}${b.onlyWhenNamed ? ' (only with --only)' : ''}`);
  process.exit(0);
}

const wanted = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
const unknown = wanted?.filter((name) => !BENCHES.some((b) => b.name === name)) ?? [];
if (unknown.length) {
  console.error(`bench: unknown benchmark ${unknown.join(', ')} (have: ${BENCHES.map((b) => b.name).join(', ')})`);
  process.exit(2);
}
const selected = wanted ? BENCHES.filter((b) => wanted.includes(b.name)) : BENCHES.filter((b) => !b.onlyWhenNamed);

const options: BenchOptions = {
  steps: integer('--steps', values.steps, 4, (n) => n >= 1 && n <= 50),
  size: integer('--size', values.size, 256, (n) => n >= 16 && n <= 2048 && n % 16 === 0),
  seed: integer('--seed', values.seed, 1234, (n) => n >= 0 && n <= 0xffffffff),
  keep: Boolean(values.keep),
  log: (line = '') => console.log(line),
};

const cpu = cpus();
console.log(`bench: node ${process.version}, ${platform()}/${arch()}, ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, ${formatBytes(totalmem())} memory`);

const summaries: [string, BenchSummary, number][] = [];
let failed = false;
for (const bench of selected) {
  console.log(`\n### ${bench.name}: ${bench.description}\n`);
  const started = performance.now();
  try {
    summaries.push([bench.name, await bench.run(options), performance.now() - started]);
  } catch (error) {
    failed = true;
    console.error(`bench ${bench.name} failed: ${(error as Error).stack ?? error}`);
  }
}

console.log('\n### Summary (one run each; sizes and ratios from this run)\n');
const rows: string[][] = [['bench', 'metric', 'value']];
for (const [name, summary, ms] of summaries) {
  summary.forEach(([metric, value], i) => rows.push([i === 0 ? name : '', metric, value]));
  rows.push(['', 'bench wall time', formatMs(ms)]);
}
console.log(table(rows));
if (failed) process.exit(1);
