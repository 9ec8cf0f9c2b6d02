/**
 * The VAE decode step over a package's `vae-decoder` graph: whole, or in diffusers-style
 * tiles (see vae-tiling.ts) when forced or when the whole decode would not fit the GPU's
 * buffer limit or memory budget. Used by the pipeline, the browser engine's
 * `decodeLatents` and the CLI `decode`.
 */
import { Tensor } from 'onnxruntime-common';
import { InvalidParameterError, ModelPackageError } from '../errors.ts';
import { graphByRole, type GraphEntry } from '../package/manifest.ts';
import type { ModelRuntime } from './runtime.ts';
import { checkTilePx, chooseVaeTile, decodeVae, type DecodedPlanes, type VaeShapeConfig, type VaeTileLimits } from './vae-tiling.ts';

/** One VAE decode. */
export interface VaeDecodeRequest {
  /** [1, C, latentHeight, latentWidth] float32, already `z / scaling_factor + shift_factor`. */
  latents: Float32Array;
  latentHeight: number;
  latentWidth: number;
  /**
   * A tile size to force (diffusers' tile_sample_min_size in pixels: a multiple of 8, ≥ 32),
   * or null to force an untiled decode. Absent: chosen from `limits` (untiled without limits).
   */
  tilePx?: number | null;
  /** The GPU's buffer limit and memory budget the automatic choice must respect. */
  limits?: VaeTileLimits;
  signal?: AbortSignal;
  /** Called after each tile with its 1-based index and the tile count. */
  onTile?: (tile: number, tiles: number) => void;
}

/** What a decode produced. */
export interface VaeDecodeResult {
  /** The raw decoder output [1, 3, H, W] (about [−1, 1]). */
  output: DecodedPlanes;
  /** The tile size used, or null when decoded whole. */
  tilePx: number | null;
  /** Milliseconds inside `session.run`. */
  sessionRunMs: number;
}

/** The latent channel count the package's VAE graph takes. */
export function vaeLatentChannels(graph: GraphEntry): number {
  const channels = graph.inputs.find((i) => i.name === 'latents')?.dims[1];
  if (typeof channels !== 'number') throw new ModelPackageError(`graph ${graph.name}: input latents has no fixed channel count`);
  return channels;
}

/**
 * Decodes latents with the package's VAE (whole or tiled; see `VaeDecodeRequest.tilePx`).
 * @throws InvalidParameterError for a bad `tilePx` or latents of the wrong length
 * @throws DeviceCapabilityError when not even the smallest tile fits `limits`
 * @throws AbortedError when `signal` aborts (checked between tiles)
 */
export async function decodeLatents(runtime: ModelRuntime, request: VaeDecodeRequest): Promise<VaeDecodeResult> {
  const graph = graphByRole(runtime.manifest, 'vae-decoder');
  const channels = vaeLatentChannels(graph);
  const { latents, latentHeight: h, latentWidth: w } = request;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1 || latents.length !== channels * h * w) {
    throw new InvalidParameterError('latents', `[1, ${channels}, h, w] float32 values with h, w ≥ 1`, `${latents.length} values for ${h}×${w}`);
  }
  let tilePx: number | null;
  if (request.tilePx === null) tilePx = null;
  else if (request.tilePx !== undefined) tilePx = checkTilePx('tilePx', request.tilePx);
  else tilePx = request.limits ? chooseVaeTile(runtime.manifest.configs.vae as unknown as VaeShapeConfig, h, w, request.limits) : null;

  const session = await runtime.session(graph);
  let sessionRunMs = 0;
  const decodeOne = async (tile: Float32Array, th: number, tw: number): Promise<DecodedPlanes> => {
    const started = performance.now();
    const { image } = await session.run({ latents: new Tensor('float32', tile, [1, channels, th, tw]) });
    const data = (await image.getData()) as Float32Array;
    sessionRunMs += performance.now() - started;
    const [, outChannels, height, width] = image.dims;
    image.dispose();
    return { data, channels: outChannels, height, width };
  };
  const output = await decodeVae(decodeOne, latents, channels, h, w, tilePx, { signal: request.signal, onTile: request.onTile });
  await runtime.finished?.(graph);
  return { output, tilePx, sessionRunMs };
}
