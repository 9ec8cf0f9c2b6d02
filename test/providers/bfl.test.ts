import { afterEach, describe, expect, it } from 'vitest';
import {
  AbortedError,
  ContentModeratedError,
  InvalidParameterError,
  ProviderAuthError,
  ProviderCreditsError,
  ProviderProtocolError,
  ProviderServerError,
  ProviderTaskFailedError,
  ProviderTaskNotFoundError,
  ProviderTimeoutError,
  RateLimitedError,
  RequestModeratedError,
  ResultExpiredError,
} from '../../src/errors.ts';
import { createProvider, type ProviderConfig } from '../../src/providers/index.ts';
import { sniffImage } from '../../src/providers/image-bytes.ts';
import { startFakeProvider, type FakeProvider, type FakeScript } from '../support/fake-providers.ts';
import { bytesOf, expectKeyOnlyInHeaders, FAST, KEY, progressLog, rejection, request } from './helpers.ts';

let fake: FakeProvider | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function bfl(script: FakeScript = {}, config: Partial<ProviderConfig> = {}) {
  fake = await startFakeProvider('bfl', script);
  return createProvider({ kind: 'bfl', apiKey: KEY, baseUrl: fake.baseUrl, ...FAST, ...config });
}

describe('Black Forest Labs: mapping', () => {
  it('maps a request to /v1/{model} with width/height, seed, output_format; polls polling_url on another port', async () => {
    const provider = await bfl({ pendingPolls: 2, expectKey: KEY });
    const log = progressLog();
    const result = await provider.generate(request({ width: 1024, height: 768, seed: 7 }), { onProgress: log.onProgress });

    const [submit] = fake!.phase('submit');
    expect(submit.method).toBe('POST');
    expect(submit.path).toBe('/v1/flux-pro-1.1');
    expect(submit.server).toBe('api');
    expect(submit.body).toEqual({ prompt: 'a red fox in the snow', width: 1024, height: 768, seed: 7, output_format: 'png' });
    expect(submit.headers['content-type']).toBe('application/json');

    const polls = fake!.phase('poll');
    expect(polls).toHaveLength(3);
    expect(fake!.pollBaseUrl).not.toBe(fake!.baseUrl);
    for (const poll of polls) {
      expect(poll.server).toBe('poll');
      expect(poll.url).toBe('/v1/get_result?id=task-1');
    }
    expectKeyOnlyInHeaders(fake!, 'x-key', KEY);

    expect(result).toMatchObject({ provider: 'bfl', model: 'flux-pro-1.1', width: 1024, height: 768, seed: 7, adjustments: [] });
    expect(result.images).toHaveLength(1);
    expect(result.images[0].type).toBe('image/png');
    expect(sniffImage(await bytesOf(result.images[0]))).toMatchObject({ format: 'png', width: 1024, height: 768 });

    const statuses = log.events.map((e) => (e.stage === 'remote' ? `${e.status}${e.detail ? `:${e.detail}` : ''}` : e.stage));
    expect(statuses).toEqual(['submitting', 'processing:Pending', 'processing:Processing', 'downloading', 'done']);
    const processing = log.events.find((e) => e.stage === 'remote' && e.status === 'processing');
    expect(processing).toMatchObject({ provider: 'bfl', progress: expect.any(Number), elapsedMs: expect.any(Number) });
  });

  it('rounds sizes to multiples of 32 and reports the size actually used', async () => {
    const provider = await bfl();
    const result = await provider.generate(request({ width: 1000, height: 600 }));
    expect(fake!.phase('submit')[0].body).toMatchObject({ width: 992, height: 608 });
    expect(result).toMatchObject({ width: 992, height: 608 });
    expect(result.adjustments).toEqual(['size 1000x600 → 992x608 (Black Forest Labs takes sides that are multiples of 32 from 256 to 1440)']);
  });

  it('clamps sizes into 256–1440', async () => {
    const provider = await bfl();
    const result = await provider.generate(request({ width: 2048, height: 128 }));
    expect(fake!.phase('submit')[0].body).toMatchObject({ width: 1440, height: 256 });
    expect(result).toMatchObject({ width: 1440, height: 256 });
  });

  it('strict: refuses a size that is not a multiple of 32, naming the field, before sending anything', async () => {
    const provider = await bfl({}, { strict: true });
    const error = await rejection(provider.generate(request({ width: 1000, height: 768 })));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.field).toBe('width');
    expect(error.message).toContain('a multiple of 32 from 256 to 1440 for Black Forest Labs');
    expect(fake!.requests).toHaveLength(0);
  });

  it('strict: refuses webp (BFL offers jpeg and png); nearest mode maps it to jpeg', async () => {
    const strict = await bfl({}, { strict: true });
    const error = await rejection(strict.generate(request({ outputFormat: 'webp' })));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.field).toBe('outputFormat');
    await fake!.close();

    const provider = await bfl();
    const result = await provider.generate(request({ outputFormat: 'webp' }));
    expect(fake!.phase('submit')[0].body).toMatchObject({ output_format: 'jpeg' });
    expect(result.adjustments).toContain('outputFormat webp → jpeg (Black Forest Labs offers jpeg, png)');
    // The fake serves PNG whatever was asked: the result says so.
    expect(result.adjustments).toContain('Black Forest Labs returned png, not jpeg');
  });

  it('sends steps to flux-dev, drops them (with a note) for flux-pro-1.1', async () => {
    const provider = await bfl({}, { model: 'flux-dev' });
    await provider.generate(request({ steps: 4 }));
    expect(fake!.phase('submit')[0]).toMatchObject({ path: '/v1/flux-dev', body: { steps: 4 } });
    await fake!.close();

    const pro = await bfl();
    const result = await pro.generate(request({ steps: 4 }));
    expect(fake!.phase('submit')[0].body).not.toHaveProperty('steps');
    expect(result.adjustments).toContain('steps 4 not sent (flux-pro-1.1 has no steps setting)');
  });

  it('Ultra takes aspect_ratio instead of width/height and reports the size it made', async () => {
    const provider = await bfl();
    const result = await provider.generate(request({ width: 1024, height: 768, model: 'flux-pro-1.1-ultra' }));
    const body = fake!.phase('submit')[0].body as Record<string, unknown>;
    expect(fake!.phase('submit')[0].path).toBe('/v1/flux-pro-1.1-ultra');
    expect(body).toMatchObject({ aspect_ratio: '4:3' });
    expect(body).not.toHaveProperty('width');
    expect(result.model).toBe('flux-pro-1.1-ultra');
    expect(result.adjustments[0]).toBe('size 1024x768 → aspect_ratio 4:3 (flux-pro-1.1-ultra picks its own size)');
    expect(result.width / result.height).toBeCloseTo(4 / 3, 1);
  });

  it('makes several images as several tasks with seed + i', async () => {
    const provider = await bfl();
    const result = await provider.generate(request({ numImages: 3, seed: 100 }));
    const seeds = fake!.phase('submit').map((r) => (r.body as { seed: number }).seed).sort();
    expect(seeds).toEqual([100, 101, 102]);
    expect(result.images).toHaveLength(3);
    expect(result.seed).toBe(100);
  });

  it('reports the seed BFL drew when none was sent', async () => {
    const provider = await bfl({ defaultSeed: 987654 });
    const result = await provider.generate(request());
    expect(fake!.phase('submit')[0].body).not.toHaveProperty('seed');
    expect(result.seed).toBe(987654);
  });
});

