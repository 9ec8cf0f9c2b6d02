/**
 * A small ONNX graph builder: nodes, inputs/outputs, and initializers whose bytes are
 * streamed into one external `.onnx_data` file as they are added (so a graph's weights
 * are never held in memory all at once). Encoding uses the protobuf codec of `onnx-proto`.
 * Browser-safe: the data file is any `SinkFile` (a Node file, the page's weight store).
 */
import onnxProto, { type onnx as Onnx } from 'onnx-proto';
import { createChunkSha256, type ChunkHashes, type ChunkSha256 } from '../package/chunk-hashes.ts';
import { createIncrementalSha256, type IncrementalSha256 } from '../store/sha256.ts';
import type { SinkFile } from './package-sink.ts';

const { onnx } = onnxProto;

/** Element types the builder knows, named as onnxruntime names them. */
export type ElementType = 'float32' | 'float16' | 'uint8' | 'int32' | 'int64';

const onnxDataType: Record<ElementType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  uint8: onnx.TensorProto.DataType.UINT8,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
};

/** Attribute values accepted by `GraphBuilder.node`. */
export type AttributeValue = number | string | number[] | { float: number } | { floats: number[] };

/** A symbolic or fixed dimension of a graph input/output. */
export type Dim = number | string;

/** Typed arrays that can be stored as initializers. */
export type TensorData = Float32Array | Uint8Array | Int32Array | BigInt64Array | Uint16Array;

/** Initializers at least this large go to the external data file; smaller ones stay inline. */
const EXTERNAL_THRESHOLD_BYTES = 1024;
/** Alignment of each tensor inside the data file (lets runtimes map it directly). */
const DATA_ALIGNMENT = 64;

/**
 * Appends tensor bytes to a `.onnx_data` file, hashing them as they are written.
 * `append` is synchronous (the graph builder calls it while it builds); the bytes are
 * queued to the sink, and `drain()` waits for the queue. The converter drains before it
 * reads the next source tensor, so at most one tensor's bytes wait in memory.
 */
export class ExternalDataWriter {
  private offset = 0;
  private pending: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;
  private closed = false;

  private constructor(
    /** The data file's name inside the package (what initializers name as `location`). */
    readonly fileName: string,
    private readonly file: SinkFile,
    private readonly hash: IncrementalSha256,
    private readonly chunks: ChunkSha256,
  ) {}

  /**
   * @param fileName the data file's name, e.g. `transformer_head.onnx_data`
   * @param file where its bytes go (created empty by the caller)
   */
  static async create(fileName: string, file: SinkFile): Promise<ExternalDataWriter> {
    return new ExternalDataWriter(fileName, file, await createIncrementalSha256(), await createChunkSha256());
  }

  /** Bytes written so far (including alignment padding). */
  get size(): number {
    return this.offset;
  }

  /**
   * Queues `bytes` at the next aligned offset; returns that offset. The caller must not
   * change `bytes` afterwards (they are written later, without a copy).
   */
  append(bytes: Uint8Array): number {
    const padding = (DATA_ALIGNMENT - (this.offset % DATA_ALIGNMENT)) % DATA_ALIGNMENT;
    if (padding) this.write(new Uint8Array(padding));
    const at = this.offset;
    this.write(bytes);
    return at;
  }

  /** Waits until every queued byte is written; rethrows the first write error. */
  async drain(): Promise<void> {
    await this.pending;
    if (this.failure) throw this.failure.error;
  }

  /** Writes what is queued, closes the file and returns its size in bytes, sha256 (hex) and the sha256 of each 8 MiB chunk. */
  async finish(): Promise<{ size: number; sha256: string } & ChunkHashes> {
    await this.drain();
    await this.close();
    return { size: this.offset, sha256: this.hash.digestHex(), ...this.chunks.finish() };
  }

  /** Closes the file without reporting queued write errors (after a failed build). */
  async close(): Promise<void> {
    await this.pending;
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
  }

  private write(bytes: Uint8Array): void {
    this.hash.update(bytes);
    this.chunks.update(bytes);
    this.offset += bytes.length;
    this.pending = this.pending
      .then(() => (this.failure ? undefined : this.file.write(bytes)))
      .catch((error: unknown) => {
        this.failure ??= { error };
      });
  }
}

interface ValueInfo {
  name: string;
  type: ElementType;
  dims: Dim[];
}

