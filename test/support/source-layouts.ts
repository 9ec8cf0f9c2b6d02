/**
 * Test checkpoints in the other published layouts, made from diffusers-named weights by
 * the inverse of the published conversions, written out independently of the
 * converter's own mapping (so the converter is checked against them, not against itself):
 * - BFL transformer: diffusers' `convert_flux_transformer_checkpoint_to_diffusers`, reversed
 *   (q, k, v concatenated into `qkv`; q, k, v, mlp into `linear1`; `norm_out` back to shift, scale);
 * - LDM autoencoder (`ae.safetensors`): `convert_ldm_vae_checkpoint`, reversed, decoder only
 *   (attention weights as 1×1 convolutions, as the original file stores them);
 * - T5 in llama.cpp's GGUF names (ComfyUI-GGUF's `T5_SD_MAP`, reversed).
 */

import { writeSafetensors } from '../../src/formats/safetensors.ts';
import { openCheckpointDir } from '../../tools/convert/local-files.ts';

/** A tensor by name: torch-order shape and float32 values. */
export type NamedTensors = Map<string, { shape: number[]; values: Float32Array }>;

/** Every tensor of a local safetensors checkpoint folder as float32 (small checkpoints only). */
export async function readNamed(dir: string, baseName?: string): Promise<NamedTensors> {
  const ckpt = await openCheckpointDir(dir, baseName);
  try {
    const out: NamedTensors = new Map();
    for (const name of ckpt.names()) out.set(name, { shape: ckpt.info(name).shape, values: (await ckpt.readFloat32(name)).slice() });
    return out;
  } finally {
    await ckpt.close();
  }
}

/** A safetensors file (F32) holding `tensors`. */
export function safetensorsOf(tensors: NamedTensors): Uint8Array {
  return writeSafetensors(Object.fromEntries([...tensors].map(([name, t]) => [name, { dtype: 'F32' as const, shape: t.shape, data: t.values }])));
}

function concatRows(parts: { shape: number[]; values: Float32Array }[]): { shape: number[]; values: Float32Array } {
  const values = new Float32Array(parts.reduce((s, p) => s + p.values.length, 0));
  let at = 0;
  for (const p of parts) {
    values.set(p.values, at);
    at += p.values.length;
  }
  return { shape: [parts.reduce((s, p) => s + p.shape[0], 0), ...parts[0].shape.slice(1)], values };
}

/** The BFL single-file tensors of a diffusers FLUX transformer. */
export function toBflTransformer(d: NamedTensors, numLayers: number, numSingle: number): NamedTensors {
  const out: NamedTensors = new Map();
  const take = (name: string) => {
    const t = d.get(name);
    if (!t) throw new Error(`missing ${name}`);
    return t;
  };
  const copy = (to: string, from: string) => {
    for (const kind of ['weight', 'bias']) if (d.has(`${from}.${kind}`)) out.set(`${to}.${kind}`, take(`${from}.${kind}`));
  };
  copy('time_in.in_layer', 'time_text_embed.timestep_embedder.linear_1');
  copy('time_in.out_layer', 'time_text_embed.timestep_embedder.linear_2');
  copy('vector_in.in_layer', 'time_text_embed.text_embedder.linear_1');
  copy('vector_in.out_layer', 'time_text_embed.text_embedder.linear_2');
  copy('guidance_in.in_layer', 'time_text_embed.guidance_embedder.linear_1'); // guidance-distilled ([dev]) models only
  copy('guidance_in.out_layer', 'time_text_embed.guidance_embedder.linear_2');
  copy('txt_in', 'context_embedder');
  copy('img_in', 'x_embedder');
  for (let i = 0; i < numLayers; i++) {
    const p = `transformer_blocks.${i}`;
    const b = `double_blocks.${i}`;
    copy(`${b}.img_mod.lin`, `${p}.norm1.linear`);
    copy(`${b}.txt_mod.lin`, `${p}.norm1_context.linear`);
    for (const kind of ['weight', 'bias']) {
      out.set(`${b}.img_attn.qkv.${kind}`, concatRows(['to_q', 'to_k', 'to_v'].map((n) => take(`${p}.attn.${n}.${kind}`))));
      out.set(`${b}.txt_attn.qkv.${kind}`, concatRows(['add_q_proj', 'add_k_proj', 'add_v_proj'].map((n) => take(`${p}.attn.${n}.${kind}`))));
    }
    out.set(`${b}.img_attn.norm.query_norm.scale`, take(`${p}.attn.norm_q.weight`));
    out.set(`${b}.img_attn.norm.key_norm.scale`, take(`${p}.attn.norm_k.weight`));
    out.set(`${b}.txt_attn.norm.query_norm.scale`, take(`${p}.attn.norm_added_q.weight`));
    out.set(`${b}.txt_attn.norm.key_norm.scale`, take(`${p}.attn.norm_added_k.weight`));
    copy(`${b}.img_mlp.0`, `${p}.ff.net.0.proj`);
    copy(`${b}.img_mlp.2`, `${p}.ff.net.2`);
    copy(`${b}.txt_mlp.0`, `${p}.ff_context.net.0.proj`);
    copy(`${b}.txt_mlp.2`, `${p}.ff_context.net.2`);
    copy(`${b}.img_attn.proj`, `${p}.attn.to_out.0`);
    copy(`${b}.txt_attn.proj`, `${p}.attn.to_add_out`);
  }
  for (let i = 0; i < numSingle; i++) {
    const p = `single_transformer_blocks.${i}`;
    const b = `single_blocks.${i}`;
    copy(`${b}.modulation.lin`, `${p}.norm.linear`);
    for (const kind of ['weight', 'bias']) {
      out.set(`${b}.linear1.${kind}`, concatRows([`${p}.attn.to_q`, `${p}.attn.to_k`, `${p}.attn.to_v`, `${p}.proj_mlp`].map((n) => take(`${n}.${kind}`))));
    }
    out.set(`${b}.norm.query_norm.scale`, take(`${p}.attn.norm_q.weight`));
    out.set(`${b}.norm.key_norm.scale`, take(`${p}.attn.norm_k.weight`));
    copy(`${b}.linear2`, `${p}.proj_out`);
  }
  copy('final_layer.linear', 'proj_out');
  // diffusers' swap_scale_shift turned (shift, scale) into (scale, shift): turn it back.
  for (const kind of ['weight', 'bias']) {
    const t = take(`norm_out.linear.${kind}`);
    const half = t.values.length / 2;
    const values = new Float32Array(t.values.length);
    values.set(t.values.subarray(half), 0);
    values.set(t.values.subarray(0, half), half);
    out.set(`final_layer.adaLN_modulation.1.${kind}`, { shape: t.shape, values });
  }
  return out;
}

