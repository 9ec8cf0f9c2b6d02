/**
 * Pictures as the library takes them for image-to-image (`generate({ image })`), decoded
 * to 8-bit RGBA pixels on the main thread or in a worker with the browser's own decoders
 * (`createImageBitmap`, `OffscreenCanvas`): a `Blob`/`File` (PNG, JPEG, WebP, …), an
 * `ImageBitmap`, an `ImageData` (or any `{ width, height, data }` with 4 bytes per pixel),
 * an `HTMLImageElement`, `HTMLCanvasElement` or `OffscreenCanvas`, or a URL (string or
 * `URL`, fetched with CORS). Colours are taken as decoded (`colorSpaceConversion: 'none'`,
 * alpha not premultiplied), as the Node CLI's decoders take them.
 */
import { AbortedError, InvalidParameterError } from '../errors.ts';
import type { PixelImage } from './fit-image.ts';

/** What `generate({ image })` accepts. */
export type ImageInput = Blob | ImageBitmap | ImageData | HTMLImageElement | HTMLCanvasElement | OffscreenCanvas | URL | string | { width: number; height: number; data: Uint8ClampedArray | Uint8Array };

const ALLOWED = 'a Blob or File (PNG, JPEG, WebP), ImageBitmap, ImageData, HTMLImageElement, HTMLCanvasElement, OffscreenCanvas or URL';

const has = (name: string) => typeof (globalThis as Record<string, unknown>)[name] === 'function';
const isInstance = (value: unknown, name: string) => has(name) && value instanceof ((globalThis as Record<string, unknown>)[name] as new () => unknown);

/** An ImageData-like value: `{ width, height, data }` with 4 bytes per pixel. */
function isPixelData(value: unknown): value is { width: number; height: number; data: Uint8ClampedArray | Uint8Array } {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { width?: unknown; height?: unknown; data?: unknown };
  return (
    Number.isInteger(v.width) &&
    Number.isInteger(v.height) &&
    (v.data instanceof Uint8ClampedArray || v.data instanceof Uint8Array) &&
    (v.data as Uint8Array).length === (v.width as number) * (v.height as number) * 4
  );
}

/**
 * Checks the type of an image input without decoding it.
 * @throws InvalidParameterError naming `field` and listing what is allowed
 */
export function checkImageInput(field: string, value: unknown): ImageInput {
  if (typeof value === 'string') {
    if (value.trim() === '') throw new InvalidParameterError(field, ALLOWED, value);
    return value;
  }
  if (value instanceof URL || isPixelData(value)) return value as ImageInput;
  for (const name of ['Blob', 'ImageBitmap', 'HTMLImageElement', 'HTMLCanvasElement', 'OffscreenCanvas']) if (isInstance(value, name)) return value as ImageInput;
  throw new InvalidParameterError(field, ALLOWED, value === null ? 'null' : typeof value === 'object' ? (value.constructor?.name ?? 'an object') : typeof value);
}

/** Draws a bitmap-like source and reads its RGBA pixels. */
function readPixels(source: CanvasImageSource, width: number, height: number): PixelImage {
  if (!(width > 0 && height > 0)) throw new InvalidParameterError('image', 'a picture with at least one pixel', `${width}×${height}`);
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true }) as OffscreenCanvasRenderingContext2D | null;
  if (!context) throw new InvalidParameterError('image', 'a picture this browser can draw (no 2D canvas here)', 'no canvas');
  context.drawImage(source, 0, 0);
  const { data } = context.getImageData(0, 0, width, height);
  return { width, height, channels: 4, data };
}

async function decodeBlob(blob: Blob, what: string): Promise<PixelImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch (error) {
    throw new InvalidParameterError('image', `${ALLOWED} that this browser can decode`, `${what} (${blob.type || 'unknown type'}, ${blob.size} bytes: ${(error as Error).message})`);
  }
  try {
    return readPixels(bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

/**
 * Decodes an image input to RGBA pixels.
 * @throws InvalidParameterError naming `image` when it cannot be fetched or decoded
 * @throws AbortedError when `signal` aborts while fetching
 */
export async function decodeImageInput(input: ImageInput, signal?: AbortSignal): Promise<PixelImage> {
  if (isPixelData(input)) return { width: input.width, height: input.height, channels: 4, data: input.data };
  if (typeof input === 'string' || input instanceof URL) {
    const url = new URL(String(input), (globalThis as { location?: { href: string } }).location?.href);
    let response: Response;
    try {
      response = await fetch(url, { signal });
    } catch (error) {
      if (signal?.aborted) throw new AbortedError();
      throw new InvalidParameterError('image', `a picture URL that can be fetched from this page (CORS) (${(error as Error).message})`, url.href);
    }
    if (!response.ok) throw new InvalidParameterError('image', `a picture URL that answers (HTTP ${response.status})`, url.href);
    return decodeBlob(await response.blob(), url.href);
  }
  if (isInstance(input, 'Blob')) return decodeBlob(input as Blob, 'the Blob');
  if (isInstance(input, 'HTMLImageElement')) {
    const img = input as HTMLImageElement;
    try {
      await img.decode();
    } catch {
      throw new InvalidParameterError('image', 'an <img> whose picture has loaded', img.currentSrc || img.src || 'an <img>');
    }
    const bitmap = await createImageBitmap(img, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
    try {
      return readPixels(bitmap, bitmap.width, bitmap.height);
    } finally {
      bitmap.close();
    }
  }
  const source = input as ImageBitmap | HTMLCanvasElement | OffscreenCanvas;
  return readPixels(source, source.width, source.height);
}
