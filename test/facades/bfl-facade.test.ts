/**
 * The BFL-shaped facade: every endpoint's body (flux-schnell, flux-dev, flux-pro,
 * flux-pro-1.1, flux-pro-1.1-ultra) as BFL documents it, valid and invalid (one 422
 * `detail[]` entry per invalid field), the exact status strings while polling, and what
 * reaches a hosted BFL API (a fake one on 127.0.0.1, through the real generator and
 * provider). Mapping to the local model (warnings, ultra's nine aspect ratios, [dev]'s
 * guidance on a [schnell] package) is checked on the mapping itself.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BflValidationError } from '../../src/errors.ts';
import { BFL_ULTRA_ASPECT_RATIOS, checkBflBody, mapBflBody } from '../../src/facades/bfl-endpoints.ts';
import type { BflResult } from '../../src/facades/bfl-facade.ts';
import { createGenerator } from '../../src/generator.ts';
import { startFakeProvider, type FakeProvider, type FakeScript } from '../support/fake-providers.ts';

const PROMPT = 'a lighthouse at dusk';
const WEB = { min: 256, max: 1440, multiple: 16 };
let fake: FakeProvider | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** A generator that sends every request to a fake BFL API running `model`. */
async function remote(model: string, script: FakeScript = {}) {
  fake = await startFakeProvider('bfl', script);
  return createGenerator({ privacy: 'remote-only', providers: [{ kind: 'bfl', apiKey: 'k', baseUrl: fake.baseUrl, model, pollIntervalMs: 5, retryBaseMs: 5 }] });
}

/** Polls until the status is no longer Pending; returns every status seen. */
async function poll(getResult: (id: string) => Promise<BflResult>, id: string): Promise<{ statuses: string[]; last: BflResult }> {
  const statuses: string[] = [];
  for (let i = 0; i < 500; i++) {
    const last = await getResult(id);
    statuses.push(last.status);
    if (last.status !== 'Pending') return { statuses, last };
    await new Promise((done) => setTimeout(done, 5));
  }
  throw new Error('still Pending');
}

const rejected = async (promise: Promise<unknown>): Promise<BflValidationError> => {
  const error = await promise.catch((e) => e);
  expect(error).toBeInstanceOf(BflValidationError);
  return error as BflValidationError;
};

describe('valid bodies of every endpoint', () => {
  const bodies: Record<string, Record<string, unknown>> = {
    'flux-schnell': { prompt: PROMPT, width: 512, height: 512, steps: 12, seed: 1, output_format: 'png', safety_tolerance: 2, prompt_upsampling: false },
    'flux-dev': { prompt: PROMPT, image_prompt: null, width: 1024, height: 768, steps: 28, prompt_upsampling: false, seed: 42, guidance: 3, safety_tolerance: 2, output_format: 'jpeg', webhook_url: 'https://example.org/hook', webhook_secret: 's' },
    'flux-pro': { prompt: PROMPT, width: 1024, height: 768, steps: 40, guidance: 2.5, interval: 2, seed: 3, safety_tolerance: 6, output_format: 'png' },
    'flux-pro-1.1': { prompt: PROMPT, width: 1440, height: 256, prompt_upsampling: true, seed: 4, safety_tolerance: 0, output_format: 'jpeg' },
    'flux-pro-1.1-ultra': { prompt: PROMPT, prompt_upsampling: false, seed: 42, aspect_ratio: '21:9', safety_tolerance: 2, output_format: 'jpeg', raw: true, image_prompt_strength: 0.1 },
  };
  for (const [endpoint, body] of Object.entries(bodies)) {
    it(`${endpoint}: accepted as BFL documents it`, () => expect(checkBflBody(endpoint, body)).toEqual([]));
  }

  it('reach a hosted BFL API mapped to its fields (flux-dev: guidance and steps; ultra: aspect_ratio)', async () => {
    const dev = await remote('flux-dev');
    const submitted = await dev.bfl.submit('flux-dev', bodies['flux-dev'] as never);
    expect(submitted.warnings).toEqual(['webhook_url "https://example.org/hook" accepted but not applied by this provider: no webhooks: poll getResult', 'webhook_secret "s" accepted but not applied by this provider: no webhooks: poll getResult']);
    const { statuses, last } = await poll(dev.bfl.getResult, submitted.id);
    expect(statuses.at(-1)).toBe('Ready');
    expect(last).toMatchObject({ id: submitted.id, status: 'Ready', progress: 1, result: { seed: 42, prompt: PROMPT } });
    expect(fake!.phase('submit')[0].body).toMatchObject({ prompt: PROMPT, width: 1024, height: 768, steps: 28, guidance: 3, seed: 42, output_format: 'jpeg' });
    await fake!.close();

    const ultra = await remote('flux-pro-1.1-ultra');
    const u = await ultra.bfl.submit('flux-pro-1.1-ultra', bodies['flux-pro-1.1-ultra'] as never);
    expect((await poll(ultra.bfl.getResult, u.id)).last.status).toBe('Ready');
    // 21:9 became a size near 1 MP, which BFL's ultra takes back as its nearest aspect ratio.
    expect(fake!.phase('submit')[0].body).toMatchObject({ prompt: PROMPT, aspect_ratio: '21:9', seed: 42 });
  });
});

