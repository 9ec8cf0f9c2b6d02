/**
 * One generation request, checked once where it enters (`createGenerator`'s `generate`,
 * the widget, the CLI, a hosted provider called on its own): `validateRequest` turns
 * `GenerateParams` into a frozen `ValidRequest` with every default from defaults.ts
 * applied, every range checked and warnings collected. The local engine and the hosted
 * providers take the ValidRequest as it is (`validateRequest` of a ValidRequest returns
 * it unchecked); the worker re-checks what a structured clone could break through this
 * same function. Out-of-range input is an InvalidParameterError naming the field, what
 * is allowed and a `reason`; nothing is silently clamped or ignored.
 */
import type { GenerateParams, OutputFormat, PromptEmbeddings } from './api-types.ts';
import { DEFAULTS, FAMILY_DEFAULTS, LIMITS } from './defaults.ts';
import { InvalidParameterError, type InvalidParameterReason } from './errors.ts';
import { FAMILY_NAMES, type ModelFamily } from './models/family.ts';

/** Image encodings the generator can return. */
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['png', 'jpeg', 'webp'];

/**
 * Which sizes a request may ask for: 'web' (the hosted APIs' 256–1440, the default),
 * 'any' (16–2048, for tiny test packages), 'provider' (a hosted provider called on its
 * own: any positive size and step count, which the provider fits to its own rules, and
 * an absent seed left to the provider).
 */
export type SizeRule = 'web' | 'any' | 'provider';

/** How `validateRequest` checks. */
export interface RequestRules {
  /** Default 'web'. */
  sizes?: SizeRule;
}

/** Fields a hosted provider may leave to its own default when the caller left them out. */
export type UnsetField = 'steps' | 'seed';

/** A request with every field checked and defaulted (frozen). */
export interface ValidRequest {
  /** 1–10000 characters; absent when `promptEmbeddings` is given. */
  readonly prompt?: string;
  readonly promptEmbeddings?: PromptEmbeddings;
  /** Pixels, a multiple of 16 within the rule's range. */
  readonly width: number;
  readonly height: number;
  /** 1–50; when absent (`unset` has 'steps') the model's own default applies (`resolveForFamily`). */
  readonly steps: number;
  /** 1.5–5, for guidance-distilled models (FLUX.1 [dev]); absent: their default 3.5 (a [schnell] package refuses one). */
  readonly guidance?: number;
  /** The first image's seed, 0–4294967295 (drawn when absent). Image i uses seed + i. */
  readonly seed: number;
  /** 1–4. */
  readonly numImages: number;
  readonly outputFormat: OutputFormat;
  /** 0–1, for jpeg and webp. */
  readonly quality?: number;
  /** Attach a preview to every `denoise` progress event (local engine only). */
  readonly preview: boolean;
  /** Fields a hosted provider receives as they are; the local engine ignores them. */
  readonly providerOptions?: Readonly<Record<string, unknown>>;
  /** Hosted providers called on their own: overrides the provider's configured model. */
  readonly model?: string;
  /**
   * Fields the caller left out that a hosted provider leaves to its own default: 'steps'
   * (the local engine runs DEFAULTS.steps); 'seed' only under the 'provider' rule (the
   * library otherwise draws the seed itself, so that it can always report it).
   */
  readonly unset: readonly UnsetField[];
  /** E.g. more steps than schnell is distilled for. */
  readonly warnings: readonly string[];
}

/** The request fields of `GenerateParams` (what a ValidRequest is made of). */
export const REQUEST_FIELDS = ['prompt', 'promptEmbeddings', 'width', 'height', 'steps', 'guidance', 'seed', 'numImages', 'outputFormat', 'quality', 'preview', 'providerOptions'] as const;
/** Per-call fields of `GenerateParams` that are not part of the request. */
const CALL_FIELDS = ['signal', 'onProgress'] as const;

type RequestField = (typeof REQUEST_FIELDS)[number];

/** The request's own fields as a plain, structured-cloneable object (what crosses to the worker). */
export function requestFields(request: ValidRequest): Pick<GenerateParams, RequestField> {
  const out: Record<string, unknown> = {};
  // A field left to its default (`unset`) stays unset, so the engine applies the model's own default.
  for (const field of REQUEST_FIELDS) if (request[field] !== undefined && !(request.unset as readonly string[]).includes(field)) out[field] = request[field];
  return out as Pick<GenerateParams, RequestField>;
}

/** Marks a ValidRequest; spread copies keep it (`{...valid, signal}`), structured clones do not. */
const VALID = Symbol('flux-webgpu.validRequest');
/** Every ValidRequest made here, with the rule it was checked under. */
const validated = new WeakMap<object, SizeRule>();

