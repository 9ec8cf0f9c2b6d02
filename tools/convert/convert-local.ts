/**
 * `flux-webgpu convert` under Node: a checkpoint (a local folder in the diffusers layout,
 * or `hf:owner/name[@revision]` on the Hub), optionally with component overrides (local
 * files or `hf:…/path` references), → a package folder, through the browser-safe core
 * (`src/convert/convert.ts`) with a local file reader and a folder sink.
 */
import { resolve } from 'node:path';
import type { CheckpointFiles } from '../../src/convert/checkpoint-files.ts';
import { convertToPackage } from '../../src/convert/convert.ts';
import { isHubReference, openHubRepository, openHubSourceFile, parseHubReference, type HubOptions } from '../../src/convert/hub-files.ts';
import type { SourceFile } from '../../src/convert/override-files.ts';
import { InvalidParameterError } from '../../src/errors.ts';
import type { Manifest, WeightPrecision } from '../../src/package/manifest.ts';
import { openFolderSink } from './folder-sink.ts';
import { localCheckpointFiles, localSourceFile } from './local-files.ts';

/** Options of `convertCheckpoint`. */
export interface ConvertOptions {
  /**
   * Folder in the diffusers layout: `transformer/` and `vae/`, and optionally the text
   * encoders (`text_encoder/`, `text_encoder_2/`, `tokenizer/`, `tokenizer_2/`) together;
   * or `hf:owner/name[@revision]`, a Hub repository in that layout.
   */
  checkpoint: string;
  /** Replaces the transformer's weights: `file.safetensors` (BFL or diffusers names), `file.gguf`, or `hf:owner/name[@rev]/path`. */
  transformer?: string;
  /** Replaces the T5 encoder's weights: `file.gguf` (llama.cpp names), a transformers safetensors file, or `hf:…/path`. */
  textEncoder2?: string;
  /** Replaces the VAE's weights: `ae.safetensors` (BFL/LDM names), a diffusers safetensors file, or `hf:…/path`. */
  vae?: string;
  /** Package folder to create. */
  out: string;
  /** Linear weight storage; default q4. */
  weights?: WeightPrecision;
  /** Largest data file in MiB (1–2047); default 1024. */
  maxShardMb?: number;
  /** Model id recorded in the manifest; default the checkpoint folder's (or repository's) name. */
  modelId?: string;
  /** Replace an existing package at `out`. */
  force?: boolean;
  /** Hub access for `hf:` references (hub URL, token, retries). */
  hub?: HubOptions;
  /** Progress lines for a terminal (warnings start with "warning:"). */
  log?: (line: string) => void;
}

/** A checkpoint folder: local, or a Hub repository (listed once). */
async function checkpointFiles(checkpoint: string, hub: HubOptions): Promise<CheckpointFiles> {
  if (!isHubReference(checkpoint)) return localCheckpointFiles(resolve(checkpoint));
  const ref = parseHubReference(checkpoint, '--checkpoint');
  if (ref.path) throw new InvalidParameterError('--checkpoint', 'a folder or hf:owner/name[@revision] (a whole repository in the diffusers layout)', checkpoint);
  return openHubRepository(ref.repo, ref.revision, hub);
}

/** An override file: local, or on the Hub. */
async function sourceFile(value: string | undefined, field: string, hub: HubOptions): Promise<SourceFile | undefined> {
  if (value === undefined) return undefined;
  return isHubReference(value) ? openHubSourceFile(value, field, hub) : localSourceFile(value);
}

/**
 * Converts a checkpoint into a package folder at `out` (built in `<out>.partial` and
 * renamed into place when complete; a download or disk failure keeps `<out>.partial`, and
 * the same call resumes from it).
 * @returns the manifest written to `out/manifest.json`
 * @throws CheckpointError naming the file and tensor for bad input; HubError, DownloadError,
 *   IntegrityError, StorageQuotaError for the sources and the disk
 */
export async function convertCheckpoint(options: ConvertOptions): Promise<Manifest> {
  const hub = options.hub ?? {};
  return convertToPackage({
    checkpoint: await checkpointFiles(options.checkpoint, hub),
    transformer: await sourceFile(options.transformer, '--transformer', hub),
    textEncoder2: await sourceFile(options.textEncoder2, '--text-encoder-2', hub),
    vae: await sourceFile(options.vae, '--vae', hub),
    openSink: () => openFolderSink(options.out, options.force),
    weights: options.weights,
    maxShardMb: options.maxShardMb,
    modelId: options.modelId,
    log: options.log,
  });
}
