/**
 * `flux-webgpu <command>`: convert | generate | decode | demo-model | noise. Usage errors exit
 * with code 2, other failures with 1; both print one clear line on stderr, then a line
 * naming the error class, its field (for a bad flag) and its reason.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import type { OutputFormat } from '../src/api-types.ts';
import type { RequestFlags } from './cli-request.ts';
import { createProvider, PROVIDER_INFO, type ProviderKind } from '../src/providers/index.ts';
import { DEFAULTS, FAMILY_DEFAULTS, LIMITS } from '../src/defaults.ts';
import { FluxError, InvalidParameterError } from '../src/errors.ts';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../src/formats/safetensors.ts';
import { WEIGHT_PRECISIONS, type WeightPrecision } from '../src/package/manifest.ts';
import { graphByRole, hasTextEncoders } from '../src/package/manifest.ts';
import { encodePrompt, loadTokenizers } from '../src/pipeline/text-encoding.ts';
import { checkSeed } from '../src/request.ts';
import { formatBytes } from '../src/format-bytes.ts';
import { droppedTextWarnings } from '../src/pipeline/text-encoding.ts';
import { asFlagError, requestFromFlags } from './cli-request.ts';
import { resolveForFamily } from '../src/request.ts';
import { FAMILY_NAMES, modelFamily } from '../src/models/family.ts';
import { runFluxPipeline } from '../src/pipeline/flux-pipeline.ts';
import { decodeLatents, vaeLatentChannels } from '../src/pipeline/vae-decode.ts';
import { encodePng, vaeOutputToRgb } from '../src/pipeline/image.ts';
import { latentSize } from '../src/pipeline/latents.ts';
import { torchRandn } from '../src/pipeline/randn.ts';
import { strengthStart } from '../src/pipeline/img2img.ts';
import { readImageFlags, type ImageFlags } from './cli-image.ts';
import { checkTilePx, tiledOutputSize, vaeTileGeometry } from '../src/pipeline/vae-tiling.ts';
import { convertCheckpoint } from './convert/convert-local.ts';
import { writeDemoModel } from './demo/demo-model.ts';
import { loadNodeRuntime } from './load-node-runtime.ts';
import { openLocalTokenizers } from './local-tokenizers.ts';
import { countTokens, describeTokenCount } from '../src/text/token-count.ts';

const USAGE = `flux-webgpu: FLUX.1 [schnell] model packages for the web, and the pipeline under Node

Usage:
  flux-webgpu convert --checkpoint <dir | hf:owner/name[@rev]> [--transformer <file.safetensors | file.gguf | hf:…>]
                      [--text-encoder-2 <file.gguf | hf:…>] [--vae <ae.safetensors | hf:…>] --out <dir>
                      [--weights fp32|fp16|q8|q4] [--max-shard-mb N] [--force] [--hub-url URL] [--hf-token T]
  flux-webgpu generate --model <package dir> (--prompt "text" | --prompt-embeds <file.safetensors>) --out <image.png>
                       [--width W] [--height H] [--steps N] [--guidance G] [--seed S] [--dump <tensors.safetensors>]
                       [--image <file.png|jpg|webp> [--strength S] [--fit cover|contain|fill]]
  flux-webgpu generate --provider bfl|fal|replicate|openai|monica|aimlapi [--api-key K] [--base-url URL] [--model M]
                       --prompt "text" --out <image.png|.jpg|.webp> [--width W] [--height H] [--steps N] [--seed S]
                       [--num-images N] [--strict]
  flux-webgpu decode --model <package dir> --latents <file.safetensors> [--tile-px P] --out <image.png>
                     [--dump <file.safetensors>]
  flux-webgpu demo-model --out <dir> [--weights fp32|fp16|q8|q4] [--force]
  flux-webgpu noise --seed S --shape 1,16,H,W --out <file.safetensors>
  flux-webgpu tokenize --model <package dir | checkpoint dir> --prompt "text" [--json]

convert   reads transformer/ and vae/ (config.json + safetensors F32/F16/BF16, single or sharded)
          and writes manifest.json, ONNX graphs and .onnx_data files. Default weights q4
          (MatMulNBits 4-bit, block 32), default --max-shard-mb ${DEFAULTS.maxShardMb}.
          --transformer / --text-encoder-2 / --vae replace that component's weights (configs,
          CLIP and tokenizers still come from --checkpoint): BFL single files
          (flux1-schnell.safetensors, ae.safetensors), GGUF (Q4_0/Q8_0 taken exactly, F16/F32/BF16,
          other quantizations requantized with a warning). hf:owner/name[@rev][/path] reads from
          the Hub with Range requests (--hub-url, default ${DEFAULTS.hubUrl}; token from --hf-token
          or $HF_TOKEN, sent only as a header). A failed download keeps <out>.partial: run the
          same command again to resume. Guidance-distilled checkpoints (FLUX.1 [dev]) convert too.
generate  runs the FLUX.1 pipeline on onnxruntime-node (CPU). --prompt needs a package with text
          encoders (1-${LIMITS.prompt.maxChars} characters; CLIP sees 77 tokens, T5 256 ([schnell]) or 512 ([dev]): words cut are reported).
          Width/height: multiples of 16 from ${LIMITS.cliSize.min} to ${LIMITS.cliSize.max} (default ${DEFAULTS.width}); steps ${LIMITS.steps.min}-${LIMITS.steps.max}
          (default the model's: ${FAMILY_DEFAULTS.schnell.steps} for [schnell], ${FAMILY_DEFAULTS.dev.steps} for [dev]); --guidance ${LIMITS.guidance.min}-${LIMITS.guidance.max} for guidance-distilled
          ([dev]) packages (default ${FAMILY_DEFAULTS.dev.guidance}; refused for [schnell]); seed ${LIMITS.seed.min}-${LIMITS.seed.max} (random when absent, always printed).
          --image starts from a picture (image-to-image, as diffusers' FluxImg2ImgPipeline; the
          package needs the VAE encoder): --strength from 0 (exclusive: keep the picture) to 1
          (regenerate it fully), default ${DEFAULTS.strength}. The picture must be --width x --height (default: its
          own size) unless --fit cover (centre-crop), contain (letterbox) or fill (stretch) says
          how to resize it (Lanczos-3). --dump then adds image_latents, noise (the seed's second
          draw), vae_encoder_mean/logvar and init_image_uint8.
--provider sends the prompt to that hosted provider instead (key from --api-key or
          $FLUX_WEBGPU_API_KEY; --base-url for a proxy). Sizes it cannot honour are moved to
          the nearest allowed one and reported, or refused with --strict.
decode    decodes saved latents with the package's VAE on onnxruntime-node (CPU): --latents holds
          "vae_input" [1,16,h,w] float32 (already /scaling_factor + shift_factor). --tile-px P
          decodes in tiles exactly as diffusers' AutoencoderKL.tiled_decode with
          tile_sample_min_size P (a multiple of ${LIMITS.vaeTilePx.multiple}, at least ${LIMITS.vaeTilePx.min}; latent tile P/8, overlap 0.25);
          without it the image is decoded whole. --dump writes "vae_out" [1,3,H,W] float32.
demo-model writes a complete tiny package (CLIP, T5, transformer, VAE, tokenizers) from fixed
          random weights in seconds. Its images are noise-like by design: it exercises the
          whole pipeline without a multi-GB download. See the README for the real model.
tokenize  prints the ids CLIP (77) and T5 (256 for [schnell], 512 for [dev]) receive for a prompt,
          padded to their lengths, and the text each drops. A checkpoint folder needs only
          tokenizer/ and tokenizer_2/ (its T5 length is 512 when transformer/config.json has
          guidance_embeds: true or, without one, scheduler/ uses dynamic shifting; else 256). --json prints
          {"clip": {"ids": [...], "dropped": "..."}, "t5": {"ids": [...], "dropped": "..."}}.
noise     writes torch.randn(shape, generator=torch.Generator().manual_seed(S)) as key "noise".`;

/** A usage error: printed with a pointer to --help, exit code 2. */
class UsageError extends FluxError {
  static override readonly errorName = 'UsageError';
  static override readonly defaultReason = 'usage';
}