/**
 * The ValidRequest `value` is (or is a spread copy of, with the request fields unchanged)
 * when it was validated under `sizes`; undefined otherwise.
 */
function validatedOrigin(value: object, sizes: SizeRule): ValidRequest | undefined {
  const origin = (value as { [VALID]?: ValidRequest })[VALID];
  const checkedUnder = origin && validated.get(origin);
  // The 'provider' rule is the loosest: a request valid under any rule is valid for a provider.
  if (!checkedUnder || (checkedUnder !== sizes && sizes !== 'provider')) return undefined;
  const fields = [...REQUEST_FIELDS, 'model', 'unset', 'warnings'] as const;
  return fields.every((field) => (value as Record<string, unknown>)[field] === origin[field]) ? origin : undefined;
}

/** Whether `value` is a ValidRequest made by `validateRequest` under `rules` (or a stricter rule), or a spread copy of one. */
export function isValidRequest(value: unknown, rules: RequestRules = {}): value is ValidRequest {
  return typeof value === 'object' && value !== null && validatedOrigin(value, rules.sizes ?? 'web') !== undefined;
}

/**
 * Checks and defaults a request (see the file comment). A ValidRequest made under the
 * same rules comes back as it is; `signal` and `onProgress` are checked too (they are
 * per call, so not part of the result).
 * @param params `GenerateParams` (or, with `sizes: 'provider'`, a provider request with `model`)
 * @throws InvalidParameterError naming the field, what is allowed, and a reason
 */
export function validateRequest(params: unknown, rules: RequestRules = {}): ValidRequest {
  const sizes = rules.sizes ?? 'web';
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new InvalidParameterError('params', 'an object such as { prompt: "a red fox in the snow" }', params, params === undefined || params === null ? 'missing' : 'wrong-type');
  }
  const input = params as Record<string, unknown>;
  checkCallOptions(input);
  const origin = validatedOrigin(input, sizes);
  if (origin) return origin;

  const known = new Set<string>([...REQUEST_FIELDS, ...CALL_FIELDS, ...(sizes === 'provider' ? ['model'] : [])]);
  for (const key of Object.keys(input)) {
    // A changed copy of a ValidRequest: what it derived is derived again.
    if (key === 'unset' || key === 'warnings') continue;
    if (!known.has(key) && input[key] !== undefined) throw new InvalidParameterError(key, `not a field of a generation request (its fields: ${[...known].join(', ')})`, input[key], 'unknown-field');
  }
  const warnings: string[] = [];
  const unset: UnsetField[] = [];
  // Only an absent field (undefined) takes its default: null is a value, and not an allowed one.
  const given = (field: string, fallback: unknown) => (input[field] === undefined ? fallback : input[field]);
  const sideRange = sizes === 'any' ? LIMITS.cliSize : sizes === 'web' ? LIMITS.webSize : undefined;
  const side = (field: string, fallback: number) => (sideRange ? checkImageSide(field, given(field, fallback), sideRange) : positiveInteger(field, given(field, fallback), 'a positive integer number of pixels'));
  const width = side('width', DEFAULTS.width);
  const height = side('height', DEFAULTS.height);
  if (input.steps === undefined) unset.push('steps');
  const steps = sizes === 'provider' ? positiveInteger('steps', given('steps', DEFAULTS.steps), 'an integer of at least 1') : checkSteps('steps', given('steps', DEFAULTS.steps));
  // More steps than a model is distilled for is worth a warning where the model is known (resolveForFamily).
  const guidance = input.guidance === undefined ? undefined : checkGuidance('guidance', input.guidance);
  const providerOptions = input.providerOptions === undefined ? undefined : plainObject('providerOptions', input.providerOptions);
  if (input.seed === undefined && sizes === 'provider') unset.push('seed');
  const seed = input.seed === undefined ? randomSeed() : checkSeed('seed', input.seed);
  const numImages = integerIn('numImages', given('numImages', DEFAULTS.numImages), LIMITS.numImages.min, LIMITS.numImages.max);
  const outputFormat = oneOf('outputFormat', given('outputFormat', DEFAULTS.outputFormat), OUTPUT_FORMATS);
  const quality = input.quality === undefined ? undefined : numberIn('quality', input.quality, 0, 1);
  const preview = input.preview === undefined ? false : boolean('preview', input.preview);
  const model = input.model === undefined ? undefined : nonEmptyString('model', input.model, "a provider's model id");

  let prompt: string | undefined;
  let promptEmbeddings: PromptEmbeddings | undefined;
  if (input.promptEmbeddings !== undefined) {
    if (sizes === 'provider') throw new InvalidParameterError('promptEmbeddings', 'absent: hosted providers take a text prompt', 'embeddings', 'conflict');
    if (input.prompt !== undefined) throw new InvalidParameterError('prompt', 'absent when promptEmbeddings is given (give one or the other)', 'both', 'conflict');
    promptEmbeddings = checkPromptEmbeddings('promptEmbeddings', input.promptEmbeddings);
  } else {
    prompt = checkPrompt('prompt', input.prompt);
  }

  const request = { prompt, promptEmbeddings, width, height, steps, guidance, seed, numImages, outputFormat, quality, preview, providerOptions, model, unset: Object.freeze(unset), warnings: Object.freeze(warnings) };
  for (const key of Object.keys(request) as (keyof typeof request)[]) if (request[key] === undefined) delete request[key];
  // The mark points at the request itself: a spread copy carries it along.
  Object.defineProperty(request, VALID, { value: request, enumerable: true });
  const valid = Object.freeze(request) as ValidRequest;
  validated.set(valid, sizes);
  return valid;
}

