import type { ModelFamily } from './family.ts';

/**
 * The model packages the app knows, by URL prefix (relative URLs resolve against the
 * page, so a static host serves them beside the app). Any other package URL works too:
 * the app reads its manifest before downloading anything.
 */

/** The licence a model's weights come under (shown before anything is downloaded). */
export interface ModelLicense {
  /** e.g. "Apache-2.0", "FLUX.1 [dev] Non-Commercial License". */
  name: string;
  /** Where to read it. */
  url: string;
  /** Whether the weights may be used commercially under this licence. */
  commercialUse: boolean;
}

/** One known package. */
export interface RegistryEntry {
  id: string;
  name: string;
  /** Which FLUX.1 family: 'schnell' (4 steps) or 'dev' (guidance-distilled, 28 steps). */
  family: ModelFamily;
  license: ModelLicense;
  /** URL prefix of the package folder (ends with "/"). */
  url: string;
  description: string;
  /** Bytes of all files (sum of the manifest's sizes). */
  downloadBytes: number;
}

/**
 * Sizes are those of the packages' manifests: the demo's is checked by a test against
 * `flux-webgpu demo-model`; the real one's against the converter's estimate for the
 * published FLUX.1 [schnell] configs (see test/registry.test.ts).
 */
export const MODEL_REGISTRY: readonly RegistryEntry[] = [
  {
    id: 'flux-webgpu/tiny-demo',
    name: 'Demo (tiny, random weights)',
    url: 'models/demo/',
    description: 'The whole pipeline with tiny random weights: instant, no real download. Images are noise-like by design.',
    downloadBytes: 1_782_417,
    family: 'schnell',
    license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0', commercialUse: true },
  },
  {
    id: 'black-forest-labs/FLUX.1-schnell',
    name: 'FLUX.1 [schnell] q4',
    url: 'models/flux1-schnell-q4/',
    description: 'The real model, 4-bit weights. Build it with `flux-webgpu convert` (see README) and host it here or at any URL.',
    downloadBytes: 12_460_000_000,
    family: 'schnell',
    license: { name: 'Apache-2.0', url: 'https://huggingface.co/black-forest-labs/FLUX.1-schnell/blob/main/LICENSE.md', commercialUse: true },
  },
  {
    id: 'black-forest-labs/FLUX.1-dev',
    name: 'FLUX.1 [dev] q4',
    url: 'models/flux1-dev-q4/',
    description:
      'Guidance-distilled FLUX.1: better images in 28 steps (slower than [schnell]), guidance 1.5–5. 4-bit weights; build it with `flux-webgpu convert` from the gated Hugging Face repository (accept its licence there first).',
    downloadBytes: 12_470_000_000,
    family: 'dev',
    license: { name: 'FLUX.1 [dev] Non-Commercial License', url: 'https://huggingface.co/black-forest-labs/FLUX.1-dev/blob/main/LICENSE.md', commercialUse: false },
  },
];

/** One sentence about an entry's licence, for people (shown before any download). */
export function licenseNotice(entry: Pick<RegistryEntry, 'license' | 'name'>): string {
  return entry.license.commercialUse
    ? `Licence: ${entry.license.name}.`
    : `Licence: ${entry.license.name}: ${entry.name} may be used for non-commercial purposes only (personal, research, evaluation); commercial use needs a licence from Black Forest Labs.`;
}
