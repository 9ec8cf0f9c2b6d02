/**
 * The VAE encode step over a package's `vae-encoder` graph: whole, or in tiles exactly as
 * diffusers' `AutoencoderKL.tiled_encode` / `_tiled_encode` (v0.32) where the whole image
 * would not fit the GPU's buffer limit:
 *
 *   tile_sample_min_size = P (pixels), tile_latent_min_size = P/8, tile_overlap_factor 0.25
 *   overlap_size = int(P · 0.75)                        (stride between tiles, pixels)
 *   blend_extent = int(tile_latent_min_size · 0.25)    (latents blended with the tile above / left)
 *   row_limit    = tile_latent_min_size − blend_extent  (latents kept of each tile)
 *
 * Tiles start at 0, overlap_size, … < H (and W) and cover x[i : i+P, j : j+P] (the last
 * ones smaller). Each tile's moments are blended in place with the (already blended) tile
 * above (`blend_v`), then the one to its left (`blend_h`), cut to row_limit and
 * concatenated; the posterior is taken from the blended moments. diffusers tiles when
 * width or height exceeds P. With P a multiple of 32 the moments are [2C, H/8, W/8].
 * Plain TypeScript: Node and the browser worker share it.
 */
import { Tensor } from 'onnxruntime-common';
import { AbortedError, DeviceCapabilityError, InvalidParameterError, ModelPackageError } from '../errors.ts';
import { graphByRole, type Manifest } from '../package/manifest.ts';
import type { ModelRuntime } from './runtime.ts';
import { blendH, blendV, cropTensor, type DecodedPlanes } from './vae-tiling.ts';

/** diffusers' `tile_overlap_factor`. */
const TILE_OVERLAP_FACTOR = 0.25;
/** Pixels per latent of the FLUX VAE (three downsamplers). */
const VAE_SCALE = 8;
/** Automatic tiles are multiples of this many pixels (so the moments keep H/8 × W/8). */
const TILE_STEP_PX = 32;
/** The FLUX VAE's own tile_sample_min_size (its config's sample_size, 1024): the largest automatic tile. */
export const ENCODE_TILE_MAX_PX = 1024;

/** A [1, channels, height, width] float32 tensor (pixels or moments): the decoder's planes type. */
export type Planes = DecodedPlanes;

/** Encodes pixels [1, 3, height, width] (a tile or the whole image) into moments. */
export type EncodeFn = (pixels: Float32Array, height: number, width: number) => Promise<Planes>;

/** The tile geometry of diffusers' tiled_encode for tile_sample_min_size `tilePx`. */
export function encodeTileGeometry(tilePx: number): { tilePx: number; stridePx: number; tileLatent: number; blendExtent: number; rowLimit: number } {
  if (!Number.isSafeInteger(tilePx) || tilePx < TILE_STEP_PX || tilePx % VAE_SCALE !== 0) {
    throw new InvalidParameterError('tilePx', `an integer multiple of ${VAE_SCALE}, at least ${TILE_STEP_PX} (pixels)`, tilePx);
  }
  const tileLatent = Math.trunc(tilePx / VAE_SCALE);
  const blendExtent = Math.trunc(tileLatent * TILE_OVERLAP_FACTOR);
  return { tilePx, stridePx: Math.trunc(tilePx * (1 - TILE_OVERLAP_FACTOR)), tileLatent, blendExtent, rowLimit: tileLatent - blendExtent };
}

/**
 * diffusers `tiled_encode` with tile_sample_min_size `tilePx`: encodes pixels
 * [1, channels, height, width] tile by tile with `encode`, blends and crops the moments.
 * @throws AbortedError when `signal` aborts (checked between tiles)
 */
export async function tiledEncode(encode: EncodeFn, pixels: Float32Array, channels: number, height: number, width: number, tilePx: number, signal?: AbortSignal): Promise<Planes> {
  const { stridePx, blendExtent, rowLimit } = encodeTileGeometry(tilePx);
  const rows: Planes[][] = [];
  for (let i = 0; i < height; i += stridePx) {
    const row: Planes[] = [];
    for (let j = 0; j < width; j += stridePx) {
      if (signal?.aborted) throw new AbortedError();
      const h = Math.min(tilePx, height - i);
      const w = Math.min(tilePx, width - j);
      row.push(await encode(cropTensor(pixels, channels, height, width, i, j, h, w), h, w));
    }
    rows.push(row);
  }
  // Blend as diffusers does: in place, row by row, so a tile blends with the already blended one above.
  const kept: Planes[][] = rows.map((row, i) =>
    row.map((tile, j) => {
      if (i > 0) blendV(rows[i - 1][j], tile, blendExtent);
      if (j > 0) blendH(row[j - 1], tile, blendExtent);
      const h = Math.min(tile.height, rowLimit);
      const w = Math.min(tile.width, rowLimit);
      return { data: cropTensor(tile.data, tile.channels, tile.height, tile.width, 0, 0, h, w), channels: tile.channels, height: h, width: w };
    }),
  );
  const outChannels = kept[0][0].channels;
  const outHeight = kept.reduce((sum, row) => sum + row[0].height, 0);
  const outWidth = kept[0].reduce((sum, tile) => sum + tile.width, 0);
  const out = new Float32Array(outChannels * outHeight * outWidth);
  let top = 0;
  for (const row of kept) {
    let left = 0;
    for (const tile of row) {
      for (let c = 0; c < outChannels; c++)
        for (let y = 0; y < tile.height; y++) {
          const from = (c * tile.height + y) * tile.width;
          out.set(tile.data.subarray(from, from + tile.width), (c * outHeight + top + y) * outWidth + left);
        }
      left += tile.width;
    }
    top += row[0].height;
  }
  return { data: out, channels: outChannels, height: outHeight, width: outWidth };
}

