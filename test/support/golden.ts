/** Access to ../shared/golden (diffusers reference outputs). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decode } from 'fast-png';
import { readSafetensors } from '../../src/formats/safetensors.ts';

/** Absolute path of the shared golden folder. */
export const GOLDEN_DIR = fileURLToPath(new URL('../../../shared/golden/', import.meta.url));
export const TINY_FLUX_A = `${GOLDEN_DIR}tiny-flux-a`;
/** The guidance-distilled case (FLUX.1 [dev] architecture and scheduler). */
export const TINY_FLUX_DEV_A = `${GOLDEN_DIR}tiny-flux-dev-a`;

export interface GoldenRun {
  name: string;
  height: number;
  width: number;
  steps: number;
  seed: number;
  sigmas: number[];
  /** Guidance-distilled cases only: the guidance scale passed to the transformer. */
  guidance?: number;
}

/** The runs of a case's golden.json (default tiny-flux-a). */
export function goldenRuns(dir = TINY_FLUX_A): GoldenRun[] {
  return JSON.parse(readFileSync(`${dir}/golden.json`, 'utf8')).runs;
}

/** Tensors of expected/<run>.safetensors, by key (default case tiny-flux-a). */
export function goldenTensors(run: string, dir = TINY_FLUX_A) {
  return readSafetensors(readFileSync(`${dir}/expected/${run}.safetensors`));
}

/** The pipeline request of a golden run: its prompt embeddings, size, steps, seed (and guidance). */
export function goldenRequest(run: GoldenRun, dir = TINY_FLUX_A) {
  const golden = goldenTensors(run.name, dir);
  return {
    ...(run.guidance === undefined ? {} : { guidance: run.guidance }),
    promptEmbeds: golden.get('prompt_embeds')!.data as Float32Array,
    pooledPromptEmbeds: golden.get('pooled_prompt_embeds')!.data as Float32Array,
    width: run.width,
    height: run.height,
    steps: run.steps,
    seed: run.seed,
    keepIntermediates: true,
  };
}

/**
 * A golden run as a page's `generate()` params (plain arrays, so Playwright can pass them):
 * prompt embeddings, size, steps, seed, and the guidance of guidance-distilled cases.
 */
export function goldenPageParams(run: GoldenRun, dir = TINY_FLUX_A) {
  const tensors = goldenTensors(run.name, dir);
  return {
    promptEmbeddings: {
      promptEmbeds: Array.from(tensors.get('prompt_embeds')!.data as Float32Array),
      pooledPromptEmbeds: Array.from(tensors.get('pooled_prompt_embeds')!.data as Float32Array),
    },
    width: run.width,
    height: run.height,
    steps: run.steps,
    seed: run.seed,
    ...(run.guidance === undefined ? {} : { guidance: run.guidance }),
  };
}

/** RGB bytes (alpha dropped) and size of a PNG. */
export function pngRgb(bytes: Uint8Array): { rgb: Uint8Array; width: number; height: number } {
  const png = decode(bytes);
  const data = png.data as Uint8Array;
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let i = 0, j = 0; i < data.length; i += png.channels) {
    rgb[j++] = data[i];
    rgb[j++] = data[i + 1];
    rgb[j++] = data[i + 2];
  }
  return { rgb, width: png.width, height: png.height };
}
