/**
 * diffusers' `tiled_encode` (src/pipeline/vae-encode.ts) with a local stand-in encoder
 * (each latent is the mean of its own 8×8 pixel block, so tiling must not change it):
 * the tiled result equals the whole-image result for tiles of 32–64 px over pictures whose
 * sides are not multiples of the tile (edge tiles smaller), and a tile covering the
 * picture calls the encoder once.
 */
import { describe, expect, it } from 'vitest';
import { encodeTileGeometry, tiledEncode, type EncodeFn } from '../src/pipeline/vae-encode.ts';
import { maxAbsDiff } from './support/compare.ts';

/** Moments [2, H/8, W/8]: the block mean of channel 0 and of channel 2. */
const blockMeans: EncodeFn = async (pixels, height, width) => {
  const h = height / 8;
  const w = width / 8;
  const data = new Float32Array(2 * h * w);
  for (const [out, channel] of [[0, 0], [1, 2]] as const)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let sum = 0;
        for (let dy = 0; dy < 8; dy++) for (let dx = 0; dx < 8; dx++) sum += pixels[(channel * height + y * 8 + dy) * width + x * 8 + dx];
        data[(out * h + y) * w + x] = sum / 64;
      }
  return { data, channels: 2, height: h, width: w };
};

function picture(height: number, width: number): Float32Array {
  const pixels = new Float32Array(3 * height * width);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.sin(i * 0.37) * Math.cos(i * 0.011);
  return pixels;
}

describe('tiledEncode', () => {
  it('has diffusers geometry: stride 3/4 of the tile, blend 1/4 of the latent tile', () => {
    expect(encodeTileGeometry(32)).toEqual({ tilePx: 32, stridePx: 24, tileLatent: 4, blendExtent: 1, rowLimit: 3 });
    expect(encodeTileGeometry(512)).toEqual({ tilePx: 512, stridePx: 384, tileLatent: 64, blendExtent: 16, rowLimit: 48 });
    expect(() => encodeTileGeometry(20)).toThrow(/tilePx must be/);
  });

  for (const [height, width, tile] of [[48, 80, 32], [64, 64, 32], [96, 40, 64]] as const) {
    it(`${width}x${height} in ${tile} px tiles equals the whole-image encode`, async () => {
      const pixels = picture(height, width);
      let calls = 0;
      const counted: EncodeFn = (p, h, w) => {
        calls++;
        return blockMeans(p, h, w);
      };
      const whole = await blockMeans(pixels, height, width);
      const tiled = await tiledEncode(counted, pixels, 3, height, width, tile);
      expect([tiled.channels, tiled.height, tiled.width]).toEqual([2, height / 8, width / 8]);
      expect(calls).toBeGreaterThan(1);
      expect(maxAbsDiff(tiled.data, whole.data)).toBeLessThan(1e-6);
    });
  }

  it('a tile covering the picture is one encode', async () => {
    let calls = 0;
    const pixels = picture(32, 32);
    const tiled = await tiledEncode((p, h, w) => (calls++, blockMeans(p, h, w)), pixels, 3, 32, 32, 64);
    expect(calls).toBe(1);
    expect(Array.from(tiled.data)).toEqual(Array.from((await blockMeans(pixels, 32, 32)).data));
  });
});