describe('Black Forest Labs: task outcomes', () => {
  it.each([
    ['error', ProviderTaskFailedError, 'Internal generation failure'],
    ['content-moderated', ContentModeratedError, 'Derivative Works Filter'],
    ['request-moderated', RequestModeratedError, 'Rephrase the prompt'],
    ['not-found', ProviderTaskNotFoundError, 'Generate again'],
  ] as const)('status for outcome %s ends in its own typed error', async (outcome, ErrorClass, text) => {
    const provider = await bfl({ outcome, pendingPolls: 1 });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error.message).toContain(text);
    expect(error.provider).toBe('bfl');
  });

  it('an unknown status is a protocol error naming the field', async () => {
    const provider = await bfl({ outcome: 'unknown-status' });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderProtocolError);
    expect(error.field).toBe('status');
  });
});

describe('Black Forest Labs: HTTP failures', () => {
  it('honours Retry-After (seconds) on 429, then succeeds', async () => {
    const provider = await bfl({ rateLimit: { times: 1, retryAfter: '1' } });
    const log = progressLog();
    const started = Date.now();
    const result = await provider.generate(request(), { onProgress: log.onProgress });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(result.images).toHaveLength(1);
    expect(fake!.phase('submit')).toHaveLength(2);
    expect(log.events).toContainEqual(expect.objectContaining({ stage: 'remote', status: 'waiting', detail: 'rate limited (HTTP 429), retrying in 1.0 s' }));
  });

  it('gives up after the bounded retries with a RateLimitedError saying when to retry', async () => {
    const provider = await bfl({ rateLimit: { times: 10, retryAfter: '0.05' } }, { maxRetries: 2 });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error.retryAfterMs).toBe(50);
    expect(error.retryAt).toEqual(expect.any(Number));
    expect(error.message).toContain('24 active tasks');
    expect(error.message).toContain('Try again in 0.1 s');
    expect(fake!.phase('submit')).toHaveLength(3);
  });

  it('does not wait for a Retry-After beyond maxRetryAfterMs', async () => {
    const provider = await bfl({ rateLimit: { times: 1, retryAfter: '120' } });
    const started = Date.now();
    const error = await rejection(provider.generate(request()));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error.retryAfterMs).toBe(120_000);
    expect(fake!.phase('submit')).toHaveLength(1);
  });

  it('retries 5xx with backoff, then succeeds', async () => {
    const provider = await bfl({ serverErrors: { times: 2, status: 502 } });
    const result = await provider.generate(request());
    expect(result.images).toHaveLength(1);
    expect(fake!.phase('submit')).toHaveLength(3);
  });

  it('retries 5xx on polls too', async () => {
    const provider = await bfl({ serverErrors: { times: 1, on: 'poll' } });
    await provider.generate(request());
    expect(fake!.phase('poll')).toHaveLength(2);
  });

  it('5xx beyond the retries: ProviderServerError', async () => {
    const provider = await bfl({ serverErrors: { times: 10, status: 500 } }, { maxRetries: 1 });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderServerError);
    expect(error.status).toBe(500);
    expect(fake!.phase('submit')).toHaveLength(2);
  });

  it('402: ProviderCreditsError that says to add credits', async () => {
    const provider = await bfl({ fail: { status: 402, body: { detail: 'Insufficient credits' } } });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderCreditsError);
    expect(error.message).toContain('Insufficient credits');
    expect(error.message).toContain('Add credits');
  });

  it('403 with a bad key: ProviderAuthError, and the key is not in the message', async () => {
    fake = await startFakeProvider('bfl', { expectKey: 'the-right-key' });
    const provider = createProvider({ kind: 'bfl', apiKey: KEY, baseUrl: fake.baseUrl, ...FAST });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderAuthError);
    expect(error.message).toContain('Check the API key');
    expect(error.message).not.toContain(KEY);
  });

  it('422 validation: ProviderRequestError with the provider detail', async () => {
    const provider = await bfl({ fail: { status: 422, body: { detail: [{ loc: ['body', 'width'], msg: 'must be a multiple of 32' }] } } });
    const error = await rejection(provider.generate(request()));
    expect(error.name).toBe('ProviderRequestError');
    expect(error.message).toContain('must be a multiple of 32');
  });

  it('a submit answer without polling_url: ProviderProtocolError naming it', async () => {
    const provider = await bfl({ omit: 'polling_url' });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderProtocolError);
    expect(error.field).toBe('polling_url');
  });

  it('a Ready answer without result.sample: ProviderProtocolError naming it', async () => {
    const provider = await bfl({ omit: 'result.sample' });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderProtocolError);
    expect(error.field).toBe('result.sample');
  });

  it('fetches result.sample once, at once; an expired sample is ResultExpiredError without the signature in the message', async () => {
    const provider = await bfl({ imageExpiry: { afterFetches: 1, status: 403 } });
    await provider.generate(request());
    expect(fake!.phase('image')).toHaveLength(1);
    await fake!.close();

    const expired = await bfl({ imageExpiry: { afterFetches: 0, status: 403 } });
    const error = await rejection(expired.generate(request()));
    expect(error).toBeInstanceOf(ResultExpiredError);
    expect(error.status).toBe(403);
    expect(error.message).toContain('expire');
    expect(error.message).not.toContain('SECRET-SIGNATURE');
  });
});

