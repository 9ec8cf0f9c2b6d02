/**
 * fal (queue.fal.run): `POST {base}/{model}` with `Authorization: Key …` answers
 * `{request_id, status_url, response_url, cancel_url}`; poll `status_url` (IN_QUEUE →
 * IN_PROGRESS → COMPLETED), then `GET response_url` → `{images: [{url}], seed,
 * has_nsfw_concepts}`. A cancelled or timed-out call cancels the queued request.
 * The fal-shaped body and result are shared with the AI/ML API (aimlapi.ts).
 */
import { ContentModeratedError, ProviderTaskFailedError } from '../errors.ts';
import { asRecord, asSeed, HostedProvider, type ProviderOutput, type ProviderPlan } from './hosted-provider.ts';
import type { ValidRequest } from '../request.ts';
import { MODERATION, type RemoteCall } from './remote-call.ts';
import { requestedSeed, requestedSteps, type Adjustments, type Size } from './request-mapping.ts';

/** A fal-shaped request body. */
export interface FalPlan extends ProviderPlan {
  body: Record<string, unknown>;
}

/** Steps fal takes: 1–12 for schnell models, 1–50 otherwise. */
export function falStepRange(model: string): [number, number] {
  return /schnell/.test(model) ? [1, 12] : [1, 50];
}

/**
 * The fal-shaped body: prompt, image_size {width, height}, num_inference_steps, seed,
 * num_images, output_format (jpeg|png).
 */
export function falShapedBody(request: ValidRequest, model: string, size: Size, adjust: Adjustments, seedMin = 0): FalPlan {
  const body: Record<string, unknown> = { prompt: request.prompt, image_size: { width: size.width, height: size.height }, num_images: request.numImages };
  const steps = requestedSteps(request);
  if (steps !== undefined) {
    const [min, max] = falStepRange(model);
    body.num_inference_steps = adjust.clampInteger('steps', steps, min, max);
  }
  let seed = requestedSeed(request);
  if (seed !== undefined && seed < seedMin) {
    adjust.adjust('seed', `an integer of at least ${seedMin}`, seed, `seed ${seed} → ${seedMin} (${adjust.label} takes seeds from ${seedMin})`);
    seed = seedMin;
  }
  if (seed !== undefined) body.seed = seed;
  adjust.guidance(body, request, model, /schnell/.test(model) ? undefined : 'guidance_scale');
  const format = adjust.format(request.outputFormat, ['jpeg', 'png']);
  body.output_format = format;
  return { model, size, format, seed, body };
}

/**
 * Reads a fal-shaped result: image URLs (`images[].url`, or `data[].url`), the seed, and
 * the safety checker's verdict (all images flagged → ContentModeratedError; some → notes).
 * @param requireUrl returns a valid URL or throws ProviderProtocolError naming the field
 */
export function readFalShapedResult(provider: { id: string; label: string }, result: Record<string, unknown>, requireUrl: (value: unknown, field: string, what: string) => string): { urls: string[]; seed?: number; notes: string[] } {
  const list = Array.isArray(result.images) ? result.images : Array.isArray(result.data) ? result.data : [];
  const key = Array.isArray(result.images) || !Array.isArray(result.data) ? 'images' : 'data';
  if (list.length === 0) requireUrl(undefined, key, 'the list of generated images');
  const urls = list.map((item, i) => requireUrl(asRecord(item)?.url, `${key}[${i}].url`, 'the URL of an image'));
  const flags = Array.isArray(result.has_nsfw_concepts) ? result.has_nsfw_concepts : [];
  const flagged = flags.map((flag, i) => (flag === true ? i : -1)).filter((i) => i >= 0);
  if (flagged.length > 0 && flagged.length >= urls.length) {
    throw new ContentModeratedError(`${provider.label}'s safety checker flagged every image (they come back blacked out). Try another prompt or seed.`, provider.id);
  }
  const notes = flagged.map((i) => `image ${i + 1} was flagged by ${provider.label}'s safety checker and is blacked out`);
  return { urls, seed: asSeed(result.seed), notes };
}

/** The fal provider (queue API). */
export class FalProvider extends HostedProvider<FalPlan> {
  protected plan(request: ValidRequest, model: string, adjust: Adjustments): FalPlan {
    return falShapedBody(request, model, { width: request.width, height: request.height }, adjust);
  }

  protected async run(call: RemoteCall, plan: FalPlan): Promise<ProviderOutput> {
    call.progress('submitting');
    const submitted = await call.json('POST', `${this.settings.baseUrl}/${plan.model}`, 'submit', plan.body);
    const queued = asRecord(submitted.data) ?? {};
    const statusUrl = this.requireUrl(queued.status_url, 'status_url', 'the URL to poll for the status');
    const responseUrl = this.requireUrl(queued.response_url, 'response_url', 'the URL of the result');
    const cancelUrl = typeof queued.cancel_url === 'string' ? this.requireUrl(queued.cancel_url, 'cancel_url', 'the URL to cancel the request') : undefined;
    try {
      for (;;) {
        await call.sleep(this.settings.pollIntervalMs);
        const polled = asRecord((await call.json('GET', statusUrl, 'poll')).data) ?? {};
        const status = this.requireString(polled.status, 'status', 'the request status');
        if (status === 'IN_QUEUE') {
          call.progress('queued', { detail: status, ...(typeof polled.queue_position === 'number' ? { queuePosition: polled.queue_position } : {}) });
        } else if (status === 'IN_PROGRESS') {
          call.progress('processing', { detail: status });
        } else if (status === 'COMPLETED') {
          const error = polled.error;
          if (error !== undefined && error !== null) {
            const text = typeof error === 'string' ? error : JSON.stringify(error);
            if (MODERATION.test(text) || MODERATION.test(String(polled.error_type ?? ''))) {
              throw new ContentModeratedError(`${this.label} refused on moderation grounds (${text.slice(0, 200)}). Try another prompt.`, this.id);
            }
            throw new ProviderTaskFailedError(`${this.label} could not generate the image (${text.slice(0, 200)}). Try again, or change the prompt or the parameters.`, this.id);
          }
          break;
        } else {
          throw this.protocolError('status', `an unknown request status "${status.slice(0, 40)}"`);
        }
      }
    } catch (error) {
      if (call.signal.aborted) call.cancelRemote('PUT', cancelUrl);
      throw error;
    }
    const result = asRecord((await call.json('GET', responseUrl, 'result')).data) ?? {};
    const { urls, seed, notes } = readFalShapedResult(this, result, (v, f, w) => this.requireUrl(v, f, w, true));
    return { images: await this.fetchImages(call, urls), seed, notes };
  }
}
