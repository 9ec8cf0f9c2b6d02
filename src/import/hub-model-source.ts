/**
 * What an in-page import converts: a model published on the Hugging Face Hub (or a
 * server speaking its protocol), named by `hf:` references, with the converter's options.
 * The same sources and options give the same package as
 * `npx flux-webgpu convert --checkpoint … [--transformer …] [--text-encoder-2 …] [--vae …] --weights …`.
 *
 * An imported package lives only in the browser's weight store, under a URL of its own
 * (`flux-import://{hub host}/{owner}/{name}/{revision}/{weights}-{hash}/`) that is never
 * fetched: the hash covers every source and option (not the token), so another choice is
 * another package.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { parseHubReference } from '../convert/hub-files.ts';
import { DEFAULTS, LIMITS } from '../defaults.ts';
import { InvalidParameterError } from '../errors.ts';
import { WEIGHT_PRECISIONS, type WeightPrecision } from '../package/manifest.ts';

/**
 * A model to import from the Hub, e.g.
 * `{ from: 'hf:black-forest-labs/FLUX.1-schnell', transformer: 'hf:city96/FLUX.1-schnell-gguf/flux1-schnell-Q4_0.gguf', weights: 'q4' }`.
 */
export interface HubModelSource {
  /**
   * `hf:owner/name[@revision]`: a repository in the diffusers layout. Configs, CLIP, the
   * tokenizers and every component not replaced below come from here.
   */
  from: string;
  /** `hf:owner/name[@revision]/path`: replaces the transformer's weights (safetensors in BFL or diffusers names, or a GGUF in BFL names). */
  transformer?: string;
  /** `hf:…/path`: replaces the T5 encoder's weights (a GGUF in llama.cpp names, or transformers safetensors). */
  textEncoder2?: string;
  /** `hf:…/path`: replaces the VAE's weights (`ae.safetensors` or diffusers safetensors). */
  vae?: string;
  /** Linear weight storage: 'q4' (default), 'q8', 'fp16' or 'fp32'. */
  weights?: WeightPrecision;
  /** Largest data file in MiB, 1–2047 (default 1024). */
  maxShardMb?: number;
  /** Model id recorded in the manifest (default the repository's name, as the CLI does). */
  modelId?: string;
  /** The Hub (default https://huggingface.co); any server speaking its protocol. */
  hubUrl?: string;
  /**
   * Access token for gated or private repositories: sent only as an `Authorization`
   * header to `hubUrl` (never to the file host, never in a URL or a message). Not part of
   * the package's identity.
   */
  token?: string;
}

/** The scheme of imported packages' URLs. */
export const IMPORTED_PACKAGE_SCHEME = 'flux-import:';

const KEYS: readonly (keyof HubModelSource)[] = ['from', 'transformer', 'textEncoder2', 'vae', 'weights', 'maxShardMb', 'modelId', 'hubUrl', 'token'];
const OVERRIDES = ['transformer', 'textEncoder2', 'vae'] as const;

/** Whether `value` is a `HubModelSource`-shaped object (rather than a package URL). */
export function isHubModelSource(value: unknown): value is HubModelSource {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'from' in value;
}

/**
 * Checks a `HubModelSource` and returns it with its defaults filled in.
 * @param field how the caller names it in errors (`model` for `createGenerator`)
 * @throws InvalidParameterError naming the field (`model.from`, `model.weights`, …) and what is allowed
 */
