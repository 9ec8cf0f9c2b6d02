/**
 * Tiled VAE decoding, exactly as diffusers' `AutoencoderKL.tiled_decode` (v0.32):
 *
 *   tile_sample_min_size = P (pixels), tile_latent_min_size = P/8, tile_overlap_factor 0.25
 *   overlap_size = int(tile_latent_min_size · 0.75)      (stride between tiles, latents)
 *   blend_extent = int(tile_sample_min_size · 0.25)      (pixels blended with the tile above / left)
 *   row_limit    = tile_sample_min_size − blend_extent   (pixels kept of each tile)
 *
 * Tiles start at 0, overlap_size, 2·overlap_size, … < h (and w); the last ones are smaller.
 * Each decoded tile is blended in place with the (already blended) tile above (`blend_v`)
 * and then the one to its left (`blend_h`), and cut to `row_limit`. With P a multiple of
 * 32 the result is 8h × 8w; other P give what diffusers gives (it crops by `row_limit`
 * but steps by `overlap_size`, so the image comes out larger).
 *
 * Also: the VAE's activation sizes and `chooseVaeTile`, which decodes untiled where the
 * whole image fits the GPU's buffer limit and memory budget, and otherwise picks the
 * largest tile that does. Plain TypeScript: Node and the browser worker share it.
 */
import { DEFAULTS, LIMITS } from '../defaults.ts';
import { AbortedError, DeviceCapabilityError, InvalidParameterError } from '../errors.ts';

/** diffusers' `tile_overlap_factor`. */
export const TILE_OVERLAP_FACTOR = 0.25;
/** Pixels per latent of the FLUX VAE (2^(number of up blocks − 1)); diffusers' tile_latent_min_size = P / 8. */
export const VAE_SCALE = 8;

/** One decoded tile (or whole image): `channels` planes of height × width float32 values. */
export interface DecodedPlanes {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/** Decodes latents [1, channels, height, width] (a tile or the whole image). */
export type DecodeFn = (latents: Float32Array, height: number, width: number) => Promise<DecodedPlanes>;

/** The tile geometry of diffusers' tiled_decode for one tile size. */
export interface VaeTileGeometry {
  /** tile_sample_min_size (pixels). */
  tilePx: number;
  /** tile_latent_min_size = tilePx / 8 (latents). */
  tileLatent: number;
  /** overlap_size: the stride between tile starts (latents). */
  stride: number;
  /** blend_extent (pixels). */
  blendExtent: number;
  /** row_limit: pixels kept of each tile along each axis. */
  rowLimit: number;
}

/**
 * Checks a tile size: an integer multiple of 8, at least 32 (diffusers' tile_sample_min_size).
 * @param field the name to report (e.g. "--tile-px" or "tilePx")
 * @throws InvalidParameterError naming `field`
 */
export function checkTilePx(field: string, value: unknown): number {
  const { min, multiple } = LIMITS.vaeTilePx;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value % multiple !== 0) {
    throw new InvalidParameterError(field, `an integer multiple of ${multiple}, at least ${min} (pixels)`, value);
  }
  return value;
}

/** The geometry diffusers derives from `tile_sample_min_size` = `tilePx` (see the module comment). */
export function vaeTileGeometry(tilePx: number): VaeTileGeometry {
  checkTilePx('tilePx', tilePx);
  const tileLatent = Math.trunc(tilePx / VAE_SCALE);
  const blendExtent = Math.trunc(tilePx * TILE_OVERLAP_FACTOR);
  return { tilePx, tileLatent, stride: Math.trunc(tileLatent * (1 - TILE_OVERLAP_FACTOR)), blendExtent, rowLimit: tilePx - blendExtent };
}

/** Tile starts and sizes (latents) along one axis of `length` latents: range(0, length, stride). */
export function tileSpans(length: number, geometry: VaeTileGeometry): { start: number; size: number }[] {
  const spans: { start: number; size: number }[] = [];
  for (let start = 0; start < length; start += geometry.stride) spans.push({ start, size: Math.min(geometry.tileLatent, length - start) });
  return spans;
}

