/**
 * An OpenAI-shaped images API over any generator, so code written for
 * `openai.images.generate(...)` runs unchanged against the local engine:
 * `images.generate({model, prompt, n, size, response_format})` →
 * `{created, data: [{b64_json} | {url}]}`. `url` results are object URLs.
 * `images.edit({image, prompt, strength, n, size, seed, response_format, output_format})`
 * is shaped like `/v1/images/edits` (as Lumenfall's gateway offers it): image-to-image
 * from a `Blob`/`File` (or any picture `generate` takes), `strength` 0 < s ≤ 1
 * (0 would keep the picture, 1 regenerates it), `size` default the picture's own.
 */
import type { GenerateParams, OutputFormat } from '../api-types.ts';
import { FACADE_DEFAULTS, LIMITS } from '../defaults.ts';
import { InvalidParameterError, OpenAIRequestError } from '../errors.ts';
import type { ValidRequest } from '../request.ts';
import type { FacadeTarget } from './bfl-facade.ts';

/** The fields of OpenAI's images.generate; those this engine has no use for are accepted and ignored, others are refused as OpenAI does. */
const OPENAI_FIELDS = ['prompt', 'model', 'n', 'size', 'response_format', 'output_format', 'seed', 'quality', 'style', 'user', 'background', 'moderation', 'output_compression'];

/** The fields of `/v1/images/edits` (multipart fields as object keys); `mask` (inpainting) is not offered. */
const OPENAI_EDIT_FIELDS = ['image', 'prompt', 'strength', 'model', 'n', 'size', 'response_format', 'output_format', 'seed', 'quality', 'user', 'background', 'output_compression', 'input_fidelity'];

/** The request field a library field came from (errors name the caller's field). */
const PARAM_OF: Record<string, string> = { width: 'size', height: 'size', numImages: 'n', outputFormat: 'output_format', prompt: 'prompt', seed: 'seed', image: 'image', strength: 'strength', fit: 'image' };

/** The request body of OpenAI's `images.generate` (fields this facade reads). */
export interface OpenAIImageRequest {
  prompt: string;
  model?: string;
  /** 1–4 here (OpenAI allows more for some models). */
  n?: number;
  /** "WxH", e.g. "1024x1024" (default). */
  size?: string;
  response_format?: 'url' | 'b64_json';
  output_format?: OutputFormat;
  /** Not in OpenAI's API; accepted for reproducibility. */
  seed?: number;
}

/** The request of `images.edit` (`/v1/images/edits`): a picture to start from and a prompt. */
export interface OpenAIImageEditRequest extends Omit<OpenAIImageRequest, 'size'> {
  /** The picture: a Blob/File (PNG, JPEG, WebP), or a one-element array of one (as OpenAI SDKs send it); any picture `generate` takes. */
  image: Blob | Blob[] | GenerateParams['image'];
  /** 0 < strength ≤ 1 (default 0.8): 0 would keep the picture unchanged, 1 regenerates it fully. */
  strength?: number;
  /** "WxH" or "auto" (default: the picture's own size, rounded down to a multiple of 16); the picture is centre-cropped to it. */
  size?: string;
}

/** OpenAI's images response. */
export interface OpenAIImagesResponse {
  created: number;
  data: ({ b64_json: string; revised_prompt?: string } | { url: string; revised_prompt?: string })[];
}

/** The facade, shaped like `openai.images`. */
export interface OpenAIImagesFacade {
  generate(request: OpenAIImageRequest): Promise<OpenAIImagesResponse>;
  /**
   * Image-to-image, shaped like `/v1/images/edits`.
   * @throws OpenAIRequestError naming the caller's field (`image`, `strength`, `size`, …)
   */
  edit(request: OpenAIImageEditRequest): Promise<OpenAIImagesResponse>;
}

