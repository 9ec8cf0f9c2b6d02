/**
 * Prompt → image under Node with the demo package (all components): deterministic bytes,
 * sensitivity to the prompt, and the embeddings handed to the transformer equal what the
 * encoder graphs produce on their own.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from 'onnxruntime-common';
import { graphByRole, t5Shards, type GraphEntry } from '../src/package/manifest.ts';
import { runFluxPipeline } from '../src/pipeline/flux-pipeline.ts';
import { encodePrompt, loadTokenizers, type PackageTokenizers } from '../src/pipeline/text-encoding.ts';
import { writeDemoModel } from '../tools/demo/demo-model.ts';
import { openNodeRuntime, type NodeModelRuntime } from '../tools/node-runtime.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'flux-prompt-'));
const pkg = join(dir, 'demo');
let runtime: NodeModelRuntime;
let tokenizers: PackageTokenizers;

beforeAll(async () => {
  await writeDemoModel({ out: pkg });
  runtime = openNodeRuntime(pkg);
  tokenizers = await loadTokenizers(runtime);
});
afterAll(async () => {
  await runtime.release();
  rmSync(dir, { recursive: true, force: true });
});

async function generate(prompt: string, seed = 3) {
  const encoded = await encodePrompt(runtime, tokenizers, prompt);
  return runFluxPipeline(runtime, { ...encoded, width: 64, height: 48, steps: 2, seed });
}

describe('prompt to image with the demo package', () => {
  it('gives the same pixels for the same prompt, seed and size', async () => {
    const a = await generate('a red fox in the snow');
    const b = await generate('a red fox in the snow');
    expect([a.image.width, a.image.height]).toEqual([64, 48]);
    expect(Buffer.from(a.image.rgb).equals(Buffer.from(b.image.rgb))).toBe(true);
  });

  it('changes the image when one word of the prompt changes', async () => {
    const a = await generate('a red fox in the snow');
    const b = await generate('a blue fox in the snow');
    let differing = 0;
    for (let i = 0; i < a.image.rgb.length; i++) if (a.image.rgb[i] !== b.image.rgb[i]) differing++;
    expect(differing / a.image.rgb.length).toBeGreaterThan(0.1);
  });

  it('hands the transformer exactly what the encoder graphs produce on their own', async () => {
    const prompt = 'a castle on a mountain at sunset';
    const seen: Record<string, Float32Array> = {};
    const spying = {
      ...runtime,
      readJson: runtime.readJson,
      async session(graph: GraphEntry) {
        const session = await runtime.session(graph);
        if (graph.role !== 'transformer-embed') return session;
        return {
          async run(feeds: Record<string, Tensor>) {
            seen.context = (feeds.encoder_hidden_states.data as Float32Array).slice();
            seen.pooled = (feeds.pooled_projections.data as Float32Array).slice();
            return session.run(feeds);
          },
        };
      },
    };
    const encoded = await encodePrompt(spying, tokenizers, prompt);
    await runFluxPipeline(spying, { ...encoded, width: 32, height: 32, steps: 1, seed: 0 });

    // The encoders run alone, straight from the package files.
    const ids = (list: number[]) => new ort.Tensor('int64', BigInt64Array.from(list.map(BigInt)), [1, list.length]);
    const open = (graph: GraphEntry) => ort.InferenceSession.create(join(pkg, graph.model));
    const clip = await open(graphByRole(runtime.manifest, 'text-encoder-clip'));
    const pooled = (await clip.run({ input_ids: ids(tokenizers.clip.tokenize(prompt).ids) })).pooled.data as Float32Array;
    const embed = await open(graphByRole(runtime.manifest, 'text-encoder-t5-embed'));
    let state = await embed.run({ input_ids: ids(tokenizers.t5.tokenize(prompt).ids) });
    const bias = state.position_bias;
    let hidden = state.hidden;
    for (const shard of t5Shards(runtime.manifest)) {
      state = await (await open(shard)).run({ hidden, position_bias: bias });
      hidden = state.hidden_out ?? state.last_hidden_state;
    }
    expect(Array.from(seen.pooled)).toEqual(Array.from(pooled));
    expect(Array.from(seen.context)).toEqual(Array.from(hidden.data as Float32Array));
    expect(seen.context.length).toBe(256 * 32);
  });

  it('reports the words cut from a prompt longer than CLIP and T5 read', async () => {
    const long = `${Array(300).fill('cat').join(' ')} under the moon`;
    const encoded = await encodePrompt(runtime, tokenizers, long);
    expect(encoded.t5DroppedText).toMatch(/under the moon$/);
    // "cat" is two CLIP tokens here (ca + t</w>), so the cut may fall inside a word, as in diffusers.
    expect(encoded.clipDroppedText).toMatch(/cat cat .* under the moon$/);
    expect(encoded.clipDroppedText.split(' ').length).toBeGreaterThan(260);
  });
});

describe('flux-webgpu generate --prompt', () => {
  it('writes byte-identical PNGs for the same inputs and warns about cut words', async () => {
    const cli = (out: string, prompt: string) =>
      run('node', ['tools/flux-webgpu.mjs', 'generate', '--model', pkg, '--prompt', prompt, '--width', '32', '--height', '32', '--steps', '1', '--seed', '9', '--out', out]);
    const long = `${Array(80).fill('fox').join(' ')}`;
    const [a, b] = await Promise.all([cli(join(dir, 'a.png'), long), cli(join(dir, 'b.png'), long)]);
    expect(readFileSync(join(dir, 'a.png')).equals(readFileSync(join(dir, 'b.png')))).toBe(true);
    expect(a.stderr).toMatch(/CLIP sees 77 tokens; dropped: ".*fox fox fox"/);
    expect(a.stderr).not.toMatch(/T5 sees/);
    expect(b.stdout).toMatch(/seed 9/);
  });

  it('refuses --prompt for a package without text encoders (exit 2, names the flag)', async () => {
    await run('node', ['tools/flux-webgpu.mjs', 'convert', '--checkpoint', '../shared/golden/tiny-flux-a', '--out', join(dir, 'golden'), '--weights', 'fp32']);
    const failure = await run('node', ['tools/flux-webgpu.mjs', 'generate', '--model', join(dir, 'golden'), '--prompt', 'x', '--width', '32', '--height', '32', '--out', join(dir, 'x.png')]).catch((e) => e);
    expect(failure.code).toBe(2);
    expect(failure.stderr).toMatch(/--prompt/);
  });
});
