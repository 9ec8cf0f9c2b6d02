/**
 * `flux-webgpu convert`: a FLUX.1 [schnell] checkpoint in the diffusers layout → a web
 * model package (manifest.json + ONNX graphs + .onnx_data files).
 *
 * The converter's core, browser-safe: it reads through `CheckpointFiles` and writes
 * through a `PackageSink`, so the same code runs in the Node CLI
 * (`tools/convert/convert-local.ts`: local folder in, folder out) and in a worker.
 *
 * Everything that can be checked before writing (configs, tensor names, shapes) is
 * checked first; the sink is opened only then, and it makes the package appear only
 * when it is complete, so a failure never leaves a half-written package.
 * Tensors are streamed one at a time, so memory stays near the largest tensor.
 */
import { DEFAULTS, LIMITS } from '../defaults.ts';
import { CheckpointError } from '../errors.ts';
import {
  PACKAGE_FORMAT,
  PACKAGE_FORMAT_VERSION,
  type GraphEntry,
  type Manifest,
  type PackageFile,
  type WeightPrecision,
} from '../package/manifest.ts';
import { createIncrementalSha256 } from '../store/sha256.ts';
import { joinPath, readCheckpointJson, type CheckpointFiles } from './checkpoint-files.ts';
import { prepareClip, prepareT5, prepareTransformer, prepareVae, T5_SEQUENCE_LENGTH, type GraphJob } from './components.ts';
import type { LayerContext } from './layers.ts';
import { ExternalDataWriter, GraphBuilder } from './onnx-builder.ts';
import { writeWholeFile, type PackageSink } from './package-sink.ts';
import { packageTokenizerFiles } from './tokenizer-files.ts';
import { defaultAttentionHeadsPerGroup, innerDim, type TransformerConfig } from './transformer-graphs.ts';

/** What to convert and where to. */
export interface PackageConversion {
  /**
   * Files in the diffusers layout: `transformer/` and `vae/`, and optionally the text
   * encoders (`text_encoder/`, `text_encoder_2/`, `tokenizer/`, `tokenizer_2/`) together.
   */
  checkpoint: CheckpointFiles;
  /** Opens the package sink; called once every source has been checked. */
  openSink(): Promise<PackageSink>;
  /** Linear weight storage; default q4. */
  weights?: WeightPrecision;
  /** Largest data file in MiB (1–2047); default 1024. */
  maxShardMb?: number;
  /** Model id recorded in the manifest; default the checkpoint's name. */
  modelId?: string;
  /** Progress lines for a terminal. */
  log?: (line: string) => void;
}

