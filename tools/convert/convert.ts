/**
 * `flux-webgpu convert`: a FLUX.1 [schnell] checkpoint in the diffusers layout → a web
 * model package (manifest.json + ONNX graphs + .onnx_data files).
 *
 * Everything that can be checked before writing (configs, tensor names, shapes) is
 * checked first. The package is built in a temporary folder beside `out` and renamed
 * into place only when complete, so a failure never leaves a half-written package.
 * Tensors are streamed one at a time, so memory stays near the largest tensor.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { DEFAULTS } from '../../src/defaults.ts';
import { CheckpointError } from '../../src/errors.ts';
import {
  PACKAGE_FORMAT,
  PACKAGE_FORMAT_VERSION,
  type GraphEntry,
  type GraphRole,
  type Manifest,
  type PackageFile,
  type WeightPrecision,
} from '../../src/package/manifest.ts';
import type { LayerContext, WeightSource } from './layers.ts';
import { ExternalDataWriter, GraphBuilder } from './onnx-builder.ts';
import { openCheckpointDir } from './safetensors-reader.ts';
import { buildBlocks, buildEmbed, buildHead, expectedTransformerTensors, innerDim, planBlockShards, validateTransformerConfig } from './transformer-graphs.ts';
import { buildVaeDecoder, expectedVaeDecoderTensors, validateVaeConfig, type VaeConfig } from './vae-graph.ts';

/** Options of `convertCheckpoint`. */
export interface ConvertOptions {
  /** Folder with `transformer/` and `vae/` in the diffusers layout. */
  checkpoint: string;
  /** Package folder to create. */
  out: string;
  /** Linear weight storage; default q4. */
  weights?: WeightPrecision;
  /** Largest data file in MiB (1–2047); default 1024. */
  maxShardMb?: number;
  /** Model id recorded in the manifest; default the checkpoint folder's name. */
  modelId?: string;
  /** Replace an existing package at `out`. */
  force?: boolean;
  /** Progress lines for a terminal. */
  log?: (line: string) => void;
}

type Checkpoint = Awaited<ReturnType<typeof openCheckpointDir>>;

async function readJson(path: string): Promise<Record<string, unknown>> {
  if (!existsSync(path)) throw new CheckpointError(`missing file ${path}`, path);
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new CheckpointError(`${path} is not valid JSON: ${(error as Error).message}`, path);
  }
}

/** Wraps a checkpoint reader as a WeightSource that checks shapes and records what was read. */
function weightSource(checkpoint: Checkpoint, dir: string, prefix = ''): WeightSource & { used: Set<string> } {
  const used = new Set<string>();
  return {
    used,
    async read(name, shape) {
      const full = prefix + name;
      if (!checkpoint.names().includes(full)) throw new CheckpointError(`${dir}: tensor ${full} is missing`, dir, full);
      const info = checkpoint.info(full);
      if (info.shape.join(',') !== shape.join(',')) {
        throw new CheckpointError(`${info.file}: tensor ${full} has shape [${info.shape}], expected [${shape}]`, info.file, full);
      }
      used.add(full);
      return checkpoint.readFloat32(full);
    },
  };
}

/**
 * Compares a checkpoint's tensors with the expected names and shapes.
 * @param ignore names that may be present and are not converted (e.g. the VAE encoder)
 */
function checkTensors(checkpoint: Checkpoint, dir: string, expected: Map<string, number[]>, ignore: (name: string) => boolean): void {
  const present = new Set(checkpoint.names());
  for (const [name, shape] of expected) {
    if (!present.has(name)) throw new CheckpointError(`${dir}: tensor ${name} is missing (expected shape [${shape}])`, dir, name);
    const info = checkpoint.info(name);
    if (info.shape.join(',') !== shape.join(',')) {
      throw new CheckpointError(`${info.file}: tensor ${name} has shape [${info.shape}], expected [${shape}]`, info.file, name);
    }
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') {
      throw new CheckpointError(`${info.file}: tensor ${name} has dtype ${info.dtype}; only F32, F16 and BF16 are supported`, info.file, name);
    }
  }
  for (const name of present) {
    if (!expected.has(name) && !ignore(name)) {
      throw new CheckpointError(`${checkpoint.info(name).file}: unexpected tensor ${name} (not part of a FLUX model with this config)`, checkpoint.info(name).file, name);
    }
  }
}

