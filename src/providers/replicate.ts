/**
 * Replicate: `POST {base}/v1/models/{owner}/{name}/predictions` with a bearer key and
 * `Prefer: wait` (held up to 60 s); a prediction not finished by then is polled at
 * `urls.get` until succeeded / failed / canceled. flux-schnell takes `aspect_ratio`
 * (11 ratios) and `megapixels` ("1" or "0.25") rather than a size, 1–4 steps and
 * webp|jpg|png. Replicate sends no CORS headers: in a browser it works only through a
 * `baseUrl` proxy, and without one it is refused before anything is sent.
 */
import { ContentModeratedError, ProviderCorsError, ProviderTaskFailedError } from '../errors.ts';
import { asRecord, asSeed, HostedProvider, type ProviderOutput, type ProviderPlan } from './hosted-provider.ts';
import type { ValidRequest } from '../request.ts';
import { isBrowserContext, MODERATION, type RemoteCall } from './remote-call.ts';
import { Adjustments, pickSize, requestedSeed, requestedSteps, type Size } from './request-mapping.ts';

/** Pixel sizes of Replicate's FLUX aspect ratios at megapixels "1" (cog-flux); "0.25" halves each side. */
export const REPLICATE_ASPECT_RATIOS: Record<string, Size> = {
  '1:1': { width: 1024, height: 1024 },
  '16:9': { width: 1344, height: 768 },
  '21:9': { width: 1536, height: 640 },
  '3:2': { width: 1216, height: 832 },
  '2:3': { width: 832, height: 1216 },
  '4:5': { width: 896, height: 1088 },
  '5:4': { width: 1088, height: 896 },
  '3:4': { width: 896, height: 1152 },
  '4:3': { width: 1152, height: 896 },
  '9:16': { width: 768, height: 1344 },
  '9:21': { width: 640, height: 1536 },
};

/** Every size Replicate's FLUX models can make, with the inputs that make it. */
export const REPLICATE_SIZES: { size: Size; aspectRatio: string; megapixels: '1' | '0.25' }[] = Object.entries(REPLICATE_ASPECT_RATIOS).flatMap(([aspectRatio, size]) => [
  { size, aspectRatio, megapixels: '1' as const },
  { size: { width: size.width / 2, height: size.height / 2 }, aspectRatio, megapixels: '0.25' as const },
]);

interface ReplicatePlan extends ProviderPlan {
  body: { input: Record<string, unknown> };
}

const TERMINAL = new Set(['succeeded', 'failed', 'canceled', 'aborted']);

/** The Replicate provider. */
export class ReplicateProvider extends HostedProvider<ReplicatePlan> {
  protected preflight(): void {
    if (isBrowserContext() && !this.settings.customBaseUrl) {
      throw new ProviderCorsError(
        `${this.label} cannot be called from a web page: it sends no CORS headers, so the browser blocks every answer. Set baseUrl to a proxy on your own server that forwards to https://api.replicate.com (it can also hold the key).`,
        this.id,
      );
    }
  }

  protected requestBodies(plan: ReplicatePlan): Record<string, unknown>[] {
    return [plan.body.input];
  }

  protected plan(request: ValidRequest, model: string, adjust: Adjustments): ReplicatePlan {
    const why = `${this.label} offers ${Object.keys(REPLICATE_ASPECT_RATIOS).length} aspect ratios at 1 or 0.25 megapixels`;
    const chosenSize = pickSize(adjust, request, REPLICATE_SIZES.map((entry) => entry.size), why);
    const chosen = REPLICATE_SIZES.find((entry) => entry.size === chosenSize)!;
    const input: Record<string, unknown> = {
      prompt: request.prompt,
      aspect_ratio: chosen.aspectRatio,
      megapixels: chosen.megapixels,
      num_outputs: request.numImages,
    };
    const steps = requestedSteps(request);
    const seed = requestedSeed(request);
    if (steps !== undefined) {
      const max = /schnell/.test(model) ? 4 : 50;
      input.num_inference_steps = adjust.clampInteger('steps', steps, 1, max, max === 4 ? 'schnell is distilled for 1–4' : '');
    }
    if (seed !== undefined) input.seed = seed;
    adjust.guidance(input, request, model, /schnell/.test(model) ? undefined : 'guidance');
    const format = adjust.format(request.outputFormat, ['webp', 'jpeg', 'png']);
    input.output_format = format === 'jpeg' ? 'jpg' : format;
    return { model, size: chosen.size, format, seed, body: { input } };
  }

  protected async run(call: RemoteCall, plan: ReplicatePlan): Promise<ProviderOutput> {
    call.progress('submitting');
    const created = await call.json('POST', `${this.settings.baseUrl}/v1/models/${plan.model}/predictions`, 'submit', plan.body, { prefer: 'wait' });
    let prediction = asRecord(created.data) ?? {};
    let status = this.requireString(prediction.status, 'status', 'the prediction status');
    const urls = asRecord(prediction.urls);
    const cancelUrl = typeof urls?.cancel === 'string' ? this.requireUrl(urls.cancel, 'urls.cancel', 'the URL to cancel the prediction') : undefined;
    try {
      while (!TERMINAL.has(status)) {
        const getUrl = this.requireUrl(urls?.get, 'urls.get', 'the URL to poll for the prediction');
        call.progress(status === 'starting' ? 'queued' : 'processing', { detail: status });
        await call.sleep(this.settings.pollIntervalMs);
        prediction = asRecord((await call.json('GET', getUrl, 'poll')).data) ?? {};
        status = this.requireString(prediction.status, 'status', 'the prediction status');
      }
    } catch (error) {
      if (call.signal.aborted) call.cancelRemote('POST', cancelUrl);
      throw error;
    }
    if (status !== 'succeeded') {
      const reason = typeof prediction.error === 'string' ? prediction.error : prediction.error ? JSON.stringify(prediction.error) : '';
      if (MODERATION.test(reason)) throw new ContentModeratedError(`${this.label}'s safety checker withheld the images (${reason.slice(0, 200)}). Try another prompt or seed.`, this.id);
      throw new ProviderTaskFailedError(`${this.label}'s prediction ended "${status}"${reason ? ` (${reason.slice(0, 200)})` : ''}. Try again, or change the prompt or the parameters.`, this.id);
    }
    const output = typeof prediction.output === 'string' ? [prediction.output] : prediction.output;
    if (!Array.isArray(output) || output.length === 0) throw this.protocolError('output', 'the list of image URLs');
    const imageUrls = output.map((item, i) => this.requireUrl(typeof item === 'string' ? item : asRecord(item)?.url, `output[${i}]`, 'the URL of an image', true));
    const logs = typeof prediction.logs === 'string' ? prediction.logs : '';
    const seed = asSeed(/Using seed: (\d+)/.exec(logs)?.[1]);
    return { images: await this.fetchImages(call, imageUrls), seed };
  }
}
