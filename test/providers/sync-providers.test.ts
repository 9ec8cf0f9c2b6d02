/** The synchronous providers: OpenAI-compatible gateways, Monica, AI/ML API. */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ContentModeratedError,
  InvalidParameterError,
  ProviderAuthError,
  ProviderCreditsError,
  ProviderProtocolError,
  ProviderServerError,
  ProviderTimeoutError,
  RateLimitedError,
  RequestModeratedError,
  ResultExpiredError,
} from '../../src/errors.ts';
import { createProvider, type AnyProviderConfig } from '../../src/providers/index.ts';
import { openAIImagesEndpoint } from '../../src/providers/openai-compatible.ts';
import { sniffImage } from '../../src/providers/image-bytes.ts';
import { startFakeProvider, type FakeKind, type FakeProvider, type FakeScript } from '../support/fake-providers.ts';
import { bytesOf, expectKeyOnlyInHeaders, FAST, KEY, rejection, request } from './helpers.ts';

let fake: FakeProvider | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function start(kind: FakeKind & AnyProviderConfig['kind'], script: FakeScript = {}, config: Partial<AnyProviderConfig> = {}) {
  fake = await startFakeProvider(kind, script);
  return createProvider({ kind, apiKey: KEY, baseUrl: fake.baseUrl, ...FAST, ...config } as AnyProviderConfig);
}

describe('OpenAI-compatible gateways', () => {
  it('posts model, prompt, n, size WxH, response_format b64_json and decodes data[].b64_json', async () => {
    const provider = await start('openai', { expectKey: KEY });
    const result = await provider.generate(request({ width: 768, height: 512, numImages: 2 }));
    const [submit] = fake!.phase('submit');
    expect(submit.path).toBe('/v1/images/generations');
    expect(submit.body).toEqual({ model: 'black-forest-labs/FLUX.1-schnell', prompt: 'a red fox in the snow', n: 2, size: '768x512', response_format: 'b64_json' });
    expectKeyOnlyInHeaders(fake!, 'authorization', `Bearer ${KEY}`);
    expect(fake!.phase('image')).toHaveLength(0);
    expect(result).toMatchObject({ provider: 'openai', width: 768, height: 512, adjustments: [] });
    expect(result.seed).toBeUndefined();
    expect(sniffImage(await bytesOf(result.images[1]))).toMatchObject({ format: 'png', width: 768, height: 512 });
  });

  it('response_format url fetches data[].url without the key', async () => {
    const provider = await start('openai', {}, { responseFormat: 'url' });
    const result = await provider.generate(request());
    expect(fake!.phase('submit')[0].body).toMatchObject({ response_format: 'url' });
    expect(fake!.phase('image')).toHaveLength(1);
    expectKeyOnlyInHeaders(fake!, 'authorization', `Bearer ${KEY}`);
    expect(result.images[0].type).toBe('image/png');
  });

  it('leaves seed and steps out (noted) unless sendSeedAndSteps; strict refuses them', async () => {
    const provider = await start('openai');
    const result = await provider.generate(request({ seed: 3, steps: 4 }));
    const body = fake!.phase('submit')[0].body as Record<string, unknown>;
    expect(body).not.toHaveProperty('seed');
    expect(body).not.toHaveProperty('steps');
    expect(result.adjustments).toEqual([
      'seed 3 not sent (the OpenAI images API has no such field; set sendSeedAndSteps for gateways that take it)',
      'steps 4 not sent (the OpenAI images API has no such field; set sendSeedAndSteps for gateways that take it)',
    ]);

    const together = createProvider({ kind: 'openai', apiKey: KEY, baseUrl: fake!.baseUrl, sendSeedAndSteps: true, responseFormat: 'base64', ...FAST });
    const withSeed = await together.generate(request({ seed: 3, steps: 4 }));
    expect(fake!.phase('submit')[1].body).toMatchObject({ seed: 3, steps: 4, response_format: 'base64' });
    expect(withSeed).toMatchObject({ seed: 3, adjustments: [] });

    const strict = createProvider({ kind: 'openai', apiKey: KEY, baseUrl: fake!.baseUrl, strict: true, ...FAST });
    const error = await rejection(strict.generate(request({ seed: 3 })));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.field).toBe('seed');
  });

  it('a base URL with a /v1 segment is not given another', async () => {
    expect(openAIImagesEndpoint('https://api.together.xyz')).toBe('https://api.together.xyz/v1/images/generations');
    expect(openAIImagesEndpoint('https://api.deepinfra.com/v1/openai')).toBe('https://api.deepinfra.com/v1/openai/images/generations');
    fake = await startFakeProvider('openai');
    const provider = createProvider({ kind: 'openai', baseUrl: `${fake.baseUrl}/gateway/v1`, ...FAST });
    await provider.generate(request());
    expect(fake.phase('submit')[0].path).toBe('/gateway/v1/images/generations');
  });

  it('content_policy_violation: RequestModeratedError', async () => {
    const provider = await start('openai', { outcome: 'request-moderated' });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(RequestModeratedError);
    expect(error.message).toContain('content_policy_violation');
  });

  it.each(['data', 'data.0.b64_json'])('a missing %s: ProviderProtocolError naming it', async (field) => {
    const provider = await start('openai', { omit: field });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderProtocolError);
    expect(error.field).toBe(field.replace('.0.', '[0].'));
  });

  it('needs a baseUrl', () => {
    expect(() => createProvider({ kind: 'openai', apiKey: KEY })).toThrow(InvalidParameterError);
  });
});

