/**
 * The web model package's `manifest.json`: what the converter writes and what the
 * browser and the Node CLI read before touching any other file. No Node imports.
 */
import { ModelPackageError } from '../errors.ts';

/** Identifies the manifest format; bump `PACKAGE_FORMAT_VERSION` on breaking changes. */
export const PACKAGE_FORMAT = 'flux-webgpu-package';
export const PACKAGE_FORMAT_VERSION = 1;

/** How linear weights are stored. Activations are computed in float32 for all of them. */
export type WeightPrecision = 'fp32' | 'fp16' | 'q8' | 'q4';
export const WEIGHT_PRECISIONS: readonly WeightPrecision[] = ['fp32', 'fp16', 'q8', 'q4'];

/** Element types of graph inputs/outputs, as onnxruntime names them. */
export type TensorElementType = 'float32' | 'float16' | 'uint8' | 'int32' | 'int64';

/** One graph input or output; string dims are symbolic (e.g. "img_tokens"). */
export interface TensorSignature {
  name: string;
  type: TensorElementType;
  dims: (number | string)[];
}

/** Which part of the pipeline a graph belongs to and what it does there. */
export type GraphRole =
  | 'transformer-embed'
  | 'transformer-blocks'
  | 'transformer-head'
  | 'vae-decoder'
  | 'vae-encoder'
  | 'text-encoder-clip'
  | 'text-encoder-t5-embed'
  | 'text-encoder-t5-blocks';

/** One ONNX graph of the package. */
export interface GraphEntry {
  /** Unique graph name, also the stem of its files. */
  name: string;
  role: GraphRole;
  /** Path of the `.onnx` file relative to the package root. */
  model: string;
  /** Path of the `.onnx_data` file, or null when every weight is inline. */
  data: string | null;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  /** How this graph's linear weights are stored. */
  weightPrecision: WeightPrecision;
  /** The element type the graph computes in. */
  computePrecision: 'fp32' | 'fp16';
  /** Bytes of weights as stored in the package. */
  weightBytes: number;
  /** Bytes of weights once uploaded to the GPU (float16 tables become float32); absent in older packages. */
  uploadBytes?: number;
  /** For transformer block shards: the half-open ranges of double and single blocks. */
  blocks?: { double: [number, number]; single: [number, number] };
  /** For T5 block shards: the half-open range of encoder layers. */
  layers?: [number, number];
  /**
   * Nodes that read float16 data at run time (embedding lookups from a float16 table).
   * onnxruntime's WebGPU kernels need `shader-f16` for them, so on GPUs without it the
   * engine runs these few nodes on onnxruntime's CPU kernels. Absent when there are none.
   */
  float16Nodes?: string[];
}

/** Where a tokenizer's files are in the package and how long its sequences are. */
export interface TokenizerEntry {
  /** Package path of tokenizer.json. */
  tokenizerJson: string;
  /** Package path of tokenizer_config.json. */
  tokenizerConfig: string;
  /** Padded/truncated length in tokens (CLIP 77, T5 256). */
  maxLength: number;
}

/** One file of the package with its integrity data. */
export interface PackageFile {
  path: string;
  /** Size in bytes. */
  size: number;
  /** Lower-case hex sha256 of the whole file. */
  sha256: string;
  /**
   * Bytes per hashed chunk (8 MiB from the converter). With `chunkSha256`, the weight
   * store verifies each chunk as it arrives; absent in packages from older converters
   * (then the whole file is hashed).
   */
  chunkSize?: number;
  /** Lower-case hex sha256 of each `chunkSize`-byte chunk in order (the last may be short): ceil(size / chunkSize) entries. */
  chunkSha256?: string[];
}

/** Smallest and largest `chunkSize` a manifest may give (64 KiB – 256 MiB). */
export const CHUNK_SIZE_RANGE = { min: 64 * 1024, max: 256 * 1024 * 1024 } as const;