async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Peak activation at 1024² in bytes: the VAE's largest feature map or a single block's MLP input. */
function activationBytesAt1024(transformerDim: number, textTokens: number, vae: VaeConfig): number {
  const reversed = [...vae.block_out_channels].reverse();
  let largest = 0;
  let side = 1024 / 2 ** (reversed.length - 1);
  for (let i = 0; i < reversed.length; i++) {
    const input = i === 0 ? reversed[0] : reversed[i - 1];
    largest = Math.max(largest, Math.max(input, reversed[i]) * side * side * 4);
    if (i < reversed.length - 1) {
      side *= 2;
      largest = Math.max(largest, reversed[i] * side * side * 4);
    }
  }
  const tokens = textTokens + (1024 / 16) ** 2;
  return Math.max(largest, tokens * 5 * transformerDim * 4);
}

/**
 * Converts a checkpoint into a web model package.
 * @returns the manifest written to `out/manifest.json`
 * @throws CheckpointError naming the file and tensor for bad input
 */
export async function convertCheckpoint(options: ConvertOptions): Promise<Manifest> {
  const precision = options.weights ?? DEFAULTS.weights;
  const maxShardBytes = (options.maxShardMb ?? DEFAULTS.maxShardMb) * 2 ** 20;
  const log = options.log ?? (() => {});
  const root = resolve(options.checkpoint);
  const out = resolve(options.out);
  if (!existsSync(root)) throw new CheckpointError(`checkpoint folder ${root} does not exist`, root);

  const transformerDir = join(root, 'transformer');
  const vaeDir = join(root, 'vae');
  const transformerConfig = validateTransformerConfig(await readJson(join(transformerDir, 'config.json')), join(transformerDir, 'config.json'));
  const vaeConfig = validateVaeConfig(await readJson(join(vaeDir, 'config.json')), join(vaeDir, 'config.json'));
  const schedulerPath = join(root, 'scheduler', 'scheduler_config.json');
  const schedulerConfig = existsSync(schedulerPath) ? await readJson(schedulerPath) : undefined;
  if (schedulerConfig && (schedulerConfig.use_dynamic_shifting || (schedulerConfig.shift ?? 1) !== 1)) {
    throw new CheckpointError(`${schedulerPath}: only shift 1 without dynamic shifting (FLUX.1 [schnell]) is supported`, schedulerPath, 'shift');
  }
  const plans = planBlockShards(transformerConfig, precision, maxShardBytes);

  const transformer = await openCheckpointDir(transformerDir);
  const vae = await openCheckpointDir(vaeDir);
  try {
    checkTensors(transformer, transformerDir, expectedTransformerTensors(transformerConfig), () => false);
    checkTensors(vae, vaeDir, expectedVaeDecoderTensors(vaeConfig), (name) => !name.startsWith('decoder.'));

    if (existsSync(out) && !options.force) {
      if (!(await stat(out)).isDirectory()) throw new CheckpointError(`output ${out} exists and is not a folder; pass --force to replace it`, out);
      if ((await readdir(out)).length > 0) throw new CheckpointError(`output folder ${out} exists and is not empty; pass --force to replace it`, out);
    }
    const work = `${out}.partial-${process.pid}`;
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    try {
      const graphs: GraphEntry[] = [];
      const files: PackageFile[] = [];
      let uploadBytes = 0;
      let largestUpload = 0;
      const build = async (name: string, role: GraphRole, weights: WeightSource, body: (ctx: LayerContext) => Promise<void>, extra: Partial<GraphEntry> = {}) => {
        const dataPath = join(work, `${name}.onnx_data`);
        const writer = new ExternalDataWriter(dataPath);
        const g = new GraphBuilder(name, writer);
        try {
          await body({ g, weights, precision });
        } catch (error) {
          writer.finish(); // close the data file's descriptor before the work folder is removed
          throw error;
        }
        const data = writer.finish();
        if (data.size > maxShardBytes) {
          // Only block shards can be split; any other graph must fit the limit as a whole.
          throw new CheckpointError(
            `${name} needs ${(data.size / 2 ** 20).toFixed(2)} MiB of weight data, more than --max-shard-mb ${options.maxShardMb ?? DEFAULTS.maxShardMb}; raise --max-shard-mb`,
          );
        }
        const modelFile = `${name}.onnx`;
        await writeFile(join(work, modelFile), g.encode());
        files.push({ path: modelFile, size: (await stat(join(work, modelFile))).size, sha256: await sha256File(join(work, modelFile)) });
        let dataFile: string | null = `${name}.onnx_data`;
        if (data.size === 0) {
          await rm(dataPath);
          dataFile = null;
        } else files.push({ path: dataFile, size: data.size, sha256: data.sha256 });
        uploadBytes += g.uploadBytes;
        largestUpload = Math.max(largestUpload, g.largestUploadBytes);
        graphs.push({ name, role, model: modelFile, data: dataFile, ...g.signature(), weightPrecision: precision, computePrecision: 'fp32', weightBytes: g.weightBytes, ...extra });
        log(`  ${name}: ${(data.size / 2 ** 20).toFixed(1)} MiB of weights`);
      };

      const transformerWeights = weightSource(transformer, transformerDir);
      log(`converting transformer (${transformerConfig.num_layers} double + ${transformerConfig.num_single_layers} single blocks, ${precision}) into ${plans.length + 2} shards`);
      await build('transformer_embed', 'transformer-embed', transformerWeights, (ctx) => buildEmbed(ctx, transformerConfig));
      for (const [index, plan] of plans.entries()) {
        const kind = plan.double[1] > plan.double[0] ? `double_${plan.double[0]}-${plan.double[1] - 1}` : `single_${plan.single[0]}-${plan.single[1] - 1}`;
        await build(`transformer_blocks_${String(index).padStart(2, '0')}_${kind}`, 'transformer-blocks', transformerWeights, (ctx) => buildBlocks(ctx, transformerConfig, plan), {
          blocks: { double: plan.double, single: plan.single },
        });
      }
      await build('transformer_head', 'transformer-head', transformerWeights, (ctx) => buildHead(ctx, transformerConfig));
      log('converting VAE decoder');
      await build('vae_decoder', 'vae-decoder', weightSource(vae, vaeDir), (ctx) => buildVaeDecoder(ctx, vaeConfig));

      const manifest: Manifest = {
        format: PACKAGE_FORMAT,
        formatVersion: PACKAGE_FORMAT_VERSION,
        modelId: options.modelId ?? basename(root),
        weights: precision,
        createdBy: 'flux-webgpu convert 0.1.0',
        configs: { transformer: transformerConfig as unknown as Record<string, unknown>, vae: vaeConfig as unknown as Record<string, unknown>, scheduler: schedulerConfig },
        graphs,
        files,
        requirements: {
          totalWeightBytes: uploadBytes,
          largestWeightBufferBytes: largestUpload,
          largestActivationBytesAt1024: activationBytesAt1024(innerDim(transformerConfig), 256, vaeConfig),
          shaderF16: false,
        },
      };
      await writeFile(join(work, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
      // Swap in the new package: the old one is moved aside first and deleted last, so a
      // crash at any point leaves either the old or the new package at `out`.
      const old = `${out}.replaced-${process.pid}`;
      const hadOld = existsSync(out);
      if (hadOld) await rename(out, old);
      await rename(work, out);
      if (hadOld) await rm(old, { recursive: true, force: true });
      return manifest;
    } catch (error) {
      await rm(work, { recursive: true, force: true });
      throw error;
    }
  } finally {
    await transformer.close();
    await vae.close();
  }
}