describe('invalid bodies: one 422 detail[] entry per invalid field', () => {
  it('names every bad field of a flux-dev body at once, with BFL types', async () => {
    const generator = await remote('flux-dev');
    const error = await rejected(generator.bfl.submit('flux-dev', { prompt: 7, width: 100, height: 1000, steps: 51, guidance: 6, seed: -1, output_format: 'webp', safety_tolerance: 7, prompt_upsampling: 'yes', aspect_ratio: '16:9' } as never));
    expect(error.status).toBe(422);
    expect(error.body.detail).toEqual([
      { loc: ['body', 'aspect_ratio'], msg: expect.stringMatching(/^Extra inputs are not permitted/), type: 'extra_forbidden' },
      { loc: ['body', 'prompt'], msg: 'Input should be a valid string', type: 'string_type' },
      { loc: ['body', 'seed'], msg: 'Input should be greater than or equal to 0', type: 'greater_than_equal' },
      { loc: ['body', 'output_format'], msg: "Input should be 'jpeg' or 'png'", type: 'enum' },
      { loc: ['body', 'safety_tolerance'], msg: 'Input should be less than or equal to 6', type: 'less_than_equal' },
      { loc: ['body', 'prompt_upsampling'], msg: 'Input should be a valid boolean', type: 'bool_type' },
      { loc: ['body', 'width'], msg: 'Input should be greater than or equal to 256', type: 'greater_than_equal' },
      { loc: ['body', 'height'], msg: 'Input should be a multiple of 32', type: 'multiple_of' },
      { loc: ['body', 'steps'], msg: 'Input should be less than or equal to 50', type: 'less_than_equal' },
      { loc: ['body', 'guidance'], msg: 'Input should be less than or equal to 5', type: 'less_than_equal' },
    ]);
    expect(fake!.requests).toHaveLength(0);
  });

  it('per endpoint: schnell steps up to 12, no guidance on schnell/pro-1.1, ultra only the nine aspect ratios and no width', () => {
    const locs = (endpoint: string, body: Record<string, unknown>) => checkBflBody(endpoint, { prompt: PROMPT, ...body }).map((d) => [d.loc[1], d.type]);
    expect(locs('flux-schnell', { steps: 13 })).toEqual([['steps', 'less_than_equal']]);
    expect(locs('flux-schnell', { guidance: 3 })).toEqual([['guidance', 'extra_forbidden']]);
    expect(locs('flux-pro-1.1', { steps: 20, guidance: 3 })).toEqual([['steps', 'extra_forbidden'], ['guidance', 'extra_forbidden']]);
    expect(locs('flux-pro', { interval: 5 })).toEqual([['interval', 'less_than_equal']]);
    expect(locs('flux-dev', { guidance: 1.4 })).toEqual([['guidance', 'greater_than_equal']]);
    expect(locs('flux-dev', { guidance: 'high' })).toEqual([['guidance', 'float_type']]);
    expect(locs('flux-dev', { image_prompt: 'aGVsbG8=' })).toEqual([['image_prompt', 'value_error']]);
    for (const ratio of BFL_ULTRA_ASPECT_RATIOS) expect(locs('flux-pro-1.1-ultra', { aspect_ratio: ratio })).toEqual([]);
    for (const ratio of ['0:0', '100:1', '5:4', '16x9', 16]) {
      expect(locs('flux-pro-1.1-ultra', { aspect_ratio: ratio }), String(ratio)).toEqual([['aspect_ratio', typeof ratio === 'string' ? 'enum' : 'string_type']]);
    }
    expect(locs('flux-pro-1.1-ultra', { width: 1024, raw: 'yes' })).toEqual([['width', 'extra_forbidden'], ['raw', 'bool_type']]);
    expect(checkBflBody('flux-pro-2', { prompt: PROMPT })).toEqual([{ loc: ['path', 'model'], msg: expect.stringContaining("'flux-pro-1.1-ultra'"), type: 'enum' }]);
    expect(checkBflBody('flux-dev', [PROMPT])).toEqual([{ loc: ['body', 'body'], msg: 'Input should be a valid dictionary', type: 'dict_type' }]);
    expect(checkBflBody('flux-dev', {})).toEqual([{ loc: ['body', 'prompt'], msg: 'Field required', type: 'missing' }]);
    // null is "absent" only where BFL documents a field as nullable.
    expect(locs('flux-dev', { seed: null, output_format: null, image_prompt: null, webhook_url: null })).toEqual([]);
    expect(locs('flux-dev', { width: null, guidance: null, steps: null, prompt_upsampling: null })).toEqual([['prompt_upsampling', 'bool_type'], ['width', 'int_type'], ['steps', 'int_type'], ['guidance', 'float_type']]);
  });
});

