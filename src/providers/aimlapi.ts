/**
 * AI/ML API (api.aimlapi.com): synchronous `POST {base}/v1/images/generations` with a
 * bearer key and a fal-shaped body (model `flux/schnell`, image_size a preset name —
 * square_hd, square, portrait_4_3, portrait_16_9, landscape_4_3, landscape_16_9 — when the
 * size is one, else {width, height} in multiples of 32 from 64 to 1536, num_inference_steps 1–12, seed ≥ 1, num_images,
 * output_format); answers 201 with `images[].url`.
 */
import { asRecord, HostedProvider, type ProviderOutput } from './hosted-provider.ts';
import type { ValidRequest } from '../request.ts';
import type { RemoteCall } from './remote-call.ts';
import { InvalidParameterError } from '../errors.ts';
import { Adjustments, fitSides, sizeText, type Size } from './request-mapping.ts';
import { falShapedBody, readFalShapedResult, type FalPlan } from './fal.ts';

/** AI/ML API's rule for flux/schnell sizes. */
export const AIMLAPI_SIZE = { multiple: 32, min: 64, max: 1536 };

/** AI/ML API's (fal's) `image_size` presets, which a caller may give by name (`providerOptions.image_size`). */
export const AIMLAPI_SIZE_PRESETS: Readonly<Record<string, { width: number; height: number }>> = {
  square_hd: { width: 1024, height: 1024 },
  square: { width: 512, height: 512 },
  portrait_4_3: { width: 768, height: 1024 },
  portrait_16_9: { width: 576, height: 1024 },
  landscape_4_3: { width: 1024, height: 768 },
  landscape_16_9: { width: 1024, height: 576 },
};


/** The AI/ML API provider. */
export class AimlApiProvider extends HostedProvider<FalPlan> {
  protected consumedExtras(): readonly string[] {
    return ['image_size'];
  }

  protected plan(request: ValidRequest, model: string, adjust: Adjustments): FalPlan {
    // AI/ML API's own size presets, given by name, decide the size (as the caller's size would).
    const preset = request.providerOptions?.image_size;
    if (preset !== undefined && !(typeof preset === 'string' && preset in AIMLAPI_SIZE_PRESETS)) {
      throw new InvalidParameterError('image_size', `one of ${Object.keys(AIMLAPI_SIZE_PRESETS).join(', ')} for ${this.label}`, preset, 'not-one-of');
    }
    const asked = { width: request.width, height: request.height };
    let size: Size;
    if (typeof preset === 'string') {
      size = AIMLAPI_SIZE_PRESETS[preset];
      if (size.width !== asked.width || size.height !== asked.height) adjust.inform(`size ${sizeText(asked)} → ${sizeText(size)} (image_size ${preset})`);
    } else size = fitSides(adjust, asked, AIMLAPI_SIZE);
    const plan = falShapedBody(request, model, size, adjust, 1);
    plan.body = { model, ...plan.body, ...(typeof preset === 'string' ? { image_size: preset } : {}) };
    return plan;
  }

  protected async run(call: RemoteCall, plan: FalPlan): Promise<ProviderOutput> {
    call.progress('submitting', { detail: 'synchronous: the answer comes with the images' });
    const answer = await call.json('POST', `${this.settings.baseUrl}/v1/images/generations`, 'submit', plan.body);
    const result = asRecord(answer.data) ?? {};
    const { urls, seed, notes } = readFalShapedResult(this, result, (v, f, w) => this.requireUrl(v, f, w, true));
    return { images: await this.fetchImages(call, urls), seed, notes };
  }
}
