/**
 * A tensor source seen under other names: each target tensor is a source tensor, or
 * a selection of its rows (first dimension) in a given order, optionally with another
 * shape of the same size. This is how fused or reordered layouts (BFL's `qkv` and
 * `linear1`, the shift/scale swap of `final_layer.adaLN_modulation`, 1×1 convolutions
 * used as linears) present the diffusers names the graph builders read. Row selections
 * work on float32 values and on stored bytes alike (GGML blocks never cross rows), so
 * Q4_0 / Q8_0 rows stay exact.
 */
import { CheckpointError } from '../errors.ts';
import { DTYPE_SIZES } from '../formats/safetensors.ts';
import { ggmlByteSize, isReadableGgmlType } from './ggml-blocks.ts';
import type { TensorInfo, TensorSource } from './tensor-source.ts';

/** Where one target tensor comes from. */
export interface TensorMapping {
  /** The source tensor's name. */
  source: string;
  /** Half-open row ranges of the source, concatenated in this order (default: all rows). */
  rows?: [number, number][];
  /** The target's shape when it differs from the rows' (same number of elements), e.g. [C, C] for a [C, C, 1, 1] convolution. */
  shape?: number[];
}

/** Bytes of one row of `rowElements` elements stored as `dtype` (safetensors or GGML). */
export function storedRowBytes(dtype: string, rowElements: number): number {
  if (isReadableGgmlType(dtype)) return ggmlByteSize(dtype, rowElements);
  const size = DTYPE_SIZES[dtype as keyof typeof DTYPE_SIZES];
  if (!size) throw new Error(`no row size for dtype ${dtype}`);
  return size * rowElements;
}

/**
 * `base` under the names of `mappings`. Source tensors that no mapping uses stay
 * visible under their own names (so a check for unexpected tensors still sees them).
 * A source read for several targets (a fused tensor) is kept in memory until every one
 * of them has been read, so it is read once.
 */
export function mappedSource(base: TensorSource, mappings: Map<string, TensorMapping>): TensorSource {
  const used = new Set([...mappings.values()].map((m) => m.source));
  const passThrough = new Set(base.names().filter((name) => !used.has(name) && !mappings.has(name)));
  const readers = new Map<string, number>();
  for (const m of mappings.values()) if (base.has(m.source)) readers.set(m.source, (readers.get(m.source) ?? 0) + 1);
  const cache = new Map<string, { float?: Float32Array; raw?: Uint8Array; left: { float: number; raw: number } }>();

  const mappingOf = (name: string): TensorMapping => mappings.get(name) ?? { source: name };
  const has = (name: string) => (mappings.has(name) ? base.has(mappings.get(name)!.source) : passThrough.has(name));
  const info = (name: string): TensorInfo => {
    const m = mappingOf(name);
    if (!has(name)) throw new CheckpointError(`tensor "${m.source}" (read as ${name}) is missing`, undefined, m.source);
    const source = base.info(m.source);
    const rows = m.rows ? m.rows.reduce((sum, [a, b]) => sum + (b - a), 0) : source.shape[0];
    return { dtype: source.dtype, shape: m.shape ?? [rows, ...source.shape.slice(1)], file: source.file, sourceName: m.source === name ? undefined : m.source };
  };

  /** Reads the source once per target that needs it, keeping shared ones until their last reader. */
  async function sourceData<K extends 'float' | 'raw'>(m: TensorMapping, kind: K, read: () => Promise<K extends 'float' ? Float32Array : Uint8Array>) {
    const shared = (readers.get(m.source) ?? 0) > 1;
    if (!shared) return read();
    let entry = cache.get(m.source);
    if (!entry) cache.set(m.source, (entry = { left: { float: readers.get(m.source)!, raw: readers.get(m.source)! } }));
    const value = (entry[kind] ??= (await read()) as never) as unknown as K extends 'float' ? Float32Array : Uint8Array;
    if (--entry.left[kind] === 0) delete entry[kind];
    if (entry.float === undefined && entry.raw === undefined) cache.delete(m.source);
    return value;
  }

  /** Concatenates the selected rows of `data` (rowSize units per row). */
  function selectRows<T extends Float32Array | Uint8Array>(data: T, rows: [number, number][] | undefined, rowSize: number): T {
    if (!rows) return data;
    const total = rows.reduce((sum, [a, b]) => sum + (b - a), 0);
    const out = new (data.constructor as new (n: number) => T)(total * rowSize);
    let at = 0;
    for (const [a, b] of rows) {
      out.set(data.subarray(a * rowSize, b * rowSize), at);
      at += (b - a) * rowSize;
    }
    return out;
  }

  return {
    names: () => [...[...mappings.keys()].filter((name) => base.has(mappings.get(name)!.source)), ...passThrough].sort(),
    has,
    info,
    async readFloat32(name) {
      const m = mappingOf(name);
      const source = base.info(m.source);
      const data = await sourceData(m, 'float', () => base.readFloat32(m.source));
      return selectRows(data, m.rows, source.shape.slice(1).reduce((a, b) => a * b, 1));
    },
    async readRaw(name) {
      const m = mappingOf(name);
      const source = base.info(m.source);
      const data = await sourceData(m, 'raw', () => base.readRaw(m.source));
      return selectRows(data, m.rows, m.rows ? storedRowBytes(source.dtype, source.shape.slice(1).reduce((a, b) => a * b, 1)) : 1);
    },
    close: () => base.close(),
  };
}