/** Lower-case hex sha256 of `bytes`. */
async function sha256Of(bytes: Uint8Array): Promise<string> {
  const hash = await createIncrementalSha256();
  hash.update(bytes);
  return hash.digestHex();
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
 * Builds one graph job into the sink as `<name>.onnx` (+ `<name>.onnx_data` when it has
 * external weights), hashing both.
 * @throws CheckpointError when its weight data exceeds `maxShardBytes`
 */
export async function writeGraph(job: GraphJob, sink: PackageSink, precision: WeightPrecision, maxShardBytes: number): Promise<WrittenGraph> {
  const dataName = `${job.name}.onnx_data`;
  const writer = await ExternalDataWriter.create(dataName, await sink.create(dataName));
  const g = new GraphBuilder(job.name, writer);
  // Write what the previous tensor queued before reading the next one.
  const weights: LayerContext['weights'] = {
    async read(name, shape) {
      await writer.drain();
      return job.weights.read(name, shape);
    },
  };
  let data: { size: number; sha256: string };
  try {
    await job.build({ g, weights, precision });
    data = await writer.finish();
  } catch (error) {
    await writer.close().catch(() => undefined);
    throw error;
  }
  if (data.size > maxShardBytes) {
    // Only block shards can be split; any other graph must fit the limit as a whole.
    throw new CheckpointError(
      `${job.name} needs ${(data.size / 2 ** 20).toFixed(2)} MiB of weight data, more than --max-shard-mb ${(maxShardBytes / 2 ** 20).toFixed(2)}; raise --max-shard-mb`,
    );
  }
  const modelFile = `${job.name}.onnx`;
  const model = g.encode();
  await writeWholeFile(sink, modelFile, model);
  const files: PackageFile[] = [{ path: modelFile, size: model.byteLength, sha256: await sha256Of(model) }];
  let dataFile: string | null = dataName;
  if (data.size === 0) {
    await sink.remove(dataName);
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
 * Converts a checkpoint into a web model package written through `openSink()`.
 * @returns the manifest committed as `manifest.json`
 * @throws CheckpointError naming the file and tensor for bad input (nothing is committed)
 */
export async function convertToPackage(options: PackageConversion): Promise<Manifest> {
  const precision = options.weights ?? DEFAULTS.weights;
  const maxShardBytes = (options.maxShardMb ?? DEFAULTS.maxShardMb) * 2 ** 20;
  const log = options.log ?? (() => {});
  const source = options.checkpoint;
  if (!(await source.isFolder(''))) throw new CheckpointError(`checkpoint folder ${source.labelOf('')} does not exist`, source.labelOf(''));

  const schedulerRel = joinPath('scheduler', 'scheduler_config.json');
  const schedulerPath = source.labelOf(schedulerRel);
  const schedulerConfig = (await source.exists(schedulerRel)) ? await readCheckpointJson(source, schedulerRel) : undefined;
  if (schedulerConfig && (schedulerConfig.use_dynamic_shifting || (schedulerConfig.shift ?? 1) !== 1)) {
    throw new CheckpointError(`${schedulerPath}: only shift 1 without dynamic shifting (FLUX.1 [schnell]) is supported`, schedulerPath, 'shift');
  }
  const textFolders = ['text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2'];
  const presentText: string[] = [];
  for (const folder of textFolders) if (await source.isFolder(folder)) presentText.push(folder);
  if (presentText.length > 0 && presentText.length < textFolders.length) {
    const missing = source.labelOf(textFolders.find((f) => !presentText.includes(f))!);
    throw new CheckpointError(`${missing} is missing: text encoders need ${textFolders.join(', ')} together`, missing);
  }

  // Open and check every component before writing anything.
  const opened: { close(): Promise<void> }[] = [];
  const open = async <T extends { close(): Promise<void> }>(component: Promise<T>): Promise<T> => {
    const c = await component;
    opened.push(c);
    return c;
  };
  try {
    const transformer = await open(prepareTransformer(source, 'transformer', precision, maxShardBytes));
    const vae = await open(prepareVae(source, 'vae'));
    const clip = presentText.length ? await open(prepareClip(source, 'text_encoder')) : undefined;
    const t5 = presentText.length ? await open(prepareT5(source, 'text_encoder_2', precision, maxShardBytes)) : undefined;
    const jobs: GraphJob[] = [...(clip?.jobs ?? []), ...(t5?.jobs ?? []), ...transformer.jobs, ...vae.jobs];

    const sink = await options.openSink();
    try {
      const graphs: GraphEntry[] = [];
      const files: PackageFile[] = [];
      let uploadBytes = 0;
      let largestUpload = 0;
      log(`converting ${jobs.length} graphs (${precision} weights)`);
      for (const job of jobs) {
        const written = await writeGraph(job, sink, precision, maxShardBytes);
        graphs.push(written.entry);
        files.push(...written.files);
        uploadBytes += written.uploadBytes;
        largestUpload = Math.max(largestUpload, written.largestUploadBytes);
        log(`  ${job.name}: ${(written.entry.weightBytes / 2 ** 20).toFixed(1)} MiB of weights`);
      }
      let tokenizers: Manifest['tokenizers'];
      if (clip && t5) {
        const clipFiles = await packageTokenizerFiles(source, 'tokenizer', 'tokenizer', 'clip');
        const t5Files = await packageTokenizerFiles(source, 'tokenizer_2', 'tokenizer_2', 't5');
        for (const file of [...clipFiles, ...t5Files]) {
          await writeWholeFile(sink, file.path, file.bytes);
          files.push({ path: file.path, size: file.bytes.byteLength, sha256: await sha256Of(file.bytes) });
        }
        tokenizers = {
          clip: { tokenizerJson: clipFiles[0].path, tokenizerConfig: clipFiles[1].path, maxLength: clip.config.max_position_embeddings },
          t5: { tokenizerJson: t5Files[0].path, tokenizerConfig: t5Files[1].path, maxLength: T5_SEQUENCE_LENGTH },
        };
      }
      const transformerConfig = transformer.config;
      const vaeConfig = vae.config;

      const manifest: Manifest = {
        format: PACKAGE_FORMAT,
        formatVersion: PACKAGE_FORMAT_VERSION,
        modelId: options.modelId ?? source.name,
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
      await sink.commit(new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`));
      return manifest;
    } catch (error) {
      await sink.abort(false);
      throw error;
    }
  } finally {
    for (const component of opened) await component.close();
  }
}
