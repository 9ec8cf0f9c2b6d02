/**
 * Download faults in a real headless Chromium, against the harness's real static server on
 * another origin, which injects each fault and counts the body bytes it sent: a stalled
 * body, a connection dropped mid-body, 503 then success, a Range request answered 206 from
 * byte 0, and one flipped byte in one chunk. The manifest entries carry the converter's
 * per-chunk sha256. For each: one `ensureFiles` call succeeds on its own, the stored file
 * is exactly the original (0 corrupted bytes), and the bytes fetched again stay within one
 * 8 MiB chunk per fault (the Range mis-answer costs the prefix it re-sends). When the
 * budget runs out the error is typed. Old manifests without chunk hashes still load
 * (weight-store.test.ts runs them all through that path).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chunkHashesOf } from '../../src/package/chunk-hashes.ts';
import type { PackageFile } from '../../src/package/manifest.ts';
import type { DownloadRetryOptions } from '../../src/store/download-retry.ts';
import { WEIGHT_STORE_DEFAULTS } from '../../src/store/weight-store-defaults.ts';
import { launchBrowser, startSourceServer, startStaticServer, type SourceServer, type StaticServer } from './harness.ts';
import type {} from './pages/weight-store-page.ts';

const CHUNK = WEIGHT_STORE_DEFAULTS.chunkSizeBytes;
/** Fast retries for tests; the idle timeout is long enough for a loaded machine's pauses. */
const RETRY: DownloadRetryOptions = { idleTimeoutMs: 1_500, retryBaseMs: 50, retryMaxMs: 200 };

interface TestFile {
  entry: PackageFile;
  bytes: Buffer;
}

let tmp: string;
let server: StaticServer;
let vite: SourceServer;
let browser: Browser;
let page: Page;
let pkg: string;
let big: TestFile;
let second: TestFile;

function makeFile(dir: string, path: string, size: number): TestFile {
  const bytes = randomBytes(size);
  writeFileSync(join(dir, path), bytes);
  const entry = { path, size, sha256: createHash('sha256').update(bytes).digest('hex'), ...chunkHashesOf(bytes, CHUNK, () => createHash('sha256')) };
  return { entry, bytes };
}

const ensure = (files: PackageFile[], retry: DownloadRetryOptions = RETRY) => page.evaluate(([p, f, r]) => window.weightStoreTest.ensure(p, f, { retry: r }), [pkg, files, retry] as const);
const fileRecord = (path: string) => page.evaluate(([p, f]) => window.weightStoreTest.fileRecord(p, f), [pkg, path] as const);
const getFile = (path: string) => page.evaluate(([p, f]) => window.weightStoreTest.getFile(p, f, 0), [pkg, path] as const);
/** Body bytes the server sent for a file beyond its size: what was fetched again. */
const refetched = (file: TestFile) => (server.bodyBytesSent.get(`/pkg/${file.entry.path}`) ?? 0) - file.entry.size;
const gets = (file: TestFile) => server.requests.filter((r) => r.method === 'GET' && r.url === `/pkg/${file.entry.path}`);
const rangeStart = (r: { headers: Record<string, string | string[] | undefined> }) => Number(/^bytes=(\d+)-/.exec(String(r.headers.range ?? ''))?.[1] ?? 0);

/** The stored file is exactly the original: size and sha256 of what a session would get. */
async function expectIntact(file: TestFile): Promise<void> {
  const stored = await getFile(file.entry.path);
  expect(stored.error).toBeNull();
  expect(stored).toMatchObject({ size: file.entry.size, sha256: file.entry.sha256 });
  expect(await fileRecord(file.entry.path)).toMatchObject({ complete: true, bytesStored: file.entry.size });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'download-faults-'));
  big = makeFile(tmp, 'big.onnx_data', 5 * CHUNK + 777_777); // 6 chunks, the last one short
  second = makeFile(tmp, 'second.onnx_data', CHUNK + 1_234);
  server = await startStaticServer({ '/pkg/': tmp });
  pkg = `${server.origin}/pkg/`;
  vite = await startSourceServer(join(tmp, 'vite-cache'));
  browser = await launchBrowser();
  page = await (await browser.newContext()).newPage();
  await page.goto(`${vite.origin}/test/browser/pages/weight-store.html`);
  await page.waitForFunction(() => 'weightStoreTest' in window);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await vite?.close();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

