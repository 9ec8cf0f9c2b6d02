/**
 * Image-to-image through the hosted providers, against fake servers on 127.0.0.1: the
 * OpenAI-compatible `/v1/images/edits` as multipart form data, fal's and AI/ML API's
 * image-to-image endpoints (`image_url` + `strength`), Replicate's flux-dev (`image` +
 * `prompt_strength`), BFL Kontext (`input_image`, no strength); a provider or model that
 * cannot start from a picture refuses with ProviderUnsupportedError before any request;
 * and the OpenAI facade's `images.edit` over a remote-only generator.
 */
import { decode } from 'fast-png';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidParameterError, OpenAIRequestError, ProviderUnsupportedError } from '../../src/errors.ts';
import { createGenerator } from '../../src/generator.ts';
import { createProvider, type AnyProviderConfig } from '../../src/providers/index.ts';
import { sniffImage } from '../../src/providers/image-bytes.ts';
import type { RgbImage } from '../../src/pipeline/image.ts';
import { startFakeProvider, type FakeKind, type FakeProvider } from '../support/fake-providers.ts';
import { bytesOf, FAST, KEY, rejection, request } from './helpers.ts';

let fake: FakeProvider | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function start(kind: FakeKind & AnyProviderConfig['kind'], config: Partial<AnyProviderConfig> = {}) {
  fake = await startFakeProvider(kind);
  return createProvider({ kind, apiKey: KEY, baseUrl: fake.baseUrl, ...FAST, ...config } as AnyProviderConfig);
}

/** A 64×48 picture with a gradient (every pixel different from its neighbours). */
function picture(width = 64, height = 48): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) rgb.set([(i * 5) % 256, (i * 11) % 256, (i * 3 + 7) % 256], i * 3);
  return { rgb, width, height };
}

const image = picture();
/** Within the library's web sizes (256–1440), for a generator's facade. */
const large = picture(320, 256);
const img2img = (overrides = {}) => ({ ...request({ width: 64, height: 48 }), image, strength: 0.55, ...overrides });

/** The RGB bytes of a PNG (a data URL, base64 or raw bytes). */
function pngRgb(png: string | Uint8Array): Uint8Array {
  const bytes = typeof png === 'string' ? Uint8Array.from(Buffer.from(png.replace(/^data:image\/png;base64,/, ''), 'base64')) : png;
  const decoded = decode(bytes);
  expect([decoded.width, decoded.height, decoded.channels]).toEqual([64, 48, 3]);
  return decoded.data as Uint8Array;
}

