/**
 * The FLUX VAE decoder (diffusers `AutoencoderKL.decode`, v0.32) as one ONNX graph:
 *
 *   latents [1, 16, latent_height, latent_width] (already `z / scaling_factor + shift_factor`)
 *     → image [1, 3, 8·latent_height, 8·latent_width] (raw decoder output, about [−1, 1])
 *
 * diffusers `Decoder`: conv_in → mid_block (resnet, attention, resnet) → up_blocks over
 * reversed(block_out_channels), each `layers_per_block + 1` ResnetBlock2D and, on all but
 * the last, an Upsample2D (nearest ×2, 3×3 conv) → GroupNorm → SiLU → conv_out.
 *
 * Activations are float32. Conv weights are stored float32 (fp32) or float16 + Cast
 * (every other precision); the mid-block attention linears go through `linear` and are
 * kept at 8 bits at least. `post_quant_conv` is not supported (FLUX has none): a config
 * with `use_post_quant_conv: true` is rejected.
 */
import { CheckpointError } from '../errors.ts';
import { floatWeight, linear, param, silu, type LayerContext } from './layers.ts';

const MS = 'com.microsoft';
/** diffusers' Decoder uses eps 1e-6 for every GroupNorm (resnets, attention, conv_norm_out). */
const NORM_EPS = 1e-6;

/** The diffusers `AutoencoderKL` config fields the decoder graph uses. */
export interface VaeConfig {
  _class_name: 'AutoencoderKL';
  latent_channels: number;
  out_channels: number;
  block_out_channels: number[];
  up_block_types: string[];
  layers_per_block: number;
  norm_num_groups: number;
  act_fn: 'silu';
  /** Whether the mid block has its attention layer (diffusers default: true). */
  mid_block_add_attention: boolean;
  use_post_quant_conv: false;
  /** The pipeline decodes `latents / scaling_factor + shift_factor`. */
  scaling_factor: number;
  /** 0 when the config has none (null or absent). */
  shift_factor: number;
}

/**
 * Checks a VAE `config.json` against what this decoder graph supports.
 * @param config the parsed JSON.
 * @param file the config's path, for error messages.
 * @throws CheckpointError naming the file and the field (the field is also `error.tensor`).
 */
export function validateVaeConfig(config: unknown, file: string): VaeConfig {
  const bad = (field: string, why: string): never => {
    throw new CheckpointError(`${file}: "${field}" ${why}`, file, field);
  };
  if (!config || typeof config !== 'object' || Array.isArray(config)) bad('(root)', 'is not a JSON object');
  const c = config as Record<string, unknown>;
  const show = (v: unknown): string => JSON.stringify(v) ?? String(v);
  const positiveInt = (field: string): number => {
    const v = c[field];
    if (!Number.isInteger(v) || (v as number) < 1) bad(field, `must be a positive integer (got ${show(v)})`);
    return v as number;
  };

  if (c._class_name !== 'AutoencoderKL') bad('_class_name', `must be "AutoencoderKL" (got ${show(c._class_name)})`);
  const latentChannels = positiveInt('latent_channels');
  if (latentChannels !== 16) bad('latent_channels', `must be 16 (FLUX latents; got ${latentChannels})`);
  const outChannels = positiveInt('out_channels');
  if (outChannels !== 3) bad('out_channels', `must be 3 (RGB; got ${outChannels})`);
  const layersPerBlock = positiveInt('layers_per_block');
  const groups = positiveInt('norm_num_groups');

  const channels = c.block_out_channels;
  if (!Array.isArray(channels) || channels.length === 0 || !channels.every((v) => Number.isInteger(v) && v >= 1)) {
    bad('block_out_channels', `must be a non-empty list of positive integers (got ${show(channels)})`);
  }
  const blockOut = channels as number[];
  for (const ch of blockOut) {
    if (ch % groups !== 0) bad('norm_num_groups', `(${groups}) must divide every channel count of block_out_channels (${ch} is not a multiple)`);
  }

  const upTypes = c.up_block_types;
  if (!Array.isArray(upTypes) || upTypes.length !== blockOut.length) {
    bad('up_block_types', `must be a list of ${blockOut.length} block types, one per block_out_channels entry (got ${show(upTypes)})`);
  }
  (upTypes as unknown[]).forEach((t, i) => {
    if (t !== 'UpDecoderBlock2D') bad(`up_block_types[${i}]`, `must be "UpDecoderBlock2D" (got ${show(t)})`);
  });

  if ((c.act_fn ?? 'silu') !== 'silu') bad('act_fn', `must be "silu" (got ${show(c.act_fn)})`);
  if (c.use_post_quant_conv !== undefined && c.use_post_quant_conv !== false) {
    bad('use_post_quant_conv', `must be false: post_quant_conv is not supported (FLUX has none; got ${show(c.use_post_quant_conv)})`);
  }
  const addAttention = c.mid_block_add_attention ?? true;
  if (typeof addAttention !== 'boolean') bad('mid_block_add_attention', `must be true or false (got ${show(addAttention)})`);
  for (const field of ['latents_mean', 'latents_std']) {
    if (c[field] != null) bad(field, `must be null: per-channel latent statistics are not supported (got ${show(c[field]).slice(0, 40)})`);
  }
  const scaling = c.scaling_factor;
  if (typeof scaling !== 'number' || !Number.isFinite(scaling) || scaling === 0) {
    bad('scaling_factor', `must be a non-zero number (got ${show(scaling)})`);
  }
  const shift = c.shift_factor ?? 0;
  if (typeof shift !== 'number' || !Number.isFinite(shift)) bad('shift_factor', `must be a number or null (got ${show(shift)})`);

  return {
    _class_name: 'AutoencoderKL',
    latent_channels: latentChannels,
    out_channels: outChannels,
    block_out_channels: [...blockOut],
    up_block_types: [...(upTypes as string[])],
    layers_per_block: layersPerBlock,
    norm_num_groups: groups,
    act_fn: 'silu',
    mid_block_add_attention: addAttention as boolean,
    use_post_quant_conv: false,
    scaling_factor: scaling as number,
    shift_factor: shift as number,
  };
}

