/**
 * The configs of the published black-forest-labs/FLUX.1-schnell repository, per
 * component. Used where the real model's shapes matter but its weights are not here:
 * the registry's size estimate and the bench's full-width checkpoint.
 */

/** transformer/config.json */
export const FLUX_SCHNELL_TRANSFORMER = {
  _class_name: 'FluxTransformer2DModel',
  _diffusers_version: '0.30.0.dev0',
  attention_head_dim: 128,
  axes_dims_rope: [16, 56, 56],
  guidance_embeds: false,
  in_channels: 64,
  joint_attention_dim: 4096,
  num_attention_heads: 24,
  num_layers: 19,
  num_single_layers: 38,
  out_channels: null,
  patch_size: 1,
  pooled_projection_dim: 768,
};

/** vae/config.json */
export const FLUX_SCHNELL_VAE = {
  _class_name: 'AutoencoderKL',
  _diffusers_version: '0.30.0.dev0',
  act_fn: 'silu',
  block_out_channels: [128, 256, 512, 512],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  force_upcast: true,
  in_channels: 3,
  latent_channels: 16,
  latents_mean: null,
  latents_std: null,
  layers_per_block: 2,
  mid_block_add_attention: true,
  norm_num_groups: 32,
  out_channels: 3,
  sample_size: 1024,
  scaling_factor: 0.3611,
  shift_factor: 0.1159,
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
  use_post_quant_conv: false,
  use_quant_conv: false,
};

/** text_encoder/config.json (CLIP-L text model) */
export const FLUX_SCHNELL_TEXT_ENCODER = {
  architectures: ['CLIPTextModel'],
  attention_dropout: 0.0,
  bos_token_id: 0,
  dropout: 0.0,
  eos_token_id: 2,
  hidden_act: 'quick_gelu',
  hidden_size: 768,
  initializer_factor: 1.0,
  initializer_range: 0.02,
  intermediate_size: 3072,
  layer_norm_eps: 1e-5,
  max_position_embeddings: 77,
  model_type: 'clip_text_model',
  num_attention_heads: 12,
  num_hidden_layers: 12,
  pad_token_id: 1,
  projection_dim: 768,
  torch_dtype: 'bfloat16',
  vocab_size: 49408,
};

/** text_encoder_2/config.json (T5 v1.1 XXL encoder) */
export const FLUX_SCHNELL_TEXT_ENCODER_2 = {
  architectures: ['T5EncoderModel'],
  d_ff: 10240,
  d_kv: 64,
  d_model: 4096,
  decoder_start_token_id: 0,
  dense_act_fn: 'gelu_new',
  dropout_rate: 0.1,
  eos_token_id: 1,
  feed_forward_proj: 'gated-gelu',
  initializer_factor: 1.0,
  is_encoder_decoder: true,
  is_gated_act: true,
  layer_norm_epsilon: 1e-6,
  model_type: 't5',
  num_decoder_layers: 24,
  num_heads: 64,
  num_layers: 24,
  output_past: true,
  pad_token_id: 0,
  relative_attention_max_distance: 128,
  relative_attention_num_buckets: 32,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  vocab_size: 32128,
};

/** scheduler/scheduler_config.json */
export const FLUX_SCHNELL_SCHEDULER = {
  _class_name: 'FlowMatchEulerDiscreteScheduler',
  _diffusers_version: '0.30.0.dev0',
  base_image_seq_len: 256,
  base_shift: 0.5,
  max_image_seq_len: 4096,
  max_shift: 1.15,
  num_train_timesteps: 1000,
  shift: 1.0,
  use_dynamic_shifting: false,
};
