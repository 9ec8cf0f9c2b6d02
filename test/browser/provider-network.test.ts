/**
 * Hosted providers from a real page in headless Chromium, against real servers on
 * 127.0.0.1 on other origins (test/support/fake-providers.ts with CORS, and hostile
 * variants). What a browser does that Node does not: it follows redirects itself (keeping
 * `x-key`), hides a redirect's target from the page, hides headers not exposed through
 * CORS, and reports every network failure as the same TypeError.
 * - the key echoed in error bodies reaches no message, event, widget DOM or widget event;
 * - a 307 to another origin never reaches it with the key (or at all);
 * - a redirect loop, a reset connection, a dead server, a missing CORS header and a refused
 *   preflight each get their own typed error and advice;
 * - a 429 whose Retry-After is not exposed says so.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AnyProviderConfig } from '../../src/providers/index.ts';
import { startFakeProvider, type FakeProvider, type FakeScript } from '../support/fake-providers.ts';
import { launchBrowser, startSourceServer, type SourceServer } from './harness.ts';
import type {} from './pages/provider-network-page.ts';

const KEY = 'bfl-SECRET-page-key-0123456789abcdef';
const KEY_PIECES = Array.from({ length: KEY.length - 7 }, (_, i) => KEY.slice(i, i + 8));

let tmp: string;
let vite: SourceServer;
let browser: Browser;
let page: Page;
const fakes: FakeProvider[] = [];
const servers: http.Server[] = [];

async function fake(script: FakeScript = {}): Promise<FakeProvider> {
  const started = await startFakeProvider('bfl', script);
  fakes.push(started);
  return started;
}

/** A server that destroys every connection it gets (a firewall that resets). */
async function resettingServer(): Promise<string> {
  const server = http.createServer((req) => req.socket.destroy());
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A misconfigured proxy (with CORS headers) that redirects every request to itself. */
async function loopingServer(): Promise<string> {
  const server = http.createServer((req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'content-type, x-key');
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    res.writeHead(307, { location: req.url ?? '/' }).end();
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const bfl = (baseUrl: string, extra: Partial<AnyProviderConfig> = {}): AnyProviderConfig => ({ kind: 'bfl', apiKey: KEY, baseUrl, pollIntervalMs: 20, retryBaseMs: 20, maxRetries: 1, timeoutMs: 20_000, ...extra });
const generate = (config: AnyProviderConfig) => page.evaluate((c) => window.providerNetworkTest.generate(c), config);

function expectNoKey(...values: unknown[]): void {
  const text = JSON.stringify(values);
  for (const piece of KEY_PIECES) expect(text).not.toContain(piece);
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'provider-network-'));
  vite = await startSourceServer(join(tmp, 'vite-cache'));
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (error) => console.error('[page error]', error));
  await page.goto(`${vite.origin}/test/browser/pages/provider-network.html`);
  await page.waitForFunction(() => 'providerNetworkTest' in window, null, { timeout: 60_000 });
}, 120_000);

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

afterAll(async () => {
  await browser?.close();
  await vite?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the key in a browser', () => {
  it('a 401 that echoes the request headers: the error and the events carry no piece of the key', async () => {
    const provider = await fake({ cors: true, echoHeaders: true, fail: { status: 401 } });
    const result = await generate(bfl(provider.baseUrl));
    expect(result.ok).toBe(false);
    expect(provider.phase('submit')[0].headers['x-key']).toBe(KEY);
    expect(result.error!.instanceOf.ProviderAuthError).toBe(true);
    expect(result.error!.message).toContain('request headers were');
    expectNoKey(result);
  });

  it("the widget's error box, its text and its error event carry no piece of the key", async () => {
    const provider = await fake({ cors: true, echoHeaders: true, fail: { status: 403 } });
    const shown = await page.evaluate((c) => window.providerNetworkTest.widget(c), bfl(provider.baseUrl));
    expect(provider.phase('submit')).toHaveLength(1);
    expect(shown.rejected).toMatchObject({ name: 'ProviderAuthError' });
    expect(shown.details).toHaveLength(1);
    expect(shown.details[0]).toMatchObject({ name: 'ProviderAuthError' });
    expect(shown.text).toContain('API key');
    expectNoKey(shown);
  });

  it('a 307 to another origin: Chromium would resend x-key there; the client does not follow it', async () => {
    const target = await fake({ cors: true });
    const provider = await fake({ cors: true, redirect: { location: `${target.baseUrl}/v1/flux-pro-1.1` } });
    const result = await generate(bfl(provider.baseUrl));
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ name: 'ProviderRedirectError' });
    expect(result.error!.message).toContain('redirect');
    expect(result.error!.message).toContain('baseUrl');
    expect(provider.phase('submit')[0].headers['x-key']).toBe(KEY);
    expect(target.requests.filter((r) => r.method !== 'OPTIONS')).toHaveLength(0);
    expect(target.requests.some((r) => r.headers['x-key'] !== undefined)).toBe(false);
    expectNoKey(result);
  });

  it('without a key (a proxy that adds it), a redirect to another origin is followed as the browser does', async () => {
    const target = await fake({ cors: true });
    const proxy = await fake({ cors: true, redirect: { location: `${target.baseUrl}/v1/flux-pro-1.1` } });
    const result = await generate({ kind: 'bfl', baseUrl: proxy.baseUrl, pollIntervalMs: 20 });
    expect(result).toMatchObject({ ok: true, images: 1 });
    expect(target.phase('submit')).toHaveLength(1);
  });
});

