/**
 * The kit's model on disk: the random-weight checkpoint (diffusers layout, bf16) and its
 * conversion into the packages of variants.ts, each shard a graph file of the converter.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomWeights, writeCheckpointComponent } from '../checkpoint-writer.ts';
import { prepareT5, prepareTransformer, prepareVae, type GraphJob } from '../../src/convert/components.ts';
import { writeGraph } from '../../src/convert/convert.ts';
import { openFolderSink } from '../convert/folder-sink.ts';
import { localCheckpointFiles } from '../convert/local-files.ts';
import { expectedT5Tensors, validateT5Config } from '../../src/convert/t5-graph.ts';
import { expectedTransformerTensors, validateTransformerConfig } from '../../src/convert/transformer-graphs.ts';
import { expectedVaeDecoderTensors, validateVaeConfig } from '../../src/convert/vae-graph.ts';
import type { KitModel, ShardKind } from './kit-model.ts';
import { shardKindOf } from './kit-model.ts';
import type { KitPackage } from './variants.ts';
import { FAMILY_DEFAULTS } from '../../src/defaults.ts';

/** The checkpoint's components, each written by its own process when the kit runs in parallel. */
export type KitComponent = 'transformer' | 'vae' | 't5';
export const KIT_COMPONENTS: KitComponent[] = ['transformer', 'vae', 't5'];

/** Transformer checkpoint shard size, as the published repos shard theirs (scaled down). */
const CHECKPOINT_SHARD_BYTES = 512 * 2 ** 20;
/** Largest graph data file: the fp32 double block (1.4 GB at full width) must fit whole. */
const MAX_GRAPH_DATA_BYTES = 2047 * 2 ** 20;

/**
 * Writes one component of the kit's checkpoint under `dir` (random bf16 weights, N(0, 1/fan_in)).
 * @returns tensor bytes written
 */
export function writeKitComponent(model: KitModel, dir: string, component: KitComponent, seed = 1234): number {
  if (component === 'transformer') {
    const config = validateTransformerConfig(model.transformer, 'kit transformer config');
    return writeCheckpointComponent(join(dir, 'transformer'), model.transformer, expectedTransformerTensors(config), randomWeights(seed), {
      dtype: 'BF16',
      maxShardBytes: CHECKPOINT_SHARD_BYTES,
    }).totalBytes;
  }
  if (component === 'vae') {
    const config = validateVaeConfig(model.vae, 'kit vae config');
    return writeCheckpointComponent(join(dir, 'vae'), model.vae, expectedVaeDecoderTensors(config), randomWeights(seed + 1), { dtype: 'BF16' }).totalBytes;
  }
  const config = validateT5Config(model.t5, 'kit t5 config');
  return writeCheckpointComponent(join(dir, 'text_encoder_2'), model.t5, expectedT5Tensors(config), randomWeights(seed + 2), { dtype: 'BF16', baseName: 'model' }).totalBytes;
}

/** One shard of a converted package. */
export interface KitGraph {
  kind: ShardKind;
  name: string;
  /** Absolute path of the .onnx file (its data file lies beside it). */
  model: string;
  /** Bytes of weights as stored (.onnx_data plus inline initializers). */
  weightBytes: number;
  /** Bytes of the .onnx and .onnx_data files. */
  fileBytes: number;
  computePrecision: 'fp32' | 'fp16';
}

/** What `convertKitPackage` wrote (also saved as `graphs.json` in the package folder). */
export interface KitPackageFiles {
  package: string;
  convertMs: number;
  graphs: KitGraph[];
}

/**
 * Converts the checkpoint at `checkpoint` into `out` with the package's weights and graph
 * options, building only the shards the package needs.
 */
export async function convertKitPackage(checkpoint: string, out: string, pkg: KitPackage): Promise<KitPackageFiles> {
  const started = performance.now();
  const source = localCheckpointFiles(checkpoint);
  const wants = (job: GraphJob) => {
    const kind = shardKindOf(job.name);
    return kind !== undefined && pkg.shards.includes(kind);
  };
  const components = [];
  if (pkg.shards.some((k) => ['embed', 'double', 'single', 'head'].includes(k))) components.push(await prepareTransformer(source, 'transformer', pkg.weights, MAX_GRAPH_DATA_BYTES));
  if (pkg.shards.includes('vae')) components.push(await prepareVae(source, 'vae', pkg.weights));
  if (pkg.shards.some((k) => k.startsWith('t5-'))) components.push(await prepareT5(source, 'text_encoder_2', pkg.weights, MAX_GRAPH_DATA_BYTES, FAMILY_DEFAULTS.schnell.t5Tokens));
  const graphs: KitGraph[] = [];
  // The converter's folder sink: built beside `out`, renamed into place when complete.
  const sink = await openFolderSink(out, true);
  try {
    for (const component of components) {
      for (const job of component.jobs.filter(wants)) {
        const written = await writeGraph(job, sink, pkg.weights, MAX_GRAPH_DATA_BYTES, pkg.graph);
        graphs.push({
          kind: shardKindOf(job.name)!,
          name: job.name,
          model: join(out, written.entry.model),
          weightBytes: written.entry.weightBytes,
          fileBytes: written.files.reduce((a, f) => a + f.size, 0),
          computePrecision: written.entry.computePrecision,
        });
      }
    }
    // Its manifest.json: the graph list (the kit needs no package manifest).
    await sink.commit(new TextEncoder().encode(JSON.stringify(graphs.map((g) => g.name))));
  } catch (error) {
    await sink.abort(false);
    throw error;
  } finally {
    for (const component of components) await component.close();
  }
  const files: KitPackageFiles = { package: pkg.name, convertMs: performance.now() - started, graphs };
  writeFileSync(join(out, 'graphs.json'), `${JSON.stringify(files, null, 1)}\n`);
  return files;
}

/** Reads a package folder written by `convertKitPackage`, or undefined when it is not complete. */
export function readKitPackage(out: string): KitPackageFiles | undefined {
  const path = join(out, 'graphs.json');
  if (!existsSync(path)) return undefined;
  const files = JSON.parse(readFileSync(path, 'utf8')) as KitPackageFiles;
  return files.graphs.every((g) => existsSync(g.model) && statSync(g.model).size > 0) ? files : undefined;
}
