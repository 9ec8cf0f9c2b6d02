/**
 * A GraphBuilder whose graph computes in float16 while keeping a float32 interface:
 * every float32 input is cast to float16 where it enters, every float32 output is cast
 * back where it leaves, float32 initializers and constants are stored as float16, and
 * the builders' "Cast to float32" after float16 weights becomes a cast to float16. The
 * layer builders stay unaware of it. Only for adapters with `shader-f16`.
 */
import { float32ToFloat16Bytes } from '../formats/float16.ts';
import { GraphBuilder, type AttributeValue, type Dim, type ElementType, type TensorData } from './onnx-builder.ts';

/** ONNX TensorProto data types used by Cast's `to`. */
const FLOAT = 1;
const FLOAT16 = 10;

export class Float16GraphBuilder extends GraphBuilder {
  override input(name: string, type: ElementType, dims: Dim[]): string {
    const value = super.input(name, type, dims);
    return type === 'float32' ? super.opN('Cast', [value], 1, { to: FLOAT16 })[0] : value;
  }

  override output(value: string, name: string, type: ElementType, dims: Dim[]): void {
    // super.opN, not this.opN: this Cast must stay a cast to float32.
    super.output(type === 'float32' ? super.opN('Cast', [value], 1, { to: FLOAT })[0] : value, name, type, dims);
  }

  override initializer(name: string, type: ElementType, dims: number[], values: TensorData): string {
    if (type !== 'float32') return super.initializer(name, type, dims, values);
    return super.initializer(name, 'float16', dims, float32ToFloat16Bytes(values as Float32Array));
  }

  override opN(opType: string, inputs: string[], outputCount: number, attributes: Record<string, AttributeValue> = {}, domain = '', name?: string): string[] {
    const to = opType === 'Cast' && attributes.to === FLOAT ? { ...attributes, to: FLOAT16 } : attributes;
    return super.opN(opType, inputs, outputCount, to, domain, name);
  }
}
