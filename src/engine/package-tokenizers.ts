/**
 * A package's tokenizers without its weights, for counting tokens while the user types:
 * the manifest and the two tokenizers' files only (a few MB). They are stored in the
 * weight store like every package file (the rest of the package is registered as not yet
 * stored, so the package lists as partial), so the full download never fetches them again
 * and counting works offline afterwards. Kept per package URL.
 */
import { ModelPackageError } from '../errors.ts';
import { hasTextEncoders, type Manifest } from '../package/manifest.ts';
import { loadTokenizers, type PackageTokenizers } from '../pipeline/text-encoding.ts';
import type { WeightStore } from '../store/weight-store.ts';

/** The parts of the weight store used here. */
export type TokenizerFileStore = Pick<WeightStore, 'registerFiles' | 'ensureFiles' | 'getFile'>;

/** Tokenizers by package URL, each loaded once (a failed load is retried on the next call). */
export class PackageTokenizerCache {
  private readonly loaded = new Map<string, Promise<PackageTokenizers>>();

  /**
   * @param store the weight store the tokenizer files are kept in
   * @param manifest the package's manifest (the engine fetches it once per session)
   */
  constructor(
    private readonly store: () => TokenizerFileStore,
    private readonly manifest: (packageUrl: string) => Promise<Manifest>,
  ) {}

  /**
   * The tokenizers of the package at `packageUrl` (absolute, ending in "/").
   * @throws ModelPackageError when the package has no text encoders
   * @throws DownloadError / IntegrityError / StorageQuotaError when its files cannot be stored
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

  /** Resolves when no tokenizer load of `packageUrl` is in flight (whatever its outcome). */
  async settled(packageUrl: string): Promise<void> {
    await this.loaded.get(packageUrl)?.catch(() => undefined);
  }

  /** Drops the package's tokenizers (e.g. when it is deleted). */
  forget(packageUrl: string): void {
    this.loaded.delete(packageUrl);
  }

  /** Keeps tokenizers that were loaded with the package's sessions. */
  set(packageUrl: string, tokenizers: PackageTokenizers): void {
    this.loaded.set(packageUrl, Promise.resolve(tokenizers));
  }

  private async load(packageUrl: string): Promise<PackageTokenizers> {
    const manifest = await this.manifest(packageUrl);
    if (!hasTextEncoders(manifest)) {
      throw new ModelPackageError(`${manifest.modelId} has no text encoders: it takes prompt embeddings, so it has no tokens to count`);
    }
    const store = this.store();
    const { clip, t5 } = manifest.tokenizers!;
    const paths = new Set([clip.tokenizerJson, clip.tokenizerConfig, t5.tokenizerJson, t5.tokenizerConfig]);
    await store.registerFiles(packageUrl, manifest.files, manifest.modelId);
    await store.ensureFiles(packageUrl, manifest.files.filter((f) => paths.has(f.path)), { modelId: manifest.modelId });
    return loadTokenizers({
      manifest,
      async readJson(path: string) {
        const text = await (await store.getFile(packageUrl, path)).text();
        try {
          return JSON.parse(text);
        } catch (error) {
          throw new ModelPackageError(`${path} is not valid JSON: ${(error as Error).message}`, path);
        }
      },
    });
  }
}