/** The LDM (`ae.safetensors`) decoder tensors of a diffusers AutoencoderKL with `upBlocks` up blocks. */
export function toLdmVae(d: NamedTensors, upBlocks: number): NamedTensors {
  const out: NamedTensors = new Map();
  for (const [name, t] of d) {
    if (!name.startsWith('decoder.')) continue;
    let ldm = name
      .replace(/^decoder\.conv_norm_out\./, 'decoder.norm_out.')
      .replace(/^decoder\.mid_block\.resnets\.(\d)\./, (_, j) => `decoder.mid.block_${Number(j) + 1}.`)
      .replace(/^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\./, (_, i, j) => `decoder.up.${upBlocks - 1 - Number(i)}.block.${j}.`)
      .replace(/^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\./, (_, i) => `decoder.up.${upBlocks - 1 - Number(i)}.upsample.conv.`)
      .replace('conv_shortcut', 'nin_shortcut');
    let shape = t.shape;
    const attn = /^decoder\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(weight|bias)$/.exec(name);
    if (attn) {
      ldm = `decoder.mid.attn_1.${{ group_norm: 'norm', to_q: 'q', to_k: 'k', to_v: 'v', 'to_out.0': 'proj_out' }[attn[1]]}.${attn[2]}`;
      if (attn[1] !== 'group_norm' && attn[2] === 'weight') shape = [...t.shape, 1, 1];
    }
    out.set(ldm, { shape, values: t.values });
  }
  return out;
}

/** The llama.cpp GGUF names of a transformers T5 encoder's tensors. */
export function toLlamaT5(d: NamedTensors): NamedTensors {
  const parts: [RegExp, string][] = [
    [/^shared\.weight$/, 'token_embd.weight'],
    [/^encoder\.final_layer_norm\.weight$/, 'enc.output_norm.weight'],
    [/^encoder\.block\.(\d+)\.layer\.0\.layer_norm\.weight$/, 'enc.blk.$1.attn_norm.weight'],
    [/^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.q\.weight$/, 'enc.blk.$1.attn_q.weight'],
    [/^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.k\.weight$/, 'enc.blk.$1.attn_k.weight'],
    [/^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.v\.weight$/, 'enc.blk.$1.attn_v.weight'],
    [/^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.o\.weight$/, 'enc.blk.$1.attn_o.weight'],
    [/^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.relative_attention_bias\.weight$/, 'enc.blk.$1.attn_rel_b.weight'],
    [/^encoder\.block\.(\d+)\.layer\.1\.layer_norm\.weight$/, 'enc.blk.$1.ffn_norm.weight'],
    [/^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_0\.weight$/, 'enc.blk.$1.ffn_gate.weight'],
    [/^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_1\.weight$/, 'enc.blk.$1.ffn_up.weight'],
    [/^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wo\.weight$/, 'enc.blk.$1.ffn_down.weight'],
  ];
  const out: NamedTensors = new Map();
  for (const [name, t] of d) {
    if (name === 'encoder.embed_tokens.weight') continue; // the tied alias of shared.weight
    const rule = parts.find(([re]) => re.test(name));
    if (!rule) throw new Error(`no llama.cpp name for ${name}`);
    out.set(name.replace(rule[0], rule[1]), t);
  }
  return out;
}
