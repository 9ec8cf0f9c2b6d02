/**
 * The converter's structure: its core under src/convert runs in a browser (no Node
 * imports or globals), one storage rule sizes what the graphs store, one shard packer
 * plans the shards, and every graph node is named after where it is.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { blockStoredBytes, linearBits, minBitsOf, packShards, storedBytes } from '../src/convert/storage.ts';
import { CheckpointError } from '../src/errors.ts';
import { convertCheckpoint } from '../tools/convert/convert-local.ts';
import { TINY_FLUX_A } from './support/golden.ts';

const CORE = fileURLToPath(new URL('../src/convert/', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'flux-convert-structure-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('src/convert is browser-safe', () => {
  it('imports no node: module and uses no Node global', () => {
    const files = readdirSync(CORE).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const code = readFileSync(join(CORE, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      expect(code, file).not.toMatch(/from ['"]node:|require\(|\bprocess\.|\bBuffer\b|__dirname/);
      for (const [, path] of code.matchAll(/from ['"]([^'"]+)['"]/g)) expect(path.startsWith('.') || ['onnx-proto', 'hash-wasm', '@noble/hashes'].some((p) => path.startsWith(p)), `${file}: ${path}`).toBe(true);
    }
  });
});

describe('storage rule', () => {
  it('keeps modulation and VAE attention linears at 8 bits in q4 packages, all others at 4', () => {
    for (const prefix of ['transformer_blocks.3.norm1.linear', 'transformer_blocks.3.norm1_context.linear', 'single_transformer_blocks.0.norm.linear', 'norm_out.linear', 'decoder.mid_block.attentions.0.to_out.0']) {
      expect(minBitsOf(prefix), prefix).toBe(8);
      expect(linearBits('q4', minBitsOf(prefix)), prefix).toBe(8);
    }
    for (const prefix of ['transformer_blocks.3.attn.to_q', 'single_transformer_blocks.0.proj_out', 'encoder.block.0.layer.1.DenseReluDense.wo', 'proj_out']) {
      expect(linearBits('q4', minBitsOf(prefix)), prefix).toBe(4);
    }
    expect([linearBits('q8'), linearBits('fp16'), linearBits('fp32')]).toEqual([8, 16, 32]);
  });

  it('counts MatMulNBits blocks of 32 with a float32 scale each (the last block padded)', () => {
    expect(storedBytes([3072, 3072], 'q4')).toBe(3072 * 96 * (16 + 4));
    expect(storedBytes([10, 33], 'q8')).toBe(10 * 2 * (32 + 4));
    expect(storedBytes([10, 33], 'fp16')).toBe(10 * 33 * 2);
    expect(blockStoredBytes(new Map([['a.norm.linear.weight', [64, 32]], ['a.to_q.weight', [32, 32]], ['a.norm_q.weight', [16]]]), 'q4')).toBe(64 * 36 + 32 * 20 + 16 * 4);
  });
});

describe('packShards', () => {
  const describeBlock = (i: number) => `block ${i}`;
  it('packs consecutive items greedily under the limit', () => {
    expect(packShards([4, 4, 4, 9, 1], 10, describeBlock, 'q4')).toEqual([
      { start: 0, end: 2, bytes: 8 },
      { start: 2, end: 3, bytes: 4 },
      { start: 3, end: 5, bytes: 10 },
    ]);
    expect(packShards([], 10, describeBlock, 'q4')).toEqual([]);
  });

  it('names the item that alone exceeds the limit', () => {
    expect(() => packShards([4, 11], 10, describeBlock, 'fp32')).toThrow(CheckpointError);
    expect(() => packShards([4, 11], 10, describeBlock, 'fp32')).toThrow(/block 1 .*max-shard-mb/);
  });
});

describe('node names', () => {
  it('name every layer after where it is (double.N…, single.N…, the checkpoint prefix elsewhere)', async () => {
    const out = join(work, 'q4');
    const manifest = await convertCheckpoint({ checkpoint: TINY_FLUX_A, out, weights: 'q4' });
    const names = new Map<string, string[]>();
    for (const g of manifest.graphs) {
      const model = onnxProto.onnx.ModelProto.decode(readFileSync(join(out, g.model)));
      const nodes = model.graph!.node!;
      expect(new Set(nodes.map((n) => n.name)).size, g.name).toBe(nodes.length);
      names.set(g.name, nodes.filter((n) => n.opType === 'MatMulNBits').map((n) => n.name!));
    }
    expect(names.get('transformer_blocks_00_double_0-1')).toEqual(expect.arrayContaining(['double.0.norm1.linear', 'double.1.attn.to_q', 'double.1.attn.to_add_out', 'double.1.ff_context.net.2']));
    expect(names.get('transformer_blocks_01_single_0-1')).toEqual(expect.arrayContaining(['single.0.norm.linear', 'single.1.proj_mlp', 'single.1.proj_out']));
    expect(names.get('transformer_head')).toEqual(['norm_out.linear', 'proj_out']);
    expect(names.get('vae_decoder')).toContain('decoder.mid_block.attentions.0.to_q');
    for (const [graph, list] of names) for (const name of list) expect(name, graph).not.toMatch(/^matmulnbits_\d+$/);
  });
});