/** One up block of the decoder: its resnets' channels and whether it upsamples. */
interface UpBlockPlan {
  prefix: string;
  resnets: { prefix: string; inC: number; outC: number }[];
  upsample: boolean;
}

/** The decoder's layout, shared by the tensor list and the graph builder so they cannot disagree. */
function decoderPlan(c: VaeConfig): { top: number; bottom: number; upBlocks: UpBlockPlan[] } {
  const reversed = [...c.block_out_channels].reverse();
  const top = reversed[0];
  let prev = top;
  const upBlocks = reversed.map((outC, i): UpBlockPlan => {
    const prefix = `decoder.up_blocks.${i}`;
    const resnets = Array.from({ length: c.layers_per_block + 1 }, (_, j) => ({
      prefix: `${prefix}.resnets.${j}`,
      inC: j === 0 ? prev : outC,
      outC,
    }));
    prev = outC;
    return { prefix, resnets, upsample: i !== reversed.length - 1 };
  });
  return { top, bottom: reversed[reversed.length - 1], upBlocks };
}

type Shapes = Map<string, number[]>;

function addConv(s: Shapes, prefix: string, inC: number, outC: number, k: number): void {
  s.set(`${prefix}.weight`, [outC, inC, k, k]);
  s.set(`${prefix}.bias`, [outC]);
}

function addNorm(s: Shapes, prefix: string, ch: number): void {
  s.set(`${prefix}.weight`, [ch]);
  s.set(`${prefix}.bias`, [ch]);
}

function addResnet(s: Shapes, prefix: string, inC: number, outC: number): void {
  addNorm(s, `${prefix}.norm1`, inC);
  addConv(s, `${prefix}.conv1`, inC, outC, 3);
  addNorm(s, `${prefix}.norm2`, outC);
  addConv(s, `${prefix}.conv2`, outC, outC, 3);
  if (inC !== outC) addConv(s, `${prefix}.conv_shortcut`, inC, outC, 1);
}

/**
 * Every `decoder.*` tensor the graph reads, with its shape. Other tensors of an
 * AutoencoderKL checkpoint (`encoder.*`, `quant_conv.*`) are not used by the decoder.
 */
