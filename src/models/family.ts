/**
 * The FLUX.1 family of a model: [schnell] (timestep-distilled: no guidance input, plain
 * linear schedule, T5 256 tokens, 4 steps) or [dev] (guidance-distilled: the transformer
 * config has `guidance_embeds: true`, a guidance scale goes into the model, the schedule
 * shifts with the image size, T5 512 tokens, 28 steps). Decided by the transformer config
 * alone, so a package, a checkpoint and a manifest all agree.
 */
import { FAMILY_DEFAULTS } from '../defaults.ts';
import type { Manifest } from '../package/manifest.ts';

/** 'dev' for guidance-distilled models (FLUX.1 [dev]), 'schnell' otherwise. */
export type ModelFamily = keyof typeof FAMILY_DEFAULTS;

/** Human name of a family, as BFL writes it. */
export const FAMILY_NAMES: Record<ModelFamily, string> = { schnell: 'FLUX.1 [schnell]', dev: 'FLUX.1 [dev]' };

/**
 * The family of a diffusers transformer config (`transformer/config.json`).
 * @param config the parsed config; undefined (no transformer) counts as [schnell]
 */
export function familyOfTransformerConfig(config: { guidance_embeds?: unknown } | undefined): ModelFamily {
  return config?.guidance_embeds === true ? 'dev' : 'schnell';
}

/** The family of a package, from the transformer config in its manifest. */
export function modelFamily(manifest: Pick<Manifest, 'configs'>): ModelFamily {
  return familyOfTransformerConfig(manifest.configs.transformer as { guidance_embeds?: unknown });
}
