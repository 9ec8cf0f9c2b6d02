/**
 * Tiled VAE decode (diffusers `AutoencoderKL.tiled_decode`): the golden tiled runs of
 * tiny-flux-a on onnxruntime-node, a literal transliteration of diffusers' loops as the
 * reference for tile sizes the goldens do not cover (not dividing the image, larger than
 * it, not a multiple of 32), and the automatic tile choice from buffer limits and budgets.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceCapabilityError, InvalidParameterError } from '../src/errors.ts';
import { decodeLatents } from '../src/pipeline/vae-decode.ts';
import {
  checkTilePx,
  chooseVaeTile,
  tiledDecode,
  tiledOutputSize,
  vaeActivationBytes,
  vaeTileGeometry,
  type DecodedPlanes,
  type DecodeFn,
} from '../src/pipeline/vae-tiling.ts';
import { convertCheckpoint } from '../tools/convert/convert-local.ts';
import { FLUX_SCHNELL_VAE } from '../src/convert/flux-schnell-configs.ts';
import { openNodeRuntime, type NodeModelRuntime } from '../tools/node-runtime.ts';
import { relativeL2 } from './support/compare.ts';
import { goldenTensors, TINY_FLUX_A } from './support/golden.ts';

interface TiledRun {
  name: string;
  latent_height: number;
  latent_width: number;
  tile_sample_min_size: number;
  tile_latent_min_size: number;
  tile_overlap_factor: number;
}
const TILED_RUNS: TiledRun[] = JSON.parse(readFileSync(join(TINY_FLUX_A, 'golden.json'), 'utf8')).tiled_decode_runs;

/**
 * diffusers v0.32 `tiled_decode`, line by line: decode every tile first, then blend each in
 * place with the (already blended) tile above and to the left, crop, concatenate.
 */
async function diffusersTiledDecode(decode: DecodeFn, z: Float32Array, C: number, H: number, W: number, tileSample: number): Promise<DecodedPlanes> {
  const tileLatent = tileSample / 8;
  const overlapSize = Math.trunc(tileLatent * (1 - 0.25));
  const blendExtent = Math.trunc(tileSample * 0.25);
  const rowLimit = tileSample - blendExtent;
  const slice = (i: number, j: number, h: number, w: number) => {
    const out = new Float32Array(C * h * w);
    for (let c = 0; c < C; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(c * h + y) * w + x] = z[(c * H + i + y) * W + j + x];
    return out;
  };
  const at = (t: DecodedPlanes, c: number, y: number, x: number) => (c * t.height + y) * t.width + x;
  const blendV = (a: DecodedPlanes, b: DecodedPlanes, extent: number) => {
    const e = Math.min(a.height, b.height, extent);
    for (let y = 0; y < e; y++)
      for (let c = 0; c < b.channels; c++)
        for (let x = 0; x < b.width; x++) {
          b.data[at(b, c, y, x)] = Math.fround(a.data[at(a, c, a.height - e + y, x)] * Math.fround(1 - y / e)) + Math.fround(b.data[at(b, c, y, x)] * Math.fround(y / e));
        }
    return b;
  };
  const blendH = (a: DecodedPlanes, b: DecodedPlanes, extent: number) => {
    const e = Math.min(a.width, b.width, extent);
    for (let x = 0; x < e; x++)
      for (let c = 0; c < b.channels; c++)
        for (let y = 0; y < b.height; y++) {
          b.data[at(b, c, y, x)] = Math.fround(a.data[at(a, c, y, a.width - e + x)] * Math.fround(1 - x / e)) + Math.fround(b.data[at(b, c, y, x)] * Math.fround(x / e));
        }
    return b;
  };
  const rows: DecodedPlanes[][] = [];
  for (let i = 0; i < H; i += overlapSize) {
    const row: DecodedPlanes[] = [];
    for (let j = 0; j < W; j += overlapSize) {
      const h = Math.min(tileLatent, H - i);
      const w = Math.min(tileLatent, W - j);
      row.push(await decode(slice(i, j, h, w), h, w));
    }
    rows.push(row);
  }
  const resultRows: DecodedPlanes[][] = [];
  for (const [i, row] of rows.entries()) {
    const resultRow: DecodedPlanes[] = [];
    for (let [j, tile] of row.entries()) {
      if (i > 0) tile = blendV(rows[i - 1][j], tile, blendExtent);
      if (j > 0) tile = blendH(row[j - 1], tile, blendExtent);
      resultRow.push(tile);
    }
    resultRows.push(resultRow);
  }
  // torch.cat of tile[:, :, :row_limit, :row_limit] along width, then the rows along height.
  const heights = resultRows.map((r) => Math.min(r[0].height, rowLimit));
  const widths = resultRows[0].map((t) => Math.min(t.width, rowLimit));
  const outH = heights.reduce((a, b) => a + b, 0);
  const outW = widths.reduce((a, b) => a + b, 0);
  const channels = resultRows[0][0].channels;
  const out = new Float32Array(channels * outH * outW);
  let top = 0;
  for (const [i, row] of resultRows.entries()) {
    let left = 0;
    for (const [j, tile] of row.entries()) {
      for (let c = 0; c < channels; c++) for (let y = 0; y < heights[i]; y++) for (let x = 0; x < widths[j]; x++) out[(c * outH + top + y) * outW + left + x] = tile.data[at(tile, c, y, x)];
      left += widths[j];
    }
    top += heights[i];
  }
  return { data: out, channels, height: outH, width: outW };
}

