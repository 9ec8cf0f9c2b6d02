/**
 * GGUF files (llama.cpp's format, v2/v3) as a tensor source: the header (metadata
 * key-values and tensor infos) is parsed from a few ranged reads; tensor data is read one
 * tensor at a time. Layout: "GGUF", u32 version, u64 tensor count, u64 key-value count,
 * the key-values, the tensor infos (name, dims innermost first, ggml type, offset), then
 * the data from the next multiple of `general.alignment` (default 32).
 *
 * Tensor shapes are reported in torch order (outermost first): a Linear weight stored
 * with ne = [in, out] is [out, in]. Every tensor reads as float32 (see `dequantizeGgml`);
 * `readRaw` returns the stored blocks, which Q4_0 / Q8_0 linears use as they are.
 */
import { CheckpointError } from '../errors.ts';
import type { RandomAccessFile } from './checkpoint-files.ts';
import { dequantizeGgml, ggmlByteSize, ggmlTypeName, isReadableGgmlType, type GgmlTypeName } from './ggml-blocks.ts';
import type { TensorInfo, TensorSource } from './tensor-source.ts';

/** A metadata value: numbers (bigint for 64-bit integers), strings, booleans and arrays of them. */
export type GgufValue = number | bigint | string | boolean | GgufValue[];

/** Where one tensor's data lies. */
interface GgufTensorEntry extends TensorInfo {
  /** ggml type id. */
  typeId: number;
  /** Absolute byte offset of its data in the file. */
  begin: number;
  /** Stored byte length (0 when the type is not readable). */
  length: number;
}

/** An open GGUF file. */
export interface GgufSource extends TensorSource {
  /** GGUF version (2 or 3). */
  readonly version: number;
  /** Every metadata key-value (`general.architecture`, …). */
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** `general.architecture`, or undefined when absent. */
  readonly architecture: string | undefined;
}

const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
/** Upper bounds that keep a corrupt header from asking for absurd allocations. */
const MAX_TENSORS = 1_000_000;
const MAX_KEY_VALUES = 1_000_000;
const MAX_STRING_BYTES = 64 * 2 ** 20;
const MAX_ARRAY_LENGTH = 64 * 2 ** 20;
const CHUNK = 2 ** 20;

/** Sequential reads of the header through a window of ranged reads. */
class HeaderCursor {
  private buffer: Uint8Array = new Uint8Array(0);
  private start = 0;
  offset = 0;

  constructor(private readonly file: RandomAccessFile) {}

  private async ensure(length: number): Promise<DataView> {
    const end = this.offset + length;
    if (end > this.file.size) {
      throw new CheckpointError(`${this.file.label} is truncated or not a GGUF file: its header runs past the end (byte ${end} of ${this.file.size})`, this.file.label);
    }
    if (this.offset < this.start || end > this.start + this.buffer.length) {
      const want = Math.min(this.file.size - this.offset, Math.max(length, CHUNK));
      this.buffer = await this.file.read(this.offset, want);
      this.start = this.offset;
    }
    return new DataView(this.buffer.buffer, this.buffer.byteOffset + (this.offset - this.start), length);
  }

  async u32(): Promise<number> {
    const v = (await this.ensure(4)).getUint32(0, true);
    this.offset += 4;
    return v;
  }

  async u64(): Promise<bigint> {
    const v = (await this.ensure(8)).getBigUint64(0, true);
    this.offset += 8;
    return v;
  }

  /** A u64 that must fit a JS number below `max`. */
  async count(what: string, max: number): Promise<number> {
    const v = await this.u64();
    if (v > BigInt(max)) throw new CheckpointError(`${this.file.label}: GGUF ${what} ${v} is not plausible (corrupt header?)`, this.file.label);
    return Number(v);
  }

  async string(): Promise<string> {
    const length = await this.count('string length', MAX_STRING_BYTES);
    const view = await this.ensure(length);
    this.offset += length;
    return new TextDecoder().decode(new Uint8Array(view.buffer, view.byteOffset, length));
  }

  async value(type: number): Promise<GgufValue> {
    const view = async (n: number) => {
      const v = await this.ensure(n);
      this.offset += n;
      return v;
    };
    switch (type) {
      case 0: return (await view(1)).getUint8(0);
      case 1: return (await view(1)).getInt8(0);
      case 2: return (await view(2)).getUint16(0, true);
      case 3: return (await view(2)).getInt16(0, true);
      case 4: return (await view(4)).getUint32(0, true);
      case 5: return (await view(4)).getInt32(0, true);
      case 6: return (await view(4)).getFloat32(0, true);
      case 7: return (await view(1)).getUint8(0) !== 0;
      case 8: return this.string();
      case 9: {
        const itemType = await this.u32();
        const length = await this.count('array length', MAX_ARRAY_LENGTH);
        const items: GgufValue[] = [];
        for (let i = 0; i < length; i++) items.push(await this.value(itemType));
        return items;
      }
      case 10: return (await view(8)).getBigUint64(0, true);
      case 11: return (await view(8)).getBigInt64(0, true);
      case 12: return (await view(8)).getFloat64(0, true);
      default:
        throw new CheckpointError(`${this.file.label}: unknown GGUF metadata value type ${type} (corrupt header?)`, this.file.label);
    }
  }
}

