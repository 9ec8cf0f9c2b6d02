/**
 * The GPU measurement kit's bench (bundled into `.gpu-kit/kit.cjs` by `npm run gpu-kit`,
 * started by `.gpu-kit/run.sh`; runnable from the repo with `node --import tsx`):
 *
 *   kit [--ep webgpu|cpu] [--model full|small] [--out DIR] [--work DIR] [--budget-s N]
 *       [--warmup N] [--runs N] [--anchor auto|on|off] [--python CMD] [--parallel N]
 *       [--variants a,b] [--shards double,single] [--sizes 512,1024] [--keep] [--reuse]
 *
 * 1. writes a random-weight checkpoint (kit-model.ts) in child processes, while the
 *    device is probed (float16, matmul peaks, transfer rates);
 * 2. converts it into every package of variants.ts, one child process each;
 * 3. runs every shard of the base packages (fp32, q4) on the CPU EP at the check size:
 *    the references;
 * 4. times the same double and single block in PyTorch bf16 (anchor.py; `auto`: WebGPU runs only);
 * 5. per variant and shard: session creation, a first run checked against its reference,
 *    then warm-up and the median of synchronised runs at each image size;
 * 6. profiles a few shards at the largest size (GPU time per op type; WebGPU only);
 * 7. writes `<out>/gpu-bench.json` (after every stage, so a run cut short still leaves its
 *    results) and prints the table last.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { dirSize } from '../bench/measure.ts';
import { shardError, toleranceFor } from './accuracy.ts';
import { EpRunner, release, type KitEp } from './ep-runner.ts';
import { convertKitPackage, KIT_COMPONENTS, readKitPackage, writeKitComponent, type KitComponent, type KitGraph, type KitPackageFiles } from './kit-build-model.ts';
import { dependsOnImageSize, FULL_WIDTH_MODEL, SHARD_KINDS, shardFlops, shardInputs, SMALL_MODEL, type InputData, type KitModel, type ShardKind } from './kit-model.ts';
import { shardTable, summaryLines, type KitReport, type ShardResult } from './kit-report.ts';
import { defaultFailures, recommend } from './recommend.ts';
import { measureMatmulPeak, measureTransfers, probeFloat16 } from './probes.ts';
import { profileShard } from './profile.ts';
import { PACKAGES, packageOf, VARIANTS, type KitVariant } from './variants.ts';

const log = (line = '') => console.log(line);

/** Runs this same program (bundle or tsx) with other arguments; resolves with its exit code. */
function child(args: string[]): Promise<number> {
  return new Promise((done, fail) => {
    const proc = spawn(process.execPath, [...process.execArgv, process.argv[1], ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
    proc.on('error', fail);
    proc.on('close', (code) => done(code ?? 1));
  });
}

/** Runs `jobs` with at most `limit` at a time. */
async function pool<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, jobs.length)) }, worker));
  return results;
}

function modelByName(name: string): KitModel {
  if (name === 'full') return FULL_WIDTH_MODEL;
  if (name === 'small') return SMALL_MODEL;
  throw new Error(`gpu-kit: --model must be full or small (got ${name})`);
}

/** Child process entry points: one checkpoint component, or one package. */
async function childMain(argv: string[]): Promise<void> {
  const [mode, modelName, dir, what, shards] = argv;
  const model = modelByName(modelName);
  if (mode === 'child-checkpoint') {
    writeKitComponent(model, dir, what as KitComponent);
    return;
  }
  const pkg = PACKAGES.find((p) => p.name === what);
  if (!pkg) throw new Error(`gpu-kit: unknown package ${what}`);
  const only = shards ? shards.split(',') : undefined;
  await convertKitPackage(join(dir, 'checkpoint'), join(dir, 'packages', pkg.name), { ...pkg, shards: pkg.shards.filter((k) => !only || only.includes(k)) });
}

