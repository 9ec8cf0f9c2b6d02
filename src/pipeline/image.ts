/** Turns the VAE's output into pixels, and pixels into PNG bytes. No Node imports. */
import { encode as encodePngRaw } from 'fast-png';

/** An 8-bit RGB image, row-major, 3 bytes per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/**
 * VAE output [1,3,H,W] in [-1,1] → RGB bytes: round(clamp(x/2 + 0.5, 0, 1)·255), as
 * diffusers' image processor does.
 */
export function vaeOutputToRgb(vaeOut: Float32Array, height: number, width: number): RgbImage {
  const plane = height * width;
  const rgb = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < plane; i++) {
      const v = Math.min(1, Math.max(0, Math.fround(Math.fround(vaeOut[c * plane + i] / 2) + 0.5)));
      rgb[i * 3 + c] = Math.round(Math.fround(v * 255));
    }
  return { width, height, rgb };
}

/** RGB → RGBA (alpha 255), the layout canvases and image codecs take. */
export function rgbToRgba(image: RgbImage): Uint8ClampedArray {
  const rgba = new Uint8ClampedArray(image.width * image.height * 4);
  for (let i = 0, j = 0; i < image.rgb.length; i += 3, j += 4) {
    rgba[j] = image.rgb[i];
    rgba[j + 1] = image.rgb[i + 1];
    rgba[j + 2] = image.rgb[i + 2];
    rgba[j + 3] = 255;
  }
  return rgba;
}

/** Encodes an RGB image as PNG bytes (pure JS, works in Node and in workers). */
export function encodePng(image: RgbImage): Uint8Array {
  return encodePngRaw({ width: image.width, height: image.height, data: image.rgb, channels: 3, depth: 8 });
}