describe('Monica', () => {
  it('maps to /v1/image/gen/flux with one of its three sizes', async () => {
    const provider = await start('monica', { expectKey: KEY });
    const result = await provider.generate(request({ width: 1000, height: 1000, numImages: 2, seed: 9, steps: 4 }));
    const [submit] = fake!.phase('submit');
    expect(submit.path).toBe('/v1/image/gen/flux');
    expect(submit.body).toEqual({ model: 'flux_schnell', prompt: 'a red fox in the snow', num_outputs: 2, size: '1024x1024', seed: 9, steps: 4 });
    expectKeyOnlyInHeaders(fake!, 'authorization', `Bearer ${KEY}`);
    expect(result).toMatchObject({ provider: 'monica', model: 'flux_schnell', width: 1024, height: 1024, seed: 9 });
    expect(result.adjustments).toEqual(['size 1000x1000 → 1024x1024 (Monica supports 3 sizes)']);
    expect(result.images).toHaveLength(2);
  });

  it.each([
    [1440, 816, '1344x768'],
    [512, 1024, '768x1344'],
    [1152, 896, '1024x1024'],
    [1344, 768, '1344x768'],
  ])('%ix%i → %s', async (width, height, size) => {
    const provider = await start('monica');
    const result = await provider.generate(request({ width, height }));
    expect(fake!.phase('submit')[0].body).toMatchObject({ size });
    expect(`${result.width}x${result.height}`).toBe(size);
  });

  it('strict: refuses sizes it does not have', async () => {
    const provider = await start('monica', {}, { strict: true });
    const error = await rejection(provider.generate(request({ width: 1024, height: 768 })));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.field).toBe('size');
    expect(error.message).toContain('one of 1024x1024, 768x1344, 1344x768 for Monica');
  });

  it('429 with Retry-After, then success; and a RateLimitedError mentioning its limit', async () => {
    const provider = await start('monica', { rateLimit: { times: 1, retryAfter: '0.2' } });
    await provider.generate(request({ width: 1024, height: 1024 }));
    expect(fake!.phase('submit')).toHaveLength(2);
    await fake!.close();
    const limited = await start('monica', { rateLimit: { times: 9, retryAfter: '0.01' } }, { maxRetries: 1 });
    const error = await rejection(limited.generate(request({ width: 1024, height: 1024 })));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error.message).toContain('10 requests a minute');
  });

  it('moderation: RequestModeratedError; expired URL: ResultExpiredError; missing url: protocol error', async () => {
    const moderated = await start('monica', { outcome: 'request-moderated' });
    expect(await rejection(moderated.generate(request()))).toBeInstanceOf(RequestModeratedError);
    await fake!.close();
    const expired = await start('monica', { imageExpiry: { afterFetches: 0, status: 404 } });
    expect(await rejection(expired.generate(request()))).toBeInstanceOf(ResultExpiredError);
    await fake!.close();
    const missing = await start('monica', { omit: 'data.0.url' });
    const error = await rejection(missing.generate(request()));
    expect(error).toBeInstanceOf(ProviderProtocolError);
    expect(error.field).toBe('data[0].url');
  });

  it('a submit that never answers: ProviderTimeoutError', async () => {
    const provider = await start('monica', { hang: 'submit' }, { timeoutMs: 200 });
    expect(await rejection(provider.generate(request()))).toBeInstanceOf(ProviderTimeoutError);
  });
});

