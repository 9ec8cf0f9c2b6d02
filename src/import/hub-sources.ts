/**
 * The published sources of FLUX.1 [schnell] (and [dev]) the app offers to import, with what they
 * cost before anything is fetched: bytes to download (the tensor data the converter
 * reads, each tensor once, plus the tokenizers) and bytes stored (the converter's storage
 * rule). The numbers are the converter's estimate for the published configs and storage
 * types (checked in test/hub-sources.test.ts); the exact ones come from the Hub's listing
 * and the files' headers once the user starts an import, before the first tensor byte.
 */
import type { HubModelSource } from './hub-model-source.ts';

/** One repository a source reads, with its licence as its model card declares it. */
export interface SourceLicense {
  repo: string;
  /** SPDX-style id from the model card (`apache-2.0`). */
  license: string;
  /** The licence's name for people. */
  name: string;
}

/** A source the app offers. */
export interface KnownHubSource {
  id: 'official' | 'gguf' | 'dev';
  /** For the picker. */
  name: string;
  description: string;
  /** What to import (no hubUrl or token: the app adds those). */
  source: HubModelSource;
  /** Bytes to download: the tensor data read (each tensor once) and the tokenizer files. */
  downloadBytes: number;
  /** Bytes in this browser once imported. */
  storedBytes: number;
  licenses: SourceLicense[];
  /** The repository is gated: the user accepts its licence on the Hub and gives an access token. */
  gated?: boolean;
}

const APACHE = { license: 'apache-2.0', name: 'Apache License 2.0' };

/**
 * The sources offered. The official repository is read in bfloat16 (transformer and T5)
 * and float16 (CLIP, the VAE decoder); city96's GGUF files store the transformer's linear
 * weights as Q4_0 and T5's as Q8_0 (kept 8-bit in the package, so it stores more than it
 * downloads).
 */
export const HUB_SOURCES: readonly KnownHubSource[] = [
  {
    id: 'official',
    name: 'Official repository (black-forest-labs/FLUX.1-schnell)',
    description: 'The weights as Black Forest Labs publish them (bfloat16), converted to 4-bit here.',
    source: { from: 'hf:black-forest-labs/FLUX.1-schnell', weights: 'q4' },
    downloadBytes: 33_655_700_000,
    storedBytes: 12_462_000_000,
    licenses: [{ repo: 'black-forest-labs/FLUX.1-schnell', ...APACHE }],
  },
  {
    id: 'gguf',
    name: 'GGUF Q4_0 transformer + T5 Q8_0 (city96)',
    description: 'Community GGUF files, already 4-bit (transformer) and 8-bit (T5): a third of the download. Configs, CLIP, VAE and tokenizers still come from the official repository.',
    source: {
      from: 'hf:black-forest-labs/FLUX.1-schnell',
      transformer: 'hf:city96/FLUX.1-schnell-gguf/flux1-schnell-Q4_0.gguf',
      textEncoder2: 'hf:city96/t5-v1_1-xxl-encoder-gguf/t5-v1_1-xxl-encoder-Q8_0.gguf',
      weights: 'q4',
    },
    downloadBytes: 12_108_640_000,
    storedBytes: 14_777_000_000,
    licenses: [
      { repo: 'black-forest-labs/FLUX.1-schnell', ...APACHE },
      { repo: 'city96/FLUX.1-schnell-gguf', ...APACHE },
      { repo: 'city96/t5-v1_1-xxl-encoder-gguf', ...APACHE },
    ],
  },
  {
    id: 'dev',
    name: 'FLUX.1 [dev], official repository (black-forest-labs/FLUX.1-dev; gated, non-commercial)',
    description:
      'The guidance-distilled model (28 steps, guidance 1.5–5), bfloat16 as published, converted to 4-bit here. The repository is gated: accept its licence on huggingface.co first and give an access token below. Non-commercial use only.',
    source: { from: 'hf:black-forest-labs/FLUX.1-dev', weights: 'q4' },
    downloadBytes: 33_676_150_000,
    storedBytes: 12_460_000_000,
    licenses: [{ repo: 'black-forest-labs/FLUX.1-dev', license: 'flux-1-dev-non-commercial-license', name: 'FLUX.1 [dev] Non-Commercial License' }],
    gated: true,
  },
];
