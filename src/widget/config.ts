/**
 * The `<flux-generator>` element's attributes, parsed and checked in one place. Every
 * attribute is optional except `model` (needed unless `privacy="remote-only"`).
 *
 * | attribute | values | default |
 * |---|---|---|
 * | `model` | URL of a web model package (relative to the page) | — |
 * | `privacy` | `local-only`, `prefer-local`, `remote-only` | `local-only` without providers, else `prefer-local` |
 * | `memory` | `auto`, `resident`, `staged`, `streaming` (GPU memory plan of the local engine) | `auto` |
 * | `width`, `height` | multiples of 16: 256–1440 (16–2048 with `allow-any-size`) | 512 |
 * | `steps` | 1–50 | the model's own: 4 for FLUX.1 [schnell], 28 for [dev] |
 * | `guidance` | 1.5–5 (guidance-distilled models, FLUX.1 [dev]; the field shows only for them) | 3.5 |
 * | `seed` | 0–4294967295 | random per image |
 * | `prompt` | initial prompt text | empty |
 * | `output-format` | `png`, `jpeg`, `webp` | `png` |
 * | `allow-any-size` | boolean: sizes 16–2048 (tiny test/demo models) | absent |
 * | `provider` | a provider kind: `bfl`, `fal`, `replicate`, `openai`, `monica`, `aimlapi` | — |
 * | `provider-base-url` | the provider's API root or the site's proxy for it | the provider's public API |
 * | `provider-model` | the provider's model id | the provider's default |
 * | `providers` | JSON array of `{kind, baseUrl?, model?, label?, timeoutMs?}` (several, in order) | — |
 * | `preview` | `pixelated`, `smooth`, `off` (live preview while denoising) | `pixelated` |
 * | `layout` | `compact` (a card) or `page` (two columns on wide screens) | `compact` |
 * | `theme` | `light`, `dark`, `auto` (follows the visitor's setting) | `light` |
 * | `worker-url` | URL of the library's `generator.worker.js` hosted elsewhere (a CDN) | beside the library |
 * | `wasm-paths` | URL of the folder with `ort-wasm-simd-threaded.asyncify.wasm` (or of the file) | beside the worker |
 *
 * API keys are refused in attributes (they would sit in the page's source for every
 * visitor to read): give the provider a proxy `baseUrl` that adds the key on the server,
 * or set the element's `providers` property from script.
 */
import type { GenerateParams, OutputFormat } from '../api-types.ts';
import { DEFAULTS, LIMITS, WIDGET_DEFAULTS } from '../defaults.ts';
import { checkWorkerLocation } from '../engine/worker-url.ts';
import { InvalidParameterError } from '../errors.ts';
import { MEMORY_OPTIONS, type MemoryOption } from '../engine/memory-plan.ts';
import { PROVIDER_INFO, type AnyProviderConfig, type ImageEngine, type ProviderKind } from '../providers/index.ts';
import { checkStrength, OUTPUT_FORMATS } from '../request.ts';
import { PRIVACY_MODES, type PrivacyMode } from '../routing.ts';

/** Attributes that change which generator the element uses. */
export const GENERATOR_ATTRIBUTES = ['model', 'privacy', 'memory', 'allow-any-size', 'provider', 'provider-base-url', 'provider-model', 'providers', 'worker-url', 'wasm-paths'] as const;
/** Attributes that only change the form's defaults or the look. */
export const FORM_ATTRIBUTES = ['width', 'height', 'steps', 'guidance', 'seed', 'prompt', 'output-format', 'preview', 'layout', 'theme', 'strength'] as const;


export type PreviewMode = 'pixelated' | 'smooth' | 'off';
export type LayoutMode = 'compact' | 'page';
export type ThemeMode = 'light' | 'dark' | 'auto';

/** What the element's generator is made from. */
export interface GeneratorConfig {
  /** Package URL as given (resolved against the page by the generator), or undefined. */
  model?: string;
  privacy?: PrivacyMode;
  /** GPU memory plan of the local engine (default 'auto'). */
  memory: MemoryOption;
  providers: (AnyProviderConfig | ImageEngine)[];
  allowAnySize: boolean;
  /** `worker-url`: the worker script elsewhere (the first widget of a model starts its shared worker). */
  workerUrl?: string;
  /** `wasm-paths`: onnxruntime's wasm elsewhere. */
  wasmPaths?: string;
}