export function expectedVaeDecoderTensors(config: VaeConfig): Map<string, number[]> {
  const { top, bottom, upBlocks } = decoderPlan(config);
  const s: Shapes = new Map();
  addConv(s, 'decoder.conv_in', config.latent_channels, top, 3);
  addResnet(s, 'decoder.mid_block.resnets.0', top, top);
  if (config.mid_block_add_attention) {
    const a = 'decoder.mid_block.attentions.0';
    addNorm(s, `${a}.group_norm`, top);
    for (const name of ['to_q', 'to_k', 'to_v', 'to_out.0']) {
      s.set(`${a}.${name}.weight`, [top, top]);
      s.set(`${a}.${name}.bias`, [top]);
    }
  }
  addResnet(s, 'decoder.mid_block.resnets.1', top, top);
  for (const block of upBlocks) {
    for (const r of block.resnets) addResnet(s, r.prefix, r.inC, r.outC);
    if (block.upsample) {
      const ch = block.resnets[block.resnets.length - 1].outC;
      addConv(s, `${block.prefix}.upsamplers.0.conv`, ch, ch, 3);
    }
  }
  addNorm(s, 'decoder.conv_norm_out', bottom);
  addConv(s, 'decoder.conv_out', bottom, config.out_channels, 3);
  return s;
}

/** Tensors of an AutoencoderKL checkpoint that the decoder does not read (`encoder.*`, `quant_conv.*`, …). */
export function isIgnoredVaeTensor(name: string): boolean {
  return !name.startsWith('decoder.');
}

/** Graph-building helpers bound to one LayerContext (caches shared shape constants). */
class DecoderBuilder {
  private readonly shapeConsts = new Map<string, string>();
  /** InstanceNormalization's scale (ones [G]) and bias (zeros [G]), created once. */
  private unitAffine?: [string, string];
  /** Resize scales [1, 1, 2, 2], created once. */
  private upScales?: string;

  constructor(
    private readonly ctx: LayerContext,
    private readonly groups: number,
  ) {}

  private shape(values: number[]): string {
    const key = values.join(',');
    let name = this.shapeConsts.get(key);
    if (!name) this.shapeConsts.set(key, (name = this.ctx.g.constInt64(values)));
    return name;
  }

  /** A per-channel parameter [C] stored as [C, 1, 1] so it broadcasts over [B, C, H, W]. */
  private async channelParam(name: string, ch: number): Promise<string> {
    return this.ctx.g.initializer(name, 'float32', [ch, 1, 1], await this.ctx.weights.read(name, [ch]));
  }

  /**
   * torch GroupNorm on x [B, C, H, W]. ONNX GroupNormalization is not reliable in
   * onnxruntime, so: Reshape to [B, G, (C/G)·H, W] (InstanceNormalization normalizes each
   * (b, g) over all trailing axes, i.e. exactly one group) → InstanceNormalization →
   * Reshape back to [B, C, H, W] → per-channel affine. No Shape op needed: the 0 entries
   * of Reshape copy B and W.
   */
  async groupNorm(x: string, prefix: string, ch: number): Promise<string> {
    const { g } = this.ctx;
    const G = this.groups;
    const grouped = g.op('Reshape', [x, this.shape([0, G, -1, 0])]);
    this.unitAffine ??= [g.constFloat(new Float32Array(G).fill(1)), g.constFloat(new Float32Array(G))];
    const normed = g.op('InstanceNormalization', [grouped, ...this.unitAffine], { epsilon: { float: NORM_EPS } });
    const back = g.op('Reshape', [normed, this.shape([0, ch, -1, 0])]);
    const scaled = g.op('Mul', [back, await this.channelParam(`${prefix}.weight`, ch)]);
    return g.op('Add', [scaled, await this.channelParam(`${prefix}.bias`, ch)]);
  }

  /** torch Conv2d, stride 1, padding k/2 (k = 1 or 3). */
  async conv(x: string, prefix: string, inC: number, outC: number, k: number): Promise<string> {
    const dims = [outC, inC, k, k];
    const w = floatWeight(this.ctx, `${prefix}.weight`, dims, await this.ctx.weights.read(`${prefix}.weight`, dims));
    const b = await param(this.ctx, `${prefix}.bias`, [outC]);
    const p = (k - 1) / 2;
    const attributes = { kernel_shape: [k, k], pads: [p, p, p, p], strides: [1, 1], dilations: [1, 1], group: 1 };
    return this.ctx.g.op('Conv', [x, w, b], attributes, '', this.ctx.g.layerName(prefix));
  }

