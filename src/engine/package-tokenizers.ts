/**
 * A package's tokenizers without its weights, for counting tokens while the user types:
 * the manifest and the two tokenizers' files only (a few MB), read from the weight store
 * when the package is stored there, else fetched and checked against the manifest's
 * sha256 (not stored: the full download stores them with the rest). Kept per package URL.
 */
import { DownloadError, IntegrityError, ModelPackageError } from '../errors.ts';
import { hasTextEncoders, type Manifest } from '../package/manifest.ts';
import { loadTokenizers, type PackageTokenizers } from '../pipeline/text-encoding.ts';
import { sha256Hex } from '../store/sha256.ts';
import { fetchManifest } from './manifest-fetch.ts';

/** Where stored files come from (the engine's weight store). */
export interface StoredFileSource {
  getFile(packageUrl: string, path: string): Promise<Blob>;
}

/** Reads one package file: from the store when it is there, else over the network (sha256-checked). */
async function readPackageText(store: StoredFileSource, packageUrl: string, manifest: Manifest, path: string): Promise<string> {
  const entry = manifest.files.find((f) => f.path === path);
  if (!entry) throw new ModelPackageError(`${path} is not a file of this package`, path);
  try {
    return await (await store.getFile(packageUrl, path)).text();
  } catch {
    // Not stored (or damaged there): fetch it.
  }
  const url = new URL(path, packageUrl).href;
  let response: Response;
  try {
    response = await fetch(url, { credentials: 'same-origin' });
  } catch (error) {
    throw new DownloadError(`cannot fetch ${url}: ${(error as Error).message}`, url);
  }
  if (!response.ok) throw new DownloadError(`cannot fetch ${url}: HTTP ${response.status}`, url, response.status);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length !== entry.size || (await sha256Hex(bytes)) !== entry.sha256.toLowerCase()) {
    throw new IntegrityError(`${path} does not match the size and sha256 in the manifest`, path);
  }
  return new TextDecoder().decode(bytes);
}

/** Tokenizers by package URL, each loaded once (a failed load is retried on the next call). */
export class PackageTokenizerCache {
  private readonly loaded = new Map<string, Promise<PackageTokenizers>>();

  constructor(private readonly store: () => StoredFileSource) {}

  /**
   * The tokenizers of the package at `packageUrl` (absolute, ending in "/").
   * @throws ModelPackageError when the package has no text encoders
   * @throws DownloadError / IntegrityError when its files cannot be read
   */
  get(packageUrl: string): Promise<PackageTokenizers> {
    let tokenizers = this.loaded.get(packageUrl);
    if (!tokenizers) {
      tokenizers = this.load(packageUrl);
      this.loaded.set(packageUrl, tokenizers);
      tokenizers.catch(() => this.loaded.delete(packageUrl));
    }
    return tokenizers;
  }

  /** Keeps tokenizers that were loaded with the package's sessions. */
  set(packageUrl: string, tokenizers: PackageTokenizers): void {
    this.loaded.set(packageUrl, Promise.resolve(tokenizers));
  }

  private async load(packageUrl: string): Promise<PackageTokenizers> {
    const manifest = await fetchManifest(packageUrl);
    if (!hasTextEncoders(manifest)) {
      throw new ModelPackageError(`${manifest.modelId} has no text encoders: it takes prompt embeddings, so it has no tokens to count`);
    }
    const store = this.store();
    return loadTokenizers({
      manifest,
      async readJson(path: string) {
        const text = await readPackageText(store, packageUrl, manifest, path);
        try {
          return JSON.parse(text);
        } catch (error) {
          throw new ModelPackageError(`${path} is not valid JSON: ${(error as Error).message}`, path);
        }
      },
    });
  }
}