/**
 * Checks a file entry's chunk hashes, when it has them.
 * @returns what is wrong, or undefined
 */
export function chunkHashProblem(file: PackageFile): string | undefined {
  const { chunkSize, chunkSha256 } = file;
  if (chunkSize === undefined && chunkSha256 === undefined) return undefined;
  if (!Number.isInteger(chunkSize) || chunkSize! < CHUNK_SIZE_RANGE.min || chunkSize! > CHUNK_SIZE_RANGE.max) {
    return `"chunkSize" must be an integer from ${CHUNK_SIZE_RANGE.min} to ${CHUNK_SIZE_RANGE.max} (got ${JSON.stringify(chunkSize)})`;
  }
  const count = Math.ceil(file.size / chunkSize!);
  if (!Array.isArray(chunkSha256) || chunkSha256.length !== count) {
    return `"chunkSha256" must list ${count} hashes (one per ${chunkSize}-byte chunk of ${file.size} bytes; got ${Array.isArray(chunkSha256) ? chunkSha256.length : JSON.stringify(chunkSha256)})`;
  }
  const bad = chunkSha256.findIndex((hash) => typeof hash !== 'string' || !/^[0-9a-f]{64}$/i.test(hash));
  return bad >= 0 ? `"chunkSha256"[${bad}] must be 64 hex characters` : undefined;
}

/** What a device needs to run the package (checked before anything is downloaded). */
export interface PackageRequirements {
  /** Sum of all weight bytes once uploaded (float16 weights counted as the float32 they are cast to), without the VAE encoder. */
  totalWeightBytes: number;
  /** Weight bytes of the VAE encoder once uploaded: loaded only for image-to-image (absent without an encoder). */
  vaeEncoderWeightBytes?: number;
  /** Largest single weight buffer once uploaded, in bytes. */
  largestWeightBufferBytes: number;
  /**
   * Largest single activation buffer of the transformer per 1024×1024 of image, in bytes
   * (scaled by the pixel count it bounds every web size; the VAE decodes in tiles that fit).
   */
  largestActivationBytesAt1024: number;
  /** Whether any graph computes in float16 (needs the WebGPU `shader-f16` feature). */
  shaderF16: boolean;
}

/** The whole manifest. */
export interface Manifest {
  format: typeof PACKAGE_FORMAT;
  formatVersion: number;
  /** e.g. "black-forest-labs/FLUX.1-schnell" or the checkpoint folder's name. */
  modelId: string;
  weights: WeightPrecision;
  createdBy: string;
  /** The diffusers configs the package was converted from, by component. */
  configs: {
    transformer: Record<string, unknown>;
    vae: Record<string, unknown>;
    scheduler?: Record<string, unknown>;
    text_encoder?: Record<string, unknown>;
    text_encoder_2?: Record<string, unknown>;
  };
  /** Present when the package has text encoders (then prompts can be given as text). */
  tokenizers?: { clip: TokenizerEntry; t5: TokenizerEntry };
  graphs: GraphEntry[];
  files: PackageFile[];
  requirements: PackageRequirements;
}

/**
 * Checks that `value` (parsed JSON) is a manifest this code can use and returns it typed.
 * @throws ModelPackageError naming the first field that is wrong.
 */
