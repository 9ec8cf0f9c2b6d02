/**
 * A Black Forest Labs–shaped API over any generator, so code written for BFL's API runs
 * unchanged against the local engine: `submit(model, body)` → `{id, polling_url}` at once,
 * `getResult(id)` → `{id, status, result: {sample, seed, prompt}}` with BFL's status values.
 * Each endpoint's body is checked as BFL's API checks it (bfl-endpoints.ts: every invalid
 * field a 422 `detail[]` entry); [pro] bodies run on the local model with a warning, and
 * what has no effect here is reported in `details.warnings`.
 * The sample is an object URL (valid for this page's lifetime, like BFL's signed URL for
 * ten minutes). `polling_url` is informative: poll with `getResult`.
 */
import type { GenerateParams, GenerateResult } from '../api-types.ts';
import { LIMITS } from '../defaults.ts';
import { BflValidationError, ContentModeratedError, InvalidParameterError, RequestModeratedError } from '../errors.ts';
import type { ModelFamily } from '../models/family.ts';
import type { ProgressEvent } from '../progress.ts';
import type { ValidRequest } from '../request.ts';
import { checkBflBody, mapBflBody, type BflEndpoint } from './bfl-endpoints.ts';
import type { SideRule } from './size-request.ts';

/** The local engine's sizes: multiples of 16 from 256 to 1440. */
const WEB_SIDES: SideRule = { min: LIMITS.webSize.min, max: LIMITS.webSize.max, multiple: LIMITS.sizeMultiple };

/** The BFL body field a library field came from (errors name the caller's field). */
function bflField(field: string, body: BflRequestBody): string {
  if ((field === 'width' || field === 'height') && body.aspect_ratio !== undefined) return 'aspect_ratio';
  return ({ outputFormat: 'output_format' } as Record<string, string>)[field] ?? field;
}

/** BFL's task states. */
export type BflStatus = 'Task not found' | 'Pending' | 'Request Moderated' | 'Content Moderated' | 'Ready' | 'Error';

/**
 * The body of a BFL generation request: the union of the endpoints' fields (see
 * bfl-endpoints.ts for which endpoint takes which, with ranges and defaults).
 */
export interface BflRequestBody {
  prompt: string;
  /** 256–1440, a multiple of 32 (default 1024); not for ultra. */
  width?: number;
  /** 256–1440, a multiple of 32 (default 768); not for ultra. */
  height?: number;
  /** Ultra only: one of 21:9, 16:9, 3:2, 4:3, 1:1, 3:4, 2:3, 9:16, 9:21 (default 16:9). */
  aspect_ratio?: string;
  /** flux-schnell 1–12, flux-dev / flux-pro 1–50; default the model's own. */
  steps?: number;
  seed?: number;
  /** Default jpeg, as BFL. */
  output_format?: 'jpeg' | 'png';
  /** flux-dev / flux-pro: 1.5–5 (default 3.5). */
  guidance?: number;
  /** 0–6; accepted, not applied locally. */
  safety_tolerance?: number;
  /** Accepted, not applied locally. */
  prompt_upsampling?: boolean;
  /** Ultra: accepted, ignored locally with a warning. */
  raw?: boolean;
  /** flux-pro: 1–4; accepted, not applied locally. */
  interval?: number;
  /** null only (no image prompts here). */
  image_prompt?: string | null;
  image_prompt_strength?: number;
  webhook_url?: string;
  webhook_secret?: string;
}

/** What `getResult` returns, as BFL's `get_result`. */
export interface BflResult {
  id: string;
  status: BflStatus;
  result: { sample: string; seed: number; prompt: string; start_time: number; end_time: number; duration: number } | null;
  /** 0–1 while the engine reports steps, 1 when ready, else null. */
  progress: number | null;
  /** `warnings`: what was accepted but not applied, or mapped (e.g. a [pro] body run on the local model); `error`/`name` when it failed. */
  details?: Record<string, unknown> | null;
}

/** The facade. */
export interface BflFacade {
  /**
   * Submits a generation as BFL's `POST /v1/{model}`.
   * @param model 'flux-schnell', 'flux-dev', 'flux-pro', 'flux-pro-1.1' or 'flux-pro-1.1-ultra'
   * @throws BflValidationError (status 422, `body.detail[]` with one entry per invalid field)
   */
  submit(model: string, body: BflRequestBody): Promise<{ id: string; polling_url: string; warnings: string[] }>;
  getResult(id: string): Promise<BflResult>;
}

