/**
 * A Black Forest Labs–shaped API over any generator, so code written for BFL's API runs
 * unchanged against the local engine: `submit(model, body)` → `{id, polling_url}` at once,
 * `getResult(id)` → `{id, status, result: {sample, seed, prompt}}` with BFL's status values.
 * The sample is an object URL (valid for this page's lifetime, like BFL's signed URL for
 * ten minutes). `polling_url` is informative: poll with `getResult`.
 */
import type { GenerateParams, GenerateResult } from '../api-types.ts';
import { FACADE_DEFAULTS, LIMITS } from '../defaults.ts';
import { BflValidationError, ContentModeratedError, InvalidParameterError, RequestModeratedError, type BflValidationDetail } from '../errors.ts';
import type { ValidRequest } from '../request.ts';

/** BFL's task states. */
export type BflStatus = 'Task not found' | 'Pending' | 'Request Moderated' | 'Content Moderated' | 'Ready' | 'Error';

/** The body of a BFL generation request (the fields this facade reads; others are accepted and ignored). */
export interface BflRequestBody {
  prompt: string;
  width?: number;
  height?: number;
  /** Ultra models: "W:H" instead of width/height. */
  aspect_ratio?: string;
  steps?: number;
  seed?: number;
  output_format?: 'jpeg' | 'png';
  guidance?: number;
  safety_tolerance?: number;
  prompt_upsampling?: boolean;
  raw?: boolean;
}

/** What `getResult` returns, as BFL's `get_result`. */
export interface BflResult {
  id: string;
  status: BflStatus;
  result: { sample: string; seed: number; prompt: string; start_time: number; end_time: number; duration: number } | null;
  progress: number | null;
  details?: Record<string, unknown> | null;
}

/** The facade. */
export interface BflFacade {
  submit(model: string, body: BflRequestBody): Promise<{ id: string; polling_url: string }>;
  getResult(id: string): Promise<BflResult>;
}

const BFL_SIZE = { min: 256, max: 1440, multiple: 32 };
/** BFL's aspect ratios run from 21:9 to 9:21. */
const BFL_ASPECT = { min: 9 / 21, max: 21 / 9 };

function checkBody(model: string, body: BflRequestBody): BflValidationDetail[] {
  const detail: BflValidationDetail[] = [];
  const at = (field: string, msg: string, type: string) => detail.push({ loc: ['body', field], msg, type });
  if (typeof model !== 'string' || !/^flux/.test(model)) at('model', 'Input should be a FLUX model endpoint such as flux-dev or flux-pro-1.1', 'enum');
  if (!body || typeof body !== 'object') {
    at('body', 'Input should be a valid dictionary', 'dict_type');
    return detail;
  }
  if (body.prompt === undefined || body.prompt === null) at('prompt', 'Field required', 'missing');
  else if (typeof body.prompt !== 'string') at('prompt', 'Input should be a valid string', 'string_type');
  else if (body.prompt.length > LIMITS.prompt.maxChars) at('prompt', `String should have at most ${LIMITS.prompt.maxChars} characters`, 'string_too_long');
  for (const field of ['width', 'height'] as const) {
    const v = body[field];
    if (v === undefined) continue;
    if (!Number.isInteger(v)) at(field, 'Input should be a valid integer', 'int_type');
    else if (v < BFL_SIZE.min) at(field, `Input should be greater than or equal to ${BFL_SIZE.min}`, 'greater_than_equal');
    else if (v > BFL_SIZE.max) at(field, `Input should be less than or equal to ${BFL_SIZE.max}`, 'less_than_equal');
    else if (v % BFL_SIZE.multiple !== 0) at(field, `Input should be a multiple of ${BFL_SIZE.multiple}`, 'multiple_of');
  }
  if (body.aspect_ratio !== undefined) {
    const ratio = typeof body.aspect_ratio === 'string' ? /^(\d+):(\d+)$/.exec(body.aspect_ratio) : null;
    if (typeof body.aspect_ratio !== 'string') at('aspect_ratio', 'Input should be a valid string', 'string_type');
    else if (!ratio || Number(ratio[1]) === 0 || Number(ratio[2]) === 0) at('aspect_ratio', 'Input should match "W:H" with positive W and H, e.g. "16:9"', 'string_pattern_mismatch');
    else if (Number(ratio[1]) / Number(ratio[2]) < BFL_ASPECT.min - 1e-9 || Number(ratio[1]) / Number(ratio[2]) > BFL_ASPECT.max + 1e-9) at('aspect_ratio', 'Input should be an aspect ratio from 21:9 to 9:21', 'value_error');
  }
  if (body.seed !== undefined && (!Number.isInteger(body.seed) || body.seed < LIMITS.seed.min || body.seed > LIMITS.seed.max)) {
    at('seed', `Input should be an integer from ${LIMITS.seed.min} to ${LIMITS.seed.max}`, 'int_type');
  }
  if (body.steps !== undefined && !Number.isInteger(body.steps)) at('steps', 'Input should be a valid integer', 'int_type');
  if (body.output_format !== undefined && body.output_format !== 'jpeg' && body.output_format !== 'png') at('output_format', "Input should be 'jpeg' or 'png'", 'enum');
  // Accepted for compatibility and not used by this engine, but still of BFL's types.
  if (body.guidance !== undefined && !(typeof body.guidance === 'number' && Number.isFinite(body.guidance))) at('guidance', 'Input should be a valid number', 'float_type');
  if (body.safety_tolerance !== undefined && !(Number.isInteger(body.safety_tolerance) && body.safety_tolerance >= 0 && body.safety_tolerance <= 6)) at('safety_tolerance', 'Input should be an integer from 0 to 6', 'int_type');
  for (const flag of ['prompt_upsampling', 'raw'] as const) if (body[flag] !== undefined && typeof body[flag] !== 'boolean') at(flag, 'Input should be a valid boolean', 'bool_type');
  return detail;
}

