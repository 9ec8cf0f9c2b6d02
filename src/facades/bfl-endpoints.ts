/**
 * The request bodies of BFL's FLUX endpoints, as BFL's API documents them, checked field
 * by field (every invalid field gets its own 422 `detail[]` entry) and mapped to a
 * generation request for whatever engine runs it:
 *
 * | endpoint | size | steps | guidance | other fields |
 * |---|---|---|---|---|
 * | `flux-schnell` | width/height 256–1440, ×32 (1024×768) | 1–12 (4) | — | |
 * | `flux-dev` | width/height | 1–50 (28) | 1.5–5 (3.5) | |
 * | `flux-pro` | width/height | 1–50 | 1.5–5 | interval 1–4 |
 * | `flux-pro-1.1` | width/height | — | — | |
 * | `flux-pro-1.1-ultra` | aspect_ratio, one of nine (16:9) | — | — | raw |
 *
 * and on every one: prompt, seed, output_format jpeg|png (jpeg), safety_tolerance 0–6 (2),
 * prompt_upsampling, image_prompt (null only: no image prompts here), webhook_url,
 * webhook_secret. Fields that have no effect locally (safety_tolerance,
 * prompt_upsampling, raw, interval, webhooks, and the [pro] models themselves) are
 * accepted and reported in the task's warnings; fields of other endpoints are refused as
 * `extra_forbidden`, so a typo never passes silently.
 */
import { FACADE_DEFAULTS, LIMITS } from '../defaults.ts';
import type { BflValidationDetail } from '../errors.ts';
import type { ModelFamily } from '../models/family.ts';
import { BFL_ULTRA_RATIOS as BFL_ULTRA_ASPECT_RATIOS } from '../providers/bfl.ts';
import { parseAspectRatio, sidesFor } from './size-request.ts';

/** The endpoints this facade accepts. */
export const BFL_ENDPOINTS = ['flux-schnell', 'flux-dev', 'flux-pro', 'flux-pro-1.1', 'flux-pro-1.1-ultra'] as const;
export type BflEndpoint = (typeof BFL_ENDPOINTS)[number];

/** FLUX1.1 [pro] Ultra's aspect ratios. */
export { BFL_ULTRA_RATIOS as BFL_ULTRA_ASPECT_RATIOS } from '../providers/bfl.ts';

/** BFL's size rule for width/height endpoints (its default size: FACADE_DEFAULTS.bfl). */
export const BFL_SIZE = { min: 256, max: 1440, multiple: 32 };

/** Every field any endpoint takes, with where it is allowed. */
const COMMON = ['prompt', 'seed', 'output_format', 'safety_tolerance', 'prompt_upsampling', 'image_prompt', 'webhook_url', 'webhook_secret'];
const FIELDS: Record<BflEndpoint, readonly string[]> = {
  'flux-schnell': [...COMMON, 'width', 'height', 'steps'],
  'flux-dev': [...COMMON, 'width', 'height', 'steps', 'guidance'],
  'flux-pro': [...COMMON, 'width', 'height', 'steps', 'guidance', 'interval'],
  'flux-pro-1.1': [...COMMON, 'width', 'height'],
  'flux-pro-1.1-ultra': [...COMMON, 'aspect_ratio', 'raw', 'image_prompt_strength'],
};

/** Steps per endpoint: range and BFL's default. */
const STEPS: Partial<Record<BflEndpoint, { min: number; max: number }>> = {
  'flux-schnell': { min: 1, max: 12 },
  'flux-dev': { min: 1, max: 50 },
  'flux-pro': { min: 1, max: 50 },
};

/** What a valid body maps to. */
export interface MappedBflBody {
  prompt: string;
  width: number;
  height: number;
  /** Given in the body, else undefined (the engine's model default applies). */
  steps?: number;
  /** Given in the body (flux-dev, flux-pro), else undefined. */
  guidance?: number;
  seed?: number;
  outputFormat: 'jpeg' | 'png';
  /** Sentences about what is not applied or was mapped. */
  warnings: string[];
}

type Body = Record<string, unknown>;

/**
 * Checks a body against an endpoint's schema.
 * @returns BFL 422 details, one per invalid field (empty when valid)
 */
