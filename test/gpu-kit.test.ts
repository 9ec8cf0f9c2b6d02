/**
 * The GPU measurement kit without a GPU: the kit is built the way `npm run gpu-kit`
 * builds it (binaries linked instead of compressed, no Debian download) and its `run.sh`
 * runs end to end on onnxruntime-node's CPU EP with the small model: checkpoint,
 * conversions into every package, CPU references, every variant checked and timed, the
 * JSON and the table. Then the converted graphs are read back to see that each variant's
 * option really reached the graph, and the recommendation rules are checked on their own.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildKit, type KitManifest } from '../tools/gpu-kit/build-kit.ts';
import type { KitPackageFiles } from '../tools/gpu-kit/kit-build-model.ts';
import type { KitReport, ShardResult } from '../tools/gpu-kit/kit-report.ts';
import { FULL_WIDTH_MODEL, shardFlops, SMALL_MODEL } from '../tools/gpu-kit/kit-model.ts';
import { defaultFailures, recommend } from '../tools/gpu-kit/recommend.ts';
import { VARIANTS } from '../tools/gpu-kit/variants.ts';

const { onnx } = onnxProto;
const root = mkdtempSync(join(tmpdir(), 'flux-gpu-kit-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let manifest: KitManifest;
let report: KitReport;
let stdout = '';
let exitCode: number | null = null;

beforeAll(async () => {
  manifest = await buildKit({ out: join(root, 'kit'), compress: 'none', debs: false, log: () => {} });
  exitCode = await new Promise<number | null>((resolve, reject) => {
    const proc = spawn('bash', [join(root, 'kit', 'run.sh'), '--ep', 'cpu', '--model', 'small', '--warmup', '1', '--runs', '2', '--parallel', '2'], {
      cwd: root,
      env: { ...process.env, OUT: join(root, 'out'), KIT_WORK: join(root, 'scratch'), KIT_KEEP: '1', KIT_NO_VULKAN: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    proc.stderr.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    proc.on('error', reject);
    proc.on('close', resolve);
  });
  report = JSON.parse(readFileSync(join(root, 'out', 'gpu-bench.json'), 'utf8'));
}, 180_000);

describe('the kit folder', () => {
  it('holds the one command, the bundled bench, the anchor and only the Linux x64 native files', () => {
    const paths = manifest.files.map((f) => f.path);
    for (const path of ['run.sh', 'kit.cjs', 'anchor.py', 'node', 'ort/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node', 'ort/onnxruntime-node/dist/index.js', 'ort/onnxruntime-common/dist/cjs/index.js']) {
      expect(paths, path).toContain(path);
    }
    expect(paths.filter((p) => p.includes('/bin/napi-v6/')).every((p) => p.includes('/linux/x64/'))).toBe(true);
    expect(paths.some((p) => p.endsWith('.map') || p.endsWith('.d.ts'))).toBe(false);
    expect(JSON.parse(readFileSync(join(root, 'kit', 'KIT.json'), 'utf8')).totalBytes).toBe(manifest.totalBytes);
  });
});

describe('run.sh on the CPU EP (small model)', () => {
  it('finishes, writes gpu-bench.json and prints the table last', () => {
    expect(exitCode, stdout.slice(-3000)).toBe(0);
    expect(report.kit).toMatchObject({ ep: 'cpu', model: 'small' });
    expect(report.errors).toEqual([]);
    const tail = stdout.slice(stdout.lastIndexOf('== gpu-kit results'));
    expect(tail).toMatch(/variant\s+shard\s+size\s+weights\s+ms\s+GFLOP\s+TFLOP\/s/);
    expect(tail).toMatch(/q4-acc4\s+double\s+64²/);
    expect(existsSync(join(root, 'out', 'gpu-kit.log'))).toBe(true);
    expect(report.peaks.find((p) => p.dtype === 'float32')?.tflops).toBeGreaterThan(0);
  });

  it('times every variant and shard at every size, and checks each at the check size', () => {
    for (const variant of VARIANTS) {
      for (const shard of variant.shards) {
        const rows = report.shards.filter((r) => r.variant === variant.name && r.shard === shard);
        const sizes = shard.startsWith('t5-') ? [null] : SMALL_MODEL.sizes;
        expect(rows.map((r) => r.size), `${variant.name} ${shard}`).toEqual(sizes);
        for (const row of rows) {
          if (variant.webgpuOnly) {
            expect(row.status).toBe('skipped');
            continue;
          }
          expect(row.status, `${variant.name} ${shard} ${row.size}: ${row.message}`).toBe('ok');
          expect(row.medianMs).toBeGreaterThan(0);
          expect(row.samplesMs!.length).toBeGreaterThanOrEqual(2);
          if (row.size === null || row.size === SMALL_MODEL.checkSize) {
            expect(row.check, `${variant.name} ${shard}`).toBeDefined();
            expect(row.check!.pass, `${variant.name} ${shard}: ${row.check!.relL2} > ${row.check!.tolerance}`).toBe(true);
          } else expect(row.check).toBeUndefined();
        }
      }
    }
  });

  it('each variant computes something different from, and close to, its reference', () => {
    const check = (variant: string, shard: string) => report.shards.find((r) => r.variant === variant && r.shard === shard && r.check)!.check!;
    // 4-bit weights change the result measurably, so the checks can tell variants apart.
    expect(report.q4WeightError.double).toBeGreaterThan(1e-2);
    expect(check('q4', 'double').relL2VsFp32).toBeCloseTo(report.q4WeightError.double!, 6);
    // int8 activations (accuracy_level 4) and fp16 activations really change the arithmetic...
    expect(check('q4-acc4', 'double').relL2).toBeGreaterThan(1e-4);
    expect(check('q4f16', 'double').relL2).toBeGreaterThan(1e-5);
    // ...within the reduced-precision tolerance; explicit attention is the same float32 function.
    expect(check('q4-acc4', 'double').tolerance).toBeLessThanOrEqual(2e-2);
    expect(check('q4-explicit-attn', 'double').relL2).toBeLessThan(1e-4);
    expect(check('q4-explicit-attn', 'single').tolerance).toBe(1e-3);
    expect(report.recommendations.map((r) => r.variant).sort()).toEqual(VARIANTS.filter((v) => v.alternativeTo).map((v) => v.name).sort());
  });

  it('wrote each option into the converted graphs', () => {
    const packages = join(root, 'scratch', 'work', 'packages');
    const graph = (pkg: string, kind: string) => {
      const files: KitPackageFiles = JSON.parse(readFileSync(join(packages, pkg, 'graphs.json'), 'utf8'));
      const entry = files.graphs.find((g) => g.kind === kind)!;
      return onnx.ModelProto.decode(readFileSync(entry.model)).graph!;
    };
    const attr = (node: { attribute?: { name?: string | null; i?: unknown }[] | null }, name: string) => node.attribute?.find((a) => a.name === name);
    const ops = (g: ReturnType<typeof graph>) => g.node!.map((n) => n.opType);

    const acc4 = graph('q4-acc4', 'double').node!.filter((n) => n.opType === 'MatMulNBits');
    expect(acc4.length).toBeGreaterThan(10);
    expect(acc4.every((n) => Number(attr(n, 'accuracy_level')?.i) === 4)).toBe(true);
    expect(graph('q4', 'double').node!.filter((n) => n.opType === 'MatMulNBits').some((n) => attr(n, 'accuracy_level'))).toBe(false);

    expect(ops(graph('q4', 'single'))).toContain('MultiHeadAttention');
    expect(ops(graph('q4-explicit-attn', 'single'))).not.toContain('MultiHeadAttention');
    expect(ops(graph('q4-explicit-attn', 'single'))).toContain('Softmax');

    // fp16 activations inside, float32 at the interface.
    const f16 = graph('q4f16', 'double');
    const FLOAT = onnx.TensorProto.DataType.FLOAT;
    expect(f16.input!.every((v) => v.type!.tensorType!.elemType === FLOAT)).toBe(true);
    expect(f16.output!.every((v) => v.type!.tensorType!.elemType === FLOAT)).toBe(true);
    expect(f16.initializer!.filter((t) => t.dataType === FLOAT)).toEqual([]);
    const casts = f16.node!.filter((n) => n.opType === 'Cast').map((n) => Number(attr(n, 'to')?.i));
    expect(casts.filter((to) => to === FLOAT).length).toBe(f16.output!.length);
    expect(casts.filter((to) => to === onnx.TensorProto.DataType.FLOAT16).length).toBe(f16.input!.length);
  });

  it('leaves nothing in the kit folder', () => {
    expect(readdirSync(join(root, 'kit')).sort()).toEqual(['KIT.json', 'anchor.py', 'kit.cjs', 'node', 'ort', 'run.sh']);
  });
});

describe('recommendations', () => {
  const row = (variant: string, ms: number, relL2: number, tolerance = 1e-3): ShardResult => ({
    variant,
    shard: 'double',
    graph: 'g',
    size: 512,
    weightBytes: 1,
    flops: 1,
    status: 'ok',
    medianMs: ms,
    spread: 0.01,
    check: { reference: 'q4 on cpu', relL2, tolerance, rule: '', pass: relL2 <= tolerance },
  });
  const acc4 = VARIANTS.filter((v) => v.name === 'q4' || v.name === 'q4-acc4');
  const decide = (base: ShardResult, alt: ShardResult) => recommend([base, alt], acc4)[0];

  it('uses an alternative that passes and is faster beyond the spread, and keeps the default otherwise', () => {
    expect(decide(row('q4', 100, 1e-6), row('q4-acc4', 80, 5e-3, 2e-2)).decision).toBe('use');
    expect(decide(row('q4', 100, 1e-6), row('q4-acc4', 99, 5e-3, 2e-2)).decision).toBe('keep default');
    expect(decide(row('q4', 100, 1e-6), row('q4-acc4', 50, 5e-2, 2e-2))).toMatchObject({ decision: 'keep default', reason: expect.stringContaining('fails its check') });
  });

  it('puts correctness first: a failing default is reported, and a passing alternative is used', () => {
    const base = row('q4', 50, 5e-2);
    expect(defaultFailures([base], acc4)).toEqual([expect.stringContaining('q4 double 512²: 5.00e-2 > 1.00e-3')]);
    expect(decide(base, row('q4-acc4', 100, 5e-3, 2e-2)).decision).toBe('use');
    expect(decide(base, row('q4-acc4', 100, 5.1e-2, 2e-2)).decision).toBe('undecided');
    expect(decide(row('q4', 100, 1e-6), { ...row('q4-acc4', 1, 0), status: 'unavailable', message: 'no shader-f16' })).toMatchObject({ decision: 'not measured', reason: 'no shader-f16' });
  });
});

describe('FLOP counts', () => {
  it('match the published per-step figures of FLUX.1 at 1024² (4096 image + 256 text tokens)', () => {
    // ../shared/NOTES.md: 18.7 T in the 19 double blocks and 37.4 T in the 38 single blocks
    // without attention, 13.3 T of attention over the 57 blocks.
    const attention = 13.3e12 / 57;
    expect(shardFlops(FULL_WIDTH_MODEL, 'double', 1024) / (18.7e12 / 19 + attention)).toBeCloseTo(1, 2);
    expect(shardFlops(FULL_WIDTH_MODEL, 'single', 1024) / (37.4e12 / 38 + attention)).toBeCloseTo(1, 2);
    // 512²: 1024 image tokens, so about a quarter of the linear work.
    expect(shardFlops(FULL_WIDTH_MODEL, 'double', 512) / shardFlops(FULL_WIDTH_MODEL, 'double', 1024)).toBeGreaterThan(0.25);
    expect(shardFlops(FULL_WIDTH_MODEL, 'double', 512) / shardFlops(FULL_WIDTH_MODEL, 'double', 1024)).toBeLessThan(0.3);
  });
});
