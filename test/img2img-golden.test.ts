/**
 * Image-to-image against diffusers' FluxImg2ImgPipeline: tiny-flux-a converted at fp32
 * must reproduce every `img2img_runs` tensor of the golden files (VAE encoder posterior,
 * image latents, the generator's second draw as noise, final latents, pixels), and the
 * strength rule must give the golden `sigmas_used`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFluxPipeline, type PipelineResult } from '../src/pipeline/flux-pipeline.ts';
import { img2imgSigmas } from '../src/pipeline/img2img.ts';
import { flowSigmas } from '../src/pipeline/schedule.ts';
import { convertCheckpoint } from '../tools/convert/convert-local.ts';
import { openNodeRuntime } from '../tools/node-runtime.ts';
import { maxAbsDiff, percentileAbsDiff, relativeL2 } from './support/compare.ts';
import { goldenTensors, TINY_FLUX_A } from './support/golden.ts';

interface Img2ImgRun {
  name: string;
  width: number;
  height: number;
  steps: number;
  seed: number;
  strength: number;
  sigmas_used: number[];
}

const RUNS: Img2ImgRun[] = JSON.parse(readFileSync(`${TINY_FLUX_A}/golden.json`, 'utf8')).img2img_runs;
const work = mkdtempSync(join(tmpdir(), 'flux-img2img-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('strength rule', () => {
  it('gives the golden sigmas_used', () => {
    for (const run of RUNS) expect(Array.from(img2imgSigmas(flowSigmas(run.steps), run.strength)), run.name).toEqual(run.sigmas_used);
  });
});

describe('tiny-flux-a image-to-image at fp32 matches diffusers', () => {
  const results = new Map<string, PipelineResult>();
  beforeAll(async () => {
    const dir = join(work, 'fp32');
    await convertCheckpoint({ checkpoint: TINY_FLUX_A, out: dir, weights: 'fp32' });
    const runtime = openNodeRuntime(dir);
    try {
      for (const run of RUNS) {
        const golden = goldenTensors(run.name);
        results.set(
          run.name,
          await runFluxPipeline(runtime, {
            promptEmbeds: golden.get('prompt_embeds')!.data as Float32Array,
            pooledPromptEmbeds: golden.get('pooled_prompt_embeds')!.data as Float32Array,
            width: run.width,
            height: run.height,
            steps: run.steps,
            seed: run.seed,
            keepIntermediates: true,
            init: { rgb: golden.get('init_image_uint8')!.data as Uint8Array, width: run.width, height: run.height, strength: run.strength },
          }),
        );
      }
    } finally {
      await runtime.release();
    }
  }, 300_000);

  for (const run of RUNS) {
    it(`${run.name} (${run.width}x${run.height}, ${run.steps} steps, strength ${run.strength}, seed ${run.seed})`, () => {
      const golden = goldenTensors(run.name);
      const g = (key: string) => golden.get(key)!.data as Float32Array;
      const got = results.get(run.name)!;
      const i = got.intermediates!;
      const report = {
        vae_encoder_mean: relativeL2(i.vae_encoder_mean!, g('vae_encoder_mean')),
        vae_encoder_logvar: relativeL2(i.vae_encoder_logvar!, g('vae_encoder_logvar')),
        image_latents: relativeL2(i.image_latents!, g('image_latents')),
        noise: maxAbsDiff(i.noise, g('noise')),
        final_packed_latents: relativeL2(i.final_packed_latents, g('final_packed_latents')),
        vae_out: relativeL2(i.vae_out, g('vae_out')),
        image_p99: percentileAbsDiff(got.image.rgb, golden.get('image_uint8')!.data as Uint8Array, 99),
      };
      console.log(`img2img fp32 ${run.name}`, report);
      expect(report.vae_encoder_mean).toBeLessThan(1e-3);
      expect(report.vae_encoder_logvar).toBeLessThan(1e-3);
      expect(report.image_latents).toBeLessThan(1e-3);
      expect(report.noise).toBeLessThan(1e-5);
      expect(report.final_packed_latents).toBeLessThan(1e-3);
      expect(report.vae_out).toBeLessThan(1e-3);
      expect(report.image_p99).toBeLessThanOrEqual(2);
    });
  }
});
