/**
 * `npm run bench -- --only browser`: the library in a real headless Chromium (WebGPU on
 * SwiftShader), from one run on this machine. Nothing is asserted; timings are noisy, so
 * the output leans on ratios and sizes.
 *
 * 1. The demo package, `--size` (default 256×256), `--steps` (default 4): a cold
 *    generation (empty browser profile: download, sessions, then the image) and a warm one
 *    (everything loaded). Time per stage, and the share of time spent outside onnxruntime's
 *    `session.run` (our overhead). The engine does not report session.run time to the
 *    page, so the page runs the engine in the bench's own worker
 *    (`pages/browser-timed-worker.ts`, handed over through the public `worker` option of
 *    `createGenerator`), which times `InferenceSession.create` and `session.run`.
 *    Counted GPU memory (every buffer onnxruntime creates through the wrapped GPUDevice):
 *    peak and live bytes per stage, cold and warm, and then one generation under each
 *    memory plan (forced) with its predicted and counted peak.
 * 2. A fake package of two ~600 MiB files of random bytes (> 1 GB in all) downloaded with
 *    `WeightStore.ensureFiles` on the page's main thread while the page's JS heap is
 *    sampled over CDP every 50 ms: peak heap vs the 8 MiB chunk size vs the file size.
 * 3. IndexedDB write throughput (that download), read throughput (`getFile` → Blob → read
 *    through, with and without the chunk check) and plain `fetch` of the same file from the
 *    same local server.
 *
 * The page and the worker are bundled from the sources with the library's own Vite config
 * (vite.lib.config.ts) into a temporary folder; `dist/` is not used (other builds may
 * replace it meanwhile). Every temporary file (≈1.3 GB of random data, the same again in
 * the browser profile's IndexedDB) is deleted at the end, also on failure and on Ctrl-C.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { build } from 'vite';
import type { GraphRole, PackageFile } from '../../src/package/manifest.ts';
import { WEIGHT_STORE_DEFAULTS } from '../../src/store/weight-store-defaults.ts';
import { CHROMIUM_ARGS, findChromium, startStaticServer, type StaticServer } from '../../test/browser/harness.ts';
import { writeDemoModel } from '../demo/demo-model.ts';
import type { Bench, BenchOptions, BenchSummary } from './bench.ts';
import { dirSize, formatBytes, formatMs, formatPercent, table } from './measure.ts';
import type { PageGeneration, PageRead } from './pages/browser-bench-shared.ts';
import type {} from './pages/browser-bench-page.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(HERE, '..', '..');
const PROMPT = 'a lighthouse on a cliff at dusk, oil painting';
/** The fake big package: two files of about 600 MiB, not multiples of the chunk size. */
const BIG_FILE_SIZES = [600 * 2 ** 20 + 123_457, 600 * 2 ** 20 - 77_777];
/** Heap sampling period over CDP, ms. */
const SAMPLE_MS = 50;
/** Chromium's process tree RSS is read every this many heap samples. */
const RSS_EVERY = 5;
const CHUNK = WEIGHT_STORE_DEFAULTS.chunkSizeBytes;

type Stage = 'encode' | 'denoise' | 'decode';
const STAGE_OF_ROLE: Record<GraphRole, Stage> = {
  'text-encoder-clip': 'encode',
  'text-encoder-t5-embed': 'encode',
  'text-encoder-t5-blocks': 'encode',
  'transformer-embed': 'denoise',
  'transformer-blocks': 'denoise',
  'transformer-head': 'denoise',
  'vae-decoder': 'decode',
  'vae-encoder': 'encode',
};

/** "123.4 MB/s" (decimal megabytes per second). */
function rate(bytes: number, ms: number): string {
  return ms > 0 ? `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s` : '-';
}

const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '-');
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

// ---------------------------------------------------------------------------------------
// Temporary files

/** Writes `size` random bytes to `path` through a write stream, hashing them on the way. */
async function writeRandomFile(path: string, size: number): Promise<PackageFile & { ms: number }> {
  const started = performance.now();
  const hash = createHash('sha256');
  const stream: WriteStream = createWriteStream(path);
  const block = Buffer.allocUnsafe(8 * 2 ** 20);
  const write = (bytes: Buffer) => new Promise<void>((done, fail) => stream.write(bytes, (error) => (error ? fail(error) : done())));
  try {
    for (let written = 0; written < size; ) {
      const piece = block.subarray(0, Math.min(block.length, size - written));
      randomFillSync(piece);
      hash.update(piece);
      await write(piece); // the callback fires once the bytes are handed to the OS: the block may be refilled
      written += piece.length;
    }
  } finally {
    await new Promise<void>((done, fail) => stream.end((error?: Error | null) => (error ? fail(error) : done())));
  }
  return { path: path.slice(dirname(path).length + 1), size, sha256: hash.digest('hex'), ms: performance.now() - started };
}