/**
 * A cheap stand-in decoder with what makes tiling visible: ×8 upsampling, a per-channel
 * mix, a term that depends on the position inside the tile and one on the tile's mean.
 */
const syntheticDecode: DecodeFn = async (latents, h, w) => {
  const C = latents.length / (h * w);
  let mean = 0;
  for (const v of latents) mean += v;
  mean /= latents.length;
  const H = 8 * h;
  const W = 8 * w;
  const data = new Float32Array(3 * H * W);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        let v = 0;
        for (let k = 0; k < C; k++) v += latents[(k * h + (y >> 3)) * w + (x >> 3)] * Math.sin(1 + c * 7 + k);
        data[(c * H + y) * W + x] = v + Math.cos(0.37 * y + 0.11 * x + c) + mean;
      }
  return { data, channels: 3, height: H, width: W };
};

function randomLatents(C: number, h: number, w: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: C * h * w }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

describe('tiled decode geometry and blending', () => {
  it('derives overlap, blend and row limit as diffusers does', () => {
    expect(vaeTileGeometry(32)).toEqual({ tilePx: 32, tileLatent: 4, stride: 3, blendExtent: 8, rowLimit: 24 });
    expect(vaeTileGeometry(1024)).toEqual({ tilePx: 1024, tileLatent: 128, stride: 96, blendExtent: 256, rowLimit: 768 });
    // 40 px: int(5 · 0.75) = 3 latents of stride but 30 px kept per tile, so the output grows (as in diffusers).
    expect(vaeTileGeometry(40)).toEqual({ tilePx: 40, tileLatent: 5, stride: 3, blendExtent: 10, rowLimit: 30 });
    expect(tiledOutputSize(8, vaeTileGeometry(40))).toBe(30 + 30 + 16);
    for (const tile of [32, 64, 96, 128, 1024]) for (const h of [1, 5, 8, 12, 13, 64, 90, 128, 180]) expect(tiledOutputSize(h, vaeTileGeometry(tile))).toBe(8 * h);
  });

  it('rejects tile sizes that are not a multiple of 8 or below 32, naming the field', () => {
    for (const bad of [0, -8, 8, 24, 30, 33, 36.5, Number.NaN, '64']) expect(() => checkTilePx('tilePx', bad)).toThrow(InvalidParameterError);
    expect(() => checkTilePx('--tile-px', 30)).toThrow(/--tile-px must be an integer multiple of 8, at least 32/);
    expect(checkTilePx('tilePx', 40)).toBe(40);
  });

  it('equals the literal diffusers loops for tiles that divide, do not divide, exceed the image or are not multiples of 32', async () => {
    const cases: [number, number, number][] = [
      [8, 8, 32], [6, 14, 32], [12, 12, 64], [13, 7, 32], [9, 17, 48], [10, 10, 40], [7, 11, 56],
      [12, 12, 96], [14, 9, 128], [5, 5, 256], [16, 3, 72], [3, 16, 32], [1, 9, 32],
    ];
    for (const [h, w, tile] of cases) {
      const z = randomLatents(4, h, w, h * 100 + w + tile);
      const ours = await tiledDecode(syntheticDecode, z, 4, h, w, tile);
      const reference = await diffusersTiledDecode(syntheticDecode, z, 4, h, w, tile);
      expect([ours.height, ours.width], `${h}x${w} tile ${tile}`).toEqual([reference.height, reference.width]);
      expect([ours.height, ours.width]).toEqual([tiledOutputSize(h, vaeTileGeometry(tile)), tiledOutputSize(w, vaeTileGeometry(tile))]);
      expect(ours.data, `${h}x${w} tile ${tile}`).toEqual(reference.data);
    }
  });

  it('decodes a tile that covers the image (h, w ≤ overlap) exactly like the whole image', async () => {
    const z = randomLatents(4, 9, 6, 3);
    const whole = await syntheticDecode(z, 9, 6);
    const tiled = await tiledDecode(syntheticDecode, z, 4, 9, 6, 96); // 12 latents, stride 9: one tile
    expect(tiled.data).toEqual(whole.data);
  });
});

