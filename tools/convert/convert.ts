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
import { DEFAULTS, LIMITS } from '../../src/defaults.ts';
import { CheckpointError } from '../../src/errors.ts';
import {
  PACKAGE_FORMAT,
  PACKAGE_FORMAT_VERSION,
  type GraphEntry,
  type Manifest,
  type PackageFile,
  type WeightPrecision,
} from '../../src/package/manifest.ts';
import { prepareClip, prepareT5, prepareTransformer, prepareVae, readCheckpointJson, T5_SEQUENCE_LENGTH, type GraphJob } from './components.ts';
import { ExternalDataWriter, GraphBuilder } from './onnx-builder.ts';
import { writePackageTokenizer } from './tokenizer-files.ts';
import { defaultAttentionHeadsPerGroup, innerDim, type TransformerConfig } from './transformer-graphs.ts';

/** Options of `convertCheckpoint`. */
export interface ConvertOptions {
  /**
   * Folder in the diffusers layout: `transformer/` and `vae/`, and optionally the text
   * encoders (`text_encoder/`, `text_encoder_2/`, `tokenizer/`, `tokenizer_2/`) together.
   */
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

async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/**
 * The transformer's largest single activation buffer, in bytes per 1024² of image: the
 * single block's joined input [tokens, 5·dim] or one attention group's float32 scores
 * [heads per group, tokens, tokens], taken at the web size where it is largest per pixel
 * (the scores grow with the square of the token count), so that scaling it by the pixel
 * count never underestimates up to LIMITS.webSize.max. The VAE is not counted: it decodes
 * in tiles that fit the device (see chooseVaeTile).
 */
function activationBytesAt1024(transformer: TransformerConfig, textTokens: number): number {
  const dim = innerDim(transformer);
  const headsPerGroup = defaultAttentionHeadsPerGroup(transformer);
  let worst = 0;
  for (let side = LIMITS.webSize.min; side <= LIMITS.webSize.max; side += LIMITS.sizeMultiple) {
    const tokens = textTokens + (side / 16) ** 2;
    const largest = Math.max(tokens * 5 * dim * 4, headsPerGroup * tokens * tokens * 4);
    worst = Math.max(worst, (largest / side ** 2) * 1024 ** 2);
  }
  return Math.ceil(worst);
}

/** What `writeGraph` wrote. */
export interface WrittenGraph {
  entry: GraphEntry;
  files: PackageFile[];
  /** Weight bytes once uploaded for float32 compute. */
  uploadBytes: number;
  largestUploadBytes: number;
}

/**
 * Builds one graph job into `dir` as `<name>.onnx` (+ `<name>.onnx_data` when it has
 * external weights), hashing both.
 * @throws CheckpointError when its weight data exceeds `maxShardBytes`
 */
export async function writeGraph(job: GraphJob, dir: string, precision: WeightPrecision, maxShardBytes: number): Promise<WrittenGraph> {
  const dataPath = join(dir, `${job.name}.onnx_data`);
  const writer = new ExternalDataWriter(dataPath);
  const g = new GraphBuilder(job.name, writer);
  try {
    await job.build({ g, weights: job.weights, precision });
  } catch (error) {
    writer.finish(); // close the data file's descriptor before the caller removes the folder
    throw error;
  }
  const data = writer.finish();
  if (data.size > maxShardBytes) {
    // Only block shards can be split; any other graph must fit the limit as a whole.
    throw new CheckpointError(
      `${job.name} needs ${(data.size / 2 ** 20).toFixed(2)} MiB of weight data, more than --max-shard-mb ${(maxShardBytes / 2 ** 20).toFixed(2)}; raise --max-shard-mb`,
    );
  }
  const modelFile = `${job.name}.onnx`;
  await writeFile(join(dir, modelFile), g.encode());
  const files: PackageFile[] = [{ path: modelFile, size: (await stat(join(dir, modelFile))).size, sha256: await sha256File(join(dir, modelFile)) }];
  let dataFile: string | null = `${job.name}.onnx_data`;
  if (data.size === 0) {
    await rm(dataPath);
    dataFile = null;
  } else files.push({ path: dataFile, size: data.size, sha256: data.sha256 });
  return {
    entry: { name: job.name, role: job.role, model: modelFile, data: dataFile, ...g.signature(), weightPrecision: precision, computePrecision: 'fp32', weightBytes: g.weightBytes, ...job.extra },
    files,
    uploadBytes: g.uploadBytes,
    largestUploadBytes: g.largestUploadBytes,
  };
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

  const schedulerPath = join(root, 'scheduler', 'scheduler_config.json');
  const schedulerConfig = existsSync(schedulerPath) ? await readCheckpointJson(schedulerPath) : undefined;
  if (schedulerConfig && (schedulerConfig.use_dynamic_shifting || (schedulerConfig.shift ?? 1) !== 1)) {
    throw new CheckpointError(`${schedulerPath}: only shift 1 without dynamic shifting (FLUX.1 [schnell]) is supported`, schedulerPath, 'shift');
  }
  const textFolders = ['text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2'];
  const presentText = textFolders.filter((f) => existsSync(join(root, f)));
  if (presentText.length > 0 && presentText.length < textFolders.length) {
    const missing = textFolders.find((f) => !presentText.includes(f))!;
    throw new CheckpointError(`${join(root, missing)} is missing: text encoders need ${textFolders.join(', ')} together`, join(root, missing));
  }

  // Open and check every component before writing anything.
  const opened: { close(): Promise<void> }[] = [];
  const open = async <T extends { close(): Promise<void> }>(component: Promise<T>): Promise<T> => {
    const c = await component;
    opened.push(c);
    return c;
  };
  try {
    const transformer = await open(prepareTransformer(join(root, 'transformer'), precision, maxShardBytes));
    const vae = await open(prepareVae(join(root, 'vae')));
    const clip = presentText.length ? await open(prepareClip(join(root, 'text_encoder'))) : undefined;
    const t5 = presentText.length ? await open(prepareT5(join(root, 'text_encoder_2'), precision, maxShardBytes)) : undefined;
    const jobs: GraphJob[] = [...(clip?.jobs ?? []), ...(t5?.jobs ?? []), ...transformer.jobs, ...vae.jobs];

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
      const addFile = async (path: string) => {
        files.push({ path, size: (await stat(join(work, path))).size, sha256: await sha256File(join(work, path)) });
      };
      log(`converting ${jobs.length} graphs (${precision} weights)`);
      for (const job of jobs) {
        const written = await writeGraph(job, work, precision, maxShardBytes);
        graphs.push(written.entry);
        files.push(...written.files);
        uploadBytes += written.uploadBytes;
        largestUpload = Math.max(largestUpload, written.largestUploadBytes);
        log(`  ${job.name}: ${(written.entry.weightBytes / 2 ** 20).toFixed(1)} MiB of weights`);
      }
      let tokenizers: Manifest['tokenizers'];
      if (clip && t5) {
        const clipFiles = await writePackageTokenizer(join(root, 'tokenizer'), work, 'tokenizer', 'clip');
        const t5Files = await writePackageTokenizer(join(root, 'tokenizer_2'), work, 'tokenizer_2', 't5');
        for (const path of [...clipFiles, ...t5Files]) await addFile(path);
        tokenizers = {
          clip: { tokenizerJson: clipFiles[0], tokenizerConfig: clipFiles[1], maxLength: clip.config.max_position_embeddings },
          t5: { tokenizerJson: t5Files[0], tokenizerConfig: t5Files[1], maxLength: T5_SEQUENCE_LENGTH },
        };
      }
      const transformerConfig = transformer.config;
      const vaeConfig = vae.config;

      const manifest: Manifest = {
        format: PACKAGE_FORMAT,
        formatVersion: PACKAGE_FORMAT_VERSION,
        modelId: options.modelId ?? basename(root),
        weights: precision,
        createdBy: 'flux-webgpu convert 0.1.0',
        configs: {
          transformer: transformerConfig as unknown as Record<string, unknown>,
          vae: vaeConfig as unknown as Record<string, unknown>,
          scheduler: schedulerConfig,
          text_encoder: clip?.config as unknown as Record<string, unknown> | undefined,
          text_encoder_2: t5?.config as unknown as Record<string, unknown> | undefined,
        },
        tokenizers,
        graphs,
        files,
        requirements: {
          totalWeightBytes: uploadBytes,
          largestWeightBufferBytes: largestUpload,
          largestActivationBytesAt1024: activationBytesAt1024(transformerConfig, T5_SEQUENCE_LENGTH),
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
    for (const component of opened) await component.close();
  }
}
