/**
 * Reads the linear weights a package stores, as the values onnxruntime computes with:
 * MatMulNBits weights dequantized ((level − zero point) · scale, block 32), MatMul
 * weights transposed back to torch's [out, in].
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { dequantizeBlockwise } from '../../src/convert/quantize.ts';
import { f16ToF32 } from '../../src/formats/float16.ts';
import type { Manifest } from '../../src/package/manifest.ts';

const { onnx } = onnxProto;

/** One linear weight: [out, in] values and how they are stored (4, 8, 16 or 32 bits). */
export interface StoredLinear {
  bits: number;
  n: number;
  k: number;
  values: Float32Array;
}

/** Every initializer of a graph as bytes, by name (external data read from its file). */
function initializers(dir: string, model: string): Map<string, { dims: number[]; dataType: number; bytes: Uint8Array }> {
  const proto = onnx.ModelProto.decode(readFileSync(join(dir, model)));
  const out = new Map<string, { dims: number[]; dataType: number; bytes: Uint8Array }>();
  const dataFiles = new Map<string, Buffer>();
  for (const t of proto.graph!.initializer!) {
    let bytes: Uint8Array;
    if (t.externalData?.length) {
      const ext = Object.fromEntries(t.externalData.map((e) => [e.key, e.value]));
      if (!dataFiles.has(ext.location!)) dataFiles.set(ext.location!, readFileSync(join(dir, ext.location!)));
      const file = dataFiles.get(ext.location!)!;
      bytes = Uint8Array.from(file.subarray(Number(ext.offset), Number(ext.offset) + Number(ext.length)));
    } else bytes = Uint8Array.from(t.rawData!);
    out.set(t.name!, { dims: t.dims!.map(Number), dataType: t.dataType!, bytes });
  }
  return out;
}

/** The linear weights of every graph of a package, by checkpoint prefix (`transformer_blocks.0.attn.to_q`). */
export function storedLinears(dir: string, manifest: Manifest): Map<string, StoredLinear> {
  const out = new Map<string, StoredLinear>();
  const F16 = onnx.TensorProto.DataType.FLOAT16;
  for (const g of manifest.graphs) {
    const inits = initializers(dir, g.model);
    for (const [name, t] of inits) {
      let m = /^(.+)\.weight_q(4|8)$/.exec(name);
      if (m) {
        const bits = Number(m[2]) as 4 | 8;
        const [n, blocksPerRow, bytesPerBlock] = t.dims;
        const scales = inits.get(`${m[1]}.weight_scales`)!;
        const q = { packed: t.bytes, scales: new Float32Array(scales.bytes.buffer, scales.bytes.byteOffset, scales.bytes.byteLength / 4), blocksPerRow, bytesPerBlock };
        out.set(m[1], { bits, n, k: blocksPerRow * 32, values: dequantizeBlockwise(q, n, blocksPerRow * 32, bits) });
        continue;
      }
      m = /^(.+)\.weight_t$/.exec(name);
      if (m) {
        const [k, n] = t.dims;
        const half = t.dataType === F16;
        const raw = half ? Array.from({ length: k * n }, (_, i) => f16ToF32(t.bytes[2 * i] | (t.bytes[2 * i + 1] << 8))) : new Float32Array(t.bytes.buffer, t.bytes.byteOffset, k * n);
        const values = new Float32Array(n * k);
        for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) values[c * k + r] = raw[r * n + c];
        out.set(m[1], { bits: half ? 16 : 32, n, k, values });
      }
    }
  }
  return out;
}
