/**
 * FLUX.1 [dev] (guidance-distilled) against diffusers: ../shared/golden/tiny-flux-dev-a
 * (`guidance_embeds: true`, the dev scheduler with dynamic shifting, 512 text tokens)
 * converted at fp32 must match every golden tensor within the README's tolerances, and
 * its size-dependent schedule must give each run's sigmas.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, InvalidParameterError } from '../src/errors.ts';
import type { Manifest } from '../src/package/manifest.ts';
import { runFluxPipeline, type PipelineResult } from '../src/pipeline/flux-pipeline.ts';
import { latentSize } from '../src/pipeline/latents.ts';
import { dynamicShiftMu, flowSigmas, scheduleSigmas } from '../src/pipeline/schedule.ts';
import { expectedTransformerTensors, validateTransformerConfig } from '../src/convert/transformer-graphs.ts';
import { randomWeights, writeCheckpointComponent } from '../tools/checkpoint-writer.ts';
import { convertCheckpoint } from '../tools/convert/convert-local.ts';
import { writeDemoCheckpoint } from '../tools/demo/demo-model.ts';
import { openNodeRuntime } from '../tools/node-runtime.ts';
import { readSafetensors } from '../src/formats/safetensors.ts';
import { listFiles } from './support/checkpoints.ts';
import { maxAbsDiff, percentileAbsDiff, relativeL2 } from './support/compare.ts';
import { startFakeHub } from './support/fake-hub.ts';
import { readNamed, safetensorsOf, toBflTransformer } from './support/source-layouts.ts';
import { goldenRequest, goldenRuns, goldenTensors, TINY_FLUX_A, TINY_FLUX_DEV_A } from './support/golden.ts';

const exec = promisify(execFile);
type CliResult = { code?: number; stdout: string; stderr: string };
const cli = (...args: string[]): Promise<CliResult> => exec(process.execPath, ['tools/flux-webgpu.mjs', ...args]).catch((e) => e);

const work = mkdtempSync(join(tmpdir(), 'flux-golden-dev-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const runs = goldenRuns(TINY_FLUX_DEV_A);
const schedulerConfig = JSON.parse(readFileSync(join(TINY_FLUX_DEV_A, 'scheduler/scheduler_config.json'), 'utf8'));
const imageTokens = (width: number, height: number) => {
  const { h, w } = latentSize(height, width);
  return (h / 2) * (w / 2);
};

describe('the [dev] schedule (dynamic shifting)', () => {
  it("gives each golden run's sigmas within 1e-6", () => {
    for (const run of runs) {
      const sigmas = scheduleSigmas(run.steps, schedulerConfig, imageTokens(run.width, run.height));
      expect(sigmas).toHaveLength(run.sigmas.length);
      const error = maxAbsDiff(sigmas, run.sigmas);
      console.log(`${run.name} (${run.width}x${run.height}, ${run.steps} steps): sigma max |Δ| = ${error}`);
      expect(error).toBeLessThan(1e-6);
      // The shift depends on the image size: the plain [schnell] linspace is not what dev runs.
      expect(maxAbsDiff(flowSigmas(run.steps), run.sigmas)).toBeGreaterThan(1e-3);
    }
  });

  it('shifts by mu from 0.5 at 256 image tokens to 1.15 at 4096 (512² and 1024²)', () => {
    expect(dynamicShiftMu(256, schedulerConfig)).toBeCloseTo(0.5, 12);
    expect(dynamicShiftMu(4096, schedulerConfig)).toBeCloseTo(1.15, 12);
    // Larger images keep more noise at the same step.
    const small = scheduleSigmas(28, schedulerConfig, 256);
    const large = scheduleSigmas(28, schedulerConfig, 4096);
    expect(large[14]).toBeGreaterThan(small[14]);
    expect([small[0], small[28], large[0], large[28]]).toEqual([1, 0, 1, 0]);
  });
});

describe('tiny-flux-dev-a at fp32 matches diffusers', () => {
  let manifest: Manifest;
  const results = new Map<string, PipelineResult>();
  beforeAll(async () => {
    const dir = join(work, 'fp32');
    manifest = await convertCheckpoint({ checkpoint: TINY_FLUX_DEV_A, out: dir, weights: 'fp32' });
    const runtime = openNodeRuntime(dir);
    try {
      for (const run of runs) results.set(run.name, await runFluxPipeline(runtime, goldenRequest(run, TINY_FLUX_DEV_A)));
    } finally {
      await runtime.release();
    }
  }, 120_000);

  it('converts with a guidance input on the embed graph and the dev scheduler in the manifest', () => {
    const embed = manifest.graphs.find((g) => g.role === 'transformer-embed')!;
    expect(embed.inputs.map((i) => i.name)).toContain('guidance');
    expect(manifest.configs.transformer).toMatchObject({ guidance_embeds: true });
    expect(manifest.configs.scheduler).toMatchObject({ use_dynamic_shifting: true, base_shift: 0.5, max_shift: 1.15 });
  });

  for (const run of runs) {
    it(`${run.name} (${run.width}x${run.height}, ${run.steps} steps, guidance ${run.guidance}, seed ${run.seed})`, () => {
      const golden = goldenTensors(run.name, TINY_FLUX_DEV_A);
      const got = results.get(run.name)!;
      const i = got.intermediates!;
      const g = (key: string) => golden.get(key)!.data as Float32Array;
      expect(g('prompt_embeds').length / 32).toBe(512);
      const report = {
        noise: maxAbsDiff(i.noise, g('noise')),
        transformer_out_t1: relativeL2(i.transformer_out_t1, g('transformer_out_t1')),
        final_packed_latents: relativeL2(i.final_packed_latents, g('final_packed_latents')),
        vae_out: relativeL2(i.vae_out, g('vae_out')),
        image_p99: percentileAbsDiff(got.image.rgb, golden.get('image_uint8')!.data as Uint8Array, 99),
      };
      console.log(`dev fp32 ${run.name}`, report);
      expect(report.noise).toBeLessThan(1e-5);
      expect(report.transformer_out_t1).toBeLessThan(1e-3);
      expect(report.final_packed_latents).toBeLessThan(1e-3);
      expect(report.vae_out).toBeLessThan(1e-3);
      expect(report.image_p99).toBeLessThanOrEqual(2);
      expect([got.image.height, got.image.width]).toEqual([run.height, run.width]);
    });
  }

  it('needs the guidance: the same run without it is refused, and another guidance changes the output', async () => {
    const runtime = openNodeRuntime(join(work, 'fp32'));
    try {
      const run = runs[1];
      const { guidance: _omitted, ...noGuidance } = goldenRequest(run, TINY_FLUX_DEV_A);
      await expect(runFluxPipeline(runtime, noGuidance)).rejects.toBeInstanceOf(InvalidParameterError);
      const other = await runFluxPipeline(runtime, { ...goldenRequest(run, TINY_FLUX_DEV_A), guidance: 5 });
      const golden = goldenTensors(run.name, TINY_FLUX_DEV_A).get('transformer_out_t1')!.data as Float32Array;
      expect(relativeL2(other.intermediates!.transformer_out_t1, golden)).toBeGreaterThan(1e-2);
    } finally {
      await runtime.release();
    }
  }, 60_000);
});

describe('CLI: convert + generate --prompt-embeds … --guidance G on a [dev] checkpoint', () => {
  it('reproduces the golden run, defaults to 28 steps and guidance 3.5, and refuses guidance for [schnell]', async () => {
    const pkg = join(work, 'cli-dev');
    const converted = await cli('convert', '--checkpoint', TINY_FLUX_DEV_A, '--out', pkg, '--weights', 'fp32');
    expect(converted.code ?? 0).toBe(0);
    const run = runs[0];
    const embeds = join(TINY_FLUX_DEV_A, 'expected', `${run.name}.safetensors`);
    const dump = join(work, 'cli-dev.safetensors');
    const result = await cli('generate', '--model', pkg, '--prompt-embeds', embeds, '--guidance', String(run.guidance), '--width', String(run.width), '--height', String(run.height),
      '--steps', String(run.steps), '--seed', String(run.seed), '--out', join(work, 'cli-dev.png'), '--dump', dump);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`seed ${run.seed}, ${run.width}x${run.height}, ${run.steps} steps, guidance ${run.guidance} (FLUX.1 [dev])`);
    const got = readSafetensors(readFileSync(dump));
    const golden = goldenTensors(run.name, TINY_FLUX_DEV_A);
    const rel = (key: string) => relativeL2(got.get(key)!.data as Float32Array, golden.get(key)!.data as Float32Array);
    const p99 = percentileAbsDiff(got.get('image_uint8')!.data as Uint8Array, golden.get('image_uint8')!.data as Uint8Array, 99);
    console.log(`CLI dev ${run.name}: transformer_out_t1 ${rel('transformer_out_t1')}, final latents ${rel('final_packed_latents')}, p99 ${p99}`);
    expect(rel('transformer_out_t1')).toBeLessThan(1e-3);
    expect(rel('final_packed_latents')).toBeLessThan(1e-3);
    expect(p99).toBeLessThanOrEqual(2);

    // Without --steps and --guidance: the package's own defaults.
    const defaults = await cli('generate', '--model', pkg, '--prompt-embeds', embeds, '--width', '32', '--height', '32', '--seed', '1', '--out', join(work, 'cli-dev-defaults.png'));
    expect(defaults.stdout).toContain('32x32, 28 steps, guidance 3.5 (FLUX.1 [dev])');
    expect(defaults.stdout).toContain('step 28/28');

    // Out of BFL's range, or given to a [schnell] package: exit 2 naming --guidance.
    const tooHigh = await cli('generate', '--model', pkg, '--prompt-embeds', embeds, '--guidance', '7', '--out', join(work, 'x.png'));
    expect(tooHigh.code).toBe(2);
    expect(tooHigh.stderr).toContain('--guidance must be a number from 1.5 to 5 (got 7)');
    const schnellPkg = join(work, 'cli-schnell');
    await convertCheckpoint({ checkpoint: TINY_FLUX_A, out: schnellPkg, weights: 'fp32' });
    const schnell = await cli('generate', '--model', schnellPkg, '--prompt-embeds', join(TINY_FLUX_A, 'expected', 'run0.safetensors'), '--guidance', '3.5', '--width', '32', '--height', '32', '--out', join(work, 'y.png'));
    expect(schnell.code).toBe(2);
    expect(schnell.stderr).toMatch(/--guidance must be absent for .*FLUX\.1 \[schnell\] is not guidance-distilled/);
    const schnellDefault = await cli('generate', '--model', schnellPkg, '--prompt-embeds', join(TINY_FLUX_A, 'expected', 'run0.safetensors'), '--width', '32', '--height', '32', '--seed', '3', '--out', join(work, 'z.png'));
    expect(schnellDefault.stdout).toContain('32x32, 4 steps (FLUX.1 [schnell])');
  }, 180_000);
});

describe('a [dev] package with text encoders', () => {
  it('converts with T5 at 512 tokens and the published dev schedule, and generates from a prompt (CLI)', async () => {
    const checkpoint = join(work, 'dev-demo-checkpoint');
    writeDemoCheckpoint(checkpoint);
    const config = { ...JSON.parse(readFileSync(join(checkpoint, 'transformer', 'config.json'), 'utf8')), guidance_embeds: true };
    writeCheckpointComponent(join(checkpoint, 'transformer'), config, expectedTransformerTensors(validateTransformerConfig(config, 'dev demo')), randomWeights(7));
    rmSync(join(checkpoint, 'scheduler'), { recursive: true });
    const logged: string[] = [];
    const pkg = join(work, 'dev-demo');
    const manifest = await convertCheckpoint({ checkpoint, out: pkg, weights: 'fp32', log: (line) => logged.push(line) });
    expect(logged.join('\n')).toMatch(/using FLUX\.1 \[dev\]'s published schedule/);
    expect(manifest.configs.scheduler).toEqual({ use_dynamic_shifting: true, base_image_seq_len: 256, max_image_seq_len: 4096, base_shift: 0.5, max_shift: 1.15 });
    expect(manifest.tokenizers!.t5.maxLength).toBe(512);
    expect(manifest.graphs.find((g) => g.role === 'text-encoder-t5-embed')!.inputs[0].dims).toEqual([1, 512]);
    const long = Array.from({ length: 300 }, () => 'fox').join(' ');
    const result = await cli('generate', '--model', pkg, '--prompt', long, '--width', '32', '--height', '32', '--steps', '2', '--seed', '5', '--out', join(work, 'dev-demo.png'));
    expect(result.code ?? 0).toBe(0);
    expect(result.stdout).toContain('32x32, 2 steps, guidance 3.5 (FLUX.1 [dev])');
    // 300 words fit T5's 512 tokens but not CLIP's 77.
    expect(result.stderr).toMatch(/CLIP sees 77 tokens/);
    expect(result.stderr).not.toMatch(/T5 sees/);
  }, 180_000);
});

describe('[dev] from other sources: a BFL single file, and a gated Hub repository with a token', () => {
  it('converts to the same transformer graphs as the diffusers layout, and a [schnell] config refuses a [dev] file', async () => {
    const reference = await convertCheckpoint({ checkpoint: TINY_FLUX_DEV_A, out: join(work, 'src-reference'), weights: 'fp32', modelId: 'tiny-dev' });
    const transformerFiles = (m: Manifest) => m.files.filter((f) => f.path.startsWith('transformer_')).map((f) => [f.path, f.sha256]);

    const single = join(work, 'flux1-tiny-dev.safetensors');
    writeFileSync(single, safetensorsOf(toBflTransformer(await readNamed(join(TINY_FLUX_DEV_A, 'transformer')), 2, 2)));
    const bfl = await convertCheckpoint({ checkpoint: TINY_FLUX_DEV_A, transformer: single, out: join(work, 'src-bfl'), weights: 'fp32', modelId: 'tiny-dev' });
    expect(transformerFiles(bfl)).toEqual(transformerFiles(reference));

    const schnellConfig = join(work, 'schnell-config');
    cpSync(TINY_FLUX_DEV_A, schnellConfig, { recursive: true });
    const config = JSON.parse(readFileSync(join(schnellConfig, 'transformer', 'config.json'), 'utf8'));
    writeFileSync(join(schnellConfig, 'transformer', 'config.json'), JSON.stringify({ ...config, guidance_embeds: false }));
    const refused = await convertCheckpoint({ checkpoint: schnellConfig, transformer: single, out: join(work, 'src-refused'), weights: 'fp32' }).catch((e) => e);
    expect(refused).toBeInstanceOf(CheckpointError);
    expect(refused.message).toMatch(/guidance-distilled .* guidance_embeds: false/);

    const files = new Map<string, Uint8Array>();
    for (const path of listFiles(TINY_FLUX_DEV_A)) if (/^(transformer|vae|scheduler)\//.test(path)) files.set(path, new Uint8Array(readFileSync(join(TINY_FLUX_DEV_A, path))));
    const hub = await startFakeHub({ 'test-org/tiny-flux-dev': { files, gated: true } }, { tokens: { hf_dev: ['test-org/tiny-flux-dev'] } });
    try {
      const hubOptions = { hubUrl: hub.hubUrl, retries: 2, retryDelayMs: 1 };
      const gated = await convertCheckpoint({ checkpoint: 'hf:test-org/tiny-flux-dev', out: join(work, 'src-hub-no-token'), weights: 'fp32', hub: hubOptions }).catch((e) => e);
      expect(gated).toMatchObject({ reason: 'gated', status: 401 });
      const fromHub = await convertCheckpoint({ checkpoint: 'hf:test-org/tiny-flux-dev', out: join(work, 'src-hub'), weights: 'fp32', modelId: 'tiny-dev', hub: { ...hubOptions, token: 'hf_dev' } });
      expect(transformerFiles(fromHub)).toEqual(transformerFiles(reference));
      expect(fromHub.configs.scheduler).toMatchObject({ use_dynamic_shifting: true });
    } finally {
      await hub.close();
    }
  }, 120_000);
});
