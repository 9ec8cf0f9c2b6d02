/**
 * The in-page import in a real headless Chromium, through the built library as a site
 * gets it: `importModel()` converts tiny checkpoints from a fake Hub on 127.0.0.1 (listing
 * API, resolve → 302 to a second origin with Range/CORS/ETag, gated repositories, drops,
 * stalls) in the import worker, straight into the weight store (real IndexedDB).
 * - the stored package is byte-identical to what `npx flux-webgpu convert` writes from
 *   the same sources and options (manifest text and every file's sha256, read back from
 *   IndexedDB), only the source files are requested, every fetched byte is accounted for,
 *   and a generator then generates from it;
 * - a connection dropped in the middle of a tensor resumes at the byte it reached: the
 *   bytes fetched equal a fault-free import's;
 * - a reload in the middle of an import (new page, new worker, same IndexedDB): the
 *   package is listed as incomplete, and the next import resumes at the graph it
 *   stopped at, fetching only headers of the converted graphs' files;
 * - the device and the storage quota are checked before the first tensor byte; a disk
 *   that fills up mid-import (a real quota, set through the DevTools protocol) keeps the
 *   work for the resume;
 * - a generation of another, stored model runs while an import is in progress; a
 *   stopped import keeps its graphs and resumes;
 * - refusals are typed errors that say what to do, and leave nothing stored.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/package/manifest.ts';
import { convertCheckpoint } from '../../tools/convert/convert-local.ts';
import { listFiles } from '../support/checkpoints.ts';
import { startFakeHub, type FakeHub, type FakeHubRequest } from '../support/fake-hub.ts';
import { requestReader, TINY, tinyHubRepos, type RequestReader } from '../support/hub-fixtures.ts';
import { launchBrowser, startStaticServer, type StaticServer } from './harness.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const PROMPT = 'a lighthouse on a cliff at dusk';

interface PageError {
  name: string;
  message: string;
  className: string;
  isFluxError: boolean;
  fields: Record<string, unknown>;
}
interface ImportEvent {
  stage: 'import';
  phase: string;
  loaded: number;
  total: number;
  files: { file: string; loaded: number; total: number }[];
  graph?: string;
  graphIndex?: number;
  graphCount?: number;
  storedBytes: number;
  storedTotal: number;
  etaMs?: number;
}
interface ImportOutcome {
  ok: boolean;
  value?: { packageUrl: string; modelId: string; alreadyStored: boolean; graphsConverted: number; graphsKept: number; bytesFetched: number; packageBytes: number };
  error?: PageError;
  events: ImportEvent[];
}
interface StoredFile {
  size: number;
  recordSize: number;
  complete: boolean;
  sha256: string;
  text?: string;
}
interface StoredModel {
  packageUrl: string;
  complete: boolean;
  bytesStored: number;
  importing?: { source: string; estimatedBytes: number };
}

let tmp: string;
let hub: FakeHub;
let dataStart: Map<string, number>;
let fileOf: RequestReader['fileOf'];
let tensorRequests: RequestReader['tensorRequests'];
let bytesByFile: RequestReader['bytesByFile'];
let server: StaticServer;
let browser: Browser;
let page: Page;
let importWorkerFile: string;
/** The CLI's package of `source()` (modelId 'tiny'). */
let cli: { dir: string; manifestText: string; sha256: Record<string, string> };
/** Bytes the fault-free import fetched per file path on the Hub and file host. */
let cleanBytes: Map<string, number>;
/** The GGUF transformer's tensor ranges the fault-free import asked for. */
let cleanGgufRanges: (string | undefined)[];

const source = (extra: Record<string, unknown> = {}) => ({
  from: `hf:${TINY.repo}`,
  transformer: `hf:${TINY.ggufRepo}/${TINY.gguf}`,
  textEncoder2: `hf:${TINY.t5Repo}/${TINY.t5Gguf}`,
  weights: 'q4',
  modelId: 'tiny',
  hubUrl: hub.hubUrl,
  ...extra,
});