export function checkBflBody(endpoint: string, body: unknown): BflValidationDetail[] {
  const detail: BflValidationDetail[] = [];
  const at = (field: string, msg: string, type: string) => detail.push({ loc: ['body', field], msg, type });
  if (!(BFL_ENDPOINTS as readonly string[]).includes(endpoint)) {
    detail.push({ loc: ['path', 'model'], msg: `Input should be one of ${BFL_ENDPOINTS.map((e) => `'${e}'`).join(', ')}`, type: 'enum' });
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    at('body', 'Input should be a valid dictionary', 'dict_type');
    return detail;
  }
  const b = body as Body;
  const fields = FIELDS[endpoint as BflEndpoint] ?? FIELDS['flux-dev'];
  for (const key of Object.keys(b)) if (!fields.includes(key) && b[key] !== undefined) at(key, `Extra inputs are not permitted (${endpoint} takes ${fields.join(', ')})`, 'extra_forbidden');
  const prompt = b.prompt;

  // BFL documents these as nullable (null = absent); every other field must have its type when present.
  const nullable = new Set(['prompt', 'seed', 'output_format', 'image_prompt', 'webhook_url', 'webhook_secret']);
  const absent = (field: string) => b[field] === undefined || (b[field] === null && nullable.has(field));
  const integer = (field: string, min: number, max: number, multiple = 1) => {
    const v = b[field];
    if (absent(field)) return;
    if (typeof v !== 'number' || !Number.isInteger(v)) at(field, 'Input should be a valid integer', 'int_type');
    else if (v < min) at(field, `Input should be greater than or equal to ${min}`, 'greater_than_equal');
    else if (v > max) at(field, `Input should be less than or equal to ${max}`, 'less_than_equal');
    else if (v % multiple !== 0) at(field, `Input should be a multiple of ${multiple}`, 'multiple_of');
  };
  const number = (field: string, min: number, max: number) => {
    const v = b[field];
    if (absent(field)) return;
    if (typeof v !== 'number' || !Number.isFinite(v)) at(field, 'Input should be a valid number', 'float_type');
    else if (v < min) at(field, `Input should be greater than or equal to ${min}`, 'greater_than_equal');
    else if (v > max) at(field, `Input should be less than or equal to ${max}`, 'less_than_equal');
  };
  const boolean = (field: string) => {
    if (!absent(field) && typeof b[field] !== 'boolean') at(field, 'Input should be a valid boolean', 'bool_type');
  };
  const string = (field: string) => {
    if (!absent(field) && typeof b[field] !== 'string') at(field, 'Input should be a valid string', 'string_type');
  };

  if (prompt === undefined || prompt === null) at('prompt', 'Field required', 'missing');
  else if (typeof b.prompt !== 'string') at('prompt', 'Input should be a valid string', 'string_type');
  else if (b.prompt.trim() === '') at('prompt', 'String should have at least 1 character', 'string_too_short');
  else if (b.prompt.length > LIMITS.prompt.maxChars) at('prompt', `String should have at most ${LIMITS.prompt.maxChars} characters`, 'string_too_long');
  integer('seed', LIMITS.seed.min, LIMITS.seed.max);
  if (b.output_format !== undefined && b.output_format !== null && b.output_format !== 'jpeg' && b.output_format !== 'png') at('output_format', "Input should be 'jpeg' or 'png'", 'enum');
  integer('safety_tolerance', 0, 6);
  boolean('prompt_upsampling');
  if (b.image_prompt !== undefined && b.image_prompt !== null) {
    if (typeof b.image_prompt !== 'string') at('image_prompt', 'Input should be a valid string', 'string_type');
    else at('image_prompt', 'Image prompts are not supported by this engine; send null or leave it out', 'value_error');
  }
  string('webhook_url');
  string('webhook_secret');
  if (fields.includes('width')) {
    integer('width', BFL_SIZE.min, BFL_SIZE.max, BFL_SIZE.multiple);
    integer('height', BFL_SIZE.min, BFL_SIZE.max, BFL_SIZE.multiple);
  }
  const steps = STEPS[endpoint as BflEndpoint];
  if (steps) integer('steps', steps.min, steps.max);
  if (fields.includes('guidance')) number('guidance', LIMITS.guidance.min, LIMITS.guidance.max);
  if (fields.includes('interval')) number('interval', 1, 4);
  if (fields.includes('aspect_ratio') && b.aspect_ratio !== undefined) {
    if (typeof b.aspect_ratio !== 'string') at('aspect_ratio', 'Input should be a valid string', 'string_type');
    else if (!(BFL_ULTRA_ASPECT_RATIOS as readonly string[]).includes(b.aspect_ratio)) at('aspect_ratio', `Input should be one of ${BFL_ULTRA_ASPECT_RATIOS.map((r) => `'${r}'`).join(', ')}`, 'enum');
  }
  if (fields.includes('raw')) boolean('raw');
  if (fields.includes('image_prompt_strength')) number('image_prompt_strength', 0, 1);
  return detail;
}

