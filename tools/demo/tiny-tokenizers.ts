/**
 * Small tokenizers in the real published formats, for the demo model and tests:
 * - `tokenizer/` like FLUX's CLIP tokenizer: `vocab.json` + `merges.txt` (byte-level BPE
 *   with `</w>` word ends; merges learned here from a small built-in corpus),
 *   `tokenizer_config.json`, `special_tokens_map.json`;
 * - `tokenizer_2/` like FLUX's T5 tokenizer: a SentencePiece-Unigram `tokenizer.json`
 *   (Metaspace "▁", `</s>` appended, `<pad>` 0, `</s>` 1, `<unk>` 2).
 * Deterministic: the same call always writes the same bytes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CORPUS = `a an the of and with in on at by for from to under over near behind beside
photo photograph painting drawing sketch illustration render portrait landscape closeup
cat cats dog dogs bird birds horse fish fox owl lion tiger bear rabbit dragon robot astronaut
man woman child girl boy person people face eyes hair hands smile
red orange yellow green blue purple pink black white gray grey golden silver brown colorful
sun moon star stars sky cloud clouds rain snow fog storm night day morning evening sunset sunrise
mountain mountains river lake sea ocean beach forest tree trees flower flowers garden field desert
city street house castle tower bridge road car train boat ship window door room kitchen
wearing holding sitting standing running flying reading playing eating looking
big small tiny huge old young new ancient futuristic beautiful cute happy sad dark bright
soft sharp detailed highly realistic photorealistic cinematic dramatic lighting light shadow
style art digital oil watercolor pencil anime cartoon pixel 3d studio background foreground
high quality resolution masterpiece focus depth lens wide angle macro bokeh film grain
hat glasses coat dress shirt book cup coffee tea cake bread apple space planet galaxy neon`
  .split(/\s+/)
  .filter(Boolean);

/** GPT-2/CLIP byte → printable unicode character table, in CLIP's vocab order. */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++)
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  return cs.map((c) => String.fromCharCode(c));
}

/** Learns `count` BPE merges (CLIP style: the last symbol of a word carries `</w>`). */
function learnMerges(words: string[], count: number): string[][] {
  const corpus = words.map((w) => {
    const chars = [...w];
    chars[chars.length - 1] += '</w>';
    return chars;
  });
  const merges: string[][] = [];
  for (let m = 0; m < count; m++) {
    const counts = new Map<string, number>();
    for (const word of corpus)
      for (let i = 0; i + 1 < word.length; i++) {
        const key = `${word[i]} ${word[i + 1]}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    let best = '';
    let bestCount = 1;
    for (const [key, c] of counts) if (c > bestCount || (c === bestCount && best !== '' && key < best)) [best, bestCount] = [key, c];
    if (!best) break;
    const [a, b] = best.split(' ');
    merges.push([a, b]);
    for (const word of corpus)
      for (let i = 0; i + 1 < word.length; i++)
        if (word[i] === a && word[i + 1] === b) word.splice(i, 2, a + b);
  }
  return merges;
}

/** Writes `dir/tokenizer` (CLIP BPE, about 700 tokens). */
export function writeTinyClipTokenizer(dir: string): { vocabSize: number; eosId: number } {
  const alphabet = bytesToUnicode();
  const merges = learnMerges(CORPUS, 180);
  const tokens = [...alphabet, ...alphabet.map((c) => `${c}</w>`), ...merges.map(([a, b]) => a + b), '<|startoftext|>', '<|endoftext|>'];
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (vocab[t] === undefined) vocab[t] = i;
  });
  mkdirSync(join(dir, 'tokenizer'), { recursive: true });
  writeFileSync(join(dir, 'tokenizer', 'vocab.json'), JSON.stringify(vocab));
  writeFileSync(join(dir, 'tokenizer', 'merges.txt'), `#version: 0.2\n${merges.map((m) => m.join(' ')).join('\n')}\n`);
  const special = {
    bos_token: { content: '<|startoftext|>', lstrip: false, normalized: true, rstrip: false, single_word: false },
    eos_token: { content: '<|endoftext|>', lstrip: false, normalized: true, rstrip: false, single_word: false },
    pad_token: '<|endoftext|>',
    unk_token: { content: '<|endoftext|>', lstrip: false, normalized: true, rstrip: false, single_word: false },
  };
  writeFileSync(join(dir, 'tokenizer', 'special_tokens_map.json'), JSON.stringify(special, null, 2));
  writeFileSync(
    join(dir, 'tokenizer', 'tokenizer_config.json'),
    JSON.stringify({ ...special, add_prefix_space: false, clean_up_tokenization_spaces: true, do_lower_case: true, errors: 'replace', model_max_length: 77, tokenizer_class: 'CLIPTokenizer' }, null, 2),
  );
  return { vocabSize: tokens.length, eosId: vocab['<|endoftext|>'] };
}

/** Writes `dir/tokenizer_2` (T5 Unigram, a few hundred pieces). */
export function writeTinyT5Tokenizer(dir: string): { vocabSize: number } {
  const pieces: [string, number][] = [
    ['<pad>', 0],
    ['</s>', 0],
    ['<unk>', 0],
    ['▁', -2.5],
  ];
  const seen = new Set(pieces.map((p) => p[0]));
  const add = (piece: string, score: number) => {
    if (!seen.has(piece)) {
      seen.add(piece);
      pieces.push([piece, score]);
    }
  };
  CORPUS.forEach((word, rank) => add(`▁${word}`, -4 - rank / 100));
  for (const word of CORPUS) for (const suffix of ['s', 'ing', 'ed', 'ly', 'er']) add(`${word.slice(0, 3)}${suffix}`, -9);
  const characters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"()-_/&%+=*#@éèüöäñ";
  for (const c of characters) add(c, -10);
  for (const c of characters) add(`▁${c}`, -11);
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['<pad>', '</s>', '<unk>'].map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 2, vocab: pieces, byte_fallback: false },
  };
  const special = { eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>' };
  mkdirSync(join(dir, 'tokenizer_2'), { recursive: true });
  writeFileSync(join(dir, 'tokenizer_2', 'tokenizer.json'), JSON.stringify(tokenizerJson));
  writeFileSync(join(dir, 'tokenizer_2', 'special_tokens_map.json'), JSON.stringify(special, null, 2));
  writeFileSync(
    join(dir, 'tokenizer_2', 'tokenizer_config.json'),
    JSON.stringify({ ...special, clean_up_tokenization_spaces: true, extra_ids: 0, legacy: true, model_max_length: 512, tokenizer_class: 'T5Tokenizer' }, null, 2),
  );
  return { vocabSize: pieces.length };
}