/** Output pixels along one axis: the sum of each tile's decoded size cut to row_limit. */
export function tiledOutputSize(length: number, geometry: VaeTileGeometry, scale = VAE_SCALE): number {
  return tileSpans(length, geometry).reduce((sum, span) => sum + Math.min(span.size * scale, geometry.rowLimit), 0);
}

/** data[:, :, top:top+h, left:left+w] of a [1, C, H, W] tensor (latents, pixels or moments). */
export function cropTensor(data: Float32Array, channels: number, height: number, width: number, top: number, left: number, h: number, w: number): Float32Array {
  const out = new Float32Array(channels * h * w);
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < h; y++) {
      const from = (c * height + top + y) * width + left;
      out.set(data.subarray(from, from + w), (c * h + y) * w);
    }
  return out;
}

/**
 * diffusers `blend_v`: b's first rows fade in from a's last rows, in place.
 * b[y] = a[a.h − e + y]·(1 − y/e) + b[y]·(y/e) for y < e = min(a.h, b.h, extent).
 */
export function blendV(a: DecodedPlanes, b: DecodedPlanes, extent: number): void {
  const e = Math.min(a.height, b.height, extent);
  for (let y = 0; y < e; y++) {
    const wa = Math.fround(1 - y / e);
    const wb = Math.fround(y / e);
    for (let c = 0; c < b.channels; c++) {
      const rowA = (c * a.height + a.height - e + y) * a.width;
      const rowB = (c * b.height + y) * b.width;
      for (let x = 0; x < b.width; x++) b.data[rowB + x] = Math.fround(a.data[rowA + x] * wa) + Math.fround(b.data[rowB + x] * wb);
    }
  }
}

/**
 * diffusers `blend_h`: b's first columns fade in from a's last columns, in place.
 * b[:, x] = a[:, a.w − e + x]·(1 − x/e) + b[:, x]·(x/e) for x < e = min(a.w, b.w, extent).
 */
export function blendH(a: DecodedPlanes, b: DecodedPlanes, extent: number): void {
  const e = Math.min(a.width, b.width, extent);
  for (let x = 0; x < e; x++) {
    const wa = Math.fround(1 - x / e);
    const wb = Math.fround(x / e);
    for (let c = 0; c < b.channels; c++)
      for (let y = 0; y < b.height; y++) {
        const ia = (c * a.height + y) * a.width + a.width - e + x;
        const ib = (c * b.height + y) * b.width + x;
        b.data[ib] = Math.fround(a.data[ia] * wa) + Math.fround(b.data[ib] * wb);
      }
  }
}

/** Options of `tiledDecode` and `decodeVae`. */
export interface TiledDecodeOptions {
  signal?: AbortSignal;
  /** Called after each tile with its 1-based index and the tile count. */
  onTile?: (tile: number, tiles: number) => void;
}

/**
 * diffusers `AutoencoderKL.tiled_decode` with tile_sample_min_size `tilePx`: decodes the
 * latents [1, channels, height, width] tile by tile with `decode` (tiles of different sizes
 * run through the same graph), blends and crops them. Keeps one row of decoded tiles.
 * @returns the image planes ([1, C, H', W'] as `data`)
 * @throws AbortedError when `options.signal` aborts (checked between tiles)
 */
