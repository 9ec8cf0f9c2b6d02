/**
 * How a prompt fits FLUX's two text encoders, before anything is generated: CLIP sees 77
 * tokens (75 of text), T5 256 ([schnell]) or 512 ([dev]) — whatever the package's
 * manifest says. Counts, the ids each encoder receives, the text cut off and how many
 * of the prompt's words survive, so that a page can show "T5: 212 / 256 tokens; CLIP
 * keeps the first 41 words" while the user types. Plain TypeScript (no DOM, no Node).
 */
import type { PackageTokenizers, PromptTokenizer } from './prompt-tokenizer.ts';

/** One encoder's view of a prompt. */
export interface EncoderTokenCount {
  /** The ids the encoder receives: exactly `maxTokens` (special tokens and padding included). */
  ids: number[];
  /** Tokens the whole prompt needs, special tokens included (may exceed `maxTokens`). */
  tokens: number;
  /** The encoder's length in tokens, special tokens included: 77 (CLIP), 256 or 512 (T5). */
  maxTokens: number;
  /** The text cut off, as the tokenizer decodes it (as diffusers reports it); "" when everything fits. */
  dropped: string;
  /** Words of the prompt (split at whitespace) whose tokens all fit. */
  keptWords: number;
  /** Words in the prompt. */
  words: number;
}

/** Both encoders' views of a prompt (`countTokens`). */
export interface TokenCount {
  clip: EncoderTokenCount;
  t5: EncoderTokenCount;
}

/** Splits a prompt into its words: runs of non-whitespace, with their end offsets. */
function wordEnds(prompt: string): number[] {
  const ends: number[] = [];
  for (const match of prompt.matchAll(/\S+/g)) ends.push(match.index + match[0].length);
  return ends;
}

/**
 * How many leading words fit in the encoder's text room: a binary search over word
 * prefixes (about log2(words) tokenizations, only when the prompt does not fit).
 */
function wordsThatFit(tokenizer: PromptTokenizer, prompt: string, ends: number[]): number {
  let low = 0;
  let high = ends.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (tokenizer.textTokens(prompt.slice(0, ends[mid - 1])) <= tokenizer.room) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** One encoder's count of `prompt`. */
export function countEncoderTokens(tokenizer: PromptTokenizer, prompt: string): EncoderTokenCount {
  const result = tokenizer.tokenize(prompt);
  const ends = wordEnds(prompt);
  const fits = result.fullLength <= tokenizer.maxLength;
  return {
    ids: result.ids,
    tokens: result.fullLength,
    maxTokens: tokenizer.maxLength,
    dropped: result.droppedText,
    keptWords: fits ? ends.length : wordsThatFit(tokenizer, prompt, ends),
    words: ends.length,
  };
}

/**
 * Counts a prompt's tokens for both encoders of a package.
 * @param prompt any text (an empty one gives only the special tokens)
 */
export function countTokens(tokenizers: PackageTokenizers, prompt: string): TokenCount {
  return { clip: countEncoderTokens(tokenizers.clip, prompt), t5: countEncoderTokens(tokenizers.t5, prompt) };
}

/**
 * One line for people, e.g. "T5: 212 / 256 tokens; CLIP: 77 / 77 tokens, keeps the first
 * 41 of 120 words". A count past the length shows what is needed: "T5: 256 / 256 tokens
 * (300 needed, the last 30 words are dropped)".
 */
export function describeTokenCount(count: TokenCount): string {
  const part = (name: string, c: EncoderTokenCount) => {
    const used = Math.min(c.tokens, c.maxTokens);
    if (c.tokens <= c.maxTokens) return `${name}: ${used} / ${c.maxTokens} tokens`;
    return `${name}: ${used} / ${c.maxTokens} tokens (${c.tokens} needed), keeps the first ${c.keptWords} of ${c.words} words`;
  };
  return `${part('T5', count.t5)}; ${part('CLIP', count.clip)}`;
}
