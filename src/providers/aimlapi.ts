/**
 * AI/ML API (api.aimlapi.com): synchronous `POST {base}/v1/images/generations` with a
 * bearer key and a fal-shaped body (model `flux/schnell`, image_size {width, height} in
 * multiples of 32 from 64 to 1536, num_inference_steps 1–12, seed ≥ 1, num_images,
 * output_format); answers 201 with `images[].url`.
 */
import { asRecord, HostedProvider, type ProviderOutput } from './hosted-provider.ts';
import type { ValidRequest } from '../request.ts';
import type { RemoteCall } from './remote-call.ts';
import { Adjustments, fitSides } from './request-mapping.ts';
import { falShapedBody, readFalShapedResult, type FalPlan } from './fal.ts';

/** AI/ML API's rule for flux/schnell sizes. */
export const AIMLAPI_SIZE = { multiple: 32, min: 64, max: 1536 };

/** The AI/ML API provider. */
export class AimlApiProvider extends HostedProvider<FalPlan> {
  protected plan(request: ValidRequest, model: string, adjust: Adjustments): FalPlan {
    const size = fitSides(adjust, { width: request.width, height: request.height }, AIMLAPI_SIZE);
    const plan = falShapedBody(request, model, size, adjust, 1);
    plan.body = { model, ...plan.body };
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