export async function tiledDecode(
  decode: DecodeFn,
  latents: Float32Array,
  channels: number,
  height: number,
  width: number,
  tilePx: number,
  options: TiledDecodeOptions = {},
): Promise<DecodedPlanes> {
  const geometry = vaeTileGeometry(tilePx);
  const rows = tileSpans(height, geometry);
  const cols = tileSpans(width, geometry);
  const tiles = rows.length * cols.length;
  const { rowLimit, blendExtent } = geometry;

  let previous: DecodedPlanes[] | undefined;
  const kept: { planes: DecodedPlanes[]; height: number }[] = [];
  let outChannels = 0;
  let done = 0;
  for (const row of rows) {
    const current: DecodedPlanes[] = [];
    for (const [j, col] of cols.entries()) {
      if (options.signal?.aborted) throw new AbortedError();
      const tile = await decode(cropTensor(latents, channels, height, width, row.start, col.start, row.size, col.size), row.size, col.size);
      outChannels = tile.channels;
      if (previous) blendV(previous[j], tile, blendExtent);
      if (j > 0) blendH(current[j - 1], tile, blendExtent);
      current.push(tile);
      options.onTile?.(++done, tiles);
    }
    // Only the kept part of this row is needed later, besides the full tiles for blending the next row.
    const rowHeight = Math.min(current[0].height, rowLimit);
    kept.push({ planes: current.map((t) => cropPlanes(t, rowHeight, Math.min(t.width, rowLimit))), height: rowHeight });
    previous = current;
  }

  const outHeight = kept.reduce((sum, r) => sum + r.height, 0);
  const outWidth = kept[0].planes.reduce((sum, p) => sum + p.width, 0);
  const out = new Float32Array(outChannels * outHeight * outWidth);
  let top = 0;
  for (const row of kept) {
    let left = 0;
    for (const p of row.planes) {
      for (let c = 0; c < outChannels; c++)
        for (let y = 0; y < p.height; y++) {
          const from = (c * p.height + y) * p.width;
          out.set(p.data.subarray(from, from + p.width), (c * outHeight + top + y) * outWidth + left);
        }
      left += p.width;
    }
    top += row.height;
  }
  return { data: out, channels: outChannels, height: outHeight, width: outWidth };
}

/** planes[:, :h, :w] (a copy). */
function cropPlanes(p: DecodedPlanes, h: number, w: number): DecodedPlanes {
  if (h === p.height && w === p.width) return { ...p, data: p.data.slice() };
  const out = new Float32Array(p.channels * h * w);
  for (let c = 0; c < p.channels; c++)
    for (let y = 0; y < h; y++) {
      const from = (c * p.height + y) * p.width;
      out.set(p.data.subarray(from, from + w), (c * h + y) * w);
    }
  return { data: out, channels: p.channels, height: h, width: w };
}

/**
 * Decodes whole (`tilePx` null) or with `tiledDecode`.
 * @throws AbortedError when `options.signal` aborts
 */
export async function decodeVae(
  decode: DecodeFn,
  latents: Float32Array,
  channels: number,
  height: number,
  width: number,
  tilePx: number | null,
  options: TiledDecodeOptions = {},
): Promise<DecodedPlanes> {
  if (tilePx === null) {
    if (options.signal?.aborted) throw new AbortedError();
    const whole = await decode(latents, height, width);
    options.onTile?.(1, 1);
    return whole;
  }
  return tiledDecode(decode, latents, channels, height, width, tilePx, options);
}

/** The decoder config fields that set its activation sizes. */
export interface VaeShapeConfig {
  block_out_channels: number[];
  out_channels?: number;
  mid_block_add_attention?: boolean;
}

/** Activation sizes of one decode of latents [1, 16, h, w], in bytes (float32). */
export interface VaeActivationBytes {
  /** The largest single buffer: a feature map, or the mid-block attention scores [hw, hw]. */
  largestBufferBytes: number;
  /** The largest feature map alone. */
  largestFeatureMapBytes: number;
  /** Mid-block attention scores (materialised without flash attention), 0 without attention. */
  attentionScoresBytes: number;
  /** Estimated peak of live activation buffers during the decode (see `VAE_PEAK_FEATURE_MAPS`). */
  peakBytes: number;
}

/**
 * The estimated activation peak of a decode in units of its largest feature map: a resnet
 * holds its input (for the shortcut), the GroupNorm/SiLU output, the conv output and the
 * layout copies the WebGPU EP makes around convolutions.
 */
export const VAE_PEAK_FEATURE_MAPS = 4;

/**
 * Activation sizes of the decoder (diffusers `Decoder`) on latents [1, C, h, w]: conv_in
 * and the mid block at h×w with the top channel count, each up block at twice the previous
 * side (the last one at 8h×8w), where the upsampler's input channels meet the doubled side.
 */
