/**
 * Other checkpoints' tensor names, mapped onto the diffusers / transformers names the
 * graph builders read:
 * - the original BFL FLUX transformer (`flux1-schnell.safetensors`, and community GGUF
 *   files in the same names), mapped exactly as diffusers'
 *   `scripts/convert_flux_to_diffusers.py` does: fused `img_attn.qkv` / `txt_attn.qkv`
 *   and `single_blocks.N.linear1` (q, k, v, mlp) split by rows, and
 *   `final_layer.adaLN_modulation.1` reordered from (shift, scale) to (scale, shift);
 * - the original autoencoder (`ae.safetensors`, LDM names), as diffusers'
 *   `convert_ldm_vae_checkpoint` maps the decoder (up blocks in reverse order,
 *   `nin_shortcut` → `conv_shortcut`, 1×1-conv attention weights as linears);
 * - T5 encoders in llama.cpp's GGUF names (`enc.blk.N.attn_q`, …), as ComfyUI-GGUF maps
 *   them back.
 * Files already in the diffusers/transformers names are used as they are. Known
 * wrapper prefixes (`model.diffusion_model.`, `first_stage_model.`, `vae.`, …) are dropped.
 */
import { CheckpointError } from '../errors.ts';
import { mappedSource, type TensorMapping } from './mapped-source.ts';
import type { T5Config } from './t5-graph.ts';
import { T5_SHARED_EMBEDDING, expectedT5Tensors } from './t5-graph.ts';
import type { TensorSource } from './tensor-source.ts';
import { expectedTransformerTensors, innerDim, type TransformerConfig } from './transformer-graphs.ts';
import { expectedVaeDecoderTensors, type VaeConfig } from './vae-graph.ts';

/** The first prefix (of `prefixes`, '' included) under which `names` holds `marker`. */
function prefixOf(names: Set<string>, marker: string, prefixes: string[]): string | undefined {
  return ['', ...prefixes].find((p) => names.has(`${p}${marker}`));
}

/** Maps every expected name through `rename`, which returns the source mapping (without prefix). */
function mapExpected(expected: Iterable<string>, prefix: string, rename: (name: string) => TensorMapping): Map<string, TensorMapping> {
  const out = new Map<string, TensorMapping>();
  for (const name of expected) {
    const m = rename(name);
    out.set(name, { ...m, source: `${prefix}${m.source}` });
  }
  return out;
}

const TRANSFORMER_PREFIXES = ['model.diffusion_model.', 'diffusion_model.', 'model.'];

/**
 * diffusers name → BFL name (and rows) for one transformer tensor of config `c`
 * (`convert_flux_transformer_checkpoint_to_diffusers`, in reverse).
 */