describe('polling returns BFL status strings', () => {
  for (const [outcome, status] of [['error', 'Error'], ['request-moderated', 'Request Moderated'], ['content-moderated', 'Content Moderated']] as const) {
    it(`${status} (the provider's task ended ${outcome}), after Pending`, async () => {
      const generator = await remote('flux-dev', { outcome, pendingPolls: 2 });
      const { id } = await generator.bfl.submit('flux-dev', { prompt: PROMPT });
      const { statuses, last } = await poll(generator.bfl.getResult, id);
      expect(statuses[0]).toBe('Pending');
      expect(statuses.at(-1)).toBe(status);
      expect(last.result).toBeNull();
      expect(last.details).toMatchObject({ name: expect.any(String), error: expect.any(String) });
    });
  }

  it('Task not found for an unknown id', async () => {
    const generator = await remote('flux-dev');
    expect(await generator.bfl.getResult('no-such-task')).toEqual({ id: 'no-such-task', status: 'Task not found', result: null, progress: null });
  });
});

describe('mapping to the local model', () => {
  it('runs [pro] bodies on the local model with a warning and reports what is not applied', () => {
    const pro = mapBflBody('flux-pro', { prompt: PROMPT, width: 768, height: 512, steps: 40, guidance: 2.5, interval: 2, safety_tolerance: 4, prompt_upsampling: true }, 'dev', WEB);
    expect(pro).toMatchObject({ prompt: PROMPT, width: 768, height: 512, steps: 40, guidance: 2.5, outputFormat: 'jpeg' });
    expect(pro.warnings).toEqual([
      'flux-pro is BFL\'s hosted model; this request ran on the local model (FLUX.1 [dev]) instead',
      'safety_tolerance 4 accepted but not applied locally: no moderation runs on this device',
      'prompt_upsampling true accepted but not applied locally: the prompt is used as written',
      'interval 2 accepted but not applied locally: interval is a FLUX.1 [pro] feature',
    ]);
    const pro11 = mapBflBody('flux-pro-1.1', { prompt: PROMPT }, 'schnell', WEB);
    expect(pro11).toMatchObject({ width: 1024, height: 768, steps: undefined, guidance: undefined, outputFormat: 'jpeg' });
    expect(pro11.warnings[0]).toMatch(/flux-pro-1\.1 is BFL's hosted model; this request ran on the local model \(FLUX\.1 \[schnell\]\)/);
  });

  it("gives a [schnell] package no guidance (with a warning) and a [dev] package BFL's", () => {
    const onSchnell = mapBflBody('flux-dev', { prompt: PROMPT, guidance: 4 }, 'schnell', WEB);
    expect(onSchnell.guidance).toBeUndefined();
    expect(onSchnell.warnings).toEqual(['flux-dev requested; the local model is FLUX.1 [schnell]', 'guidance 4 not applied: the local model FLUX.1 [schnell] is not guidance-distilled']);
    expect(mapBflBody('flux-dev', { prompt: PROMPT, guidance: 4 }, 'dev', WEB)).toMatchObject({ guidance: 4, warnings: [] });
    expect(mapBflBody('flux-dev', { prompt: PROMPT }, 'dev', WEB).guidance).toBeUndefined(); // the package default (3.5) applies
  });

  it("maps ultra's nine aspect ratios to about 1 MP with the ratio kept, and ignores raw with a warning", () => {
    const sizes = Object.fromEntries(BFL_ULTRA_ASPECT_RATIOS.map((r) => [r, mapBflBody('flux-pro-1.1-ultra', { prompt: PROMPT, aspect_ratio: r }, 'schnell', WEB)]));
    for (const [ratio, mapped] of Object.entries(sizes)) {
      const [w, h] = ratio.split(':').map(Number);
      expect(mapped.width % 16, ratio).toBe(0);
      expect(mapped.height % 16, ratio).toBe(0);
      expect(Math.abs(Math.log(mapped.width / mapped.height / (w / h))), ratio).toBeLessThan(0.03);
      expect(mapped.width * mapped.height, ratio).toBeGreaterThan(0.85 * 2 ** 20);
      expect(mapped.width * mapped.height, ratio).toBeLessThan(1.15 * 2 ** 20);
    }
    expect(sizes['1:1']).toMatchObject({ width: 1024, height: 1024 });
    expect(sizes['16:9']).toMatchObject({ width: 1360, height: 768 });
    expect(mapBflBody('flux-pro-1.1-ultra', { prompt: PROMPT }, 'dev', WEB)).toMatchObject({ width: 1360, height: 768 }); // BFL's default 16:9
    const raw = mapBflBody('flux-pro-1.1-ultra', { prompt: PROMPT, aspect_ratio: '9:21', raw: true }, 'dev', WEB);
    expect(raw.warnings).toContain('raw true accepted but not applied locally: raw mode is a BFL ultra feature');
  });
});
