/**
 * Black Forest Labs (api.bfl.ai): `POST {base}/v1/{model}` with header `x-key` answers
 * `{id, polling_url}`; poll `polling_url` exactly as given (its host varies by region)
 * until `Ready`, then fetch `result.sample` at once (a signed URL valid for minutes).
 * One image per task: several images are several tasks, run side by side, image i with
 * seed + i.
 */
import { ContentModeratedError, ProviderTaskFailedError, ProviderTaskNotFoundError, RequestModeratedError } from '../errors.ts';
import { asRecord, asSeed, HostedProvider, type ProviderOutput, type ProviderPlan } from './hosted-provider.ts';
import type { ValidRequest } from '../request.ts';
import type { FetchedImage, RemoteCall } from './remote-call.ts';
import { imageSeed } from '../request.ts';
import { Adjustments, aspectRatioText, fitSides, requestedSeed, requestedSteps, sizeText } from './request-mapping.ts';

/** BFL's width/height rule for the models that take a size. */
export const BFL_SIZE = { multiple: 32, min: 256, max: 1440 };

/** Models that take `aspect_ratio` (21:9 to 9:21) instead of width/height. */
export function bflTakesAspectRatio(model: string): boolean {
  return /ultra|kontext/.test(model);
}

/** FLUX1.1 [pro] Ultra's aspect ratios, as BFL lists them. */
export const BFL_ULTRA_RATIOS = ['21:9', '16:9', '3:2', '4:3', '1:1', '3:4', '2:3', '9:16', '9:21'] as const;

/** The listed ultra ratio nearest to a size's (on a log scale). */
export function nearestListedRatio(size: { width: number; height: number }): string {
  const wanted = Math.log(size.width / size.height);
  const distance = (ratio: string) => {
    const [w, h] = ratio.split(':').map(Number);
    return Math.abs(Math.log(w / h) - wanted);
  };
  return BFL_ULTRA_RATIOS.reduce((best, ratio) => (distance(ratio) < distance(best) ? ratio : best));
}

/** Models that take `steps` (1–50). */
export function bflTakesSteps(model: string): boolean {
  return model === 'flux-dev' || model === 'flux-pro';
}

/** Models that take `guidance` (1.5–5). */
export function bflTakesGuidance(model: string): boolean {
  return model === 'flux-dev' || model === 'flux-pro';
}

interface BflPlan extends ProviderPlan {
  /** One body per image. */
  bodies: Record<string, unknown>[];
}

/** The Black Forest Labs provider. */
export class BflProvider extends HostedProvider<BflPlan> {
  protected plan(request: ValidRequest, model: string, adjust: Adjustments): BflPlan {
    const common: Record<string, unknown> = { prompt: request.prompt };
    let size: BflPlan['size'];
    const asked = { width: request.width, height: request.height };
    if (bflTakesAspectRatio(model)) {
      // Ultra takes its nine listed ratios; the others any ratio from 21:9 to 9:21.
      const aspect = /ultra/.test(model) ? nearestListedRatio(asked) : aspectRatioText(asked, { min: [9, 21], max: [21, 9] });
      adjust.adjust('size', `absent for ${model} (it takes an aspect ratio from 21:9 to 9:21 and picks its own size)`, sizeText(asked), `size ${sizeText(asked)} → aspect_ratio ${aspect} (${model} picks its own size)`);
      common.aspect_ratio = aspect;
    } else {
      size = fitSides(adjust, asked, BFL_SIZE);
      common.width = size.width;
      common.height = size.height;
    }
    const steps = requestedSteps(request);
    if (steps !== undefined) {
      if (bflTakesSteps(model)) common.steps = adjust.clampInteger('steps', steps, 1, 50);
      else adjust.unsupported('steps', steps, `${model} has no steps setting`);
    }
    adjust.guidance(common, request, model, bflTakesGuidance(model) ? 'guidance' : undefined);
    const format = adjust.format(request.outputFormat, ['jpeg', 'png']);
    common.output_format = format;
    const seed = requestedSeed(request);
    const bodies = Array.from({ length: request.numImages }, (_, i) => (seed === undefined ? { ...common } : { ...common, seed: imageSeed(seed, i) }));
    return { model, size, format, seed, bodies };
  }

  protected requestBodies(plan: BflPlan): Record<string, unknown>[] {
    return plan.bodies;
  }

  protected async run(call: RemoteCall, plan: BflPlan): Promise<ProviderOutput> {
    const count = plan.bodies.length;
    const tasks = plan.bodies.map((body, i) =>
      this.runTask(call, plan.model, body, i, count).catch((error: unknown) => {
        call.abortInternally(); // one failed: stop the others
        throw error;
      }),
    );
    const results = await Promise.all(tasks);
    return { images: results.map((r) => r.image), seed: results[0].seed };
  }

  private async runTask(call: RemoteCall, model: string, body: Record<string, unknown>, index: number, count: number): Promise<{ image: FetchedImage; seed?: number }> {
    const where = count > 1 ? { image: index, images: count } : {};
    call.progress('submitting', where);
    const submitted = await call.json('POST', `${this.settings.baseUrl}/v1/${model}`, 'submit', body);
    const task = asRecord(submitted.data) ?? {};
    const pollingUrl = this.requireUrl(task.polling_url, 'polling_url', 'the URL to poll for the result');
    for (;;) {
      await call.sleep(this.settings.pollIntervalMs);
      const polled = await call.json('GET', pollingUrl, 'poll');
      const answer = asRecord(polled.data) ?? {};
      const status = this.requireString(answer.status, 'status', 'the task status');
      const details = describeDetails(answer.details);
      switch (status) {
        case 'Ready': {
          const result = asRecord(answer.result);
          const sample = this.requireUrl(result?.sample, 'result.sample', 'the URL of the image', true);
          const image = await call.image(sample, index, count);
          return { image, seed: asSeed(result?.seed) ?? asSeed(body.seed) };
        }
        case 'Pending':
        case 'Processing':
          call.progress('processing', { ...where, detail: status, ...(typeof answer.progress === 'number' ? { progress: answer.progress } : {}) });
          break;
        case 'Content Moderated':
          throw new ContentModeratedError(`${this.label} withheld the image: its moderation flagged the content${details}. Try another prompt or seed.`, this.id);
        case 'Request Moderated':
          throw new RequestModeratedError(`${this.label} refused the prompt on moderation grounds${details}. Rephrase the prompt.`, this.id);
        case 'Task not found':
          throw new ProviderTaskNotFoundError(`${this.label} no longer knows this task ("Task not found"): it expired or was never created. Generate again.`, this.id);
        case 'Error':
          throw new ProviderTaskFailedError(`${this.label} could not generate the image (task status "Error"${details ? `:${details.slice(1)}` : ''}). Try again; if it keeps failing, change the prompt or the parameters.`, this.id);
        default:
          throw this.protocolError('status', `an unknown task status "${status.slice(0, 40)}"`);
      }
    }
  }
}

function describeDetails(details: unknown): string {
  if (details === undefined || details === null) return '';
  const text = typeof details === 'string' ? details : JSON.stringify(details);
  return text && text !== '{}' ? ` (${text.length > 200 ? `${text.slice(0, 200)}…` : text})` : '';
}
