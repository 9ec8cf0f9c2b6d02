/**
 * `npm run bench -- --only download-faults`: the bytes fetched again per injected download
 * fault, for a 1 GiB file, in a real headless Chromium. The weight store runs on a page
 * served from the sources (Vite dev server); the file comes from the browser bench's static
 * server (test/browser/harness.ts), which injects each fault and counts the body bytes it
 * hands to the network. For each fault, from an empty store: how many `ensureFiles` calls
 * it took, the requests and retries, the body bytes sent beyond the file size (fetched
 * again), and whether the stored file is exactly the original (every chunk re-read and
 * hashed). The last row is the same flipped byte with a manifest without chunk hashes,
 * i.e. how it went before per-chunk hashes.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Browser } from 'playwright-core';
import { ChunkSha256 } from '../../src/package/chunk-hashes.ts';
import type { PackageFile } from '../../src/package/manifest.ts';
import type { DownloadRetryOptions } from '../../src/store/download-retry.ts';
import { WEIGHT_STORE_DEFAULTS } from '../../src/store/weight-store-defaults.ts';
import { launchBrowser, startSourceServer, startStaticServer, type Fault, type SourceServer, type StaticServer } from '../../test/browser/harness.ts';
import type { Bench, BenchOptions, BenchSummary } from './bench.ts';
import { formatBytes, formatMs, table } from './measure.ts';
import type {} from './pages/download-faults-page.ts';

const CHUNK = WEIGHT_STORE_DEFAULTS.chunkSizeBytes;
/** 1 GiB and a bit: the last chunk is short. */
const SIZE = 2 ** 30 + 123_457;
/** Fast retries; the idle timeout is what a stall costs in time. */
const RETRY: DownloadRetryOptions = { idleTimeoutMs: 3_000, retryBaseMs: 200, retryMaxMs: 2_000 };

/** One fault scenario. */
interface Scenario {
  name: string;
  /** Faults for the file, in the order they apply. */
  faults: Omit<Fault, 'match'>[];
  /** Injected faults counted for "per fault". */
  injected: number;
  /** Use the manifest entry without chunk hashes (an older package). */
  withoutChunkHashes?: boolean;
}

const at = (fraction: number) => Math.floor(SIZE * fraction);
const SCENARIOS: Scenario[] = [
  { name: 'stalled body at 40 % (idle timeout 3 s)', faults: [{ stallAfterBytes: at(0.4) }], injected: 1 },
  { name: 'connection dropped at 60 %', faults: [{ cutAfterBytes: at(0.6) }], injected: 1 },
  { name: 'HTTP 503 twice, then success', faults: [{ status: 503, retryAfter: '1', times: 2 }], injected: 2 },
  { name: 'drop at 50 %, then 206 from byte 0 once', faults: [{ cutAfterBytes: at(0.5) }, { rangeFromZero: true, onlyRanged: true }], injected: 2 },
  { name: 'drop at 50 %, then always 206 from byte 0', faults: [{ cutAfterBytes: at(0.5) }, { rangeFromZero: true, onlyRanged: true, times: 1_000 }], injected: 2 },
  { name: 'one flipped byte at 70 %', faults: [{ flipByteAt: at(0.7) }], injected: 1 },
  { name: 'one flipped byte at 70 %, no chunk hashes (before)', faults: [{ flipByteAt: at(0.7) }], injected: 1, withoutChunkHashes: true },
];

/** Writes `size` random bytes, returning the manifest entry with per-chunk hashes. */
async function writeRandomFile(path: string, size: number): Promise<PackageFile> {
  const whole = createHash('sha256');
  const chunks = new ChunkSha256(CHUNK, () => createHash('sha256'));
  const stream: WriteStream = createWriteStream(path);
  const block = Buffer.allocUnsafe(CHUNK);
  const write = (bytes: Buffer) => new Promise<void>((done, fail) => stream.write(bytes, (error) => (error ? fail(error) : done())));
  try {
    for (let written = 0; written < size; ) {
      const piece = block.subarray(0, Math.min(block.length, size - written));
      randomFillSync(piece);
      whole.update(piece);
      chunks.update(piece);
      await write(piece);
      written += piece.length;
    }
  } finally {
    await new Promise<void>((done, fail) => stream.end((error?: Error | null) => (error ? fail(error) : done())));
  }
  return { path: path.slice(dirname(path).length + 1), size, sha256: whole.digest('hex'), ...chunks.finish() };
}

