/** Access to ../shared/golden (diffusers reference outputs). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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
