/**
 * Prompt tokenization on the tiny real-format tokenizers: exact ids, padding to 77 / 256,
 * truncation that keeps the special tokens, and the dropped words reported; then the real
 * FLUX.1 tokenizers against independent reference ids, and token counting.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PromptTokenizer } from '../src/text/prompt-tokenizer.ts';
import { countTokens, describeTokenCount } from '../src/text/token-count.ts';
import { packageTokenizerFiles, readCheckpointTokenizer } from '../src/convert/tokenizer-files.ts';
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

/**
 * The real FLUX.1 tokenizer files (../shared/real-tokenizers: the published CLIP folder
 * has only vocab.json + merges.txt) against ids from OpenAI's CLIP tokenizer and Google's
 * sentencepiece, for CLIP 77, T5 256 ([schnell]) and T5 512 ([dev]).
 */
describe('the real FLUX.1 tokenizers give the reference ids', () => {
  const REAL = fileURLToPath(new URL('../../shared/real-tokenizers/', import.meta.url));
  const references: { prompt: string; clip_77: number[]; t5_256: number[]; t5_512: number[] }[] = JSON.parse(readFileSync(join(REAL, 'reference-ids.json'), 'utf8'));
  let real: { clip: PromptTokenizer; t5: PromptTokenizer; t5dev: PromptTokenizer };

  beforeAll(async () => {
    // Built exactly as the converter builds a package's tokenizers (tokenizer.json from vocab + merges).
    const clipFiles = await readCheckpointTokenizer(localCheckpointFiles(REAL), 'tokenizer', 'clip');
    const t5Files = await readCheckpointTokenizer(localCheckpointFiles(REAL), 'tokenizer_2', 't5');
    real = { clip: new PromptTokenizer('clip', clipFiles, 77), t5: new PromptTokenizer('t5', t5Files, 256), t5dev: new PromptTokenizer('t5', t5Files, 512) };
  });

  it(`matches every reference prompt exactly (${references.length} prompts × CLIP 77, T5 256, T5 512)`, () => {
    expect(references.length).toBeGreaterThanOrEqual(10);
    let matched = 0;
    for (const ref of references) {
      expect(real.clip.tokenize(ref.prompt).ids, `clip_77 of ${JSON.stringify(ref.prompt)}`).toEqual(ref.clip_77);
      expect(real.t5.tokenize(ref.prompt).ids, `t5_256 of ${JSON.stringify(ref.prompt)}`).toEqual(ref.t5_256);
      expect(real.t5dev.tokenize(ref.prompt).ids, `t5_512 of ${JSON.stringify(ref.prompt)}`).toEqual(ref.t5_512);
      matched += 3;
    }
    console.log(`real tokenizers: ${matched} of ${references.length * 3} id sequences identical to reference-ids.json`);
  });

  it('counts a long prompt: CLIP keeps 75 text tokens and reports the words it drops, T5 keeps it whole', () => {
    const long = references.reduce((a, b) => (a.prompt.length >= b.prompt.length ? a : b));
    const count = countTokens({ clip: real.clip, t5: real.t5dev }, long.prompt);
    expect(count.clip.ids).toEqual(long.clip_77);
    expect(count.t5.ids).toEqual(long.t5_512);
    expect(count.clip.tokens).toBeGreaterThan(77);
    expect(count.clip.maxTokens).toBe(77);
    expect(count.t5.maxTokens).toBe(512);
    expect(count.t5.dropped).toBe('');
    expect(count.t5.keptWords).toBe(count.t5.words);
    // The kept words fit, one more does not; the dropped text is the tail of the prompt (lowercased by CLIP).
    const words = long.prompt.split(/\s+/).filter(Boolean);
    expect(count.clip.words).toBe(words.length);
    expect(real.clip.textTokens(words.slice(0, count.clip.keptWords).join(' '))).toBeLessThanOrEqual(75);
    expect(real.clip.textTokens(words.slice(0, count.clip.keptWords + 1).join(' '))).toBeGreaterThan(75);
    expect(count.clip.dropped.length).toBeGreaterThan(0);
    expect(long.prompt.toLowerCase().replace(/\s+/g, ' ')).toContain(count.clip.dropped.split(' ').slice(-3).join(' '));
    expect(describeTokenCount(count)).toBe(
      `T5: ${count.t5.tokens} / 512 tokens; CLIP: 77 / 77 tokens (${count.clip.tokens} needed), keeps the first ${count.clip.keptWords} of ${words.length} words`,
    );
  });

  it('cuts T5 at 256 for [schnell] and at 512 for [dev], keeping </s> last', () => {
    const prompt = Array.from({ length: 300 }, (_, i) => `tree${i}`).join(' ');
    const schnell = countTokens({ clip: real.clip, t5: real.t5 }, prompt);
    const dev = countTokens({ clip: real.clip, t5: real.t5dev }, prompt);
    expect(schnell.t5.ids).toHaveLength(256);
    expect(schnell.t5.ids[255]).toBe(1);
    expect(schnell.t5.dropped).not.toBe('');
    expect(schnell.t5.keptWords).toBeLessThan(300);
    expect(dev.t5.ids).toHaveLength(512);
    expect(dev.t5.tokens).toBe(schnell.t5.tokens);
    // Every word kept by [schnell]'s T5 is kept by [dev]'s, and the dropped text starts with the next word.
    expect(dev.t5.keptWords).toBeGreaterThan(schnell.t5.keptWords);
    expect(schnell.t5.dropped.startsWith(`tree${schnell.t5.keptWords}`)).toBe(true);
  });
});