function nvidiaSmi(): string | undefined {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm', '--format=csv,noheader'], { encoding: 'utf8', timeout: 15_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      ep: { type: 'string', default: 'webgpu' },
      model: { type: 'string', default: 'full' },
      out: { type: 'string' },
      work: { type: 'string' },
      'budget-s': { type: 'string', default: '420' },
      warmup: { type: 'string', default: '2' },
      runs: { type: 'string', default: '5' },
      anchor: { type: 'string', default: 'auto' },
      python: { type: 'string', default: 'python3' },
      parallel: { type: 'string' },
      variants: { type: 'string' },
      shards: { type: 'string' },
      sizes: { type: 'string' },
      keep: { type: 'boolean', default: false },
      reuse: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const started = performance.now();
  const ep = values.ep as KitEp;
  if (ep !== 'webgpu' && ep !== 'cpu') throw new Error(`gpu-kit: --ep must be webgpu or cpu (got ${values.ep})`);
  const chosen = modelByName(values.model!);
  const sizes = values.sizes?.split(',').map(Number);
  if (sizes?.some((n) => !Number.isInteger(n) || n < 16 || n % 16 !== 0)) throw new Error(`gpu-kit: --sizes must be multiples of 16 (got ${values.sizes})`);
  const model: KitModel = sizes ? { ...chosen, sizes, checkSize: sizes.includes(chosen.checkSize) ? chosen.checkSize : sizes[0] } : chosen;
  const out = resolve(values.out ?? process.env.OUT ?? 'gpu-kit-out');
  mkdirSync(out, { recursive: true });
  const work = values.work ? resolve(values.work) : mkdtempSync(join(tmpdir(), 'flux-gpu-kit-'));
  mkdirSync(work, { recursive: true });
  const budgetMs = Number(values['budget-s']) * 1000;
  const warmup = Math.max(1, Number(values.warmup));
  const runs = Math.max(1, Number(values.runs));
  const parallel = Math.max(1, Number(values.parallel ?? Math.min(cpus().length, 6)));
  const wanted = values.variants?.split(',').map((s) => s.trim());
  const shardFilter = values.shards?.split(',').map((s) => s.trim()) as ShardKind[] | undefined;
  if (shardFilter?.some((k) => !SHARD_KINDS.includes(k))) throw new Error(`gpu-kit: --shards takes ${SHARD_KINDS.join(', ')} (got ${values.shards})`);
  const variants = VARIANTS.filter((v) => !wanted || wanted.includes(v.name))
    .map((v) => ({ ...v, shards: v.shards.filter((k) => !shardFilter || shardFilter.includes(k)) }))
    .filter((v) => v.shards.length > 0);

  const report: KitReport = {
    kit: { model: model.name, ep, startedAt: new Date().toISOString(), args: process.argv.slice(2), node: process.version, onnxruntime: String((ort.env.versions as Record<string, string>).node ?? '') },
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), gpu: nvidiaSmi() },
    adapter: {},
    peaks: [],
    transfer: {},
    conversions: [],
    references: [],
    q4WeightError: {},
    sessions: {},
    shards: [],
    profiles: [],
    recommendations: [],
    errors: [],
    stagesMs: {},
  };
  const save = () => writeFileSync(join(out, 'gpu-bench.json'), `${JSON.stringify(report, null, 1)}\n`);
  const stage = async <T>(name: string, body: () => Promise<T>): Promise<T | undefined> => {
    const t0 = performance.now();
    log(`== ${name}`);
    try {
      return await body();
    } catch (error) {
      report.errors.push({ stage: name, message: String((error as Error).stack ?? error) });
      log(`   ${name} failed: ${(error as Error).message}`);
      return undefined;
    } finally {
      report.stagesMs[name] = performance.now() - t0;
      save();
    }
  };
  log(`gpu-kit: ${model.name} model on the ${ep} EP; work folder ${work}; results ${join(out, 'gpu-bench.json')}`);

  // 1. Checkpoint (child processes) while the device is probed.
  const checkpointDir = join(work, 'checkpoint');
  const checkpointStarted = performance.now();
  // --reuse: a checkpoint and packages left in --work by an earlier run of the same model.
  const complete = join(checkpointDir, 'complete');
  const reuse = values.reuse && existsSync(complete) && readFileSync(complete, 'utf8') === model.name;
  const checkpoint = (reuse ? Promise.resolve([0]) : Promise.all(KIT_COMPONENTS.map((c) => child(['child-checkpoint', values.model!, checkpointDir, c])))).then((codes) => {
    if (codes.some((c) => c !== 0)) throw new Error(`writing the checkpoint failed (exit codes ${codes.join(', ')})`);
    writeFileSync(complete, model.name);
    report.checkpoint = { bytes: dirSize(checkpointDir), ms: performance.now() - checkpointStarted };
  });
  const runner = new EpRunner(ep);
  const probed = await stage('device probes', async () => {
    const f16 = await probeFloat16(runner);
    report.adapter.shaderF16 = f16.ok;
    report.adapter.f16Message = f16.message;
    log(`   float16: ${f16.message}`);
    report.transfer.syncOverheadMs = await runner.syncOverheadMs();
    if (ep === 'webgpu') {
      const bytes = model.name === 'full-width' ? 256 * 2 ** 20 : 2 ** 20;
      Object.assign(report.transfer, { bytes }, await measureTransfers(runner, bytes));
    }
    const sizes = model.name === 'full-width' ? (ep === 'webgpu' ? [4096, 8192] : [1024]) : [128];
    for (const dtype of ['float32', 'float16'] as const) {
      if (dtype === 'float16' && !f16.ok) continue;
      for (const n of sizes) {
        try {
          const peak = await measureMatmulPeak(runner, n, dtype);
          report.peaks.push(peak);
          log(`   matmul ${dtype} ${n}³: ${peak.tflops.toFixed(2)} TFLOP/s`);
        } catch (error) {
          report.errors.push({ stage: `matmul peak ${dtype} ${n}`, message: String((error as Error).message) });
        }
      }
    }
    return true;
  });
  if (!probed) {
    log(`gpu-kit: the ${ep} EP did not start; see errors in ${join(out, 'gpu-bench.json')}`);
    await checkpoint.catch(() => undefined);
    process.exitCode = 1;
    return;
  }
  const peakOf = (dtype: 'float32' | 'float16') => Math.max(0, ...report.peaks.filter((p) => p.dtype === dtype).map((p) => p.tflops)) || undefined;

  await stage('checkpoint', () => checkpoint);
  if (!report.checkpoint) {
    process.exitCode = 1;
    return;
  }

  // 2. Conversions, one child process per package.
  const needed = PACKAGES.filter((p) => variants.some((v) => packageOf(v) === p) || p.name === 'fp32' || p.name === 'q4');
  const packages = new Map<string, KitPackageFiles>();
  await stage('conversions', async () => {
    await pool(
      needed.map((pkg) => async () => {
        const kept = reuse ? readKitPackage(join(work, 'packages', pkg.name)) : undefined;
        const code = kept ? 0 : await child(['child-convert', values.model!, work, pkg.name, ...(shardFilter ? [shardFilter.join(',')] : [])]);
        const files = kept ?? readKitPackage(join(work, 'packages', pkg.name));
        if (code !== 0 || !files) throw new Error(`converting package ${pkg.name} failed (exit ${code})`);
        packages.set(pkg.name, files);
        report.conversions.push({ package: pkg.name, ms: files.convertMs, bytes: files.graphs.reduce((a, g) => a + g.fileBytes, 0) });
        log(`   ${pkg.name}: ${files.graphs.length} graphs in ${(files.convertMs / 1000).toFixed(1)} s`);
      }),
      parallel,
    );
  });
  const graphOf = (pkg: string, kind: ShardKind): KitGraph | undefined => packages.get(pkg)?.graphs.find((g) => g.kind === kind);

  // 3. References: base packages on the CPU EP at the check size.
  const references = new Map<string, Record<string, Float32Array>>();
  const cpu = new EpRunner('cpu');
  const checkInputs = new Map<ShardKind, Record<string, InputData>>();
  const inputsAt = (kind: ShardKind, size: number) => {
    if (size === model.checkSize || !dependsOnImageSize(kind)) {
      if (!checkInputs.has(kind)) checkInputs.set(kind, shardInputs(model, kind, model.checkSize));
      return checkInputs.get(kind)!;
    }
    return shardInputs(model, kind, size);
  };
  await stage('CPU references', async () => {
    for (const base of ['fp32', 'q4']) {
      for (const kind of SHARD_KINDS) {
        const graph = graphOf(base, kind);
        if (!graph || (shardFilter && !shardFilter.includes(kind))) continue;
        const t0 = performance.now();
        const session = await cpu.create(graph.model);
        try {
          const outputs = await session.run(await cpu.toDevice(inputsAt(kind, model.checkSize)));
          references.set(`${base}:${kind}`, Object.fromEntries(Object.entries(outputs).map(([name, t]) => [name, t.data as Float32Array])));
        } finally {
          await session.release();
        }
        report.references.push({ package: base, shard: kind, ms: performance.now() - t0 });
      }
    }
    for (const kind of SHARD_KINDS) {
      const q4 = references.get(`q4:${kind}`);
      const fp32 = references.get(`fp32:${kind}`);
      if (q4 && fp32) report.q4WeightError[kind] = shardError(kind, q4, fp32, inputsAt(kind, model.checkSize));
    }
    log(`   q4 weight error (relative L2 vs fp32 weights): ${Object.entries(report.q4WeightError).map(([k, v]) => `${k} ${v!.toExponential(2)}`).join(', ')}`);
  });

  // 4. PyTorch anchor (same double and single block, bf16, same weights).
  if (values.anchor === 'on' || (values.anchor === 'auto' && ep === 'webgpu')) {
    report.anchor = await stage('PyTorch anchor', () => runAnchor(values.python!, model, work, references, inputsAt));
  }

  // 5. Variants on the target EP.
  let createMs = 0;
  let createBytes = 0;
  await stage(`shards on ${ep}`, async () => {
    for (const variant of variants) {
      for (const kind of variant.shards) {
        const graph = graphOf(variant.package, kind);
        const sizes = dependsOnImageSize(kind) ? model.sizes : [null];
        const base = { variant: variant.name, shard: kind, graph: graph?.name ?? '', weightBytes: graph?.weightBytes ?? 0 };
        const skip = (status: ShardResult['status'], message: string) => {
          for (const size of sizes) report.shards.push({ ...base, size, flops: shardFlops(model, kind, size ?? model.checkSize), status, message });
        };
        if (!graph) {
          skip('error', `package ${variant.package} has no ${kind} graph`);
          continue;
        }
        if (variant.webgpuOnly && ep !== 'webgpu') {
          skip('skipped', 'a WebGPU EP option');
          continue;
        }
        if (variant.needsF16 && !report.adapter.shaderF16) {
          skip('unavailable', `no shader-f16: ${report.adapter.f16Message}`);
          continue;
        }
        if (performance.now() - started > budgetMs) {
          skip('skipped', 'time budget spent');
          continue;
        }
        const rows = await measureVariantShard(variant, kind, graph, sizes as (number | null)[]);
        report.shards.push(...rows);
        const created = rows.find((r) => r.createMs !== undefined);
        if (created?.createMs !== undefined && graph.weightBytes >= (model.name === 'full-width' ? 64 * 2 ** 20 : 0)) {
          createMs += created.createMs;
          createBytes += graph.weightBytes;
        }
        save();
      }
    }
  });
  if (createBytes > 0) report.sessions = { createMsPerGB: createMs / (createBytes / 1e9), bytes: createBytes, basis: `${(createBytes / 1e9).toFixed(2)} GB over all sessions${model.name === 'full-width' ? ' of ≥ 64 MiB' : ''}` };

  async function measureVariantShard(variant: KitVariant, kind: ShardKind, graph: KitGraph, sizes: (number | null)[]): Promise<ShardResult[]> {
    const rows: ShardResult[] = [];
    const base = { variant: variant.name, shard: kind, graph: graph.name, weightBytes: graph.weightBytes };
    let session: ort.InferenceSession;
    const t0 = performance.now();
    try {
      session = await runner.create(graph.model, variant.session);
    } catch (error) {
      const message = String((error as Error).message ?? error).split('\n')[0];
      if (variant.session.graphCapture) report.adapter.graphCapture = `not available: ${message}`;
      for (const size of sizes) rows.push({ ...base, size, flops: shardFlops(model, kind, size ?? model.checkSize), status: variant.session.graphCapture ? 'unavailable' : 'error', message });
      return rows;
    }
    const createdMs = performance.now() - t0;
    if (variant.session.graphCapture) report.adapter.graphCapture = 'session created with graph capture';
    try {
      for (const size of sizes) {
        const flops = shardFlops(model, kind, size ?? model.checkSize);
        const row: ShardResult = { ...base, size, flops, status: 'ok', ...(rows.length === 0 ? { createMs: createdMs } : {}) };
        const inputs = inputsAt(kind, size ?? model.checkSize);
        const feeds = await runner.toDevice(inputs);
        try {
          const checkHere = size === null || size === model.checkSize;
          const timing = await runner.time(session, feeds, {
            warmup,
            runs,
            minTotalMs: 300,
            onFirst: checkHere
              ? async (outputs) => {
                  const actual: Record<string, Float32Array> = {};
                  for (const [name, t] of Object.entries(outputs)) actual[name] = await runner.fetch(t);
                  const reference = references.get(`${variant.reference}:${kind}`);
                  if (!reference) return;
                  const relL2 = shardError(kind, actual, reference, inputs);
                  const reduced = packageOf(variant).graph.accuracyLevel === 4 || packageOf(variant).graph.computePrecision === 'fp16';
                  const { tolerance, rule } = toleranceFor(reduced, report.q4WeightError[kind]);
                  const fp32Ref = references.get(`fp32:${kind}`);
                  row.check = { reference: `${variant.reference} on cpu`, relL2, tolerance, rule, pass: relL2 <= tolerance, ...(fp32Ref ? { relL2VsFp32: shardError(kind, actual, fp32Ref, inputs) } : {}) };
                }
              : undefined,
          });
          Object.assign(row, { firstRunMs: timing.firstMs, medianMs: timing.medianMs, samplesMs: timing.samples, spread: timing.spread });
          if (flops > 0) {
            row.tflops = flops / (timing.medianMs * 1e9);
            const p32 = peakOf('float32');
            const p16 = peakOf('float16');
            if (p32) row.ofFp32Peak = row.tflops / p32;
            if (p16) row.ofFp16Peak = row.tflops / p16;
          }
          log(`   ${variant.name} ${kind} ${size === null ? '' : `${size}² `}${timing.medianMs.toFixed(2)} ms${row.check ? ` (check ${row.check.pass ? 'ok' : 'FAIL'} ${row.check.relL2.toExponential(2)})` : ''}`);
        } catch (error) {
          Object.assign(row, { status: 'error', message: String((error as Error).message ?? error).split('\n')[0] });
          log(`   ${variant.name} ${kind} ${size ?? ''} failed: ${row.message}`);
        } finally {
          release(feeds);
        }
        rows.push(row);
      }
    } finally {
      await session.release();
    }
    return rows;
  }

  // 6. Where the GPU time goes (the WebGPU EP's per-program GPU timestamps).
  if (ep === 'webgpu') {
    await stage('kernel profile', async () => {
      const size = Math.max(...model.sizes);
      const wanted: [string, ShardKind][] = [['q4', 'double'], ['q4', 'single'], ['q4', 'vae'], ['q4-acc4', 'double'], ['q4f16', 'double']];
      for (const [name, kind] of wanted) {
        const variant = variants.find((v) => v.name === name && v.shards.includes(kind));
        const graph = variant && graphOf(variant.package, kind);
        const timed = report.shards.some((r) => r.variant === name && r.shard === kind && r.status === 'ok');
        if (!variant || !graph || !timed) continue;
        if (performance.now() - started > budgetMs) break;
        const feeds = await runner.toDevice(inputsAt(kind, size));
        try {
          const profile = await profileShard(runner, graph.model, feeds, join(work, `profile-${name}-${kind}`));
          report.profiles.push({ variant: name, shard: kind, size, ...profile });
          log(`   ${name} ${kind} ${size}²: ${profile.gpuMs.toFixed(2)} ms GPU in ${profile.dispatches} dispatches: ${profile.ops.slice(0, 4).map((o) => `${o.op} ${(100 * o.share).toFixed(0)} %`).join(', ')}`);
        } finally {
          release(feeds);
        }
      }
    });
  }

  report.recommendations = recommend(report.shards, variants);
  report.defaultFailures = defaultFailures(report.shards, variants);
  report.totalMs = performance.now() - started;
  save();
  await runner.release();
  await cpu.release();
  if (!values.keep && !values.work) rmSync(work, { recursive: true, force: true });

  log();
  log(`== gpu-kit results (${model.name} model, ${ep} EP, ${(report.totalMs / 1000).toFixed(0)} s; ${join(out, 'gpu-bench.json')})`);
  log(shardTable(report));
  for (const line of summaryLines(report)) log(line);
}