export const downloadFaultsBench: Bench = {
  name: 'download-faults',
  description: 'bytes re-fetched per injected download fault (stall, drop, 503, 206 from 0, flipped byte), 1 GiB file, Chromium',
  async run(options: BenchOptions): Promise<BenchSummary> {
    const { log } = options;
    const tmp = mkdtempSync(join(tmpdir(), 'flux-download-faults-'));
    let server: StaticServer | undefined;
    let vite: SourceServer | undefined;
    let browser: Browser | undefined;
    const summary: BenchSummary = [];
    try {
      log(`temp folder ${tmp}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
      const t0 = performance.now();
      const file = await writeRandomFile(join(tmp, 'weights.onnx_data'), SIZE);
      log(`file: ${formatBytes(SIZE)} (${file.chunkSha256!.length} chunks of ${formatBytes(CHUNK)}), random bytes + hashes in ${formatMs(performance.now() - t0)}`);
      const { chunkSize: _size, chunkSha256: _hashes, ...oldEntry } = file;

      server = await startStaticServer({ '/pkg/': tmp });
      vite = await startSourceServer(join(tmp, 'vite-cache'));
      browser = await launchBrowser();
      const page = await browser.newPage();
      await page.goto(`${vite.origin}/tools/bench/pages/download-faults.html`);
      await page.waitForFunction(() => 'faultBench' in window, null, { timeout: 60_000 });
      const pkg = `${server.origin}/pkg/`;
      const urlPath = `/pkg/${file.path}`;
      log(`Chromium ${browser.version()}, weight store on the page's main thread; retry settings ${JSON.stringify(RETRY)}`);
      log();

      const rows: string[][] = [['fault', 'loads', 'requests', 'retries', 're-fetched', 'per fault', '≤ 1 chunk', 'stored file intact', 'time']];
      for (const scenario of SCENARIOS) {
        await page.evaluate(() => window.faultBench.deleteAll());
        server.requests.length = 0;
        server.bodyBytesSent.clear();
        server.faults.length = 0;
        server.faults.push(...scenario.faults.map((f) => ({ ...f, match: (p: string) => p === urlPath })));
        const entry = scenario.withoutChunkHashes ? oldEntry : file;
        const started = performance.now();
        const runs = [];
        // A failed load is called again, as a page would (at most 3 times).
        for (let call = 0; call < 3; call++) {
          const run = await page.evaluate(([p, f, r]) => window.faultBench.ensure(p, f, r), [pkg, [entry], RETRY] as const);
          runs.push(run);
          if (!run.error) break;
        }
        const ms = performance.now() - started;
        const sent = server.bodyBytesSent.get(urlPath) ?? 0;
        const refetched = sent - SIZE;
        const requests = server.requests.filter((r) => r.method === 'GET' && r.url === urlPath).length;
        const intact = await page.evaluate(([p, path, hashes]) => window.faultBench.intact(p, path, hashes), [pkg, file.path, file.chunkSha256!] as const);
        const retries = runs.flatMap((r) => r.retries);
        const perFault = refetched / scenario.injected;
        rows.push([
          scenario.name,
          `${runs.length}${runs.some((r) => r.error) ? ` (${runs.filter((r) => r.error).length} failed)` : ''}`,
          String(requests),
          String(retries.length),
          formatBytes(refetched),
          formatBytes(perFault),
          perFault <= CHUNK ? 'yes' : 'no',
          intact ? 'yes' : 'NO',
          formatMs(ms),
        ]);
        for (const run of runs) if (run.error) log(`  ${scenario.name}: a load failed: ${run.error.slice(0, 200)}`);
        for (const retry of retries.slice(0, 4)) log(`  ${scenario.name}: ${retry}`);
        summary.push([`re-fetched: ${scenario.name}`, `${formatBytes(refetched)} (${runs.length} load${runs.length > 1 ? 's' : ''}${intact ? '' : ', NOT intact'})`]);
      }
      log();
      log(table(rows));
      log();
      log('"re-fetched": file body bytes the server handed to the network beyond the file size, over all requests of the scenario.');
      log('"always 206 from byte 0": the broken server re-sends the prefix (unavoidable); it is read through, not stored twice.');
      return summary;
    } finally {
      await browser?.close().catch(() => undefined);
      await vite?.close().catch(() => undefined);
      await server?.close().catch(() => undefined);
      rmSync(tmp, { recursive: true, force: true });
    }
  },
};
