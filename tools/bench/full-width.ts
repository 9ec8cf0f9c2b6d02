/**
 * Full-width smoke bench: a checkpoint with FLUX.1 [schnell]'s real dimensions (1 double
 * + 1 single block, real VAE decoder, random bf16 weights) → q4 package in a child
 * process (peak RSS, time, file sizes) → one image on onnxruntime-node CPU (session
 * creation, time per step split by shard, VAE decode, time outside session.run).
 * Figures come from this one run; nothing is asserted.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { blockShards, graphByRole, type GraphEntry, type Manifest } from '../../src/package/manifest.ts';
import { runFluxPipeline } from '../../src/pipeline/flux-pipeline.ts';
import { torchRandn } from '../../src/pipeline/randn.ts';
import { openNodeRuntime } from '../node-runtime.ts';
import type { Bench, BenchOptions, BenchSummary } from './bench.ts';
import { writeFullWidthCheckpoint, FULL_WIDTH_TRANSFORMER_CONFIG } from './full-width-checkpoint.ts';
import { dirSize, formatBytes, formatMs, formatPercent, runMeasured, table, timedRuntime } from './measure.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(HERE, '..', '..');
const TEXT_TOKENS = 256;
/** Transformer checkpoint shard size, like the published repos' ~5–10 GB shards scaled down. */
const CHECKPOINT_SHARD_BYTES = 512 * 2 ** 20;

function shortName(graph: GraphEntry): string {
  if (graph.role === 'transformer-embed') return 'embed';
  if (graph.role === 'transformer-head') return 'head';
  if (graph.role === 'vae-decoder') return 'vae';
  return graph.name.replace(/^transformer_blocks_/, 'blocks ');
}

