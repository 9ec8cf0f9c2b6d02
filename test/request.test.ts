/**
 * One request road (src/request.ts): defaults only from defaults.ts, every range checked
 * with a field and a reason, a ValidRequest taken as it is (not checked twice), the
 * provider rule, one package-URL function and one byte format.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULTS, LIMITS } from '../src/defaults.ts';
import { formatBytes } from '../src/format-bytes.ts';
import { createGenerator } from '../src/generator.ts';
import { packageUrlOf } from '../src/package/package-url.ts';
import type { ImageEngine, ProviderResult } from '../src/providers/index.ts';
import { isValidRequest, requestFields, validateRequest, type ValidRequest } from '../src/request.ts';
import { thrownInvalid } from './support/thrown.ts';


describe('validateRequest', () => {
  it('applies the defaults of defaults.ts and draws a seed', () => {
    const request = validateRequest({ prompt: 'a fox' });
    expect(request).toMatchObject({ prompt: 'a fox', width: DEFAULTS.width, height: DEFAULTS.height, steps: DEFAULTS.steps, numImages: DEFAULTS.numImages, outputFormat: DEFAULTS.outputFormat, preview: false });
    expect(Number.isInteger(request.seed) && request.seed >= LIMITS.seed.min && request.seed <= LIMITS.seed.max).toBe(true);
    expect(request.unset).toEqual(['steps']);
    expect(Object.isFrozen(request)).toBe(true);
  });

  it('names the field, what is allowed and a reason for each kind of bad value', () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ prompt: 'x', width: 100 }, 'width', 'out-of-range'],
      [{ prompt: 'x', width: 520 }, 'width', 'out-of-range'],
      [{ prompt: 'x', width: '512' }, 'width', 'wrong-type'],
      [{ prompt: 'x', steps: 0 }, 'steps', 'out-of-range'],
      [{ prompt: 'x', seed: -1 }, 'seed', 'out-of-range'],
      [{ prompt: 'x', seed: 2 ** 32 }, 'seed', 'out-of-range'],
      [{ prompt: 'x', numImages: 5 }, 'numImages', 'out-of-range'],
      [{ prompt: 'x', outputFormat: 'gif' }, 'outputFormat', 'not-one-of'],
      [{ prompt: 'x', quality: 2 }, 'quality', 'out-of-range'],
      [{ prompt: 'x', preview: 'yes' }, 'preview', 'wrong-type'],
      [{ prompt: '' }, 'prompt', 'missing'],
      [{}, 'prompt', 'missing'],
      [{ prompt: 'x'.repeat(LIMITS.prompt.maxChars + 1) }, 'prompt', 'out-of-range'],
      [{ prompt: 42 }, 'prompt', 'wrong-type'],
      [{ promptEmbeddings: null }, 'promptEmbeddings', 'wrong-type'],
      [{ prompt: 'x', steps: null }, 'steps', 'wrong-type'],
      [{ promptEmbeddings: { promptEmbeds: [1], pooledPromptEmbeds: new Float32Array(1) } }, 'promptEmbeddings.promptEmbeds', 'wrong-type'],
      [{ promptEmbeddings: { promptEmbeds: new Float32Array([Number.NaN]), pooledPromptEmbeds: new Float32Array(1) } }, 'promptEmbeddings.promptEmbeds', 'out-of-range'],
      [{ prompt: 'x', promptEmbeddings: { promptEmbeds: new Float32Array(1), pooledPromptEmbeds: new Float32Array(1) } }, 'prompt', 'conflict'],
      [{ prompt: 'x', signal: {} }, 'signal', 'wrong-type'],
      [{ prompt: 'x', onProgress: 'log' }, 'onProgress', 'wrong-type'],
      [{ prompt: 'x', guidance_scale: 3.5 }, 'guidance_scale', 'unknown-field'],
      [{ prompt: 'x', guidance: 5.5 }, 'guidance', 'out-of-range'],
      [{ prompt: 'x', guidance: '3.5' }, 'guidance', 'wrong-type'],
      [{ prompt: 'x', providerOptions: 'style=vivid' }, 'providerOptions', 'wrong-type'],
    ];
    for (const [params, field, reason] of cases) {
      const error = thrownInvalid(() => validateRequest(params));
      expect([error.field, error.reason], JSON.stringify(params).slice(0, 80)).toEqual([field, reason]);
      expect(error.allowed.length).toBeGreaterThan(0);
      expect(error.message).toContain(field);
    }
    expect(thrownInvalid(() => validateRequest(null)).field).toBe('params');
  });

  it('takes sizes by rule: web 256–1440, any 16–2048, provider any positive size', () => {
    expect(thrownInvalid(() => validateRequest({ prompt: 'x', width: 64, height: 64 })).field).toBe('width');
    expect(validateRequest({ prompt: 'x', width: 64, height: 64 }, { sizes: 'any' }).width).toBe(64);
    expect(validateRequest({ prompt: 'x', width: 1000, height: 7, steps: 60 }, { sizes: 'provider' })).toMatchObject({ width: 1000, height: 7, steps: 60 });
    // A provider called on its own leaves an absent seed and steps to the provider.
    expect(validateRequest({ prompt: 'x' }, { sizes: 'provider' }).unset).toEqual(['steps', 'seed']);
    expect(thrownInvalid(() => validateRequest({ promptEmbeddings: { promptEmbeds: new Float32Array(1), pooledPromptEmbeds: new Float32Array(1) } }, { sizes: 'provider' })).reason).toBe('conflict');
  });

  it('returns a ValidRequest (or a spread copy with per-call fields) as it is, and re-checks anything changed', () => {
    const valid = validateRequest({ prompt: 'x', width: 512, height: 512, steps: 6, seed: 3 });
    // More steps than a model is distilled for is warned where the model is known (resolveForFamily: [schnell] 4, [dev] 50).
    expect(valid.warnings).toEqual([]);
    expect(validateRequest(valid)).toBe(valid);
    const signal = new AbortController().signal;
    expect(validateRequest({ ...valid, signal })).toBe(valid);
    expect(isValidRequest({ ...valid, width: 17 })).toBe(false);
    expect(thrownInvalid(() => validateRequest({ ...valid, width: 17 })).field).toBe('width');
    // Valid for a provider too; but a request checked for 'any' sizes is not valid for 'web'.
    expect(validateRequest(valid, { sizes: 'provider' })).toBe(valid);
    const tiny = validateRequest({ prompt: 'x', width: 64, height: 64 }, { sizes: 'any' });
    expect(thrownInvalid(() => validateRequest(tiny)).field).toBe('width');
    // What crosses to the worker: only the request's fields, as a plain object that checks again.
    const wire = structuredClone(requestFields(valid));
    expect(Object.keys(wire).sort()).toEqual(['height', 'numImages', 'outputFormat', 'preview', 'prompt', 'seed', 'steps', 'width']);
    expect(validateRequest(wire)).toMatchObject({ width: 512, seed: 3, steps: 6 });
  });
});

describe('createGenerator checks a request once and hands the ValidRequest on', () => {
  it('a provider receives the checked request itself, with no second default or check', async () => {
    const received: unknown[] = [];
    const engine: ImageEngine = {
      id: 'double',
      label: 'Test double',
      async generate(request): Promise<ProviderResult> {
        received.push(request);
        return { images: [new Blob([new Uint8Array(8)])], width: request.width, height: request.height, model: 'm', adjustments: [], provider: 'double' };
      },
    };
    const generator = createGenerator({ privacy: 'remote-only', providers: [engine] });
    const valid = generator.validate({ prompt: 'a red fox', width: 768, height: 512 });
    const result = await generator.generate({ ...valid, onProgress: () => undefined });
    expect(received).toHaveLength(1);
    expect(isValidRequest(received[0])).toBe(true);
    expect(received[0]).toBe(valid);
    expect((received[0] as ValidRequest).unset).toEqual(['steps']);
    expect(result).toMatchObject({ width: 768, height: 512, seed: valid.seed, steps: DEFAULTS.steps, backend: 'double' });
  });
});

describe('one package-URL function', () => {
  it('makes the URL absolute, drops query, fragment and manifest.json, ends in "/"', () => {
    const page = 'https://example.org/app/index.html';
    for (const given of ['models/demo', 'models/demo/', 'models/demo/manifest.json', 'models/demo/?v=2#x', '/app/models/demo/manifest.json?x=1']) {
      expect(packageUrlOf(given, page)).toBe('https://example.org/app/models/demo/');
    }
  });
  it('refuses what does not parse, naming the field', () => {
    const error = thrownInvalid(() => packageUrlOf('http://[bad', undefined));
    expect([error.field, error.reason]).toEqual(['model', 'malformed']);
    expect(thrownInvalid(() => packageUrlOf('javascript:alert(1)', 'https://example.org/')).reason).toBe('malformed');
  });
});

describe('one byte format', () => {
  it('decimal units as browsers show storage', () => {
    expect([512, 12_345, 1_765_923, 350_000_000, 12_460_000_000, 125e9].map(formatBytes)).toEqual(['512 B', '12 KB', '1.8 MB', '350 MB', '12.5 GB', '125 GB']);
  });
});
