/**
 * Validation of a generation request as the web API defines it (see defaults.ts): every
 * out-of-range field is an InvalidParameterError naming it and its range; nothing is
 * silently clamped. Runs before anything is downloaded.
 */
import type { OutputFormat, PromptEmbeddings } from '../api-types.ts';
import { DEFAULTS, FAMILY_DEFAULTS, LIMITS } from '../defaults.ts';
import { InvalidParameterError } from '../errors.ts';
import { FAMILY_NAMES, type ModelFamily } from '../models/family.ts';
import { checkGuidance, checkImageSide, checkPrompt, checkSeed, checkSteps, randomSeed } from '../params.ts';
import type { EngineGenerateRequest } from './protocol.ts';

const FORMATS: readonly OutputFormat[] = ['png', 'jpeg', 'webp'];

/** A request with every field checked and defaulted. */
export interface ValidRequest {
  prompt?: string;
  promptEmbeddings?: PromptEmbeddings;
  width: number;
  height: number;
  /** As given (1–50), or undefined: the model's default (see `resolveForFamily`). */
  steps?: number;
  /** As given (1.5–5), or undefined: 3.5 for guidance-distilled models, none for [schnell]. */
  guidance?: number;
  /** The first image's seed (given or drawn). */
  seed: number;
  numImages: number;
  outputFormat: OutputFormat;
  quality?: number;
  warnings: string[];
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
  const steps = request.steps === undefined ? undefined : checkSteps('steps', request.steps);
  const guidance = request.guidance === undefined ? undefined : checkGuidance('guidance', request.guidance);
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
  return { prompt, promptEmbeddings, width, height, steps, guidance, seed, numImages, outputFormat, quality: request.quality, warnings };
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
 * [schnell]) and refuses what the model cannot take.
 * @param modelId for messages
 * @throws InvalidParameterError for a guidance with a [schnell] package (it has no guidance input)
 */
export function resolveForFamily(valid: Pick<ValidRequest, 'steps' | 'guidance'>, family: ModelFamily, modelId: string): FamilyParams {
  const defaults = FAMILY_DEFAULTS[family];
  const warnings: string[] = [];
  if (family === 'schnell' && valid.guidance !== undefined) {
    throw new InvalidParameterError('guidance', `absent for ${modelId}: ${FAMILY_NAMES.schnell} is not guidance-distilled (guidance ${LIMITS.guidance.min}-${LIMITS.guidance.max} applies to ${FAMILY_NAMES.dev})`, valid.guidance);
  }
  const steps = valid.steps ?? defaults.steps;
  if (steps > defaults.recommendedMaxSteps) {
    warnings.push(`${FAMILY_NAMES[family]} is distilled for 1-${defaults.recommendedMaxSteps} steps; ${steps} steps cost more and rarely help.`);
  }
  return { steps, guidance: family === 'dev' ? (valid.guidance ?? FAMILY_DEFAULTS.dev.guidance) : undefined, warnings };
}
