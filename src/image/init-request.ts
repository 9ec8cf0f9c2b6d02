/**
 * Turns the image-to-image fields of a request (`image`, `strength`, `fit`, and the
 * optional `width`/`height`) into the picture a run starts from: decoded, sized (the
 * caller's size, else the picture's own rounded down to a multiple of 16 within the
 * allowed range) and fitted (see fit-image.ts). Runs where the request enters (the page
 * or a worker), so only RGB bytes cross to the engine.
 */
import { DEFAULTS } from '../defaults.ts';
import { InvalidParameterError } from '../errors.ts';
import { checkImageSide } from '../params.ts';
import { checkFit, checkStrength, defaultSizeForImage, fitImage, type ImageFit } from './fit-image.ts';
import { checkImageInput, decodeImageInput, type ImageInput } from './image-input.ts';

/** The request fields this reads. */
export interface ImageRequestFields {
  image?: ImageInput;
  strength?: number;
  fit?: ImageFit;
  width?: number;
  height?: number;
}

/** A picture ready for the engine. */
export interface PreparedInitImage {
  /** The run's size in pixels. */
  width: number;
  height: number;
  /** RGB bytes at width × height. */
  rgb: Uint8Array;
  /** In (0, 1]. */
  strength: number;
  fit: ImageFit;
  /** The picture's own size. */
  source: { width: number; height: number };
}

/**
 * The engine-side fields of a request: its size (from the picture when it has one and no
 * size was given), the picture's RGB bytes and the strength.
 * @throws InvalidParameterError naming `image`, `strength`, `fit`, `width` or `height`
 */
export async function imageRequestFields(
  fields: ImageRequestFields,
  sizeRange: { min: number; max: number },
  signal?: AbortSignal,
): Promise<{ width?: number; height?: number; initImage?: { rgb: Uint8Array; width: number; height: number }; strength?: number }> {
  checkImageFields(fields);
  if (fields.image === undefined) return { width: fields.width, height: fields.height };
  const prepared = await prepareInitImage({ ...fields, image: fields.image }, sizeRange, signal);
  return { width: prepared.width, height: prepared.height, initImage: { rgb: prepared.rgb, width: prepared.width, height: prepared.height }, strength: prepared.strength };
}

/**
 * Checks `strength` and `fit` (and that they come with an image) without decoding anything.
 * @throws InvalidParameterError naming the field
 */
export function checkImageFields(fields: ImageRequestFields): void {
  if (fields.image === undefined) {
    if (fields.strength !== undefined) throw new InvalidParameterError('strength', 'given only with an image (the picture to start from)', fields.strength);
    if (fields.fit !== undefined) throw new InvalidParameterError('fit', 'given only with an image (the picture to fit)', fields.fit);
    return;
  }
  checkImageInput('image', fields.image);
  if (fields.strength !== undefined) checkStrength('strength', fields.strength);
  checkFit('fit', fields.fit);
}

/**
 * Decodes, sizes and fits the request's picture.
 * @param sizeRange the sizes allowed (the web API's or the wider one for test packages)
 * @throws InvalidParameterError naming `image`, `strength`, `fit`, `width` or `height`
 */
export async function prepareInitImage(fields: ImageRequestFields & { image: ImageInput }, sizeRange: { min: number; max: number }, signal?: AbortSignal): Promise<PreparedInitImage> {
  checkImageFields(fields);
  const strength = fields.strength ?? DEFAULTS.strength;
  const fit = checkFit('fit', fields.fit);
  const pixels = await decodeImageInput(fields.image, signal);
  const own = defaultSizeForImage(pixels.width, pixels.height, sizeRange);
  const width = checkImageSide('width', fields.width ?? own.width, sizeRange);
  const height = checkImageSide('height', fields.height ?? own.height, sizeRange);
  const { rgb } = fitImage(pixels, width, height, fit);
  return { width, height, rgb, strength, fit, source: { width: pixels.width, height: pixels.height } };
}
