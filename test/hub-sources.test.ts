/**
 * The sizes the app shows for the published sources before anything is fetched are the
 * converter's own estimate for the published configs: the tensor data it reads (each
 * tensor once, in the source's storage type) and what it stores (its storage rule, GGUF
 * Q4_0/Q8_0 blocks kept as they are).
 */
import { describe, expect, it } from 'vitest';
import { expectedClipTensors, validateClipConfig } from '../src/convert/clip-graph.ts';
import { FLUX_SCHNELL_TEXT_ENCODER, FLUX_SCHNELL_TEXT_ENCODER_2, FLUX_SCHNELL_TRANSFORMER, FLUX_SCHNELL_VAE } from '../src/convert/flux-schnell-configs.ts';
import { clipConstantBytes, estimateTensorBytes, t5ConstantBytes, type SourceBlockBits } from '../src/convert/size-estimate.ts';
import { expectedT5Tensors, validateT5Config } from '../src/convert/t5-graph.ts';
import { expectedTransformerTensors, validateTransformerConfig } from '../src/convert/transformer-graphs.ts';
import { expectedVaeDecoderTensors, validateVaeConfig } from '../src/convert/vae-graph.ts';
import { createGenerator } from '../src/generator.ts';
import { checkHubModelSource, importedPackageUrl, type HubModelSource } from '../src/import/hub-model-source.ts';
import { HUB_SOURCES } from '../src/import/hub-sources.ts';
import { thrownInvalid } from './support/thrown.ts';
import { formatBytes } from '../src/format-bytes.ts';
import { FAMILY_DEFAULTS } from '../src/defaults.ts';

const transformer = expectedTransformerTensors(validateTransformerConfig(FLUX_SCHNELL_TRANSFORMER, 'transformer'));
/** [dev]: the same transformer plus the guidance embedder. */
const devTransformer = expectedTransformerTensors(validateTransformerConfig({ ...FLUX_SCHNELL_TRANSFORMER, guidance_embeds: true }, 'transformer'));
const vae = expectedVaeDecoderTensors(validateVaeConfig(FLUX_SCHNELL_VAE, 'vae'));
const clipConfig = validateClipConfig(FLUX_SCHNELL_TEXT_ENCODER, 'text_encoder');
const clip = expectedClipTensors(clipConfig);
const t5 = expectedT5Tensors(validateT5Config(FLUX_SCHNELL_TEXT_ENCODER_2, 'text_encoder_2'));
/** The published tokenizer files the converter reads (tokenizer_2/tokenizer.json, CLIP's vocab.json + merges.txt, configs): about 3.5 MB. */
const TOKENIZER_BYTES = 3.5e6;

const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
/** Bytes of `tensors` in a source that stores every tensor with `bytesPerElement(shape)`. */
const sourceBytes = (tensors: Map<string, number[]>, bytesPerElement: (shape: number[]) => number) => [...tensors.values()].reduce((sum, shape) => sum + elements(shape) * bytesPerElement(shape), 0);
/** GGUF as community files store it: 2-D weights in blocks of 32 (Q4_0: 18 bytes, Q8_0: 34 bytes), vectors F32. */
const ggufBytes = (blockBytes: number) => (shape: number[]) => (shape.length === 2 && shape[1] % 32 === 0 ? blockBytes / 32 : 4);
const blocks = (tensors: Map<string, number[]>, bits: 4 | 8): SourceBlockBits => (name) => (tensors.get(name)!.length === 2 && tensors.get(name)![1] % 32 === 0 ? bits : undefined);

const constants = clipConstantBytes(clipConfig.max_position_embeddings) + t5ConstantBytes(FAMILY_DEFAULTS.schnell.t5Tokens);
const textAndVae = sourceBytes(clip, () => 2) + sourceBytes(vae, () => 2) + TOKENIZER_BYTES;
const devConstants = clipConstantBytes(clipConfig.max_position_embeddings) + t5ConstantBytes(FAMILY_DEFAULTS.dev.t5Tokens);
const expected = {
  official: {
    download: sourceBytes(transformer, () => 2) + sourceBytes(t5, () => 2) + textAndVae,
    stored: estimateTensorBytes(transformer, 'q4') + estimateTensorBytes(t5, 'q4') + estimateTensorBytes(clip, 'q4') + estimateTensorBytes(vae, 'q4') + constants,
  },
  gguf: {
    download: sourceBytes(transformer, ggufBytes(18)) + sourceBytes(t5, ggufBytes(34)) + textAndVae,
    stored: estimateTensorBytes(transformer, 'q4', blocks(transformer, 4)) + estimateTensorBytes(t5, 'q4', blocks(t5, 8)) + estimateTensorBytes(clip, 'q4') + estimateTensorBytes(vae, 'q4') + constants,
  },
  dev: {
    download: sourceBytes(devTransformer, () => 2) + sourceBytes(t5, () => 2) + textAndVae,
    stored: estimateTensorBytes(devTransformer, 'q4') + estimateTensorBytes(t5, 'q4') + estimateTensorBytes(clip, 'q4') + estimateTensorBytes(vae, 'q4') + devConstants,
  },
};

