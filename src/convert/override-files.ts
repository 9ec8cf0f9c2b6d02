/**
 * Component overrides: one file that replaces a component's weights of the checkpoint
 * (`--transformer`, `--vae`, `--text-encoder-2`): a safetensors single file (BFL names or
 * diffusers/transformers names) or a GGUF file (BFL names for the transformer, llama.cpp
 * names for T5), local or on the Hub. The config still comes from the checkpoint.
 */
import { CheckpointError } from '../errors.ts';
import type { CheckpointFiles } from './checkpoint-files.ts';
import type { TensorOverride } from './components.ts';
import { openGguf, type GgufSource } from './gguf-source.ts';
import { openSafetensorsFile } from './safetensors-source.ts';
import { t5View, transformerView, vaeView } from './source-layouts.ts';
import type { T5Config } from './t5-graph.ts';
import type { TensorSource } from './tensor-source.ts';
import type { TransformerConfig } from './transformer-graphs.ts';
import type { VaeConfig } from './vae-graph.ts';

/** One file in a set of files (a local folder, a Hub repository). */
export interface SourceFile {
  files: CheckpointFiles;
  /** Its path in `files`. */
  path: string;
}

/** The GGUF architectures each component accepts (`general.architecture`). */
const GGUF_ARCHITECTURES = {
  transformer: ['flux'],
  'text encoder 2': ['t5', 't5encoder'],
} as const;

/**
 * Opens a tensor file by its content: GGUF (magic "GGUF") or safetensors.
 * @param component which component it replaces, for messages and the GGUF architecture check
 * @throws CheckpointError when it is missing, corrupt, a GGUF of another architecture, or neither format
 */
export async function openTensorFile(source: SourceFile, component: 'transformer' | 'vae' | 'text encoder 2'): Promise<TensorSource> {
  const label = source.files.labelOf(source.path);
  if (!(await source.files.exists(source.path))) throw new CheckpointError(`${label} is missing (given as the ${component} file)`, label, undefined, 'missing-file');
  const file = await source.files.open(source.path);
  let magic: Uint8Array;
  try {
    magic = await file.read(0, Math.min(4, file.size));
  } catch (error) {
    await file.close();
    throw error;
  }
  if (new TextDecoder().decode(magic) !== 'GGUF') {
    await file.close();
    return openSafetensorsFile(source.files, source.path);
  }
  const gguf: GgufSource = await openGguf(file);
  if (component === 'vae') {
    await gguf.close();
    throw new CheckpointError(`${label} is a GGUF file; the VAE is read from safetensors (ae.safetensors or the diffusers vae/ folder)`, label, undefined, 'unsupported');
  }
  const allowed: readonly string[] = GGUF_ARCHITECTURES[component];
  if (gguf.architecture !== undefined && !allowed.includes(gguf.architecture)) {
    await gguf.close();
    throw new CheckpointError(
      `${label} is a GGUF of architecture "${gguf.architecture}", not a ${component} of FLUX.1 (general.architecture ${allowed.map((a) => `"${a}"`).join(' or ')}); pass the right file`,
      label,
      'general.architecture',
      'unsupported',
    );
  }
  return gguf;
}

/** `--transformer`: a BFL or diffusers-named transformer, safetensors or GGUF. */
export function transformerOverride(source: SourceFile): TensorOverride<TransformerConfig> {
  const label = source.files.labelOf(source.path);
  return { label, open: async (config) => withView(await openTensorFile(source, 'transformer'), (t) => transformerView(t, config, label)) };
}

/** `--vae`: an autoencoder in LDM names (`ae.safetensors`) or diffusers names. */
export function vaeOverride(source: SourceFile): TensorOverride<VaeConfig> {
  const label = source.files.labelOf(source.path);
  return { label, open: async (config) => withView(await openTensorFile(source, 'vae'), (t) => vaeView(t, config, label)) };
}

/** `--text-encoder-2`: a T5 encoder in llama.cpp GGUF names or transformers names. */
export function t5Override(source: SourceFile): TensorOverride<T5Config> {
  const label = source.files.labelOf(source.path);
  return { label, open: async (config) => withView(await openTensorFile(source, 'text encoder 2'), (t) => t5View(t, config, label)) };
}

/** Applies `view`, closing the source when it throws. */
async function withView(source: TensorSource, view: (source: TensorSource) => TensorSource): Promise<TensorSource> {
  try {
    return view(source);
  } catch (error) {
    await source.close();
    throw error;
  }
}
