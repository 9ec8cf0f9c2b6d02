/**
 * `flux-webgpu convert` under Node: a local checkpoint folder in the diffusers layout →
 * a package folder, through the browser-safe core (`src/convert/convert.ts`) with a local
 * file reader and a folder sink.
 */
import { resolve } from 'node:path';
import { convertToPackage } from '../../src/convert/convert.ts';
import type { Manifest, WeightPrecision } from '../../src/package/manifest.ts';
import { openFolderSink } from './folder-sink.ts';
import { localCheckpointFiles } from './local-files.ts';

/** Options of `convertCheckpoint`. */
export interface ConvertOptions {
  /**
   * Folder in the diffusers layout: `transformer/` and `vae/`, and optionally the text
   * encoders (`text_encoder/`, `text_encoder_2/`, `tokenizer/`, `tokenizer_2/`) together.
   */
  checkpoint: string;
  /** Package folder to create. */
  out: string;
  /** Linear weight storage; default q4. */
  weights?: WeightPrecision;
  /** Largest data file in MiB (1–2047); default 1024. */
  maxShardMb?: number;
  /** Model id recorded in the manifest; default the checkpoint folder's name. */
  modelId?: string;
  /** Replace an existing package at `out`. */
  force?: boolean;
  /** Progress lines for a terminal. */
  log?: (line: string) => void;
}

/**
 * Converts a local checkpoint into a package folder at `out` (built beside it and
 * renamed into place when complete).
 * @returns the manifest written to `out/manifest.json`
 * @throws CheckpointError naming the file and tensor for bad input
 */
export async function convertCheckpoint(options: ConvertOptions): Promise<Manifest> {
  return convertToPackage({
    checkpoint: localCheckpointFiles(resolve(options.checkpoint)),
    openSink: () => openFolderSink(options.out, options.force),
    weights: options.weights,
    maxShardMb: options.maxShardMb,
    modelId: options.modelId,
    log: options.log,
  });
}