/** Bundles the bench page and worker with the library's Vite config into `outDir`. */
async function buildPage(outDir: string): Promise<void> {
  await build({
    configFile: join(REPO_ROOT, 'vite.lib.config.ts'),
    root: REPO_ROOT,
    logLevel: 'warn',
    build: {
      outDir,
      emptyOutDir: true,
      // The library's own entry (index) is built too, as the config lists it; the page uses the sources' exports directly.
      rolldownOptions: { input: { 'browser-bench-page': join(HERE, 'pages/browser-bench-page.ts') } },
    },
  });
}

// ---------------------------------------------------------------------------------------
// Memory sampling

/** One CDP reading of the page's (main thread's) JS memory, bytes. */
interface HeapSample {
  /** V8 heap `usedSize` (objects; ArrayBuffer contents are not in it). */
  used: number;
  /** V8 `backingStorageSize`: ArrayBuffer contents and external strings. */
  backing: number;
  /** `Performance.getMetrics` JSHeapUsedSize. */
  metricsUsed: number;
}

/** Resident memory of one kind of Chromium process (summed over its processes), bytes from /proc/<pid>/status. */
export interface ProcessMemory {
  rss: number;
  anon: number;
  shmem: number;
}

/** What one measured operation did to memory. */
interface MemoryWindow {
  samples: number;
  /** Longest time between two heap samples (the page's main thread answers between tasks), ms. */
  maxGapMs: number;
  /** After a forced GC, just before the operation. */
  base: HeapSample;
  peak: HeapSample;
  /** Peak of used + backing in one sample. */
  peakUsedPlusBacking: number;
  /** Chromium's process tree before, and the peak per process kind (each kind's own peak). */
  treeBase: Map<string, ProcessMemory>;
  treePeak: Map<string, ProcessMemory>;
  /** Peak of the whole tree's VmRSS in one sample. */
  treePeakTotal: number;
}

/** Growth of the page's JS heap (used + ArrayBuffer backing store) over the operation, bytes. */
const heapGrowth = (m: MemoryWindow) => m.peakUsedPlusBacking - (m.base.used + m.base.backing);
const treeTotal = (tree: Map<string, ProcessMemory>) => sum([...tree.values()].map((p) => p.rss));

/** Samples the page's JS heap over CDP every 50 ms (and Chromium's RSS from /proc) while a task runs. */
class MemorySampler {
  private constructor(
    private readonly cdp: CDPSession,
    private readonly profileDir: string,
  ) {}

  static async open(page: Page, profileDir: string): Promise<MemorySampler> {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    return new MemorySampler(cdp, profileDir);
  }

  /** Forces a full garbage collection of the page's heap (which also drops Blob handles no longer referenced). */
  async collectGarbage(): Promise<void> {
    await this.cdp.send('HeapProfiler.collectGarbage');
  }

  private async sample(): Promise<HeapSample> {
    const [heap, metrics] = await Promise.all([this.cdp.send('Runtime.getHeapUsage'), this.cdp.send('Performance.getMetrics')]);
    return { used: heap.usedSize, backing: heap.backingStorageSize ?? 0, metricsUsed: metrics.metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0 };
  }

  /** Collects garbage, takes a baseline, then samples until `task` settles. */
  async measure<T>(task: () => Promise<T>): Promise<{ value: T; memory: MemoryWindow }> {
    await this.cdp.send('HeapProfiler.collectGarbage');
    await sleep(100);
    const base = await this.sample();
    const treeBase = chromiumTree(this.profileDir);
    const memory: MemoryWindow = {
      samples: 0,
      maxGapMs: 0,
      base,
      peak: { ...base },
      peakUsedPlusBacking: base.used + base.backing,
      treeBase,
      treePeak: new Map([...treeBase].map(([k, v]) => [k, { ...v }])),
      treePeakTotal: treeTotal(treeBase),
    };
    let running = true;
    const loop = (async () => {
      let last = performance.now();
      while (running) {
        const s = await this.sample();
        const t = performance.now();
        memory.maxGapMs = Math.max(memory.maxGapMs, t - last);
        last = t;
        memory.peak.used = Math.max(memory.peak.used, s.used);
        memory.peak.backing = Math.max(memory.peak.backing, s.backing);
        memory.peak.metricsUsed = Math.max(memory.peak.metricsUsed, s.metricsUsed);
        memory.peakUsedPlusBacking = Math.max(memory.peakUsedPlusBacking, s.used + s.backing);
        if (memory.samples++ % RSS_EVERY === 0) {
          const tree = chromiumTree(this.profileDir);
          memory.treePeakTotal = Math.max(memory.treePeakTotal, treeTotal(tree));
          for (const [kind, m] of tree) {
            const peak = memory.treePeak.get(kind) ?? { rss: 0, anon: 0, shmem: 0 };
            memory.treePeak.set(kind, { rss: Math.max(peak.rss, m.rss), anon: Math.max(peak.anon, m.anon), shmem: Math.max(peak.shmem, m.shmem) });
          }
        }
        await sleep(Math.max(0, SAMPLE_MS - (performance.now() - t)));
      }
    })();
    try {
      return { value: await task(), memory };
    } finally {
      running = false;
      await loop;
    }
  }
}

