/**
 * Streaming reader of a safetensors checkpoint folder, over any `CheckpointFiles` (a
 * local folder, a Hub repository).
 *
 * Opens `${baseName}.safetensors.index.json` and the shards its `weight_map` names, or
 * else the single `${baseName}.safetensors`, reading only each file's header. Tensor
 * data is read on demand, one tensor at a time, so a 24 GB checkpoint never has to fit
 * in memory.
 */

import { CheckpointError } from '../errors.ts';
import {
  MAX_HEADER_BYTES,
  decodeTensorBytes,
  parseSafetensorsHeader,
  readHeaderLength,
  type SafetensorsDtype,
  type SafetensorsHeader,
} from '../formats/safetensors.ts';
import { joinPath, type CheckpointFiles, type RandomAccessFile } from './checkpoint-files.ts';
import type { TensorInfo, TensorSource } from './tensor-source.ts';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Where one tensor lives. */
export interface CheckpointTensorInfo extends TensorInfo {
  dtype: SafetensorsDtype;
}

/** An open safetensors checkpoint; call close() when done. */
export interface Checkpoint extends TensorSource {
  /** Labels (absolute paths or `hf:` references) of the opened .safetensors files. */
  readonly files: readonly string[];
  /** `__metadata__` of every file, by label (files without one are absent). */
  readonly metadata: ReadonlyMap<string, Record<string, string>>;
  /** dtype, shape and file of a tensor; throws CheckpointError naming it if absent. */
  info(name: string): CheckpointTensorInfo;
  /** The tensor's raw little-endian bytes. */
  readBytes(name: string): Promise<Uint8Array>;
  /** The tensor as float32 (F32 as is, F16/BF16 converted exactly); other dtypes throw. */
  readFloat32(name: string): Promise<Float32Array>;
}

interface TensorLocation extends CheckpointTensorInfo {
  begin: number;
  end: number;
}