beforeEach(async () => {
  await page.evaluate(() => window.weightStoreTest.deleteAll());
  server.requests.length = 0;
  server.faults.length = 0;
  server.bodyBytesSent.clear();
});

const isBig = (path: string) => path.endsWith(big.entry.path);

describe('one load survives each fault, re-fetching at most one chunk', () => {
  it('a body that stalls: the idle timeout aborts it and the retry resumes at the exact byte', async () => {
    server.faults.push({ match: isBig, stallAfterBytes: 2 * CHUNK + 333_333 });
    const { events, error } = await ensure([big.entry]);
    expect(error).toBeNull();
    const retries = events.filter((e) => e.status === 'retrying');
    expect(retries[0]).toMatchObject({ fault: 'stalled', attempt: 2, file: big.entry.path });
    expect(retries[0].status === 'retrying' && retries[0].message).toMatch(/idle timeout; retrying in 0\.\d s \(attempt 2 of 6\)/);
    const requests = gets(big);
    expect(rangeStart(requests[1])).toBe(2 * CHUNK + 333_333);
    expect(refetched(big)).toBeLessThanOrEqual(CHUNK);
    await expectIntact(big);
  });

  it('a connection dropped mid-body: retried from the byte where it stopped', async () => {
    server.faults.push({ match: isBig, cutAfterBytes: 3 * CHUNK + 5 });
    const { events, error } = await ensure([big.entry]);
    expect(error).toBeNull();
    expect(events.find((e) => e.status === 'retrying')).toMatchObject({ fault: 'dropped' });
    expect(refetched(big)).toBeLessThanOrEqual(CHUNK);
    expect(gets(big).length).toBeGreaterThanOrEqual(2);
    await expectIntact(big);
  });

  it('503 twice, then success: waits (Retry-After honoured), resumes, re-fetches nothing', async () => {
    server.faults.push({ match: isBig, status: 503, retryAfter: '0', times: 2 });
    const { events, error } = await ensure([big.entry]);
    expect(error).toBeNull();
    const retries = events.filter((e) => e.status === 'retrying');
    expect(retries.slice(0, 2)).toMatchObject([
      { fault: 'http', httpStatus: 503, attempt: 2, delayMs: 0 },
      { fault: 'http', httpStatus: 503, attempt: 3 },
    ]);
    expect(refetched(big)).toBe(0);
    await expectIntact(big);
  });

  it('a Range request answered 206 from byte 0 once: that answer is dropped after its headers and the request made again', async () => {
    const cut = 2 * CHUNK + 4_321;
    server.faults.push({ match: isBig, cutAfterBytes: cut }, { match: isBig, rangeFromZero: true, onlyRanged: true });
    const { events, error } = await ensure([big.entry]);
    expect(error).toBeNull();
    expect(events.filter((e) => e.status === 'retrying').map((e) => e.status === 'retrying' && e.fault)).toEqual(['dropped', 'range']);
    const requests = gets(big);
    expect(requests).toHaveLength(3);
    // Chromium may drop the last bytes before a reset: the resumption starts at most one chunk earlier.
    const resumedAt = rangeStart(requests[1]);
    expect(resumedAt).toBeGreaterThan(cut - CHUNK);
    expect(resumedAt).toBeLessThanOrEqual(cut);
    expect(rangeStart(requests[2])).toBe(resumedAt);
    expect(refetched(big)).toBeLessThanOrEqual(CHUNK);
    await expectIntact(big);
  });

  it('a server that answers every Range request 206 from byte 0: read from byte 0, the stored prefix skipped', async () => {
    const cut = 2 * CHUNK + 4_321;
    server.faults.push({ match: isBig, cutAfterBytes: cut }, { match: isBig, rangeFromZero: true, onlyRanged: true, times: 100 });
    const { error } = await ensure([big.entry]);
    expect(error).toBeNull();
    expect(gets(big)).toHaveLength(3);
    // The broken server re-sends the prefix (unavoidable), plus what it pushed before the first such answer was dropped.
    expect(refetched(big)).toBeLessThanOrEqual(cut + CHUNK);
    await expectIntact(big);
  });

  it('one flipped byte in chunk 3: only that chunk is fetched again (bytes=a-b), no bad byte is stored', async () => {
    const flipAt = 3 * CHUNK + 1_000;
    server.faults.push({ match: isBig, flipByteAt: flipAt });
    const { events, error } = await ensure([big.entry]);
    expect(error).toBeNull();
    expect(events.find((e) => e.status === 'retrying')).toMatchObject({ fault: 'chunk' });
    const requests = gets(big);
    expect(requests).toHaveLength(2);
    expect(requests[1].headers.range).toBe(`bytes=${3 * CHUNK}-${4 * CHUNK - 1}`);
    expect(refetched(big)).toBe(CHUNK);
    await expectIntact(big);
  });

  it('the other files of the load are untouched by a fault in one', async () => {
    server.faults.push({ match: isBig, cutAfterBytes: CHUNK + 99 });
    const { error } = await ensure([second.entry, big.entry]);
    expect(error).toBeNull();
    expect(refetched(second)).toBe(0);
    expect(gets(second)).toHaveLength(1);
    await expectIntact(second);
    await expectIntact(big);
  });
});