/** The last stderr line of a failure: "(InvalidParameterError: field --width, reason out-of-range)". */
function errorCode(error: FluxError): string {
  const field = error instanceof InvalidParameterError ? `field ${error.field}, ` : '';
  return `(${error.name}: ${field}reason ${error.reason})`;
}

function integerFlag(flag: string, raw: string | undefined, fallback?: number): number | undefined {
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new InvalidParameterError(flag, 'an integer', raw, 'wrong-type');
  return Number(raw);
}

function required(flag: string, value: string | undefined): string {
  if (!value) throw new UsageError(`${flag} is required`);
  return value;
}

function parse(args: string[], options: Record<string, { type: 'string' | 'boolean' }>) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean' } }, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function convert(args: string[]): Promise<void> {
  const v = parse(args, {
    checkpoint: { type: 'string' }, out: { type: 'string' }, weights: { type: 'string' }, 'max-shard-mb': { type: 'string' }, force: { type: 'boolean' },
    transformer: { type: 'string' }, 'text-encoder-2': { type: 'string' }, vae: { type: 'string' }, 'hub-url': { type: 'string' }, 'hf-token': { type: 'string' },
  });
  const weights = (v.weights as string | undefined) ?? DEFAULTS.weights;
  if (!WEIGHT_PRECISIONS.includes(weights as WeightPrecision)) throw new InvalidParameterError('--weights', `one of ${WEIGHT_PRECISIONS.join(', ')}`, weights, 'not-one-of');
  const maxShardMb = integerFlag('--max-shard-mb', v['max-shard-mb'] as string | undefined, DEFAULTS.maxShardMb)!;
  if (maxShardMb < LIMITS.maxShardMb.min || maxShardMb > LIMITS.maxShardMb.max) {
    throw new InvalidParameterError('--max-shard-mb', `an integer from ${LIMITS.maxShardMb.min} to ${LIMITS.maxShardMb.max}`, maxShardMb);
  }
  const hubUrl = v['hub-url'] as string | undefined;
  if (hubUrl !== undefined && !/^https?:\/\/[^/]/.test(hubUrl)) throw new InvalidParameterError('--hub-url', 'an http(s) URL such as https://huggingface.co', hubUrl);
  const token = (v['hf-token'] as string | undefined) ?? process.env.HF_TOKEN ?? undefined;
  const started = Date.now();
  let downloaded = 0;
  const manifest = await convertCheckpoint({
    checkpoint: required('--checkpoint', v.checkpoint as string | undefined),
    transformer: v.transformer as string | undefined,
    textEncoder2: v['text-encoder-2'] as string | undefined,
    vae: v.vae as string | undefined,
    out: required('--out', v.out as string | undefined),
    weights: weights as WeightPrecision,
    maxShardMb,
    force: Boolean(v.force),
    hub: { hubUrl, token: token || undefined, onBytes: (_, bytes) => (downloaded += bytes) },
    log: (line) => {
      if (line.startsWith('warning:')) console.warn(line);
      else console.log(downloaded && line.startsWith('  ') ? `${line} (${formatBytes(downloaded)} downloaded so far)` : line);
    },
  });
  const total = manifest.files.reduce((sum, f) => sum + f.size, 0);
  const fetched = downloaded ? `, ${formatBytes(downloaded)} downloaded` : '';
  console.log(`wrote ${manifest.files.length} files, ${formatBytes(total)}, in ${((Date.now() - started) / 1000).toFixed(1)} s to ${v.out}${fetched}`);
}

