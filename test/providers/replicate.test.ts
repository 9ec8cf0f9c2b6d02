import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AbortedError,
  ContentModeratedError,
  InvalidParameterError,
  ProviderCorsError,
  ProviderCreditsError,
  ProviderNetworkError,
  ProviderProtocolError,
  ProviderTaskFailedError,
  RateLimitedError,
} from '../../src/errors.ts';
import { createProvider, type ProviderConfig } from '../../src/providers/index.ts';
import { REPLICATE_SIZES } from '../../src/providers/replicate.ts';
import { closedPort, startFakeProvider, type FakeProvider, type FakeScript } from '../support/fake-providers.ts';
import { expectKeyOnlyInHeaders, FAST, KEY, progressLog, rejection, request } from './helpers.ts';

let fake: FakeProvider | undefined;
afterEach(async () => {
  vi.unstubAllGlobals();
  await fake?.close();
  fake = undefined;
});

async function replicate(script: FakeScript = {}, config: Partial<ProviderConfig> = {}) {
  fake = await startFakeProvider('replicate', script);
  return createProvider({ kind: 'replicate', apiKey: KEY, baseUrl: fake.baseUrl, ...FAST, ...config });
}

function pretendBrowser(): void {
  vi.stubGlobal('window', {});
  vi.stubGlobal('document', {});
}

describe('Replicate: mapping', () => {
  it('creates a prediction with Prefer: wait; a finished answer needs no poll', async () => {
    const provider = await replicate({ expectKey: KEY });
    const result = await provider.generate(request({ width: 1344, height: 768, steps: 4, seed: 5, numImages: 2, outputFormat: 'jpeg' }));
    const [submit] = fake!.phase('submit');
    expect(submit.path).toBe('/v1/models/black-forest-labs/flux-schnell/predictions');
    expect(submit.headers.prefer).toBe('wait');
    expect(submit.body).toEqual({
      input: { prompt: 'a red fox in the snow', aspect_ratio: '16:9', megapixels: '1', num_outputs: 2, num_inference_steps: 4, seed: 5, output_format: 'jpg' },
    });
    expect(fake!.phase('poll')).toHaveLength(0);
    expectKeyOnlyInHeaders(fake!, 'authorization', `Bearer ${KEY}`);
    expect(result).toMatchObject({ provider: 'replicate', model: 'black-forest-labs/flux-schnell', width: 1344, height: 768, seed: 5 });
    expect(result.images).toHaveLength(2);
    // Asked for jpeg; the fake serves PNG, and the result says so.
    expect(result.adjustments).toEqual(['Replicate returned png, not jpeg']);
  });

  it('polls urls.get until succeeded, reporting starting as queued', async () => {
    const provider = await replicate({ pendingPolls: 3 });
    const log = progressLog();
    await provider.generate(request({ width: 1024, height: 1024 }), { onProgress: log.onProgress });
    expect(fake!.phase('poll').map((r) => r.path)).toEqual(Array(3).fill('/v1/predictions/task-1'));
    const statuses = log.events.flatMap((e) => (e.stage === 'remote' ? [`${e.status}:${e.detail ?? ''}`] : []));
    expect(statuses).toEqual(['submitting:', 'queued:starting', 'processing:processing', 'processing:processing', 'downloading:']);
  });

  it('picks the nearest aspect ratio and megapixels, and reports the size used', async () => {
    const provider = await replicate();
    const result = await provider.generate(request({ width: 1000, height: 560 }));
    expect(fake!.phase('submit')[0].body).toMatchObject({ input: { aspect_ratio: '16:9', megapixels: '1' } });
    expect(result).toMatchObject({ width: 1344, height: 768 });
    expect(result.adjustments).toEqual(['size 1000x560 → 1344x768 (Replicate offers 11 aspect ratios at 1 or 0.25 megapixels)']);
  });

  it('small sizes use megapixels 0.25', async () => {
    const provider = await replicate();
    const result = await provider.generate(request({ width: 512, height: 512 }));
    expect(fake!.phase('submit')[0].body).toMatchObject({ input: { aspect_ratio: '1:1', megapixels: '0.25' } });
    expect(result).toMatchObject({ width: 512, height: 512, adjustments: [] });
  });

  it('the size table covers 11 ratios × 2 megapixels', () => {
    expect(REPLICATE_SIZES).toHaveLength(22);
    expect(REPLICATE_SIZES.find((s) => s.aspectRatio === '9:21' && s.megapixels === '0.25')?.size).toEqual({ width: 320, height: 768 });
  });

  it('clamps steps to 1–4 for schnell; strict refuses instead', async () => {
    const provider = await replicate();
    const result = await provider.generate(request({ width: 1024, height: 1024, steps: 8 }));
    expect(fake!.phase('submit')[0].body).toMatchObject({ input: { num_inference_steps: 4 } });
    expect(result.adjustments).toContain('steps 8 → 4 (Replicate allows 1–4; schnell is distilled for 1–4)');

    const strict = createProvider({ kind: 'replicate', apiKey: KEY, baseUrl: fake!.baseUrl, strict: true, ...FAST });
    const error = await rejection(strict.generate(request({ width: 1024, height: 1024, steps: 8 })));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.field).toBe('steps');
  });

  it('strict: a size Replicate cannot make is refused, naming the sizes it can', async () => {
    const provider = await replicate({}, { strict: true });
    const error = await rejection(provider.generate(request({ width: 1000, height: 1000 })));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.field).toBe('size');
    expect(error.message).toContain('1344x768');
    expect(fake!.requests).toHaveLength(0);
  });

  it('reads the seed Replicate drew from the logs', async () => {
    const provider = await replicate({ defaultSeed: 31337 });
    const result = await provider.generate(request({ width: 1024, height: 1024 }));
    expect(result.seed).toBe(31337);
  });
});