describe('when the budget runs out', () => {
  it('503 every time: DownloadRetriesExhaustedError after maxRetries + 1 attempts, the status and fault named', async () => {
    server.faults.push({ match: isBig, status: 503, times: 100 });
    const { events, error } = await ensure([big.entry], { ...RETRY, maxRetries: 3 });
    expect(error).toMatchObject({ name: 'DownloadRetriesExhaustedError', status: 503, attempts: 4, fault: 'http' });
    expect(error!.message).toContain('gave up after 4 attempts');
    expect(events.filter((e) => e.status === 'retrying')).toHaveLength(3);
    expect(gets(big)).toHaveLength(4);
  });

  it('a body that stalls every time: typed, and what arrived is kept for the next call', async () => {
    // The first answer stalls after CHUNK + 10 bytes, every later one before its first byte.
    server.faults.push({ match: isBig, stallAfterBytes: CHUNK + 10 }, { match: isBig, stallAfterBytes: 0, times: 10 });
    const { error } = await ensure([big.entry], { ...RETRY, idleTimeoutMs: 600, maxRetries: 2 });
    expect(error).toMatchObject({ name: 'DownloadRetriesExhaustedError', fault: 'stalled', attempts: 3 });
    expect(error!.message).toContain('idle timeout');
    expect((await fileRecord(big.entry.path))!.bytesStored).toBe(CHUNK + 10);
    server.faults.length = 0;
    server.requests.length = 0;
    expect((await ensure([big.entry])).error).toBeNull();
    expect(rangeStart(gets(big)[0])).toBe(CHUNK + 10);
    await expectIntact(big);
  });

  it('a chunk that is wrong on the server every time: IntegrityError naming the chunk, the chunks before it kept', async () => {
    server.faults.push({ match: isBig, flipByteAt: 2 * CHUNK + 7, times: 10 });
    const { error } = await ensure([big.entry]);
    expect(error).toMatchObject({ name: 'IntegrityError', file: big.entry.path });
    expect(error!.message).toContain('chunk 2');
    const record = await fileRecord(big.entry.path);
    expect(record).toMatchObject({ complete: false, bytesStored: 2 * CHUNK });
    expect(gets(big)).toHaveLength(1 + WEIGHT_STORE_DEFAULTS.maxChunkRepairs);
  });

  it('an abort during the wait before a retry ends the call at once with AbortedError', async () => {
    server.faults.push({ match: isBig, status: 503, times: 100 });
    const result = await page.evaluate(([p, f]) => window.weightStoreTest.ensureAbortingWhileRetrying(p, f, { retryBaseMs: 20_000, retryMaxMs: 20_000 }, 50), [pkg, [big.entry]] as const);
    expect(result.error).toMatchObject({ name: 'AbortedError' });
    expect(result.settledAfterAbortMs).toBeLessThan(5_000);
  });
});

describe('chunk hashes and older manifests', () => {
  it('a file stored from a manifest without chunk hashes adopts them without a request; reading it hashes nothing', async () => {
    const { chunkSize: _size, chunkSha256: _hashes, ...old } = big.entry;
    expect((await ensure([old])).error).toBeNull();
    server.requests.length = 0;
    expect((await ensure([big.entry])).error).toBeNull();
    expect(server.requests).toEqual([]);
    expect(await fileRecord(big.entry.path)).toMatchObject({ complete: true, expectedChunkSha256: big.entry.chunkSha256 });

    await page.evaluate(() => window.weightStoreTest.countDigests());
    await getFile(big.entry.path); // the page's own sha256 of the Blob is not a subtle.digest of a chunk…
    const afterChecked = await page.evaluate(() => window.weightStoreTest.digestCalls());
    expect(afterChecked).toBe(1); // … it is one call: the store made none
  });
});
