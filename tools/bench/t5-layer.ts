/**
 * Issue 3's T5 figure: one T5-XXL encoder layer at the real dimensions (d_model 4096,
 * 64 heads × 64, gated FF 10240, the real 32128-token embedding table), random weights,
 * encoding 256 tokens on onnxruntime-node CPU: time and memory at q4 vs fp32.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomWeights, writeCheckpointComponent } from '../checkpoint-writer.ts';
import { FLUX_SCHNELL_TEXT_ENCODER_2 } from '../../src/convert/flux-schnell-configs.ts';
import { expectedT5Tensors, validateT5Config } from '../../src/convert/t5-graph.ts';
import type { Bench, BenchOptions, BenchSummary } from './bench.ts';
import { formatBytes, formatMs, runMeasured, table } from './measure.ts';

const RUNS = 4;

export const t5LayerBench: Bench = {
  name: 't5-layer',
  description: 'one full-width T5-XXL layer encoding 256 tokens: time and memory, q4 vs fp32',
  async run(options: BenchOptions): Promise<BenchSummary> {
    const dir = mkdtempSync(join(tmpdir(), 'flux-bench-t5-'));
    try {
      const config = { ...FLUX_SCHNELL_TEXT_ENCODER_2, num_layers: 1 };
      options.log('writing a one-layer T5-XXL checkpoint (bf16, real widths and vocabulary)…');
      const checkpoint = join(dir, 'text_encoder_2');
      const written = writeCheckpointComponent(checkpoint, config, expectedT5Tensors(validateT5Config(config, 'bench')), randomWeights(options.seed), { dtype: 'BF16', baseName: 'model' });
      options.log(`  ${formatBytes(written.totalBytes)}`);
      const baseline = await runMeasured('node', ['--import', 'tsx', '-e', 'await import("onnxruntime-node"); console.log(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024 }))']);
      const baselineRss = JSON.parse(baseline.stdout.trim().split('\n').pop()!).maxRssBytes as number;
      const results: Record<string, { buildMs: number; createMs: number; encodeMs: number[]; weightBytes: number; rssAfterLoadBytes: number; maxRssBytes: number }> = {};
      for (const precision of ['fp32', 'q4']) {
        options.log(`building and running ${precision}…`);
        const child = async (...args: string[]) => {
          const run = await runMeasured('node', ['--import', 'tsx', 'tools/bench/t5-child.ts', ...args], { onStderrLine: (l) => options.log(`  | ${l}`) });
          if (run.code !== 0) throw new Error(`t5 child (${args.join(' ')}) failed:\n${run.stderr}`);
          return JSON.parse(run.stdout.trim().split('\n').pop()!);
        };
        const built = await child('build', checkpoint, join(dir, precision), precision);
        results[precision] = { ...built, ...(await child('run', join(dir, precision), String(RUNS))) };
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const row = (label: string, f: (r: (typeof results)[string]) => string) => [label, f(results.fp32), f(results.q4)];
      options.log();
      options.log(`== One T5-XXL layer, 256 tokens, onnxruntime-node CPU (median of the ${RUNS - 1} encodes after the first) ==`);
      options.log(table([
        ['', 'fp32', 'q4'],
        row('weights (embed table + 1 layer)', (r) => formatBytes(r.weightBytes)),
        row('graph build', (r) => formatMs(r.buildMs)),
        row('session creation', (r) => formatMs(r.createMs)),
        row('first encode', (r) => formatMs(r.encodeMs[0])),
        row('encode (median)', (r) => formatMs(median(r.encodeMs.slice(1)))),
        row('RSS after load', (r) => formatBytes(r.rssAfterLoadBytes)),
        row('peak RSS', (r) => formatBytes(r.maxRssBytes)),
        row('peak RSS above baseline', (r) => formatBytes(r.maxRssBytes - baselineRss)),
      ]));
      const ratio = (f: (r: (typeof results)[string]) => number) => `${(f(results.q4) / f(results.fp32)).toFixed(2)}×`;
      options.log(`baseline RSS (node + onnxruntime-node loaded): ${formatBytes(baselineRss)}`);
      return [
        ['q4/fp32 weights', ratio((r) => r.weightBytes)],
        ['q4/fp32 encode time', ratio((r) => median(r.encodeMs.slice(1)))],
        ['q4/fp32 peak RSS', ratio((r) => r.maxRssBytes - baselineRss)],
        ['fp32 encode (1 layer)', formatMs(median(results.fp32.encodeMs.slice(1)))],
        ['q4 encode (1 layer)', formatMs(median(results.q4.encodeMs.slice(1)))],
      ];
    } finally {
      if (!options.keep) rmSync(dir, { recursive: true, force: true });
    }
  },
};