/**
 * Maps a valid body (see `checkBflBody`) to a generation request.
 * @param local the family of the local model when the request runs on this device
 *   (decides whether a guidance applies), undefined when a hosted provider runs it
 * @param sideRule the sizes the engine takes (for ultra's aspect ratios: about 1 MP)
 */
export function mapBflBody(endpoint: BflEndpoint, body: Body, local: ModelFamily | undefined, sideRule: { min: number; max: number; multiple: number }): MappedBflBody {
  const warnings: string[] = [];
  const given = (field: string) => body[field] !== undefined && body[field] !== null;
  const where = local ? 'locally' : 'by this provider';
  if (local && (endpoint === 'flux-pro' || endpoint === 'flux-pro-1.1' || endpoint === 'flux-pro-1.1-ultra')) {
    warnings.push(`${endpoint} is BFL's hosted model; this request ran on the local model (FLUX.1 [${local}]) instead`);
  }
  if (local === 'schnell' && endpoint === 'flux-dev') warnings.push('flux-dev requested; the local model is FLUX.1 [schnell]');

  let width: number;
  let height: number;
  if (endpoint === 'flux-pro-1.1-ultra') {
    const ratio = parseAspectRatio((body.aspect_ratio as string | undefined) ?? '16:9')!;
    ({ width, height } = sidesFor(ratio[0] / ratio[1], 1024 * 1024, sideRule));
    warnings.push(`aspect_ratio ${(body.aspect_ratio as string | undefined) ?? '16:9'} made ${width}x${height} (about 1 MP; BFL's ultra makes about 4 MP)`);
  } else {
    width = (body.width as number | undefined) ?? FACADE_DEFAULTS.bfl.width;
    height = (body.height as number | undefined) ?? FACADE_DEFAULTS.bfl.height;
  }

  let guidance = given('guidance') ? (body.guidance as number) : undefined;
  if (guidance !== undefined && local === 'schnell') {
    warnings.push(`guidance ${guidance} not applied: the local model FLUX.1 [schnell] is not guidance-distilled`);
    guidance = undefined;
  }
  const steps = given('steps') ? (body.steps as number) : undefined;
  for (const [field, why] of [
    ['safety_tolerance', 'no moderation runs on this device'],
    ['prompt_upsampling', 'the prompt is used as written'],
    ['raw', 'raw mode is a BFL ultra feature'],
    ['interval', 'interval is a FLUX.1 [pro] feature'],
    ['webhook_url', 'no webhooks: poll getResult'],
    ['webhook_secret', 'no webhooks: poll getResult'],
    ['image_prompt_strength', 'no image prompts here'],
  ] as const) {
    if (given(field) && (local || field === 'webhook_url' || field === 'webhook_secret')) warnings.push(`${field} ${JSON.stringify(body[field])} accepted but not applied ${where}: ${why}`);
  }
  return {
    prompt: body.prompt as string,
    width,
    height,
    steps,
    guidance,
    seed: given('seed') ? (body.seed as number) : undefined,
    outputFormat: (body.output_format as 'jpeg' | 'png' | undefined) ?? FACADE_DEFAULTS.bfl.outputFormat,
    warnings,
  };
}
