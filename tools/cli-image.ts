/**
 * The image-to-image flags of `flux-webgpu generate`: `--image <file.png|jpg|webp>`,
 * `--strength S` (0 < S ≤ 1, default 0.8) and `--fit cover|contain|fill`. The picture must
 * already be --width × --height unless --fit says how to make it so; without --width /
 * --height the size is the picture's own (rounded down to a multiple of 16). Every bad
 * value is an InvalidParameterError naming its flag (the CLI exits with 2).
 */
import { DEFAULTS, LIMITS } from '../src/defaults.ts';
import { InvalidParameterError } from '../src/errors.ts';
import { checkFit, checkStrength, defaultSizeForImage, fitImage, IMAGE_FITS, type ImageFit, type PixelImage } from '../src/image/fit-image.ts';
import type { InitImage } from '../src/pipeline/init-image.ts';
import { checkImageSide } from '../src/params.ts';
import { readImageFile } from './image-files.ts';

/** The flags as parsed (strings, or undefined when absent). */
export interface ImageFlags {
  image?: string;
  strength?: string;
  fit?: string;
  width?: string;
  height?: string;
}

/** What the flags ask for: the run's size and, with --image, the fitted picture. */
export interface CliImageRequest {
  width: number;
  height: number;
  init?: InitImage;
  /** How the picture was fitted ('as-is' when it already had the size). */
  fitted?: ImageFit | 'as-is';
  /** The picture's own size. */
  source?: { width: number; height: number };
}

function parseStrength(raw: string | undefined): number {
  if (raw === undefined) return DEFAULTS.strength;
  if (!/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(raw)) throw new InvalidParameterError('--strength', 'a number greater than 0 and at most 1', raw);
  return checkStrength('--strength', Number(raw));
}

function parseSide(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return checkImageSide(flag, fallback);
  if (!/^-?\d+$/.test(raw.trim())) throw new InvalidParameterError(flag, 'an integer', raw);
  return checkImageSide(flag, Number(raw));
}

/**
 * Reads the size and image-to-image flags.
 * @param usage throws the CLI's usage error (exit 2) with a message
 * @throws InvalidParameterError naming --image, --strength, --fit, --width or --height
 */
export function readImageFlags(flags: ImageFlags, usage: (message: string) => never): CliImageRequest {
  if (flags.image === undefined) {
    if (flags.strength !== undefined) usage('--strength needs --image (the picture to start from)');
    if (flags.fit !== undefined) usage('--fit needs --image (the picture to fit)');
    return { width: parseSide('--width', flags.width, DEFAULTS.width), height: parseSide('--height', flags.height, DEFAULTS.height) };
  }
  const strength = parseStrength(flags.strength);
  const fit = flags.fit === undefined ? undefined : checkFit('--fit', flags.fit);
  let picture: PixelImage;
  try {
    picture = readImageFile(flags.image);
  } catch (error) {
    throw new InvalidParameterError('--image', `a readable PNG, JPEG or WebP file (this one: ${(error as Error).message})`, flags.image);
  }
  const own = defaultSizeForImage(picture.width, picture.height, LIMITS.cliSize);
  const width = parseSide('--width', flags.width, own.width);
  const height = parseSide('--height', flags.height, own.height);
  const matches = picture.width === width && picture.height === height;
  if (!matches && fit === undefined) {
    throw new InvalidParameterError('--image', `a picture of exactly ${width}x${height} (--width x --height), or add --fit ${IMAGE_FITS.join('|')} to resize it`, `${picture.width}x${picture.height}`);
  }
  const rgb = fitImage(picture, width, height, fit ?? 'fill');
  return { width, height, init: { rgb: rgb.rgb, width, height, strength }, fitted: matches ? 'as-is' : fit, source: { width: picture.width, height: picture.height } };
}
