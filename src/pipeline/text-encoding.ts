/**
 * Text → conditioning: tokenize with the package's CLIP and T5 tokenizers, run the CLIP
 * text model for the pooled vector and the T5 encoder shards for the hidden states.
 * Plain TypeScript shared by Node and the browser worker.
 */
import { Tensor } from 'onnxruntime-common';
import { ModelPackageError, throwIfAborted } from '../errors.ts';
import { graphByRole, t5Shards, type Manifest, type TokenizerEntry } from '../package/manifest.ts';
import { PromptTokenizer, type PackageTokenizers, type TokenizerFiles } from '../text/prompt-tokenizer.ts';
import type { TextConditioning } from './flux-pipeline.ts';
import type { ModelRuntime } from './runtime.ts';

/** The conditioning of one prompt, and what did not fit. */
export interface EncodedPrompt extends TextConditioning {
  /** Words cut from the prompt because CLIP sees only `tokenizers.clip.maxLength` tokens (77 for FLUX; "" when none). */
  clipDroppedText: string;
  /** Words cut because T5 sees only `tokenizers.t5.maxLength` tokens (256 for schnell; "" when none). */
  t5DroppedText: string;
  clipIds: number[];
  t5Ids: number[];
}

export type { PackageTokenizers } from '../text/prompt-tokenizer.ts';

/**
 * Loads the package's tokenizers from its own files; their lengths come from the
 * manifest (CLIP 77; T5 256 for [schnell], 512 for [dev]).
 * @param runtime anything that reads the package's JSON files (no sessions are opened)
 */
export async function loadTokenizers(runtime: Pick<ModelRuntime, 'manifest' | 'readJson'>): Promise<PackageTokenizers> {
  const entries = runtime.manifest.tokenizers;
  if (!entries) throw new ModelPackageError('this package has no text encoders: give prompt embeddings instead of a prompt', undefined, 'no-text-encoders');
  const load = async (name: string, entry: TokenizerEntry) => {
    const files: TokenizerFiles = {
      tokenizerJson: (await runtime.readJson(entry.tokenizerJson)) as Record<string, unknown>,
      tokenizerConfig: (await runtime.readJson(entry.tokenizerConfig)) as Record<string, unknown>,
    };
    return new PromptTokenizer(name, files, entry.maxLength);
  };
  return { clip: await load('clip', entries.clip), t5: await load('t5', entries.t5) };
}

const int64Ids = (ids: number[]) => new Tensor('int64', BigInt64Array.from(ids.map((id) => BigInt(id))), [1, ids.length]);

/** Warnings for the words of a prompt the encoders did not see, with the token lengths from the manifest. */
export function droppedTextWarnings(encoded: Pick<EncodedPrompt, 'clipDroppedText' | 't5DroppedText'>, manifest: Pick<Manifest, 'tokenizers'>): string[] {
  const warnings: string[] = [];
  if (encoded.clipDroppedText) warnings.push(`CLIP sees ${manifest.tokenizers?.clip.maxLength} tokens; dropped: "${encoded.clipDroppedText}"`);
  if (encoded.t5DroppedText) warnings.push(`T5 sees ${manifest.tokenizers?.t5.maxLength} tokens; dropped: "${encoded.t5DroppedText}"`);
  return warnings;
}

/**
 * Encodes a prompt into T5 hidden states [1, T5 maxLength, joint_dim] and the CLIP pooled
 * vector [1, pooled_dim] (token lengths from the manifest's tokenizers).
 * @throws AbortedError when `signal` aborts (checked between graphs)
 */
export async function encodePrompt(runtime: ModelRuntime, tokenizers: PackageTokenizers, prompt: string, signal?: AbortSignal): Promise<EncodedPrompt> {
  const check = () => throwIfAborted(signal);
  const clipTokens = tokenizers.clip.tokenize(prompt);
  const t5Tokens = tokenizers.t5.tokenize(prompt);
  const { manifest } = runtime;

  check();
  const clipGraph = graphByRole(manifest, 'text-encoder-clip');
  const clipOut = await (await runtime.session(clipGraph)).run({ input_ids: int64Ids(clipTokens.ids) });
  const pooled = ((await clipOut.pooled.getData()) as Float32Array).slice();
  for (const t of Object.values(clipOut)) t.dispose();
  await runtime.finished?.(clipGraph);

  check();
  const embed = graphByRole(manifest, 'text-encoder-t5-embed');
  const embedded = await (await runtime.session(embed)).run({ input_ids: int64Ids(t5Tokens.ids) });
  await runtime.finished?.(embed);
  let hidden = embedded.hidden;
  const positionBias = embedded.position_bias;
  for (const shard of t5Shards(manifest)) {
    check();
    const out = await (await runtime.session(shard)).run({ hidden, position_bias: positionBias });
    hidden.dispose();
    hidden = out.hidden_out ?? out.last_hidden_state;
    await runtime.finished?.(shard);
  }
  const promptEmbeds = ((await hidden.getData()) as Float32Array).slice();
  hidden.dispose();
  positionBias.dispose();
  return {
    promptEmbeds,
    pooledPromptEmbeds: pooled,
    clipDroppedText: clipTokens.droppedText,
    t5DroppedText: t5Tokens.droppedText,
    clipIds: clipTokens.ids,
    t5Ids: t5Tokens.ids,
  };
}
