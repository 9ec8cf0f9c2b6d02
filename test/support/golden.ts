/** Access to ../shared/golden (diffusers reference outputs). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readSafetensors } from '../../src/formats/safetensors.ts';

/** Absolute path of the shared golden folder. */
export const GOLDEN_DIR = fileURLToPath(new URL('../../../shared/golden/', import.meta.url));
export const TINY_FLUX_A = `${GOLDEN_DIR}tiny-flux-a`;

export interface GoldenRun {
  name: string;
  height: number;
  width: number;
  steps: number;
  seed: number;
  sigmas: number[];
}

/** The runs of tiny-flux-a's golden.json. */
export function goldenRuns(): GoldenRun[] {
  return JSON.parse(readFileSync(`${TINY_FLUX_A}/golden.json`, 'utf8')).runs;
}

/** Tensors of expected/<run>.safetensors, by key. */
export function goldenTensors(run: string) {
  return readSafetensors(readFileSync(`${TINY_FLUX_A}/expected/${run}.safetensors`));
}

/** The pipeline request of a golden run: its prompt embeddings, size, steps and seed. */
export function goldenRequest(run: GoldenRun) {
  const golden = goldenTensors(run.name);
  return {
    promptEmbeds: golden.get('prompt_embeds')!.data as Float32Array,
    pooledPromptEmbeds: golden.get('pooled_prompt_embeds')!.data as Float32Array,
    width: run.width,
    height: run.height,
    steps: run.steps,
    seed: run.seed,
    keepIntermediates: true,
  };
}
