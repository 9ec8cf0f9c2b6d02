/**
 * In-page import bench: a checkpoint at FLUX.1 [schnell]'s real widths (1 double + 1
 * single block, the real VAE decoder, random bf16 weights, ~1.2 GB, transformer in 512 MiB
 * shards with an index like the published repository) on a local Hub (the tests' fake Hub:
 * listing API, resolve → 302 to a second origin with Range) → `importModel()` in headless
 * Chromium (the library build, import worker, IndexedDB) → q4 package. Measures: bytes
 * fetched against the tensor data read and the source files' size, wall time and MB/s,
 * the renderer processes' peak RSS, the page's longest main-thread gap, the package's
 * size against the plan's estimate, byte-identity with the Node CLI's package from the
 * same Hub, and a reload in the middle of the import: bytes fetched again on the resume.
 * Figures come from this one run; nothing is asserted.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { CHROMIUM_ARGS, findChromium, startStaticServer } from '../../test/browser/harness.ts';
import { chromiumTree } from './browser-bench.ts';
import { startFakeHub, type FakeHubRequest } from '../../test/support/fake-hub.ts';
import { convertCheckpoint } from '../convert/convert-local.ts';
import type { Bench, BenchOptions, BenchSummary } from './bench.ts';
import { writeFullWidthCheckpoint } from './full-width-checkpoint.ts';
import { dirSize, formatBytes, formatMs, formatPercent, table } from './measure.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const REPO = 'bench/flux-full-width';

interface ImportEvent {
  phase: string;
  loaded: number;
  total: number;
  graphIndex?: number;
  graphCount?: number;
  storedTotal: number;
}
interface Outcome {
  ok: boolean;
  value?: { packageUrl: string; bytesFetched: number; packageBytes: number; graphsKept: number; graphsConverted: number };
  error?: { name: string; message: string };
  events: ImportEvent[];
}

/** Every file under `dir`, relative, with `/` separators. */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) if (entry.isFile()) out.push(relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'));
  return out.sort();
}

