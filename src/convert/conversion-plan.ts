/**
 * What a conversion will read and write, known once every source is open (headers read,
 * no tensor data yet): the bytes each source file still has to deliver, the package's
 * estimated size, and what a device will need to run it. The converter hands this plan
 * to `openSink`, so that a caller can check the device and the storage quota (and show
 * sizes) before the first tensor byte is fetched.
 */
import type { PackageRequirements, WeightPrecision } from '../package/manifest.ts';
import type { CheckpointFiles } from './checkpoint-files.ts';
import { sourceBlockBits, type PreparedComponent } from './components.ts';
import { storedRowBytes } from './mapped-source.ts';
import { estimateTensorBytes, estimateUploadBytes } from './size-estimate.ts';
import { tokenizerSourcePaths } from './tokenizer-files.ts';

/** Bytes of each graph's `.onnx` file beyond its weights, allowed for in `storedBytes` (names, shapes, small constants). */
const GRAPH_FILE_ALLOWANCE_BYTES = 256 * 1024;

/** The plan of one conversion (see the module comment). */
export interface ConversionPlan {
  /** The graphs it writes, in order. */
  graphs: string[];
  /**
   * Bytes still to read from each source file, by label (`hf:…` reference or path): the
   * tensor data its graphs read (each tensor once) and the small files read whole after
   * the graphs (tokenizers). Headers and configs were read before the plan.
   */
  reads: Record<string, number>;
  /** Sum of `reads`, in bytes. */
  readBytes: number;
  /** Estimated bytes of the package: weights (the converter's storage rule), graph files, tokenizer files. */
  storedBytes: number;
  /** Estimated weight bytes alone (what the graphs' `weightBytes` will add up to, within about 1 %). */
  weightBytes: number;
  /** What a device will need, as the manifest's `requirements` (the largest buffer exactly, the rest estimated). */
  requirements: PackageRequirements;
}

/** Bytes a tensor takes in its source file (safetensors dtype or GGML blocks). */
function sourceTensorBytes(dtype: string, shape: readonly number[]): number {
  return storedRowBytes(dtype, shape.reduce((a, b) => a * b, 1));
}

/** Adds `bytes` to `reads[label]`. */
function add(reads: Record<string, number>, label: string, bytes: number): void {
  reads[label] = (reads[label] ?? 0) + bytes;
}

/** A prepared component with what the plan needs of it. */
export interface PlannedComponent {
  prepared: PreparedComponent<unknown>;
  /** The one constant tensor its graphs add (the CLIP mask, the T5 buckets), in bytes. */
  constantBytes: number;
  /** Bytes of that constant on the GPU: 0 for T5's int64 buckets (onnxruntime keeps index tables on the CPU); default `constantBytes`. */
  constantUploadBytes?: number;
}

/**
 * The plan of a conversion from its prepared components.
 * @param components every component that will be converted
 * @param text the checkpoint and its tokenizer folders, when the package gets text encoders
 * @param largestActivationBytesAt1024 as the manifest will record it
 */
export async function planConversion(
  components: PlannedComponent[],
  precision: WeightPrecision,
  text: CheckpointFiles | undefined,
  largestActivationBytesAt1024: number,
): Promise<ConversionPlan> {
  const reads: Record<string, number> = {};
  let weightBytes = 0;
  let largestUpload = 0;
  let uploadBytes = 0;
  let encoderUploadBytes = 0;
  const graphs: string[] = [];
  for (const { prepared, constantBytes, constantUploadBytes = constantBytes } of components) {
    const { source, expected } = prepared;
    for (const [name] of expected) {
      const info = source.info(name);
      add(reads, info.file, sourceTensorBytes(info.dtype, info.shape));
    }
    const bits = sourceBlockBits(source);
    weightBytes += estimateTensorBytes(expected, precision, bits) + constantBytes;
    // The VAE encoder's weights are counted apart (the manifest's vaeEncoderWeightBytes): only image-to-image loads them.
    const hasEncoder = prepared.jobs.some((job) => job.role === 'vae-encoder');
    const encoderShapes = new Map([...expected].filter(([name]) => hasEncoder && name.startsWith('encoder.')));
    const upload = estimateUploadBytes(new Map([...expected].filter(([name]) => !encoderShapes.has(name))), precision, bits);
    const encoderUpload = estimateUploadBytes(encoderShapes, precision, bits);
    largestUpload = Math.max(largestUpload, upload.largest, encoderUpload.largest, constantUploadBytes);
    uploadBytes += upload.total + constantUploadBytes;
    encoderUploadBytes += encoderUpload.total;
    graphs.push(...prepared.jobs.map((job) => job.name));
  }
  let tokenizerBytes = 0;
  if (text) {
    for (const [dir, kind] of [['tokenizer', 'clip'], ['tokenizer_2', 't5']] as const) {
      for (const path of await tokenizerSourcePaths(text, dir, kind)) {
        const file = await text.open(path);
        add(reads, text.labelOf(path), file.size);
        tokenizerBytes += file.size;
        await file.close();
      }
    }
  }
  return {
    graphs,
    reads,
    readBytes: Object.values(reads).reduce((a, b) => a + b, 0),
    storedBytes: weightBytes + tokenizerBytes + graphs.length * GRAPH_FILE_ALLOWANCE_BYTES,
    weightBytes,
    requirements: {
      totalWeightBytes: uploadBytes,
      ...(encoderUploadBytes ? { vaeEncoderWeightBytes: encoderUploadBytes } : {}),
      largestWeightBufferBytes: largestUpload,
      largestActivationBytesAt1024,
      shaderF16: false,
    },
  };
}
