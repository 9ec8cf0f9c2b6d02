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
import { InvalidParameterError } from '../src/errors.ts';
import { img2imgSigmas, strengthStart } from '../src/pipeline/img2img.ts';
import { validateRequest } from '../src/request.ts';
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

  it('on edge cases: strength 1, very small strengths, 1–4 steps (t_start = int(N − N·strength))', () => {
    // [steps, strength, first step run (t_start), steps run], worked out by hand from diffusers' rule.
    const cases: [number, number, number, number][] = [
      [1, 1, 0, 1], [1, 0.5, 0, 1], [1, 0.01, 0, 1],
      [2, 1, 0, 2], [2, 0.75, 0, 2], [2, 0.6, 0, 2], [2, 0.5, 1, 1], [2, 0.49, 1, 1], [2, 0.01, 1, 1],
      [3, 1, 0, 3], [3, 0.5, 1, 2], [3, 0.34, 1, 2], [3, 0.01, 2, 1],
      [4, 1, 0, 4], [4, 0.76, 0, 4], [4, 0.6, 1, 3], [4, 0.5, 2, 2], [4, 0.25, 3, 1], [4, 0.2, 3, 1], [4, 1e-9, 3, 1],
    ];
    for (const [steps, strength, tStart, run] of cases) {
      expect(strengthStart(steps, strength), `${steps} steps, strength ${strength}`).toEqual({ tStart, steps: run });
      const full = flowSigmas(steps);
      expect(Array.from(img2imgSigmas(full, strength))).toEqual(Array.from(full.slice(tStart)));
    }
    // So small that N − N·strength rounds to N in float64: no step would run, refused naming strength.
    expect(() => strengthStart(4, 1e-17)).toThrow(InvalidParameterError);
    expect(() => validateRequest({ prompt: 'x', image: { rgb: new Uint8Array(256 * 256 * 3), width: 256, height: 256 }, strength: 1e-17 })).toThrow(/strength must be large enough that at least one of the 4 steps runs/);
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
