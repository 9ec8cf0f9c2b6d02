/**
 * Turns a request's picture (`image` as a Blob, URL, canvas, … with `fit` and the optional
 * `width`/`height`) into the picture a run starts from: decoded, sized (the caller's size,
 * else the picture's own rounded down to a multiple of 16 within the allowed range) and
 * fitted (see fit-image.ts), as RGB bytes. Runs where the request enters (the page or a
 * worker), before `validateRequest` (src/request.ts) checks the request once: only RGB
 * bytes cross to the engine or reach a provider.
 */
import { DEFAULTS, LIMITS } from '../defaults.ts';
import type { RgbImage } from '../pipeline/image.ts';
import { checkCallOptions, checkFit, checkImageSide, isRgbImage, type RequestRules } from '../request.ts';
import { defaultSizeForImage, fitImage } from './fit-image.ts';
import { checkImageInput, decodeImageInput } from './image-input.ts';

/**
 * `params` with its picture decoded and fitted (`image` as RGB bytes, `width`/`height`
 * set); `params` itself when it has no picture or one already decoded. Everything else is
 * left to `validateRequest`.
 * @param rules the size rule the request will be checked under ('provider' fits within the CLI's range)
 * @throws InvalidParameterError naming `image`, `fit`, `width` or `height`
 */
export async function withDecodedImage<T>(params: T, rules: RequestRules = {}, signal?: AbortSignal): Promise<T> {
  if (typeof params !== 'object' || params === null) return params;
  const fields = params as { image?: unknown; fit?: unknown; width?: unknown; height?: unknown };
  if (fields.image === undefined || isRgbImage(fields.image)) return params;
  checkCallOptions({ signal });
  const image = await decodeFitted(fields, rules.sizes === 'web' || rules.sizes === undefined ? LIMITS.webSize : LIMITS.cliSize, signal);
  return { ...params, image, width: image.width, height: image.height };
}

/**
 * Decodes, sizes and fits a picture.
 * @param sizeRange the sizes allowed (the web API's or the wider one for test packages)
 * @throws InvalidParameterError naming `image`, `fit`, `width` or `height`
 */
export async function decodeFitted(fields: { image?: unknown; fit?: unknown; width?: unknown; height?: unknown }, sizeRange: { min: number; max: number }, signal?: AbortSignal): Promise<RgbImage> {
  const input = checkImageInput('image', fields.image);
  const fit = checkFit('fit', fields.fit ?? DEFAULTS.imageFit);
  const pixels = await decodeImageInput(input, signal);
  const own = defaultSizeForImage(pixels.width, pixels.height, sizeRange);
  const width = checkImageSide('width', fields.width ?? own.width, sizeRange);
  const height = checkImageSide('height', fields.height ?? own.height, sizeRange);
  const { rgb } = fitImage(pixels, width, height, fit);
  return { rgb, width, height };
}