describe('tiled decode with the tiny-flux-a VAE (onnxruntime-node, fp32)', () => {
  let dir: string;
  let runtime: NodeModelRuntime;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flux-vae-tiling-'));
    await convertCheckpoint({ checkpoint: TINY_FLUX_A, out: join(dir, 'pkg'), weights: 'fp32' });
    runtime = openNodeRuntime(join(dir, 'pkg'));
  });
  afterAll(async () => {
    await runtime?.release();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('matches diffusers for every golden tiled run (relative L2 < 1e-3)', async () => {
    expect(TILED_RUNS.length).toBeGreaterThanOrEqual(3);
    for (const run of TILED_RUNS) {
      expect(run.tile_latent_min_size).toBe(run.tile_sample_min_size / 8);
      expect(run.tile_overlap_factor).toBe(0.25);
      const golden = goldenTensors(run.name);
      const input = golden.get('vae_input')!;
      expect(input.shape).toEqual([1, 16, run.latent_height, run.latent_width]);
      const { output, tilePx } = await decodeLatents(runtime, { latents: input.data as Float32Array, latentHeight: run.latent_height, latentWidth: run.latent_width, tilePx: run.tile_sample_min_size });
      const expected = golden.get('vae_out_tiled')!;
      expect(tilePx).toBe(run.tile_sample_min_size);
      expect([1, output.channels, output.height, output.width]).toEqual(expected.shape);
      const error = relativeL2(output.data, expected.data as Float32Array);
      const untiledError = relativeL2(output.data, golden.get('vae_out_whole')!.data as Float32Array);
      console.log(`${run.name} (${run.latent_height}x${run.latent_width} latents, tile ${run.tile_sample_min_size}px): relative L2 ${error.toExponential(2)} vs vae_out_tiled (${untiledError.toFixed(2)} vs the untiled output)`);
      expect(error).toBeLessThan(1e-3);
      expect(untiledError).toBeGreaterThan(0.1); // the goldens' tiles really change the image
    }
  });

  it('decodes whole when forced (null) or without limits, equal to vae_out_whole; a tile larger than the image too', async () => {
    const golden = goldenTensors(TILED_RUNS[2].name);
    const z = golden.get('vae_input')!.data as Float32Array;
    const [h, w] = [TILED_RUNS[2].latent_height, TILED_RUNS[2].latent_width];
    const whole = golden.get('vae_out_whole')!.data as Float32Array;
    for (const tilePx of [null, undefined, 128, 2048]) {
      const result = await decodeLatents(runtime, { latents: z, latentHeight: h, latentWidth: w, tilePx });
      expect(relativeL2(result.output.data, whole), `tilePx ${tilePx}`).toBeLessThan(1e-3);
    }
  });

  it('equals the literal diffusers loops on the real decoder for sizes the goldens do not cover', async () => {
    const golden = goldenTensors(TILED_RUNS[2].name);
    const z = golden.get('vae_input')!.data as Float32Array;
    const session = await runtime.session(runtime.manifest.graphs.find((g) => g.role === 'vae-decoder')!);
    const { Tensor } = await import('onnxruntime-common');
    const realDecode: DecodeFn = async (tile, th, tw) => {
      const { image } = await session.run({ latents: new Tensor('float32', tile, [1, 16, th, tw]) });
      return { data: (await image.getData()) as Float32Array, channels: image.dims[1], height: image.dims[2], width: image.dims[3] };
    };
    for (const [h, w, tile] of [[12, 12, 40], [12, 12, 96], [11, 7, 48]] as const) {
      const crop = new Float32Array(16 * h * w);
      for (let c = 0; c < 16; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) crop[(c * h + y) * w + x] = z[(c * 12 + y) * 12 + x];
      const ours = await decodeLatents(runtime, { latents: crop, latentHeight: h, latentWidth: w, tilePx: tile });
      const reference = await diffusersTiledDecode(realDecode, crop, 16, h, w, tile);
      expect([ours.output.height, ours.output.width]).toEqual([reference.height, reference.width]);
      expect(relativeL2(ours.output.data, reference.data), `${h}x${w} tile ${tile}`).toBeLessThan(1e-6);
    }
  });

  it('chooses a tile from the buffer limit and still matches the literal loops', async () => {
    const golden = goldenTensors(TILED_RUNS[1].name);
    const z = golden.get('vae_input')!.data as Float32Array;
    const [h, w] = [TILED_RUNS[1].latent_height, TILED_RUNS[1].latent_width];
    // tiny VAE (channels 16 at the two largest sides): an 8×8-latent tile needs 16·64²·4 = 256 KiB.
    const limits = { maxBufferBytes: 16 * 64 * 64 * 4 };
    const result = await decodeLatents(runtime, { latents: z, latentHeight: h, latentWidth: w, limits });
    expect(result.tilePx).toBe(64);
    const reference = await decodeLatents(runtime, { latents: z, latentHeight: h, latentWidth: w, tilePx: 64 });
    expect(result.output.data).toEqual(reference.output.data);
    expect([result.output.height, result.output.width]).toEqual([8 * h, 8 * w]);
  });
});