interface Task {
  status: BflStatus;
  prompt: string;
  started: number;
  progress: number | null;
  warnings: string[];
  result?: GenerateResult;
  sample?: string;
  error?: unknown;
}

/** What the facades need from a generator: its `generate` (so routing applies) and its parameter check. */
export interface FacadeTarget {
  generate(params: GenerateParams | ValidRequest): Promise<GenerateResult>;
  /** The checked request; throws InvalidParameterError naming the field, without generating. */
  validate(params: GenerateParams): ValidRequest;
  /**
   * The family of the local model when the next request runs on this device ([dev]
   * takes a guidance, [schnell] does not), undefined when a hosted provider runs it.
   */
  localFamily?(): Promise<ModelFamily | undefined>;
  /** Sizes the engine takes (default the web range, multiples of 16 from 256 to 1440). */
  sideRule?: SideRule;
}

/** Creates the BFL-shaped facade over a generator; its InvalidParameterErrors become BFL 422 details. */
export function createBflFacade(target: FacadeTarget): BflFacade {
  const tasks = new Map<string, Task>();
  return {
    async submit(model, body) {
      const detail = checkBflBody(model, body);
      if (detail.length) throw new BflValidationError(detail);
      const local = await target.localFamily?.().catch(() => undefined); // a device that cannot run fails the generation itself, as before
      const mapped = mapBflBody(model as BflEndpoint, body as unknown as Record<string, unknown>, local, target.sideRule ?? WEB_SIDES);
      const id = crypto.randomUUID();
      const task: Task = { status: 'Pending', prompt: mapped.prompt, started: Date.now(), progress: null, warnings: mapped.warnings };
      const params: GenerateParams = {
        prompt: mapped.prompt,
        width: mapped.width,
        height: mapped.height,
        ...(mapped.steps === undefined ? {} : { steps: mapped.steps }),
        ...(mapped.seed === undefined ? {} : { seed: mapped.seed }),
        outputFormat: mapped.outputFormat,
        ...(mapped.guidance === undefined ? {} : { guidance: mapped.guidance }),
      };
      // Parameters the engine rejects (e.g. steps beyond schnell's range) are a 422, as BFL does,
      // located at the body field the caller used.
      let request: ValidRequest;
      try {
        request = target.validate(params);
      } catch (error) {
        if (error instanceof InvalidParameterError) throw new BflValidationError([{ loc: ['body', bflField(error.field, body)], msg: `Input should be ${error.allowed}`, type: 'value_error' }]);
        throw error;
      }
      tasks.set(id, task);
      const onProgress = (event: ProgressEvent) => {
        if (event.stage === 'denoise') task.progress = ((event.image - 1) * event.steps + event.step) / (event.images * event.steps);
      };
      target.generate({ ...request, onProgress }).then(
        (result) => {
          task.result = result;
          task.sample = URL.createObjectURL(result.images[0]);
          task.warnings.push(...result.warnings);
          task.status = 'Ready';
        },
        (error) => {
          task.error = error;
          task.status = error instanceof RequestModeratedError ? 'Request Moderated' : error instanceof ContentModeratedError ? 'Content Moderated' : 'Error';
        },
      );
      return { id, polling_url: `flux-webgpu://get_result?id=${id}`, warnings: [...mapped.warnings] };
    },

    async getResult(id) {
      const task = tasks.get(id);
      if (!task) return { id, status: 'Task not found', result: null, progress: null };
      const ready = task.status === 'Ready' && task.result;
      return {
        id,
        status: task.status,
        result: ready
          ? {
              sample: task.sample!,
              seed: task.result!.seed,
              prompt: task.prompt,
              start_time: task.started / 1000,
              end_time: (task.started + task.result!.timings.totalMs) / 1000,
              duration: task.result!.timings.totalMs / 1000,
            }
          : null,
        progress: ready ? 1 : task.status === 'Pending' ? task.progress : null,
        details: task.error
          ? { error: (task.error as Error).message, name: (task.error as Error).name, warnings: task.warnings }
          : task.warnings.length
            ? { warnings: task.warnings }
            : null,
      };
    },
  };
}