/** The kind of a Chromium process from its command line: browser, renderer, gpu, utility (sub-type), zygote. */
function processKind(cmdline: string): string {
  const type = /--type=([\w-]+)/.exec(cmdline)?.[1];
  if (!type) return 'browser';
  if (type === 'utility') return `utility ${/--utility-sub-type=([\w.]+)/.exec(cmdline)?.[1]?.split('.')[0] ?? ''}`.trim();
  return type === 'gpu-process' ? 'gpu' : type;
}

/**
 * Resident memory of the Chromium started with `--user-data-dir=<profileDir>` and all its
 * descendants, by process kind (empty where /proc is missing).
 */
export function chromiumTree(profileDir: string): Map<string, ProcessMemory> {
  const out = new Map<string, ProcessMemory>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  const parent = new Map<string, string>();
  const withProfile = new Set<string>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(pid, stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`--user-data-dir=${profileDir}`)) withProfile.add(pid);
    } catch {
      // The process ended meanwhile.
    }
  }
  // The browser process: the one with the profile whose parent does not have it.
  const root = [...withProfile].find((pid) => !withProfile.has(parent.get(pid) ?? ''));
  if (!root) return out;
  for (const pid of parent.keys()) {
    let p: string | undefined = pid;
    while (p && p !== root && p !== '0') p = parent.get(p);
    if (p !== root) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
      const kind = processKind(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
      const m = out.get(kind) ?? { rss: 0, anon: 0, shmem: 0 };
      out.set(kind, { rss: m.rss + kb('VmRSS'), anon: m.anon + kb('RssAnon'), shmem: m.shmem + kb('RssShmem') });
    } catch {
      // ended
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Generation analysis

interface StageRow {
  name: string;
  wallMs: number | undefined;
  /** Time inside onnxruntime (session.run, or InferenceSession.create for `load`). */
  ortMs: number | undefined;
}

/** Splits one generation into stages from the page's progress events, the result's timings and the worker's session timings. */
function stages(gen: PageGeneration, roleOf: (graph: string) => GraphRole | undefined) {
  const first = (stage: string) => gen.progress.find((e) => e.stage === stage)?.t;
  const t = gen.timings!;
  const runs = gen.sessions.filter((s) => s.kind === 'run');
  const creates = gen.sessions.filter((s) => s.kind === 'create');
  const runMs = (stage: Stage) => sum(runs.filter((r) => STAGE_OF_ROLE[roleOf(r.graph)!] === stage).map((r) => r.end - r.start));
  const downloadStart = first('download');
  const loadStart = first('load');
  const encodeEvent = first('encode');
  const rows: StageRow[] = [];
  if (downloadStart !== undefined) {
    rows.push({ name: 'start: worker, WebGPU device, manifest', wallMs: downloadStart - gen.start, ortMs: undefined });
    rows.push({ name: 'download (into IndexedDB)', wallMs: (loadStart ?? encodeEvent ?? gen.end) - downloadStart, ortMs: undefined });
  }
  if (loadStart !== undefined) rows.push({ name: 'load (sessions, tokenizers)', wallMs: (encodeEvent ?? gen.end) - loadStart, ortMs: sum(creates.map((c) => c.end - c.start)) });
  rows.push({ name: 'encode (CLIP + T5)', wallMs: t.encodeMs, ortMs: runMs('encode') });
  rows.push({ name: 'denoise (all steps)', wallMs: t.denoiseMs, ortMs: runMs('denoise') });
  rows.push({ name: 'decode (VAE + PNG)', wallMs: t.decodeMs, ortMs: runMs('decode') });
  const wall = gen.end - gen.start;
  const accounted = sum(rows.map((r) => r.wallMs ?? 0));
  rows.push({ name: 'other (messages, pipeline setup)', wallMs: wall - accounted, ortMs: undefined });
  const compute = t.encodeMs + t.denoiseMs + t.decodeMs;
  const computeRun = runMs('encode') + runMs('denoise') + runMs('decode');
  return { rows, wall, compute, computeRun, allRun: sum(runs.map((r) => r.end - r.start)), allCreate: sum(creates.map((c) => c.end - c.start)), runs, creates };
}

// ---------------------------------------------------------------------------------------

async function run(options: BenchOptions): Promise<BenchSummary> {
  const { log } = options;
  const tmp = mkdtempSync(join(tmpdir(), 'flux-bench-browser-'));
  const profileDir = join(tmp, 'profile');
  const bigDir = join(tmp, 'big');
  let context: BrowserContext | undefined;
  let server: StaticServer | undefined;
  const removeTemp = () => {
    if (options.keep) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true, maxRetries: 5 });
  };
  /** Closes the browser (Playwright then deletes its own artifacts folder) and the server; never throws. */
  const shutdown = async () => {
    const closing = Promise.all([context?.close().catch(() => undefined), server?.close().catch(() => undefined)]);
    await Promise.race([closing, new Promise((done) => setTimeout(done, 10_000).unref())]);
  };
  let cleanup: Promise<void> | undefined;
  const cleanUpOnce = () => (cleanup ??= shutdown().then(removeTemp));
  // Ctrl-C mid-run: close the browser first (it writes into the profile), then delete the
  // ≈2.5 GB of temporary files, then exit. Playwright's own signal handlers are off (see launch).
  const onSignal = () => void cleanUpOnce().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const summary: BenchSummary = [];
  try {
    log(`temp folder ${tmp}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} cores (timings below are from a shared machine)`);
    // ---- Setup
    let t0 = performance.now();
    await buildPage(join(tmp, 'bundle'));
    log(`bundled the page and its worker (vite.lib.config.ts) in ${formatMs(performance.now() - t0)}`);
    t0 = performance.now();
    const demo = await writeDemoModel({ out: join(tmp, 'demo'), weights: 'fp32' });
    const demoBytes = sum(demo.files.map((f) => f.size));
    log(`demo package (fp32): ${demo.graphs.length} graphs, ${demo.files.length} files, ${formatBytes(demoBytes)}, written in ${formatMs(performance.now() - t0)}`);
    mkdirSync(bigDir);
    t0 = performance.now();
    const bigFiles: PackageFile[] = [];
    for (const [i, size] of BIG_FILE_SIZES.entries()) {
      const file = await writeRandomFile(join(bigDir, `weights-${i}.onnx_data`), size);
      bigFiles.push({ path: file.path, size: file.size, sha256: file.sha256 });
    }
    const bigBytes = sum(bigFiles.map((f) => f.size));
    writeFileSync(join(bigDir, 'manifest.json'), JSON.stringify({ note: 'fake package for the browser bench', files: bigFiles }, null, 1));
    log(`fake package: ${bigFiles.map((f) => `${f.path} ${formatBytes(f.size)}`).join(', ')} = ${formatBytes(bigBytes)} (${(bigBytes / 1e9).toFixed(2)} GB), random bytes + streaming sha256 in ${formatMs(performance.now() - t0)}`);

    server = await startStaticServer({
      '/': join(HERE, 'pages'),
      '/bundle/': join(tmp, 'bundle'),
      '/models/demo/': join(tmp, 'demo'),
      '/models/big/': bigDir,
    });
    // A profile of our own inside `tmp` (IndexedDB will hold another 1.3 GB there), deleted with it.
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: findChromium(),
      args: CHROMIUM_ARGS,
      headless: true,
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    await page.goto(`${server.origin}/browser-bench.html`);
    await page.waitForFunction(() => 'fluxBench' in window, null, { timeout: 60_000 });
    const browserVersion = context.browser()?.version() ?? '?';
    log(`Chromium ${browserVersion}, headless, WebGPU on SwiftShader; page and files from ${server.origin} (COOP/COEP)`);

    // ---- 1. Generation, cold and warm
    const size = options.size;
    const request = { prompt: PROMPT, width: size, height: size, steps: options.steps, seed: options.seed };
    log();
    log(`== 1. Demo package, ${size}×${size}, ${options.steps} steps, seed ${options.seed}: cold, then warm ==`);
    await page.evaluate((model) => window.fluxBench.create('demo', model), '/models/demo/');
    const cold = await page.evaluate((r) => window.fluxBench.generate('demo', r), request);
    if (!cold.ok) throw new Error(`cold generation failed: ${cold.error}`);
    log(`  cold: ${formatMs(cold.end - cold.start)}`);
    const warm = await page.evaluate((r) => window.fluxBench.generate('demo', r), request);
    if (!warm.ok) throw new Error(`warm generation failed: ${warm.error}`);
    log(`  warm: ${formatMs(warm.end - warm.start)}`);
    await page.evaluate(() => window.fluxBench.dispose('demo'));

    const roles = new Map(demo.graphs.map((g) => [g.name, g.role]));
    const roleOf = (graph: string) => roles.get(graph);
    const c = stages(cold, roleOf);
    const w = stages(warm, roleOf);
    const cell = (ms: number | undefined) => (ms === undefined ? '' : formatMs(ms));
    const outside = (r: StageRow | undefined) => (r?.wallMs !== undefined && r.ortMs !== undefined ? `${formatMs(r.wallMs - r.ortMs)} (${formatPercent(r.wallMs - r.ortMs, r.wallMs)})` : '');
    log();
    log(
      table([
        ['stage', 'cold', '  in ORT', '  outside ORT', 'warm', '  in ORT', '  outside ORT'],
        ...c.rows.map((row) => {
          const wr = w.rows.find((x) => x.name === row.name);
          return [row.name, cell(row.wallMs), cell(row.ortMs), outside(row), cell(wr?.wallMs), cell(wr?.ortMs), outside(wr)];
        }),
        ['total (page: call → images)', formatMs(c.wall), formatMs(c.allRun + c.allCreate), outside({ name: '', wallMs: c.wall, ortMs: c.allRun + c.allCreate }), formatMs(w.wall), formatMs(w.allRun), outside({ name: '', wallMs: w.wall, ortMs: w.allRun })],
      ]),
    );
    log();
    log(`encode + denoise + decode: cold ${formatMs(c.compute)}, ${formatPercent(c.compute - c.computeRun, c.compute)} outside session.run; warm ${formatMs(w.compute)}, ${formatPercent(w.compute - w.computeRun, w.compute)} outside session.run`);
    log(`warm / cold: total ${ratio(w.wall, c.wall)}, encode+denoise+decode ${ratio(w.compute, c.compute)}; cold download+load = ${formatPercent((c.rows[0]?.wallMs ?? 0) + (c.rows[1]?.wallMs ?? 0) + (c.rows[2]?.wallMs ?? 0), c.wall)} of the cold total`);
    log('cold: each graph\'s first session.run also compiles its WebGPU pipelines (shaders); the cold encode stage shows it most.');
    log('The VAE and head dominate and vary by tens of percent from run to run on a loaded machine (see the load average).');
    const warmEncode = w.rows.find((r) => r.name.startsWith('encode'))!;
    const steps = warm.progress.filter((e) => e.stage === 'denoise').map((e) => e.t);
    if (steps.length > 1) log(`warm step to step (page events): ${steps.slice(1).map((t, i) => formatMs(t - steps[i])).join(', ')}`);
    log(`result.timings (worker, warm): ${JSON.stringify(Object.fromEntries(Object.entries(warm.timings!).map(([k, v]) => [k, Math.round(v * 10) / 10])))}; image ${formatBytes(warm.imageBytes ?? 0)}`);
    log();
    log('Per graph (warm run):');
    const graphs = [...new Set(w.runs.map((r) => r.graph))];
    log(
      table([
        ['graph', 'role', 'runs', 'session.run total', 'mean', 'share of warm total', 'create (cold)'],
        ...graphs.map((g) => {
          const ms = w.runs.filter((r) => r.graph === g).map((r) => r.end - r.start);
          const create = sum(c.creates.filter((x) => x.graph === g).map((x) => x.end - x.start));
          return [g, roleOf(g) ?? '?', String(ms.length), formatMs(sum(ms)), formatMs(sum(ms) / ms.length), formatPercent(sum(ms), w.wall), formatMs(create)];
        }),
      ]),
    );
    log();
    log('How: stage times are the engine\'s result.timings (encode, denoise, decode; measured in the worker) and the page\'s');
    log('progress events (start = call → first "download" event; download = first "download" → first "load" event; load =');
    log('first "load" → "encode" event). The engine reports no session.run time to the page (flux-pipeline computes');
    log('sessionRunMs but Engine.generate drops it), so the page passes the bench worker through createGenerator\'s public');
    log('`worker` option: it is workers/generator.worker.ts plus a wrapper around ort.InferenceSession.create and');
    log('InferenceSession.prototype.run (tools/bench/pages/browser-timed-worker.ts), posting each call\'s start/end on a');
    log('BroadcastChannel; each run is assigned to a stage by its graph\'s role. "in ORT" = Σ session.run (Σ create for');
    log('load); "outside ORT" = the rest of the stage, our overhead. Engine-side, a `sessionRunMs` (and createMs) in');
    log('result.timings would make the worker wrapper unnecessary.');

    // ---- 1b. Counted GPU memory per stage, and under each memory plan
    log();
    log('GPU memory counted per stage (bytes of live buffers; "live at end" after the stage, with its sessions released where the plan releases them):');
    const stageRows = (label: string, gen: PageGeneration) =>
      (gen.gpuStages ?? []).map((s, i) => [i === 0 ? `${label} (${gen.memoryPlan})` : '', s.stage, formatBytes(s.peakBytes), formatBytes(s.liveBytes)]);
    log(table([['run', 'stage', 'peak', 'live at end'], ...stageRows('cold', cold), ...stageRows('warm', warm)]));
    log(`plan: ${warm.memoryPlanReason}`);
    log();
    log(`One ${size}×${size} generation under each memory plan (forced; the package is stored, the prompt encoded anew by a fresh worker):`);
    const planRows: string[][] = [['plan', 'predicted peak', 'counted peak', 'counted / predicted', 'time', 'stages (peak / live at end)']];
    for (const plan of ['resident', 'staged', 'streaming'] as const) {
      await page.evaluate(([model, p]) => window.fluxBench.create(p, model, p), ['/models/demo/', plan] as const);
      const gen = await page.evaluate(([p, r]) => window.fluxBench.generate(p, r), [plan, request] as const);
      await page.evaluate((p) => window.fluxBench.dispose(p), plan);
      if (!gen.ok) throw new Error(`${plan} generation failed: ${gen.error}`);
      const stagesText = (gen.gpuStages ?? []).map((s) => `${s.stage} ${formatBytes(s.peakBytes)}/${formatBytes(s.liveBytes)}`).join(', ');
      planRows.push([plan, formatBytes(gen.predictedGpuBytes ?? 0), formatBytes(gen.gpuPeakBytes ?? 0), ratio(gen.gpuPeakBytes ?? 0, gen.predictedGpuBytes ?? 1), formatMs(gen.end - gen.start), stagesText]);
      summary.push([`${plan}: counted / predicted GPU peak`, `${formatBytes(gen.gpuPeakBytes ?? 0)} / ${formatBytes(gen.predictedGpuBytes ?? 0)}`]);
    }
    log(table(planRows));

    summary.push(
      ['image size / steps', `${size}×${size} / ${options.steps}`],
      ['cold generation', formatMs(c.wall)],
      ['warm generation', formatMs(w.wall)],
      ['warm / cold', ratio(w.wall, c.wall)],
      ['warm outside session.run', formatPercent(w.wall - w.allRun, w.wall)],
      ['warm encode outside run', formatPercent(warmEncode.wallMs! - warmEncode.ortMs!, warmEncode.wallMs!)],
      ['warm enc+den+dec outside run', formatPercent(w.compute - w.computeRun, w.compute)],
    );

    // ---- 2. Heap during a > 1 GB download
    const bigUrl = `${server.origin}/models/big/`;
    const sampler = await MemorySampler.open(page, profileDir);
    log();
    log(`== 2. Peak JS heap while WeightStore.ensureFiles stores ${formatBytes(bigBytes)} (${bigFiles.length} files) on the page's main thread ==`);
    const estimate = await page.evaluate(() => window.fluxBench.estimate());
    log(`storage estimate before: quota ${formatBytes(estimate.quota)}, usage ${formatBytes(estimate.usage)}`);
    const profileBefore = dirSize(profileDir);
    const requestsBefore = server.requests.length;
    const { value: dl, memory: dlMem } = await sampler.measure(() => page.evaluate(([u, f]) => window.fluxBench.download(u, f), [bigUrl, bigFiles] as const));
    if (!dl.ok) throw new Error(`download failed: ${dl.error}`);
    const treeAfter = chromiumTree(profileDir);
    await sampler.collectGarbage();
    await sleep(1000);
    const treeAfterGc = chromiumTree(profileDir);
    const profileGrowth = dirSize(profileDir) - profileBefore;
    const stored = await page.evaluate(() => window.fluxBench.bytesUsed());
    const bigRequests = server.requests.slice(requestsBefore).filter((r) => r.url.startsWith('/models/big/'));
    const largestFile = Math.max(...bigFiles.map((f) => f.size));
    const memRow = (name: string, peak: number, before: number) => [name, formatBytes(before), formatBytes(peak), formatBytes(peak - before), ratio(peak - before, CHUNK), formatPercent(peak - before, largestFile)];
    log(`${dlMem.samples} heap samples every ${SAMPLE_MS} ms (longest gap ${formatMs(dlMem.maxGapMs)}); ${bigRequests.length} requests for the package's files; ${dl.progressEvents} progress events`);
    log(
      table([
        ['page main thread (CDP)', 'before (after GC)', 'peak', 'peak − before', '÷ chunk (8 MiB)', '÷ file size'],
        memRow('V8 heap used (Runtime.getHeapUsage)', dlMem.peak.used, dlMem.base.used),
        memRow('ArrayBuffer backing store', dlMem.peak.backing, dlMem.base.backing),
        memRow('heap used + backing store (one sample)', dlMem.peakUsedPlusBacking, dlMem.base.used + dlMem.base.backing),
        memRow('JSHeapUsedSize (Performance.getMetrics)', dlMem.peak.metricsUsed, dlMem.base.metricsUsed),
      ]),
    );
    const dlGrowth = heapGrowth(dlMem);
    log(`chunk ${formatBytes(CHUNK)} + read buffer ${formatBytes(WEIGHT_STORE_DEFAULTS.readBufferBytes)}; largest file ${formatBytes(largestFile)}; package ${formatBytes(bigBytes)}.`);
    log(`=> peak JS heap growth (used + backing) ${formatBytes(dlGrowth)} = ${ratio(dlGrowth, CHUNK)} the chunk size = ${formatPercent(dlGrowth, largestFile)} of one file = ${formatPercent(dlGrowth, bigBytes)} of the package.`);
    log();
    log('Outside the JS heap: Chromium\'s processes (VmRSS from /proc, each kind\'s own peak, sampled every 250 ms):');
    const kinds = [...new Set([...dlMem.treeBase.keys(), ...dlMem.treePeak.keys()])].sort();
    const zero = { rss: 0, anon: 0, shmem: 0 };
    log(
      table([
        ['process', 'RSS before', 'RSS peak', 'peak − before', '÷ file size', 'anon peak − before', 'at the end − before', 'after page GC − before'],
        ...kinds.map((kind) => {
          const b = dlMem.treeBase.get(kind) ?? zero;
          const p = dlMem.treePeak.get(kind) ?? zero;
          const growth = (tree: Map<string, ProcessMemory>) => formatBytes((tree.get(kind)?.rss ?? 0) - b.rss);
          return [kind, formatBytes(b.rss), formatBytes(p.rss), formatBytes(p.rss - b.rss), formatPercent(p.rss - b.rss, largestFile), formatBytes(p.anon - b.anon), growth(treeAfter), growth(treeAfterGc)];
        }),
        [
          'all (one sample)',
          formatBytes(treeTotal(dlMem.treeBase)),
          formatBytes(dlMem.treePeakTotal),
          formatBytes(dlMem.treePeakTotal - treeTotal(dlMem.treeBase)),
          formatPercent(dlMem.treePeakTotal - treeTotal(dlMem.treeBase), largestFile),
          '',
          formatBytes(treeTotal(treeAfter) - treeTotal(dlMem.treeBase)),
          formatBytes(treeTotal(treeAfterGc) - treeTotal(dlMem.treeBase)),
        ],
      ]),
    );
    log('("at the end": right after ensureFiles resolved; "after page GC": after a forced GC of the page and 1 s. A drop there');
    log('means the browser process held chunk Blobs that IndexedDB had stored but the page had not yet garbage-collected.)');
    log(`stored: ${formatBytes(stored)} in the store's records; the browser profile grew by ${formatBytes(profileGrowth)} on disk (${ratio(profileGrowth, bigBytes)} the package)`);

    // ---- 3. Throughput
    log();
    log(`== 3. Throughput: IndexedDB write and read vs plain fetch (same local server, files in the OS page cache) ==`);
    const reads: { kind: 'verify' | 'plain' | 'fetch'; name: string; read: PageRead; memory: MemoryWindow }[] = [];
    for (const file of bigFiles) {
      for (const verify of [true, false]) {
        const { value, memory } = await sampler.measure(() => page.evaluate(([u, p, v]) => window.fluxBench.readStored(u, p, v), [bigUrl, file.path, verify] as const));
        if (!value.ok) throw new Error(`getFile ${file.path} failed: ${value.error}`);
        reads.push({ kind: verify ? 'verify' : 'plain', name: `${file.path}: getFile(verify: ${verify}) + read Blob`, read: value, memory });
      }
      const { value, memory } = await sampler.measure(() => page.evaluate((u) => window.fluxBench.readFetch(u), `${bigUrl}${file.path}`));
      if (!value.ok) throw new Error(`fetch ${file.path} failed: ${value.error}`);
      reads.push({ kind: 'fetch', name: `${file.path}: fetch + read body`, read: value, memory });
    }
    const total = (kind: string) => {
      const of = reads.filter((r) => r.kind === kind);
      return { bytes: sum(of.map((r) => r.read.bytes)), ms: sum(of.map((r) => r.read.openMs + r.read.readMs)) };
    };
    log(
      table([
        ['operation', 'bytes', 'open', 'read', 'total', 'throughput', 'JS heap growth'],
        ['WeightStore.ensureFiles (fetch → hash → IndexedDB)', formatBytes(dl.bytes), '', '', formatMs(dl.ms), rate(dl.bytes, dl.ms), formatBytes(dlGrowth)],
        ...reads.map(({ name, read, memory }) => [
          name,
          formatBytes(read.bytes),
          formatMs(read.openMs),
          formatMs(read.readMs),
          formatMs(read.openMs + read.readMs),
          rate(read.bytes, read.openMs + read.readMs),
          formatBytes(heapGrowth(memory)),
        ]),
      ]),
    );
    log('"open": getFile (with verify: every chunk read back and its sha256 checked) or fetch up to the response headers.');
    log('"JS heap growth": peak (used + ArrayBuffer backing store) over a GC\'d baseline taken just before; for the reads it is');
    log('mostly the stream\'s already-consumed chunks, garbage that V8 has not collected yet.');
    const fetchTotal = total('fetch');
    const fetchRate = fetchTotal.bytes / fetchTotal.ms;
    const vsFetch = (bytes: number, ms: number) => `${(bytes / ms / fetchRate).toFixed(2)}×`;
    const verifyTotal = total('verify');
    const plainTotal = total('plain');
    log();
    log(
      table([
        ['both files', 'throughput', '÷ fetch throughput'],
        ['fetch (read body, discard)', rate(fetchTotal.bytes, fetchTotal.ms), '1.00×'],
        ['IndexedDB write (ensureFiles)', rate(dl.bytes, dl.ms), vsFetch(dl.bytes, dl.ms)],
        ['IndexedDB read, getFile verify: true', rate(verifyTotal.bytes, verifyTotal.ms), vsFetch(verifyTotal.bytes, verifyTotal.ms)],
        ['IndexedDB read, getFile verify: false', rate(plainTotal.bytes, plainTotal.ms), vsFetch(plainTotal.bytes, plainTotal.ms)],
      ]),
    );
    const hash = await page.evaluate((bytes) => window.fluxBench.hashCost(bytes), 256 * 2 ** 20);
    log();
    log(`Where the write time may go (same page thread, ${formatBytes(hash.bytes)} of random data):`);
    log(
      table([
        ['work done per byte during ensureFiles', 'throughput', 'time for the package', 'share of the download'],
        ['whole-file sha256 (hash-wasm, 1 MiB pieces)', rate(hash.bytes, hash.incrementalMs), formatMs((hash.incrementalMs * bigBytes) / hash.bytes), formatPercent((hash.incrementalMs * bigBytes) / hash.bytes, dl.ms)],
        ['per-chunk sha256 (WebCrypto, 8 MiB)', rate(hash.bytes, hash.webCryptoMs), formatMs((hash.webCryptoMs * bigBytes) / hash.bytes), formatPercent((hash.webCryptoMs * bigBytes) / hash.bytes, dl.ms)],
        ['fetch of the same bytes (above)', rate(fetchTotal.bytes, fetchTotal.ms), formatMs((fetchTotal.ms * bigBytes) / fetchTotal.bytes), formatPercent((fetchTotal.ms * bigBytes) / fetchTotal.bytes, dl.ms)],
      ]),
    );
    log('(the rest: copying into the chunk buffer, Blob creation and the IndexedDB transactions; these are estimates, not a profile)');
    if (pageErrors.length) log(`page errors: ${pageErrors.join('; ')}`);
    log(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

    await page.evaluate((u) => window.fluxBench.deletePackage(u), bigUrl);
    summary.push(
      ['fake package', `${formatBytes(bigBytes)} in ${bigFiles.length} files`],
      ['peak JS heap growth, download', `${formatBytes(dlGrowth)} (${ratio(dlGrowth, CHUNK)} chunk)`],
      ['  ÷ largest file', formatPercent(dlGrowth, largestFile)],
      ['Chromium RSS growth, download', `${formatBytes(dlMem.treePeakTotal - treeTotal(dlMem.treeBase))}`],
      ['IndexedDB write', `${rate(dl.bytes, dl.ms)} (${vsFetch(dl.bytes, dl.ms)} fetch)`],
      ['IndexedDB read (verify)', `${rate(verifyTotal.bytes, verifyTotal.ms)} (${vsFetch(verifyTotal.bytes, verifyTotal.ms)} fetch)`],
      ['IndexedDB read (no verify)', `${rate(plainTotal.bytes, plainTotal.ms)} (${vsFetch(plainTotal.bytes, plainTotal.ms)} fetch)`],
      ['fetch (local server)', rate(fetchTotal.bytes, fetchTotal.ms)],
    );
    return summary;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanUpOnce();
  }
}

export const browserBench: Bench = {
  name: 'browser',
  description: 'headless Chromium (WebGPU/SwiftShader): demo package cold/warm stages and overhead outside session.run; peak JS heap, IndexedDB and fetch throughput for a > 1 GB package',
  run,
};