/**
 * Opens a GGUF file, reading its header only.
 * @param file the file (closed again when the header is bad)
 * @throws CheckpointError naming the file when it is not GGUF v2/v3, its header is
 *   corrupt or truncated, or a tensor lies outside the file
 */
export async function openGguf(file: RandomAccessFile): Promise<GgufSource> {
  try {
    return await parse(file);
  } catch (error) {
    await file.close().catch(() => undefined);
    throw error;
  }
}

async function parse(file: RandomAccessFile): Promise<GgufSource> {
  const label = file.label;
  const c = new HeaderCursor(file);
  if (file.size < 24 || (await c.u32()) !== GGUF_MAGIC) throw new CheckpointError(`${label} is not a GGUF file (it does not start with "GGUF")`, label);
  const version = await c.u32();
  if (version !== 2 && version !== 3) throw new CheckpointError(`${label}: GGUF version ${version} is not supported (2 and 3 are)`, label, undefined, 'unsupported');
  const tensorCount = await c.count('tensor count', MAX_TENSORS);
  const kvCount = await c.count('key-value count', MAX_KEY_VALUES);
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = await c.string();
    metadata.set(key, await c.value(await c.u32()));
  }
  const alignmentValue = metadata.get('general.alignment') ?? 32;
  const alignment = Number(alignmentValue);
  if (!Number.isInteger(alignment) || alignment < 1 || alignment > 2 ** 16) throw new CheckpointError(`${label}: general.alignment ${String(alignmentValue)} is not a small positive integer`, label);

  const infos: { name: string; ne: number[]; typeId: number; offset: bigint }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = await c.string();
    const dims = await c.u32();
    if (dims < 1 || dims > 8) throw new CheckpointError(`${label}: tensor "${name}" has ${dims} dimensions (corrupt header?)`, label, name);
    const ne: number[] = [];
    for (let d = 0; d < dims; d++) ne.push(await c.count(`dimension of tensor "${name}"`, 2 ** 40));
    infos.push({ name, ne, typeId: await c.u32(), offset: await c.u64() });
  }
  const dataStart = Math.ceil(c.offset / alignment) * alignment;

  const tensors = new Map<string, GgufTensorEntry>();
  for (const info of infos) {
    const dtype = ggmlTypeName(info.typeId);
    const count = info.ne.reduce((a, b) => a * b, 1);
    let length = 0;
    if (isReadableGgmlType(dtype)) {
      try {
        length = ggmlByteSize(dtype, count);
      } catch {
        throw new CheckpointError(`${label}: tensor "${info.name}" has ${count} elements, not whole ${dtype} blocks (corrupt header?)`, label, info.name);
      }
    }
    const begin = dataStart + Number(info.offset);
    if (begin + length > file.size) {
      throw new CheckpointError(`${label} is truncated: tensor "${info.name}" ends at byte ${begin + length} but the file has ${file.size} bytes`, label, info.name);
    }
    if (tensors.has(info.name)) throw new CheckpointError(`${label}: tensor "${info.name}" appears twice`, label, info.name);
    tensors.set(info.name, { dtype, shape: [...info.ne].reverse(), file: label, typeId: info.typeId, begin, length });
  }

  let closed = false;
  const locate = (name: string): GgufTensorEntry => {
    const entry = tensors.get(name);
    if (!entry) throw new CheckpointError(`tensor "${name}" is not in ${label}`, label, name);
    return entry;
  };
  const readRaw = async (name: string): Promise<Uint8Array> => {
    const entry = locate(name);
    if (closed) throw new CheckpointError(`cannot read tensor "${name}": ${label} was closed`, label, name);
    if (!isReadableGgmlType(entry.dtype)) {
      throw new CheckpointError(
        `${label}: tensor "${name}" is stored as ${entry.dtype}, which this converter cannot read (it reads F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q2_K–Q6_K); use a GGUF file of another quantization`,
        label,
        name,
        'unsupported',
      );
    }
    return file.read(entry.begin, entry.length, name);
  };
  const architecture = metadata.get('general.architecture');
  return {
    version,
    metadata,
    architecture: typeof architecture === 'string' ? architecture : undefined,
    names: () => [...tensors.keys()].sort(),
    has: (name) => tensors.has(name),
    info: (name) => {
      const { dtype, shape, file: f } = locate(name);
      return { dtype, shape: [...shape], file: f };
    },
    readRaw,
    readFloat32: async (name) => {
      const entry = locate(name);
      const bytes = await readRaw(name);
      return dequantizeGgml(entry.dtype as GgmlTypeName, bytes, entry.shape.reduce((a, b) => a * b, 1));
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await file.close();
    },
  };
}
