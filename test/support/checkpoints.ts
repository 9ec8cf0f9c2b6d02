/**
 * Helpers for tests that build, mutate and convert checkpoints on disk: writable copies
 * of the golden checkpoint, reading a component's tensors, rewriting it (other dtype,
 * shards, a tensor changed), hashing and listing package folders, and generating
 * golden run0 from a package.
 */
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { runFluxPipeline, type PipelineResult } from '../../src/pipeline/flux-pipeline.ts';
import { writeCheckpointComponent, type CheckpointWriteOptions } from '../../tools/checkpoint-writer.ts';
import { openCheckpointDir } from '../../tools/convert/local-files.ts';
import { openNodeRuntime } from '../../tools/node-runtime.ts';
import { goldenRequest, goldenRuns } from './golden.ts';

/** Every file under `dir`, as sorted paths relative to it (folders are descended, not listed). */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out.sort();
}

/** Copies a folder tree and makes the copy writable (the golden files are read-only). */
export function copyWritable(src: string, dest: string): string {
  cpSync(src, dest, { recursive: true });
  const fix = (path: string) => {
    const isDir = statSync(path).isDirectory();
    chmodSync(path, isDir ? 0o755 : 0o644);
    if (isDir) for (const name of readdirSync(path)) fix(join(path, name));
  };
  fix(dest);
  return dest;
}

/** Lower-case hex sha256 of a file. */
export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** A checkpoint component held in memory: its config and every tensor as float32. */
export interface Component {
  config: Record<string, unknown>;
  /** Names and shapes in sorted-name order. */
  tensors: [string, number[]][];
  values: Map<string, Float32Array>;
}

/** Reads `dir/config.json` and every tensor of the component (small checkpoints only). */
export async function readComponent(dir: string): Promise<Component> {
  const checkpoint = await openCheckpointDir(dir);
  try {
    const tensors: [string, number[]][] = [];
    const values = new Map<string, Float32Array>();
    for (const name of checkpoint.names()) {
      tensors.push([name, checkpoint.info(name).shape]);
      values.set(name, (await checkpoint.readFloat32(name)).slice());
    }
    return { config: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), tensors, values };
  } finally {
    await checkpoint.close();
  }
}

/** What to change when rewriting a component. */
export interface ComponentEdits {
  config?: Record<string, unknown>;
  /** Tensors left out. */
  drop?: string[];
  /** Tensors added or replaced (values are zeros of the given shape). */
  put?: Record<string, number[]>;
  /** Applied to every value (e.g. rounding to bf16). */
  map?: (values: Float32Array) => Float32Array;
}

/** Writes a component with `writeCheckpointComponent`, applying `edits`. */
export function writeComponent(dir: string, component: Component, options: CheckpointWriteOptions = {}, edits: ComponentEdits = {}) {
  const shapes = new Map(component.tensors);
  for (const name of edits.drop ?? []) shapes.delete(name);
  for (const [name, shape] of Object.entries(edits.put ?? {})) shapes.set(name, shape);
  return writeCheckpointComponent(
    dir,
    edits.config ?? component.config,
    shapes,
    (name, shape) => {
      const original = component.values.get(name);
      const numel = shape.reduce((a, b) => a * b, 1);
      const values = original && original.length === numel ? original : new Float32Array(numel);
      return edits.map ? edits.map(values) : values;
    },
    options,
  );
}

/** Generates golden run0 (64×64, 4 steps, seed 42) with the golden prompt embeddings from a package folder. */
export async function generateRun0(packageDir: string): Promise<PipelineResult> {
  const runtime = openNodeRuntime(packageDir);
  try {
    return await runFluxPipeline(runtime, goldenRequest(goldenRuns().find((r) => r.name === 'run0')!));
  } finally {
    await runtime.release();
  }
}
