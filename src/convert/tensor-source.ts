/**
 * A source of named tensors for the graph builders: a safetensors checkpoint folder, a
 * GGUF file, or a view that renames another source (the original BFL layout). Every
 * source lists names, shapes and dtypes from headers alone and reads one tensor at a
 * time, so memory stays near the largest tensor.
 */

/** What a source knows about one tensor without reading it. */
export interface TensorInfo {
  /** The stored element type as the file names it (`F32`, `BF16`, `Q4_0`, …). */
  dtype: string;
  /** torch order: outermost first (`[out, in]` for a Linear weight). */
  shape: number[];
  /** How messages name the file that holds it (absolute path or `hf:` reference). */
  file: string;
  /** Its name in that file when a view renames it (BFL, llama.cpp names), for messages. */
  sourceName?: string;
}

/** Named tensors; call close() when done. */
export interface TensorSource {
  /** All tensor names, sorted. */
  names(): string[];
  /** Whether a tensor of that name exists. */
  has(name: string): boolean;
  /** dtype, shape and file of a tensor. @throws CheckpointError naming it if absent */
  info(name: string): TensorInfo;
  /** The tensor as float32 values, row-major in `info(name).shape`. */
  readFloat32(name: string): Promise<Float32Array>;
  /** The tensor's stored bytes as they are (little-endian elements, or GGML blocks), row-major. */
  readRaw(name: string): Promise<Uint8Array>;
  /** Releases the files. Reads after close() fail. */
  close(): Promise<void>;
}
