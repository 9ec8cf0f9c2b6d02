/**
 * Writes one component of a checkpoint in the diffusers layout (`config.json` plus
 * safetensors, single file or numbered shards with an index), streaming one tensor at a
 * time. Used to make test checkpoints, the bench's full-width checkpoint and demo models.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { float32ToFloat16Bytes } from '../src/formats/float16.ts';

/** Element types a checkpoint can be written in. */
export type CheckpointDtype = 'F32' | 'F16' | 'BF16';

/** Options of `writeCheckpointComponent`. */
export interface CheckpointWriteOptions {
  dtype?: CheckpointDtype;
  /** Split into numbered shards of at most this many bytes (plus an index); default: one file. */
  maxShardBytes?: number;
  /** File stem; diffusers components use `diffusion_pytorch_model`, text encoders `model`. */
  baseName?: string;
}

const BYTES: Record<CheckpointDtype, number> = { F32: 4, F16: 2, BF16: 2 };

function encode(values: Float32Array, dtype: CheckpointDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (dtype === 'F16') return float32ToFloat16Bytes(values);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const b = bits[i];
    out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16; // round to nearest even
  }
  return new Uint8Array(out.buffer);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

/**
 * Writes `dir/config.json` and the tensors.
 * @param tensors names and shapes, in the order they are written
 * @param values produces each tensor's float32 values when it is written (called once per tensor)
 * @returns the paths of the safetensors files written and their total tensor bytes
 */
export function writeCheckpointComponent(
  dir: string,
  config: Record<string, unknown>,
  tensors: Iterable<[string, number[]]>,
  values: (name: string, shape: number[]) => Float32Array,
  options: CheckpointWriteOptions = {},
): { files: string[]; totalBytes: number } {
  const dtype = options.dtype ?? 'F32';
  const baseName = options.baseName ?? 'diffusion_pytorch_model';
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);

  const shards: [string, number[]][][] = [[]];
  let shardBytes = 0;
  let totalBytes = 0;
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
    if (options.maxShardBytes && shardBytes > 0 && shardBytes + bytes > options.maxShardBytes) {
      shards.push([]);
      shardBytes = 0;
    }
    shards[shards.length - 1].push([name, shape]);
    shardBytes += bytes;
    totalBytes += bytes;
  }
  const sharded = Boolean(options.maxShardBytes) && shards.length > 1;
  const fileName = (i: number) =>
    sharded ? `${baseName}-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors` : `${baseName}.safetensors`;
  const weightMap: Record<string, string> = {};
  const files: string[] = [];
  shards.forEach((shard, i) => {
    let offset = 0;
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    for (const [name, shape] of shard) {
      const bytes = shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
      header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
      weightMap[name] = fileName(i);
    }
    let text = JSON.stringify(header);
    text += ' '.repeat((8 - (new TextEncoder().encode(text).length % 8)) % 8);
    const headerBytes = new TextEncoder().encode(text);
    const path = join(dir, fileName(i));
    const fd = openSync(path, 'w');
    try {
      const length = new Uint8Array(8);
      new DataView(length.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
      writeAll(fd, length);
      writeAll(fd, headerBytes);
      for (const [name, shape] of shard) {
        const data = values(name, shape);
        if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`${name}: ${data.length} values for shape [${shape}]`);
        writeAll(fd, encode(data, dtype));
      }
    } finally {
      closeSync(fd);
    }
    files.push(path);
  });
  if (sharded) {
    writeFileSync(join(dir, `${baseName}.safetensors.index.json`), `${JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2)}\n`);
  }
  return { files, totalBytes };
}

/**
 * Deterministic random initial weights, the way an untrained model looks: matrices and
 * convolutions N(0, 1/fan_in), biases small, norm scales 1 (names containing "norm").
 * @param seed any 32-bit integer
 */
export function randomWeights(seed: number): (name: string, shape: number[]) => Float32Array {
  let state = seed >>> 0 || 1;
  const uniform = () => {
    // xorshift32: fast, deterministic, good enough for random weights
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return (state + 0.5) / 4294967296;
  };
  return (name, shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    const isNorm = /norm/.test(name) && shape.length === 1;
    if (isNorm && name.endsWith('.weight')) return out.fill(1);
    const fanIn = shape.length > 1 ? n / shape[0] : shape[0];
    const scale = (shape.length > 1 ? 1 : 0.1) * Math.sqrt(3 / fanIn);
    for (let i = 0; i < n; i++) out[i] = (2 * uniform() - 1) * scale;
    return out;
  };
}
