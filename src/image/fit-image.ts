/**
 * Fitting an input picture to the size an image-to-image run generates, the same way in
 * the browser and in Node (so a picture gives the same pixels everywhere):
 *
 * - `cover` (default): scale to cover the target, centre-crop the overflow;
 * - `contain`: scale to fit inside the target, centre it on black (letterbox);
 * - `fill`: stretch to the target (aspect not kept; diffusers' default resize).
 *
 * The filter is Lanczos-3 as PIL's `Image.resize(..., LANCZOS)` defines it (the filter
 * diffusers' VaeImageProcessor uses): a separable windowed sinc, support 3 input pixels
 * widened by the downscale factor (antialiasing), weights normalised per output pixel,
 * sample centres at (i + ½)·scale. Both passes are computed in float and rounded to 8
 * bits once at the end (PIL rounds between passes too, so values may differ by a level).
 * A picture already at the target size is taken as it is. Alpha is dropped (as PIL's
 * `convert("RGB")`). No DOM or Node imports.
 */
import { LIMITS } from '../defaults.ts';

/** How a picture of another aspect ratio is fitted; see the file comment. */
export type ImageFit = 'cover' | 'contain' | 'fill';
export const IMAGE_FITS: readonly ImageFit[] = ['cover', 'contain', 'fill'];

/** 8-bit pixels, row-major: RGB (3 channels) or RGBA (4). */
export interface PixelImage {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}

/** RGB bytes of a picture, row-major, 3 per pixel. */
export interface RgbPixels {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** Lanczos-3: sinc(x)·sinc(x/3) for |x| < 3. */
function lanczos3(x: number): number {
  if (x === 0) return 1;
  if (x <= -3 || x >= 3) return 0;
  const px = Math.PI * x;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
}

/** PIL's per-output-pixel taps for resampling [from, to) of an axis onto `out` samples. */
function taps(inSize: number, from: number, to: number, out: number): { start: number; weights: Float64Array }[] {
  const scale = (to - from) / out;
  const filterScale = Math.max(scale, 1);
  const support = 3 * filterScale;
  const result: { start: number; weights: Float64Array }[] = [];
  for (let i = 0; i < out; i++) {
    const center = from + (i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const weights = new Float64Array(Math.max(xmax - xmin, 0));
    let sum = 0;
    for (let j = 0; j < weights.length; j++) {
      const w = lanczos3((j + xmin - center + 0.5) / filterScale);
      weights[j] = w;
      sum += w;
    }
    if (sum !== 0) for (let j = 0; j < weights.length; j++) weights[j] /= sum;
    result.push({ start: xmin, weights });
  }
  return result;
}

/** The RGB channels of `image` (alpha dropped). */
export function toRgb(image: PixelImage): RgbPixels {
  if (image.channels === 3) return { width: image.width, height: image.height, rgb: Uint8Array.from(image.data) };
  const rgb = new Uint8Array(image.width * image.height * 3);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    rgb[j] = image.data[i];
    rgb[j + 1] = image.data[i + 1];
    rgb[j + 2] = image.data[i + 2];
  }
  return { width: image.width, height: image.height, rgb };
}

/**
 * Resamples the box [x0, x1) × [y0, y1) (source pixels, may be fractional) of `src` to
 * width × height with Lanczos-3 (see the file comment).
 */
export function resampleLanczos(src: RgbPixels, box: { x0: number; y0: number; x1: number; y1: number }, width: number, height: number): RgbPixels {
  const xTaps = taps(src.width, box.x0, box.x1, width);
  const yTaps = taps(src.height, box.y0, box.y1, height);
  // Rows the vertical pass reads: only those, horizontally resampled, in float.
  const rowFrom = Math.min(...yTaps.map((t) => t.start));
  const rowTo = Math.max(...yTaps.map((t) => t.start + t.weights.length));
  const mid = new Float32Array((rowTo - rowFrom) * width * 3);
  for (let y = rowFrom; y < rowTo; y++) {
    const srcRow = y * src.width * 3;
    const midRow = (y - rowFrom) * width * 3;
    for (let x = 0; x < width; x++) {
      const { start, weights } = xTaps[x];
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < weights.length; k++) {
        const p = srcRow + (start + k) * 3;
        r += weights[k] * src.rgb[p];
        g += weights[k] * src.rgb[p + 1];
        b += weights[k] * src.rgb[p + 2];
      }
      mid[midRow + x * 3] = r;
      mid[midRow + x * 3 + 1] = g;
      mid[midRow + x * 3 + 2] = b;
    }
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const { start, weights } = yTaps[y];
    for (let x = 0; x < width * 3; x++) {
      let v = 0;
      for (let k = 0; k < weights.length; k++) v += weights[k] * mid[(start + k - rowFrom) * width * 3 + x];
      rgb[y * width * 3 + x] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return { width, height, rgb };
}

/**
 * Fits a picture to width × height (see the file comment for the three fits).
 * @returns RGB bytes at exactly width × height
 */
export function fitImage(image: PixelImage, width: number, height: number, fit: ImageFit): RgbPixels {
  const src = toRgb(image);
  if (src.width === width && src.height === height) return src;
  if (fit === 'fill') return resampleLanczos(src, { x0: 0, y0: 0, x1: src.width, y1: src.height }, width, height);
  if (fit === 'cover') {
    const scale = Math.max(width / src.width, height / src.height);
    const boxW = width / scale;
    const boxH = height / scale;
    const x0 = (src.width - boxW) / 2;
    const y0 = (src.height - boxH) / 2;
    return resampleLanczos(src, { x0, y0, x1: x0 + boxW, y1: y0 + boxH }, width, height);
  }
  // contain: letterbox on black
  const scale = Math.min(width / src.width, height / src.height);
  const innerW = Math.max(1, Math.min(width, Math.round(src.width * scale)));
  const innerH = Math.max(1, Math.min(height, Math.round(src.height * scale)));
  const inner = resampleLanczos(src, { x0: 0, y0: 0, x1: src.width, y1: src.height }, innerW, innerH);
  const rgb = new Uint8Array(width * height * 3);
  const left = Math.floor((width - innerW) / 2);
  const top = Math.floor((height - innerH) / 2);
  for (let y = 0; y < innerH; y++) rgb.set(inner.rgb.subarray(y * innerW * 3, (y + 1) * innerW * 3), ((top + y) * width + left) * 3);
  return { width, height, rgb };
}

/**
 * The size an image-to-image run generates when the caller gives none: the picture's own
 * size, scaled down (aspect kept) when a side exceeds `range.max`, or up when a side is
 * below `range.min`, then each side rounded down to a multiple of 16 and kept in range.
 * (Only an extreme aspect ratio makes the two sides' aspects differ; `fit` handles that.)
 */
export function defaultSizeForImage(imageWidth: number, imageHeight: number, range: { min: number; max: number } = LIMITS.webSize): { width: number; height: number } {
  let scale = Math.min(1, range.max / Math.max(imageWidth, imageHeight));
  if (Math.min(imageWidth, imageHeight) * scale < range.min) scale = range.min / Math.min(imageWidth, imageHeight);
  const side = (v: number) => {
    const m = LIMITS.sizeMultiple;
    return Math.min(Math.floor(range.max / m) * m, Math.max(Math.ceil(range.min / m) * m, Math.floor((v * scale + 1e-9) / m) * m));
  };
  return { width: side(imageWidth), height: side(imageHeight) };
}