export function vaeActivationBytes(config: VaeShapeConfig, latentHeight: number, latentWidth: number): VaeActivationBytes {
  const reversed = [...config.block_out_channels].reverse();
  let area = latentHeight * latentWidth;
  let largest = reversed[0] * area;
  for (let i = 0; i < reversed.length; i++) {
    const input = i === 0 ? reversed[0] : reversed[i - 1];
    largest = Math.max(largest, Math.max(input, reversed[i]) * area);
    if (i < reversed.length - 1) {
      area *= 4;
      largest = Math.max(largest, reversed[i] * area);
    }
  }
  const tokens = latentHeight * latentWidth;
  const scores = config.mid_block_add_attention === false ? 0 : tokens * tokens * 4;
  const largestFeatureMapBytes = largest * 4;
  return {
    largestBufferBytes: Math.max(largestFeatureMapBytes, scores),
    largestFeatureMapBytes,
    attentionScoresBytes: scores,
    peakBytes: Math.max(VAE_PEAK_FEATURE_MAPS * largestFeatureMapBytes, scores + 4 * reversed[0] * tokens * 4),
  };
}

/** What `chooseVaeTile` decides from. */
export interface VaeTileLimits {
  /** The largest buffer the GPU allows: min(maxBufferSize, maxStorageBufferBindingSize), bytes. */
  maxBufferBytes: number;
  /** Bytes the VAE's activations may take (the memory plan's budget); unlimited when absent. */
  budgetBytes?: number;
  /** The largest automatic tile in pixels (default `DEFAULTS.vaeTileMaxPx`, the FLUX VAE's own 1024). */
  maxTilePx?: number;
}

/**
 * The tile size for decoding latents [1, C, h, w]: null (untiled) when the whole decode
 * fits `limits`, else the largest tile (a multiple of 32 pixels, so the output keeps its
 * size; at most `maxTilePx`) whose tiles fit.
 * @throws DeviceCapabilityError (`missing: ['maxBufferSize']` or `['gpu-memory']`) when not even a 32-pixel tile fits
 */
export function chooseVaeTile(config: VaeShapeConfig, latentHeight: number, latentWidth: number, limits: VaeTileLimits): number | null {
  const budget = limits.budgetBytes ?? Infinity;
  const fits = (h: number, w: number) => {
    const bytes = vaeActivationBytes(config, h, w);
    return bytes.largestBufferBytes <= limits.maxBufferBytes && bytes.peakBytes <= budget;
  };
  if (fits(latentHeight, latentWidth)) return null;
  const step = 4 * VAE_SCALE; // 32 px: tile_latent_min_size divisible by 4 keeps diffusers' output at 8h × 8w
  const largest = Math.min(limits.maxTilePx ?? DEFAULTS.vaeTileMaxPx, VAE_SCALE * Math.max(latentHeight, latentWidth));
  for (let tilePx = Math.floor(largest / step) * step; tilePx >= LIMITS.vaeTilePx.min; tilePx -= step) {
    const latent = tilePx / VAE_SCALE;
    if (fits(Math.min(latent, latentHeight), Math.min(latent, latentWidth))) return tilePx;
  }
  const smallest = vaeActivationBytes(config, Math.min(4, latentHeight), Math.min(4, latentWidth));
  const byBuffer = smallest.largestBufferBytes > limits.maxBufferBytes;
  throw new DeviceCapabilityError(
    `The VAE cannot decode even in ${LIMITS.vaeTilePx.min}-pixel tiles here: a tile needs ${smallest.largestBufferBytes} bytes in one buffer and about ${smallest.peakBytes} in all; ` +
      `the GPU allows ${limits.maxBufferBytes} per buffer${limits.budgetBytes === undefined ? '' : ` and ${limits.budgetBytes} for activations`}.`,
    [byBuffer ? 'maxBufferSize' : 'gpu-memory'],
  );
}