describe('honest failures in a browser', () => {
  it('a redirect loop (no key: the browser follows it) is a ProviderRedirectError, not a CORS error', async () => {
    const result = await generate({ kind: 'bfl', baseUrl: await loopingServer(), pollIntervalMs: 20 });
    expect(result.error).toMatchObject({ name: 'ProviderRedirectError' });
    expect(result.error!.instanceOf.ProviderCorsError).toBe(false);
    expect(result.error!.message).toContain('redirect loop');
  });

  it('a redirect loop with the key: a ProviderRedirectError too', async () => {
    const provider = await fake({ cors: true, redirect: { location: '/v1/flux-pro-1.1' } });
    const result = await generate(bfl(provider.baseUrl));
    expect(result.error).toMatchObject({ name: 'ProviderRedirectError' });
    expect(provider.phase('submit')).toHaveLength(1);
  });

  it('a connection reset after the request was sent is a ProviderNetworkError saying so, not a CORS error', async () => {
    const provider = await fake({ cors: true, reset: 'submit' });
    const result = await generate(bfl(provider.baseUrl));
    expect(result.error).toMatchObject({ name: 'ProviderNetworkError' });
    expect(result.error!.instanceOf.ProviderCorsError).toBe(false);
    expect(result.error!.message).toContain('reset or closed');
    expect(result.error!.message).toContain('CORS is not the problem');
  });

  it('a server that resets every connection: could not connect (not CORS)', async () => {
    const result = await generate(bfl(await resettingServer()));
    expect(result.error).toMatchObject({ name: 'ProviderNetworkError' });
    expect(result.error!.instanceOf.ProviderCorsError).toBe(false);
    expect(result.error!.message).toContain('Could not connect');
  });

  it('a server without CORS headers is still a ProviderCorsError advising a proxy', async () => {
    const provider = await fake({ cors: false });
    const result = await generate(bfl(provider.baseUrl));
    expect(result.error).toMatchObject({ name: 'ProviderCorsError' });
    expect(result.error!.message).toContain('no CORS headers');
    expect(result.error!.message).toContain('proxy');
  });

  it('a preflight that does not allow x-key is a ProviderCorsError naming the headers to allow', async () => {
    const provider = await fake({ cors: true, allowHeaders: 'content-type' });
    const result = await generate(bfl(provider.baseUrl));
    expect(result.error).toMatchObject({ name: 'ProviderCorsError' });
    expect(result.error!.message).toContain('preflight');
    expect(result.error!.message).toContain('x-key');
  });

  it('a 429 whose Retry-After is not exposed through CORS: retried with backoff, and the error says why', async () => {
    const hidden = await fake({ cors: true, rateLimit: { times: 5, retryAfter: '0' } });
    const result = await generate(bfl(hidden.baseUrl, { maxRetries: 1 }));
    expect(result.error).toMatchObject({ name: 'RateLimitedError' });
    expect(result.error!.message).toContain('Access-Control-Expose-Headers: Retry-After');
    expect(JSON.stringify(result.events)).toContain('no Retry-After readable');
  });

  it('a 429 whose Retry-After is exposed: honoured, and no such note', async () => {
    const exposed = await fake({ cors: true, exposeHeaders: 'Retry-After', rateLimit: { times: 5, retryAfter: '0' } });
    const result = await generate(bfl(exposed.baseUrl, { maxRetries: 1 }));
    expect(result.error).toMatchObject({ name: 'RateLimitedError' });
    expect(result.error!.message).not.toContain('Access-Control-Expose-Headers');
    expect(result.error!.fields.retryAfterMs).toBe(0);
  });
});