const call = <T>(fn: string, ...args: unknown[]): Promise<T> =>
  page.evaluate(([f, a]) => (window as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>).hubTest[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;

async function openPage(): Promise<void> {
  await page.goto(`${server.origin}/hub-import.html`);
  await page.waitForFunction(() => 'hubTestReady' in window, null, { timeout: 60_000 });
}

/** Runs an import to its end; returns the outcome and the Hub requests it made. */
async function runImport(key: string, src: Record<string, unknown>, options: Record<string, unknown> = {}): Promise<ImportOutcome & { requests: FakeHubRequest[] }> {
  const before = hub.requests.length;
  await call('start', key, src, options);
  const outcome = await call<ImportOutcome>('finish', key);
  return { ...outcome, requests: hub.requests.slice(before) };
}

/** The stored package against the CLI's: same manifest (up to the model id) and the same bytes for every file. */
async function expectSameAsCli(packageUrl: string, modelId = 'tiny'): Promise<Record<string, StoredFile>> {
  const stored = await call<Record<string, StoredFile>>('storedFiles', packageUrl);
  expect(stored['manifest.json'].text!.replace(`"modelId": "${modelId}"`, '"modelId": "tiny"')).toBe(cli.manifestText);
  const data = Object.fromEntries(Object.entries(stored).filter(([path]) => path !== 'manifest.json').map(([path, f]) => [path, f.sha256]));
  expect(data).toEqual(Object.fromEntries(Object.entries(cli.sha256).filter(([path]) => path !== 'manifest.json')));
  for (const file of Object.values(stored)) expect([file.complete, file.recordSize]).toEqual([true, file.size]);
  return stored;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'flux-hub-import-'));
  const fixtures = await tinyHubRepos(tmp);
  dataStart = fixtures.dataStart;
  ({ fileOf, tensorRequests, bytesByFile } = requestReader(fixtures));
  hub = await startFakeHub(fixtures.repos, { tokens: { hf_reader: [TINY.gatedRepo] } });
  await build({ configFile: join(ROOT, 'vite.lib.config.ts'), root: ROOT, logLevel: 'warn', build: { outDir: join(tmp, 'lib'), emptyOutDir: true } });
  importWorkerFile = readdirSync(join(tmp, 'lib')).find((f) => /^import\.worker.*\.js$/.test(f))!;
  expect(importWorkerFile, 'the library ships the import worker').toBeDefined();
  const dir = join(tmp, 'cli');
  await convertCheckpoint({
    checkpoint: `hf:${TINY.repo}`,
    transformer: `hf:${TINY.ggufRepo}/${TINY.gguf}`,
    textEncoder2: `hf:${TINY.t5Repo}/${TINY.t5Gguf}`,
    out: dir,
    weights: 'q4',
    modelId: 'tiny',
    hub: { hubUrl: hub.hubUrl },
  });
  cli = {
    dir,
    manifestText: readFileSync(join(dir, 'manifest.json'), 'utf8'),
    sha256: Object.fromEntries(listFiles(dir).map((path) => [path, createHash('sha256').update(readFileSync(join(dir, path))).digest('hex')])),
  };
  server = await startStaticServer({ '/': join(ROOT, 'test/browser/pages'), '/lib/': join(tmp, 'lib') });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (error) => console.error('[page error]', error));
  await openPage();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await hub?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('in-page import from the Hub', () => {
  it('stores a package byte-identical to the CLI\'s (GGUF Q4_0/Q8_0 transformer and T5, q4), requesting only the source files, every byte accounted for', async () => {
    const lagDuring = call<number>('timerLag', 1500);
    const run = await runImport('clean', source());
    const lag = await lagDuring;
    expect(run.error).toBeUndefined();
    const result = run.value!;
    expect(result).toMatchObject({ modelId: 'tiny', alreadyStored: false, graphsKept: 0 });
    expect(result.packageUrl).toBe(await call('packageUrl', source()));
    await expectSameAsCli(result.packageUrl);
    expect(result.packageBytes).toBe((JSON.parse(cli.manifestText) as Manifest).files.reduce((sum, f) => sum + f.size, 0));

    // Only the listings and the files the conversion reads; never the weights the GGUFs replace.
    const files = new Set(run.requests.map((r) => fileOf(r)));
    for (const replaced of [`${TINY.repo}/transformer/diffusion_pytorch_model.safetensors`, `${TINY.repo}/text_encoder_2/model.safetensors`]) expect(files).not.toContain(replaced);
    for (const file of files) expect(file).toMatch(new RegExp(`^(/api/models/(${TINY.repo}|${TINY.ggufRepo}|${TINY.t5Repo})/tree/main|(${TINY.repo}|${TINY.ggufRepo}|${TINY.t5Repo})/.+)$`));
    // Every byte the Hub and the file host sent for files is one the import counted.
    cleanBytes = bytesByFile(run.requests.filter((r) => !r.path.startsWith('/api/')));
    cleanGgufRanges = tensorRequests(run.requests, [`${TINY.ggufRepo}/${TINY.gguf}`]).map((r) => r.range);
    const counted = Object.fromEntries(run.events.at(-1)!.files.map((f) => [f.file.replace(/^hf:/, ''), f.loaded]));
    expect(counted).toEqual(Object.fromEntries(cleanBytes));
    expect([...cleanBytes.values()].reduce((a, b) => a + b, 0)).toBe(result.bytesFetched);

    // Progress: totals known from the plan, per file, monotone, ending at the total.
    const converting = run.events.filter((e) => e.phase !== 'planning');
    expect(converting.length).toBeGreaterThan(1);
    for (let i = 1; i < converting.length; i++) expect(converting[i].loaded).toBeGreaterThanOrEqual(converting[i - 1].loaded);
    const last = run.events.at(-1)!;
    expect(last.phase).toBe('done');
    expect(last.loaded).toBe(last.total);
    expect(last.total).toBe(result.bytesFetched);
    expect(last.files.map((f) => f.file)).toEqual(expect.arrayContaining([`hf:${TINY.ggufRepo}/${TINY.gguf}`, `hf:${TINY.t5Repo}/${TINY.t5Gguf}`]));
    expect(converting.map((e) => e.graphCount)).toContain((JSON.parse(cli.manifestText) as Manifest).graphs.length);
    console.log(`import: ${result.bytesFetched} B fetched (files read: ${[...cleanBytes.keys()].length}), package ${result.packageBytes} B, ${run.events.length} progress events; longest main-thread timer gap during it ${lag.toFixed(0)} ms`);

  }, 300_000);

  it('createGenerator({ model: <Hub source> }) imports on the first generate(), with progress, then generates; later calls fetch nothing', async () => {
    // fp32: SwiftShader has no shader-f16, which the q4/q8/fp16 text encoders' float16 embedding Gather needs.
    const src = source({ transformer: undefined, textEncoder2: undefined, weights: 'fp32', modelId: 'tiny-fp32' });
    await call('createGenerator', 'imported', { model: src, allowAnySize: true });
    type Generated = { ok: boolean; error?: PageError; backend: string; pngSignature: number[]; events: ImportEvent[] | { stage: string }[] };
    const first = await call<Generated>('generate', 'imported', { prompt: PROMPT, width: 64, height: 64, steps: 1, seed: 7 });
    expect(first.error).toBeUndefined();
    expect(first).toMatchObject({ ok: true, backend: 'local', pngSignature: [0x89, 0x50, 0x4e, 0x47] });
    const stages = first.events.map((e) => e.stage);
    expect(stages.indexOf('import')).toBeLessThan(stages.indexOf('denoise'));
    expect(stages).not.toContain('download');
    const imported = (first.events as ImportEvent[]).filter((e) => e.stage === 'import');
    expect(imported.at(-1)).toMatchObject({ phase: 'done' });
    const before = hub.requests.length;
    const again = await call<Generated>('generate', 'imported', { prompt: PROMPT, width: 64, height: 64, steps: 1, seed: 8 });
    expect(again.ok).toBe(true);
    expect(hub.requests.slice(before)).toEqual([]);
  }, 300_000);

  it('lets a stored model generate while an import is in progress; the import can be stopped and resumed', async () => {
    const gguf = `${TINY.ggufRepo}/${TINY.gguf}`;
    let release!: () => void;
    const held = new Promise<void>((done) => {
      hub.faults.stall = { path: TINY.gguf, afterBytes: 100, from: dataStart.get(gguf), release: new Promise((r) => (release = r)), held: done };
    });
    await call('start', 'busy', source({ modelId: 'tiny-busy' }));
    await held;
    // The model imported by the previous test, its sessions loaded in the generator worker.
    const image = await call<{ ok: boolean; error?: PageError; backend: string }>('generate', 'imported', { prompt: PROMPT, width: 64, height: 64, steps: 1, seed: 3 });
    expect(image.error).toBeUndefined();
    expect(image.ok).toBe(true);
    expect(await call('settled', 'busy')).toBe(false); // the import is still waiting for its tensor
    const pinged = await page.evaluate(() => new Promise<boolean>((done) => {
      const button = document.getElementById('ping')!;
      button.addEventListener('click', () => done(true), { once: true });
      button.click();
    }));
    expect(pinged).toBe(true);
    // Stop it: AbortedError, the graphs written are kept; the next import resumes and finishes.
    await call('cancel', 'busy');
    const stopped = await call<ImportOutcome>('finish', 'busy');
    expect(stopped.error).toMatchObject({ name: 'AbortedError', isFluxError: true });
    expect(stopped.error!.message).toMatch(/next import resumes/);
    release();
    const done = await runImport('busy-again', source({ modelId: 'tiny-busy' }));
    expect(done.error).toBeUndefined();
    expect(done.value!.graphsKept).toBeGreaterThan(0);
    await expectSameAsCli(done.value!.packageUrl, 'tiny-busy');
    await call('call', 'imported', 'dispose');
  }, 240_000);

  it('resumes a connection dropped in the middle of a tensor without fetching any completed tensor again', async () => {
    const gguf = `${TINY.ggufRepo}/${TINY.gguf}`;
    hub.faults.drop = { path: TINY.gguf, afterBytes: 700, times: 1, from: dataStart.get(gguf) };
    const run = await runImport('drop', source({ modelId: 'tiny-drop' }));
    expect(hub.faults.drop.times).toBe(0); // it did drop
    hub.faults.drop = undefined;
    expect(run.error).toBeUndefined();
    await expectSameAsCli(run.value!.packageUrl, 'tiny-drop');
    // Every other file as in a fault-free import; the GGUF: one request more (the rest of
    // the dropped tensor), and at most the 700 bytes sent before the drop fetched again
    // (Chromium hands a body that ends in a network error to the page without its last bytes).
    const bytes = bytesByFile(run.requests.filter((r) => !r.path.startsWith('/api/')));
    const again = bytes.get(gguf)! - cleanBytes.get(gguf)!;
    expect(again).toBeGreaterThanOrEqual(0);
    expect(again).toBeLessThanOrEqual(700);
    expect(new Map([...bytes].filter(([file]) => file !== gguf))).toEqual(new Map([...cleanBytes].filter(([file]) => file !== gguf)));
    const ranges = tensorRequests(run.requests, [gguf]).map((r) => r.range);
    expect(ranges.length).toBe(cleanGgufRanges.length + 1);
    // Each completed tensor's range was asked for once; only the dropped one twice (its rest).
    expect(new Set(ranges).size).toBeGreaterThanOrEqual(cleanGgufRanges.length);
    console.log(`dropped after 700 B of a tensor: ${run.value!.bytesFetched} B fetched, fault-free ${[...cleanBytes.values()].reduce((a, b) => a + b, 0)} B: ${again} B fetched again; GGUF tensor requests ${ranges.length} (fault-free ${cleanGgufRanges.length})`);
  }, 120_000);

  it('survives a reload mid-import: listed as incomplete, then resumed at the graph it stopped at without fetching the converted graphs\' tensors', async () => {
    const vae = `${TINY.repo}/vae/diffusion_pytorch_model.safetensors`;
    let release!: () => void;
    const held = new Promise<void>((done) => {
      hub.faults.stall = { path: 'vae/diffusion_pytorch_model.safetensors', afterBytes: 100, from: dataStart.get(vae), release: new Promise((r) => (release = r)), held: done };
    });
    const src = source({ modelId: 'tiny-reload' });
    const firstStart = hub.requests.length;
    await call('start', 'reload-1', src);
    await held; // every graph but the VAE's (decoder, encoder) is written; the VAE's first tensor is on its way
    const firstRequests = hub.requests.slice(firstStart);
    const packageUrl = await call<string>('packageUrl', src);
    await page.reload();
    await page.waitForFunction(() => 'hubTestReady' in window, null, { timeout: 60_000 });
    release();

    await call('createGenerator', 'lister', { model: packageUrl });
    const listed = await call<{ value: StoredModel[] }>('call', 'lister', 'listModels');
    const partial = listed.value.find((m) => m.packageUrl === packageUrl)!;
    expect(partial).toMatchObject({ complete: false, importing: { source: expect.stringContaining(`hf:${TINY.repo}`) } });
    expect(partial.bytesStored).toBeGreaterThan(0);
    const record = await call<{ importing?: { state: string } }>('packageRecord', packageUrl);
    expect(record.importing?.state).toBeTruthy();
    // It cannot be loaded half-way: the engine finds no manifest for it (the device check still answers, without the model).
    await call('createGenerator', 'partial', { model: packageUrl });
    const device = await call<{ ok: boolean; error?: PageError; value?: { model?: unknown } }>('call', 'partial', 'checkDevice');
    expect(device.error).toBeUndefined();
    expect(device.value!.model).toBeUndefined();
    const early = await call<{ ok: boolean; error?: PageError }>('call', 'partial', 'load');
    expect(early.error).toMatchObject({ name: 'ModelPackageError', isFluxError: true, fields: { reason: 'not-stored' } });
    expect(early.error!.message).toMatch(/import it first/);
    await call('call', 'partial', 'dispose');

    const resumed = await runImport('reload-2', src);
    expect(resumed.error).toBeUndefined();
    const cliGraphs = (JSON.parse(cli.manifestText) as Manifest).graphs;
    const graphs = cliGraphs.length;
    // The VAE file feeds its decoder and (image-to-image) its encoder graph: both are converted again.
    const vaeGraphs = cliGraphs.filter((g) => g.role === 'vae-decoder' || g.role === 'vae-encoder').length;
    expect(resumed.value).toMatchObject({ graphsKept: graphs - vaeGraphs, graphsConverted: vaeGraphs });
    await expectSameAsCli(packageUrl, 'tiny-reload');
    // The resumed import read only headers of the files of the converted graphs, and the VAE's tensors again.
    const convertedFiles = [...dataStart.keys()].filter((f) => f !== vae && !/\/(transformer|text_encoder_2)\//.test(f));
    expect(tensorRequests(resumed.requests, convertedFiles)).toEqual([]);
    expect(tensorRequests(resumed.requests, [vae]).length).toBeGreaterThan(0);
    // Progress continues from what the first session received: the last event still ends at the total.
    const last = resumed.events.at(-1)!;
    expect(last.loaded).toBe(last.total);
    const fetchedFirst = [...bytesByFile(firstRequests.filter((r) => !r.path.startsWith('/api/'))).values()].reduce((a, b) => a + b, 0);
    console.log(`reload mid-import: first session ${fetchedFirst} B, resumed session ${resumed.value!.bytesFetched} B (fault-free import ${[...cleanBytes.values()].reduce((a, b) => a + b, 0)} B); graphs kept ${resumed.value!.graphsKept} of ${graphs}; tensor requests for converted graphs after the reload: 0`);
  }, 180_000);

  it('checks the storage quota before the first tensor byte, and a disk that fills up mid-import keeps the work for the resume', async () => {
    // 1. The quota the browser reports is short: refused before any tensor request, nothing stored.
    const src = source({ modelId: 'tiny-quota' });
    const packageUrl = await call<string>('packageUrl', src);
    const short = await runImport('quota', src, { estimate: { workerFile: importWorkerFile, quota: 50_000_000, usage: 0 } });
    expect(short.error).toMatchObject({ name: 'StorageQuotaError', isFluxError: true, fields: { availableBytes: 50_000_000 } });
    expect(short.error!.fields.neededBytes).toBeGreaterThan(50_000_000);
    expect(short.error!.message).toMatch(/Free disk space or delete stored models/);
    expect(tensorRequests(short.requests)).toEqual([]);
    expect(await call('packageRecord', packageUrl)).toBeUndefined();

    // 2. A real quota (DevTools protocol) that runs out in the middle of the import, in a
    //    fresh browser context (empty storage, so the quota is what the import may use).
    const mainPage = page;
    const context = await browser.newContext();
    page = await context.newPage();
    try {
      await openPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Storage.overrideQuotaForOrigin' as never, { origin: server.origin, quotaSize: 400_000 } as never);
      let full: ImportOutcome;
      try {
        full = await runImport('disk-full', src);
      } finally {
        await cdp.send('Storage.overrideQuotaForOrigin' as never, { origin: server.origin } as never);
      }
      expect(full.error).toMatchObject({ name: 'StorageQuotaError', isFluxError: true });
      expect(full.error!.message).toMatch(/import again: it resumes/);
      const kept = await call<{ importing?: { state: string | null } }>('packageRecord', packageUrl);
      expect(kept.importing).toBeDefined();
      const resumed = await runImport('disk-freed', src);
      expect(resumed.error).toBeUndefined();
      expect(resumed.value!.graphsKept).toBeGreaterThan(0);
      await expectSameAsCli(packageUrl, 'tiny-quota');
      console.log(`disk full mid-import: "${full.error!.message}"; resumed with ${resumed.value!.graphsKept} graphs kept`);
    } finally {
      await context.close();
      page = mainPage;
    }
  }, 180_000);

  it('refuses bad sources with typed errors that say what to do, storing nothing', async () => {
    const cases: [string, Record<string, unknown>, Record<string, unknown>, RegExp][] = [
      ['missing repository', source({ from: 'hf:test-org/no-such-model' }), { name: 'HubError', fields: { reason: 'repo-not-found' } }, /check the owner\/name/],
      ['missing file', source({ transformer: `hf:${TINY.ggufRepo}/missing.gguf` }), { name: 'CheckpointError', fields: { reason: 'missing-file' } }, /its weight files are: flux1-tiny-Q4_0\.gguf/],
      ['gated without a token', source({ from: `hf:${TINY.gatedRepo}` }), { name: 'HubError', fields: { reason: 'gated', status: 401 } }, /accept its conditions/],
      ['GGUF of another architecture', source({ transformer: `hf:${TINY.badRepo}/${TINY.llamaGguf}` }), { name: 'CheckpointError', fields: { reason: 'unsupported' } }, /architecture "llama"/],
      ['unsupported quant type', source({ transformer: `hf:${TINY.badRepo}/${TINY.iqGguf}` }), { name: 'CheckpointError', fields: { tensor: expect.any(String), reason: 'unsupported' } }, /IQ4_XS/],
      ['bad option', source({ weights: 'q3' }), { name: 'InvalidParameterError', fields: { field: 'model.weights' } }, /one of fp32, fp16, q8, q4/],
    ];
    const refused: string[] = [];
    for (const [label, src, error, message] of cases) {
      if (label !== 'bad option') refused.push(await call<string>('packageUrl', src));
      const run = await runImport(`bad-${label}`, src);
      expect(run.error, label).toMatchObject({ isFluxError: true, ...error });
      expect(run.error!.message, label).toMatch(message);
      expect(tensorRequests(run.requests), label).toEqual([]);
    }
    // A corrupted download (a config that does not match the Hub's hash).
    hub.faults.corrupt = { path: 'vae/config.json' };
    refused.push(await call<string>('packageUrl', source({ modelId: 'tiny-corrupt' })));
    const corrupted = await runImport('corrupt', source({ modelId: 'tiny-corrupt' }));
    hub.faults.corrupt = undefined;
    expect(corrupted.error).toMatchObject({ name: 'IntegrityError', isFluxError: true });
    expect(corrupted.error!.message).toMatch(/run again/);
    // A gated repository with a token that may read it.
    const gated = await call<{ ok: boolean; value?: { licenses: { repo: string; license?: string; gated: boolean }[]; downloadBytes: number; storedBytes: number }; error?: PageError }>('plan', source({ from: `hf:${TINY.gatedRepo}`, token: 'hf_reader' }));
    expect(gated.error).toBeUndefined();
    expect(gated.value!.licenses).toContainEqual({ repo: TINY.gatedRepo, license: 'other', gated: true });
    expect(gated.value!.downloadBytes).toBeGreaterThan(0);
    expect(hub.requests.filter((r) => r.authorization && r.host === 'cdn')).toEqual([]);
    const listed = await call<{ value: StoredModel[] }>('call', 'lister', 'listModels');
    expect(listed.value.map((m) => m.packageUrl).filter((url) => refused.includes(url))).toEqual([]);
  }, 180_000);
});
