/**
 * An OpenAI-shaped images API over any generator, so code written for
 * `openai.images.generate(...)` (or an OpenAI-compatible gateway such as Lumenfall) runs
 * unchanged against the local engine: `images.generate({model, prompt, n, size, …})` →
 * `{created, data: [{b64_json} | {url}]}`. `url` results are object URLs.
 *
 * Fields: `prompt`; `n` 1–4; `size` "WxH" (exact) or "W:H" (an aspect ratio);
 * `aspect_ratio` + `resolution` ("0.5K", "1K", "2K" or megapixels), mapped to the nearest
 * size the model allows, a "WxH" size winning over both (size-request.ts); `seed`;
 * `response_format` url | b64_json; `output_format` png | jpeg | webp; `output_compression`
 * 0–100 (jpeg/webp quality); `cfg_scale` → the guidance of guidance-distilled models
 * (FLUX.1 [dev]). Every other field is passed as it is to a hosted provider
 * (`providerOptions`) and reported as ignored when the request runs on this device.
 * Invalid values answer OpenAI's 400 shape naming the caller's field (`param`).
 */
import type { GenerateParams, OutputFormat } from '../api-types.ts';
import { FACADE_DEFAULTS, LIMITS } from '../defaults.ts';
import { InvalidParameterError, OpenAIRequestError } from '../errors.ts';
import type { ValidRequest } from '../request.ts';
import type { FacadeTarget } from './bfl-facade.ts';
import { chooseSize, isSizeProblem, type SideRule } from './size-request.ts';

/** The request body of `images.generate` (the fields this facade reads; any other is passed on). */
export interface OpenAIImageRequest {
  prompt: string;
  /** Passed to hosted providers; the local engine runs its own model. */
  model?: string;
  /** 1–4 here (OpenAI allows more for some models). */
  n?: number;
  /** "WxH" (e.g. "1024x1024", the default) or "W:H" (e.g. "16:9"). */
  size?: string;
  /** "W:H"; with `resolution`, when no "WxH" size is given. */
  aspect_ratio?: string;
  /** "0.5K", "1K" (default), "2K", or megapixels (1, "1.5MP"). */
  resolution?: string | number;
  response_format?: 'url' | 'b64_json';
  output_format?: OutputFormat;
  /** 0–100 for jpeg and webp (default 100: the best quality). */
  output_compression?: number;
  /** Guidance for FLUX.1 [dev] (1.5–5). */
  cfg_scale?: number;
  /** Not in OpenAI's API; accepted for reproducibility. */
  seed?: number;
  /** Anything else goes to hosted providers as it is. */
  [field: string]: unknown;
}

/** OpenAI's images response (`warnings` only when something was ignored or changed). */
export interface OpenAIImagesResponse {
  created: number;
  data: ({ b64_json: string; revised_prompt?: string } | { url: string; revised_prompt?: string })[];
  /** What was not applied or was mapped (e.g. fields a local run ignores); absent when nothing. */
  warnings?: string[];
}

/** The facade, shaped like `openai.images`. */
export interface OpenAIImagesFacade {
  /** @throws OpenAIRequestError (status 400, `body.error.param` names the field) */
  generate(request: OpenAIImageRequest): Promise<OpenAIImagesResponse>;
}

/** The fields this facade maps; every other one is passed on to hosted providers. */
const MAPPED_FIELDS = ['prompt', 'model', 'n', 'size', 'aspect_ratio', 'resolution', 'response_format', 'output_format', 'output_compression', 'cfg_scale', 'seed'];

/**
 * The library's own request fields that are not OpenAI's: sent here they are a mistake
 * (no provider would read them either), so they are refused rather than passed on.
 */
const LIBRARY_ONLY_FIELDS: Record<string, string> = {
  width: 'size', height: 'size', numImages: 'n', outputFormat: 'output_format', steps: 'no steps in this shape', promptEmbeddings: 'prompt', preview: 'no previews in this shape', providerOptions: 'the fields themselves',
};

/** The request field a library field came from (errors name the caller's field). */
const PARAM_OF: Record<string, string> = { width: 'size', height: 'size', numImages: 'n', outputFormat: 'output_format', quality: 'output_compression', guidance: 'cfg_scale' };

const FORMATS: readonly OutputFormat[] = ['png', 'jpeg', 'webp'];
const WEB_SIDES: SideRule = { min: LIMITS.webSize.min, max: LIMITS.webSize.max, multiple: LIMITS.sizeMultiple };

async function base64(blob: Blob): Promise<string> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

const invalid = (param: string, message: string) => new OpenAIRequestError(`Invalid '${param}': ${message}`, param);