export function bflTransformerMapping(name: string, c: TransformerConfig): TensorMapping {
  const d = innerDim(c);
  const [base, kind] = [name.replace(/\.(weight|bias)$/, ''), name.endsWith('.bias') ? 'bias' : 'weight'];
  const thirds = (i: number): [number, number][] => [[i * d, (i + 1) * d]];
  const fixed: Record<string, string> = {
    'time_text_embed.timestep_embedder.linear_1': 'time_in.in_layer',
    'time_text_embed.timestep_embedder.linear_2': 'time_in.out_layer',
    'time_text_embed.text_embedder.linear_1': 'vector_in.in_layer',
    'time_text_embed.text_embedder.linear_2': 'vector_in.out_layer',
    'time_text_embed.guidance_embedder.linear_1': 'guidance_in.in_layer',
    'time_text_embed.guidance_embedder.linear_2': 'guidance_in.out_layer',
    context_embedder: 'txt_in',
    x_embedder: 'img_in',
    proj_out: 'final_layer.linear',
  };
  if (fixed[base]) return { source: `${fixed[base]}.${kind}` };
  if (base === 'norm_out.linear') return { source: `final_layer.adaLN_modulation.1.${kind}`, rows: [[d, 2 * d], [0, d]] };
  let m = /^transformer_blocks\.(\d+)\.(.+)$/.exec(base);
  if (m) {
    const p = `double_blocks.${m[1]}`;
    const rest = m[2];
    const qkv = ['to_q', 'to_k', 'to_v'].indexOf(rest.replace(/^attn\./, ''));
    if (rest.startsWith('attn.to_') && qkv >= 0) return { source: `${p}.img_attn.qkv.${kind}`, rows: thirds(qkv) };
    const added = ['add_q_proj', 'add_k_proj', 'add_v_proj'].indexOf(rest.replace(/^attn\./, ''));
    if (added >= 0) return { source: `${p}.txt_attn.qkv.${kind}`, rows: thirds(added) };
    const map: Record<string, string> = {
      'norm1.linear': `img_mod.lin.${kind}`,
      'norm1_context.linear': `txt_mod.lin.${kind}`,
      'attn.norm_q': 'img_attn.norm.query_norm.scale',
      'attn.norm_k': 'img_attn.norm.key_norm.scale',
      'attn.norm_added_q': 'txt_attn.norm.query_norm.scale',
      'attn.norm_added_k': 'txt_attn.norm.key_norm.scale',
      'ff.net.0.proj': `img_mlp.0.${kind}`,
      'ff.net.2': `img_mlp.2.${kind}`,
      'ff_context.net.0.proj': `txt_mlp.0.${kind}`,
      'ff_context.net.2': `txt_mlp.2.${kind}`,
      'attn.to_out.0': `img_attn.proj.${kind}`,
      'attn.to_add_out': `txt_attn.proj.${kind}`,
    };
    if (map[rest]) return { source: `${p}.${map[rest]}` };
  }
  m = /^single_transformer_blocks\.(\d+)\.(.+)$/.exec(base);
  if (m) {
    const p = `single_blocks.${m[1]}`;
    const rest = m[2];
    const part = ['attn.to_q', 'attn.to_k', 'attn.to_v'].indexOf(rest);
    if (part >= 0) return { source: `${p}.linear1.${kind}`, rows: thirds(part) };
    if (rest === 'proj_mlp') return { source: `${p}.linear1.${kind}`, rows: [[3 * d, 7 * d]] };
    const map: Record<string, string> = {
      'norm.linear': `modulation.lin.${kind}`,
      'attn.norm_q': 'norm.query_norm.scale',
      'attn.norm_k': 'norm.key_norm.scale',
      proj_out: `linear2.${kind}`,
    };
    if (map[rest]) return { source: `${p}.${map[rest]}` };
  }
  throw new Error(`no BFL name for transformer tensor ${name}`);
}

/**
 * A transformer checkpoint file seen under diffusers names: BFL names are mapped,
 * diffusers names pass as they are.
 * @param label the file, for messages
 * @throws CheckpointError when the file holds neither layout, or a guidance-distilled (FLUX.1 [dev]) model while the config says it is not
 */
export function transformerView(source: TensorSource, c: TransformerConfig, label: string): TensorSource {
  const names = new Set(source.names());
  const diffusersPrefix = prefixOf(names, 'transformer_blocks.0.attn.to_q.weight', TRANSFORMER_PREFIXES);
  if (diffusersPrefix === '') return source;
  if (diffusersPrefix !== undefined) return mappedSource(source, mapExpected(expectedTransformerTensors(c).keys(), diffusersPrefix, (name) => ({ source: name })));
  const prefix = prefixOf(names, 'double_blocks.0.img_attn.qkv.weight', TRANSFORMER_PREFIXES) ?? prefixOf(names, 'img_in.weight', TRANSFORMER_PREFIXES);
  if (prefix === undefined) {
    throw new CheckpointError(
      `${label} is not a FLUX transformer: it has neither BFL names (double_blocks.0.img_attn.qkv.weight, …) nor diffusers names (transformer_blocks.0.attn.to_q.weight, …)`,
      label,
    );
  }
  if (names.has(`${prefix}guidance_in.in_layer.weight`) && !c.guidance_embeds) {
    throw new CheckpointError(
      `${label} is a guidance-distilled model (it has guidance_in.*, like FLUX.1 [dev]) but transformer/config.json says guidance_embeds: false: convert it with FLUX.1 [dev]'s config`,
      label,
      `${prefix}guidance_in.in_layer.weight`,
    );
  }
  return mappedSource(source, mapExpected(expectedTransformerTensors(c).keys(), prefix, (name) => bflTransformerMapping(name, c)));
}

const VAE_PREFIXES = ['first_stage_model.', 'vae.'];