export function parseManifest(value: unknown, source = 'manifest.json'): Manifest {
  const fail = (what: string): never => {
    throw new ModelPackageError(`${source}: ${what}`, source);
  };
  if (!value || typeof value !== 'object') fail('not a JSON object');
  const m = value as Partial<Manifest>;
  if (m.format !== PACKAGE_FORMAT) fail(`"format" must be "${PACKAGE_FORMAT}" (got ${JSON.stringify(m.format)})`);
  if (m.formatVersion !== PACKAGE_FORMAT_VERSION) {
    fail(`"formatVersion" ${m.formatVersion} is not supported (this code reads version ${PACKAGE_FORMAT_VERSION})`);
  }
  if (!WEIGHT_PRECISIONS.includes(m.weights as WeightPrecision)) fail(`"weights" must be one of ${WEIGHT_PRECISIONS.join(', ')}`);
  if (!Array.isArray(m.graphs) || m.graphs.length === 0) fail('"graphs" must be a non-empty list');
  if (!Array.isArray(m.files)) fail('"files" must be a list');
  if (!m.configs?.transformer || !m.configs?.vae) fail('"configs" must hold the transformer and vae configs');
  if (!m.requirements) fail('"requirements" is missing');
  for (const file of m.files!) {
    const problem = chunkHashProblem(file);
    if (problem) fail(`file ${file.path}: ${problem}`);
  }
  const files = new Set(m.files!.map((f) => f.path));
  for (const graph of m.graphs!) {
    if (!files.has(graph.model)) fail(`graph ${graph.name}: model file ${graph.model} is not listed in "files"`);
    if (graph.data && !files.has(graph.data)) fail(`graph ${graph.name}: data file ${graph.data} is not listed in "files"`);
    if (graph.float16Nodes !== undefined && !(Array.isArray(graph.float16Nodes) && graph.float16Nodes.every((n) => typeof n === 'string'))) {
      fail(`graph ${graph.name}: "float16Nodes" must be a list of node names`);
    }
  }
  for (const role of ['transformer-embed', 'transformer-blocks', 'transformer-head', 'vae-decoder'] as const) {
    if (!m.graphs!.some((g) => g.role === role)) fail(`no graph with role "${role}"`);
  }
  const textRoles = ['text-encoder-clip', 'text-encoder-t5-embed', 'text-encoder-t5-blocks'] as const;
  const present = textRoles.filter((role) => m.graphs!.some((g) => g.role === role));
  if (present.length > 0 && (present.length !== textRoles.length || !m.tokenizers)) {
    fail(`text encoders need all of ${textRoles.join(', ')} and "tokenizers" (found ${present.join(', ')})`);
  }
  if (m.tokenizers) {
    for (const entry of [m.tokenizers.clip, m.tokenizers.t5]) {
      for (const path of [entry?.tokenizerJson, entry?.tokenizerConfig]) if (!path || !files.has(path)) fail(`tokenizer file ${path} is not listed in "files"`);
    }
  }
  return m as Manifest;
}

/** Whether the package can encode text prompts itself (else it needs prompt embeddings). */
export function hasTextEncoders(manifest: Manifest): boolean {
  return Boolean(manifest.tokenizers);
}

/** The T5 block shards in layer order. */
export function t5Shards(manifest: Manifest): GraphEntry[] {
  return manifest.graphs.filter((g) => g.role === 'text-encoder-t5-blocks').sort((a, b) => (a.layers?.[0] ?? 0) - (b.layers?.[0] ?? 0));
}

/** The transformer block shards in execution order (double blocks first). */
export function blockShards(manifest: Manifest): GraphEntry[] {
  return manifest.graphs
    .filter((g) => g.role === 'transformer-blocks')
    .sort((a, b) => shardOrder(a) - shardOrder(b));
}

function shardOrder(g: GraphEntry): number {
  const blocks = g.blocks ?? { double: [0, 0], single: [0, 0] };
  return blocks.double[1] > blocks.double[0] ? blocks.double[0] : 1e6 + blocks.single[0];
}

/** Whether the package has the VAE encoder (image-to-image needs it). */
export function hasVaeEncoder(manifest: Manifest): boolean {
  return manifest.graphs.some((g) => g.role === 'vae-encoder');
}

/** The one graph with `role` (embed, head, vae-decoder). */
export function graphByRole(manifest: Manifest, role: GraphRole): GraphEntry {
  const graph = manifest.graphs.find((g) => g.role === role);
  if (!graph) throw new ModelPackageError(`manifest has no graph with role "${role}"`);
  return graph;
}
