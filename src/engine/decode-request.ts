/**
 * Validation of a `decodeLatents` request (see `EngineDecodeRequest`): every bad field is
 * an InvalidParameterError naming it. Runs before anything is downloaded.
 */
import type { OutputFormat } from '../api-types.ts';
import { DEFAULTS } from '../defaults.ts';
import { InvalidParameterError } from '../errors.ts';
import { checkTilePx } from '../pipeline/vae-tiling.ts';
import { OUTPUT_FORMATS } from '../request.ts';
import type { EngineDecodeRequest } from './protocol.ts';

/** A decode request with every field checked and defaulted. */
export interface ValidDecodeRequest {
  latents: Float32Array;
  latentHeight: number;
  latentWidth: number;
  /** undefined: choose from the GPU's limits. */
  tilePx?: number | null;
  outputFormat: OutputFormat;
  quality?: number;
  keepOutput: boolean;
}

/**
 * Checks and defaults a decode request.
 * @throws InvalidParameterError naming the field
 */
export function validateDecodeRequest(request: EngineDecodeRequest): ValidDecodeRequest {
  const { latents, latentHeight, latentWidth } = request;
  for (const [field, value] of [['latentHeight', latentHeight], ['latentWidth', latentWidth]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 512) throw new InvalidParameterError(field, 'an integer from 1 to 512 (latents: pixels / 8)', value, typeof value === 'number' ? 'out-of-range' : 'wrong-type');
  }
  if (!(latents instanceof Float32Array) || latents.length === 0 || latents.length % (latentHeight * latentWidth) !== 0) {
    throw new InvalidParameterError('latents', `a Float32Array of [1, channels, ${latentHeight}, ${latentWidth}] values`, latents instanceof Float32Array ? `${latents.length} values` : typeof latents, latents instanceof Float32Array ? 'out-of-range' : 'wrong-type');
  }
  const tilePx = request.tilePx === undefined || request.tilePx === null ? request.tilePx : checkTilePx('tilePx', request.tilePx);
  const outputFormat = request.outputFormat ?? DEFAULTS.outputFormat;
  if (!OUTPUT_FORMATS.includes(outputFormat)) throw new InvalidParameterError('outputFormat', `one of ${OUTPUT_FORMATS.join(', ')}`, outputFormat, 'not-one-of');
  if (request.quality !== undefined && !(typeof request.quality === 'number' && request.quality >= 0 && request.quality <= 1)) {
    throw new InvalidParameterError('quality', 'a number from 0 to 1', request.quality);
  }
  return { latents, latentHeight, latentWidth, tilePx, outputFormat, quality: request.quality, keepOutput: request.keepOutput === true };
}
