/**
 * Sessions on one onnxruntime-node execution provider with GPU-synchronised timing.
 *
 * On the WebGPU EP (Dawn) `session.run` returns once the work is submitted, not done, so a
 * run is timed up to the end of a tiny "sync" session that reduces one of its outputs to a
 * scalar read back to the CPU: the read-back waits for every dispatch queued before it on
 * the device's one queue. Inputs are uploaded once and stay on the GPU (`gpu-buffer`), and
 * outputs stay there too, so a timed run contains neither upload nor download. The CPU EP
 * runs synchronously and needs none of this.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder, type ElementType } from '../../src/convert/onnx-builder.ts';
import type { InputData } from './kit-model.ts';
import type { VariantSession } from './variants.ts';

export type KitEp = 'cpu' | 'webgpu';

/** Timing of one configuration. */
export interface Timing {
  /** First run (shader compilation and pipeline creation included), ms. */
  firstMs: number;
  /** Each timed run after the warm-up, ms. */
  samples: number[];
  medianMs: number;
  /** (max − min) / median of the samples. */
  spread: number;
}

/** The median of a non-empty list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

type Feeds = Record<string, ort.Tensor>;

export class EpRunner {
  private readonly helpers = new Map<string, Promise<ort.InferenceSession>>();

  constructor(readonly ep: KitEp) {}

  /** Session options for a shard on this EP. */
  sessionOptions(session: VariantSession = {}): ort.InferenceSession.SessionOptions {
    if (this.ep === 'cpu') return { executionProviders: ['cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3 };
    const webgpu: Record<string, unknown> = { name: 'webgpu' };
    if (session.preferredLayout) webgpu.preferredLayout = session.preferredLayout;
    // onnxruntime-node 1.30 has no graph-capture option for WebGPU and rejects unknown ones:
    // asking for it reports that instead of silently timing the uncaptured graph.
    if (session.graphCapture) webgpu.enableGraphCapture = true;
    return {
      executionProviders: [webgpu as unknown as ort.InferenceSession.ExecutionProviderConfig],
      graphOptimizationLevel: 'all',
      preferredOutputLocation: 'gpu-buffer',
      logSeverityLevel: 3,
      ...(session.graphCapture ? { enableGraphCapture: true } : {}),
    };
  }

  /** Creates a session for a graph file (its external data beside it). */
  create(modelPath: string, session: VariantSession = {}): Promise<ort.InferenceSession> {
    return ort.InferenceSession.create(modelPath, this.sessionOptions(session));
  }

  /** Inputs as tensors on this EP's device (uploaded once on WebGPU; int64 stays on the CPU). */
  async toDevice(inputs: Record<string, InputData>): Promise<Feeds> {
    const feeds: Feeds = {};
    for (const [name, input] of Object.entries(inputs)) {
      const cpu = new ort.Tensor(input.type, input.data, input.dims);
      feeds[name] = this.ep === 'webgpu' && input.type === 'float32' ? await this.upload(cpu) : cpu;
    }
    return feeds;
  }

  /** Copies a CPU tensor to a GPU buffer (WebGPU) and returns it; on the CPU EP returns it unchanged. */
  async upload(tensor: ort.Tensor): Promise<ort.Tensor> {
    if (this.ep === 'cpu') return tensor;
    const session = await this.helper('upload', tensor.type as ElementType, tensor.dims.length);
    const out = await session.run({ x: tensor });
    return out.y;
  }

  /** Waits until the device has finished everything queued so far (reads back a reduction of `tensor`). */
  async sync(tensor: ort.Tensor | undefined): Promise<void> {
    if (this.ep === 'cpu' || !tensor || tensor.location !== 'gpu-buffer') return;
    const session = await this.helper('sync', tensor.type as ElementType, tensor.dims.length);
    await session.run({ x: tensor });
  }

  /** A tensor's values as float32 on the CPU (downloaded from the GPU when it is there). */
  async fetch(tensor: ort.Tensor): Promise<Float32Array> {
    if (tensor.location === 'gpu-buffer') {
      const session = await this.helper('fetch', tensor.type as ElementType, tensor.dims.length);
      return (await session.run({ x: tensor })).y.data as Float32Array;
    }
    if (tensor.type === 'float32') return tensor.data as Float32Array;
    throw new Error(`gpu-kit: cannot fetch a ${tensor.type} tensor`);
  }

  /**
   * Times `session` on `feeds`: `warmup` runs (the first one timed separately and its outputs
   * handed to `onFirst` before they are released), then at least `runs` timed runs, more
   * while the total stays under `minTotalMs` (up to 4 × `runs`).
   */
  async time(session: ort.InferenceSession, feeds: Feeds, options: { warmup: number; runs: number; minTotalMs?: number; onFirst?: (outputs: Feeds) => Promise<void> }): Promise<Timing> {
    const once = async (keep?: (outputs: Feeds) => Promise<void>) => {
      const started = performance.now();
      const outputs = (await session.run(feeds)) as Feeds;
      await this.sync(Object.values(outputs)[0]);
      const ms = performance.now() - started;
      try {
        if (keep) await keep(outputs);
      } finally {
        release(outputs);
      }
      return ms;
    };
    const firstMs = await once(options.onFirst);
    for (let i = 1; i < options.warmup; i++) await once();
    const samples: number[] = [];
    let total = 0;
    while (samples.length < options.runs || (total < (options.minTotalMs ?? 0) && samples.length < 4 * options.runs)) {
      const ms = await once();
      samples.push(ms);
      total += ms;
    }
    const mid = median(samples);
    return { firstMs, samples, medianMs: mid, spread: (Math.max(...samples) - Math.min(...samples)) / mid };
  }

  /** Median time of a sync on an idle device: the overhead inside every WebGPU timing, ms. */
  async syncOverheadMs(): Promise<number> {
    if (this.ep === 'cpu') return 0;
    const t = await this.upload(new ort.Tensor('float32', new Float32Array(1024), [32, 32]));
    await this.sync(t);
    const samples: number[] = [];
    for (let i = 0; i < 9; i++) {
      const started = performance.now();
      await this.sync(t);
      samples.push(performance.now() - started);
    }
    t.dispose();
    return median(samples);
  }

  /** Releases the helper sessions. */
  async release(): Promise<void> {
    for (const session of this.helpers.values()) await (await session).release();
    this.helpers.clear();
  }

  /**
   * Helper graphs, one per (kind, element type, rank): `upload` (Identity, output on the
   * GPU), `sync` (ReduceSum to a CPU scalar), `fetch` (Cast to float32, output on the CPU).
   */
  private helper(kind: 'upload' | 'sync' | 'fetch', type: ElementType, rank: number): Promise<ort.InferenceSession> {
    const key = `${kind}:${type}:${rank}`;
    let session = this.helpers.get(key);
    if (!session) {
      const g = new GraphBuilder(key, null);
      const x = g.input('x', type, Array.from({ length: rank }, (_, i) => `d${i}`));
      const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
      if (kind === 'upload') g.output(g.op('Identity', [x]), 'y', type, dims);
      else if (kind === 'sync') g.output(g.op('ReduceSum', [x], { keepdims: 0 }), 'y', type, []);
      else g.output(g.op('Cast', [x], { to: 1 }), 'y', 'float32', dims);
      session = ort.InferenceSession.create(g.encode(), {
        executionProviders: [this.ep],
        graphOptimizationLevel: 'all',
        preferredOutputLocation: kind === 'upload' && this.ep === 'webgpu' ? 'gpu-buffer' : 'cpu',
        logSeverityLevel: 3,
      });
      this.helpers.set(key, session);
    }
    return session;
  }
}

/** Releases GPU outputs (CPU ones are garbage-collected). */
export function release(tensors: Record<string, ort.Tensor>): void {
  for (const t of Object.values(tensors)) if (t.location === 'gpu-buffer') t.dispose();
}