/** Opens one .safetensors file and parses its header only. */
async function openSafetensorsPart(files: CheckpointFiles, relPath: string, namedBy?: string): Promise<{ file: RandomAccessFile; header: SafetensorsHeader }> {
  const path = files.labelOf(relPath);
  if (!(await files.exists(relPath))) throw new CheckpointError(`safetensors file ${path}${namedBy ? ` named in ${namedBy}` : ''} is missing`, path);
  let file: RandomAccessFile;
  try {
    file = await files.open(relPath);
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(`safetensors file ${path}${namedBy ? ` named in ${namedBy}` : ''} cannot be opened (${(error as Error).message})`, path);
  }
  try {
    const size = file.size;
    if (size < 8) throw new CheckpointError(`${path} is truncated: ${size} bytes, fewer than the 8-byte header length`, path);
    const lengthBytes = await file.read(0, 8);
    let headerLength: number;
    try {
      headerLength = readHeaderLength(lengthBytes);
    } catch (error) {
      throw new CheckpointError(`${path}: ${(error as Error).message}`, path);
    }
    if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
      throw new CheckpointError(`${path} is truncated: header declares ${headerLength} bytes but the file has ${size} bytes`, path);
    }
    const prefix = new Uint8Array(8 + headerLength);
    prefix.set(lengthBytes, 0);
    prefix.set(await file.read(8, headerLength), 8);
    let header: SafetensorsHeader;
    try {
      header = parseSafetensorsHeader(prefix, { fileSize: size });
    } catch (error) {
      const message = (error as Error).message;
      const tensor = /tensor "([^"]*)"/.exec(message)?.[1];
      throw new CheckpointError(`${path}: ${message}`, path, tensor);
    }
    return { file, header };
  } catch (error) {
    await file.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Opens a checkpoint folder, reading only headers.
 * @param files the checkpoint's files
 * @param dir the folder inside it, e.g. `transformer` (`''` for the root)
 * @param baseName file stem: 'diffusion_pytorch_model' (diffusers, the default) or
 *   'model' (transformers); `${baseName}.safetensors.index.json` is preferred when present.
 * @returns the open checkpoint (close it when done).
 * @throws CheckpointError naming the file (and tensor) when the index or a shard is
 *   missing, an index entry is not in its shard, a file is truncated or corrupt, or a
 *   dtype is unsupported.
 */
export async function openSafetensorsCheckpoint(files: CheckpointFiles, dir: string, baseName = 'diffusion_pytorch_model'): Promise<Checkpoint> {
  return openParts(files, dir, `${baseName}.safetensors.index.json`, `${baseName}.safetensors`);
}

/**
 * Opens one safetensors file (any name, e.g. `flux1-schnell.safetensors` or `ae.sft`),
 * reading only its header.
 * @param path the file's path in `files`
 * @throws CheckpointError naming the file when it is missing, truncated or corrupt
 */
export async function openSafetensorsFile(files: CheckpointFiles, path: string): Promise<Checkpoint> {
  const slash = path.lastIndexOf('/');
  return openParts(files, path.slice(0, Math.max(0, slash)), null, path.slice(slash + 1));
}

/** Opens `dir/indexName` and the shards it names when it exists (and `indexName` is set), else `dir/singleName`. */
async function openParts(files: CheckpointFiles, dir: string, indexName: string | null, singleName: string): Promise<Checkpoint> {
  const indexRel = joinPath(dir, indexName ?? '');
  const singleRel = joinPath(dir, singleName);
  const indexPath = files.labelOf(indexRel);
  const singlePath = files.labelOf(singleRel);
  const dirLabel = files.labelOf(dir);
  const opened: RandomAccessFile[] = [];
  const tensors = new Map<string, TensorLocation>();
  const metadata = new Map<string, Record<string, string>>();
  const closeAll = async (): Promise<void> => {
    await Promise.all(opened.map((f) => f.close().catch(() => undefined)));
  };

  const addFile = async (relPath: string, namedBy?: string): Promise<Record<string, TensorLocation>> => {
    const { file, header } = await openSafetensorsPart(files, relPath, namedBy);
    opened.push(file);
    if (header.metadata) metadata.set(file.label, header.metadata);
    const out: Record<string, TensorLocation> = {};
    for (const [name, entry] of Object.entries(header.tensors)) {
      out[name] = { dtype: entry.dtype, shape: entry.shape, file: file.label, begin: entry.begin, end: entry.end };
    }
    return out;
  };

  try {
    if (indexName !== null && (await files.exists(indexRel))) {
      let index: unknown;
      try {
        index = JSON.parse(await files.readText(indexRel));
      } catch (error) {
        throw new CheckpointError(`${indexPath} is not valid JSON: ${(error as Error).message}`, indexPath);
      }
      const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
      if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
        throw new CheckpointError(`${indexPath} has no "weight_map" object`, indexPath);
      }
      const byShard = new Map<string, string[]>();
      for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
        if (typeof shard !== 'string' || shard === '' || shard.includes('/') || shard.includes('\\') || shard === '..') {
          throw new CheckpointError(`${indexPath}: weight_map entry for "${name}" is not a file name: ${JSON.stringify(shard)}`, indexPath, name);
        }
        const list = byShard.get(shard) ?? [];
        list.push(name);
        byShard.set(shard, list);
      }
      if (byShard.size === 0) throw new CheckpointError(`${indexPath}: weight_map is empty`, indexPath);
      for (const [shard, names] of byShard) {
        const shardRel = joinPath(dir, shard);
        const shardPath = files.labelOf(shardRel);
        const inShard = await addFile(shardRel, indexPath);
        for (const name of names) {
          const location = inShard[name];
          if (!location) {
            throw new CheckpointError(
              `tensor "${name}" is mapped to ${shardPath} by ${indexPath} but that shard does not contain it`,
              shardPath,
              name,
            );
          }
          tensors.set(name, location);
        }
        // Tensors a shard holds that the index does not list are still loadable (as
        // diffusers loads whole shards), unless the index places them elsewhere.
        for (const [name, location] of Object.entries(inShard)) {
          if (!(name in (weightMap as Record<string, unknown>)) && !tensors.has(name)) tensors.set(name, location);
        }
      }
    } else if (await files.exists(singleRel)) {
      for (const [name, location] of Object.entries(await addFile(singleRel))) tensors.set(name, location);
    } else if (indexName === null) {
      throw new CheckpointError(`${singlePath} is missing`, singlePath);
    } else {
      throw new CheckpointError(`no checkpoint in ${dirLabel}: neither ${singlePath} nor ${indexPath} exists`, singlePath);
    }
  } catch (error) {
    await closeAll();
    throw error;
  }

  const byLabel = new Map(opened.map((f) => [f.label, f]));
  let closed = false;

  const locate = (name: string): TensorLocation => {
    const location = tensors.get(name);
    if (!location) throw new CheckpointError(`tensor "${name}" is not in the checkpoint in ${dirLabel}`, undefined, name);
    return location;
  };

  const readBytes = async (name: string): Promise<Uint8Array> => {
    const location = locate(name);
    if (closed) throw new CheckpointError(`cannot read tensor "${name}": the checkpoint was closed`, location.file, name);
    return byLabel.get(location.file)!.read(location.begin, location.end - location.begin, name);
  };

  return {
    files: opened.map((f) => f.label),
    metadata,
    names: () => [...tensors.keys()].sort(),
    has: (name) => tensors.has(name),
    info: (name) => {
      const { dtype, shape, file } = locate(name);
      return { dtype, shape: [...shape], file };
    },
    readBytes,
    readRaw: readBytes,
    readFloat32: async (name) => {
      const location = locate(name);
      if (location.dtype !== 'F32' && location.dtype !== 'F16' && location.dtype !== 'BF16') {
        throw new CheckpointError(
          `tensor "${name}" in ${location.file} has dtype ${location.dtype}; only F32, F16 and BF16 convert to float32`,
          location.file,
          name,
        );
      }
      const bytes = await readBytes(name);
      // A fresh buffer: aligned F32 can be viewed in place instead of copied again.
      if (location.dtype === 'F32' && LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
      return decodeTensorBytes(location.dtype, bytes) as Float32Array;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await closeAll();
    },
  };
}