function readPromptEmbeds(path: string): { promptEmbeds: Float32Array; pooledPromptEmbeds: Float32Array } {
  const expected = 'a safetensors file with float32 prompt_embeds [1,tokens,joint_dim] and pooled_prompt_embeds [1,pooled_dim]';
  let tensors;
  try {
    tensors = readSafetensors(readFileSync(path));
  } catch (error) {
    throw new InvalidParameterError('--prompt-embeds', expected, `${path} (${(error as Error).message})`);
  }
  const prompt = tensors.get('prompt_embeds');
  const pooled = tensors.get('pooled_prompt_embeds');
  if (!prompt || !pooled || !(prompt.data instanceof Float32Array) || !(pooled.data instanceof Float32Array) || prompt.shape.length !== 3 || pooled.shape.length !== 2) {
    throw new InvalidParameterError('--prompt-embeds', expected, `${path} with keys ${[...tensors.keys()].join(', ')}`);
  }
  return { promptEmbeds: prompt.data, pooledPromptEmbeds: pooled.data };
}

const FORMATS_BY_EXTENSION: Record<string, OutputFormat> = { png: 'png', jpg: 'jpeg', jpeg: 'jpeg', webp: 'webp' };

/**
 * `generate --provider …`: the same provider code the library uses, from Node. The key
 * comes from --api-key or $FLUX_WEBGPU_API_KEY and only ever goes into a request header.
 */