describe('providers that start from a picture', () => {
  it('OpenAI-compatible: multipart POST /v1/images/edits with the picture as the image file and strength', async () => {
    const provider = await start('openai');
    const result = await provider.generate(img2img({ numImages: 2 }));
    const [submit] = fake!.phase('submit');
    expect(submit.path).toBe('/v1/images/edits');
    expect(submit.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(submit.headers.authorization).toBe(`Bearer ${KEY}`);
    const { image: file, ...fields } = submit.form!;
    expect(fields).toEqual({ model: 'black-forest-labs/FLUX.1-schnell', prompt: 'a red fox in the snow', n: '2', size: '64x48', response_format: 'b64_json', strength: '0.55' });
    expect(file).toMatchObject({ filename: 'image.png', type: 'image/png' });
    expect(Buffer.from(pngRgb((file as { bytes: Uint8Array }).bytes))).toEqual(Buffer.from(image.rgb));
    expect(result).toMatchObject({ provider: 'openai', width: 64, height: 48 });
    expect(result.images).toHaveLength(2);
  });

  it('fal: fal-ai/flux/dev goes to its /image-to-image endpoint with image_url and strength, no image_size', async () => {
    const provider = await start('fal', { model: 'fal-ai/flux/dev' });
    const result = await provider.generate(img2img({ steps: 28 }));
    const [submit] = fake!.phase('submit');
    expect(submit.path).toBe('/fal-ai/flux/dev/image-to-image');
    const body = submit.body as Record<string, unknown>;
    expect(body).toMatchObject({ prompt: 'a red fox in the snow', strength: 0.55, num_inference_steps: 28, num_images: 1 });
    expect(body).not.toHaveProperty('image_size');
    expect(Buffer.from(pngRgb(body.image_url as string))).toEqual(Buffer.from(image.rgb));
    expect(result).toMatchObject({ provider: 'fal', model: 'fal-ai/flux/dev/image-to-image', width: 64, height: 48 });
    expect(sniffImage(await bytesOf(result.images[0]))).toMatchObject({ width: 64, height: 48 });
  });

  it('Replicate: flux-dev takes image (data URL) and prompt_strength, no aspect ratio', async () => {
    const provider = await start('replicate', { model: 'black-forest-labs/flux-dev' });
    const result = await provider.generate(img2img({ seed: 7 }));
    const [submit] = fake!.phase('submit');
    expect(submit.path).toBe('/v1/models/black-forest-labs/flux-dev/predictions');
    const input = (submit.body as { input: Record<string, unknown> }).input;
    expect(input).toMatchObject({ prompt: 'a red fox in the snow', prompt_strength: 0.55, seed: 7, num_outputs: 1, output_format: 'png' });
    expect(input).not.toHaveProperty('aspect_ratio');
    expect(Buffer.from(pngRgb(input.image as string))).toEqual(Buffer.from(image.rgb));
    expect(result).toMatchObject({ provider: 'replicate', width: 64, height: 48, seed: 7 });
  });

  it('AI/ML API: flux/dev/image-to-image takes image_url and strength in its body', async () => {
    const provider = await start('aimlapi', { model: 'flux/dev/image-to-image' });
    const result = await provider.generate(img2img());
    const body = fake!.phase('submit')[0].body as Record<string, unknown>;
    expect(body).toMatchObject({ model: 'flux/dev/image-to-image', strength: 0.55 });
    expect(body).not.toHaveProperty('image_size');
    expect(Buffer.from(pngRgb(body.image_url as string))).toEqual(Buffer.from(image.rgb));
    expect(result).toMatchObject({ width: 64, height: 48 });
  });

  it('BFL: Kontext edits from input_image (base64) and notes the strength it cannot take; strict refuses it', async () => {
    const provider = await start('bfl', { model: 'flux-kontext-pro' });
    const result = await provider.generate(img2img());
    const [submit] = fake!.phase('submit');
    expect(submit.path).toBe('/v1/flux-kontext-pro');
    const body = submit.body as Record<string, unknown>;
    expect(Buffer.from(pngRgb(body.input_image as string))).toEqual(Buffer.from(image.rgb));
    expect(body).not.toHaveProperty('strength');
    expect(result.adjustments.join(' ')).toMatch(/strength/);
    await fake!.close();
    const strict = await start('bfl', { model: 'flux-kontext-pro', strict: true });
    const refused = await rejection(strict.generate(img2img()));
    expect(refused).toBeInstanceOf(InvalidParameterError);
    expect(refused).toMatchObject({ field: 'strength', reason: 'provider-limit' });
    expect(fake!.requests).toHaveLength(0);
  });
});

describe('providers and models that cannot', () => {
  const cases: [FakeKind & AnyProviderConfig['kind'], string | undefined, RegExp][] = [
    ['fal', undefined, /fal-ai\/flux\/dev\/image-to-image/],
    ['replicate', undefined, /black-forest-labs\/flux-dev/],
    ['bfl', 'flux-pro-1.1', /flux-kontext-pro/],
    ['aimlapi', undefined, /flux\/dev\/image-to-image/],
    ['monica', undefined, /no image-to-image/],
  ];
  for (const [kind, model, advice] of cases) {
    it(`${kind}${model ? ` (${model})` : ' (its default model)'}: ProviderUnsupportedError naming the provider, nothing sent`, async () => {
      const provider = await start(kind, model ? { model } : {});
      const error = await rejection(provider.generate(img2img()));
      expect(error).toBeInstanceOf(ProviderUnsupportedError);
      expect(error).toMatchObject({ name: 'ProviderUnsupportedError', provider: kind, reason: 'unsupported', feature: 'image-to-image' });
      expect(error.message).toMatch(advice);
      expect(error.message).toMatch(/Nothing was sent/);
      expect(fake!.requests).toHaveLength(0);
    });
  }

  it('strength without a picture, or out of range, is refused before any request', async () => {
    const provider = await start('openai');
    expect(await rejection(provider.generate({ ...request(), strength: 0.5 }))).toMatchObject({ name: 'InvalidParameterError', field: 'strength', reason: 'conflict' });
    expect(await rejection(provider.generate(img2img({ strength: 0 })))).toMatchObject({ field: 'strength', reason: 'out-of-range' });
    expect(await rejection(provider.generate(img2img({ strength: 1.2 })))).toMatchObject({ field: 'strength', reason: 'out-of-range' });
    expect(await rejection(provider.generate(img2img({ image: { rgb: new Uint8Array(5), width: 64, height: 48 } })))).toMatchObject({ field: 'image' });
    expect(fake!.requests).toHaveLength(0);
  });
});

describe('OpenAI facade: images.edit over a remote-only generator', () => {
  it('returns {created, data} from the provider edits endpoint; the caller\'s field names its errors', async () => {
    fake = await startFakeProvider('openai');
    const generator = createGenerator({ privacy: 'remote-only', providers: [{ kind: 'openai', apiKey: KEY, baseUrl: fake.baseUrl, ...FAST }] });
    const answer = await generator.images.edit({ image: large, prompt: 'the fox at night', strength: 0.7, n: 1, response_format: 'b64_json' });
    expect(answer.created).toBeGreaterThan(1_600_000_000);
    expect(answer.data).toHaveLength(1);
    const png = Buffer.from((answer.data[0] as { b64_json: string }).b64_json, 'base64');
    expect(sniffImage(png)).toMatchObject({ format: 'png', width: 320, height: 256 });
    const [submit] = fake.phase('submit');
    expect(submit.path).toBe('/v1/images/edits');
    expect(submit.form).toMatchObject({ prompt: 'the fox at night', strength: '0.7', size: '320x256' });

    const before = fake.requests.length;
    const bad: [Record<string, unknown>, string][] = [
      [{ image: large, prompt: 'x', strength: 0 }, 'strength'],
      [{ image: large, prompt: 'x', strength: 'much' }, 'strength'],
      [{ prompt: 'x' }, 'image'],
      [{ image: [large, large], prompt: 'x' }, 'image'],
      [{ image: 42, prompt: 'x' }, 'image'],
      [{ image, prompt: 'x' }, 'size'], // a decoded picture below 256 px sets a size the web rule refuses
      [{ image: large, prompt: 'x', mask: large }, 'mask'],
      [{ image: large, prompt: 'x', size: '1000' }, 'size'],
    ];
    for (const [body, param] of bad) {
      const error = await rejection(generator.images.edit(body as never));
      expect(error, JSON.stringify(Object.keys(body))).toBeInstanceOf(OpenAIRequestError);
      expect(error.param).toBe(param);
    }
    expect(fake.requests.length).toBe(before);
  });

  it('a remote-only generator sends image-to-image to the first provider that can, text-to-image to the first', async () => {
    const monica = await startFakeProvider('monica');
    fake = await startFakeProvider('openai');
    try {
      const generator = createGenerator({ privacy: 'remote-only', providers: [{ kind: 'monica', apiKey: KEY, baseUrl: monica.baseUrl, ...FAST }, { kind: 'openai', apiKey: KEY, baseUrl: fake.baseUrl, ...FAST }] });
      expect((await generator.generate({ prompt: 'x', image: large, strength: 0.5 })).backend).toBe('openai');
      expect(monica.requests).toHaveLength(0);
      expect(fake.phase('submit')[0].path).toBe('/v1/images/edits');
      expect((await generator.generate({ prompt: 'x', width: 512, height: 512 })).backend).toBe('monica');
    } finally {
      await monica.close();
    }
  });

  it('a remote-only generator whose provider cannot edit refuses before sending', async () => {
    fake = await startFakeProvider('monica');
    const generator = createGenerator({ privacy: 'remote-only', providers: [{ kind: 'monica', apiKey: KEY, baseUrl: fake.baseUrl, ...FAST }] });
    const error = await rejection(generator.generate({ prompt: 'x', image: large, strength: 0.5 }));
    expect(error).toBeInstanceOf(ProviderUnsupportedError);
    expect(fake.requests).toHaveLength(0);
  });
});
