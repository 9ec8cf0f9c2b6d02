/**
 * Reading input pictures in Node (the CLI's `--image`): PNG (fast-png), JPEG (jpeg-js)
 * and WebP (@cwasm/webp, libwebp compiled to WebAssembly; no native addon). The format is
 * told by the file's first bytes, not its name. 16-bit PNGs keep their high byte;
 * grey, grey+alpha and palette PNGs become RGB(A).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { convertIndexedToRgb, decode as decodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import type { PixelImage } from '../src/image/fit-image.ts';

const require = createRequire(import.meta.url);

/** Which of the readable formats `bytes` starts like, if any. */
export function sniffImageFormat(bytes: Uint8Array): 'png' | 'jpeg' | 'webp' | undefined {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes.length >= 8 && bytes[0] === 0x89 && ascii(1, 4) === 'PNG') return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  return undefined;
}

/** A decoded PNG as 8-bit RGB or RGBA. */
function pngPixels(bytes: Uint8Array): PixelImage {
  const png = decodePng(bytes);
  if (png.palette) {
    const data = convertIndexedToRgb(png);
    return { width: png.width, height: png.height, channels: data.length === png.width * png.height * 4 ? 4 : 3, data };
  }
  const n = png.width * png.height;
  const at = (i: number) => (png.depth === 16 ? png.data[i] >> 8 : png.depth < 8 ? Math.round((png.data[i] * 255) / (2 ** png.depth - 1)) : png.data[i]);
  const channels = png.channels;
  const hasAlpha = channels === 2 || channels === 4;
  const out = new Uint8Array(n * (hasAlpha ? 4 : 3));
  const stride = hasAlpha ? 4 : 3;
  for (let p = 0; p < n; p++) {
    if (channels <= 2) {
      const grey = at(p * channels);
      out[p * stride] = out[p * stride + 1] = out[p * stride + 2] = grey;
      if (hasAlpha) out[p * stride + 3] = at(p * channels + 1);
    } else {
      for (let c = 0; c < channels; c++) out[p * stride + c] = at(p * channels + c);
    }
  }
  return { width: png.width, height: png.height, channels: hasAlpha ? 4 : 3, data: out };
}

/**
 * Decodes a PNG, JPEG or WebP picture.
 * @throws Error saying what is wrong (not one of those formats, or a broken file)
 */
export function decodeImageBytes(bytes: Uint8Array): PixelImage {
  const format = sniffImageFormat(bytes);
  if (format === 'png') return pngPixels(bytes);
  if (format === 'jpeg') {
    const decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048 });
    return { width: decoded.width, height: decoded.height, channels: 3, data: decoded.data };
  }
  if (format === 'webp') {
    const { decode } = require('@cwasm/webp') as { decode(bytes: Uint8Array): { width: number; height: number; data: Uint8ClampedArray } };
    const decoded = decode(bytes);
    return { width: decoded.width, height: decoded.height, channels: 4, data: decoded.data };
  }
  throw new Error('not a PNG, JPEG or WebP file');
}

/**
 * Reads and decodes a picture file.
 * @throws Error naming the problem (unreadable file, unknown format, broken data)
 */
export function readImageFile(path: string): PixelImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    const image = decodeImageBytes(bytes);
    if (!(image.width > 0 && image.height > 0)) throw new Error('it has no pixels');
    return image;
  } catch (error) {
    throw new Error(`cannot decode it: ${(error as Error).message}`);
  }
}