async function generateRemote(v: Record<string, string | boolean | undefined>): Promise<void> {
  const kind = v.provider as string;
  if (!(kind in PROVIDER_INFO)) throw new InvalidParameterError('--provider', `one of ${Object.keys(PROVIDER_INFO).join(', ')}`, kind, 'not-one-of');
  if (v['prompt-embeds'] !== undefined || v.dump !== undefined) throw new UsageError('--prompt-embeds and --dump work only with a local --model package');
  const out = required('--out', v.out as string | undefined);
  const extension = extname(out).slice(1).toLowerCase();
  const outputFormat = FORMATS_BY_EXTENSION[extension];
  if (!outputFormat) throw new InvalidParameterError('--out', 'a file name ending in .png, .jpg, .jpeg or .webp', out, 'not-one-of');
  // The web API's sizes: what the library and the widget accept for a provider.
  const request = requestFromFlags(v as RequestFlags, { sizes: 'web' }, undefined, outputFormat);
  const apiKey = (v['api-key'] as string | undefined) ?? process.env.FLUX_WEBGPU_API_KEY;
  const provider = createProvider({ kind: kind as ProviderKind, apiKey, baseUrl: v['base-url'] as string | undefined, model: v.model as string | undefined, strict: Boolean(v.strict) });
  console.log(`sending the prompt to ${provider.label} (seed ${request.seed}, ${request.width}x${request.height})`);
  let lastStatus = '';
  const result = await provider.generate(
    request,
    {
      onProgress: (e) => {
        if (e.stage !== 'remote' || e.status === lastStatus) return;
        lastStatus = e.status;
        console.log(`${provider.label}: ${e.detail ?? e.status}`);
      },
    },
  );
  for (const note of result.adjustments) console.warn(`note: ${note}`);
  const names = result.images.map((_, i) => (result.images.length === 1 ? out : out.replace(/(\.[^.]+)$/, `-${i + 1}$1`)));
  for (const [i, image] of result.images.entries()) writeFileSync(names[i], new Uint8Array(await image.arrayBuffer()));
  console.log(`wrote ${names.join(', ')} (${result.width}x${result.height}${result.seed === undefined ? '' : `, seed ${result.seed}`}, ${result.model})`);
}