describe('Replicate: failures', () => {
  it('failed with an NSFW error: ContentModeratedError', async () => {
    const provider = await replicate({ outcome: 'nsfw', pendingPolls: 1 });
    expect(await rejection(provider.generate(request()))).toBeInstanceOf(ContentModeratedError);
  });

  it('failed: ProviderTaskFailedError with the reason; canceled likewise', async () => {
    const provider = await replicate({ outcome: 'error' });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderTaskFailedError);
    expect(error.message).toContain('CUDA out of memory');
    await fake!.close();
    const canceled = await replicate({ outcome: 'canceled', pendingPolls: 1 });
    expect((await rejection(canceled.generate(request()))).message).toContain('"canceled"');
  });

  it('402: ProviderCreditsError', async () => {
    const provider = await replicate({ fail: { status: 402, body: { title: 'Insufficient credit', detail: 'You have insufficient credit to run this model.' } } });
    expect(await rejection(provider.generate(request()))).toBeInstanceOf(ProviderCreditsError);
  });

  it('429 with an HTTP-date Retry-After is honoured', async () => {
    const provider = await replicate({ rateLimit: { times: 1, retryAfter: new Date(Date.now() + 1500).toUTCString() } });
    const started = Date.now();
    await provider.generate(request());
    // HTTP dates have whole seconds: the wait is 0.5–1.5 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(fake!.phase('submit')).toHaveLength(2);
  });

  it('429 past the retries: RateLimitedError', async () => {
    const provider = await replicate({ rateLimit: { times: 9, retryAfter: '0' } }, { maxRetries: 2 });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error.retryAfterMs).toBe(0);
  });

  it('a prediction without urls.get that is not finished: ProviderProtocolError naming urls.get', async () => {
    const provider = await replicate({ pendingPolls: 2, omit: 'urls.get' });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderProtocolError);
    expect(error.field).toBe('urls.get');
  });

  it('succeeded without output: ProviderProtocolError naming output', async () => {
    const provider = await replicate({ omit: 'output' });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderProtocolError);
    expect(error.field).toBe('output');
  });

  it('abort mid-poll: AbortedError, and the prediction is cancelled', async () => {
    const provider = await replicate({ pendingPolls: 1000 });
    const controller = new AbortController();
    const promise = provider.generate(request(), {
      signal: controller.signal,
      onProgress: (e) => {
        if (e.stage === 'remote' && e.status === 'processing') controller.abort();
      },
    });
    expect(await rejection(promise)).toBeInstanceOf(AbortedError);
    for (let i = 0; i < 100 && fake!.phase('cancel').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(fake!.phase('cancel')[0]).toMatchObject({ method: 'POST', path: '/v1/predictions/task-1/cancel' });
  });
});

describe('Replicate: browsers (no CORS)', () => {
  it('in a browser without a proxy it refuses before sending anything', async () => {
    pretendBrowser();
    const provider = createProvider({ kind: 'replicate', apiKey: KEY });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderCorsError);
    expect(error.message).toContain('proxy');
    expect(error.message).toContain('baseUrl');
  });

  it('in a browser with a proxy baseUrl (and no key) it works', async () => {
    fake = await startFakeProvider('replicate');
    pretendBrowser();
    const provider = createProvider({ kind: 'replicate', baseUrl: fake.baseUrl, ...FAST });
    const result = await provider.generate(request({ width: 1024, height: 1024 }));
    expect(result.images).toHaveLength(1);
    expect(fake.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
  });

  it('a proxy nobody listens on is a network error in Node and in a browser, not a CORS one (CORS blocks: test/browser/provider-network.test.ts)', async () => {
    const base = `http://127.0.0.1:${await closedPort()}`;
    const inNode = await rejection(createProvider({ kind: 'replicate', apiKey: KEY, baseUrl: base, ...FAST }).generate(request()));
    expect(inNode).toBeInstanceOf(ProviderNetworkError);
    expect(inNode).not.toBeInstanceOf(ProviderCorsError);
    expect(inNode.message).not.toContain(KEY);

    // In a browser every failure is the same TypeError; the client's check requests
    // (which cannot connect either) tell a dead server from a CORS block.
    pretendBrowser();
    const inBrowser = await rejection(createProvider({ kind: 'replicate', apiKey: KEY, baseUrl: base, ...FAST }).generate(request()));
    expect(inBrowser).toBeInstanceOf(ProviderNetworkError);
    expect(inBrowser).not.toBeInstanceOf(ProviderCorsError);
    expect(inBrowser.message).toContain('Could not connect');
    expect(inBrowser.message).toContain('baseUrl');
  });
});