/**
 * Checks the per-call fields: `signal` an AbortSignal, `onProgress` a function.
 * @throws InvalidParameterError naming the field
 */
export function checkCallOptions(options: { signal?: unknown; onProgress?: unknown }): void {
  const { signal, onProgress } = options;
  if (signal !== undefined && !isAbortSignal(signal)) throw new InvalidParameterError('signal', 'an AbortSignal (e.g. new AbortController().signal)', signal, 'wrong-type');
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new InvalidParameterError('onProgress', 'a function taking a progress event', onProgress, 'wrong-type');
}

/** Whether a value behaves as an AbortSignal (from this realm or another: an iframe's). */
function isAbortSignal(value: unknown): value is AbortSignal {
  if (typeof AbortSignal !== 'undefined' && value instanceof AbortSignal) return true;
  const v = value as Partial<AbortSignal> | null;
  return typeof v === 'object' && v !== null && typeof v.aborted === 'boolean' && typeof v.addEventListener === 'function' && typeof v.removeEventListener === 'function';
}

// ---- field checks (each throws InvalidParameterError naming the field) --------------

function fail(field: string, allowed: string, received: unknown, reason: InvalidParameterReason): never {
  throw new InvalidParameterError(field, allowed, received, reason);
}

/** A number (typeof), else `wrong-type`. */
function number(field: string, value: unknown, allowed: string): number {
  if (typeof value !== 'number') fail(field, allowed, value, 'wrong-type');
  return value as number;
}

function integerIn(field: string, value: unknown, min: number, max: number): number {
  const allowed = `an integer from ${min} to ${max}`;
  const n = number(field, value, allowed);
  if (!Number.isInteger(n) || n < min || n > max) fail(field, allowed, n, 'out-of-range');
  return n;
}

function positiveInteger(field: string, value: unknown, allowed: string): number {
  const n = number(field, value, allowed);
  if (!Number.isInteger(n) || n < 1) fail(field, allowed, n, 'out-of-range');
  return n;
}

function numberIn(field: string, value: unknown, min: number, max: number): number {
  const allowed = `a number from ${min} to ${max}`;
  const n = number(field, value, allowed);
  if (!(n >= min && n <= max)) fail(field, allowed, n, 'out-of-range');
  return n;
}

function boolean(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(field, 'true or false', value, 'wrong-type');
  return value as boolean;
}

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) fail(field, `one of ${allowed.join(', ')}`, value, typeof value === 'string' ? 'not-one-of' : 'wrong-type');
  return value as T;
}

function nonEmptyString(field: string, value: unknown, allowed: string): string {
  if (typeof value !== 'string') fail(field, allowed, value, 'wrong-type');
  if ((value as string).trim() === '') fail(field, allowed, value, 'missing');
  return value as string;
}

/**
 * Checks an image side in pixels: an integer multiple of 16 within `range`.
 * @param field the name to report (e.g. "width")
 */
export function checkImageSide(field: string, value: unknown, range: { min: number; max: number } = LIMITS.cliSize): number {
  const allowed = `a multiple of ${LIMITS.sizeMultiple} from ${range.min} to ${range.max}`;
  const n = number(field, value, allowed);
  if (!Number.isInteger(n) || n < range.min || n > range.max || n % LIMITS.sizeMultiple !== 0) fail(field, allowed, n, 'out-of-range');
  return n;
}

/** Checks a step count: an integer within 1–50. */
export function checkSteps(field: string, value: unknown): number {
  return integerIn(field, value, LIMITS.steps.min, LIMITS.steps.max);
}

/** Whether a step count is past what schnell is distilled for (worth a warning, not an error). */
export function stepsBeyondRecommended(steps: number): boolean {
  return steps > LIMITS.steps.recommendedMax;
}