async function generate(args: string[]): Promise<void> {
  const v = parse(args, {
    model: { type: 'string' }, prompt: { type: 'string' }, 'prompt-embeds': { type: 'string' }, width: { type: 'string' }, height: { type: 'string' },
    steps: { type: 'string' }, guidance: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, dump: { type: 'string' },
    provider: { type: 'string' }, 'api-key': { type: 'string' }, 'base-url': { type: 'string' }, 'num-images': { type: 'string' }, strict: { type: 'boolean' },
    image: { type: 'string' }, strength: { type: 'string' }, fit: { type: 'string' },
  });
  if (v.provider !== undefined) return generateRemote(v);
  for (const flag of ['api-key', 'base-url', 'num-images', 'strict']) if (v[flag] !== undefined) throw new UsageError(`--${flag} is for hosted providers: add --provider`);
  if (v.prompt !== undefined && v['prompt-embeds'] !== undefined) throw new UsageError('give either --prompt or --prompt-embeds, not both');
  if (v.prompt === undefined && v['prompt-embeds'] === undefined) throw new UsageError('--prompt or --prompt-embeds is required');
  const fileEmbeds = v['prompt-embeds'] === undefined ? undefined : readPromptEmbeds(v['prompt-embeds'] as string);
  // The CLI's wider sizes (16–2048, for tiny packages and golden checks); every other rule as in the library.
  const picture = readImageFlags(v as ImageFlags, (message) => {
    throw new UsageError(message);
  });
  const request = requestFromFlags(v as RequestFlags, { sizes: 'any' }, fileEmbeds, undefined, picture);
  const init = request.image && { ...request.image, strength: request.strength! };
  const model = required('--model', v.model as string | undefined);
  const out = required('--out', v.out as string | undefined);
  const { prompt, width, height, seed } = request;
  for (const warning of request.warnings) console.warn(`warning: ${warning}`);
  const { openNodeRuntime } = await loadNodeRuntime();

  const runtime = openNodeRuntime(model);
  try {
    // The model's own defaults: 28 steps and guidance 3.5 for [dev], 4 steps for [schnell].
    const family = modelFamily(runtime.manifest);
    let resolved;
    try {
      resolved = resolveForFamily(request, family, runtime.manifest.modelId);
    } catch (error) {
      throw asFlagError(error);
    }
    const { steps, guidance } = resolved;
    for (const warning of resolved.warnings) console.warn(`warning: ${warning}`);
    console.log(`seed ${seed}, ${width}x${height}, ${steps} steps${guidance === undefined ? '' : `, guidance ${guidance}`} (${FAMILY_NAMES[family]})`);
    if (init && picture) console.log(`image-to-image from ${v.image} (${picture.source.width}x${picture.source.height}${picture.fitted === 'as-is' ? '' : `, fitted by ${picture.fitted}`}), strength ${init.strength}: ${strengthStart(steps, init.strength, '--strength').steps} of ${steps} steps run`);
    let embeds = fileEmbeds;
    if (prompt !== undefined) {
      if (!hasTextEncoders(runtime.manifest)) {
        throw new InvalidParameterError('--prompt', 'used with a package that has text encoders (this one has none: use --prompt-embeds)', model, 'no-text-encoders');
      }
      const encoded = await encodePrompt(runtime, await loadTokenizers(runtime), prompt);
      for (const warning of droppedTextWarnings(encoded, runtime.manifest)) console.warn(`warning: ${warning}`);
      embeds = encoded;
    }
    const result = await runFluxPipeline(runtime, {
      promptEmbeds: embeds!.promptEmbeds,
      pooledPromptEmbeds: embeds!.pooledPromptEmbeds,
      width,
      height,
      steps,
      guidance,
      seed,
      keepIntermediates: Boolean(v.dump),
      init,
      onProgress: (e) => {
        if (e.stage === 'denoise') console.log(`step ${e.step}/${e.steps}`);
        if (e.stage === 'decode') console.log('decoding');
      },
    });
    writeFileSync(out, encodePng(result.image));
    console.log(`wrote ${out} (${(result.timings.totalMs / 1000).toFixed(2)} s)`);
    if (v.dump) {
      const i = result.intermediates!;
      const { h, w } = latentSize(height, width);
      const tokens = (h / 2) * (w / 2);
      const f32 = (data: Float32Array, shape: number[]): TensorToWrite => ({ dtype: 'F32', shape, data });
      const jointDim = graphByRole(runtime.manifest, 'transformer-embed').inputs.find((i) => i.name === 'encoder_hidden_states')!.dims[2] as number;
      writeFileSync(v.dump as string, writeSafetensors({
        prompt_embeds: f32(embeds!.promptEmbeds, [1, embeds!.promptEmbeds.length / jointDim, jointDim]),
        pooled_prompt_embeds: f32(embeds!.pooledPromptEmbeds, [1, embeds!.pooledPromptEmbeds.length]),
        noise: f32(i.noise, [1, 16, h, w]),
        packed_noise: f32(i.packed_noise, [1, tokens, 64]),
        transformer_out_t1: f32(i.transformer_out_t1, [1, tokens, 64]),
        final_packed_latents: f32(i.final_packed_latents, [1, tokens, 64]),
        vae_input: f32(i.vae_input, [1, 16, h, w]),
        vae_out: f32(i.vae_out, [1, 3, result.image.height, result.image.width]),
        image_uint8: { dtype: 'U8', shape: [1, result.image.height, result.image.width, 3], data: result.image.rgb },
        ...(init
          ? {
              image_latents: f32(i.image_latents!, [1, 16, h, w]),
              vae_encoder_mean: f32(i.vae_encoder_mean!, [1, 16, h, w]),
              vae_encoder_logvar: f32(i.vae_encoder_logvar!, [1, 16, h, w]),
              init_image_uint8: { dtype: 'U8' as const, shape: [1, height, width, 3], data: init.rgb },
            }
          : {}),
      }));
      console.log(`wrote ${v.dump}`);
    }
  } finally {
    await runtime.release();
  }
}

