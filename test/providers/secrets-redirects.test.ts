/**
 * API keys never leak, and failures say what really happened (Node's fetch against real
 * servers on 127.0.0.1; test/browser/provider-network.test.ts runs the same faults in
 * Chromium):
 * - a provider or proxy that echoes the request's headers in its error bodies (401, 403,
 *   422, 500, a task error): the key is in no message, stack, field or progress event;
 * - a 307 to another origin (another port): not followed, the second server sees no key;
 *   a redirect within the origin is followed with the key; a loop is named as one;
 * - a connection reset is a network error, not a CORS one.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProviderAuthError, ProviderCorsError, ProviderNetworkError, ProviderRedirectError, ProviderRequestError, ProviderServerError, ProviderTaskFailedError } from '../../src/errors.ts';
import { createProvider, type AnyProviderConfig, type ProviderKind } from '../../src/providers/index.ts';
import { REDACTED, SecretRedactor } from '../../src/providers/redact.ts';
import { startFakeProvider, type FakeProvider, type FakeScript } from '../support/fake-providers.ts';
import { FAST, KEY, progressLog, rejection, request } from './helpers.ts';

const fakes: FakeProvider[] = [];

async function fake(kind: ProviderKind, script: FakeScript = {}): Promise<FakeProvider> {
  const started = await startFakeProvider(kind, script);
  fakes.push(started);
  return started;
}

afterEach(async () => {
  vi.unstubAllGlobals();
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

/** Every 8-character piece of the key: none may appear anywhere the user can see. */
const KEY_PIECES = Array.from({ length: KEY.length - 7 }, (_, i) => KEY.slice(i, i + 8));

/** Fails when any text of the error or the events contains the key or a piece of it. */
function expectNoKey(error: Error, events: unknown[] = []): void {
  const texts = [error.message, error.stack ?? '', JSON.stringify({ ...error }), JSON.stringify(events)];
  for (const text of texts) for (const piece of KEY_PIECES) expect(text).not.toContain(piece);
}

const config = (kind: ProviderKind, baseUrl: string, extra: Partial<AnyProviderConfig> = {}): AnyProviderConfig => ({ kind, apiKey: KEY, baseUrl, ...FAST, maxRetries: 1, ...extra }) as AnyProviderConfig;

describe('SecretRedactor', () => {
  it('redacts a secret whole, encoded, cut short or inside a Bearer value, and leaves other text alone', () => {
    const redactor = new SecretRedactor([`Bearer ${KEY}`]);
    expect(redactor.text(`bad key ${KEY}!`)).toBe(`bad key ${REDACTED}!`);
    expect(redactor.text(`header=${encodeURIComponent(`Bearer ${KEY}`)}`)).not.toContain(KEY.slice(0, 8));
    expect(redactor.text(`truncated: ${KEY.slice(0, 14)}`)).toBe(`truncated: ${REDACTED}`);
    expect(redactor.text(`Basic ${btoa(KEY)}`)).not.toContain(btoa(KEY).slice(0, 12));
    expect(redactor.text('nothing secret here, sk-test')).toBe('nothing secret here, sk-test');
    expect(redactor.json({ detail: [{ msg: `got ${KEY}` }], [KEY]: 1 })).toEqual({ detail: [{ msg: `got ${REDACTED}` }], [REDACTED]: 1 });
    const error = redactor.error(new Error(`echo ${KEY}`));
    expect(error.message).toBe(`echo ${REDACTED}`);
    expect(error.stack).not.toContain(KEY);
  });
});

describe('a provider or proxy that echoes the key', () => {
  const cases: [ProviderKind, number, new (...args: never[]) => Error][] = [
    ['bfl', 401, ProviderAuthError],
    ['fal', 403, ProviderAuthError],
    ['openai', 422, ProviderRequestError],
    ['replicate', 500, ProviderServerError],
    ['monica', 401, ProviderAuthError],
    ['aimlapi', 422, ProviderRequestError],
  ];
  for (const [kind, status, ErrorClass] of cases) {
    it(`${kind}: HTTP ${status} echoing the request headers carries no key into the error or the events`, async () => {
      const provider = await fake(kind, { echoHeaders: true, fail: { status } });
      const log = progressLog();
      const error = await rejection(createProvider(config(kind, provider.baseUrl)).generate(request(), { onProgress: log.onProgress }));
      expect(error).toBeInstanceOf(ErrorClass);
      // The echo reached the client (so the redaction was needed) …
      const sent = provider.requests[0].headers;
      expect(JSON.stringify(sent)).toContain(KEY);
      expect(error.message).toContain('request headers were');
      expect(error.message).toContain(REDACTED);
      // … and nothing of the key came through.
      expectNoKey(error, log.events);
    });
  }

  it('a key echoed right where the error text is cut short leaves no piece of it', async () => {
    const padding = 'x'.repeat(290);
    const provider = await fake('bfl', { fail: { status: 401, body: { detail: `${padding} ${KEY}` } } });
    const error = await rejection(createProvider(config('bfl', provider.baseUrl)).generate(request()));
    expect(error).toBeInstanceOf(ProviderAuthError);
    expectNoKey(error);
  });

  it('a BFL task error that echoes the headers in its details', async () => {
    const provider = await fake('bfl', { echoHeaders: true, outcome: 'error', pendingPolls: 1 });
    const log = progressLog();
    const error = await rejection(createProvider(config('bfl', provider.baseUrl)).generate(request(), { onProgress: log.onProgress }));
    expect(error).toBeInstanceOf(ProviderTaskFailedError);
    expect(error.message).toContain('request_headers');
    expectNoKey(error, log.events);
  });
});

