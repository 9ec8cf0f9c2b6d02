/**
 * An OpenAI-shaped images API over any generator, so code written for
 * `openai.images.generate(...)` runs unchanged against the local engine:
 * `images.generate({model, prompt, n, size, response_format})` →
 * `{created, data: [{b64_json} | {url}]}`. `url` results are object URLs.
 */
import type { OutputFormat } from '../api-types.ts';
import { FACADE_DEFAULTS, LIMITS } from '../defaults.ts';
import { InvalidParameterError, OpenAIRequestError } from '../errors.ts';
import type { ValidRequest } from '../request.ts';
import type { FacadeTarget } from './bfl-facade.ts';

/** The fields of OpenAI's images.generate; those this engine has no use for are accepted and ignored, others are refused as OpenAI does. */
const OPENAI_FIELDS = ['prompt', 'model', 'n', 'size', 'response_format', 'output_format', 'seed', 'quality', 'style', 'user', 'background', 'moderation', 'output_compression'];

/** The request field a library field came from (errors name the caller's field). */
const PARAM_OF: Record<string, string> = { width: 'size', height: 'size', numImages: 'n', outputFormat: 'output_format', prompt: 'prompt', seed: 'seed' };

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

/** OpenAI's images response. */
export interface OpenAIImagesResponse {
  created: number;
  data: ({ b64_json: string; revised_prompt?: string } | { url: string; revised_prompt?: string })[];
}

/** The facade, shaped like `openai.images`. */
export interface OpenAIImagesFacade {
  generate(request: OpenAIImageRequest): Promise<OpenAIImagesResponse>;
}

async function base64(blob: Blob): Promise<string> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function parseRequest(request: OpenAIImageRequest) {
  if (!request || typeof request !== 'object' || Array.isArray(request)) throw new OpenAIRequestError('The request body must be an object.', null);
  for (const key of Object.keys(request)) {
    if (!OPENAI_FIELDS.includes(key) && (request as unknown as Record<string, unknown>)[key] !== undefined) throw new OpenAIRequestError(`Unrecognized request argument supplied: ${key}`, key);
  }
  if (request.model !== undefined && request.model !== null && typeof request.model !== 'string') throw new OpenAIRequestError(`Invalid type for 'model': expected a string.`, 'model');
  if (typeof request.prompt !== 'string' || request.prompt.trim() === '') throw new OpenAIRequestError("Missing required parameter: 'prompt'.", 'prompt');
  const { openai } = FACADE_DEFAULTS;
  const n = request.n ?? openai.n;
  if (!Number.isInteger(n) || n < LIMITS.numImages.min || n > LIMITS.numImages.max) {
    throw new OpenAIRequestError(`Invalid 'n': must be an integer from ${LIMITS.numImages.min} to ${LIMITS.numImages.max}.`, 'n');
  }
  const size = /^(\d+)x(\d+)$/.exec(request.size ?? openai.size);
  if (!size) throw new OpenAIRequestError(`Invalid 'size': expected "WIDTHxHEIGHT" such as "1024x1024" (got ${JSON.stringify(request.size)}).`, 'size');
  const format = request.response_format ?? openai.responseFormat;
  if (format !== 'url' && format !== 'b64_json') throw new OpenAIRequestError(`Invalid 'response_format': must be 'url' or 'b64_json'.`, 'response_format');
  return { n, width: Number(size[1]), height: Number(size[2]), format };
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
        if (!(error instanceof InvalidParameterError)) throw error;
        const param = PARAM_OF[error.field] ?? error.field;
        throw new OpenAIRequestError(`Invalid '${param}': ${param} must be ${error.allowed} (got ${param === 'size' ? JSON.stringify(request.size ?? FACADE_DEFAULTS.openai.size) : JSON.stringify(error.received) ?? String(error.received)}).`, param);
      }
      const result = await target.generate(checked);
      const data = await Promise.all(result.images.map(async (blob) => (format === 'b64_json' ? { b64_json: await base64(blob) } : { url: URL.createObjectURL(blob) })));
      return { created: Math.floor(Date.now() / 1000), data };
    },
  };
}