async function run(options: BenchOptions): Promise<BenchSummary> {
  const { log } = options;
  const tmp = mkdtempSync(join(tmpdir(), 'flux-bench-full-width-'));
  const checkpointDir = join(tmp, 'checkpoint');
  const packageDir = join(tmp, 'package');
  // Ctrl-C mid-run: still delete the ~1.6 GB of temporary files.
  const onSignal = () => {
    if (!options.keep) rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  try {
    // 1. Checkpoint
    log(`temp folder ${tmp}`);
    log('writing the full-width checkpoint (random bf16 weights)…');
    let t0 = performance.now();
    const ckpt = writeFullWidthCheckpoint(checkpointDir, { seed: options.seed, maxShardBytes: CHECKPOINT_SHARD_BYTES });
    const writeMs = performance.now() - t0;
    const checkpointBytes = dirSize(checkpointDir);
    log(`  ${ckpt.tensorCount} tensors, ${formatBytes(checkpointBytes)} in ${formatMs(writeMs)}`);

    // 2. Conversion in a child process
    log('converting to q4 in a child process…');
    const child = await runMeasured(process.execPath, ['--import', 'tsx', join(HERE, 'convert-child.ts'), checkpointDir, packageDir, 'q4'], {
      cwd: REPO_ROOT,
      onStderrLine: (line) => log(`  | ${line}`),
    });
    if (child.code !== 0) throw new Error(`conversion failed (exit ${child.code}):\n${child.stderr.slice(-4000)}`);
    const report = JSON.parse(child.stdout.trim().split('\n').pop()!) as { convertMs: number; maxRssBytes: number };
    const peakRss = child.timePeakRssBytes ?? report.maxRssBytes;
    // The same process with the converter's modules loaded and nothing converted.
    const idle = await runMeasured(process.execPath, ['--import', 'tsx', join(HERE, 'convert-child.ts'), '--baseline'], { cwd: REPO_ROOT });
    const baselineRss = idle.timePeakRssBytes ?? (JSON.parse(idle.stdout.trim().split('\n').pop()!) as { maxRssBytes: number }).maxRssBytes;
    const manifest = JSON.parse(readFileSync(join(packageDir, 'manifest.json'), 'utf8')) as Manifest;
    const packageBytes = dirSize(packageDir);
    const sizeOf = (path: string | null) => (path ? manifest.files.find((f) => f.path === path)?.size ?? 0 : 0);

    log();
    log('== Checkpoint and conversion (q4) ==');
    log(
      table([
        ['', 'value'],
        ['checkpoint on disk', formatBytes(checkpointBytes)],
        ['  transformer (bf16, shards)', `${formatBytes(ckpt.transformerBytes)} in ${ckpt.transformerFiles.length} files + index`],
        ['  vae decoder (bf16)', `${formatBytes(ckpt.vaeBytes)} in ${ckpt.vaeFiles.length} file`],
        ['largest tensor (as float32)', `${formatBytes(ckpt.largest.float32Bytes)}  ${ckpt.largest.name} [${ckpt.largest.shape.join(', ')}]`],
        ['converter peak RSS', `${formatBytes(peakRss)}${child.timePeakRssBytes ? ' (/usr/bin/time -v)' : ' (process.resourceUsage)'}`],
        ['  self-reported maxRSS', formatBytes(report.maxRssBytes)],
        ['  idle baseline (node + tsx + modules)', formatBytes(baselineRss)],
        ['  peak above baseline', `${formatBytes(peakRss - baselineRss)} (${((peakRss - baselineRss) / ckpt.largest.float32Bytes).toFixed(2)}× the largest tensor)`],
        ['peak RSS / checkpoint', `${(peakRss / checkpointBytes).toFixed(2)}×`],
        ['peak RSS / largest tensor', `${(peakRss / ckpt.largest.float32Bytes).toFixed(2)}×`],
        ['conversion time', `${formatMs(report.convertMs)} (child wall ${formatMs(child.wallMs)})`],
        ['package on disk', `${formatBytes(packageBytes)} (${(packageBytes / checkpointBytes).toFixed(2)}× the checkpoint)`],
      ], { leftAlign: true }),
    );
    log();
    log('Package files (from the manifest):');
    log(
      table([
        ['graph', 'role', '.onnx', '.onnx_data', 'weightBytes'],
        ...manifest.graphs.map((g) => [g.name, g.role, formatBytes(sizeOf(g.model)), g.data ? formatBytes(sizeOf(g.data)) : '(none)', formatBytes(g.weightBytes)]),
      ]),
    );
    log();
    log('Requirements:');
    log(
      table([
        ['field', 'value', 'bytes'],
        ...Object.entries(manifest.requirements).map(([k, v]) => [k, typeof v === 'number' ? formatBytes(v) : String(v), typeof v === 'number' ? String(v) : '']),
      ]),
    );

    // 3. One image on onnxruntime-node CPU
    log();
    log(`running ${options.size}×${options.size}, ${options.steps} steps, seed ${options.seed} on onnxruntime-node CPU…`);
    const node = openNodeRuntime(packageDir);
    try {
      const embed = graphByRole(manifest, 'transformer-embed');
      const head = graphByRole(manifest, 'transformer-head');
      const vae = graphByRole(manifest, 'vae-decoder');
      const shards = blockShards(manifest);
      const order = [embed, ...shards, head, vae];
      const creation: [string, number][] = [];
      for (const graph of order) {
        t0 = performance.now();
        await node.session(graph);
        creation.push([shortName(graph), performance.now() - t0]);
      }
      const creationMs = creation.reduce((a, [, ms]) => a + ms, 0);

      const jointDim = FULL_WIDTH_TRANSFORMER_CONFIG.joint_attention_dim;
      const promptEmbeds = torchRandn([1, TEXT_TOKENS, jointDim], options.seed + 1);
      const pooledPromptEmbeds = torchRandn([1, FULL_WIDTH_TRANSFORMER_CONFIG.pooled_projection_dim], options.seed + 2);
      const { runtime, events } = timedRuntime(node);
      const stepEnds: number[] = [];
      const pipelineStart = performance.now();
      const result = await runFluxPipeline(runtime, {
        promptEmbeds,
        pooledPromptEmbeds,
        width: options.size,
        height: options.size,
        steps: options.steps,
        seed: options.seed,
        onProgress: (event) => {
          if (event.stage === 'denoise') stepEnds.push(performance.now());
          if (event.stage === 'denoise') log(`  step ${event.step}/${event.steps} done`);
        },
      });
      const { timings } = result;

      const transformerGraphs = [embed, ...shards, head];
      const stepRows: string[][] = [];
      const stepTotals = { wall: 0, run: 0 };
      const perGraph = new Map<string, number>();
      for (let step = 0; step < stepEnds.length; step++) {
        const begin = step === 0 ? pipelineStart : stepEnds[step - 1];
        const end = stepEnds[step];
        const inStep = events.filter((e) => e.start >= begin && e.end <= end);
        const cells = transformerGraphs.map((g) => {
          const ms = inStep.filter((e) => e.graph === g.name).reduce((a, e) => a + e.end - e.start, 0);
          perGraph.set(g.name, (perGraph.get(g.name) ?? 0) + ms);
          return ms;
        });
        const runMs = cells.reduce((a, b) => a + b, 0);
        const wall = end - begin;
        stepTotals.wall += wall;
        stepTotals.run += runMs;
        stepRows.push([`${step + 1}${step === 0 ? '*' : ''}`, ...cells.map(formatMs), formatMs(runMs), formatMs(wall - runMs), formatMs(wall)]);
      }
      const steps = stepEnds.length;
      const meanCells = transformerGraphs.map((g) => formatMs((perGraph.get(g.name) ?? 0) / steps));
      const vaeRunMs = events.filter((e) => e.graph === vae.name).reduce((a, e) => a + e.end - e.start, 0);
      const outsideMs = timings.totalMs - timings.sessionRunMs;

      log();
      log('== Inference (onnxruntime-node, CPU) ==');
      log('Session creation:');
      log(table([['graph', 'create'], ...creation.map(([name, ms]) => [name, formatMs(ms)]), ['total', formatMs(creationMs)]]));
      log();
      log(`Denoising steps (${options.size}×${options.size}, ${TEXT_TOKENS} text + ${(options.size / 16) ** 2} image tokens):`);
      log(
        table([
          ['step', ...transformerGraphs.map(shortName), 'session.run', 'outside', 'step'],
          ...stepRows,
          ['mean', ...meanCells, formatMs(stepTotals.run / steps), formatMs((stepTotals.wall - stepTotals.run) / steps), formatMs(stepTotals.wall / steps)],
          ['share', ...transformerGraphs.map((g) => formatPercent(perGraph.get(g.name) ?? 0, stepTotals.wall)), formatPercent(stepTotals.run, stepTotals.wall), formatPercent(stepTotals.wall - stepTotals.run, stepTotals.wall), '100.0 %'],
        ]),
      );
      log('  * step 1 also counts the pipeline setup (noise, packing, RoPE tables).');
      log();
      log(
        table([
          ['stage', 'time'],
          ['denoise (all steps)', formatMs(timings.denoiseMs)],
          ['VAE decode', formatMs(timings.decodeMs)],
          ['  of which vae session.run', formatMs(vaeRunMs)],
          ['pipeline total', formatMs(timings.totalMs)],
          ['inside session.run', `${formatMs(timings.sessionRunMs)} (${formatPercent(timings.sessionRunMs, timings.totalMs)})`],
          ['outside session.run', `${formatMs(outsideMs)} (${formatPercent(outsideMs, timings.totalMs)})`],
          ['session creation (separate)', formatMs(creationMs)],
        ], { leftAlign: true }),
      );

      return [
        ['checkpoint on disk', formatBytes(checkpointBytes)],
        ['largest tensor (f32)', formatBytes(ckpt.largest.float32Bytes)],
        ['converter peak RSS', formatBytes(peakRss)],
        ['  idle baseline RSS', formatBytes(baselineRss)],
        ['peak RSS / checkpoint', `${(peakRss / checkpointBytes).toFixed(2)}×`],
        ['peak RSS / largest tensor', `${(peakRss / ckpt.largest.float32Bytes).toFixed(2)}×`],
        ['conversion time', formatMs(report.convertMs)],
        ['package on disk', formatBytes(packageBytes)],
        ['session creation', formatMs(creationMs)],
        [`mean step (${options.size}²)`, formatMs(stepTotals.wall / steps)],
        ['VAE decode', formatMs(timings.decodeMs)],
        ['outside session.run', formatPercent(outsideMs, timings.totalMs)],
        ['checkpoint write', formatMs(writeMs)],
      ];
    } finally {
      await node.release();
    }
  } finally {
    process.off('SIGINT', onSignal);
    if (options.keep) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

export const fullWidthBench: Bench = {
  name: 'full-width',
  description: 'real FLUX widths (1+1 blocks, real VAE decoder): bf16 checkpoint → q4 package (peak RSS) → one image on onnxruntime-node CPU',
  run,
};
