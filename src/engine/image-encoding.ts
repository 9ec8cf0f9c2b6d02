/**
 * RGB pixels → an image file (PNG, JPEG or WebP) with `OffscreenCanvas.convertToBlob`,
 * which works inside workers. PNG is lossless: the bytes decode to exactly the pixels.
 */
import type { OutputFormat } from '../api-types.ts';
import { InvalidParameterError } from '../errors.ts';
import { encodePng, rgbToRgba, type RgbImage } from '../pipeline/image.ts';

const MIME: Record<OutputFormat, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

/**
 * Encodes an image.
 * @param quality 0–1 for jpeg/webp (ignored for png)
 */
export async function encodeImage(image: RgbImage, format: OutputFormat, quality?: number): Promise<Blob> {
  const type = MIME[format];
  if (typeof OffscreenCanvas === 'undefined') {
    if (format === 'png') return new Blob([encodePng(image) as Uint8Array<ArrayBuffer>], { type });
    throw new InvalidParameterError('outputFormat', 'png where OffscreenCanvas is not available', format);
  }
  const canvas = new OffscreenCanvas(image.width, image.height);
  const context = canvas.getContext('2d', { colorSpace: 'srgb' }) as OffscreenCanvasRenderingContext2D | null;
  if (!context) throw new Error('cannot encode the image: no 2d context on OffscreenCanvas');
  context.putImageData(new ImageData(rgbToRgba(image) as Uint8ClampedArray<ArrayBuffer>, image.width, image.height), 0, 0);
  const blob = await canvas.convertToBlob({ type, quality });
  // A browser without an encoder for the type silently returns PNG: say so instead.
  if (blob.type !== type) {
    if (format === 'png') return new Blob([encodePng(image) as Uint8Array<ArrayBuffer>], { type });
    throw new InvalidParameterError('outputFormat', `a format this browser can encode (it produced ${blob.type || 'nothing'} for ${type}; png always works)`, format);
  }
  return blob;
}