/** diffusers name → LDM name for one VAE decoder tensor (`convert_ldm_vae_checkpoint`, in reverse). */
export function ldmVaeMapping(name: string, c: VaeConfig): TensorMapping {
  const upBlocks = c.block_out_channels.length;
  let m: RegExpExecArray | null;
  if ((m = /^decoder\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(weight|bias)$/.exec(name))) {
    const ldm = { group_norm: 'norm', to_q: 'q', to_k: 'k', to_v: 'v', 'to_out.0': 'proj_out' }[m[1]]!;
    const top = c.block_out_channels[c.block_out_channels.length - 1];
    return { source: `decoder.mid.attn_1.${ldm}.${m[2]}`, shape: m[1] !== 'group_norm' && m[2] === 'weight' ? [top, top] : undefined };
  }
  if ((m = /^decoder\.mid_block\.resnets\.(\d+)\.(.+)$/.exec(name))) return { source: `decoder.mid.block_${Number(m[1]) + 1}.${m[2].replace('conv_shortcut', 'nin_shortcut')}` };
  if ((m = /^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/.exec(name))) {
    return { source: `decoder.up.${upBlocks - 1 - Number(m[1])}.block.${m[2]}.${m[3].replace('conv_shortcut', 'nin_shortcut')}` };
  }
  if ((m = /^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$/.exec(name))) return { source: `decoder.up.${upBlocks - 1 - Number(m[1])}.upsample.conv.${m[2]}` };
  if ((m = /^decoder\.conv_norm_out\.(.+)$/.exec(name))) return { source: `decoder.norm_out.${m[1]}` };
  return { source: name }; // conv_in, conv_out
}

/**
 * An autoencoder checkpoint file seen under diffusers names: LDM names (`ae.safetensors`)
 * are mapped, diffusers names pass as they are. Encoder tensors stay (and are ignored).
 * @throws CheckpointError when the file holds neither layout
 */
export function vaeView(source: TensorSource, c: VaeConfig, label: string): TensorSource {
  const names = new Set(source.names());
  if (prefixOf(names, 'decoder.mid_block.resnets.0.norm1.weight', []) === '') return source;
  const prefix = prefixOf(names, 'decoder.mid.block_1.norm1.weight', VAE_PREFIXES);
  if (prefix === undefined) {
    throw new CheckpointError(`${label} is not a FLUX autoencoder: it has neither LDM names (decoder.mid.block_1.norm1.weight, …) nor diffusers names (decoder.mid_block.resnets.0.norm1.weight, …)`, label);
  }
  // Tensors outside the decoder (and their prefix) stay; the converter ignores everything not under `decoder.`.
  return mappedSource(source, mapExpected(expectedVaeDecoderTensors(c).keys(), prefix, (name) => ldmVaeMapping(name, c)));
}

/** transformers T5 name → llama.cpp GGUF name (the reverse of ComfyUI-GGUF's `T5_SD_MAP`). */
export function llamaT5Mapping(name: string): TensorMapping {
  if (name === T5_SHARED_EMBEDDING || name === 'encoder.embed_tokens.weight') return { source: 'token_embd.weight' };
  if (name === 'encoder.final_layer_norm.weight') return { source: 'enc.output_norm.weight' };
  const m = /^encoder\.block\.(\d+)\.layer\.([01])\.(.+)\.weight$/.exec(name);
  if (m) {
    const parts: Record<string, string> = {
      '0.layer_norm': 'attn_norm',
      '0.SelfAttention.q': 'attn_q',
      '0.SelfAttention.k': 'attn_k',
      '0.SelfAttention.v': 'attn_v',
      '0.SelfAttention.o': 'attn_o',
      '0.SelfAttention.relative_attention_bias': 'attn_rel_b',
      '1.layer_norm': 'ffn_norm',
      '1.DenseReluDense.wi_0': 'ffn_gate',
      '1.DenseReluDense.wi_1': 'ffn_up',
      '1.DenseReluDense.wo': 'ffn_down',
    };
    const part = parts[`${m[2]}.${m[3]}`];
    if (part) return { source: `enc.blk.${m[1]}.${part}.weight` };
  }
  throw new Error(`no llama.cpp name for T5 tensor ${name}`);
}

/**
 * A T5 encoder file seen under transformers names: llama.cpp GGUF names are mapped,
 * transformers names pass as they are.
 * @throws CheckpointError when the file holds neither layout
 */
export function t5View(source: TensorSource, c: T5Config, label: string): TensorSource {
  const names = new Set(source.names());
  if (names.has('encoder.block.0.layer.0.SelfAttention.q.weight')) return source;
  if (!names.has('enc.blk.0.attn_q.weight')) {
    throw new CheckpointError(
      `${label} is not a T5 encoder: it has neither llama.cpp names (enc.blk.0.attn_q.weight, …) nor transformers names (encoder.block.0.layer.0.SelfAttention.q.weight, …)`,
      label,
    );
  }
  return mappedSource(source, mapExpected(expectedT5Tensors(c).keys(), '', llamaT5Mapping));
}