describe('AI/ML API', () => {
  it('posts a fal-shaped body with model flux/schnell and accepts 201', async () => {
    const provider = await start('aimlapi', { expectKey: KEY });
    const result = await provider.generate(request({ width: 1024, height: 768, steps: 4, seed: 11, numImages: 2 }));
    const [submit] = fake!.phase('submit');
    expect(submit.path).toBe('/v1/images/generations');
    expect(submit.body).toEqual({
      model: 'flux/schnell',
      prompt: 'a red fox in the snow',
      image_size: { width: 1024, height: 768 },
      num_images: 2,
      num_inference_steps: 4,
      seed: 11,
      output_format: 'png',
    });
    expectKeyOnlyInHeaders(fake!, 'authorization', `Bearer ${KEY}`);
    expect(result).toMatchObject({ provider: 'aimlapi', model: 'flux/schnell', width: 1024, height: 768, seed: 11, adjustments: [] });
    expect(result.images).toHaveLength(2);
  });

  it('rounds sides to multiples of 32 and moves seed 0 to 1 (its minimum)', async () => {
    const provider = await start('aimlapi');
    const result = await provider.generate(request({ width: 1000, height: 720, seed: 0 }));
    expect(fake!.phase('submit')[0].body).toMatchObject({ image_size: { width: 992, height: 736 }, seed: 1 });
    expect(result.adjustments).toEqual([
      'size 1000x720 → 992x736 (AI/ML API takes sides that are multiples of 32 from 64 to 1536)',
      'seed 0 → 1 (AI/ML API takes seeds from 1)',
    ]);
    expect(result).toMatchObject({ width: 992, height: 736, seed: 1 });
  });

  it('402: ProviderCreditsError; 401: ProviderAuthError; all images flagged: ContentModeratedError', async () => {
    const credits = await start('aimlapi', { fail: { status: 402, body: { message: 'Not enough credits' } } });
    const error = await rejection(credits.generate(request()));
    expect(error).toBeInstanceOf(ProviderCreditsError);
    expect(error.message).toContain('Not enough credits');
    await fake!.close();
    const auth = await start('aimlapi', { expectKey: 'another-key' });
    expect(await rejection(auth.generate(request()))).toBeInstanceOf(ProviderAuthError);
    await fake!.close();
    const nsfw = await start('aimlapi', { outcome: 'nsfw' });
    expect(await rejection(nsfw.generate(request()))).toBeInstanceOf(ContentModeratedError);
  });

  it('5xx then success; 5xx throughout: ProviderServerError', async () => {
    const flaky = await start('aimlapi', { serverErrors: { times: 1 } });
    await flaky.generate(request());
    expect(fake!.phase('submit')).toHaveLength(2);
    await fake!.close();
    const down = await start('aimlapi', { serverErrors: { times: 9 } }, { maxRetries: 1 });
    expect(await rejection(down.generate(request()))).toBeInstanceOf(ProviderServerError);
  });

  it('a missing images list: ProviderProtocolError naming it', async () => {
    const provider = await start('aimlapi', { omit: 'images' });
    const error = await rejection(provider.generate(request()));
    expect(error).toBeInstanceOf(ProviderProtocolError);
    expect(error.field).toBe('images');
  });
});
