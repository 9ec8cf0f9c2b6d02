/**
 * Device probes run once per kit run: whether float16 shaders work, the matmul peaks the
 * shards are compared with (a large MatMul graph, GPU-resident inputs, synchronised), and
 * host↔device transfer rates.
 */
import * as ort from 'onnxruntime-node';
import { float32ToFloat16Bytes } from '../../src/formats/float16.ts';
import { torchRandn } from '../../src/pipeline/randn.ts';
import { GraphBuilder } from '../../src/convert/onnx-builder.ts';
import { median, release, type EpRunner } from './ep-runner.ts';
import type { PeakResult } from './kit-report.ts';

/**
 * Whether the EP runs float16 kernels: a Cast → MatMul → Cast graph in float16 checked
 * against the exact result. onnxruntime's WebGPU EP fails such a run with "requires f16
 * but the device does not support it" where the adapter lacks `shader-f16`.
 */
export async function probeFloat16(runner: EpRunner): Promise<{ ok: boolean; message: string }> {
  const g = new GraphBuilder('f16-probe', null);
  const x = g.input('x', 'float32', [8, 8]);
  const h = g.op('Cast', [x], { to: 10 });
  g.output(g.op('Cast', [g.op('MatMul', [h, h])], { to: 1 }), 'y', 'float32', [8, 8]);
  let session: ort.InferenceSession | undefined;
  try {
    session = await ort.InferenceSession.create(g.encode(), { executionProviders: [runner.ep], logSeverityLevel: 4 });
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(64).fill(0.5), [8, 8]) });
    const y = await runner.fetch(out.y);
    const ok = y.every((v) => v === 2);
    return { ok, message: ok ? 'float16 MatMul ran and matched' : `float16 MatMul gave ${y[0]} instead of 2` };
  } catch (error) {
    return { ok: false, message: String((error as Error).message ?? error).split('\n')[0] };
  } finally {
    await session?.release();
  }
}

/** Random matrices [n, n] on the device, in float32 or float16. */
async function randomMatrix(runner: EpRunner, n: number, dtype: 'float32' | 'float16', seed: number): Promise<ort.Tensor> {
  const values = torchRandn([n, n], seed);
  const cpu = dtype === 'float32' ? new ort.Tensor('float32', values, [n, n]) : new ort.Tensor('float16', new Uint16Array(float32ToFloat16Bytes(values).buffer), [n, n]);
  return runner.upload(cpu);
}

/**
 * Matmul rate of the EP: C = A·B for square n × n inputs already on the device, 2n³ FLOPs
 * per run, median of several synchronised runs after a warm-up.
 */
export async function measureMatmulPeak(runner: EpRunner, n: number, dtype: 'float32' | 'float16', runs = 5): Promise<PeakResult> {
  const g = new GraphBuilder(`matmul-${dtype}-${n}`, null);
  const a = g.input('a', dtype, [n, n]);
  const b = g.input('b', dtype, [n, n]);
  g.output(g.op('MatMul', [a, b]), 'c', dtype, [n, n]);
  const options = runner.sessionOptions();
  const session = await ort.InferenceSession.create(g.encode(), options);
  const feeds = { a: await randomMatrix(runner, n, dtype, 11), b: await randomMatrix(runner, n, dtype, 12) };
  try {
    const timing = await runner.time(session, feeds, { warmup: 2, runs, minTotalMs: 200 });
    return { dtype, n, medianMs: timing.medianMs, tflops: (2 * n ** 3) / (timing.medianMs * 1e9) };
  } finally {
    release(feeds);
    await session.release();
  }
}

/**
 * Host→device and device→host rates for a float32 tensor of `bytes` (upload and
 * synchronise; download through a read-back session), GB/s (1e9 bytes), median of 3.
 */
export async function measureTransfers(runner: EpRunner, bytes: number): Promise<{ uploadGBps: number; downloadGBps: number }> {
  const n = Math.floor(bytes / 4 / 1024);
  const cpu = new ort.Tensor('float32', new Float32Array(n * 1024).fill(1), [n, 1024]);
  const up: number[] = [];
  const down: number[] = [];
  for (let i = 0; i < 3; i++) {
    let started = performance.now();
    const gpu = await runner.upload(cpu);
    await runner.sync(gpu);
    up.push(performance.now() - started);
    started = performance.now();
    await runner.fetch(gpu);
    down.push(performance.now() - started);
    if (gpu !== cpu) gpu.dispose();
  }
  const rate = (ms: number[]) => (n * 1024 * 4) / (median(ms) * 1e6);
  return { uploadGBps: rate(up), downloadGBps: rate(down) };
}
