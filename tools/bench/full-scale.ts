/**
 * `npm run bench -- --only full-scale`: the real-size proof. A random-weight checkpoint
 * with the published FLUX.1 [schnell] configs (19 double + 38 single blocks, T5-XXL,
 * CLIP-L, the real VAE decoder; bf16 in numbered shards with index files, ≈ 34 GB) →
 * q4 package with the CLI (converter peak RSS) → served to headless Chromium and
 * downloaded into IndexedDB (time, Chromium's peak RSS) → under each memory plan
 * (resident, staged, streaming) a fresh browser loads it on WebGPU and generates one
 * small image from random prompt embeddings (predicted and counted GPU bytes, peak RSS,
 * wasm heap, load time) → one real-width double block, one single block and the VAE run
 * at 1024×1024 on their own (activation peaks, counted GPU buffers). Writes
 * `bench-out/full-scale.json`; nothing is asserted.
 *
 * Knobs (environment): FULL_SCALE_BLOCKS="double,single,t5Layers" shrinks the layer
 * counts (widths stay real; the JSON then goes to bench-out/full-scale-<d>-<s>-<t>.json);
 * FULL_SCALE_PLANS="resident,staged,streaming" picks plans; FULL_SCALE_SIZE (default 64),
 * FULL_SCALE_STEPS (default 2), FULL_SCALE_TEXT_TOKENS (default 8); FULL_SCALE_ACTIVATIONS=0
 * skips the 1024² part and FULL_SCALE_ACTIVATION_SIZE runs it at another size (the file name
 * then says so). Disk: the checkpoint is deleted once converted (unless --keep), so
 * the peak is checkpoint + package, then package + the browser's IndexedDB copy.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { blockShards, graphByRole, type GraphEntry, type Manifest } from '../../src/package/manifest.ts';
import { CHROMIUM_ARGS, findChromium, startStaticServer, type StaticServer } from '../../test/browser/harness.ts';
import { FLUX_SCHNELL_TRANSFORMER } from '../../src/convert/flux-schnell-configs.ts';
import type { Bench, BenchOptions, BenchSummary } from './bench.ts';
import { chromiumTree, type ProcessMemory } from './browser-bench.ts';
import { FULL_SCALE, fullScaleShape, writeFullScaleCheckpoint, type FullScaleShape } from './full-scale-checkpoint.ts';
import { writeFullWidthCheckpoint } from './full-width-checkpoint.ts';
import { dirSize, formatBytes, formatMs, runMeasured, table } from './measure.ts';
import type { ActivationResult, ActivationSpec } from './pages/activation-worker.ts';
import type { PageFullDownload, PagePlanRun } from './pages/full-scale-shared.ts';
import type {} from './pages/full-scale-page.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(HERE, '..', '..');
const PLANS = ['resident', 'staged', 'streaming'] as const;
type Plan = (typeof PLANS)[number];
/** Chromium's RSS is read this often while something is measured, ms. */
const RSS_SAMPLE_MS = 250;
/** T5 sequence length of schnell: the text tokens of the 1024² activation runs. */
const ACTIVATION_TEXT_TOKENS = 256;

/** What `bench-out/full-scale.json` holds (see issue 9). */
export interface FullScaleReport {
  package: { bytes: number; files: number; largestFileBytes: number };
  converter: { peakRssBytes: number; checkpointBytes: number };
  download: { seconds: number; browserPeakRssBytes: number };
  plans: Partial<Record<Plan, PlanReport>>;
  activations1024: { doubleBlockPeakBytes: number | null; singleBlockPeakBytes: number | null; vaePeakBytes: number | null };
}

/** One plan's figures; `generated: false` with `error` when it could not run here. */
export interface PlanReport {
  predictedGpuBytes: number | null;
  countedPeakGpuBytes: number | null;
  browserPeakRssBytes: number;
  wasmPeakBytes: number | null;
  loadSeconds: number | null;
  generated: boolean;
  error?: string;
}

function envInteger(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  return n;
}

