/**
 * `flux-webgpu convert`: a FLUX.1 [schnell] or [dev] checkpoint in the diffusers layout → a web
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
import { DEFAULTS, FAMILY_DEFAULTS, LIMITS } from '../defaults.ts';
import { CheckpointError } from '../errors.ts';
import {
  PACKAGE_FORMAT,
  PACKAGE_FORMAT_VERSION,
  type GraphEntry,
  type Manifest,
  type PackageFile,
  type WeightPrecision,
} from '../package/manifest.ts';
import { familyOfTransformerConfig } from '../models/family.ts';
import { scheduleConfigProblem } from '../pipeline/schedule.ts';
import { createChunkSha256 } from '../package/chunk-hashes.ts';
import { createIncrementalSha256 } from '../store/sha256.ts';
import { joinPath, readCheckpointJson, type CheckpointFiles, type RandomAccessFile } from './checkpoint-files.ts';
import { prepareClip, prepareT5, prepareTransformer, prepareVae, type GraphJob } from './components.ts';
import { planConversion, type ConversionPlan, type PlannedComponent } from './conversion-plan.ts';
import { Float16GraphBuilder } from './float16-graph.ts';
import type { AccuracyLevel, AttentionKind, LayerContext } from './layers.ts';
import { ExternalDataWriter, GraphBuilder } from './onnx-builder.ts';
import { t5Override, transformerOverride, vaeOverride, type SourceFile } from './override-files.ts';
import { writeWholeFile, type PackageSink } from './package-sink.ts';
import { clipConstantBytes, t5ConstantBytes } from './size-estimate.ts';
import { packageTokenizerFiles } from './tokenizer-files.ts';
import { defaultAttentionHeadsPerGroup, innerDim, type TransformerConfig } from './transformer-graphs.ts';

/** What to convert and where to. */
export interface PackageConversion {
  /**
   * Files in the diffusers layout: `transformer/` and `vae/`, and optionally the text
   * encoders (`text_encoder/`, `text_encoder_2/`, `tokenizer/`, `tokenizer_2/`) together.
   * With an override, only that component's `config.json` is read from here.
   */
  checkpoint: CheckpointFiles;
  /** Replaces the transformer's weights: a BFL or diffusers safetensors file, or a GGUF (BFL names). */
  transformer?: SourceFile;
  /** Replaces the T5 encoder's weights: a GGUF (llama.cpp names) or a transformers safetensors file. */
  textEncoder2?: SourceFile;
  /** Replaces the VAE's weights: `ae.safetensors` (LDM names) or a diffusers safetensors file. */
  vae?: SourceFile;
  /**
   * Opens the package sink; called once every source has been checked (headers and
   * configs read, no tensor data yet), with the plan: what is still to read from each
   * source, the package's estimated size and what a device will need. A caller checks
   * the device and the storage quota here, before the first tensor byte.
   */
  openSink(plan: ConversionPlan): Promise<PackageSink>;
  /** Linear weight storage; default q4. */
  weights?: WeightPrecision;
  /** Largest data file in MiB (1–2047); default 1024. */
  maxShardMb?: number;
  /** Model id recorded in the manifest; default the checkpoint's name. */
  modelId?: string;
  /** Progress lines for a terminal. */
  log?: (line: string) => void;
  /** Called as each graph starts, and when it is written (or kept from an interrupted conversion). */
  onGraph?: (event: GraphProgress) => void;
  /** Graph choices that trade speed for accuracy (see `GraphOptions`); the defaults are in DEFAULTS. */
  graphOptions?: GraphOptions;
}

/** Where a conversion is, graph by graph. */
export interface GraphProgress {
  graph: string;
  /** 0-based position of the graph among `count`. */
  index: number;
  count: number;
  /** 'converting' as it starts; 'written' when its files are in the sink; 'kept' when an interrupted conversion had written it. */
  status: 'converting' | 'written' | 'kept';
}

/**
 * Graph-level choices measured by the GPU kit (tools/gpu-kit). Each default (DEFAULTS.graph)
 * is the variant that was numerically checked; the others are opt-in.
 */
export interface GraphOptions {
  /** MatMulNBits accuracy_level (0: float activations; 4: int8 activations, DP4A on WebGPU). */
  accuracyLevel?: AccuracyLevel;
  /** 'fused' MultiHeadAttention (flash attention on WebGPU) or 'explicit' MatMul/Softmax/MatMul. */
  attention?: AttentionKind;
  /** Activations of the transformer block shards: 'fp16' needs `shader-f16` (the manifest says so). */
  computePrecision?: 'fp32' | 'fp16';
}

