/**
 * Tokenizer files of a package: `tokenizer/` (CLIP) and `tokenizer_2/` (T5) are copied
 * from the checkpoint. The published FLUX repo has CLIP as `vocab.json` + `merges.txt`
 * only; tokenizers.js needs a `tokenizer.json`, so one is made exactly as transformers'
 * `CLIPConverter` makes it (BPE with `</w>` word ends, NFC + whitespace + lowercase
 * normalizer, byte-level pre-tokenizer, BOS/EOS post-processor).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from '../../src/errors.ts';
import { tokenText, type TokenizerFiles } from '../../src/text/prompt-tokenizer.ts';
import { readCheckpointJson } from './components.ts';

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

/**
 * Reads one checkpoint tokenizer folder as the two files a package keeps (built in
 * memory: the CLIP `tokenizer.json` from vocab.json + merges.txt when it is missing).
 * @param kind 'clip' may be built from vocab.json + merges.txt; 't5' needs tokenizer.json
 * @throws CheckpointError naming the missing or invalid file
 */
export async function readCheckpointTokenizer(sourceDir: string, kind: 'clip' | 't5'): Promise<TokenizerFiles> {
  const config = await readCheckpointJson(join(sourceDir, 'tokenizer_config.json'));
  let tokenizerJson: Record<string, unknown>;
  if (existsSync(join(sourceDir, 'tokenizer.json'))) tokenizerJson = await readCheckpointJson(join(sourceDir, 'tokenizer.json'));
  else if (kind === 'clip') {
    const vocab = (await readCheckpointJson(join(sourceDir, 'vocab.json'))) as Record<string, number>;
    const mergesPath = join(sourceDir, 'merges.txt');
    if (!existsSync(mergesPath)) throw new CheckpointError(`missing file ${mergesPath}`, mergesPath);
    tokenizerJson = clipTokenizerJson(vocab, parseMerges(await readFile(mergesPath, 'utf8')), config);
  } else throw new CheckpointError(`missing file ${join(sourceDir, 'tokenizer.json')} (the T5 tokenizer needs its tokenizer.json)`, join(sourceDir, 'tokenizer.json'));
  const special = join(sourceDir, 'special_tokens_map.json');
  const tokenizerConfig = existsSync(special) ? { ...(await readCheckpointJson(special)), ...config } : config;
  return { tokenizerJson, tokenizerConfig };
}

/**
 * Copies one tokenizer folder into the package as `tokenizer.json` + `tokenizer_config.json`.
 * @param kind 'clip' may be built from vocab.json + merges.txt; 't5' needs tokenizer.json
 * @returns the written paths, relative to `packageDir`
 */
export async function writePackageTokenizer(sourceDir: string, packageDir: string, folder: string, kind: 'clip' | 't5'): Promise<string[]> {
  const { tokenizerJson, tokenizerConfig } = await readCheckpointTokenizer(sourceDir, kind);
  await mkdir(join(packageDir, folder), { recursive: true });
  await writeFile(join(packageDir, folder, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  await writeFile(join(packageDir, folder, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 1));
  return TOKENIZER_FILES.map((name) => `${folder}/${name}`);
}
