/**
 * Validation of a generation request as the web API defines it (see defaults.ts): every
 * out-of-range field is an InvalidParameterError naming it and its range; nothing is
 * silently clamped. Runs before anything is downloaded.
 */
import type { OutputFormat, PromptEmbeddings } from '../api-types.ts';
import { DEFAULTS, LIMITS } from '../defaults.ts';
import { InvalidParameterError } from '../errors.ts';
import { checkImageSide, checkPrompt, checkSeed, checkSteps, randomSeed, stepsBeyondRecommended } from '../params.ts';
import { checkStrength } from '../image/fit-image.ts';
import { strengthStart } from '../pipeline/img2img.ts';
import type { EngineGenerateRequest } from './protocol.ts';

const FORMATS: readonly OutputFormat[] = ['png', 'jpeg', 'webp'];

/** A request with every field checked and defaulted. */
export interface ValidRequest {
  prompt?: string;
  promptEmbeddings?: PromptEmbeddings;
  width: number;
  height: number;
  steps: number;
  /** The first image's seed (given or drawn). */
  seed: number;
  numImages: number;
  outputFormat: OutputFormat;
  quality?: number;
  warnings: string[];
  /** Image-to-image: the picture (RGB at width × height) and the strength. */
  init?: { rgb: Uint8Array; width: number; height: number; strength: number };
}

/**
 * Checks and defaults a request.
 * @throws InvalidParameterError naming the field
 */
export function validateRequest(request: EngineGenerateRequest): ValidRequest {
  const warnings: string[] = [];
  const sizeRange = request.allowAnySize ? LIMITS.cliSize : LIMITS.webSize;
  const width = checkImageSide('width', request.width ?? DEFAULTS.width, sizeRange);
  const height = checkImageSide('height', request.height ?? DEFAULTS.height, sizeRange);
  const steps = checkSteps('steps', request.steps ?? DEFAULTS.steps);
  if (stepsBeyondRecommended(steps)) warnings.push(`FLUX.1 [schnell] is distilled for 1-${LIMITS.steps.recommendedMax} steps; ${steps} steps cost more and rarely help.`);
  const seed = request.seed === undefined ? randomSeed() : checkSeed('seed', request.seed);
  const numImages = request.numImages ?? DEFAULTS.numImages;
  if (!Number.isInteger(numImages) || numImages < LIMITS.numImages.min || numImages > LIMITS.numImages.max) {
    throw new InvalidParameterError('numImages', `an integer from ${LIMITS.numImages.min} to ${LIMITS.numImages.max}`, numImages);
  }
  const outputFormat = request.outputFormat ?? DEFAULTS.outputFormat;
  if (!FORMATS.includes(outputFormat)) throw new InvalidParameterError('outputFormat', `one of ${FORMATS.join(', ')}`, outputFormat);
  if (request.quality !== undefined && !(typeof request.quality === 'number' && request.quality >= 0 && request.quality <= 1)) {
    throw new InvalidParameterError('quality', 'a number from 0 to 1', request.quality);
  }
  if (request.prompt !== undefined && request.promptEmbeddings !== undefined) {
    throw new InvalidParameterError('prompt', 'absent when promptEmbeddings is given (give one or the other)', 'both');
  }
  let prompt: string | undefined;
  let promptEmbeddings: PromptEmbeddings | undefined;
  if (request.promptEmbeddings !== undefined) {
    const { promptEmbeds, pooledPromptEmbeds } = request.promptEmbeddings;
    if (!(promptEmbeds instanceof Float32Array) || !(pooledPromptEmbeds instanceof Float32Array) || promptEmbeds.length === 0 || pooledPromptEmbeds.length === 0) {
      throw new InvalidParameterError('promptEmbeddings', 'an object with non-empty Float32Array promptEmbeds and pooledPromptEmbeds', typeof request.promptEmbeddings);
    }
    promptEmbeddings = { promptEmbeds, pooledPromptEmbeds };
  } else {
    prompt = checkPrompt('prompt', request.prompt);
  }
  const init = validInitImage(request, width, height, steps);
  return { prompt, promptEmbeddings, width, height, steps, seed, numImages, outputFormat, quality: request.quality, warnings, ...(init ? { init } : {}) };
}

/** The image-to-image part of a request: RGB bytes of the run's size and a strength that leaves at least one step. */
function validInitImage(request: EngineGenerateRequest, width: number, height: number, steps: number): ValidRequest['init'] {
  if (request.initImage === undefined) {
    if (request.strength !== undefined) throw new InvalidParameterError('strength', 'given only with an image (the picture to start from)', request.strength);
    return undefined;
  }
  const { rgb, width: w, height: h } = request.initImage;
  if (!(rgb instanceof Uint8Array) || w !== width || h !== height || rgb.length !== w * h * 3) {
    throw new InvalidParameterError('image', `RGB bytes of the run's size ${width}×${height}`, rgb instanceof Uint8Array ? `${w}×${h}, ${rgb.length} bytes` : typeof rgb);
  }
  const strength = checkStrength('strength', request.strength ?? DEFAULTS.strength);
  strengthStart(steps, strength);
  return { rgb, width, height, strength };
}

/** Image i's seed: seed + i, modulo 2^32 (torch seeds use the low 32 bits). */
export function imageSeed(seed: number, index: number): number {
  return (seed + index) % 2 ** 32;
}