async function base64(blob: Blob): Promise<string> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function parseRequest(request: OpenAIImageRequest | OpenAIImageEditRequest, fields = OPENAI_FIELDS) {
  if (!request || typeof request !== 'object' || Array.isArray(request)) throw new OpenAIRequestError('The request body must be an object.', null);
  for (const key of Object.keys(request)) {
    if (!fields.includes(key) && (request as unknown as Record<string, unknown>)[key] !== undefined) throw new OpenAIRequestError(`Unrecognized request argument supplied: ${key}`, key);
  }
  if (request.model !== undefined && request.model !== null && typeof request.model !== 'string') throw new OpenAIRequestError(`Invalid type for 'model': expected a string.`, 'model');
  if (typeof request.prompt !== 'string' || request.prompt.trim() === '') throw new OpenAIRequestError("Missing required parameter: 'prompt'.", 'prompt');
  const { openai } = FACADE_DEFAULTS;
  const n = request.n ?? openai.n;
  if (!Number.isInteger(n) || n < LIMITS.numImages.min || n > LIMITS.numImages.max) {
    throw new OpenAIRequestError(`Invalid 'n': must be an integer from ${LIMITS.numImages.min} to ${LIMITS.numImages.max}.`, 'n');
  }
  // An edit without a size (or "auto") keeps the picture's own size.
  const edit = fields === OPENAI_EDIT_FIELDS;
  const sizeText = request.size ?? (edit ? 'auto' : openai.size);
  const size = edit && sizeText === 'auto' ? undefined : /^(\d+)x(\d+)$/.exec(sizeText);
  if (size === null) throw new OpenAIRequestError(`Invalid 'size': expected "WIDTHxHEIGHT" such as "1024x1024"${edit ? ' or "auto"' : ''} (got ${JSON.stringify(request.size)}).`, 'size');
  const format = request.response_format ?? openai.responseFormat;
  if (format !== 'url' && format !== 'b64_json') throw new OpenAIRequestError(`Invalid 'response_format': must be 'url' or 'b64_json'.`, 'response_format');
  return { n, ...(size ? { width: Number(size[1]), height: Number(size[2]) } : {}), format };
}

/** The facade's answer: the images as base64 or object URLs. */
async function respond(images: Blob[], format: 'url' | 'b64_json'): Promise<OpenAIImagesResponse> {
  const data = await Promise.all(images.map(async (blob) => (format === 'b64_json' ? { b64_json: await base64(blob) } : { url: URL.createObjectURL(blob) })));
  return { created: Math.floor(Date.now() / 1000), data };
}

/** An InvalidParameterError as OpenAI's 400, naming the caller's field. */
function asOpenAIError(error: unknown, size: string): unknown {
  if (!(error instanceof InvalidParameterError)) return error;
  const param = PARAM_OF[error.field] ?? error.field;
  return new OpenAIRequestError(`Invalid '${param}': ${param} must be ${error.allowed} (got ${param === 'size' ? JSON.stringify(size) : JSON.stringify(error.received) ?? String(error.received)}).`, param);
}

/** Creates the OpenAI-shaped facade over a generator (routing applies). */
export function createOpenAIImagesFacade(target: FacadeTarget): OpenAIImagesFacade {
  return {
    async generate(request) {
      const { n, width, height, format } = parseRequest(request);
      const params = { prompt: request.prompt, width, height, numImages: n, seed: request.seed, outputFormat: request.output_format ?? FACADE_DEFAULTS.openai.outputFormat };
      let checked: ValidRequest;
      try {
        checked = target.validate(params);
      } catch (error) {
        throw asOpenAIError(error, request.size ?? FACADE_DEFAULTS.openai.size);
      }
      return respond((await target.generate(checked)).images, format);
    },

    async edit(request) {
      const { n, width, height, format } = parseRequest(request, OPENAI_EDIT_FIELDS);
      let image = request.image;
      if (Array.isArray(image)) {
        if (image.length !== 1) throw new OpenAIRequestError(`Invalid 'image': give one picture (got ${image.length}).`, 'image');
        image = image[0];
      }
      if (image === undefined || image === null) throw new OpenAIRequestError("Missing required parameter: 'image'.", 'image');
      const params: GenerateParams = { prompt: request.prompt, image, strength: request.strength, ...(width ? { width, height } : {}), numImages: n, seed: request.seed, outputFormat: request.output_format ?? FACADE_DEFAULTS.openai.outputFormat };
      let checked: ValidRequest;
      try {
        checked = await target.prepare(params);
      } catch (error) {
        throw asOpenAIError(error, request.size ?? "auto (the picture's own size)");
      }
      return respond((await target.generate(checked)).images, format);
    },
  };
}
