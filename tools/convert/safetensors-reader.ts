/**
 * Streaming reader of a safetensors checkpoint directory (Node only).
 *
 * Opens `${baseName}.safetensors.index.json` and the shards its `weight_map` names, or
 * else the single `${baseName}.safetensors`, reading only each file's header. Tensor
 * data is read on demand with positioned reads, one tensor at a time, so a 24 GB
 * checkpoint never has to fit in memory.
 */

import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from '../../src/errors.ts';
import {
  MAX_HEADER_BYTES,
  decodeTensorBytes,
  parseSafetensorsHeader,
  readHeaderLength,
  type SafetensorsDtype,
  type SafetensorsHeader,
} from '../../src/formats/safetensors.ts';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Where one tensor lives. */
export interface CheckpointTensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute path of the file that holds it. */
  file: string;
}

/** An open checkpoint; call close() when done. */
export interface Checkpoint {
  /** Absolute paths of the opened .safetensors files. */
  readonly files: readonly string[];
  /** `__metadata__` of every file, by path (files without one are absent). */
  readonly metadata: ReadonlyMap<string, Record<string, string>>;
  /** All tensor names, sorted. */
  names(): string[];
  /** Whether a tensor of that name exists. */
  has(name: string): boolean;
  /** dtype, shape and file of a tensor; throws CheckpointError naming it if absent. */
  info(name: string): CheckpointTensorInfo;
  /** The tensor's raw little-endian bytes, read with positioned reads. */
  readBytes(name: string): Promise<Uint8Array>;
  /** The tensor as float32 (F32 as is, F16/BF16 converted exactly); other dtypes throw. */
  readFloat32(name: string): Promise<Float32Array>;
  /** Closes every file handle. Reads after close() fail. */
  close(): Promise<void>;
}

interface TensorLocation extends CheckpointTensorInfo {
  begin: number;
  end: number;
}

interface OpenFile {
  path: string;
  handle: FileHandle;
  size: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads exactly `length` bytes at `position`, or throws naming the file as truncated. */
async function readExactly(file: OpenFile, position: number, length: number, tensor?: string): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new CheckpointError(
        `${file.path} is truncated: wanted bytes ${position}..${position + length}${tensor ? ` of tensor "${tensor}"` : ''} but the file ends at ${position + done}`,
        file.path,
        tensor,
      );
    }
    done += bytesRead;
  }
  return buffer;
}

/** Opens one .safetensors file and parses its header only. */
async function openSafetensorsFile(path: string, namedBy?: string): Promise<{ file: OpenFile; header: SafetensorsHeader }> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'is missing' : `cannot be opened (${code ?? (error as Error).message})`;
    throw new CheckpointError(`safetensors file ${path}${namedBy ? ` named in ${namedBy}` : ''} ${why}`, path);
  }
  try {
    const size = (await handle.stat()).size;
    const file: OpenFile = { path, handle, size };
    if (size < 8) throw new CheckpointError(`${path} is truncated: ${size} bytes, fewer than the 8-byte header length`, path);
    const lengthBytes = await readExactly(file, 0, 8);
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
    prefix.set(await readExactly(file, 8, headerLength), 8);
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
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Opens a checkpoint directory, reading only headers.
 * @param dir the directory, e.g. `.../FLUX.1-schnell/transformer`.
 * @param baseName file stem: 'diffusion_pytorch_model' (diffusers, the default) or
 *   'model' (transformers); `${baseName}.safetensors.index.json` is preferred when present.
 * @returns the open checkpoint (close it when done).
 * @throws CheckpointError naming the file (and tensor) when the index or a shard is
 *   missing, an index entry is not in its shard, a file is truncated or corrupt, or a
 *   dtype is unsupported.
 */
export async function openCheckpointDir(dir: string, baseName = 'diffusion_pytorch_model'): Promise<Checkpoint> {
  const indexPath = join(dir, `${baseName}.safetensors.index.json`);
  const singlePath = join(dir, `${baseName}.safetensors`);
  const opened: OpenFile[] = [];
  const tensors = new Map<string, TensorLocation>();
  const metadata = new Map<string, Record<string, string>>();
  const closeAll = async (): Promise<void> => {
    await Promise.all(opened.map((f) => f.handle.close().catch(() => undefined)));
  };

  const addFile = async (path: string, namedBy?: string): Promise<Record<string, TensorLocation>> => {
    const { file, header } = await openSafetensorsFile(path, namedBy);
    opened.push(file);
    if (header.metadata) metadata.set(path, header.metadata);
    const out: Record<string, TensorLocation> = {};
    for (const [name, entry] of Object.entries(header.tensors)) {
      out[name] = { dtype: entry.dtype, shape: entry.shape, file: path, begin: entry.begin, end: entry.end };
    }
    return out;
  };

  try {
    if (await exists(indexPath)) {
      let index: unknown;
      try {
        index = JSON.parse(await readFile(indexPath, 'utf8'));
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
        const shardPath = join(dir, shard);
        const inShard = await addFile(shardPath, indexPath);
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
    } else if (await exists(singlePath)) {
      for (const [name, location] of Object.entries(await addFile(singlePath))) tensors.set(name, location);
    } else {
      throw new CheckpointError(`no checkpoint in ${dir}: neither ${singlePath} nor ${indexPath} exists`, singlePath);
    }
  } catch (error) {
    await closeAll();
    throw error;
  }

  const byPath = new Map(opened.map((f) => [f.path, f]));
  let closed = false;

  const locate = (name: string): TensorLocation => {
    const location = tensors.get(name);
    if (!location) throw new CheckpointError(`tensor "${name}" is not in the checkpoint in ${dir}`, undefined, name);
    return location;
  };

  const readBytes = async (name: string): Promise<Uint8Array> => {
    const location = locate(name);
    if (closed) throw new CheckpointError(`cannot read tensor "${name}": the checkpoint was closed`, location.file, name);
    return readExactly(byPath.get(location.file)!, location.begin, location.end - location.begin, name);
  };

  return {
    files: opened.map((f) => f.path),
    metadata,
    names: () => [...tensors.keys()].sort(),
    has: (name) => tensors.has(name),
    info: (name) => {
      const { dtype, shape, file } = locate(name);
      return { dtype, shape: [...shape], file };
    },
    readBytes,
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
      // A fresh, aligned buffer: F32 can be viewed in place instead of copied again.
      if (location.dtype === 'F32' && LITTLE_ENDIAN) return new Float32Array(bytes.buffer, 0, bytes.length / 4);
      return decodeTensorBytes(location.dtype, bytes) as Float32Array;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await closeAll();
    },
  };
}
