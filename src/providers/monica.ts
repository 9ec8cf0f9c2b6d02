/**
 * Monica (openapi.monica.im): synchronous `POST {base}/v1/image/gen/flux` with a bearer
 * key, body {model flux_schnell|flux_dev|flux_pro, prompt, num_outputs 1–4, size one of
 * 1024x1024 / 768x1344 / 1344x768, seed, steps}; answers `data[].url`.
 */
import { asRecord, HostedProvider, type ProviderOutput, type ProviderPlan } from './hosted-provider.ts';
import type { ValidRequest } from '../request.ts';
import type { RemoteCall } from './remote-call.ts';
import { InvalidParameterError } from '../errors.ts';
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
  protected consumedExtras(): readonly string[] {
    return ['size', 'num_outputs'];
  }

  protected plan(request: ValidRequest, model: string, adjust: Adjustments): MonicaPlan {
    // Monica's own fields, given as they are (`providerOptions`), are checked and used.
    const given = request.providerOptions ?? {};
    if (given.size !== undefined && !MONICA_SIZES.some((s) => sizeText(s) === given.size)) {
      throw new InvalidParameterError('size', `one of ${MONICA_SIZES.map(sizeText).join(', ')} for ${this.label}`, given.size, 'not-one-of');
    }
    if (given.num_outputs !== undefined && !(Number.isInteger(given.num_outputs) && (given.num_outputs as number) >= 1 && (given.num_outputs as number) <= 4)) {
      throw new InvalidParameterError('num_outputs', `an integer from 1 to 4 for ${this.label}`, given.num_outputs, 'out-of-range');
    }
    const size = typeof given.size === 'string'
      ? MONICA_SIZES.find((s) => sizeText(s) === given.size)!
      : pickSize(adjust, request, MONICA_SIZES, `${this.label} supports ${MONICA_SIZES.length} sizes`);
    if (typeof given.size === 'string' && sizeText(size) !== sizeText(request)) adjust.inform(`size ${sizeText(request)} → ${given.size} (${this.label} size ${given.size})`);
    const body: Record<string, unknown> = { model, prompt: request.prompt, num_outputs: (given.num_outputs as number | undefined) ?? request.numImages, size: sizeText(size) };
    const seed = requestedSeed(request);
    const steps = requestedSteps(request);
    if (seed !== undefined) body.seed = seed;
    if (steps !== undefined) body.steps = steps;
    adjust.guidance(body, request, model, undefined);
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