/** The PyTorch anchor's limit (on the GPU machine it needs about half a minute). */
const ANCHOR_TIMEOUT_MS = 180_000;

/** Runs anchor.py (beside the bundle, or tools/gpu-kit/anchor.py in the repo). */
async function runAnchor(python: string, model: KitModel, work: string, references: Map<string, Record<string, Float32Array>>, inputsAt: (kind: ShardKind, size: number) => Record<string, InputData>): Promise<Record<string, unknown>> {
  const script = [join(dirname(process.argv[1]), 'anchor.py'), resolve('tools/gpu-kit/anchor.py')].find((p) => existsSync(p));
  if (!script) return { error: 'anchor.py not found' };
  // The check: the fp32 CPU reference of the double and single blocks at the check size.
  const checkDir = join(work, 'anchor-check');
  mkdirSync(checkDir, { recursive: true });
  const index: Record<string, { inputs: Record<string, number[]>; outputs: Record<string, number[]> }> = {};
  for (const kind of ['double', 'single'] as const) {
    const reference = references.get(`fp32:${kind}`);
    if (!reference) continue;
    const inputs = inputsAt(kind, model.checkSize);
    index[kind] = { inputs: {}, outputs: {} };
    for (const [name, input] of Object.entries(inputs)) {
      writeFileSync(join(checkDir, `${kind}.in.${name}.f32`), new Uint8Array(input.data.buffer, input.data.byteOffset, input.data.byteLength));
      index[kind].inputs[name] = input.dims;
    }
    for (const [name, values] of Object.entries(reference)) {
      writeFileSync(join(checkDir, `${kind}.out.${name}.f32`), new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      index[kind].outputs[name] = [values.length];
    }
  }
  writeFileSync(join(checkDir, 'index.json'), JSON.stringify(index));
  const flops: Record<string, number> = {};
  for (const kind of ['double', 'single'] as const) for (const size of model.sizes) flops[`${kind}:${size}`] = shardFlops(model, kind, size);
  const args = [script, '--checkpoint', join(work, 'checkpoint', 'transformer'), '--check', checkDir, '--sizes', model.sizes.join(','), '--text-tokens', String(model.textTokens), '--flops', JSON.stringify(flops)];
  return new Promise((done) => {
    const proc = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, ANCHOR_TIMEOUT_MS);
    proc.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    proc.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      for (const line of s.split('\n')) if (line.trim()) log(`   anchor | ${line}`);
    });
    proc.on('error', (error) => {
      clearTimeout(timer);
      done({ error: `cannot start ${python}: ${error.message}` });
    });
    proc.on('close', (code) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        done(JSON.parse(last));
      } catch {
        const why = timedOut ? `timed out after ${ANCHOR_TIMEOUT_MS / 1000} s` : `exited ${code}`;
        done({ error: `anchor.py ${why}: ${stderr.trim().split('\n').slice(-3).join(' | ')}` });
      }
    });
  });
}

const argv = process.argv.slice(2);
(argv[0]?.startsWith('child-') ? childMain(argv) : main()).catch((error) => {
  console.error(`gpu-kit: ${(error as Error).stack ?? error}`);
  process.exit(1);
});