/** Builds one ONNX graph. Names of values are generated unless given. */
export class GraphBuilder {
  private readonly nodes: Onnx.INodeProto[] = [];
  private readonly initializers: Onnx.ITensorProto[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly usedNames = new Set<string>();
  private counter = 0;
  private scope: { name: string; tensorPrefix: string } | undefined;
  /** Bytes of every initializer (inline and external), as stored. */
  weightBytes = 0;
  /** Bytes once uploaded for float32 compute (float16 weights are cast to float32, so count double; int64 tables stay on the CPU). */
  uploadBytes = 0;
  /** The largest single initializer once uploaded, in bytes. */
  largestUploadBytes = 0;
  /** Nodes that read float16 data at run time (see `GraphEntry.float16Nodes`). */
  readonly float16Nodes: string[] = [];

  /**
   * @param name graph name
   * @param data writer of the external data file, or null to keep every initializer inline
   */
  constructor(
    readonly name: string,
    private readonly data: ExternalDataWriter | null,
  ) {}

  /** Declares a graph input and returns its value name. */
  input(name: string, type: ElementType, dims: Dim[]): string {
    this.claim(name);
    this.inputs.push({ name, type, dims });
    return name;
  }

  /** Declares `value` as a graph output named `name` (adds an Identity when the names differ). */
  output(value: string, name: string, type: ElementType, dims: Dim[]): void {
    if (value !== name) {
      this.claim(name);
      this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: `${name}_identity` });
    }
    this.outputs.push({ name, type, dims });
  }

  /** Adds an initializer; large ones are appended to the external data file. */
  initializer(name: string, type: ElementType, dims: number[], values: TensorData): string {
    this.claim(name);
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    const expected = dims.reduce((a, b) => a * b, 1) * bytesPerElement(type);
    if (expected !== bytes.byteLength) {
      throw new Error(`initializer ${name}: ${bytes.byteLength} bytes for ${type}[${dims.join(',')}] (expected ${expected})`);
    }
    const tensor: Onnx.ITensorProto = { name, dims, dataType: onnxDataType[type] };
    if (this.data && bytes.byteLength >= EXTERNAL_THRESHOLD_BYTES) {
      const offset = this.data.append(bytes);
      tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      tensor.externalData = [
        { key: 'location', value: this.data.fileName },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.byteLength) },
      ];
    } else {
      tensor.rawData = bytes.slice();
    }
    this.initializers.push(tensor);
    // int64 tables (T5's position buckets) feed shape and index ops that onnxruntime keeps on the CPU.
    const uploaded = type === 'float16' ? 2 * bytes.byteLength : type === 'int64' ? 0 : bytes.byteLength;
    this.weightBytes += bytes.byteLength;
    this.uploadBytes += uploaded;
    this.largestUploadBytes = Math.max(this.largestUploadBytes, uploaded);
    return name;
  }

  /** A small float32 constant (kept inline). */
  constFloat(values: number[] | Float32Array, dims: number[] = [values.length]): string {
    return this.initializer(this.fresh('const_f'), 'float32', dims, Float32Array.from(values));
  }

  /** A small int64 constant (kept inline), e.g. for Reshape shapes or Slice bounds. */
  constInt64(values: number[], dims: number[] = [values.length]): string {
    return this.initializer(this.fresh('const_i'), 'int64', dims, BigInt64Array.from(values.map((v) => BigInt(v))));
  }

  /**
   * Runs `build` with the nodes it adds named after where they are: `${name}.<op>_<n>`
   * for plain ops and `${name}.<layer>` for layers (see `layerName`), e.g.
   * `double.3.attn.to_q`, so that profiles and `forceCpuNodeNames` can name them.
   * @param name the scope, e.g. `double.3`
   * @param tensorPrefix the checkpoint prefix of the scope's tensors (e.g.
   *   `transformer_blocks.3`), dropped from layer names inside it
   */
  async scoped<T>(name: string, tensorPrefix: string, build: () => Promise<T>): Promise<T> {
    const outer = this.scope;
    this.scope = { name, tensorPrefix };
    try {
      return await build();
    } finally {
      this.scope = outer;
    }
  }

  /**
   * The node name of the layer whose checkpoint tensors start with `prefix`: the prefix
   * itself (`x_embedder`), or inside a scope the scope plus the rest (`double.3.ff.net.2`).
   */
  layerName(prefix: string): string {
    const scope = this.scope;
    if (!scope) return prefix;
    const rest = prefix.startsWith(`${scope.tensorPrefix}.`) ? prefix.slice(scope.tensorPrefix.length + 1) : prefix;
    return `${scope.name}.${rest}`;
  }

  /** Adds a node with one output; returns the output's value name (the node's name). */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, domain = '', name?: string): string {
    return this.opN(opType, inputs, 1, attributes, domain, name)[0];
  }

  /**
   * Adds a node with `outputCount` outputs; returns their value names.
   * @param name the node's name (unique in the graph); default `<scope>.<op>_<n>`
   */
  opN(
    opType: string,
    inputs: string[],
    outputCount: number,
    attributes: Record<string, AttributeValue> = {},
    domain = '',
    name?: string,
  ): string[] {
    const base = name ?? this.fresh(this.scope ? `${this.scope.name}.${opType.toLowerCase()}` : opType.toLowerCase());
    this.claim(base);
    const outputs = Array.from({ length: outputCount }, (_, i) => (outputCount === 1 ? base : `${base}_${i}`));
    for (const output of outputs) if (output !== base) this.claim(output);
    this.nodes.push({
      opType,
      domain,
      name: base,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attributes).map(([name, value]) => toAttribute(name, value)),
    });
    return outputs;
  }

  /** Serializes the model (opset 17 plus com.microsoft 1). */
  encode(): Uint8Array {
    const model: Onnx.IModelProto = {
      irVersion: 8,
      producerName: 'flux-webgpu',
      producerVersion: '0.1.0',
      opsetImport: [
        { domain: '', version: 17 },
        { domain: 'com.microsoft', version: 1 },
      ],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }

  /** Graph inputs and outputs as declared (for the manifest). */
  signature(): { inputs: ValueInfo[]; outputs: ValueInfo[] } {
    return { inputs: [...this.inputs], outputs: [...this.outputs] };
  }

  private fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.usedNames.has(name));
    return name;
  }

  private claim(name: string): void {
    if (this.usedNames.has(name)) throw new Error(`value name used twice in graph ${this.name}: ${name}`);
    this.usedNames.add(name);
  }
}

/** Bytes per element of an element type. */
export function bytesPerElement(type: ElementType): number {
  return { float32: 4, float16: 2, uint8: 1, int32: 4, int64: 8 }[type];
}

function valueInfo(info: ValueInfo): Onnx.IValueInfoProto {
  return {
    name: info.name,
    type: {
      tensorType: {
        elemType: onnxDataType[info.type],
        shape: { dim: info.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function toAttribute(name: string, value: AttributeValue): Onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: use {float: x} for float values`);
    return { name, type: T.INT, i: value };
  }
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  return { name, type: T.FLOATS, floats: value.floats };
}