/** Reads `--latents`: key "vae_input", float [1, channels, h, w]. */
function readVaeInput(path: string, channels: number): { data: Float32Array; h: number; w: number } {
  const expected = `a safetensors file with "vae_input" [1,${channels},h,w] float32`;
  let tensors;
  try {
    tensors = readSafetensors(readFileSync(path));
  } catch (error) {
    throw new InvalidParameterError('--latents', expected, `${path} (${(error as Error).message})`);
  }
  const t = tensors.get('vae_input');
  if (!t) throw new InvalidParameterError('--latents', expected, `${path} with keys ${[...tensors.keys()].join(', ') || '(none)'}`);
  const [batch, c, h, w] = t.shape;
  if (t.shape.length !== 4 || batch !== 1 || c !== channels || h < 1 || w < 1 || !(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
    throw new InvalidParameterError('--latents', expected, `vae_input ${t.dtype}[${t.shape.join(',')}] in ${path}`);
  }
  return { data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data), h, w };
}

/** `decode`: saved latents → PNG (and `vae_out`), whole or in diffusers' tiles. */
async function decode(args: string[]): Promise<void> {
  const v = parse(args, { model: { type: 'string' }, latents: { type: 'string' }, 'tile-px': { type: 'string' }, out: { type: 'string' }, dump: { type: 'string' } });
  const model = required('--model', v.model as string | undefined);
  const latentsPath = required('--latents', v.latents as string | undefined);
  const out = required('--out', v.out as string | undefined);
  const tileFlag = v['tile-px'] as string | undefined;
  const tilePx = tileFlag === undefined ? null : checkTilePx('--tile-px', integerFlag('--tile-px', tileFlag)!);
  if (v.dump === '') throw new InvalidParameterError('--dump', 'a file path', '', 'missing');
  const { openNodeRuntime } = await loadNodeRuntime();
  let runtime;
  try {
    runtime = openNodeRuntime(model);
  } catch (error) {
    throw new InvalidParameterError('--model', 'a model package folder (manifest.json and its files)', `${model}: ${(error as Error).message}`);
  }
  try {
    const latents = readVaeInput(latentsPath, vaeLatentChannels(graphByRole(runtime.manifest, 'vae-decoder')));
    if (tilePx !== null) {
      const geometry = vaeTileGeometry(tilePx);
      const height = tiledOutputSize(latents.h, geometry);
      const width = tiledOutputSize(latents.w, geometry);
      console.log(`decoding ${latents.w}x${latents.h} latents in tiles of ${tilePx} px (${geometry.tileLatent} latents, stride ${geometry.stride}, blend ${geometry.blendExtent} px)`);
      if (height !== 8 * latents.h || width !== 8 * latents.w) {
        console.warn(`warning: with --tile-px ${tilePx} (not a multiple of 32) diffusers' tiled_decode gives ${width}x${height}, not ${8 * latents.w}x${8 * latents.h}; this output does the same`);
      }
    } else console.log(`decoding ${latents.w}x${latents.h} latents whole`);
    const started = Date.now();
    const { output } = await decodeLatents(runtime, { latents: latents.data, latentHeight: latents.h, latentWidth: latents.w, tilePx });
    const image = vaeOutputToRgb(output.data, output.height, output.width);
    writeFileSync(out, encodePng(image));
    console.log(`wrote ${out} (${image.width}x${image.height}, ${((Date.now() - started) / 1000).toFixed(2)} s)`);
    if (v.dump) {
      writeFileSync(v.dump as string, writeSafetensors({
        vae_out: { dtype: 'F32', shape: [1, output.channels, output.height, output.width], data: output.data },
        image_uint8: { dtype: 'U8', shape: [1, image.height, image.width, 3], data: image.rgb },
      }));
      console.log(`wrote ${v.dump}`);
    }
  } finally {
    await runtime.release();
  }
}