  /** diffusers ResnetBlock2D without time embedding (output_scale_factor 1, dropout 0). */
  async resnet(x: string, prefix: string, inC: number, outC: number): Promise<string> {
    const { g } = this.ctx;
    let h = silu(g, await this.groupNorm(x, `${prefix}.norm1`, inC));
    h = await this.conv(h, `${prefix}.conv1`, inC, outC, 3);
    h = silu(g, await this.groupNorm(h, `${prefix}.norm2`, outC));
    h = await this.conv(h, `${prefix}.conv2`, outC, outC, 3);
    const shortcut = inC === outC ? x : await this.conv(x, `${prefix}.conv_shortcut`, inC, outC, 1);
    return g.op('Add', [shortcut, h]);
  }

  /**
   * diffusers Attention in the VAE mid block (one head of size C over the H·W pixels,
   * residual connection, rescale 1): x + to_out(softmax(q·kᵀ/√C)·v) on group_norm(x).
   */
  async attention(x: string, prefix: string, ch: number): Promise<string> {
    const { g } = this.ctx;
    const normed = await this.groupNorm(x, `${prefix}.group_norm`, ch);
    const tokens = g.op('Transpose', [g.op('Reshape', [normed, this.shape([0, 0, -1])])], { perm: [0, 2, 1] }); // [B, HW, C]
    const q = await linear(this.ctx, tokens, `${prefix}.to_q`, ch, ch);
    const k = await linear(this.ctx, tokens, `${prefix}.to_k`, ch, ch);
    const v = await linear(this.ctx, tokens, `${prefix}.to_v`, ch, ch);
    const attended = g.op('MultiHeadAttention', [q, k, v], { num_heads: 1, scale: { float: 1 / Math.sqrt(ch) } }, MS);
    const out = await linear(this.ctx, attended, `${prefix}.to_out.0`, ch, ch);
    const spatial = g.op('Reshape', [g.op('Transpose', [out], { perm: [0, 2, 1] }), g.op('Shape', [x])]); // [B, C, H, W]
    return g.op('Add', [spatial, x]);
  }

  /** diffusers Upsample2D: nearest ×2 (torch F.interpolate 'nearest') then a 3×3 conv. */
  async upsample(x: string, prefix: string, ch: number): Promise<string> {
    const { g } = this.ctx;
    this.upScales ??= g.constFloat([1, 1, 2, 2]);
    const up = g.op('Resize', [x, '', this.upScales], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    });
    return this.conv(up, `${prefix}.conv`, ch, ch, 3);
  }
}

/**
 * Adds the VAE decoder to `ctx.g`: input `latents` float32 [1, latent_channels,
 * 'latent_height', 'latent_width'] (already `z / scaling_factor + shift_factor`), output
 * `image` float32 [1, out_channels, 'height', 'width'] (the raw decoder output).
 * Reads exactly the tensors of `expectedVaeDecoderTensors(config)`, each once; initializers
 * are named after the checkpoint tensors.
 */
export async function buildVaeDecoder(ctx: LayerContext, config: VaeConfig): Promise<void> {
  const { g } = ctx;
  const { top, bottom, upBlocks } = decoderPlan(config);
  const b = new DecoderBuilder(ctx, config.norm_num_groups);

  let x = g.input('latents', 'float32', [1, config.latent_channels, 'latent_height', 'latent_width']);
  x = await b.conv(x, 'decoder.conv_in', config.latent_channels, top, 3);
  x = await b.resnet(x, 'decoder.mid_block.resnets.0', top, top);
  if (config.mid_block_add_attention) x = await b.attention(x, 'decoder.mid_block.attentions.0', top);
  x = await b.resnet(x, 'decoder.mid_block.resnets.1', top, top);
  for (const block of upBlocks) {
    for (const r of block.resnets) x = await b.resnet(x, r.prefix, r.inC, r.outC);
    if (block.upsample) {
      const ch = block.resnets[block.resnets.length - 1].outC;
      x = await b.upsample(x, `${block.prefix}.upsamplers.0`, ch);
    }
  }
  x = silu(g, await b.groupNorm(x, 'decoder.conv_norm_out', bottom));
  x = await b.conv(x, 'decoder.conv_out', bottom, config.out_channels, 3);
  g.output(x, 'image', 'float32', [1, config.out_channels, 'height', 'width']);
}