/** The VAE config fields that set the encoder's activation sizes. */
interface EncoderShapeConfig {
  block_out_channels: number[];
  mid_block_add_attention?: boolean;
}

/**
 * The largest single activation buffer of one encode of H×W pixels, in bytes (float32):
 * a down block's feature map (its input channels meet its full side) or the mid-block
 * attention scores [(H/8)(W/8)]², whichever is larger.
 */
export function encoderLargestBufferBytes(config: EncoderShapeConfig, height: number, width: number): number {
  const channels = config.block_out_channels;
  let largest = 0;
  let h = height;
  let w = width;
  for (let i = 0; i < channels.length; i++) {
    const input = i === 0 ? channels[0] : channels[i - 1];
    largest = Math.max(largest, Math.max(input, channels[i]) * (h + 1) * (w + 1));
    if (i < channels.length - 1) {
      h = Math.ceil(h / 2);
      w = Math.ceil(w / 2);
    }
  }
  const tokens = h * w;
  const scores = config.mid_block_add_attention === false ? 0 : tokens * tokens;
  return 4 * Math.max(largest, scores);
}

/**
 * The tile for encoding H×W pixels within a buffer limit: null (whole) when the whole
 * encode fits, else the largest multiple of 32 pixels up to `ENCODE_TILE_MAX_PX` whose tiles fit.
 * @throws DeviceCapabilityError when not even a 32-pixel tile fits
 */
export function chooseEncodeTile(config: EncoderShapeConfig, height: number, width: number, maxBufferBytes: number): number | null {
  if (encoderLargestBufferBytes(config, height, width) <= maxBufferBytes) return null;
  const largest = Math.min(ENCODE_TILE_MAX_PX, Math.max(height, width));
  for (let tilePx = Math.floor(largest / TILE_STEP_PX) * TILE_STEP_PX; tilePx >= TILE_STEP_PX; tilePx -= TILE_STEP_PX) {
    if (encoderLargestBufferBytes(config, Math.min(tilePx, height), Math.min(tilePx, width)) <= maxBufferBytes) return tilePx;
  }
  throw new DeviceCapabilityError(`The VAE encoder cannot run even on ${TILE_STEP_PX}-pixel tiles within a ${maxBufferBytes}-byte buffer limit.`, ['maxBufferSize']);
}

/** One encode. */
export interface VaeEncodeRequest {
  /** [1, 3, height, width] float32 in [−1, 1] (see `rgbToVaeInput`). */
  pixels: Float32Array;
  height: number;
  width: number;
  /**
   * A tile to force (tile_sample_min_size in pixels, a multiple of 8, ≥ 32; diffusers tiles
   * only when a side exceeds it), or null for a whole encode. Absent: chosen from
   * `maxBufferBytes` (whole without it).
   */
  tilePx?: number | null;
  /** The GPU's largest buffer: min(maxBufferSize, maxStorageBufferBindingSize), bytes. */
  maxBufferBytes?: number;
  signal?: AbortSignal;
}

/** What an encode produced. */
export interface VaeEncodeResult {
  /** [1, 2C, H/8, W/8]: mean, then logvar (unclamped). */
  moments: Planes;
  /** The tile used, or null when encoded whole. */
  tilePx: number | null;
  /** Milliseconds inside `session.run`. */
  sessionRunMs: number;
}

/** The package's encoder graph, or a typed error saying that image-to-image needs one. */
export function vaeEncoderGraph(manifest: Manifest) {
  if (!manifest.graphs.some((g) => g.role === 'vae-encoder')) {
    throw new ModelPackageError(
      `${manifest.modelId} has no VAE encoder graph, which image-to-image needs: convert the model again with this version of flux-webgpu (every vae/ checkpoint and ae.safetensors holds the encoder)`,
      'manifest.json',
      'no-vae-encoder',
    );
  }
  return graphByRole(manifest, 'vae-encoder');
}

/**
 * Encodes pixels with the package's VAE encoder (whole or tiled; see `VaeEncodeRequest`),
 * then tells the runtime the encoder is done (a low-memory runtime releases it).
 * @throws ModelPackageError when the package has no encoder graph
 * @throws AbortedError when `signal` aborts
 */
export async function encodePixels(runtime: ModelRuntime, request: VaeEncodeRequest): Promise<VaeEncodeResult> {
  const graph = vaeEncoderGraph(runtime.manifest);
  const { pixels, height, width } = request;
  const config = runtime.manifest.configs.vae as unknown as EncoderShapeConfig;
  let tilePx: number | null;
  if (request.tilePx === null) tilePx = null;
  else if (request.tilePx !== undefined) tilePx = encodeTileGeometry(request.tilePx).tilePx;
  else tilePx = request.maxBufferBytes === undefined ? null : chooseEncodeTile(config, height, width, request.maxBufferBytes);
  // diffusers tiles only when a side exceeds the tile.
  if (tilePx !== null && width <= tilePx && height <= tilePx) tilePx = null;

  if (request.signal?.aborted) throw new AbortedError();
  const session = await runtime.session(graph);
  let sessionRunMs = 0;
  const encodeOne: EncodeFn = async (tile, h, w) => {
    const started = performance.now();
    const { moments } = await session.run({ image: new Tensor('float32', tile, [1, 3, h, w]) });
    const data = (await moments.getData()) as Float32Array;
    sessionRunMs += performance.now() - started;
    const [, channels, mh, mw] = moments.dims;
    moments.dispose();
    return { data, channels, height: mh, width: mw };
  };
  const moments = tilePx === null ? await encodeOne(pixels, height, width) : await tiledEncode(encodeOne, pixels, 3, height, width, tilePx, request.signal);
  await runtime.finished?.(graph);
  return { moments, tilePx, sessionRunMs };
}