describe('Black Forest Labs: cancellation and timeout', () => {
  it('aborting mid-poll ends with AbortedError and stops polling', async () => {
    const provider = await bfl({ pendingPolls: 1000 });
    const controller = new AbortController();
    const log = progressLog();
    const promise = provider.generate(request(), {
      signal: controller.signal,
      onProgress: (e) => {
        log.onProgress(e);
        if (e.stage === 'remote' && e.status === 'processing' && log.events.filter((x) => x.stage === 'remote' && x.status === 'processing').length === 3) controller.abort();
      },
    });
    const error = await rejection(promise);
    expect(error).toBeInstanceOf(AbortedError);
    const polls = fake!.phase('poll').length;
    await new Promise((r) => setTimeout(r, 50));
    expect(fake!.phase('poll').length).toBe(polls);
  });

  it('an already-aborted signal sends nothing', async () => {
    const provider = await bfl();
    const error = await rejection(provider.generate(request(), { signal: AbortSignal.abort() }));
    expect(error).toBeInstanceOf(AbortedError);
    expect(fake!.requests).toHaveLength(0);
  });

  it('a server that never answers: ProviderTimeoutError after timeoutMs', async () => {
    const provider = await bfl({ hang: 'submit' }, { timeoutMs: 300 });
    const started = Date.now();
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderTimeoutError);
    expect(error.message).toContain('0.3 s');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a queue that never finishes: ProviderTimeoutError', async () => {
    const provider = await bfl({ pendingPolls: 100_000 }, { timeoutMs: 200 });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderTimeoutError);
  });
});
