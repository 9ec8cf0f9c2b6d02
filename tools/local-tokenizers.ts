/**
 * The two tokenizers of a folder on disk, for `flux-webgpu tokenize`: a web model package
 * (its manifest's tokenizers and lengths) or a checkpoint in the diffusers layout, of
 * which only `tokenizer/` (CLIP: tokenizer.json, or vocab.json + merges.txt as published)
 * and `tokenizer_2/` (T5: tokenizer.json) are read. A checkpoint's T5 length is that of
 * its family: 512 when `transformer/config.json` says `guidance_embeds: true` (FLUX.1
 * [dev]), else 256 ([schnell]). Without a transformer config, the scheduler config
 * decides: `use_dynamic_shifting: true` is [dev]'s schedule (512); none at all is 256.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FAMILY_DEFAULTS } from '../src/defaults.ts';
import { InvalidParameterError, ModelPackageError } from '../src/errors.ts';
import { familyOfTransformerConfig, modelFamily, type ModelFamily } from '../src/models/family.ts';
import { parseManifest } from '../src/package/manifest.ts';
import { loadTokenizers, type PackageTokenizers } from '../src/pipeline/text-encoding.ts';
import { PromptTokenizer } from '../src/text/prompt-tokenizer.ts';
import { readCheckpointJson } from '../src/convert/checkpoint-files.ts';
import { readCheckpointTokenizer } from '../src/convert/tokenizer-files.ts';
import { localCheckpointFiles } from './convert/local-files.ts';

/** What `openLocalTokenizers` found. */
export interface LocalTokenizers {
  tokenizers: PackageTokenizers;
  kind: 'package' | 'checkpoint';
  family: ModelFamily;
}

/**
 * Opens the tokenizers of a package or checkpoint folder.
 * @param field the flag to name in errors (e.g. "--model")
 * @throws InvalidParameterError when the folder is neither
 * @throws ModelPackageError / CheckpointError naming a missing or invalid file
 */
export async function openLocalTokenizers(dir: string, field: string): Promise<LocalTokenizers> {
  const manifestPath = join(dir, 'manifest.json');
  if (existsSync(manifestPath)) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(manifestPath, 'utf8'));
    } catch (error) {
      throw new ModelPackageError(`${manifestPath} is not valid JSON: ${(error as Error).message}`, manifestPath);
    }
    const manifest = parseManifest(json, manifestPath);
    if (!manifest.tokenizers) throw new ModelPackageError(`${dir} has no text encoders (it takes prompt embeddings), so it has no tokenizers`, manifestPath);
    const tokenizers = await loadTokenizers({
      manifest,
      async readJson(path) {
        const file = join(dir, path);
        if (!existsSync(file)) throw new ModelPackageError(`package file ${file} is missing`, file);
        return JSON.parse(await readFile(file, 'utf8'));
      },
    });
    return { tokenizers, kind: 'package', family: modelFamily(manifest) };
  }
  if (existsSync(join(dir, 'tokenizer')) && existsSync(join(dir, 'tokenizer_2'))) {
    const files = localCheckpointFiles(dir);
    const transformerConfig = 'transformer/config.json';
    const schedulerConfig = 'scheduler/scheduler_config.json';
    const family = (await files.exists(transformerConfig))
      ? familyOfTransformerConfig(await readCheckpointJson(files, transformerConfig))
      : (await files.exists(schedulerConfig)) && (await readCheckpointJson(files, schedulerConfig)).use_dynamic_shifting === true
        ? 'dev'
        : 'schnell';
    const lengths = FAMILY_DEFAULTS[family];
    const tokenizers = {
      clip: new PromptTokenizer('clip', await readCheckpointTokenizer(files, 'tokenizer', 'clip'), lengths.clipTokens),
      t5: new PromptTokenizer('t5', await readCheckpointTokenizer(files, 'tokenizer_2', 't5'), lengths.t5Tokens),
    };
    return { tokenizers, kind: 'checkpoint', family };
  }
  throw new InvalidParameterError(field, 'a model package folder (with manifest.json) or a checkpoint folder (with tokenizer/ and tokenizer_2/)', dir);
}