function envPlans(): Plan[] {
  const raw = process.env.FULL_SCALE_PLANS;
  if (!raw) return [...PLANS];
  const plans = raw.split(',').map((p) => p.trim());
  const bad = plans.filter((p) => !PLANS.includes(p as Plan));
  if (bad.length) throw new Error(`FULL_SCALE_PLANS: unknown plan ${bad.join(', ')} (have ${PLANS.join(', ')})`);
  return plans as Plan[];
}

const treeTotal = (tree: Map<string, ProcessMemory>) => [...tree.values()].reduce((a, m) => a + m.rss, 0);

/** Chromium's RSS over a task: before, the peak of the whole tree and each process kind's own peak. */
async function sampleRss<T>(profileDir: string, task: () => Promise<T>): Promise<{ value: T; base: Map<string, ProcessMemory>; peakTotal: number; peakByKind: Map<string, number>; end: Map<string, ProcessMemory> }> {
  const base = chromiumTree(profileDir);
  let peakTotal = treeTotal(base);
  const peakByKind = new Map([...base].map(([k, m]) => [k, m.rss]));
  const sample = () => {
    const tree = chromiumTree(profileDir);
    peakTotal = Math.max(peakTotal, treeTotal(tree));
    for (const [kind, m] of tree) peakByKind.set(kind, Math.max(peakByKind.get(kind) ?? 0, m.rss));
  };
  const timer = setInterval(sample, RSS_SAMPLE_MS);
  try {
    const value = await task();
    sample();
    return { value, base, peakTotal, peakByKind, end: chromiumTree(profileDir) };
  } finally {
    clearInterval(timer);
  }
}

/** Bundles the bench page and its workers with the library's Vite config into `outDir`. */
async function buildPage(outDir: string): Promise<void> {
  await build({
    configFile: join(REPO_ROOT, 'vite.lib.config.ts'),
    root: REPO_ROOT,
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, rolldownOptions: { input: { 'full-scale-page': join(HERE, 'pages/full-scale-page.ts') } } },
  });
}

/** Converts with the CLI in a child process under /usr/bin/time -v; returns its peak RSS. */
async function convertWithCli(checkpoint: string, out: string, log: (line?: string) => void): Promise<{ peakRssBytes: number; ms: number }> {
  const child = await runMeasured(process.execPath, [join(REPO_ROOT, 'tools/flux-webgpu.mjs'), 'convert', '--checkpoint', checkpoint, '--out', out, '--weights', 'q4'], {
    cwd: REPO_ROOT,
    onStderrLine: (line) => log(`  | ${line}`),
  });
  for (const line of child.stdout.trim().split('\n')) log(`  | ${line}`);
  if (child.code !== 0) throw new Error(`flux-webgpu convert failed (exit ${child.code}):\n${child.stderr.slice(-4000)}`);
  if (child.timePeakRssBytes === undefined) throw new Error('/usr/bin/time is needed to read the converter\'s peak RSS');
  return { peakRssBytes: child.timePeakRssBytes, ms: child.wallMs };
}

/** The external-data location inside a graph file: the data file relative to the graph's folder. */
function dataLocation(graph: GraphEntry): string {
  const folder = graph.model.includes('/') ? graph.model.slice(0, graph.model.lastIndexOf('/') + 1) : '';
  return folder && graph.data!.startsWith(folder) ? graph.data!.slice(folder.length) : graph.data!;
}

/** A block shard holding exactly one double (or single) block, if the package has one. */
function oneBlockShard(manifest: Manifest, kind: 'double' | 'single'): GraphEntry | undefined {
  return blockShards(manifest).find((g) => g.blocks && g.blocks[kind][1] - g.blocks[kind][0] === 1);
}

