/**
 * Defaults and allowed ranges of generation parameters, declared in one place.
 * The CLI accepts the wider `cli` sizes (golden tests use tiny images); the page and
 * the library offer the hosted APIs' range.
 */
export const DEFAULTS = {
  width: 1024,
  height: 1024,
  /** FLUX.1 [schnell] is distilled for 1–4 steps. */
  steps: 4,
  numImages: 1,
  outputFormat: 'png' as const,
  /** Image-to-image: how much the input picture changes when a picture is given without a strength (0 keeps it, 1 regenerates it). */
  strength: 0.8,
  /** Image-to-image: how a picture of another aspect ratio is fitted (centre-crop; see src/image/fit-image.ts). */
  imageFit: 'cover' as const,
  /** Largest `.onnx_data` file the converter writes, in MiB (well under the 2 GB ArrayBuffer/protobuf limits). */
  maxShardMb: 1024,
  /** Bytes per chunk the converter hashes for the manifest's `chunkSha256` (8 MiB, the weight store's chunk size). */
  chunkHashBytes: 8 * 1024 * 1024,
  weights: 'q4' as const,
  /** Memory plan: 'auto' picks the fastest of resident, staged, streaming that fits the measured GPU memory. */
  memory: 'auto' as const,
  /** The widget counts a prompt's tokens after the user pauses typing this long, in ms. */
  tokenCountDelayMs: 250,
  /**
   * Converter graph choices (tools/gpu-kit measures the alternatives; a variant becomes the
   * default only once the kit has checked it against the fp32 path and timed it on a GPU).
   */
  graph: {
    /** MatMulNBits accuracy_level: 0 = float activations. */
    accuracyLevel: 0 as 0 | 4,
    /** 'fused' = com.microsoft.MultiHeadAttention (flash attention on WebGPU). */
    attention: 'fused' as 'fused' | 'explicit',
    /** Transformer block activations. */
    computePrecision: 'fp32' as 'fp32' | 'fp16',
  },
  /** Largest tile the engine picks on its own for a tiled VAE decode, in pixels (the FLUX VAE's own `sample_size`). */
  vaeTileMaxPx: 1024,
  /**
   * Largest float32 attention-score buffer [heads, tokens, tokens] one attention node may
   * need at the largest web size, in bytes: the converter groups heads to stay within it
   * (1 GiB: SwiftShader's buffer limit, and a common one on laptop GPUs).
   */
  attentionScoresMaxBytes: 2 ** 30,
  /** Where `hf:` source references are fetched from (the public Hugging Face Hub). */
  hubUrl: 'https://huggingface.co',
  /** Hub downloads: attempts per request (a dropped connection resumes where it stopped) and the first back-off, doubling, in ms. */
  hubRetries: 5,
  hubRetryDelayMs: 1000,
  /** A Hub download that receives nothing for this long (ms) is dropped and resumed. */
  hubIdleTimeoutMs: 60_000,
};

/**
 * What differs between the two FLUX.1 families (see src/models/family.ts):
 * [schnell] is timestep-distilled (few steps, no guidance input), [dev] is
 * guidance-distilled (a guidance scale goes into the model, many steps). Text lengths are
 * diffusers' FluxPipeline `max_sequence_length` as BFL's reference code uses them.
 */
export const FAMILY_DEFAULTS = {
  schnell: {
    /** Distilled for 1–4 steps. */
    steps: 4,
    /** More steps than this get a warning (they cost more and rarely help). */
    recommendedMaxSteps: 4,
    /** T5 sequence length in tokens. */
    t5Tokens: 256,
    /** CLIP sequence length in tokens (BOS + 75 + EOS). */
    clipTokens: 77,
  },
  dev: {
    /** BFL's `/flux-dev` default. */
    steps: 28,
    recommendedMaxSteps: 50,
    /** BFL's `/flux-dev` default guidance scale. */
    guidance: 3.5,
    t5Tokens: 512,
    clipTokens: 77,
    /** The published [dev] scheduler's schedule, for a checkpoint without `scheduler/`. */
    scheduler: { use_dynamic_shifting: true, base_image_seq_len: 256, max_image_seq_len: 4096, base_shift: 0.5, max_shift: 1.15 },
  },
} as const;

/** The widget's form and look (a smaller side than the library's: 1024 is slow on small GPUs). */
export const WIDGET_DEFAULTS = {
  /** Width and height of the form, in pixels. */
  side: 512,
  preview: 'pixelated' as const,
  layout: 'compact' as const,
  theme: 'light' as const,
};

/** What the BFL- and OpenAI-shaped facades default to, as those APIs do. */
export const FACADE_DEFAULTS = {
  bfl: { width: 1024, height: 768, outputFormat: 'jpeg' as const },
  openai: { size: '1024x1024', n: 1, responseFormat: 'url' as const, outputFormat: 'png' as const },
};

/** Inclusive ranges; sizes must also be multiples of `sizeMultiple`. */
export const LIMITS = {
  sizeMultiple: 16,
  cliSize: { min: 16, max: 2048 },
  webSize: { min: 256, max: 1440 },
  steps: { min: 1, max: 50, recommendedMax: 4 },
  /** Guidance scale of guidance-distilled models (BFL's `/flux-dev` range). */
  guidance: { min: 1.5, max: 5 },
  seed: { min: 0, max: 4294967295 },
  numImages: { min: 1, max: 4 },
  prompt: { minChars: 1, maxChars: 10000 },
  /** Image-to-image strength: greater than min, at most max. */
  strength: { min: 0, max: 1 },
  maxShardMb: { min: 1, max: 2047 },
  /** diffusers' `tile_sample_min_size` for a tiled VAE decode: pixels, a multiple of 8 (latent tile = px/8). */
  vaeTilePx: { min: 32, multiple: 8 },
};