/** Checks a guidance scale: a number within 1.5–5 (BFL's `/flux-dev` range). */
export function checkGuidance(field: string, value: unknown): number {
  return numberIn(field, value, LIMITS.guidance.min, LIMITS.guidance.max);
}

/** A plain object (e.g. `providerOptions`), frozen as a shallow copy. */
function plainObject(field: string, value: unknown): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'an object of field names and values', value, 'wrong-type');
  return Object.freeze({ ...(value as Record<string, unknown>) });
}

/** Checks a seed: an integer within 0–4294967295. */
export function checkSeed(field: string, value: unknown): number {
  return integerIn(field, value, LIMITS.seed.min, LIMITS.seed.max);
}

/** A uniformly random seed in 0–4294967295 (from crypto). */
export function randomSeed(): number {
  const buffer = new Uint32Array(1);
  globalThis.crypto.getRandomValues(buffer);
  return buffer[0];
}

/** Checks a prompt: 1–10000 characters (after trimming it must not be empty). */
export function checkPrompt(field: string, value: unknown): string {
  const { minChars, maxChars } = LIMITS.prompt;
  const allowed = `text of ${minChars} to ${maxChars} characters`;
  if (typeof value !== 'string') fail(field, allowed, value, value === undefined ? 'missing' : 'wrong-type');
  const text = value as string;
  if (text.trim().length < minChars) fail(field, allowed, `${text.length} characters`, 'missing');
  if (text.length > maxChars) fail(field, allowed, `${text.length} characters`, 'out-of-range');
  return text;
}

function isFloat32Array(value: unknown): value is Float32Array {
  return ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === '[object Float32Array]';
}

/** Checks prompt embeddings: non-empty Float32Arrays of finite values (their shape is checked against the package later). */
function checkPromptEmbeddings(field: string, value: unknown): PromptEmbeddings {
  const allowed = 'an object with non-empty Float32Array promptEmbeds and pooledPromptEmbeds of finite values';
  if (typeof value !== 'object' || value === null) fail(field, allowed, value, 'wrong-type');
  const { promptEmbeds, pooledPromptEmbeds } = value as Partial<PromptEmbeddings>;
  for (const [name, array] of [['promptEmbeds', promptEmbeds], ['pooledPromptEmbeds', pooledPromptEmbeds]] as const) {
    if (!isFloat32Array(array)) fail(`${field}.${name}`, allowed, array, array === undefined ? 'missing' : 'wrong-type');
    if (array.length === 0) fail(`${field}.${name}`, allowed, '0 values', 'missing');
    for (let i = 0; i < array.length; i++) if (!Number.isFinite(array[i])) fail(`${field}.${name}`, allowed, `${array[i]} at index ${i}`, 'out-of-range');
  }
  return { promptEmbeds: promptEmbeds!, pooledPromptEmbeds: pooledPromptEmbeds! };
}

/** Image i's seed: seed + i, modulo 2^32 (torch seeds use the low 32 bits). */
export function imageSeed(seed: number, index: number): number {
  return (seed + index) % 2 ** 32;
}

/** Steps and guidance for one model family, and what is worth a warning. */
export interface FamilyParams {
  steps: number;
  /** The guidance scale for guidance-distilled models; undefined for [schnell]. */
  guidance?: number;
  warnings: string[];
}

/**
 * Fills in the model's own defaults (28 steps and guidance 3.5 for [dev], 4 steps for
 * [schnell]) where the request left them out, and refuses what the model cannot take.
 * @param request the checked request (`unset` says whether steps were given)
 * @param modelId for messages
 * @throws InvalidParameterError for a guidance with a [schnell] package (it has no guidance input)
 */
export function resolveForFamily(request: Pick<ValidRequest, 'steps' | 'guidance' | 'unset'>, family: ModelFamily, modelId: string): FamilyParams {
  const defaults = FAMILY_DEFAULTS[family];
  const warnings: string[] = [];
  if (family === 'schnell' && request.guidance !== undefined) {
    throw new InvalidParameterError('guidance', `absent for ${modelId}: ${FAMILY_NAMES.schnell} is not guidance-distilled (guidance ${LIMITS.guidance.min}-${LIMITS.guidance.max} applies to ${FAMILY_NAMES.dev})`, request.guidance, 'conflict');
  }
  const steps = request.unset.includes('steps') ? defaults.steps : request.steps;
  if (steps > defaults.recommendedMaxSteps) {
    warnings.push(`${FAMILY_NAMES[family]} is distilled for 1-${defaults.recommendedMaxSteps} steps; ${steps} steps cost more and rarely help.`);
  }
  return { steps, guidance: family === 'dev' ? (request.guidance ?? FAMILY_DEFAULTS.dev.guidance) : undefined, warnings };
}
