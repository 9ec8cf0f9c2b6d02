/**
 * Prompt tokenization on the tiny real-format tokenizers: exact ids, padding to 77 / 256,
 * truncation that keeps the special tokens, and the dropped words reported.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PromptTokenizer } from '../src/text/prompt-tokenizer.ts';
import { packageTokenizerFiles } from '../src/convert/tokenizer-files.ts';
import { localCheckpointFiles } from '../tools/convert/local-files.ts';
import { writeTinyClipTokenizer, writeTinyT5Tokenizer } from '../tools/demo/tiny-tokenizers.ts';

const dir = mkdtempSync(join(tmpdir(), 'flux-tok-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let clip: PromptTokenizer;
let t5: PromptTokenizer;
let clipVocab: Record<string, number>;
const BOS = 620;
const EOS = 621;

beforeAll(async () => {
  writeTinyClipTokenizer(dir);
  writeTinyT5Tokenizer(dir);
  // The CLIP folder has only vocab.json + merges.txt, like the published FLUX repo.
  for (const [folder, kind] of [['tokenizer', 'clip'], ['tokenizer_2', 't5']] as const) {
    mkdirSync(join(dir, 'pkg', folder), { recursive: true });
    for (const file of await packageTokenizerFiles(localCheckpointFiles(dir), folder, folder, kind)) writeFileSync(join(dir, 'pkg', file.path), file.bytes);
  }
  const files = (folder: string) => ({
    tokenizerJson: JSON.parse(readFileSync(join(dir, 'pkg', folder, 'tokenizer.json'), 'utf8')),
    tokenizerConfig: JSON.parse(readFileSync(join(dir, 'pkg', folder, 'tokenizer_config.json'), 'utf8')),
  });
  clip = new PromptTokenizer('clip', files('tokenizer'), 77);
  t5 = new PromptTokenizer('t5', files('tokenizer_2'), 256);
  clipVocab = JSON.parse(readFileSync(join(dir, 'tokenizer', 'vocab.json'), 'utf8'));
});

const padded = (ids: number[], length: number, pad: number) => [...ids, ...Array(length - ids.length).fill(pad)];

describe('CLIP (77 tokens, BOS … EOS, padded with EOS)', () => {
  it('tokenizes a prompt into the BPE pieces of its vocab', () => {
    const pieces = ['<|startoftext|>', 'a</w>', 'pho', 'to</w>', 'o', 'f</w>', 'a</w>', 'ca', 't</w>', '<|endoftext|>'];
    const ids = pieces.map((p) => clipVocab[p]);
    expect(ids).toEqual([BOS, 320, 563, 618, 78, 325, 320, 528, 339, EOS]);
    const result = clip.tokenize('a photo of a cat');
    expect(result.ids).toEqual(padded(ids, 77, EOS));
    expect(result.fullLength).toBe(10);
    expect(result.droppedText).toBe('');
  });

  it('lowercases and splits punctuation and contractions like CLIP', () => {
    expect(clip.tokenize('A RED Fox  jumping!!').ids.slice(0, 14)).toEqual([BOS, 320, 514, 323, 530, 343, 73, 84, 76, 79, 513, 0, 256, EOS]);
    expect(clip.tokenize("it's 3D").ids.slice(0, 8)).toEqual([BOS, 72, 339, 6, 338, 274, 323, EOS]);
  });

  it('gives BOS EOS and padding for an empty prompt', () => {
    expect(clip.tokenize('').ids).toEqual(padded([BOS, EOS], 77, EOS));
  });

  it('encodes unicode byte by byte and decodes it back (lowercased)', () => {
    const result = clip.tokenize('Ünïcødé 🐱 café');
    expect(result.ids.slice(0, 12)).toEqual([BOS, 127, 120, 77, 127, 107, 66, 127, 116, 67, 127, 358]);
    expect(clip.decode(result.ids)).toBe('ünïcødé 🐱 café');
  });

  it('keeps exactly 75 text tokens and reports the words cut off', () => {
    const fits = Array(75).fill('a').join(' ');
    expect(clip.tokenize(fits).droppedText).toBe('');
    expect(clip.tokenize(fits).ids).toEqual([BOS, ...Array(75).fill(320), EOS]);
    const result = clip.tokenize(`${fits} red fox`);
    expect(result.ids).toEqual([BOS, ...Array(75).fill(320), EOS]);
    expect(result.fullLength).toBe(81);
    expect(result.droppedText).toBe('red fox');
  });
});

describe('T5 (256 tokens, text then </s>, padded with <pad>=0)', () => {
  it('tokenizes a prompt into word pieces', () => {
    const result = t5.tokenize('a photo of a cat');
    expect(result.ids).toEqual(padded([4, 22, 7, 4, 32, 1], 256, 0));
    expect(t5.decode(result.ids)).toBe('a photo of a cat');
  });

  it('is case-sensitive and maps unknown characters to <unk>', () => {
    expect(t5.tokenize('A RED Fox').ids.slice(0, 8)).toEqual([1149, 1166, 1066, 1065, 1154, 1050, 1059, 1]);
    expect(t5.tokenize('🐱').ids.slice(0, 3)).toEqual([3, 2, 1]);
  });

  it('gives </s> and padding for an empty prompt', () => {
    expect(t5.tokenize('').ids).toEqual(padded([1], 256, 0));
  });

  it('keeps 255 text tokens and reports the words cut off', () => {
    const fits = Array(255).fill('cat').join(' ');
    expect(t5.tokenize(fits).ids).toEqual([...Array(255).fill(32), 1]);
    expect(t5.tokenize(fits).droppedText).toBe('');
    const result = t5.tokenize(`${fits} under the moon`);
    expect(result.ids).toEqual([...Array(255).fill(32), 1]);
    expect(result.fullLength).toBe(259);
    expect(result.droppedText).toBe('under the moon');
  });
});