describe('chooseVaeTile (the published FLUX VAE)', () => {
  const GiB = 2 ** 30;
  const MiB = 2 ** 20;

  it('estimates the activations: 256 channels at full resolution and the mid-block attention scores', () => {
    const at1024 = vaeActivationBytes(FLUX_SCHNELL_VAE, 128, 128);
    expect(at1024.largestFeatureMapBytes).toBe(256 * 1024 * 1024 * 4);
    expect(at1024.attentionScoresBytes).toBe(16384 * 16384 * 4);
    expect(at1024.largestBufferBytes).toBe(GiB);
  });

  it('decodes whole where it fits and tiles where it does not, largest tile first', () => {
    expect(chooseVaeTile(FLUX_SCHNELL_VAE, 128, 128, { maxBufferBytes: GiB })).toBeNull(); // 1024² on a 1 GiB limit
    expect(chooseVaeTile(FLUX_SCHNELL_VAE, 180, 180, { maxBufferBytes: GiB })).toBe(1024); // 1440²
    expect(chooseVaeTile(FLUX_SCHNELL_VAE, 128, 128, { maxBufferBytes: 256 * MiB })).toBe(512);
    expect(chooseVaeTile(FLUX_SCHNELL_VAE, 64, 64, { maxBufferBytes: 256 * MiB })).toBeNull();
    // A budget of 2 GiB for activations: 4 feature maps of 256 × P² × 4 bytes ≤ 2 GiB → P ≤ 724 → 704.
    expect(chooseVaeTile(FLUX_SCHNELL_VAE, 128, 128, { maxBufferBytes: GiB, budgetBytes: 2 * GiB })).toBe(704);
    // Never larger than the FLUX VAE's own 1024 px tile, or than asked.
    expect(chooseVaeTile(FLUX_SCHNELL_VAE, 256, 256, { maxBufferBytes: 4 * GiB })).toBe(1024);
    expect(chooseVaeTile(FLUX_SCHNELL_VAE, 180, 180, { maxBufferBytes: GiB, maxTilePx: 512 })).toBe(512);
    // Every automatic tile keeps the image size (a multiple of 32 px).
    for (const maxBufferBytes of [50, 100, 300, 700].map((m) => m * MiB)) {
      const tile = chooseVaeTile(FLUX_SCHNELL_VAE, 180, 112, { maxBufferBytes })!;
      expect(tile % 32).toBe(0);
      expect(tiledOutputSize(180, vaeTileGeometry(tile))).toBe(1440);
      expect(vaeActivationBytes(FLUX_SCHNELL_VAE, tile / 8, Math.min(tile / 8, 112)).largestBufferBytes).toBeLessThanOrEqual(maxBufferBytes);
    }
  });

  it('throws DeviceCapabilityError when not even a 32-pixel tile fits', () => {
    // A 32-pixel tile needs 256 × 32² × 4 bytes = 1 MiB in one buffer.
    expect(chooseVaeTile(FLUX_SCHNELL_VAE, 128, 128, { maxBufferBytes: MiB })).toBe(32);
    const failure = (limits: { maxBufferBytes: number; budgetBytes?: number }) => {
      try {
        chooseVaeTile(FLUX_SCHNELL_VAE, 128, 128, limits);
      } catch (error) {
        return error;
      }
      throw new Error('no error');
    };
    const byBuffer = failure({ maxBufferBytes: MiB / 2 });
    expect(byBuffer).toBeInstanceOf(DeviceCapabilityError);
    expect((byBuffer as DeviceCapabilityError).missing).toEqual(['maxBufferSize']);
    const byBudget = failure({ maxBufferBytes: GiB, budgetBytes: MiB });
    expect(byBudget).toBeInstanceOf(DeviceCapabilityError);
    expect((byBudget as DeviceCapabilityError).missing).toEqual(['gpu-memory']);
  });
});