/** Who made the package (the manifest's `createdBy`); part of what a resume must match. */
const CONVERTER = 'flux-webgpu convert 0.1.0';

/** Lower-case hex sha256 of `bytes`, and of each of its 8 MiB chunks (the manifest's integrity data). */
async function integrityOf(bytes: Uint8Array): Promise<Pick<PackageFile, 'sha256' | 'chunkSize' | 'chunkSha256'>> {
  const hash = await createIncrementalSha256();
  hash.update(bytes);
  const chunks = await createChunkSha256();
  chunks.update(bytes);
  return { sha256: hash.digestHex(), ...chunks.finish() };
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
export async function writeGraph(job: GraphJob, sink: PackageSink, precision: WeightPrecision, maxShardBytes: number, options: GraphOptions = {}): Promise<WrittenGraph> {
  const dataName = `${job.name}.onnx_data`;
  const writer = await ExternalDataWriter.create(dataName, await sink.create(dataName));
  // fp16 compute applies to the block shards only (the embedders' timestep features need float32).
  const computePrecision = options.computePrecision === 'fp16' && job.role === 'transformer-blocks' ? 'fp16' : 'fp32';
  const g = computePrecision === 'fp16' ? new Float16GraphBuilder(job.name, writer) : new GraphBuilder(job.name, writer);
  // Write what the previous tensor queued before reading the next one.
  const weights: LayerContext['weights'] = {
    async read(name, shape) {
      await writer.drain();
      return job.weights.read(name, shape);
    },
    blocks: job.weights.blocks && (async (name, shape) => {
      await writer.drain();
      return job.weights.blocks!(name, shape);
    }),
  };
  let data: Awaited<ReturnType<ExternalDataWriter['finish']>>;
  try {
    await job.build({ g, weights, precision, accuracyLevel: options.accuracyLevel ?? DEFAULTS.graph.accuracyLevel, attention: options.attention ?? DEFAULTS.graph.attention });
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
  const files: PackageFile[] = [{ path: modelFile, size: model.byteLength, ...(await integrityOf(model)) }];
  let dataFile: string | null = dataName;
  if (data.size === 0) {
    await sink.remove(dataName);
    dataFile = null;
  } else files.push({ path: dataFile, size: data.size, sha256: data.sha256, chunkSize: data.chunkSize, chunkSha256: data.chunkSha256 });
  return {
    entry: { name: job.name, role: job.role, model: modelFile, data: dataFile, ...g.signature(), weightPrecision: precision, computePrecision, weightBytes: g.weightBytes, uploadBytes: g.uploadBytes, ...(g.float16Nodes.length ? { float16Nodes: [...g.float16Nodes] } : {}), ...job.extra },
    files,
    uploadBytes: g.uploadBytes,
    largestUploadBytes: g.largestUploadBytes,
  };
}

/** What a conversion saves after each graph so that a failed one resumes (see `PackageSink.saveState`). */
interface ConversionState {
  /** Identifies the sources and options; a saved state with another key is discarded. */
  key: string;
  graphs: WrittenGraph[];
}

/** Files that note the fingerprint of every file opened or read through them. */
function recordingFiles(files: CheckpointFiles, opened: Map<string, Promise<string>>): CheckpointFiles {
  const note = (path: string) => {
    const label = files.labelOf(path);
    if (!opened.has(label)) opened.set(label, files.fingerprint(path));
  };
  return {
    ...files,
    labelOf: (path) => files.labelOf(path),
    exists: (path) => files.exists(path),
    isFolder: (path) => files.isFolder(path),
    fingerprint: (path) => files.fingerprint(path),
    async readText(path) {
      note(path);
      return files.readText(path);
    },
    async open(path): Promise<RandomAccessFile> {
      note(path);
      return files.open(path);
    },
  };
}

/** Whether a failure leaves work worth resuming (not a bad checkpoint, which would fail again). */
function worthResuming(error: unknown): boolean {
  return !(error instanceof CheckpointError);
}

/**
 * Converts a checkpoint into a web model package written through `openSink()`. When the
 * sink holds the saved state of an interrupted conversion of the same sources and
 * options, the graphs it finished are kept and the conversion resumes at the next one.
 * @returns the manifest committed as `manifest.json`
 * @throws CheckpointError naming the file and tensor for bad input (nothing is kept);
 *   other errors (downloads, a full disk) keep what was converted for a resume
 */
export async function convertToPackage(options: PackageConversion): Promise<Manifest> {
  const precision = options.weights ?? DEFAULTS.weights;
  const maxShardBytes = (options.maxShardMb ?? DEFAULTS.maxShardMb) * 2 ** 20;
  const log = options.log ?? (() => {});
  const fingerprints = new Map<string, Promise<string>>();
  const source = recordingFiles(options.checkpoint, fingerprints);
  const override = (file: SourceFile | undefined) => file && { files: recordingFiles(file.files, fingerprints), path: file.path };
  if (!(await source.isFolder(''))) throw new CheckpointError(`checkpoint folder ${source.labelOf('')} does not exist`, source.labelOf(''));

  const schedulerRel = joinPath('scheduler', 'scheduler_config.json');
  const schedulerPath = source.labelOf(schedulerRel);
  const schedulerConfig = (await source.exists(schedulerRel)) ? await readCheckpointJson(source, schedulerRel) : undefined;
  const scheduleProblem = schedulerConfig && scheduleConfigProblem(schedulerConfig);
  if (scheduleProblem) throw new CheckpointError(`${schedulerPath}: "${scheduleProblem.field}" ${scheduleProblem.why}`, schedulerPath, scheduleProblem.field);
  const textFolders = ['text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2'];
  const presentText: string[] = [];
  for (const folder of textFolders) if (await source.isFolder(folder)) presentText.push(folder);
  if (presentText.length > 0 && presentText.length < textFolders.length) {
    const missing = source.labelOf(textFolders.find((f) => !presentText.includes(f))!);
    throw new CheckpointError(`${missing} is missing: text encoders need ${textFolders.join(', ')} together`, missing);
  }
  if (options.textEncoder2 && presentText.length === 0) {
    const missing = source.labelOf('text_encoder_2');
    throw new CheckpointError(`${missing} is missing: --text-encoder-2 replaces the T5 weights, but its config.json, CLIP (text_encoder/) and the tokenizers come from the checkpoint`, missing);
  }

  // Open and check every component before writing anything.
  const opened: { close(): Promise<void> }[] = [];
  const open = async <T extends { close(): Promise<void> }>(component: Promise<T>): Promise<T> => {
    const c = await component;
    opened.push(c);
    return c;
  };
  try {
    const transformerFile = override(options.transformer);
    const vaeFile = override(options.vae);
    const t5File = override(options.textEncoder2);
    const transformer = await open(prepareTransformer(source, 'transformer', precision, maxShardBytes, transformerFile && transformerOverride(transformerFile)));
    const vae = await open(prepareVae(source, 'vae', precision, vaeFile && vaeOverride(vaeFile)));
    const clip = presentText.length ? await open(prepareClip(source, 'text_encoder', precision)) : undefined;
    // T5 sees 512 tokens in guidance-distilled models (FLUX.1 [dev]), 256 in [schnell].
    const family = familyOfTransformerConfig(transformer.config);
    const t5Tokens = FAMILY_DEFAULTS[family].t5Tokens;
    if (family === 'dev' && !schedulerConfig) log(`no ${schedulerPath}: using FLUX.1 [dev]'s published schedule (dynamic shifting)`);
    const t5 = presentText.length ? await open(prepareT5(source, 'text_encoder_2', precision, maxShardBytes, t5Tokens, t5File && t5Override(t5File))) : undefined;
    const jobs: GraphJob[] = [...(clip?.jobs ?? []), ...(t5?.jobs ?? []), ...transformer.jobs, ...vae.jobs];
    for (const component of [clip, t5, transformer, vae]) for (const note of component?.notes ?? []) log(note);

    const sources = await Promise.all([...fingerprints].sort(([a], [b]) => (a < b ? -1 : 1)).map(async ([label, print]) => [label, await print]));
    const key = JSON.stringify({ converter: CONVERTER, precision, maxShardBytes, modelId: options.modelId ?? source.name, sources, graphOptions: options.graphOptions ?? {} });
    const planned: PlannedComponent[] = [];
    if (clip) planned.push({ prepared: clip, constantBytes: clipConstantBytes(clip.config.max_position_embeddings) });
    if (t5) planned.push({ prepared: t5, constantBytes: t5ConstantBytes(t5Tokens), constantUploadBytes: 0 });
    planned.push({ prepared: transformer, constantBytes: 0 }, { prepared: vae, constantBytes: 0 });
    const activationAt1024 = activationBytesAt1024(transformer.config, t5Tokens);
    const plan = await planConversion(planned, precision, presentText.length ? options.checkpoint : undefined, activationAt1024);
    const sink = await options.openSink(plan);
    try {
      const saved = parseState(await sink.loadState());
      const done = new Map<string, WrittenGraph>();
      if (saved?.key === key) for (const graph of saved.graphs) done.set(graph.entry.name, graph);
      else if (saved) {
        log('an unfinished conversion of other sources or options was there: starting afresh');
        await sink.clear();
      }
      const state: ConversionState = { key, graphs: [] };
      const graphs: GraphEntry[] = [];
      const files: PackageFile[] = [];
      let uploadBytes = 0;
      let encoderUploadBytes = 0;
      let largestUpload = 0;
      log(`converting ${jobs.length} graphs (${precision} weights)${done.size ? `, resuming: ${done.size} already converted` : ''}`);
      for (const [index, job] of jobs.entries()) {
        const kept = done.get(job.name);
        if (!kept) options.onGraph?.({ graph: job.name, index, count: jobs.length, status: 'converting' });
        const written = kept ?? (await writeGraph(job, sink, precision, maxShardBytes, options.graphOptions));
        options.onGraph?.({ graph: job.name, index, count: jobs.length, status: kept ? 'kept' : 'written' });
        state.graphs.push(written);
        if (!kept) await sink.saveState(JSON.stringify(state));
        graphs.push(written.entry);
        files.push(...written.files);
        // The VAE encoder is loaded only for image-to-image: counted apart.
        if (job.role === 'vae-encoder') encoderUploadBytes += written.uploadBytes;
        else uploadBytes += written.uploadBytes;
        largestUpload = Math.max(largestUpload, written.largestUploadBytes);
        log(`  ${job.name}: ${(written.entry.weightBytes / 2 ** 20).toFixed(1)} MiB of weights${kept ? ' (kept from the interrupted conversion)' : ''}`);
      }
      let tokenizers: Manifest['tokenizers'];
      if (clip && t5) {
        const clipFiles = await packageTokenizerFiles(source, 'tokenizer', 'tokenizer', 'clip');
        const t5Files = await packageTokenizerFiles(source, 'tokenizer_2', 'tokenizer_2', 't5');
        for (const file of [...clipFiles, ...t5Files]) {
          await writeWholeFile(sink, file.path, file.bytes);
          files.push({ path: file.path, size: file.bytes.byteLength, ...(await integrityOf(file.bytes)) });
        }
        tokenizers = {
          clip: { tokenizerJson: clipFiles[0].path, tokenizerConfig: clipFiles[1].path, maxLength: clip.config.max_position_embeddings },
          t5: { tokenizerJson: t5Files[0].path, tokenizerConfig: t5Files[1].path, maxLength: t5Tokens },
        };
      }
      const transformerConfig = transformer.config;
      const vaeConfig = vae.config;

      const manifest: Manifest = {
        format: PACKAGE_FORMAT,
        formatVersion: PACKAGE_FORMAT_VERSION,
        modelId: options.modelId ?? source.name,
        weights: precision,
        createdBy: CONVERTER,
        configs: {
          transformer: transformerConfig as unknown as Record<string, unknown>,
          vae: vaeConfig as unknown as Record<string, unknown>,
          scheduler: schedulerConfig ?? (family === 'dev' ? { ...FAMILY_DEFAULTS.dev.scheduler } : undefined),
          text_encoder: clip?.config as unknown as Record<string, unknown> | undefined,
          text_encoder_2: t5?.config as unknown as Record<string, unknown> | undefined,
        },
        tokenizers,
        graphs,
        files,
        requirements: {
          totalWeightBytes: uploadBytes,
          ...(encoderUploadBytes ? { vaeEncoderWeightBytes: encoderUploadBytes } : {}),
          largestWeightBufferBytes: largestUpload,
          largestActivationBytesAt1024: activationAt1024,
          shaderF16: graphs.some((g) => g.computePrecision === 'fp16'),
        },
      };
      await sink.commit(new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`));
      return manifest;
    } catch (error) {
      await sink.abort(worthResuming(error));
      throw error;
    }
  } finally {
    for (const component of opened) await component.close();
  }
}

/** The saved state, or null when there is none or it cannot be read. */
function parseState(text: string | null): ConversionState | null {
  if (!text) return null;
  try {
    const state = JSON.parse(text) as ConversionState;
    return typeof state.key === 'string' && Array.isArray(state.graphs) ? state : null;
  } catch {
    return null;
  }
}
