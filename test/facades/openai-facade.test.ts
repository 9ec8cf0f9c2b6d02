/**
 * The OpenAI/Lumenfall-shaped facade: `size` as "WxH" or "W:H", `aspect_ratio` +
 * `resolution` tiers ("0.5K"/"1K"/"2K" or megapixels) with size winning, `n`, `seed`,
 * `response_format`, `output_format`, `output_compression`, `cfg_scale`, and unknown
 * fields passed to hosted providers — through the real generator and provider to a fake
 * OpenAI-compatible gateway on 127.0.0.1 — plus the Monica and AI/ML API presets, and
 * invalid requests answered with OpenAI's 400 shape naming the caller's field.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidParameterError, OpenAIRequestError } from '../../src/errors.ts';
import { chooseSize, isSizeProblem, parseResolution, sidesFor } from '../../src/facades/size-request.ts';
import { createGenerator } from '../../src/generator.ts';
import { createProvider, type AnyProviderConfig } from '../../src/providers/index.ts';
import { startFakeProvider, type FakeKind, type FakeProvider } from '../support/fake-providers.ts';

const PROMPT = 'a red fox in the snow';
const WEB = { min: 256, max: 1440, multiple: 16 };
const SQUARE = { width: 1024, height: 1024 };
let fake: FakeProvider | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function gateway(config: Partial<AnyProviderConfig> = {}) {
  fake = await startFakeProvider('openai');
  return createGenerator({ privacy: 'remote-only', providers: [{ kind: 'openai', apiKey: 'k', baseUrl: fake.baseUrl, sendSeedAndSteps: true, ...config } as AnyProviderConfig] });
}

const openAIError = async (promise: Promise<unknown>): Promise<OpenAIRequestError> => {
  const error = await promise.catch((e) => e);
  expect(error).toBeInstanceOf(OpenAIRequestError);
  return error as OpenAIRequestError;
};

describe('size, aspect_ratio and resolution (size wins)', () => {
  const choose = (request: Record<string, unknown>) => {
    const chosen = chooseSize(request, WEB, SQUARE);
    if (isSizeProblem(chosen)) throw new Error(chosen.message);
    return chosen;
  };

  it('takes "WxH" as it is and ignores aspect_ratio and resolution beside it (with notes)', () => {
    expect(choose({ size: '768x1344' })).toEqual({ width: 768, height: 1344, notes: [] });
    expect(choose({ size: '1024x768', aspect_ratio: '9:16', resolution: '2K' })).toEqual({
      width: 1024, height: 768,
      notes: ['aspect_ratio 9:16 ignored: size 1024x768 sets the shape', 'resolution 2K ignored: size 1024x768 sets the scale'],
    });
    expect(choose({})).toEqual({ ...SQUARE, notes: [] });
  });

  it('treats "W:H" as an aspect ratio (winning over aspect_ratio) at the resolution, default 1K', () => {
    expect(choose({ size: '16:9' })).toMatchObject({ width: 1360, height: 768 });
    expect(choose({ size: '1:1', aspect_ratio: '16:9' })).toEqual({ width: 1024, height: 1024, notes: ['aspect_ratio 16:9 ignored: size 1:1 sets the shape'] });
    expect(choose({ aspect_ratio: '3:2' })).toMatchObject({ width: 1248, height: 832 });
    expect(choose({ aspect_ratio: '3:2', resolution: '0.5K' })).toMatchObject({ width: 624, height: 416 });
    expect(choose({ resolution: '0.5K' })).toMatchObject({ width: 512, height: 512 });
  });

  it('maps tiers and megapixels to the nearest size the model allows, noting what it could not reach', () => {
    expect([0.25, 1, 4].map((mp) => parseResolution(mp))).toEqual([0.25, 1, 4]);
    expect(['0.5K', '1k', '2K', '1.5MP', '2 megapixels', '3'].map(parseResolution)).toEqual([0.25, 1, 4, 1.5, 2, 3]);
    expect([-1, 0, 'big', '1K1', null].map(parseResolution)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    const big = choose({ aspect_ratio: '1:1', resolution: '2K' });
    expect(big).toMatchObject({ width: 1440, height: 1440 });
    expect(big.notes).toEqual(['resolution 4.00 MP → 1.98 MP (1440x1440: sides from 256 to 1440)']);
    const wide = choose({ aspect_ratio: '21:9', resolution: 1.5 });
    expect(wide).toMatchObject({ width: 1440, height: 624 });
    expect(wide.notes.join(' ')).toMatch(/resolution 1\.50 MP → 0\.86 MP/);
    const extreme = choose({ aspect_ratio: '10:1' });
    expect(extreme).toMatchObject({ width: 1440, height: 256 });
    expect(extreme.notes.join(' ')).toMatch(/aspect ratio 10:1 → 1440x256, the nearest the sides allow/);
    // The sides are always multiples of 16 within the rule.
    for (const ratio of [0.3, 0.75, 1, 1.7, 3.1]) for (const mp of [0.1, 0.5, 1, 2.5]) {
      const s = sidesFor(ratio, mp * 2 ** 20, WEB);
      expect(s.width % 16 + s.height % 16).toBe(0);
      expect(Math.min(s.width, s.height)).toBeGreaterThanOrEqual(256);
      expect(Math.max(s.width, s.height)).toBeLessThanOrEqual(1440);
    }
  });

  it('refuses malformed values naming the field', () => {
    const problem = (request: Record<string, unknown>) => chooseSize(request, WEB, SQUARE);
    expect(problem({ size: 'huge' })).toMatchObject({ field: 'size' });
    expect(problem({ size: 1024 })).toMatchObject({ field: 'size' });
    expect(problem({ size: '0x512' })).toMatchObject({ field: 'size' });
    expect(problem({ aspect_ratio: '0:1' })).toMatchObject({ field: 'aspect_ratio' });
    expect(problem({ aspect_ratio: 'wide' })).toMatchObject({ field: 'aspect_ratio' });
    expect(problem({ resolution: '8X' })).toMatchObject({ field: 'resolution' });
  });
});

describe('images.generate through a hosted OpenAI-compatible gateway', () => {
  it('sends the mapped size, n, seed and cfg_scale, and passes unknown fields on as they are', async () => {
    const generator = await gateway();
    const response = await generator.images.generate({
      model: 'flux.1-dev', prompt: PROMPT, n: 2, aspect_ratio: '16:9', resolution: '1K', seed: 5, cfg_scale: 4.5, response_format: 'b64_json',
      style: 'vivid', quality: 'hd', user: 'u-1', guidance_rescale: 0.7,
    });
    expect(response.data).toHaveLength(2);
    expect(response.data.every((d) => 'b64_json' in d && d.b64_json.length > 0)).toBe(true);
    const body = fake!.phase('submit')[0].body as Record<string, unknown>;
    expect(body).toMatchObject({ prompt: PROMPT, n: 2, size: '1360x768', seed: 5, cfg_scale: 4.5, style: 'vivid', quality: 'hd', user: 'u-1', guidance_rescale: 0.7 });
    expect(body.aspect_ratio).toBeUndefined();
    expect(body.resolution).toBeUndefined();
  });

  it('takes response_format url, output_format and output_compression', async () => {
    const generator = await gateway({ responseFormat: 'url' });
    const response = await generator.images.generate({ prompt: PROMPT, size: '512x512', response_format: 'url', output_format: 'jpeg', output_compression: 80 });
    expect(response.data[0]).toMatchObject({ url: expect.stringMatching(/^blob:/) });
    expect(fake!.phase('submit')[0].body).toMatchObject({ size: '512x512' });
  });

  it('answers invalid requests with the 400 shape naming the field', async () => {
    const generator = await gateway();
    const cases: [Record<string, unknown>, string][] = [
      [{ prompt: '' }, 'prompt'],
      [{ prompt: PROMPT, n: 5 }, 'n'],
      [{ prompt: PROMPT, n: 1.5 }, 'n'],
      [{ prompt: PROMPT, size: 'big' }, 'size'],
      [{ prompt: PROMPT, size: '100x100' }, 'size'],
      [{ prompt: PROMPT, aspect_ratio: '16-9' }, 'aspect_ratio'],
      [{ prompt: PROMPT, resolution: 'huge' }, 'resolution'],
      [{ prompt: PROMPT, response_format: 'base64' }, 'response_format'],
      [{ prompt: PROMPT, output_format: 'gif' }, 'output_format'],
      [{ prompt: PROMPT, output_compression: 101 }, 'output_compression'],
      [{ prompt: PROMPT, cfg_scale: 'high' }, 'cfg_scale'],
      [{ prompt: PROMPT, cfg_scale: 9 }, 'cfg_scale'],
      [{ prompt: PROMPT, seed: -3 }, 'seed'],
      [{ prompt: PROMPT, model: 7 }, 'model'],
      // The library's own field names are not OpenAI's: refused, not passed on.
      [{ prompt: PROMPT, width: 512 }, 'width'],
      [{ prompt: PROMPT, steps: 4 }, 'steps'],
    ];
    for (const [request, param] of cases) {
      const error = await openAIError(generator.images.generate(request as never));
      expect(error.status, JSON.stringify(request)).toBe(400);
      expect(error.body.error, JSON.stringify(request)).toMatchObject({ type: 'invalid_request_error', param, message: expect.stringContaining(param) });
    }
    expect(fake!.requests).toHaveLength(0);
  });
});

describe('Monica and AI/ML API presets', () => {
  async function provider(kind: FakeKind & AnyProviderConfig['kind']) {
    fake = await startFakeProvider(kind);
    return createProvider({ kind, apiKey: 'k', baseUrl: fake.baseUrl, pollIntervalMs: 5 } as AnyProviderConfig);
  }
  const base = { prompt: PROMPT, width: 1024, height: 1024, numImages: 1, outputFormat: 'png' as const };

  it("Monica: the nearest of its three sizes (shape first), or its own size and num_outputs given as they are", async () => {
    const monica = await provider('monica');
    const wide = await monica.generate({ ...base, width: 1360, height: 768 });
    expect(fake!.phase('submit')[0].body).toMatchObject({ size: '1344x768', num_outputs: 1 });
    expect(wide.adjustments).toEqual(['size 1360x768 → 1344x768 (Monica supports 3 sizes)']);
    const given = await monica.generate({ ...base, providerOptions: { size: '768x1344', num_outputs: 2 } });
    expect(fake!.phase('submit')[1].body).toMatchObject({ size: '768x1344', num_outputs: 2 });
    expect(given.images).toHaveLength(2);
    await expect(monica.generate({ ...base, providerOptions: { size: '512x512' } })).rejects.toMatchObject({ name: 'InvalidParameterError', field: 'size' });
    await expect(monica.generate({ ...base, providerOptions: { num_outputs: 5 } })).rejects.toBeInstanceOf(InvalidParameterError);
  });

  it('AI/ML API: an image_size preset by name decides the size; an unknown one is refused', async () => {
    const aiml = await provider('aimlapi');
    const result = await aiml.generate({ ...base, providerOptions: { image_size: 'landscape_16_9' } });
    expect(fake!.phase('submit')[0].body).toMatchObject({ image_size: 'landscape_16_9' });
    expect(result).toMatchObject({ width: 1024, height: 576 });
    expect(result.adjustments).toContain('size 1024x1024 → 1024x576 (image_size landscape_16_9)');
    await expect(aiml.generate({ ...base, providerOptions: { image_size: 'panorama' } })).rejects.toMatchObject({ name: 'InvalidParameterError', field: 'image_size' });
    // Without a preset, the size is fitted to multiples of 32 as before; other extra fields pass as they are.
    await aiml.generate({ ...base, width: 1000, height: 1000, providerOptions: { enable_safety_checker: false } });
    expect(fake!.phase('submit')[1].body).toMatchObject({ image_size: { width: 992, height: 992 }, enable_safety_checker: false });
  });

  it('guidance goes where each provider takes it, and is noted where it does not', async () => {
    const aiml = await provider('aimlapi');
    const schnell = await aiml.generate({ ...base, guidance: 3.5 });
    expect(fake!.phase('submit')[0].body).not.toHaveProperty('guidance_scale');
    expect(schnell.adjustments).toContain('guidance 3.5 not sent (flux/schnell takes no guidance)');
    await aiml.generate({ ...base, guidance: 3.5, model: 'flux/dev' });
    expect(fake!.phase('submit')[1].body).toMatchObject({ guidance_scale: 3.5 });
  });
});