async function run(options: BenchOptions): Promise<BenchSummary> {
  const { log } = options;
  const tmp = mkdtempSync(join(tmpdir(), 'flux-bench-hub-import-'));
  try {
    log(`temp folder ${tmp}`);
    log('writing the full-width checkpoint (random bf16 weights)…');
    const ckpt = writeFullWidthCheckpoint(join(tmp, 'checkpoint'), { seed: options.seed, maxShardBytes: 512 * 2 ** 20 });
    const files = new Map(walk(ckpt.dir).map((path) => [path, new Uint8Array(readFileSync(join(ckpt.dir, path)))]));
    const sourceBytes = [...files.values()].reduce((sum, f) => sum + f.length, 0);
    const tensorBytes = ckpt.transformerBytes + ckpt.vaeBytes;
    log(`  ${files.size} files, ${formatBytes(sourceBytes)} (tensor data ${formatBytes(tensorBytes)})`);
    const hub = await startFakeHub({ [REPO]: { files, license: 'apache-2.0' } });
    const source = (modelId: string) => ({ from: `hf:${REPO}`, weights: 'q4', modelId, hubUrl: hub.hubUrl });
    const sent = (requests: FakeHubRequest[]) => requests.filter((r) => !r.path.startsWith('/api/')).reduce((sum, r) => sum + r.sent, 0);

    log('the Node CLI converts the same repository from the same Hub…');
    let t0 = performance.now();
    const cliDir = join(tmp, 'cli');
    await convertCheckpoint({ checkpoint: `hf:${REPO}`, out: cliDir, weights: 'q4', modelId: 'bench', hub: { hubUrl: hub.hubUrl } });
    const cliMs = performance.now() - t0;
    const cliSha = Object.fromEntries(walk(cliDir).map((path) => [path, createHash('sha256').update(readFileSync(join(cliDir, path))).digest('hex')]));
    const cliManifest = readFileSync(join(cliDir, 'manifest.json'), 'utf8');
    log(`  ${formatBytes(dirSize(cliDir))} in ${formatMs(cliMs)}`);

    log('building the library…');
    await build({ configFile: join(ROOT, 'vite.lib.config.ts'), root: ROOT, logLevel: 'warn', build: { outDir: join(tmp, 'lib'), emptyOutDir: true } });
    const server = await startStaticServer({ '/': join(ROOT, 'test/browser/pages'), '/lib/': join(tmp, 'lib') });
    const profileDir = join(tmp, 'profile');
    const context = await chromium.launchPersistentContext(profileDir, { executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
    /** RSS of this Chromium's renderer processes (the page and its workers) and of its browser process (IndexedDB lives there). */
    const rss = () => {
      const tree = chromiumTree(profileDir);
      return { renderer: tree.get('renderer')?.rss ?? 0, browser: tree.get('browser')?.rss ?? 0 };
    };
    try {
      const page: Page = context.pages()[0] ?? (await context.newPage());
      const open = async () => {
        await page.goto(`${server.origin}/hub-import.html`);
        await page.waitForFunction(() => 'hubTestReady' in window, null, { timeout: 120_000 });
      };
      const call = <T>(fn: string, ...args: unknown[]): Promise<T> =>
        page.evaluate(([f, a]) => (window as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>).hubTest[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;
      await open();

      // 1. A clean import.
      log('importing in the page…');
      const baseRss = rss();
      const peakRss = { ...baseRss };
      const sampler = setInterval(() => {
        const now = rss();
        peakRss.renderer = Math.max(peakRss.renderer, now.renderer);
        peakRss.browser = Math.max(peakRss.browser, now.browser);
      }, 250);
      const before = hub.requests.length;
      await call('lagStart');
      t0 = performance.now();
      await call('start', 'clean', source('bench'));
      const clean = await call<Outcome>('finish', 'clean');
      const importMs = performance.now() - t0;
      const lag = await call<number>('lagStop');
      clearInterval(sampler);
      if (!clean.ok) throw new Error(`import failed: ${clean.error?.name}: ${clean.error?.message}`);
      const cleanSent = sent(hub.requests.slice(before));
      const plannedStore = clean.events.find((e) => e.storedTotal > 0)?.storedTotal ?? 0;
      const stored = await call<Record<string, { sha256: string; text?: string }>>('storedFiles', clean.value!.packageUrl);
      const identical = stored['manifest.json'].text === cliManifest && Object.entries(cliSha).every(([path, sha]) => stored[path]?.sha256 === sha);
      log(`  ${formatBytes(cleanSent)} fetched in ${formatMs(importMs)}; package ${formatBytes(clean.value!.packageBytes)}; byte-identical to the CLI's: ${identical}`);

      // 2. A reload in the middle (during the last graph, the VAE), then the resume.
      log('importing again (another model id), reloading during the last graph, resuming…');
      const firstStart = hub.requests.length;
      await call('start', 'first', source('bench-resume'));
      for (;;) {
        const last = (await call<ImportEvent[]>('events', 'first')).at(-1);
        if (last?.graphCount && last.graphIndex === last.graphCount - 1 && last.phase === 'converting' && last.loaded > last.total * 0.95) break;
        if (await call<boolean>('settled', 'first')) throw new Error('the import finished before the reload');
        await new Promise((r) => setTimeout(r, 50));
      }
      await open();
      const firstSent = sent(hub.requests.slice(firstStart));
      const resumeStart = hub.requests.length;
      await call('start', 'second', source('bench-resume'));
      const resumed = await call<Outcome>('finish', 'second');
      if (!resumed.ok) throw new Error(`resume failed: ${resumed.error?.name}: ${resumed.error?.message}`);
      const resumeSent = sent(hub.requests.slice(resumeStart));
      const again = firstSent + resumeSent - cleanSent;
      log(`  first session ${formatBytes(firstSent)}, resumed session ${formatBytes(resumeSent)}: ${formatBytes(again)} fetched twice; ${resumed.value!.graphsKept} graphs kept, ${resumed.value!.graphsConverted} converted again`);

      const rows = [
        ['figure', 'value'],
        ['source files (listing sizes)', formatBytes(sourceBytes)],
        ['tensor data read (each tensor once)', formatBytes(tensorBytes)],
        ['bytes fetched by the import', `${formatBytes(cleanSent)} (${formatPercent(cleanSent, sourceBytes)} of the source files)`],
        ['import wall time / throughput', `${formatMs(importMs)} / ${formatBytes((cleanSent / importMs) * 1000)}/s`],
        ['Node CLI, same Hub, wall time', formatMs(cliMs)],
        ['package stored / planned before the first tensor byte', `${formatBytes(clean.value!.packageBytes)} / ${formatBytes(plannedStore)}`],
        ['byte-identical to the CLI (manifest + sha256 of every file)', String(identical)],
        ['renderer processes RSS (page + workers): before → peak', `${formatBytes(baseRss.renderer)} → ${formatBytes(peakRss.renderer)}`],
        ['browser process RSS (IndexedDB): before → peak', `${formatBytes(baseRss.browser)} → ${formatBytes(peakRss.browser)}`],
        ['largest tensor as float32', `${formatBytes(ckpt.largest.float32Bytes)} (${ckpt.largest.name})`],
        ['longest main-thread timer gap during the import', `${lag.toFixed(0)} ms`],
        ['reload during the last graph: fetched twice', `${formatBytes(again)} (${formatPercent(again, cleanSent)} of a clean import; ${resumed.value!.graphsKept} of ${resumed.value!.graphsKept + resumed.value!.graphsConverted} graphs kept)`],
      ];
      log('');
      log(table(rows));
      return [
        ['fetched / source files', `${formatBytes(cleanSent)} / ${formatBytes(sourceBytes)}`],
        ['import throughput', `${formatBytes((cleanSent / importMs) * 1000)}/s`],
        ['byte-identical to the CLI', String(identical)],
        ['renderer RSS growth', formatBytes(peakRss.renderer - baseRss.renderer)],
        ['re-fetched after a reload mid-import', formatBytes(again)],
      ];
    } finally {
      await context.close();
      await server.close();
      await hub.close();
    }
  } finally {
    if (!options.keep) rmSync(tmp, { recursive: true, force: true });
  }
}

export const hubImportBench: Bench = {
  name: 'hub-import',
  description: 'in-page import of a full-width checkpoint (~1.2 GB bf16) from a local Hub in Chromium: bytes fetched, time, memory, resume after a reload, byte-identity with the CLI',
  run,
};
