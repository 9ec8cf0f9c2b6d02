/**
 * The image-to-image flags of `flux-webgpu generate`: `--image <file.png|jpg|webp>`,
 * `--strength S` (0 < S ≤ 1, default 0.8) and `--fit cover|contain|fill`. The picture must
 * already be --width × --height unless --fit says how to make it so; without --width /
 * --height the size is the picture's own (rounded down to a multiple of 16). Every bad
 * value is an InvalidParameterError naming its flag (the CLI exits with 2).
 */
import { LIMITS } from '../src/defaults.ts';
import { InvalidParameterError } from '../src/errors.ts';
import { defaultSizeForImage, fitImage, IMAGE_FITS, type ImageFit, type PixelImage } from '../src/image/fit-image.ts';
import type { RgbImage } from '../src/pipeline/image.ts';
import { checkFit, checkImageSide } from '../src/request.ts';
import { numberFlag } from './cli-request.ts';
import { readImageFile } from './image-files.ts';

/** The flags as parsed (strings, or undefined when absent). */
export interface ImageFlags {
  image?: string;
  strength?: string;
  fit?: string;
  width?: string;
  height?: string;
}

/** What the image flags give the request (checked with the rest by `requestFromFlags`). */
export interface CliImageRequest {
  /** The fitted picture at the run's size. */
  image: RgbImage;
  /** As given (its range and the strength rule are checked with the request). */
  strength?: number;
  fit?: ImageFit;
  /** How the picture was fitted ('as-is' when it already had the size). */
  fitted: ImageFit | 'as-is';
  /** The picture's own size. */
  source: { width: number; height: number };
}

function parseSide(flag: string, raw: string | undefined, fallback: number): number {
  return checkImageSide(flag, numberFlag(flag, raw) ?? fallback, LIMITS.cliSize);
}

/**
 * Reads --image (decoded and fitted to --width x --height, else kept at its own size
 * rounded down to a multiple of 16), --strength and --fit; undefined without --image.
 * @param usage throws the CLI's usage error (exit 2) with a message
 * @throws InvalidParameterError naming --image, --strength, --fit, --width or --height
 */
export function readImageFlags(flags: ImageFlags, usage: (message: string) => never): CliImageRequest | undefined {
  if (flags.image === undefined) {
    if (flags.strength !== undefined) usage('--strength needs --image (the picture to start from)');
    if (flags.fit !== undefined) usage('--fit needs --image (the picture to fit)');
    return undefined;
  }
  const strength = numberFlag('--strength', flags.strength);
  const fit = flags.fit === undefined ? undefined : checkFit('--fit', flags.fit);
  let picture: PixelImage;
  try {
    picture = readImageFile(flags.image);
  } catch (error) {
    throw new InvalidParameterError('--image', `a readable PNG, JPEG or WebP file (this one: ${(error as Error).message})`, flags.image, 'malformed');
  }
  const own = defaultSizeForImage(picture.width, picture.height, LIMITS.cliSize);
  const width = parseSide('--width', flags.width, own.width);
  const height = parseSide('--height', flags.height, own.height);
  const matches = picture.width === width && picture.height === height;
  if (!matches && fit === undefined) {
    throw new InvalidParameterError('--image', `a picture of exactly ${width}x${height} (--width x --height), or add --fit ${IMAGE_FITS.join('|')} to resize it`, `${picture.width}x${picture.height}`, 'out-of-range');
  }
  const { rgb } = fitImage(picture, width, height, fit ?? 'fill');
  return { image: { rgb, width, height }, strength, fit, fitted: matches ? 'as-is' : fit!, source: { width: picture.width, height: picture.height } };
}