describe('the published sources the app offers', () => {
  for (const entry of HUB_SOURCES) {
    it(`${entry.id}: download and stored sizes are the converter's estimate (within 1 %)`, () => {
      const { download, stored } = expected[entry.id];
      console.log(`${entry.name}: ${formatBytes(download)} to download (${download} B), ${formatBytes(stored)} stored (${stored} B)`);
      expect(Math.abs(entry.downloadBytes - download) / download).toBeLessThan(0.01);
      expect(Math.abs(entry.storedBytes - stored) / stored).toBeLessThan(0.01);
      expect(() => checkHubModelSource(entry.source)).not.toThrow();
      expect(entry.licenses.map((l) => l.repo)).toContain(entry.id === 'dev' ? 'black-forest-labs/FLUX.1-dev' : 'black-forest-labs/FLUX.1-schnell');
    });
  }

  it('the GGUF source downloads about a third of the official one and stores more (T5 stays 8-bit)', () => {
    const [official, gguf] = HUB_SOURCES;
    expect(gguf.downloadBytes / official.downloadBytes).toBeLessThan(0.4);
    expect(gguf.storedBytes).toBeGreaterThan(official.storedBytes);
  });

  it('each source and option is its own package in the store; the token is not part of it', () => {
    const [official, gguf] = HUB_SOURCES;
    const urls = new Set([official.source, gguf.source, { ...official.source, weights: 'q8' as const }, { ...official.source, from: 'hf:black-forest-labs/FLUX.1-schnell@abc123' }].map(importedPackageUrl));
    expect(urls.size).toBe(4);
    expect(importedPackageUrl({ ...official.source, token: 'hf_secret' })).toBe(importedPackageUrl(official.source));
    expect(importedPackageUrl({ ...official.source, from: 'hf:black-forest-labs/FLUX.1-schnell@main' })).toBe(importedPackageUrl(official.source));
    expect(importedPackageUrl(official.source)).toMatch(/^flux-import:\/\/huggingface\.co\/black-forest-labs\/FLUX\.1-schnell\/main\/q4-[0-9a-f]{8}\/$/);
  });

  it('refuses malformed sources naming the field, never echoing a token', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ from: 'black-forest-labs/FLUX.1-schnell' }, 'model.from'],
      [{ from: 'hf:black-forest-labs/FLUX.1-schnell/transformer' }, 'model.from'],
      [{ from: 'hf:a/b', transformer: 'hf:c/d' }, 'model.transformer'],
      [{ from: 'hf:a/b', weights: 'int4' }, 'model.weights'],
      [{ from: 'hf:a/b', maxShardMb: 4096 }, 'model.maxShardMb'],
      [{ from: 'hf:a/b', hubUrl: 'ftp://example.com' }, 'model.hubUrl'],
      [{ from: 'hf:a/b', token: 'hf_ with space' }, 'model.token'],
      [{ from: 'hf:a/b', revision: 'main' }, 'model.revision'],
    ];
    const reasons = { 'model.from': 'malformed', 'model.transformer': 'malformed', 'model.weights': 'not-one-of', 'model.maxShardMb': 'out-of-range', 'model.hubUrl': 'malformed', 'model.token': 'malformed', 'model.revision': 'unknown-field' };
    for (const [value, field] of bad) {
      // The same refusal from checkHubModelSource and from createGenerator's option check.
      for (const check of [() => checkHubModelSource(value), () => createGenerator({ model: value as unknown as HubModelSource })]) {
        const error = thrownInvalid(check);
        expect(error, field).toMatchObject({ field, reason: reasons[field as keyof typeof reasons] });
        expect(error.message).not.toContain('hf_ with space');
      }
    }
    expect(() => createGenerator({ model: {} as HubModelSource })).toThrow(expect.objectContaining({ name: 'InvalidParameterError', field: 'model' }));
    expect(() => createGenerator({ model: { ...HUB_SOURCES[0].source, weights: 'q3' as 'q4' }, allowAnySize: 'yes' as unknown as boolean })).toThrow(expect.objectContaining({ field: 'model.weights' }));
    // A valid source makes a generator without any request (the import starts on load/generate).
    expect(createGenerator({ model: HUB_SOURCES[1].source }).privacy).toBe('local-only');
  });
});
