/**
 * Monica (openapi.monica.im): synchronous `POST {base}/v1/image/gen/flux` with a bearer
 * key, body {model flux_schnell|flux_dev|flux_pro, prompt, num_outputs 1–4, size one of
 * 1024x1024 / 768x1344 / 1344x768, seed, steps}; answers `data[].url`.
 */
import { asRecord, HostedProvider, type ProviderOutput, type ProviderPlan } from './hosted-provider.ts';
import type { ValidRequest } from '../request.ts';
import type { RemoteCall } from './remote-call.ts';
import { Adjustments, pickSize, requestedSeed, requestedSteps, sizeText, type Size } from './request-mapping.ts';

/** The only sizes Monica makes. */
export const MONICA_SIZES: readonly Size[] = [
  { width: 1024, height: 1024 },
  { width: 768, height: 1344 },
  { width: 1344, height: 768 },
];

interface MonicaPlan extends ProviderPlan {
  body: Record<string, unknown>;
}

/** The Monica provider. */
export class MonicaProvider extends HostedProvider<MonicaPlan> {
  protected plan(request: ValidRequest, model: string, adjust: Adjustments): MonicaPlan {
    const size = pickSize(adjust, request, MONICA_SIZES, `${this.label} supports ${MONICA_SIZES.length} sizes`);
    const body: Record<string, unknown> = { model, prompt: request.prompt, num_outputs: request.numImages, size: sizeText(size) };
    const seed = requestedSeed(request);
    const steps = requestedSteps(request);
    if (seed !== undefined) body.seed = seed;
    if (steps !== undefined) body.steps = steps;
    return { model, size, format: undefined, seed, body };
  }

  protected async run(call: RemoteCall, plan: MonicaPlan): Promise<ProviderOutput> {
    call.progress('submitting', { detail: 'synchronous: the answer comes with the images' });
    const answer = asRecord((await call.json('POST', `${this.settings.baseUrl}/v1/image/gen/flux`, 'submit', plan.body)).data) ?? {};
    if (!Array.isArray(answer.data) || answer.data.length === 0) throw this.protocolError('data', 'the list of generated images');
    const urls = answer.data.map((item, i) => this.requireUrl(asRecord(item)?.url, `data[${i}].url`, 'the URL of an image', true));
    return { images: await this.fetchImages(call, urls) };
  }
}
