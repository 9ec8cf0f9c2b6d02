/**
 * Prompt tokenization as diffusers' FluxPipeline does it: CLIP padded/truncated to 77
 * tokens, T5 to 256, `padding="max_length", truncation=True`. The tokenizer itself is
 * Hugging Face's tokenizers.js (the engine of transformers.js), loaded from the model
 * package's own `tokenizer.json` / `tokenizer_config.json`, never from a hub.
 * A prompt that does not fit is cut, and the result says which words were dropped.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelPackageError } from '../errors.ts';

/** The two files a tokenizer is made from, already parsed. */
export interface TokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

/** Token ids of one prompt for one encoder. */
export interface TokenizedPrompt {
  /** Exactly `maxLength` ids (special tokens and padding included). */
  ids: number[];
  /** Ids before truncation and padding (with special tokens). */
  fullLength: number;
  /** The text of the tokens cut off, or "" when everything fit. */
  droppedText: string;
}

/** A tokenizer with FLUX's fixed length and padding. */
export class PromptTokenizer {
  private readonly tokenizer: Tokenizer;
  /** Id used for padding. */
  readonly padId: number;
  /** Ids the tokenizer appends after the text (e.g. CLIP's EOS, T5's </s>). */
  private readonly suffix: number[];
  /** Ids the tokenizer puts before the text (CLIP's BOS). */
  private readonly prefix: number[];

  /**
   * @param name for error messages ("clip" or "t5")
   * @param maxLength padded and truncated length in tokens (77 for CLIP, 256 for T5)
   */
  constructor(
    readonly name: string,
    files: TokenizerFiles,
    readonly maxLength: number,
  ) {
    try {
      this.tokenizer = new Tokenizer(files.tokenizerJson, files.tokenizerConfig);
    } catch (error) {
      throw new ModelPackageError(`${name} tokenizer: cannot load tokenizer.json (${(error as Error).message})`);
    }
    const padToken = tokenText(files.tokenizerConfig.pad_token);
    const padId = padToken === undefined ? undefined : this.tokenizer.token_to_id(padToken);
    if (padId === undefined) throw new ModelPackageError(`${name} tokenizer: pad_token ${JSON.stringify(padToken)} is not in the vocabulary`);
    this.padId = padId;
    // Find the special tokens the post-processor adds around a text.
    const withSpecials = this.tokenizer.encode('a', { add_special_tokens: true }).ids;
    const plain = this.tokenizer.encode('a', { add_special_tokens: false }).ids;
    const at = indexOfSequence(withSpecials, plain);
    if (at < 0) throw new ModelPackageError(`${name} tokenizer: cannot tell its special tokens apart`);
    this.prefix = withSpecials.slice(0, at);
    this.suffix = withSpecials.slice(at + plain.length);
    if (this.prefix.length + this.suffix.length >= maxLength) throw new ModelPackageError(`${name} tokenizer: max length ${maxLength} leaves no room for text`);
  }

  /** Text tokens that fit between the special tokens (75 for CLIP at 77, 255 for T5 at 256). */
  get room(): number {
    return this.maxLength - this.prefix.length - this.suffix.length;
  }

  /** Tokens of `text` alone (no special tokens, no truncation). */
  textTokens(text: string): number {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids.length;
  }

  /** Tokenizes, truncates to `maxLength` (keeping the special tokens) and pads. */
  tokenize(prompt: string): TokenizedPrompt {
    const content = this.tokenizer.encode(prompt, { add_special_tokens: false }).ids;
    const room = this.room;
    const kept = content.slice(0, room);
    const dropped = content.slice(room);
    const ids = [...this.prefix, ...kept, ...this.suffix];
    while (ids.length < this.maxLength) ids.push(this.padId);
    return {
      ids,
      fullLength: content.length + this.prefix.length + this.suffix.length,
      droppedText: dropped.length ? this.decode(dropped) : '',
    };
  }

  /**
   * The text of ids (special tokens skipped). CLIP's BPE marks word ends with `</w>`;
   * like transformers' CLIPTokenizerFast, those become spaces.
   */
  decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skip_special_tokens: true }).replace(/<\/w>/g, ' ').replace(/\s+/g, ' ').trim();
  }
}

/** The text of a special token given as a string or as `{content}` (tokenizer_config.json allows both). */
export function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return undefined;
}

function indexOfSequence(haystack: number[], needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Both tokenizers of a package. */
export interface PackageTokenizers {
  clip: PromptTokenizer;
  t5: PromptTokenizer;
}
