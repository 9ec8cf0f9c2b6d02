/**
 * Text embeddings cached per prompt, so that "generate again" and seed variations skip
 * the text encoders (under the staged and streaming plans that also skips loading them).
 * A small least-recently-used map: FLUX.1's T5 output is 256 × 4096 float32 (4 MiB) per
 * prompt.
 */
import type { TextConditioning } from '../pipeline/flux-pipeline.ts';

/** A cached prompt's conditioning and the warnings its encoding produced. */
export interface CachedPrompt extends TextConditioning {
  warnings: string[];
}

/** Prompts remembered per engine (each up to a few MiB). */
export const PROMPT_CACHE_ENTRIES = 8;

/** An LRU cache of encoded prompts, keyed by package and prompt text. */
export class PromptCache {
  private readonly entries = new Map<string, CachedPrompt>();
  /** Lookups answered from the cache (for tests and the bench). */
  hits = 0;

  constructor(private readonly capacity = PROMPT_CACHE_ENTRIES) {}

  private static key(packageUrl: string, prompt: string): string {
    return `${packageUrl}\n${prompt}`;
  }

  /** The cached conditioning of `prompt` for the package, refreshed as most recently used. */
  get(packageUrl: string, prompt: string): CachedPrompt | undefined {
    const key = PromptCache.key(packageUrl, prompt);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.hits++;
    return entry;
  }

  set(packageUrl: string, prompt: string, entry: CachedPrompt): void {
    const key = PromptCache.key(packageUrl, prompt);
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Forgets every prompt of a package (when it is deleted). */
  forget(packageUrl: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(`${packageUrl}\n`)) this.entries.delete(key);
  }
}
