/**
 * Worker of the `full-scale` bench's activation part: one graph of a package, run once on
 * its own WebGPU device with every GPU buffer counted (gpu-memory-probe.ts), at a given
 * image size, with random inputs of the graph's shapes. Reports the bytes held once the
 * session is created (weights, uploaded) and the peak during `run` above that (the
 * graph's activations, including what onnxruntime keeps in its buffer cache).
 */
import * as Comlink from 'comlink';
import { createGpuContext } from '../../../src/engine/gpu-device.ts';
import { configureOrt, ort } from '../../../src/engine/ort.ts';
import { imageIds, latentSize } from '../../../src/pipeline/latents.ts';
import { torchRandn } from '../../../src/pipeline/randn.ts';
import { jointIds, ropeTables } from '../../../src/pipeline/rope.ts';
import { chooseVaeTile, decodeVae, type VaeShapeConfig } from '../../../src/pipeline/vae-tiling.ts';
import { gpuCounts, installGpuCounting, installWasmTracking, markWindow, wasmBytes } from './gpu-memory-probe.ts';

installGpuCounting();
installWasmTracking();

/** One graph to measure. */
export interface ActivationSpec {
  role: 'transformer-blocks' | 'vae-decoder';
  /** URLs of the .onnx file and its .onnx_data file, and the data file's location inside the graph. */
  modelUrl: string;
  dataUrl: string | null;
  dataLocation: string;
  width: number;
  height: number;
  /** Transformer: inner width, text tokens, rotary axes; VAE: latent channels. */
  innerDim?: number;
  textTokens?: number;
  axesDims?: number[];
  latentChannels?: number;
  /** VAE: its config, for the tile the engine would choose on this device. */
  vaeConfig?: VaeShapeConfig;
}

/** What one measurement found (bytes, ms). */
export interface ActivationResult {
  weightsBytes: number;
  activationPeakBytes: number;
  totalPeakBytes: number;
  wasmBytes: number;
  createMs: number;
  runMs: number;
  buffers: { created: number; destroyed: number; collected: number };
  maxBufferSize: number;
  /** VAE: the tile the engine's choice gave on this device (null: decoded whole). */
  tilePx?: number | null;
}

function feeds(spec: ActivationSpec): Record<string, ort.Tensor> {
  const { h, w } = latentSize(spec.height, spec.width);
  if (spec.role === 'vae-decoder') {
    const c = spec.latentChannels!;
    return { latents: new ort.Tensor('float32', torchRandn([c * h * w], 1), [1, c, h, w]) };
  }
  const d = spec.innerDim!;
  const text = spec.textTokens!;
  const image = (h / 2) * (w / 2);
  const rope = ropeTables(jointIds(text, imageIds(h, w)), spec.axesDims!);
  return {
    img: new ort.Tensor('float32', torchRandn([image * d], 2), [1, image, d]),
    txt: new ort.Tensor('float32', torchRandn([text * d], 3), [1, text, d]),
    temb: new ort.Tensor('float32', torchRandn([d], 4), [1, d]),
    rope_cos: new ort.Tensor('float32', rope.cos, [rope.tokens, rope.half]),
    rope_sin: new ort.Tensor('float32', rope.sin, [rope.tokens, rope.half]),
  };
}

const api = {
  async measure(spec: ActivationSpec): Promise<ActivationResult> {
    configureOrt({});
    const gpu = await createGpuContext();
    const model = new Uint8Array(await (await fetch(spec.modelUrl)).arrayBuffer());
    let t0 = performance.now();
    const session = await ort.InferenceSession.create(model, {
      executionProviders: [{ name: 'webgpu', device: gpu.device as unknown as ort.InferenceSession.WebGpuExecutionProviderOption['device'] }],
      graphOptimizationLevel: 'all',
      externalData: spec.dataUrl ? [{ path: spec.dataLocation, data: spec.dataUrl }] : undefined,
      logSeverityLevel: 3,
    });
    const createMs = performance.now() - t0;
    const inputs = feeds(spec);
    await gpu.device.queue.onSubmittedWorkDone();
    markWindow();
    const weightsBytes = gpuCounts().liveBytes;
    t0 = performance.now();
    let tilePx: number | null | undefined;
    if (spec.role === 'vae-decoder') {
      // As the engine decodes: whole where the device's buffer limit allows, else in tiles.
      const { latents } = inputs;
      const [, c, h, w] = latents.dims;
      const limits = gpu.device.limits;
      tilePx = chooseVaeTile(spec.vaeConfig!, h, w, { maxBufferBytes: Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize) });
      await decodeVae(
        async (tile, th, tw) => {
          const { image } = await session.run({ latents: new ort.Tensor('float32', tile, [1, c, th, tw]) });
          const data = (await image.getData()) as Float32Array;
          image.dispose();
          return { data, channels: image.dims[1], height: image.dims[2], width: image.dims[3] };
        },
        latents.data as Float32Array,
        c,
        h,
        w,
        tilePx,
      );
    } else await session.run(inputs);
    const runMs = performance.now() - t0;
    const counts = gpuCounts();
    const result: ActivationResult = {
      weightsBytes,
      activationPeakBytes: counts.windowPeakBytes - counts.windowStartBytes,
      totalPeakBytes: counts.peakBytes,
      wasmBytes: wasmBytes(),
      createMs,
      runMs,
      buffers: { created: counts.created, destroyed: counts.destroyed, collected: counts.collected },
      maxBufferSize: gpu.device.limits.maxBufferSize,
      ...(tilePx === undefined ? {} : { tilePx }),
    };
    await session.release();
    return result;
  },
};

export type ActivationWorkerApi = typeof api;
Comlink.expose(api);