/** Checks and maps a request; throws OpenAIRequestError naming the first invalid field. */
function parseRequest(request: OpenAIImageRequest, sideRule: SideRule) {
  if (!request || typeof request !== 'object' || Array.isArray(request)) throw new OpenAIRequestError('The request body must be an object.', null);
  for (const [key, instead] of Object.entries(LIBRARY_ONLY_FIELDS)) {
    if ((request as Record<string, unknown>)[key] !== undefined) throw new OpenAIRequestError(`Unrecognized request argument supplied: ${key} (use ${instead})`, key);
  }
  if (typeof request.prompt !== 'string' || request.prompt.trim() === '') throw new OpenAIRequestError("Missing required parameter: 'prompt'.", 'prompt');
  if (request.model !== undefined && typeof request.model !== 'string') throw invalid('model', 'expected a string.');
  const n = request.n ?? FACADE_DEFAULTS.openai.n;
  if (!Number.isInteger(n) || (n as number) < LIMITS.numImages.min || (n as number) > LIMITS.numImages.max) {
    throw invalid('n', `must be an integer from ${LIMITS.numImages.min} to ${LIMITS.numImages.max}.`);
  }
  const format = request.response_format ?? FACADE_DEFAULTS.openai.responseFormat;
  if (format !== 'url' && format !== 'b64_json') throw invalid('response_format', "must be 'url' or 'b64_json'.");
  const outputFormat = request.output_format ?? FACADE_DEFAULTS.openai.outputFormat;
  if (!FORMATS.includes(outputFormat)) throw invalid('output_format', `must be one of ${FORMATS.join(', ')}.`);
  const compression = request.output_compression;
  if (compression !== undefined && !(Number.isInteger(compression) && compression >= 0 && compression <= 100)) throw invalid('output_compression', 'must be an integer from 0 to 100.');
  const cfg = request.cfg_scale;
  if (cfg !== undefined && !(typeof cfg === 'number' && Number.isFinite(cfg))) throw invalid('cfg_scale', 'expected a number.');
  const [defaultWidth, defaultHeight] = FACADE_DEFAULTS.openai.size.split('x').map(Number);
  const size = chooseSize(request, sideRule, { width: defaultWidth, height: defaultHeight });
  if (isSizeProblem(size)) throw invalid(size.field, `${size.message}.`);
  const notes = [...size.notes];
  if (compression !== undefined && outputFormat === 'png') notes.push('output_compression applies to jpeg and webp; ignored for png');
  const providerOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(request)) if (!MAPPED_FIELDS.includes(key) && value !== undefined) providerOptions[key] = value;
  return { n: n as number, format, outputFormat, compression, cfg, width: size.width, height: size.height, notes, providerOptions };
}

/** Creates the OpenAI-shaped facade over a generator (routing applies). */
export function createOpenAIImagesFacade(target: FacadeTarget): OpenAIImagesFacade {
  return {
    async generate(request) {
      const parsed = parseRequest(request, target.sideRule ?? WEB_SIDES);
      const notes = [...parsed.notes];
      const local = await target.localFamily?.().catch(() => undefined); // a device that cannot run fails the generation itself, as before
      let guidance = parsed.cfg;
      if (guidance !== undefined && local === 'schnell') {
        notes.push(`cfg_scale ${guidance} not applied: the local model FLUX.1 [schnell] is not guidance-distilled`);
        guidance = undefined;
      }
      const extra = Object.keys(parsed.providerOptions);
      if (local && extra.length) notes.push(`${extra.join(', ')} ignored on this device (passed only to hosted providers)`);
      if (local && request.model !== undefined) notes.push(`model ${request.model} ignored on this device: it runs its own model (FLUX.1 [${local}])`);
      const params: GenerateParams = {
        prompt: request.prompt,
        width: parsed.width,
        height: parsed.height,
        numImages: parsed.n,
        ...(request.seed === undefined ? {} : { seed: request.seed }),
        outputFormat: parsed.outputFormat,
        ...(parsed.compression !== undefined && parsed.outputFormat !== 'png' ? { quality: parsed.compression / 100 } : {}),
        ...(guidance === undefined ? {} : { guidance }),
        ...(!local && extra.length ? { providerOptions: parsed.providerOptions } : {}),
      };
      let checked: ValidRequest;
      try {
        checked = target.validate(params);
      } catch (error) {
        if (!(error instanceof InvalidParameterError)) throw error;
        const param = PARAM_OF[error.field] ?? error.field;
        const received = param === 'size' ? JSON.stringify(request.size ?? `${parsed.width}x${parsed.height}`) : param === 'output_compression' ? String(request.output_compression) : JSON.stringify(error.received);
        throw invalid(param, `${param} must be ${error.allowed} (got ${received}).`);
      }
      const result = await target.generate(checked);
      const data = await Promise.all(result.images.map(async (blob) => (parsed.format === 'b64_json' ? { b64_json: await base64(blob) } : { url: URL.createObjectURL(blob) })));
      const warnings = [...notes, ...result.warnings];
      return { created: Math.floor(Date.now() / 1000), data, ...(warnings.length ? { warnings } : {}) };
    },
  };
}
