import { afterEach, describe, expect, it } from 'vitest';
import {
  AbortedError,
  ContentModeratedError,
  ProviderAuthError,
  ProviderProtocolError,
  ProviderTaskFailedError,
  ProviderTimeoutError,
  RateLimitedError,
  ResultExpiredError,
} from '../../src/errors.ts';
import { createProvider, type ProviderConfig } from '../../src/providers/index.ts';
import { startFakeProvider, type FakeProvider, type FakeScript } from '../support/fake-providers.ts';
import { expectKeyOnlyInHeaders, FAST, KEY, progressLog, rejection, request } from './helpers.ts';

let fake: FakeProvider | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function fal(script: FakeScript = {}, config: Partial<ProviderConfig> = {}) {
  fake = await startFakeProvider('fal', script);
  return createProvider({ kind: 'fal', apiKey: KEY, baseUrl: fake.baseUrl, ...FAST, ...config });
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

describe('fal: mapping', () => {
  it('submits the fal body to the queue, polls status_url, reads response_url', async () => {
    const provider = await fal({ pendingPolls: 4, expectKey: KEY });
    const log = progressLog();
    const result = await provider.generate(request({ width: 512, height: 768, steps: 4, seed: 42, numImages: 2 }), { onProgress: log.onProgress });

    const [submit] = fake!.phase('submit');
    expect(submit.path).toBe('/fal-ai/flux/schnell');
    expect(submit.body).toEqual({ prompt: 'a red fox in the snow', image_size: { width: 512, height: 768 }, num_images: 2, num_inference_steps: 4, seed: 42, output_format: 'png' });
    expect(fake!.phase('poll').map((r) => r.path)).toEqual(Array(5).fill('/fal-ai/flux/requests/task-1/status'));
    expect(fake!.phase('result').map((r) => r.path)).toEqual(['/fal-ai/flux/requests/task-1']);
    expect(fake!.phase('image')).toHaveLength(2);
    expectKeyOnlyInHeaders(fake!, 'authorization', `Key ${KEY}`);

    expect(result).toMatchObject({ provider: 'fal', model: 'fal-ai/flux/schnell', width: 512, height: 768, seed: 42, adjustments: [] });
    expect(result.images.map((b) => b.type)).toEqual(['image/png', 'image/png']);

    const remote = log.events.filter((e) => e.stage === 'remote');
    expect(remote.map((e) => e.status)).toEqual(['submitting', 'queued', 'queued', 'processing', 'processing', 'downloading', 'downloading']);
    expect(remote[1]).toMatchObject({ queuePosition: 3, detail: 'IN_QUEUE' });
    expect(remote.at(-1)).toMatchObject({ image: 1, images: 2 });
    expect(log.events.at(-1)).toEqual({ stage: 'done' });
  });

  it('clamps steps to fal schnell 1–12 and maps webp to jpeg, with notes', async () => {
    const provider = await fal();
    const result = await provider.generate(request({ steps: 20, outputFormat: 'webp' }));
    expect(fake!.phase('submit')[0].body).toMatchObject({ num_inference_steps: 12, output_format: 'jpeg' });
    expect(result.adjustments).toEqual(expect.arrayContaining(['steps 20 → 12 (fal allows 1–12)', 'outputFormat webp → jpeg (fal offers jpeg, png)']));
  });

  it('uses a configured model path', async () => {
    const provider = await fal({}, { model: 'fal-ai/flux/dev' });
    const result = await provider.generate(request({ steps: 28 }));
    expect(fake!.phase('submit')[0]).toMatchObject({ path: '/fal-ai/flux/dev', body: { num_inference_steps: 28 } });
    expect(result.model).toBe('fal-ai/flux/dev');
  });

  it('resolves relative status/response URLs (as a proxy may send) against baseUrl', async () => {
    const provider = await fal({ relativeUrls: true, pendingPolls: 1 });
    const result = await provider.generate(request());
    expect(result.images).toHaveLength(1);
    expect(fake!.phase('poll')).toHaveLength(2);
    expect(fake!.phase('result')).toHaveLength(1);
  });

  it('works through a proxy with no key: no auth header at all', async () => {
    fake = await startFakeProvider('fal');
    const provider = createProvider({ kind: 'fal', baseUrl: `${fake.baseUrl}/`, ...FAST });
    await provider.generate(request());
    for (const r of fake.requests) expect(r.headers.authorization).toBeUndefined();
  });
});

describe('fal: failures', () => {
  it('every image flagged by the safety checker: ContentModeratedError', async () => {
    const provider = await fal({ outcome: 'nsfw' });
    const error = await rejection(provider.generate(request({ numImages: 2 })));
    expect(error).toBeInstanceOf(ContentModeratedError);
  });

  it('some images flagged: a note per image', async () => {
    const provider = await fal({ outcome: 'some-nsfw' });
    const result = await provider.generate(request({ numImages: 2 }));
    expect(result.adjustments).toContain("image 1 was flagged by fal's safety checker and is blacked out");
  });

  it('a COMPLETED status with an error: ProviderTaskFailedError', async () => {
    const provider = await fal({ outcome: 'error' });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderTaskFailedError);
    expect(error.message).toContain('Runner crashed');
  });

  it('429 on the status poll with Retry-After 0.2 s is waited out', async () => {
    const provider = await fal({ rateLimit: { times: 1, retryAfter: '0.2', on: 'poll' } });
    const started = Date.now();
    await provider.generate(request());
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(fake!.phase('poll')).toHaveLength(2);
  });

  it('429 without Retry-After past the retries: RateLimitedError', async () => {
    const provider = await fal({ rateLimit: { times: 5 } }, { maxRetries: 1 });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error.message).toContain('Wait a minute and try again');
  });

  it('401: ProviderAuthError', async () => {
    const provider = await fal({ fail: { status: 401, body: { detail: 'Invalid key' } } });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderAuthError);
    expect(error.status).toBe(401);
  });

  it.each(['status_url', 'response_url', 'images', 'images.0.url'])('a missing %s: ProviderProtocolError naming it', async (field) => {
    const provider = await fal({ omit: field });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderProtocolError);
    expect(error.field).toBe(field.replace('.0.', '[0].'));
  });

  it('an expired image URL: ResultExpiredError', async () => {
    const provider = await fal({ imageExpiry: { afterFetches: 0, status: 404 } });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ResultExpiredError);
  });

  it('abort mid-poll: AbortedError, and the queued request is cancelled', async () => {
    const provider = await fal({ pendingPolls: 1000 });
    const controller = new AbortController();
    const promise = provider.generate(request(), { signal: controller.signal });
    await until(() => fake!.phase('poll').length >= 2);
    controller.abort();
    const error = await rejection(promise);
    expect(error).toBeInstanceOf(AbortedError);
    await until(() => fake!.phase('cancel').length === 1);
    const [cancel] = fake!.phase('cancel');
    expect(cancel).toMatchObject({ method: 'PUT', path: '/fal-ai/flux/requests/task-1/cancel' });
    expect(cancel.headers.authorization).toBe(`Key ${KEY}`);
  });

  it('a status poll that never answers: ProviderTimeoutError, and the request is cancelled', async () => {
    const provider = await fal({ hang: 'poll' }, { timeoutMs: 250 });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderTimeoutError);
    await until(() => fake!.phase('cancel').length === 1);
    expect(fake!.phase('cancel')).toHaveLength(1);
  });
});