async function demoModel(args: string[]): Promise<void> {
  const v = parse(args, { out: { type: 'string' }, weights: { type: 'string' }, force: { type: 'boolean' } });
  const weights = (v.weights as string | undefined) ?? 'fp32';
  if (!WEIGHT_PRECISIONS.includes(weights as WeightPrecision)) throw new InvalidParameterError('--weights', `one of ${WEIGHT_PRECISIONS.join(', ')}`, weights, 'not-one-of');
  const started = Date.now();
  const manifest = await writeDemoModel({ out: required('--out', v.out as string | undefined), weights: weights as WeightPrecision, force: Boolean(v.force) });
  const total = manifest.files.reduce((sum, f) => sum + f.size, 0);
  console.log(`wrote the demo model (${formatBytes(total)}, ${weights}) in ${((Date.now() - started) / 1000).toFixed(1)} s to ${v.out}`);
  console.log('Its images are noise-like: it has random weights. See the README to build the real FLUX.1 [schnell] package.');
}

function noise(args: string[]): void {
  const v = parse(args, { seed: { type: 'string' }, shape: { type: 'string' }, out: { type: 'string' } });
  const seed = checkSeed('--seed', integerFlag('--seed', required('--seed', v.seed as string | undefined))!);
  const shapeText = required('--shape', v.shape as string | undefined);
  const shape = shapeText.split(',').map((d) => Number(d.trim()));
  if (shape.some((d) => !Number.isInteger(d) || d < 1) || shape.reduce((a, b) => a * b, 1) > 2 ** 28) {
    throw new InvalidParameterError('--shape', 'comma-separated positive integers (e.g. 1,16,128,128), at most 2^28 elements', shapeText, 'malformed');
  }
  const out = required('--out', v.out as string | undefined);
  writeFileSync(out, writeSafetensors({ noise: { dtype: 'F32', shape, data: torchRandn(shape, seed) } }));
  console.log(`wrote ${out}: noise [${shape}] for seed ${seed}`);
}

async function tokenize(args: string[]): Promise<void> {
  const v = parse(args, { model: { type: 'string' }, prompt: { type: 'string' }, json: { type: 'boolean' } });
  const model = required('--model', v.model as string | undefined);
  if (v.prompt === undefined) throw new UsageError('--prompt is required');
  const prompt = v.prompt as string;
  if (prompt.length > LIMITS.prompt.maxChars) throw new InvalidParameterError('--prompt', `text of at most ${LIMITS.prompt.maxChars} characters`, `${prompt.length} characters`);
  const { tokenizers } = await openLocalTokenizers(model, '--model');
  const count = countTokens(tokenizers, prompt);
  if (v.json) {
    // The layout Python's json.dumps gives (", " and ": " separators, non-ASCII as \uXXXX): any JSON reader, or a plain text comparison, agrees.
    const text = (value: string) => JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    const encoder = (c: { ids: number[]; dropped: string }) => `{"ids": [${c.ids.join(', ')}], "dropped": ${text(c.dropped)}}`;
    console.log(`{"clip": ${encoder(count.clip)}, "t5": ${encoder(count.t5)}}`);
    return;
  }
  for (const [name, c] of [['clip', count.clip], ['t5', count.t5]] as const) {
    console.log(`${name}: ${c.maxTokens} ids (the prompt needs ${c.tokens})`);
    console.log(`  ids: ${c.ids.join(' ')}`);
    console.log(`  dropped: ${c.dropped === '' ? '(nothing)' : JSON.stringify(c.dropped)}`);
  }
  console.log(describeTokenCount(count));
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || rest.includes('--help')) {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  try {
    if (command === 'convert') await convert(rest);
    else if (command === 'generate') await generate(rest);
    else if (command === 'decode') await decode(rest);
    else if (command === 'noise') noise(rest);
    else if (command === 'demo-model') await demoModel(rest);
    else if (command === 'tokenize') await tokenize(rest);
    else throw new UsageError(`unknown command "${command}" (expected convert, generate, decode, tokenize, demo-model or noise)`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof InvalidParameterError) {
      console.error(`flux-webgpu ${command}: ${(error as Error).message}\nRun "flux-webgpu --help" for usage.\n${errorCode(error)}`);
      return 2;
    }
    console.error(`flux-webgpu ${command}: ${error instanceof FluxError ? `${error.message}\n${errorCode(error)}` : (error as Error).stack}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