/** Width and height near one megapixel for a "W:H" ratio, multiples of 16 within the web range. */
function sizeForAspect(ratio: string): { width: number; height: number } {
  const [w, h] = ratio.split(':').map(Number);
  const scale = Math.sqrt((1024 * 1024) / (w * h));
  const side = (v: number) => Math.min(LIMITS.webSize.max, Math.max(LIMITS.webSize.min, Math.round((v * scale) / 16) * 16));
  return { width: side(w), height: side(h) };
}

interface Task {
  status: BflStatus;
  prompt: string;
  started: number;
  result?: GenerateResult;
  sample?: string;
  error?: unknown;
}

/** What the facades need from a generator: its `generate` (so routing applies) and its parameter check. */
export interface FacadeTarget {
  generate(params: GenerateParams | ValidRequest): Promise<GenerateResult>;
  /** The checked request; throws InvalidParameterError naming the field, without generating. */
  validate(params: GenerateParams): ValidRequest;
}

/** The BFL body field a library field came from. */
function bflField(field: string, body: BflRequestBody): string {
  if ((field === 'width' || field === 'height') && body.aspect_ratio !== undefined) return 'aspect_ratio';
  return ({ outputFormat: 'output_format', params: 'body' } as Record<string, string>)[field] ?? field;
}

/** Creates the BFL-shaped facade over a generator; its InvalidParameterErrors become BFL 422 details. */
export function createBflFacade(target: FacadeTarget): BflFacade {
  const tasks = new Map<string, Task>();
  return {
    async submit(model, body) {
      const detail = checkBody(model, body);
      if (detail.length) throw new BflValidationError(detail);
      const id = crypto.randomUUID();
      // BFL's own defaults (1024×768, jpeg), from defaults.ts.
      const { bfl } = FACADE_DEFAULTS;
      const size = body.aspect_ratio ? sizeForAspect(body.aspect_ratio) : { width: body.width ?? bfl.width, height: body.height ?? bfl.height };
      const params: GenerateParams = { prompt: body.prompt, ...size, steps: body.steps, seed: body.seed, outputFormat: body.output_format ?? bfl.outputFormat };
      // Parameters the engine rejects (e.g. steps beyond schnell's range) are a 422, as BFL does,
      // located at the body field the caller used.
      let request: ValidRequest;
      try {
        request = target.validate(params);
      } catch (error) {
        if (error instanceof InvalidParameterError) throw new BflValidationError([{ loc: ['body', bflField(error.field, body)], msg: `Input should be ${error.allowed}`, type: 'value_error' }]);
        throw error;
      }
      const task: Task = { status: 'Pending', prompt: body.prompt, started: Date.now() };
      tasks.set(id, task);
      target.generate(request).then(
        (result) => {
          task.result = result;
          task.sample = URL.createObjectURL(result.images[0]);
          task.status = 'Ready';
        },
        (error) => {
          task.error = error;
          task.status = error instanceof RequestModeratedError ? 'Request Moderated' : error instanceof ContentModeratedError ? 'Content Moderated' : 'Error';
        },
      );
      return { id, polling_url: `flux-webgpu://get_result?id=${id}` };
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
        progress: ready ? 1 : null,
        details: task.error ? { error: (task.error as Error).message, name: (task.error as Error).name } : null,
      };
    },
  };
}