describe('redirects of requests that carry the key', () => {
  it('a 307 to another origin is not followed: the other server receives nothing, the error says why', async () => {
    const target = await fake('bfl');
    const provider = await fake('bfl', { redirect: { location: `${target.baseUrl}/v1/flux-pro-1.1` } });
    const error = await rejection(createProvider(config('bfl', provider.baseUrl)).generate(request()));
    expect(error).toBeInstanceOf(ProviderRedirectError);
    expect(error).toMatchObject({ status: 307, location: `${target.baseUrl}/v1/flux-pro-1.1` });
    expect(error.message).toContain('another origin');
    expect(error.message).toContain('baseUrl');
    expect(provider.phase('submit')[0].headers['x-key']).toBe(KEY);
    expect(target.requests).toHaveLength(0);
    expectNoKey(error);
  });

  for (const status of [301, 302, 303, 308]) {
    it(`HTTP ${status} to another origin (fal, Authorization) is not followed either`, async () => {
      const target = await fake('fal');
      const provider = await fake('fal', { redirect: { location: `${target.baseUrl}/fal-ai/flux/schnell`, status } });
      const error = await rejection(createProvider(config('fal', provider.baseUrl)).generate(request()));
      expect(error).toBeInstanceOf(ProviderRedirectError);
      expect(target.requests).toHaveLength(0);
    });
  }

  it('a redirect within the same origin is followed by hand, with the key and the body, and the generation works', async () => {
    const provider = await fake('bfl', { redirect: { location: '/v1/flux-pro-1.1', times: 1 } });
    const result = await createProvider(config('bfl', provider.baseUrl)).generate(request({ seed: 5 }));
    expect(result.images).toHaveLength(1);
    const submits = provider.phase('submit');
    expect(submits).toHaveLength(2);
    expect(submits.every((r) => r.headers['x-key'] === KEY)).toBe(true);
    expect(submits[1].body).toMatchObject({ prompt: 'a red fox in the snow', seed: 5 });
  });

  it('a same-origin redirect loop is named as a loop', async () => {
    const provider = await fake('bfl', { redirect: { location: '/v1/flux-pro-1.1' } });
    const error = await rejection(createProvider(config('bfl', provider.baseUrl)).generate(request()));
    expect(error).toBeInstanceOf(ProviderRedirectError);
    expect(error.message).toContain('loop');
    expect(provider.phase('submit').length).toBeGreaterThan(1);
  });

  it('a poll redirected to another origin is refused: nothing is sent there', async () => {
    const target = await fake('bfl');
    const provider = await fake('bfl', { redirect: { location: `${target.pollBaseUrl}/v1/get_result?id=task-1`, on: 'poll' } });
    const error = await rejection(createProvider(config('bfl', provider.baseUrl)).generate(request()));
    expect(error).toBeInstanceOf(ProviderRedirectError);
    expect(target.requests).toHaveLength(0);
  });

  it('without a key (a proxy that adds it), a redirect to another origin is followed as usual', async () => {
    const target = await fake('bfl');
    const proxy = await fake('bfl', { redirect: { location: `${target.baseUrl}/v1/flux-pro-1.1` } });
    const result = await createProvider({ kind: 'bfl', baseUrl: proxy.baseUrl, ...FAST }).generate(request());
    expect(result.images).toHaveLength(1);
    expect(target.phase('submit')).toHaveLength(1);
    expect(target.requests.every((r) => r.headers['x-key'] === undefined)).toBe(true);
  });

  it('a redirect loop without a key is named as one, not as a network failure', async () => {
    const proxy = await fake('bfl', { redirect: { location: '/v1/flux-pro-1.1' } });
    const error = await rejection(createProvider({ kind: 'bfl', baseUrl: proxy.baseUrl, ...FAST }).generate(request()));
    expect(error).toBeInstanceOf(ProviderRedirectError);
    expect(error.message).toMatch(/redirect/i);
  });
});

describe('connection failures', () => {
  it('a connection reset is a ProviderNetworkError that says so, not a CORS error', async () => {
    const provider = await fake('bfl', { reset: 'submit' });
    const error = await rejection(createProvider(config('bfl', provider.baseUrl)).generate(request()));
    expect(error).toBeInstanceOf(ProviderNetworkError);
    expect(error).not.toBeInstanceOf(ProviderCorsError);
    expect(error.message).toMatch(/reset or closed/);
    expectNoKey(error);
  });

  it('a reset while polling is reported the same way', async () => {
    const provider = await fake('bfl', { reset: 'poll' });
    const error = await rejection(createProvider(config('bfl', provider.baseUrl)).generate(request()));
    expect(error).toBeInstanceOf(ProviderNetworkError);
    expect(error.message).toMatch(/reset or closed/);
  });
});