async function run(options: BenchOptions): Promise<BenchSummary> {
  const { log } = options;
  const shape: FullScaleShape = fullScaleShape();
  const full = shape.doubleBlocks === FULL_SCALE.doubleBlocks && shape.singleBlocks === FULL_SCALE.singleBlocks && shape.t5Layers === FULL_SCALE.t5Layers;
  const plans = envPlans();
  const size = envInteger('FULL_SCALE_SIZE', 64, 16, 2048);
  const steps = envInteger('FULL_SCALE_STEPS', 2, 1, 50);
  const textTokens = envInteger('FULL_SCALE_TEXT_TOKENS', 8, 1, 512);
  const activations = process.env.FULL_SCALE_ACTIVATIONS !== '0';
  // 1024 is what the JSON reports; a smaller size proves the path in minutes (SwiftShader runs
  // a real-width block at 1024² for hours on a busy machine) and names the file after it.
  const activationSize = envInteger('FULL_SCALE_ACTIVATION_SIZE', 1024, 16, 2048);
  if (activationSize % 16 !== 0) throw new Error(`FULL_SCALE_ACTIVATION_SIZE must be a multiple of 16 (got ${activationSize})`);
  const reduced = [full ? '' : `-${shape.doubleBlocks}-${shape.singleBlocks}-${shape.t5Layers}`, activationSize === 1024 ? '' : `-act${activationSize}`].join('');
  const outFile = join(REPO_ROOT, 'bench-out', `full-scale${reduced}.json`);

  const tmp = mkdtempSync(join(tmpdir(), 'flux-bench-full-scale-'));
  const checkpointDir = join(tmp, 'checkpoint');
  const packageDir = join(tmp, 'package');
  const profileDir = join(tmp, 'profile');
  let context: BrowserContext | undefined;
  let server: StaticServer | undefined;
  const shutdown = async () => {
    await Promise.race([Promise.all([context?.close().catch(() => undefined), server?.close().catch(() => undefined)]), new Promise((done) => setTimeout(done, 10_000).unref())]);
    context = undefined;
  };
  let cleanup: Promise<void> | undefined;
  const cleanUpOnce = () =>
    (cleanup ??= shutdown().then(() => {
      if (options.keep) log(`kept ${tmp}`);
      else rmSync(tmp, { recursive: true, force: true, maxRetries: 5 });
    }));
  const onSignal = () => void cleanUpOnce().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  /** A fresh browser on the bench profile (IndexedDB persists across launches), with the page loaded. */
  const openPage = async (): Promise<Page> => {
    await context?.close().catch(() => undefined);
    // --unlimited-storage: this Chromium gives an origin 10 GiB by default (measured here), less than the full package.
    context = await chromium.launchPersistentContext(profileDir, { executablePath: findChromium(), args: [...CHROMIUM_ARGS, '--unlimited-storage'], headless: true, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => log(`  [page error] ${error}`));
    await page.goto(`${server!.origin}/full-scale.html`);
    await page.waitForFunction(() => 'fluxFullScale' in window, null, { timeout: 120_000 });
    return page;
  };

  try {
    log(`scale: ${shape.doubleBlocks} double + ${shape.singleBlocks} single blocks, ${shape.t5Layers} T5 layers${full ? ' (the published model)' : ' (reduced: FULL_SCALE_BLOCKS)'}; plans ${plans.join(', ')}; ${size}×${size}, ${steps} steps, ${textTokens} text tokens`);
    log(`temp folder ${tmp}; ${cpus().length} cores, ${formatBytes(totalmem())} memory (${formatBytes(freemem())} free), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

    // 1. Checkpoint
    log('writing the checkpoint (random bf16 weights)…');
    let t0 = performance.now();
    writeFullScaleCheckpoint(checkpointDir, shape, { seed: options.seed, log });
    const checkpointBytes = dirSize(checkpointDir);
    log(`  ${formatBytes(checkpointBytes)} in ${formatMs(performance.now() - t0)}`);

    // 2. Conversion with the CLI
    log('converting to q4 with the CLI (flux-webgpu convert) in a child process…');
    const converted = await convertWithCli(checkpointDir, packageDir, log);
    log(`  converter peak RSS ${formatBytes(converted.peakRssBytes)}, ${formatMs(converted.ms)}`);
    if (!options.keep) rmSync(checkpointDir, { recursive: true, force: true });
    const manifest = JSON.parse(readFileSync(join(packageDir, 'manifest.json'), 'utf8')) as Manifest;
    const fileSizes = [...manifest.files.map((f) => f.size), readFileSync(join(packageDir, 'manifest.json')).length];
    const packageStats = { bytes: fileSizes.reduce((a, b) => a + b, 0), files: fileSizes.length, largestFileBytes: Math.max(...fileSizes) };
    log(`  package: ${formatBytes(packageStats.bytes)} in ${packageStats.files} files (manifest included), largest ${formatBytes(packageStats.largestFileBytes)}`);

    // 3. Browser: page bundle, server
    t0 = performance.now();
    await buildPage(join(tmp, 'bundle'));
    log(`bundled the bench page and workers in ${formatMs(performance.now() - t0)}`);
    const mounts: Record<string, string> = { '/': join(HERE, 'pages'), '/bundle/': join(tmp, 'bundle'), '/models/full/': packageDir };
    server = await startStaticServer(mounts);
    const packageUrl = `${server.origin}/models/full/`;

    // 4. Download into IndexedDB
    log();
    log(`== download: ${formatBytes(packageStats.bytes)} into IndexedDB (WeightStore.ensureFiles on the page) ==`);
    let page = await openPage();
    const estimate = await page.evaluate(() => window.fluxFullScale.estimate());
    log(`  storage quota ${formatBytes(estimate.quota)}, usage ${formatBytes(estimate.usage)}`);
    const dl = await sampleRss(profileDir, () => page.evaluate(([u, f]) => window.fluxFullScale.download(u, f), [packageUrl, manifest.files] as const) as Promise<PageFullDownload>);
    if (!dl.value.ok) throw new Error(`download failed: ${dl.value.error}`);
    const kinds = [...new Set([...dl.base.keys(), ...dl.peakByKind.keys()])].sort();
    log(
      table([
        ['process', 'RSS before', 'peak', 'peak − before', 'at the end − before'],
        ...kinds.map((k) => [k, formatBytes(dl.base.get(k)?.rss ?? 0), formatBytes(dl.peakByKind.get(k) ?? 0), formatBytes((dl.peakByKind.get(k) ?? 0) - (dl.base.get(k)?.rss ?? 0)), formatBytes((dl.end.get(k)?.rss ?? 0) - (dl.base.get(k)?.rss ?? 0))]),
        ['all (one sample)', formatBytes(treeTotal(dl.base)), formatBytes(dl.peakTotal), formatBytes(dl.peakTotal - treeTotal(dl.base)), formatBytes(treeTotal(dl.end) - treeTotal(dl.base))],
      ]),
    );
    const browserGrowth = (dl.peakByKind.get('browser') ?? 0) - (dl.base.get('browser')?.rss ?? 0);
    log(`  ${formatMs(dl.value.ms)} (${(dl.value.bytes / 1e6 / (dl.value.ms / 1000)).toFixed(1)} MB/s); the browser process grew by at most ${formatBytes(browserGrowth)} (largest file ${formatBytes(packageStats.largestFileBytes)})`);
    const download = { seconds: dl.value.ms / 1000, browserPeakRssBytes: dl.peakTotal };

    // 5. Plans, each in a fresh browser
    const planReports: Partial<Record<Plan, PlanReport>> = {};
    const jointDim = FLUX_SCHNELL_TRANSFORMER.joint_attention_dim;
    const pooledDim = FLUX_SCHNELL_TRANSFORMER.pooled_projection_dim;
    for (const plan of plans) {
      log();
      log(`== plan ${plan}: load and one ${size}×${size} image, ${steps} steps ==`);
      page = await openPage();
      const measured = await sampleRss(profileDir, () =>
        page.evaluate((args) => window.fluxFullScale.runPlan(args), { model: packageUrl, plan, width: size, height: size, steps, seed: options.seed, textTokens, jointDim, pooledDim }) as Promise<PagePlanRun>,
      );
      const r = measured.value;
      // The library falls back to a lighter plan after an out-of-memory failure: that is not this plan generating.
      const ranAs = r.result?.memoryPlan as string | undefined;
      if (r.ok && ranAs !== undefined && ranAs !== plan) {
        r.ok = false;
        r.failedAt = 'generate';
        r.error = `the image was made under the ${ranAs} plan instead (${r.result?.memoryPlanReason ?? 'fallback'})`;
      }
      const predicted = predictedBytes(r.report, plan);
      const counted = typeof r.result?.gpuPeakBytes === 'number' ? (r.result.gpuPeakBytes as number) : (r.stats?.gpuPeakBytes ?? null);
      planReports[plan] = {
        predictedGpuBytes: predicted,
        countedPeakGpuBytes: counted,
        browserPeakRssBytes: measured.peakTotal,
        wasmPeakBytes: r.stats?.wasmBytes ?? null,
        loadSeconds: r.loadSeconds ?? null,
        generated: r.ok,
        ...(r.ok ? {} : { error: `${r.failedAt}: ${r.error}` }),
      };
      log(
        table([
          ['', 'value'],
          ['generated', r.ok ? `yes (${r.imageSize?.join('×')}, ${formatBytes(r.imageBytes ?? 0)})` : `no: failed at ${r.failedAt}: ${r.error}`],
          ['predicted GPU bytes (checkDevice)', predicted === null ? 'not reported' : formatBytes(predicted)],
          ['counted GPU peak (result.gpuPeakBytes)', typeof r.result?.gpuPeakBytes === 'number' ? formatBytes(r.result.gpuPeakBytes as number) : 'not reported'],
          ['counted GPU peak (bench worker)', r.stats ? `${formatBytes(r.stats.gpuPeakBytes)} (${r.stats.buffers.created} buffers, ${r.stats.buffers.destroyed} destroyed, ${r.stats.buffers.collected} collected)` : '?'],
          ['Chromium peak RSS (all processes)', formatBytes(measured.peakTotal)],
          ['  by process', [...measured.peakByKind].map(([k, v]) => `${k} ${formatBytes(v)}`).join(', ')],
          ['wasm heap', r.stats ? formatBytes(r.stats.wasmBytes) : '?'],
          ['load', r.loadSeconds === undefined ? '-' : formatMs(r.loadSeconds * 1000)],
          ['generate', r.generateSeconds === undefined ? '-' : formatMs(r.generateSeconds * 1000)],
          ['result.timings', r.result ? JSON.stringify(r.result.timings) : '-'],
          ['plan that ran (result)', r.result ? `${r.result.memoryPlan ?? '(not reported)'}${r.result.memoryPlanReason ? `: ${r.result.memoryPlanReason}` : ''}` : '-'],
        ], { leftAlign: true }),
      );
    }

    // 6. Activations at 1024²
    const activationPeaks: FullScaleReport['activations1024'] = { doubleBlockPeakBytes: null, singleBlockPeakBytes: null, vaePeakBytes: null };
    if (activations) {
      log();
      log(`== activations at ${activationSize}×${activationSize} (${ACTIVATION_TEXT_TOKENS} text tokens), each graph alone on its own device ==`);
      let actManifest = manifest;
      let actMount = '/models/full/';
      if (!oneBlockShard(manifest, 'double') || !oneBlockShard(manifest, 'single')) {
        log('  the package has no one-block shards: writing and converting the full-width checkpoint (1 double + 1 single block)…');
        const fwDir = join(tmp, 'full-width');
        writeFullWidthCheckpoint(join(fwDir, 'checkpoint'), { seed: options.seed });
        await convertWithCli(join(fwDir, 'checkpoint'), join(fwDir, 'package'), () => undefined);
        rmSync(join(fwDir, 'checkpoint'), { recursive: true, force: true });
        actManifest = JSON.parse(readFileSync(join(fwDir, 'package', 'manifest.json'), 'utf8')) as Manifest;
        await server.close();
        server = await startStaticServer({ ...mounts, '/models/full-width/': join(fwDir, 'package') });
        actMount = '/models/full-width/';
      }
      page = await openPage();
      const base = `${server.origin}${actMount}`;
      const specOf = (graph: GraphEntry): ActivationSpec => ({
        role: graph.role as ActivationSpec['role'],
        modelUrl: base + graph.model,
        dataUrl: graph.data ? base + graph.data : null,
        dataLocation: graph.data ? dataLocation(graph) : '',
        width: activationSize,
        height: activationSize,
        innerDim: FLUX_SCHNELL_TRANSFORMER.num_attention_heads * FLUX_SCHNELL_TRANSFORMER.attention_head_dim,
        textTokens: ACTIVATION_TEXT_TOKENS,
        axesDims: FLUX_SCHNELL_TRANSFORMER.axes_dims_rope,
        latentChannels: 16,
        vaeConfig: actManifest.configs.vae as unknown as ActivationSpec['vaeConfig'],
      });
      const targets: [keyof FullScaleReport['activations1024'], string, GraphEntry][] = [
        ['doubleBlockPeakBytes', 'double block', oneBlockShard(actManifest, 'double')!],
        ['singleBlockPeakBytes', 'single block', oneBlockShard(actManifest, 'single')!],
        ['vaePeakBytes', 'VAE decoder', graphByRole(actManifest, 'vae-decoder')],
      ];
      const rows: string[][] = [['graph', 'weights (GPU)', 'activation peak', 'total peak', 'wasm heap', 'create', 'run', 'buffers']];
      for (const [key, label, graph] of targets) {
        log(`  ${label} (${graph.name})…`);
        const measured = await page.evaluate((spec) => window.fluxFullScale.activation(spec), specOf(graph)) as { ok: boolean; error?: string; result?: ActivationResult };
        if (!measured.ok) {
          log(`    failed: ${measured.error}`);
          rows.push([label, '-', `failed: ${measured.error}`, '', '', '', '', '']);
          continue;
        }
        const a = measured.result!;
        activationPeaks[key] = a.activationPeakBytes;
        rows.push([a.tilePx === undefined ? label : `${label} (${a.tilePx === null ? 'whole' : `${a.tilePx}-px tiles`})`, formatBytes(a.weightsBytes), formatBytes(a.activationPeakBytes), formatBytes(a.totalPeakBytes), formatBytes(a.wasmBytes), formatMs(a.createMs), formatMs(a.runMs), `${a.buffers.created} made, ${a.buffers.destroyed + a.buffers.collected} freed`]);
      }
      log(table(rows));
      log('  activation peak = GPU bytes created during session.run above what the created session held (its uploaded weights); onnxruntime keeps');
      log('  freed buffers in its cache, so this is the memory the run needed. The block shards compute attention in groups of 3 heads.');
    }

    const report: FullScaleReport = { package: packageStats, converter: { peakRssBytes: converted.peakRssBytes, checkpointBytes }, download, plans: planReports, activations1024: activationPeaks };
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
    log();
    log(`wrote ${outFile}`);
    return [
      ['scale (double/single/T5)', `${shape.doubleBlocks}/${shape.singleBlocks}/${shape.t5Layers}${full ? ' (full)' : ''}`],
      ['checkpoint', formatBytes(checkpointBytes)],
      ['converter peak RSS', formatBytes(converted.peakRssBytes)],
      ['package', `${formatBytes(packageStats.bytes)} in ${packageStats.files} files`],
      ['download', `${formatMs(download.seconds * 1000)}, Chromium peak RSS ${formatBytes(download.browserPeakRssBytes)}`],
      ...plans.map((p): [string, string] => {
        const r = planReports[p]!;
        return [`plan ${p}`, r.generated ? `counted ${r.countedPeakGpuBytes === null ? '?' : formatBytes(r.countedPeakGpuBytes)}, predicted ${r.predictedGpuBytes === null ? '?' : formatBytes(r.predictedGpuBytes)}, load ${formatMs((r.loadSeconds ?? 0) * 1000)}` : `not generated: ${r.error}`];
      }),
      [`activations ${activationSize}² (double/single/VAE)`, [activationPeaks.doubleBlockPeakBytes, activationPeaks.singleBlockPeakBytes, activationPeaks.vaePeakBytes].map((b) => (b === null ? '-' : formatBytes(b))).join(' / ')],
      ['json', outFile],
    ];
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanUpOnce();
  }
}

/**
 * The plan's predicted GPU bytes from `checkDevice()`'s report, or null when the report has
 * no per-plan figures.
 */
function predictedBytes(report: Record<string, unknown> | undefined, plan: Plan): number | null {
  const memory = report?.memory as { plans?: Record<string, { neededBytes?: number }> } | undefined;
  const value = memory?.plans?.[plan]?.neededBytes;
  return typeof value === 'number' ? value : null;
}

export const fullScaleBench: Bench = {
  name: 'full-scale',
  description: 'published FLUX.1 [schnell] configs (≈34 GB bf16, random weights): CLI conversion to q4, download into Chromium, load + one image per memory plan, activations at 1024² → bench-out/full-scale.json',
  onlyWhenNamed: true,
  run,
};