export function checkHubModelSource(value: unknown, field = 'model'): Required<Omit<HubModelSource, 'transformer' | 'textEncoder2' | 'vae' | 'token' | 'modelId'>> & HubModelSource {
  if (!isHubModelSource(value)) {
    throw new InvalidParameterError(field, "an object such as { from: 'hf:black-forest-labs/FLUX.1-schnell', weights: 'q4' }", value, value === undefined || value === null ? 'missing' : 'wrong-type');
  }
  const source = value as unknown as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    if (!KEYS.includes(key as keyof HubModelSource) && source[key] !== undefined) throw new InvalidParameterError(`${field}.${key}`, `not an option here (the options: ${KEYS.join(', ')})`, source[key], 'unknown-field');
  }
  const text = (key: string) => {
    const v = source[key];
    if (v !== undefined && typeof v !== 'string') throw new InvalidParameterError(`${field}.${key}`, 'text', v, 'wrong-type');
    return v as string | undefined;
  };
  const from = text('from');
  if (!from) throw new InvalidParameterError(`${field}.from`, 'hf:owner/name or hf:owner/name@revision (a repository in the diffusers layout)', from, 'missing');
  const repo = parseHubReference(from, `${field}.from`);
  if (repo.path) throw new InvalidParameterError(`${field}.from`, 'hf:owner/name or hf:owner/name@revision (a whole repository, not a file in it)', from, 'malformed');
  for (const key of OVERRIDES) {
    const ref = text(key);
    if (ref === undefined) continue;
    if (!parseHubReference(ref, `${field}.${key}`).path) throw new InvalidParameterError(`${field}.${key}`, 'hf:owner/name[@revision]/path/to/file (a file in a repository)', ref, 'malformed');
  }
  const weights = source.weights ?? DEFAULTS.weights;
  if (!WEIGHT_PRECISIONS.includes(weights as WeightPrecision)) throw new InvalidParameterError(`${field}.weights`, `one of ${WEIGHT_PRECISIONS.join(', ')}`, weights, typeof weights === 'string' ? 'not-one-of' : 'wrong-type');
  const maxShardMb = source.maxShardMb ?? DEFAULTS.maxShardMb;
  const { min, max } = LIMITS.maxShardMb;
  if (typeof maxShardMb !== 'number' || !Number.isInteger(maxShardMb) || maxShardMb < min || maxShardMb > max) {
    throw new InvalidParameterError(`${field}.maxShardMb`, `an integer from ${min} to ${max}`, maxShardMb, typeof maxShardMb === 'number' ? 'out-of-range' : 'wrong-type');
  }
  const modelId = text('modelId');
  if (modelId !== undefined && modelId.trim() === '') throw new InvalidParameterError(`${field}.modelId`, 'a non-empty text', modelId, 'missing');
  const hubUrl = text('hubUrl') ?? DEFAULTS.hubUrl;
  let parsedHub: URL | undefined;
  try {
    parsedHub = new URL(hubUrl);
  } catch {
    parsedHub = undefined;
  }
  if (!parsedHub || !/^https?:$/.test(parsedHub.protocol)) throw new InvalidParameterError(`${field}.hubUrl`, 'an http(s) URL such as https://huggingface.co', hubUrl, 'malformed');
  const token = text('token');
  // The token is never echoed: an error names the field, not the value.
  if (token !== undefined && (token.trim() === '' || /\s/.test(token))) throw new InvalidParameterError(`${field}.token`, 'an access token without spaces (hf_…)', '(hidden)', 'malformed');
  return { ...(value as HubModelSource), from, weights: weights as WeightPrecision, maxShardMb, hubUrl: hubUrl.replace(/\/+$/, '') };
}

/**
 * The key under which the weight store keeps the package imported from `source`
 * (absolute, ending in `/`, never fetched).
 * @throws InvalidParameterError as `checkHubModelSource`
 */
export function importedPackageUrl(source: HubModelSource): string {
  const s = checkHubModelSource(source);
  const repo = parseHubReference(s.from);
  const canonical = (ref: string | undefined) => {
    if (ref === undefined) return null;
    const r = parseHubReference(ref);
    return `${r.repo}@${r.revision}/${r.path}`;
  };
  const identity = JSON.stringify([s.hubUrl, canonical(s.from), canonical(s.transformer), canonical(s.textEncoder2), canonical(s.vae), s.weights, s.maxShardMb, s.modelId ?? null]);
  const hash = bytesToHex(sha256(new TextEncoder().encode(identity))).slice(0, 8);
  const host = new URL(s.hubUrl).host;
  const [owner, name] = repo.repo.split('/');
  const segment = (part: string) => encodeURIComponent(part);
  return `${IMPORTED_PACKAGE_SCHEME}//${host}/${segment(owner)}/${segment(name)}/${segment(repo.revision)}/${s.weights}-${hash}/`;
}

/** Whether a package URL names an imported package (kept only in the weight store). */
export function isImportedPackageUrl(url: string): boolean {
  return url.startsWith(`${IMPORTED_PACKAGE_SCHEME}//`);
}

/** The sources of an import in a few words, e.g. `hf:black-forest-labs/FLUX.1-schnell + transformer hf:city96/…gguf, q4`. */
export function describeHubModelSource(source: HubModelSource): string {
  const parts = [source.from, ...OVERRIDES.filter((key) => source[key]).map((key) => `${key} ${source[key]}`)];
  return `${parts.join(' + ')}, ${source.weights ?? DEFAULTS.weights}`;
}
