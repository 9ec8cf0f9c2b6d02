/**
 * Tokenizer files of a package: `tokenizer/` (CLIP) and `tokenizer_2/` (T5) are copied
 * from the checkpoint. The published FLUX repo has CLIP as `vocab.json` + `merges.txt`
 * only; tokenizers.js needs a `tokenizer.json`, so one is made exactly as transformers'
 * `CLIPConverter` makes it (BPE with `</w>` word ends, NFC + whitespace + lowercase
 * normalizer, byte-level pre-tokenizer, BOS/EOS post-processor).
 */
import { CheckpointError } from '../errors.ts';
import { tokenText, type TokenizerFiles } from '../text/prompt-tokenizer.ts';
import { joinPath, readCheckpointJson, type CheckpointFiles } from './checkpoint-files.ts';

/** Files a package keeps per tokenizer (relative to its folder). */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'] as const;

/**
 * The `tokenizer.json` of a CLIP BPE tokenizer from its `vocab.json` and `merges.txt`.
 * @param vocab token → id
 * @param merges merge rules "a b", without the "#version" line
 */
export function clipTokenizerJson(vocab: Record<string, number>, merges: string[], config: Record<string, unknown>): Record<string, unknown> {
  const bos = tokenText(config.bos_token) ?? '<|startoftext|>';
  const eos = tokenText(config.eos_token) ?? '<|endoftext|>';
  const unk = tokenText(config.unk_token) ?? '<|endoftext|>';
  const added = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  for (const token of [bos, eos]) if (vocab[token] === undefined) throw new CheckpointError(`CLIP vocab.json has no ${token}`, 'vocab.json', token);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(bos), added(eos)],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [eos, vocab[eos]], cls: [bos, vocab[bos]], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

/** Reads merges.txt: drops the "#version" line and blank lines. */
export function parseMerges(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#version'));
}

/** A file of the package, relative path and contents. */
export interface PackageFileBytes {
  path: string;
  bytes: Uint8Array;
}

/**
 * The checkpoint files `readCheckpointTokenizer` reads for one tokenizer folder (those that
 * exist), for the conversion plan.
 */
export async function tokenizerSourcePaths(files: CheckpointFiles, sourceDir: string, kind: 'clip' | 't5'): Promise<string[]> {
  const hasJson = await files.exists(joinPath(sourceDir, 'tokenizer.json'));
  const names = ['tokenizer_config.json', ...(hasJson ? ['tokenizer.json'] : kind === 'clip' ? ['vocab.json', 'merges.txt'] : []), 'special_tokens_map.json'];
  const paths: string[] = [];
  for (const name of names) if (await files.exists(joinPath(sourceDir, name))) paths.push(joinPath(sourceDir, name));
  return paths;
}

/**
 * Reads one checkpoint tokenizer folder as the two files a package keeps, parsed (the
 * CLIP `tokenizer.json` built in memory from vocab.json + merges.txt when it is missing).
 * `flux-webgpu tokenize` runs these directly on a checkpoint folder.
 * @param sourceDir the checkpoint's tokenizer folder, e.g. `tokenizer`
 * @param kind 'clip' may be built from vocab.json + merges.txt; 't5' needs tokenizer.json
 * @throws CheckpointError naming the missing or invalid file
 */
export async function readCheckpointTokenizer(files: CheckpointFiles, sourceDir: string, kind: 'clip' | 't5'): Promise<TokenizerFiles> {
  const config = await readCheckpointJson(files, joinPath(sourceDir, 'tokenizer_config.json'));
  let tokenizerJson: Record<string, unknown>;
  if (await files.exists(joinPath(sourceDir, 'tokenizer.json'))) tokenizerJson = await readCheckpointJson(files, joinPath(sourceDir, 'tokenizer.json'));
  else if (kind === 'clip') {
    const vocab = (await readCheckpointJson(files, joinPath(sourceDir, 'vocab.json'))) as Record<string, number>;
    const mergesPath = joinPath(sourceDir, 'merges.txt');
    if (!(await files.exists(mergesPath))) throw new CheckpointError(`missing file ${files.labelOf(mergesPath)}`, files.labelOf(mergesPath));
    tokenizerJson = clipTokenizerJson(vocab, parseMerges(await files.readText(mergesPath)), config);
  } else {
    const label = files.labelOf(joinPath(sourceDir, 'tokenizer.json'));
    throw new CheckpointError(`missing file ${label} (the T5 tokenizer needs its tokenizer.json)`, label);
  }
  const special = joinPath(sourceDir, 'special_tokens_map.json');
  const tokenizerConfig = (await files.exists(special)) ? { ...(await readCheckpointJson(files, special)), ...config } : config;
  return { tokenizerJson, tokenizerConfig };
}

/**
 * One tokenizer folder of the checkpoint as the package keeps it: `tokenizer.json` +
 * `tokenizer_config.json` under `folder`.
 * @param sourceDir the checkpoint's tokenizer folder, e.g. `tokenizer`
 * @param kind 'clip' may be built from vocab.json + merges.txt; 't5' needs tokenizer.json
 * @returns the two files, `tokenizer.json` first
 */
export async function packageTokenizerFiles(files: CheckpointFiles, sourceDir: string, folder: string, kind: 'clip' | 't5'): Promise<PackageFileBytes[]> {
  const { tokenizerJson, tokenizerConfig } = await readCheckpointTokenizer(files, sourceDir, kind);
  const encode = (text: string) => new TextEncoder().encode(text);
  return [
    { path: `${folder}/${TOKENIZER_FILES[0]}`, bytes: encode(JSON.stringify(tokenizerJson)) },
    { path: `${folder}/${TOKENIZER_FILES[1]}`, bytes: encode(JSON.stringify(tokenizerConfig, null, 1)) },
  ];
}