/** The form's starting values and the look. */
export interface FormDefaults {
  width: number;
  height: number;
  steps: number;
  /** Whether the `steps` attribute set the steps (else the model's own default applies). */
  stepsGiven: boolean;
  /** The `guidance` attribute (guidance-distilled models), when given. */
  guidance?: number;
  seed?: number;
  prompt: string;
  outputFormat: OutputFormat;
  preview: PreviewMode;
  layout: LayoutMode;
  theme: ThemeMode;
  /** Image-to-image: the strength slider's value, in (0, 1]. */
  strength: number;
}

type Read = (name: string) => string | null;

const KINDS = Object.keys(PROVIDER_INFO) as ProviderKind[];
const FORMATS = OUTPUT_FORMATS;

/** The size range the element accepts. */
export function sizeRange(allowAnySize: boolean): { min: number; max: number } {
  return allowAnySize ? LIMITS.cliSize : LIMITS.webSize;
}

function oneOf<T extends string>(name: string, value: string | null, allowed: readonly T[], fallback: T): T {
  if (value === null || value === '') return fallback;
  if (!allowed.includes(value as T)) throw new InvalidParameterError(name, `one of ${allowed.join(', ')}`, value, 'not-one-of');
  return value as T;
}

function integer(name: string, value: string | null, fallback: number | undefined, min: number, max: number, multiple = 1): number | undefined {
  if (value === null || value.trim() === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max || n % multiple !== 0) {
    throw new InvalidParameterError(name, `${multiple > 1 ? `a multiple of ${multiple}` : 'an integer'} from ${min} to ${max}`, value);
  }
  return n;
}

/** The `strength` attribute: a number in (0, 1], default DEFAULTS.strength. */
function strengthAttribute(value: string | null): number {
  if (value === null || value.trim() === '') return DEFAULTS.strength;
  return checkStrength('strength', /^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$/.test(value) ? Number(value) : value);
}

function decimal(name: string, value: string | null, min: number, max: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new InvalidParameterError(name, `a number from ${min} to ${max}`, value);
  return n;
}

/** A provider config from attributes: no key, a known kind. */
function providerFromAttributes(raw: unknown, where: string): AnyProviderConfig {
  if (typeof raw !== 'object' || raw === null) throw new InvalidParameterError(where, 'an object like {"kind": "bfl", "baseUrl": "/proxy/bfl"}', String(raw));
  const config = raw as Record<string, unknown>;
  if ('apiKey' in config || 'api_key' in config || 'key' in config) {
    throw new InvalidParameterError(where, 'free of API keys (a key in an attribute is readable by every visitor: use a proxy baseUrl, or set the providers property from script)', '(a key)');
  }
  if (!KINDS.includes(config.kind as ProviderKind)) throw new InvalidParameterError(`${where}.kind`, `one of ${KINDS.join(', ')}`, config.kind);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) if (value !== undefined && value !== null && value !== '') out[key] = value;
  return out as unknown as AnyProviderConfig;
}

/**
 * Reads the generator's configuration from attributes.
 * @throws InvalidParameterError naming the attribute
 */
