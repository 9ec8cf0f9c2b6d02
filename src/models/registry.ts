/**
 * The model packages the app knows, by URL prefix (relative URLs resolve against the
 * page, so a static host serves them beside the app). Any other package URL works too:
 * the app reads its manifest before downloading anything.
 */

/** One known package. */
export interface RegistryEntry {
  id: string;
  name: string;
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
  },
  {
    id: 'black-forest-labs/FLUX.1-schnell',
    name: 'FLUX.1 [schnell] q4',
    url: 'models/flux1-schnell-q4/',
    description: 'The real model, 4-bit weights. Build it with `flux-webgpu convert` (see README) and host it here or at any URL.',
    downloadBytes: 12_460_000_000,
  },
];

/** Formats bytes for people: "1.2 GB", "350 MB", "12 KB". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(bytes >= 1e8 ? 0 : 1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(0)} KB`;
  return `${bytes} B`;
}