export function readGeneratorConfig(read: Read): GeneratorConfig {
  const providers: AnyProviderConfig[] = [];
  const json = read('providers');
  if (json !== null && json.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new InvalidParameterError('providers', 'a JSON array, e.g. [{"kind":"bfl","baseUrl":"/proxy/bfl"}]', json);
    }
    if (!Array.isArray(parsed)) throw new InvalidParameterError('providers', 'a JSON array of provider configs', json);
    parsed.forEach((p, i) => providers.push(providerFromAttributes(p, `providers[${i}]`)));
  }
  const kind = read('provider');
  if (kind !== null && kind !== '') {
    providers.push(providerFromAttributes({ kind, baseUrl: read('provider-base-url') ?? undefined, model: read('provider-model') ?? undefined }, 'provider'));
  }
  const privacyValue = read('privacy');
  const privacy = privacyValue === null || privacyValue === '' ? undefined : oneOf('privacy', privacyValue, PRIVACY_MODES, 'local-only');
  const model = read('model')?.trim() || undefined;
  const memory = oneOf('memory', read('memory'), MEMORY_OPTIONS, DEFAULTS.memory);
  const workerUrl = read('worker-url')?.trim() || undefined;
  const wasmPaths = read('wasm-paths')?.trim() || undefined;
  try {
    checkWorkerLocation({ workerUrl, wasmPaths });
  } catch (error) {
    if (!(error instanceof InvalidParameterError)) throw error;
    throw new InvalidParameterError(error.field === 'workerUrl' ? 'worker-url' : 'wasm-paths', error.allowed, error.received);
  }
  return { model, privacy, memory, providers, allowAnySize: read('allow-any-size') !== null && read('allow-any-size') !== 'false', workerUrl, wasmPaths };
}

/**
 * Reads the form defaults and the look from attributes.
 * @throws InvalidParameterError naming the attribute
 */
export function readFormDefaults(read: Read, allowAnySize: boolean): FormDefaults {
  const range = sizeRange(allowAnySize);
  const side = Math.min(Math.max(WIDGET_DEFAULTS.side, range.min), range.max);
  return {
    width: integer('width', read('width'), side, range.min, range.max, LIMITS.sizeMultiple)!,
    height: integer('height', read('height'), side, range.min, range.max, LIMITS.sizeMultiple)!,
    steps: integer('steps', read('steps'), DEFAULTS.steps, LIMITS.steps.min, LIMITS.steps.max)!,
    stepsGiven: (read('steps') ?? '').trim() !== '',
    guidance: decimal('guidance', read('guidance'), LIMITS.guidance.min, LIMITS.guidance.max),
    seed: integer('seed', read('seed'), undefined, LIMITS.seed.min, LIMITS.seed.max),
    prompt: read('prompt') ?? '',
    outputFormat: oneOf('output-format', read('output-format'), FORMATS, DEFAULTS.outputFormat),
    preview: oneOf('preview', read('preview'), ['pixelated', 'smooth', 'off'] as const, WIDGET_DEFAULTS.preview),
    layout: oneOf('layout', read('layout'), ['compact', 'page'] as const, WIDGET_DEFAULTS.layout),
    theme: oneOf('theme', read('theme'), ['light', 'dark', 'auto'] as const, WIDGET_DEFAULTS.theme),
    strength: strengthAttribute(read('strength')),
  };
}

/** The fields `setParams` fills, and the type each must have. */
const FORM_FIELDS: Record<string, 'string' | 'number'> = { prompt: 'string', width: 'number', height: 'number', steps: 'number', guidance: 'number', seed: 'number', outputFormat: 'string', strength: 'number' };

/**
 * Checks `setParams`'s argument: an object of form fields of the right types (their
 * ranges are checked when generating).
 * @throws InvalidParameterError naming the field
 */
export function checkFormParams(params: unknown): asserts params is Partial<Pick<GenerateParams, 'prompt' | 'width' | 'height' | 'steps' | 'guidance' | 'seed' | 'outputFormat' | 'strength'>> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new InvalidParameterError('params', `an object with some of ${Object.keys(FORM_FIELDS).join(', ')}`, params, params === undefined || params === null ? 'missing' : 'wrong-type');
  }
  for (const [key, value] of Object.entries(params)) {
    const type = FORM_FIELDS[key];
    if (!type) throw new InvalidParameterError(key, `not a field of the form (its fields: ${Object.keys(FORM_FIELDS).join(', ')})`, value, 'unknown-field');
    if (value === undefined && key === 'seed') continue;
    if (typeof value !== type) throw new InvalidParameterError(key, type === 'number' ? 'a number' : 'text', value, 'wrong-type');
    if (key === 'outputFormat' && !FORMATS.includes(value as OutputFormat)) throw new InvalidParameterError(key, `one of ${FORMATS.join(', ')}`, value, 'not-one-of');
  }
}
